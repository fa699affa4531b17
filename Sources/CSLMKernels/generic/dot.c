// Scalar dot kernels, one per (weight, activation) format pair: the `_generic` twins of the SIMD
// tables in x86/ and arm/, and what runs where neither applies.
//
// Quantized pairs accumulate exact integer products per block and apply the scales once per block
// in the same order of float operations as ggml's generic (scalar) kernels, so on the same
// inputs they return the same floats. The loops are shaped (fixed trip counts, independent lanes,
// narrow integer types where values allow) so that -O3 auto-vectorizes them.
#include "kernels_internal.h"

// Float accumulations use this many independent partial sums so the loop vectorizes without
// reassociation flags, then reduce pairwise.
#define SLM_FLOAT_LANES 16

static inline float reduce_lanes(const float *acc) {
    float t[SLM_FLOAT_LANES / 2];
    for (int l = 0; l < SLM_FLOAT_LANES / 2; ++l) t[l] = acc[l] + acc[l + SLM_FLOAT_LANES / 2];
    for (int l = 0; l < 4; ++l) t[l] += t[l + 4];
    return (t[0] + t[2]) + (t[1] + t[3]);
}

float slm_vec_dot_f32_f32_generic(int64_t n, const void *w, const void *a) {
    const float *SLM_RESTRICT x = (const float *)w;
    const float *SLM_RESTRICT y = (const float *)a;
    float acc[SLM_FLOAT_LANES] = {0};
    int64_t i = 0;
    for (; i + SLM_FLOAT_LANES <= n; i += SLM_FLOAT_LANES) {
        for (int l = 0; l < SLM_FLOAT_LANES; ++l) acc[l] += x[i + l] * y[i + l];
    }
    float sum = reduce_lanes(acc);
    for (; i < n; ++i) sum += x[i] * y[i];
    return sum;
}

float slm_vec_dot_f16_f16_generic(int64_t n, const void *w, const void *a) {
    const uint16_t *SLM_RESTRICT x = (const uint16_t *)w;
    const uint16_t *SLM_RESTRICT y = (const uint16_t *)a;
    float acc[SLM_FLOAT_LANES] = {0};
    int64_t i = 0;
    for (; i + SLM_FLOAT_LANES <= n; i += SLM_FLOAT_LANES) {
        for (int l = 0; l < SLM_FLOAT_LANES; ++l) acc[l] += slm_h2f_row(x[i + l]) * slm_h2f_row(y[i + l]);
    }
    float sum = reduce_lanes(acc);
    for (; i < n; ++i) sum += slm_h2f_row(x[i]) * slm_h2f_row(y[i]);
    return sum;
}

float slm_vec_dot_bf16_bf16_generic(int64_t n, const void *w, const void *a) {
    const uint16_t *SLM_RESTRICT x = (const uint16_t *)w;
    const uint16_t *SLM_RESTRICT y = (const uint16_t *)a;
    float acc[SLM_FLOAT_LANES] = {0};
    int64_t i = 0;
    for (; i + SLM_FLOAT_LANES <= n; i += SLM_FLOAT_LANES) {
        for (int l = 0; l < SLM_FLOAT_LANES; ++l) acc[l] += slm_bf2f(x[i + l]) * slm_bf2f(y[i + l]);
    }
    float sum = reduce_lanes(acc);
    for (; i < n; ++i) sum += slm_bf2f(x[i]) * slm_bf2f(y[i]);
    return sum;
}

// ---- 32-element blocks ------------------------------------------------------------------------

float slm_vec_dot_q4_0_q8_0_generic(int64_t n, const void *w, const void *a) {
    const slm_block_q4_0 *SLM_RESTRICT x = (const slm_block_q4_0 *)w;
    const slm_block_q8_0 *SLM_RESTRICT y = (const slm_block_q8_0 *)a;
    const int64_t nb = n / SLM_QK8_0;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        int isum = 0;
        for (int j = 0; j < 16; ++j) {
            isum += ((x[i].qs[j] & 0x0f) - 8) * y[i].qs[j] + ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + 16];
        }
        sum += (float)isum * slm_h2f_fast(x[i].d) * slm_h2f_fast(y[i].d);
    }
    return sum;
}

