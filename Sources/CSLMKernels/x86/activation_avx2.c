// SwiGLU eight lanes at a time: the operations of slm_swiglu_generic (generic/activation.c) per
// lane, so the same bits; the tail goes through the twin itself.
#include "arch.h"

#if SLM_ARCH_X86
#include "avx2_common.h"

SLM_AVX2 void slm_swiglu_avx2(const float *gate, const float *up, float *out, int64_t n) {
    int64_t i = 0;
    const __m256 one = _mm256_set1_ps(1.0f);
    for (; i + 8 <= n; i += 8) {
        const __m256 x = _mm256_loadu_ps(gate + i);
        const __m256 e = exp_approx_avx2(_mm256_sub_ps(_mm256_setzero_ps(), x));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_div_ps(x, _mm256_add_ps(one, e)), _mm256_loadu_ps(up + i)));
    }
    slm_swiglu_generic(gate + i, up + i, out + i, n - i);
}
#endif
