// SwiGLU four lanes at a time for aarch64: the operations of slm_swiglu_generic
// (generic/activation.c) per lane, so the same bits (the compilers leave the portable loop scalar:
// its exp approximation branches); the tail goes through the twin itself.
#include "arch.h"

#if SLM_ARCH_ARM64
#include "neon_common.h"

void slm_swiglu_neon(const float *gate, const float *up, float *out, int64_t n) {
    int64_t i = 0;
    const float32x4_t one = vdupq_n_f32(1.0f);
    for (; i + 4 <= n; i += 4) {
        const float32x4_t x = vld1q_f32(gate + i);
        const float32x4_t e = exp_approx_neon(vsubq_f32(vdupq_n_f32(0.0f), x));
        vst1q_f32(out + i, vmulq_f32(vdivq_f32(x, vaddq_f32(one, e)), vld1q_f32(up + i)));
    }
    slm_swiglu_generic(gate + i, up + i, out + i, n - i);
}
#endif
