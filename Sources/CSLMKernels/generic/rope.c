// Rotary position embedding on adjacent pairs (x[2i], x[2i+1]) of every head.
//
// Each rotated value is computed with its first product fused into the subtraction/addition:
// y0 = fma(x0, cos, -(x1 * sin)), y1 = fma(x0, sin, x1 * cos). That is how an optimising compiler
// contracts the textbook formula on FMA hardware, and how llama.cpp's own build ends up rounding;
// matching it keeps the two engines' greedy outputs identical. Generic twin plus an FMA build of
// the same loops (rope_body.h, x86/rope_fma.c); slm_rope_adjacent / slm_rope_neox choose
// between them (dispatch.c).
#include "rope_body.h"

void slm_rope_neox_generic(float *x, int64_t heads, int64_t head_dim, int64_t rotary_dims,
                           const float *cos_table, const float *sin_table) {
    rope_halves(x, heads, head_dim, rotary_dims, cos_table, sin_table);
}

void slm_rope_adjacent_generic(float *x, int64_t heads, int64_t head_dim, int64_t rotary_dims,
                               const float *cos_table, const float *sin_table) {
    rope_pairs(x, heads, head_dim, rotary_dims, cos_table, sin_table);
}
