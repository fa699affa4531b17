// The RoPE loops (generic/rope_body.h) built for FMA, where fmaf is one instruction instead of a
// libm call; the same operations, so the same bits as the generic twins.
#include "arch.h"

#if SLM_ARCH_X86
#include "generic/rope_body.h"

__attribute__((target("fma"))) void slm_rope_adjacent_fma(float *x, int64_t heads, int64_t head_dim,
                                                          int64_t rotary_dims, const float *c, const float *s) {
    rope_pairs(x, heads, head_dim, rotary_dims, c, s);
}

__attribute__((target("fma"))) void slm_rope_neox_fma(float *x, int64_t heads, int64_t head_dim,
                                                      int64_t rotary_dims, const float *c, const float *s) {
    rope_halves(x, heads, head_dim, rotary_dims, c, s);
}
#endif
