// The RoPE loops (see rope.c), shared by the generic twins (rope.c) and their FMA build
// (x86/rope_fma.c): one source, so both round the same way.
#ifndef SLM_ROPE_BODY_H
#define SLM_ROPE_BODY_H

#include "kernels_internal.h"

SLM_INLINE void rope_pairs(float *x, int64_t heads, int64_t head_dim, int64_t rotary_dims,
                           const float *cos_table, const float *sin_table) {
    for (int64_t h = 0; h < heads; h++) {
        float *v = x + h * head_dim;
        for (int64_t i = 0; i < rotary_dims / 2; i++) {
            const float x0 = v[2 * i], x1 = v[2 * i + 1];
            const float c = cos_table[i], s = sin_table[i];
            v[2 * i] = fmaf(x0, c, -(x1 * s));
            v[2 * i + 1] = fmaf(x0, s, x1 * c);
        }
    }
}

// NEOX mode: element i pairs with element i + rotary_dims / 2; the same rounding as rope_pairs.
SLM_INLINE void rope_halves(float *x, int64_t heads, int64_t head_dim, int64_t rotary_dims,
                            const float *cos_table, const float *sin_table) {
    const int64_t half = rotary_dims / 2;
    for (int64_t h = 0; h < heads; h++) {
        float *v = x + h * head_dim;
        for (int64_t i = 0; i < half; i++) {
            const float x0 = v[i], x1 = v[i + half];
            const float c = cos_table[i], s = sin_table[i];
            v[i] = fmaf(x0, c, -(x1 * s));
            v[i + half] = fmaf(x0, s, x1 * c);
        }
    }
}

#endif // SLM_ROPE_BODY_H