float slm_vec_dot_q4_1_q8_1_generic(int64_t n, const void *w, const void *a) {
    const slm_block_q4_1 *SLM_RESTRICT x = (const slm_block_q4_1 *)w;
    const slm_block_q8_1 *SLM_RESTRICT y = (const slm_block_q8_1 *)a;
    const int64_t nb = n / SLM_QK8_1;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        int isum = 0;
        for (int j = 0; j < 16; ++j) {
            isum += (x[i].qs[j] & 0x0f) * y[i].qs[j] + (x[i].qs[j] >> 4) * y[i].qs[j + 16];
        }
        // sum_j (d q_j + m) * (d_a a_j) = d d_a sum q_j a_j + m * s, with s = d_a sum a_j.
        const float dd = slm_h2f_fast(x[i].d) * slm_h2f_fast(y[i].d);
        sum += dd * (float)isum + slm_h2f_fast(x[i].m) * slm_h2f_fast(y[i].s);
    }
    return sum;
}

// Q5 blocks: element j (j < 16) is the low nibble of qs[j], element j + 16 the high nibble; the
// fifth bit of element e is bit e of the little-endian 32-bit qh, i.e. bit (e % 8) of qh[e / 8].
// q5_spread[b] holds, in byte lane k (little-endian), 0x10 if bit k of b is set, else 0: replicate
// b into all lanes, keep bit k in lane k, add 0x7f (a set lane becomes 0x80, no carry leaves a
// lane), keep the top bits and shift them down to 0x10.
#define Q5_SPREAD(b) \
    (((((uint64_t)(b) * 0x0101010101010101ull) & 0x8040201008040201ull) + 0x7f7f7f7f7f7f7f7full) \
      & 0x8080808080808080ull) >> 3
#define Q5_S4(b) Q5_SPREAD(b), Q5_SPREAD(b + 1), Q5_SPREAD(b + 2), Q5_SPREAD(b + 3)
#define Q5_S16(b) Q5_S4(b), Q5_S4(b + 4), Q5_S4(b + 8), Q5_S4(b + 12)
#define Q5_S64(b) Q5_S16(b), Q5_S16(b + 16), Q5_S16(b + 32), Q5_S16(b + 48)
static const uint64_t q5_spread[256] = {Q5_S64(0), Q5_S64(64), Q5_S64(128), Q5_S64(192)};

// Integer dot of one Q5 block (values v in 0..31) with 32 activations.
static inline int q5_dot_u(const uint8_t *SLM_RESTRICT qs, const uint8_t *SLM_RESTRICT qh,
                           const int8_t *SLM_RESTRICT q8) {
    int isum = 0;
    for (int k = 0; k < 2; ++k) {
        const uint8_t *SLM_RESTRICT h_lo = (const uint8_t *)&q5_spread[qh[k]];
        const uint8_t *SLM_RESTRICT h_hi = (const uint8_t *)&q5_spread[qh[k + 2]];
        for (int l = 0; l < 8; ++l) {
            const int j = 8 * k + l;
            isum += ((qs[j] & 0x0f) | h_lo[l]) * q8[j] + ((qs[j] >> 4) | h_hi[l]) * q8[j + 16];
        }
    }
    return isum;
}

static inline int i8_sum32(const int8_t *SLM_RESTRICT a) {
    int s = 0;
    for (int j = 0; j < 32; ++j) s += a[j];
    return s;
}

// Q5_0 values are v - 16: sum (v - 16) a = sum v a - 16 sum a.
float slm_vec_dot_q5_0_q8_0_generic(int64_t n, const void *w, const void *a) {
    const slm_block_q5_0 *SLM_RESTRICT x = (const slm_block_q5_0 *)w;
    const slm_block_q8_0 *SLM_RESTRICT y = (const slm_block_q8_0 *)a;
    const int64_t nb = n / SLM_QK8_0;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        const int isum = q5_dot_u(x[i].qs, x[i].qh, y[i].qs) - 16 * i8_sum32(y[i].qs);
        sum += (slm_h2f_fast(x[i].d) * slm_h2f_fast(y[i].d)) * (float)isum;
    }
    return sum;
}

float slm_vec_dot_q5_1_q8_1_generic(int64_t n, const void *w, const void *a) {
    const slm_block_q5_1 *SLM_RESTRICT x = (const slm_block_q5_1 *)w;
    const slm_block_q8_1 *SLM_RESTRICT y = (const slm_block_q8_1 *)a;
    const int64_t nb = n / SLM_QK8_1;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        const int isum = q5_dot_u(x[i].qs, x[i].qh, y[i].qs);
        const float dd = slm_h2f_fast(x[i].d) * slm_h2f_fast(y[i].d);
        sum += dd * (float)isum + slm_h2f_fast(x[i].m) * slm_h2f_fast(y[i].s);
    }
    return sum;
}

