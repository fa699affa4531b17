// Rotary position embedding on adjacent pairs (x[2i], x[2i+1]) of every head.
//
// Each rotated value is computed with its first product fused into the subtraction/addition:
// y0 = fma(x0, cos, -(x1 * sin)), y1 = fma(x0, sin, x1 * cos). That is how an optimising compiler
// contracts the textbook formula on FMA hardware, and how llama.cpp's own build ends up rounding;
// matching it keeps the two engines' greedy outputs identical. Generic twin plus an FMA build of
// the same source.
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

void slm_rope_neox_generic(float *x, int64_t heads, int64_t head_dim, int64_t rotary_dims,
                           const float *cos_table, const float *sin_table) {
    rope_halves(x, heads, head_dim, rotary_dims, cos_table, sin_table);
}

void slm_rope_adjacent_generic(float *x, int64_t heads, int64_t head_dim, int64_t rotary_dims,
                               const float *cos_table, const float *sin_table) {
    rope_pairs(x, heads, head_dim, rotary_dims, cos_table, sin_table);
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("fma"))) static void rope_adjacent_fma(float *x, int64_t heads, int64_t head_dim,
                                                             int64_t rotary_dims, const float *c, const float *s) {
    rope_pairs(x, heads, head_dim, rotary_dims, c, s);
}

__attribute__((target("fma"))) static void rope_neox_fma(float *x, int64_t heads, int64_t head_dim,
                                                         int64_t rotary_dims, const float *c, const float *s) {
    rope_halves(x, heads, head_dim, rotary_dims, c, s);
}

static int cpu_has_fma(void) {
    static int fma = -1;
    if (fma < 0) {
        __builtin_cpu_init();
        fma = __builtin_cpu_supports("fma");
    }
    return fma;
}
#endif

void slm_rope_neox(float *x, int64_t heads, int64_t head_dim, int64_t rotary_dims,
                   const float *cos_table, const float *sin_table) {
#if defined(__x86_64__) || defined(__i386__)
    if (cpu_has_fma() && !slm_force_generic) {
        rope_neox_fma(x, heads, head_dim, rotary_dims, cos_table, sin_table);
        return;
    }
#endif
    rope_halves(x, heads, head_dim, rotary_dims, cos_table, sin_table);
}

void slm_rope_adjacent(float *x, int64_t heads, int64_t head_dim, int64_t rotary_dims,
                       const float *cos_table, const float *sin_table) {
#if defined(__x86_64__) || defined(__i386__)
    static int fma = -1;
    if (fma < 0) {
        __builtin_cpu_init();
        fma = __builtin_cpu_supports("fma");
    }
    if (fma && !slm_force_generic) {
        rope_adjacent_fma(x, heads, head_dim, rotary_dims, cos_table, sin_table);
        return;
    }
#endif
    rope_pairs(x, heads, head_dim, rotary_dims, cos_table, sin_table);
}
