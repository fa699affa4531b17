// The Walsh-Hadamard rotation llama.cpp applies around a quantized KV cache: queries and keys (K
// quantized) and values and the attention output (V quantized) are multiplied by the orthonormal
// Sylvester-Hadamard matrix of `block` rows, block by block, so that quantization error is spread
// over a block instead of landing on its outliers; H·H = I, so scores and outputs are unchanged
// but for rounding. ggml computes it as a fast transform (ggml_compute_forward_fwht): scale by
// 1/sqrt(block) first, then butterflies (u + v, u - v) of growing span. Every step is an exact
// elementwise operation in a fixed order, so a vector build gives the same bits; this one loop
// serves every CPU.
#include "kernels_internal.h"

void slm_hadamard_rotate(float *x, int64_t n, int64_t block) {
    if (block <= 0 || (block & (block - 1)) != 0 || n % block != 0) return;
    const float scale = 1.0f / sqrtf((float)block);
    for (int64_t start = 0; start < n; start += block) {
        float *row = x + start;
        for (int64_t j = 0; j < block; j++) row[j] *= scale;
        for (int64_t span = 1; span < block; span <<= 1) {
            for (int64_t i = 0; i < block; i += 2 * span) {
                for (int64_t j = i; j < i + span; j++) {
                    const float u = row[j], v = row[j + span];
                    row[j] = u + v;
                    row[j + span] = u - v;
                }
            }
        }
    }
}