float slm_vec_dot_q8_0_q8_0_generic(int64_t n, const void *w, const void *a) {
    const slm_block_q8_0 *SLM_RESTRICT x = (const slm_block_q8_0 *)w;
    const slm_block_q8_0 *SLM_RESTRICT y = (const slm_block_q8_0 *)a;
    const int64_t nb = n / SLM_QK8_0;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        int isum = 0;
        for (int j = 0; j < SLM_QK8_0; ++j) {
            isum += x[i].qs[j] * y[i].qs[j];
        }
        sum += (float)isum * (slm_h2f_fast(x[i].d) * slm_h2f_fast(y[i].d));
    }
    return sum;
}

// ---- 256-element super-blocks against Q8_K -----------------------------------------------------
//
// Each super-block is first unpacked to 256 signed bytes (loops shaped like dequantization, which
// vectorize), then multiplied with the activations. Integer products are accumulated per lane
// (element index mod 8); each super-block then adds d * lane_sum[l] to a float lane and the lanes
// are added at the end: ggml's generic ordering of the float operations, so these kernels give
// the same floats as ggml's scalar code.
#define SLM_K_LANES 8

// acc[l] += scale * (sum of the products in lane l) over len <= 32 elements (a multiple of 8).
// A lane gets at most 4 products with |v| <= 31 (Q4_K / Q5_K) or 2 with |v| <= 32 (Q6_K), and
// |a| <= 128, so lane sums fit in 16 bits; saying so lets SSE2 / NEON use 16-bit multiplies.
// Per super-block, |acc| <= 8 sub-blocks * 63 * 15872 (or 16 * 128 * 8192) < 2^31.
static inline void k_lane_dot(int32_t *SLM_RESTRICT acc, int16_t scale, const int8_t *SLM_RESTRICT v,
                              const int8_t *SLM_RESTRICT a, int len) {
    int16_t lane[SLM_K_LANES] = {0};
    for (int k = 0; k < len; k += SLM_K_LANES) {
        for (int l = 0; l < SLM_K_LANES; ++l) lane[l] = (int16_t)(lane[l] + v[k + l] * a[k + l]);
    }
    for (int l = 0; l < SLM_K_LANES; ++l) acc[l] += scale * lane[l];
}

static inline float k_finish(const float *lanes, float sum) {
    for (int l = 0; l < SLM_K_LANES; ++l) sum += lanes[l];
    return sum;
}

float slm_vec_dot_q4_K_q8_K_generic(int64_t n, const void *w, const void *a) {
    const slm_block_q4_K *SLM_RESTRICT x = (const slm_block_q4_K *)w;
    const slm_block_q8_K *SLM_RESTRICT y = (const slm_block_q8_K *)a;
    const int64_t nb = n / SLM_QK_K;
    float lanes[SLM_K_LANES] = {0};
    float sum = 0.0f;
    int8_t v[SLM_QK_K];
    for (int64_t i = 0; i < nb; ++i) {
        uint8_t sc[8], mn[8];
        slm_unpack_k_scales(x[i].scales, sc, mn);
        slm_unpack_q4_K_values(x[i].qs, v);
        int32_t acc[SLM_K_LANES] = {0};
        for (int j = 0; j < 8; ++j) k_lane_dot(acc, (int16_t)sc[j], v + 32 * j, y[i].qs + 32 * j, 32);
        const float d = slm_h2f_fast(x[i].d) * y[i].d;
        for (int l = 0; l < SLM_K_LANES; ++l) lanes[l] += d * (float)acc[l];
        const float dmin = slm_h2f_fast(x[i].dmin) * y[i].d;
        sum -= dmin * (float)slm_k_min_term(y[i].bsums, mn);
    }
    return k_finish(lanes, sum);
}

float slm_vec_dot_q5_K_q8_K_generic(int64_t n, const void *w, const void *a) {
    const slm_block_q5_K *SLM_RESTRICT x = (const slm_block_q5_K *)w;
    const slm_block_q8_K *SLM_RESTRICT y = (const slm_block_q8_K *)a;
    const int64_t nb = n / SLM_QK_K;
    float lanes[SLM_K_LANES] = {0};
    float sum = 0.0f;
    int8_t v[SLM_QK_K];
    for (int64_t i = 0; i < nb; ++i) {
        uint8_t sc[8], mn[8];
        slm_unpack_k_scales(x[i].scales, sc, mn);
        slm_unpack_q5_K_values(x[i].qs, x[i].qh, v);
        int32_t acc[SLM_K_LANES] = {0};
        for (int j = 0; j < 8; ++j) k_lane_dot(acc, (int16_t)sc[j], v + 32 * j, y[i].qs + 32 * j, 32);
        const float d = slm_h2f_fast(x[i].d) * y[i].d;
        for (int l = 0; l < SLM_K_LANES; ++l) lanes[l] += d * (float)acc[l];
        const float dmin = slm_h2f_fast(x[i].dmin) * y[i].d;
        sum -= dmin * (float)slm_k_min_term(y[i].bsums, mn);
    }
    return k_finish(lanes, sum);
}

