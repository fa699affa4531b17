// One matrix product through llama.cpp's ARM kernels (ggml-cpu/arch/arm/quants.c and
// repack.cpp), called the way ggml's CPU backend calls them, for counting the instructions they
// execute under qemu (scripts/arm-instruction-counts.sh). Weights and activations are filled
// with bytes (the kernels take no branch on data); buffers are sized for the largest case.
//   llama_harness KERNEL MODE ROWS TOKENS COLS
//   KERNEL: vec_dot_<w>_<a> (row by row; MODE prompt2 = two rows x two tokens per call, the
//           i8mm SMMLA path), gemv_<name> (decode) or gemm_<name> (prompt) on repacked rows.
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*vec_dot_fn)(int n, float *s, size_t bs, const void *vx, size_t bx, const void *vy, size_t by, int nrc);
typedef void (*gemx_fn)(int n, float *s, size_t bs, const void *vx, const void *vy, int nr, int nc);

#define VEC_DOTS(X) X(q4_0_q8_0) X(q4_1_q8_1) X(q5_0_q8_0) X(q8_0_q8_0) X(q4_K_q8_K) X(q6_K_q8_K)
#define DECL_VEC(name) void ggml_vec_dot_##name(int, float *, size_t, const void *, size_t, const void *, size_t, int);
VEC_DOTS(DECL_VEC)
#define GEMXS(X) X(q4_0_4x4_q8_0) X(q4_0_4x8_q8_0) X(q4_K_8x4_q8_K) X(q4_K_8x8_q8_K) X(q6_K_8x4_q8_K) \
    X(q6_K_8x8_q8_K) X(q8_0_4x4_q8_0) X(q8_0_4x8_q8_0)
#define DECL_GEMX(name) void ggml_gemv_##name(int, float *, size_t, const void *, const void *, int, int); \
    void ggml_gemm_##name(int, float *, size_t, const void *, const void *, int, int);
GEMXS(DECL_GEMX)

// Bytes and elements per block of each format (ggml-common.h).
static int block_bytes(const char *t) {
    if (!strncmp(t, "q4_0", 4)) return 18;
    if (!strncmp(t, "q4_1", 4)) return 20;
    if (!strncmp(t, "q5_0", 4)) return 22;
    if (!strncmp(t, "q8_0", 4)) return 34;
    if (!strncmp(t, "q8_1", 4)) return 36;
    if (!strncmp(t, "q4_K", 4)) return 144;
    if (!strncmp(t, "q6_K", 4)) return 210;
    if (!strncmp(t, "q8_K", 4)) return 292;
    return 0;
}
static int block_elems(const char *t) { return t[3] == 'K' ? 256 : 32; }

enum { MAX_ROWS = 64, MAX_TOKENS = 16 };

static void fill(void *p, size_t n, uint64_t seed) {
    uint64_t x = seed, *q = (uint64_t *)p;
    for (size_t i = 0; i < n / 8; ++i) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        q[i] = x & 0x3fff3fff3fff3fffull;  // finite, small halves in every 16-bit lane
    }
}

int main(int argc, char **argv) {
    if (argc != 6) return 2;
    const char *k = argv[1], *mode = argv[2];
    const int rows = atoi(argv[3]), tokens = atoi(argv[4]), cols = atoi(argv[5]);
    if (rows > MAX_ROWS || tokens > MAX_TOKENS) return 2;
    vec_dot_fn vd = NULL;
    gemx_fn gv = NULL, gm = NULL;
    const char *wt = NULL, *at = NULL;
#define PICK_VEC(name) if (!strcmp(k, "vec_dot_" #name)) { vd = ggml_vec_dot_##name; wt = #name; at = #name + 5; }
    VEC_DOTS(PICK_VEC)
#define PICK_GEMX(name) if (!strcmp(k, #name)) { gv = ggml_gemv_##name; gm = ggml_gemm_##name; wt = #name; at = #name + 9; }
    GEMXS(PICK_GEMX)
    if (!wt) { fprintf(stderr, "unknown kernel %s\n", k); return 2; }
    const size_t wrow = (size_t)cols / block_elems(wt) * block_bytes(wt);
    const size_t arow = (size_t)cols / block_elems(at) * block_bytes(at);
    unsigned char *w = aligned_alloc(64, MAX_ROWS * wrow + 64);
    unsigned char *a = aligned_alloc(64, MAX_TOKENS * arow + 64);
    float *out = aligned_alloc(64, sizeof(float) * MAX_ROWS * MAX_TOKENS);
    fill(w, MAX_ROWS * wrow, 1);
    fill(a, MAX_TOKENS * arow, 2);
    if (vd && !strcmp(mode, "decode")) {
        for (int r = 0; r < rows; ++r) vd(cols, out + r, 0, w + r * wrow, 0, a, 0, 1);
    } else if (vd && !strcmp(mode, "prompt")) {
        for (int t = 0; t < tokens; ++t)
            for (int r = 0; r < rows; ++r) vd(cols, out + t * MAX_ROWS + r, 0, w + r * wrow, 0, a + t * arow, 0, 1);
    } else if (vd && !strcmp(mode, "prompt2")) {
        for (int t = 0; t < tokens; t += 2)
            for (int r = 0; r < rows; r += 2)
                vd(cols, out + t * MAX_ROWS + r, MAX_ROWS, w + r * wrow, wrow, a + t * arow, arow, 2);
    } else if (gv && !strcmp(mode, "decode")) {
        gv(cols, out, MAX_ROWS, w, a, 1, rows);
    } else if (gm && !strcmp(mode, "prompt")) {
        gm(cols, out, MAX_ROWS, w, a, tokens, rows);
    } else {
        return 2;
    }
    printf("%g\n", (double)out[0]);
    return 0;
}
