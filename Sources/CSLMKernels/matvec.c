// Matrix-vector and matrix-matrix products over rows of quantized weights.
#include "kernels_internal.h"

void slm_matvec(int type, const void *weight, size_t row_stride, int64_t n_cols,
                const void *activation, float *y, int64_t row_begin, int64_t row_end) {
    const slm_vec_dot_fn dot = slm_vec_dot_kernel(type);
    const uint8_t *w = (const uint8_t *)weight;
    for (int64_t r = row_begin; r < row_end; ++r) {
        y[r] = dot ? dot(n_cols, w + (size_t)r * row_stride, activation) : NAN;
    }
}

void slm_matmul(int type, const void *weight, size_t row_stride, int64_t n_cols,
                const void *activations, size_t act_row_bytes, int64_t n_tokens,
                float *out, int64_t out_row_stride, int64_t row_begin, int64_t row_end) {
    const slm_vec_dot_fn dot = slm_vec_dot_kernel(type);
    const uint8_t *w = (const uint8_t *)weight;
    const uint8_t *act = (const uint8_t *)activations;
    // Weight rows outer, tokens inner: one weight row (a few hundred bytes to a few KB) stays in
    // L1 while every token uses it, so the weights stream from memory once per call.
    for (int64_t r = row_begin; r < row_end; ++r) {
        const void *wr = w + (size_t)r * row_stride;
        for (int64_t t = 0; t < n_tokens; ++t) {
            out[t * out_row_stride + r] = dot ? dot(n_cols, wr, act + (size_t)t * act_row_bytes) : NAN;
        }
    }
}