float slm_vec_dot_q6_K_q8_K_generic(int64_t n, const void *w, const void *a) {
    const slm_block_q6_K *SLM_RESTRICT x = (const slm_block_q6_K *)w;
    const slm_block_q8_K *SLM_RESTRICT y = (const slm_block_q8_K *)a;
    const int64_t nb = n / SLM_QK_K;
    float lanes[SLM_K_LANES] = {0};
    int8_t v[SLM_QK_K];
    for (int64_t i = 0; i < nb; ++i) {
        slm_unpack_q6_K_values(x[i].ql, x[i].qh, v);
        int32_t acc[SLM_K_LANES] = {0};
        for (int g = 0; g < 16; ++g) k_lane_dot(acc, x[i].scales[g], v + 16 * g, y[i].qs + 16 * g, 16);
        const float d = slm_h2f_fast(x[i].d) * y[i].d;
        for (int l = 0; l < SLM_K_LANES; ++l) lanes[l] += d * (float)acc[l];
    }
    return k_finish(lanes, 0.0f);
}

// ---- the scalar table (the dispatch, generic/dispatch.c, falls back to it) -------------------

slm_vec_dot_fn slm_vec_dot_kernel_generic(int type) {
    switch (type) {
    case SLM_TYPE_F32: return slm_vec_dot_f32_f32_generic;
    case SLM_TYPE_F16: return slm_vec_dot_f16_f16_generic;
    case SLM_TYPE_BF16: return slm_vec_dot_bf16_bf16_generic;
    case SLM_TYPE_Q4_0: return slm_vec_dot_q4_0_q8_0_generic;
    case SLM_TYPE_Q4_1: return slm_vec_dot_q4_1_q8_1_generic;
    case SLM_TYPE_Q5_0: return slm_vec_dot_q5_0_q8_0_generic;
    case SLM_TYPE_Q5_1: return slm_vec_dot_q5_1_q8_1_generic;
    case SLM_TYPE_Q8_0: return slm_vec_dot_q8_0_q8_0_generic;
    case SLM_TYPE_Q4_K: return slm_vec_dot_q4_K_q8_K_generic;
    case SLM_TYPE_Q5_K: return slm_vec_dot_q5_K_q8_K_generic;
    case SLM_TYPE_Q6_K: return slm_vec_dot_q6_K_q8_K_generic;
    default: return NULL;
    }
}

float slm_vec_dot(int type, int64_t n, const void *weight_row, const void *activation_row) {
    const slm_vec_dot_fn fn = slm_vec_dot_kernel(type);
    return fn ? fn(n, weight_row, activation_row) : NAN;
}

// Q4_0 x Q8_0 in the eight-float-lane order of the x86 kernels (lane l: elements 4l..4l+3 of a
// block as an exact integer sum, one fma per block and lane, lanes folded upper half onto lower
// then (0+2)+(1+3)): the twin of slm_vec_dot_q4_0_q8_0_lanes_avx2, equal to it bit for bit. The
// KV cache's Q4_0 keys use this order (llama.cpp's flash attention dots them so).
float slm_vec_dot_q4_0_q8_0_lanes_generic(int64_t n, const void *w, const void *a) {
    const slm_block_q4_0 *SLM_RESTRICT x = (const slm_block_q4_0 *)w;
    const slm_block_q8_0 *SLM_RESTRICT y = (const slm_block_q8_0 *)a;
    const int64_t nb = n / SLM_QK8_0;
    float acc[8] = {0};
    for (int64_t i = 0; i < nb; ++i) {
        const float d = slm_h2f_fast(x[i].d) * slm_h2f_fast(y[i].d);
        for (int l = 0; l < 8; ++l) {
            int lane = 0;
            for (int j = 4 * l; j < 4 * l + 4; ++j) {
                const int q = j < 16 ? (x[i].qs[j] & 0x0f) - 8 : (x[i].qs[j - 16] >> 4) - 8;
                lane += q * y[i].qs[j];
            }
            acc[l] = fmaf(d, (float)lane, acc[l]);
        }
    }
    float h[4];
    for (int l = 0; l < 4; ++l) h[l] = acc[4 + l] + acc[l];
    return (h[0] + h[2]) + (h[1] + h[3]);
}
