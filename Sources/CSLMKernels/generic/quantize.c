// Float rows -> activation formats. Q8_0 / Q8_1 follow ggml's vectorised quantizers (the ones
// llama.cpp actually runs on x86): inverse scale 127 / amax and rounding half to even. Q8_K
// follows ggml's reference quantizer (also half to even), which x86 uses as is.
#include "kernels_internal.h"

// Round to nearest, ties to even, for |v| well below 2^22: adding 1.5 * 2^23 pushes the
// fraction out of the mantissa, so the FPU's default rounding does the work.
static inline int round_even(float v) {
    const float shifted = v + 12582912.0f;
    return (int)(slm_bits_of(shifted) & 0x007fffffu) - 0x00400000;
}

// Scale of a 32-element Q8 block: amax / 127, and the inverse as 127 / amax (not 1 / d: the two
// differ in the last bit, which moves borderline values to the other integer).
static inline float q8_block_scale(const float *SLM_RESTRICT x, float *SLM_RESTRICT inv) {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) {
        const float a = fabsf(x[j]);
        amax = a > amax ? a : amax;
    }
    *inv = amax != 0.0f ? 127.0f / amax : 0.0f;
    return amax / 127.0f;
}

static void quantize_q8_0(const float *SLM_RESTRICT x, void *dst, int64_t n) {
    slm_block_q8_0 *SLM_RESTRICT y = (slm_block_q8_0 *)dst;
    const int64_t nb = n / SLM_QK8_0;
    for (int64_t i = 0; i < nb; ++i, x += SLM_QK8_0) {
        float id;
        const float d = q8_block_scale(x, &id);
        y[i].d = slm_f2h(d);
        for (int j = 0; j < SLM_QK8_0; ++j) {
            y[i].qs[j] = (int8_t)round_even(x[j] * id);
        }
    }
}

// Q4_0, for the KV cache's 4-bit type: ggml's reference quantizer (which its CPU backend runs on
// every architecture): the signed value of largest magnitude maps to -8, d = max / -8, and each
// quant is min(15, trunc(x / d + 8.5)).
static void quantize_q4_0(const float *SLM_RESTRICT x, void *dst, int64_t n) {
    slm_block_q4_0 *SLM_RESTRICT y = (slm_block_q4_0 *)dst;
    const int64_t nb = n / SLM_QK4_0;
    for (int64_t i = 0; i < nb; ++i, x += SLM_QK4_0) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < SLM_QK4_0; ++j) {
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        const float d = max / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = slm_f2h(d);
        for (int j = 0; j < SLM_QK4_0 / 2; ++j) {
            const int q0 = (int8_t)(x[j] * id + 8.5f);
            const int q1 = (int8_t)(x[SLM_QK4_0 / 2 + j] * id + 8.5f);
            y[i].qs[j] = (uint8_t)((q0 < 15 ? q0 : 15) | (q1 < 15 ? q1 : 15) << 4);
        }
    }
}

static void quantize_q8_1(const float *SLM_RESTRICT x, void *dst, int64_t n) {
    slm_block_q8_1 *SLM_RESTRICT y = (slm_block_q8_1 *)dst;
    const int64_t nb = n / SLM_QK8_1;
    for (int64_t i = 0; i < nb; ++i, x += SLM_QK8_1) {
        float id;
        const float d = q8_block_scale(x, &id);
        int sum = 0;
        for (int j = 0; j < SLM_QK8_1; ++j) {
            const int8_t q = (int8_t)round_even(x[j] * id);
            y[i].qs[j] = q;
            sum += q;
        }
        y[i].d = slm_f2h(d);
        y[i].s = slm_f2h((float)sum * d);
    }
}

static void quantize_q8_K(const float *SLM_RESTRICT x, void *dst, int64_t n) {
    slm_block_q8_K *SLM_RESTRICT y = (slm_block_q8_K *)dst;
    const int64_t nb = n / SLM_QK_K;
    for (int64_t i = 0; i < nb; ++i, x += SLM_QK_K) {
        // The signed value of largest magnitude (first one on ties) sets the scale, so that
        // value maps to exactly -127 and nothing exceeds 127 in magnitude.
        float amax = 0.0f, vmax = 0.0f;
        for (int j = 0; j < SLM_QK_K; ++j) {
            const float a = fabsf(x[j]);
            if (a > amax) {
                amax = a;
                vmax = x[j];
            }
        }
        if (amax == 0.0f) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        const float iscale = -127.0f / vmax;
        for (int j = 0; j < SLM_QK_K; ++j) {
            const int v = round_even(iscale * x[j]);
            y[i].qs[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int g = 0; g < SLM_QK_K / 16; ++g) {
            int sum = 0;
            for (int j = 0; j < 16; ++j) {
                sum += y[i].qs[16 * g + j];
            }
            y[i].bsums[g] = (int16_t)sum;
        }
        y[i].d = 1.0f / iscale;
    }
}

void slm_quantize_row(int activation_type, const float *src, void *dst, int64_t n) {
    if (n <= 0) {
        return;
    }
    switch (activation_type) {
    case SLM_TYPE_F32:
        memcpy(dst, src, (size_t)n * sizeof(float));
        return;
    case SLM_TYPE_F16:
        slm_f32_row_to_f16(src, (uint16_t *)dst, n);
        return;
    case SLM_TYPE_BF16: {
        uint16_t *SLM_RESTRICT y = (uint16_t *)dst;
        for (int64_t i = 0; i < n; ++i) {
            y[i] = slm_f2bf(src[i]);
        }
        return;
    }
    case SLM_TYPE_Q8_0: quantize_q8_0(src, dst, n); return;
    case SLM_TYPE_Q4_0: quantize_q4_0(src, dst, n); return;
    case SLM_TYPE_Q8_1: quantize_q8_1(src, dst, n); return;
    case SLM_TYPE_Q8_K: quantize_q8_K(src, dst, n); return;
    default: return;
    }
}
