// Elementwise activations. SwiGLU's exponential uses a fast vector-friendly approximation
// (Cody-Waite range reduction into 2^n * e^b, then a degree-5 polynomial for e^b, with a slow
// path only for |n| > 126). It is the approximation llama.cpp's CPU backend uses as well, so the
// two engines produce the same floats and greedy decoding does not drift apart on near-ties.
// The generic twin computes the very same operations with fmaf; the AVX2 version 8 lanes at once.
#include "kernels_internal.h"

void slm_swiglu_generic(const float *gate, const float *up, float *out, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const float x = gate[i];
        out[i] = x / (1.0f + slm_exp_approx(0.0f - x)) * up[i];
    }
}

#if defined(__x86_64__) || defined(__i386__)
#include "x86/avx2_common.h"

SLM_AVX2 static void slm_swiglu_avx2(const float *gate, const float *up, float *out, int64_t n) {
    int64_t i = 0;
    const __m256 one = _mm256_set1_ps(1.0f);
    for (; i + 8 <= n; i += 8) {
        const __m256 x = _mm256_loadu_ps(gate + i);
        const __m256 e = exp_approx_avx2(_mm256_sub_ps(_mm256_setzero_ps(), x));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_div_ps(x, _mm256_add_ps(one, e)), _mm256_loadu_ps(up + i)));
    }
    slm_swiglu_generic(gate + i, up + i, out + i, n - i);
}

static int cpu_has_avx2_fma(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
}
#endif

void slm_swiglu(const float *gate, const float *up, float *out, int64_t n) {
#if defined(__x86_64__) || defined(__i386__)
    static int simd = -1;
    if (simd < 0) simd = cpu_has_avx2_fma();
    if (simd && !slm_force_generic) {
        slm_swiglu_avx2(gate, up, out, n);
        return;
    }
#endif
    slm_swiglu_generic(gate, up, out, n);
}
