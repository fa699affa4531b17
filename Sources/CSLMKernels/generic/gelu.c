// GELU (tanh approximation) and GeGLU the way llama.cpp's CPU backend computes them: the input is
// rounded to F16 and the result read from a 65536-entry table of F16 values, each
// f16(0.5 x (1 + tanh(sqrt(2/pi) x (1 + 0.044715 x^2)))); inputs <= -10 give 0 and inputs >= 10
// give x itself. Matching that rounding (about 3 significant digits) is what keeps greedy output
// identical to llama.cpp's on Gemma. The generic twin evaluates the same formula per element
// without the table; both must agree bit for bit.
#include "kernels_internal.h"

#include <pthread.h>

#define GELU_COEF_A 0.044715f
#define GELU_SQRT_2_OVER_PI 0.79788456080286535587989211986876f
#define GELU_CLAMP 10.0f

static uint16_t gelu_table[1 << 16];
static pthread_once_t gelu_table_once = PTHREAD_ONCE_INIT;

// 1 + a x^2 is one fused multiply-add, as an FMA build of ggml computes it (it changes the table
// entry of one input, -1.999).
SLM_INLINE float gelu_tanh_f32(float x) {
    return 0.5f * x * (1.0f + tanhf(GELU_SQRT_2_OVER_PI * x * fmaf(GELU_COEF_A * x, x, 1.0f)));
}

static void fill_gelu_table(void) {
    for (uint32_t i = 0; i < (1u << 16); i++) gelu_table[i] = slm_f2h(gelu_tanh_f32(slm_h2f((uint16_t)i)));
}

// GELU of one element through the F16 rounding, computed directly (no table).
SLM_INLINE float gelu_direct(float x) {
    if (x <= -GELU_CLAMP) return 0.0f;
    if (x >= GELU_CLAMP) return x;
    return slm_h2f(slm_f2h(gelu_tanh_f32(slm_h2f(slm_f2h(x)))));
}

SLM_INLINE float gelu_lookup(float x) {
    if (x <= -GELU_CLAMP) return 0.0f;
    if (x >= GELU_CLAMP) return x;
    return slm_h2f(gelu_table[slm_f2h(x)]);
}

void slm_gelu_generic(const float *x, float *out, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] = gelu_direct(x[i]);
}

void slm_geglu_generic(const float *gate, const float *up, float *out, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const float x = gate[i];
        // x >= 10 passes x itself through, so the product is x * up as in ggml.
        out[i] = gelu_direct(x) * up[i];
    }
}

void slm_gelu(const float *x, float *out, int64_t n) {
    if (slm_force_generic) {
        slm_gelu_generic(x, out, n);
        return;
    }
    pthread_once(&gelu_table_once, fill_gelu_table);
    for (int64_t i = 0; i < n; i++) out[i] = gelu_lookup(x[i]);
}

void slm_geglu(const float *gate, const float *up, float *out, int64_t n) {
    if (slm_force_generic) {
        slm_geglu_generic(gate, up, out, n);
        return;
    }
    pthread_once(&gelu_table_once, fill_gelu_table);
    for (int64_t i = 0; i < n; i++) out[i] = gelu_lookup(gate[i]) * up[i];
}
