// Elementwise activations. SwiGLU's exponential uses a fast vector-friendly approximation
// (Cody-Waite range reduction into 2^n * e^b, then a degree-5 polynomial for e^b, with a slow
// path only for |n| > 126). It is the approximation llama.cpp's CPU backend uses as well, so the
// two engines produce the same floats and greedy decoding does not drift apart on near-ties.
// The generic twin computes the very same operations with fmaf; the AVX2 version
// (x86/activation_avx2.c) 8 lanes at once. slm_swiglu chooses between them (dispatch.c).
#include "kernels_internal.h"

void slm_swiglu_generic(const float *gate, const float *up, float *out, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const float x = gate[i];
        out[i] = x / (1.0f + slm_exp_approx(0.0f - x)) * up[i];
    }
}
