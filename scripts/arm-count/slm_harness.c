// One matrix product through slm's public entry points, for counting the instructions it
// executes under qemu (scripts/arm-instruction-counts.sh). Buffers are sized and filled for the
// largest case first, so two runs that differ only in `rows` differ only in the product's work.
//   slm_harness TYPE_ID MODE ROWS TOKENS COLS
//   MODE: decode (slm_matvec, one token) or prompt (slm_matmul, TOKENS tokens)
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slm_kernels.h"

enum { MAX_ROWS = 64, MAX_TOKENS = 16 };

static void fill(void *p, size_t n, uint64_t seed) {
    uint64_t x = seed, *q = (uint64_t *)p;
    for (size_t i = 0; i < n / 8; ++i) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        // Keep every 16-bit lane a finite, small half (exponent below 15) so scale fields are
        // ordinary numbers; the kernels take no branch on data, this only avoids NaN noise.
        q[i] = x & 0x3fff3fff3fff3fffull;
    }
}

int main(int argc, char **argv) {
    if (argc != 6) return 2;
    const int type = atoi(argv[1]);
    const int prompt = strcmp(argv[2], "prompt") == 0;
    const int64_t rows = atoll(argv[3]), tokens = atoll(argv[4]), cols = atoll(argv[5]);
    const size_t wrow = slm_row_bytes(type, cols);
    const size_t arow = slm_row_bytes(slm_type_activation_type(type), cols);
    if (!wrow || !arow || rows > MAX_ROWS || tokens > MAX_TOKENS) return 2;
    void *w = aligned_alloc(64, MAX_ROWS * wrow + 64);
    void *a = aligned_alloc(64, MAX_TOKENS * arow + 64);
    float *out = aligned_alloc(64, sizeof(float) * MAX_ROWS * MAX_TOKENS);
    fill(w, MAX_ROWS * wrow, 1);
    fill(a, MAX_TOKENS * arow, 2);
    if (prompt) {
        slm_matmul(type, w, wrow, cols, a, arow, tokens, out, MAX_ROWS, 0, rows);
    } else {
        slm_matvec(type, w, wrow, cols, a, out, 0, rows);
    }
    printf("%g\n", (double)out[0]);
    return 0;
}
