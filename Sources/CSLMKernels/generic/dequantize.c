// Block formats -> float rows. The arithmetic order (scale products first, then the element)
// follows ggml's dequantize_row_* so results are identical to ggml and gguf-py.
#include "kernels_internal.h"

static void dequant_f32(const void *src, float *SLM_RESTRICT dst, int64_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}

static void dequant_f16(const void *src, float *SLM_RESTRICT dst, int64_t n) {
    slm_f16_row_to_f32((const uint16_t *)src, dst, n);
}

static void dequant_bf16(const void *src, float *SLM_RESTRICT dst, int64_t n) {
    const uint16_t *SLM_RESTRICT s = (const uint16_t *)src;
    for (int64_t i = 0; i < n; ++i) {
        dst[i] = slm_bf2f(s[i]);
    }
}

static void dequant_q4_0(const void *src, float *SLM_RESTRICT y, int64_t n) {
    const slm_block_q4_0 *SLM_RESTRICT b = (const slm_block_q4_0 *)src;
    const int64_t nb = n / SLM_QK4_0;
    for (int64_t i = 0; i < nb; ++i, y += SLM_QK4_0) {
        const float d = slm_h2f_fast(b[i].d);
        for (int j = 0; j < SLM_QK4_0 / 2; ++j) {
            y[j] = (float)((b[i].qs[j] & 0x0f) - 8) * d;
            y[j + SLM_QK4_0 / 2] = (float)((b[i].qs[j] >> 4) - 8) * d;
        }
    }
}

static void dequant_q4_1(const void *src, float *SLM_RESTRICT y, int64_t n) {
    const slm_block_q4_1 *SLM_RESTRICT b = (const slm_block_q4_1 *)src;
    const int64_t nb = n / SLM_QK4_1;
    for (int64_t i = 0; i < nb; ++i, y += SLM_QK4_1) {
        const float d = slm_h2f_fast(b[i].d);
        const float m = slm_h2f_fast(b[i].m);
        for (int j = 0; j < SLM_QK4_1 / 2; ++j) {
            y[j] = (float)(b[i].qs[j] & 0x0f) * d + m;
            y[j + SLM_QK4_1 / 2] = (float)(b[i].qs[j] >> 4) * d + m;
        }
    }
}

static inline uint32_t load_qh(const uint8_t *qh) {
    return (uint32_t)qh[0] | ((uint32_t)qh[1] << 8) | ((uint32_t)qh[2] << 16) | ((uint32_t)qh[3] << 24);
}

static void dequant_q5_0(const void *src, float *SLM_RESTRICT y, int64_t n) {
    const slm_block_q5_0 *SLM_RESTRICT b = (const slm_block_q5_0 *)src;
    const int64_t nb = n / SLM_QK5_0;
    for (int64_t i = 0; i < nb; ++i, y += SLM_QK5_0) {
        const float d = slm_h2f_fast(b[i].d);
        const uint32_t qh = load_qh(b[i].qh);
        for (int j = 0; j < SLM_QK5_0 / 2; ++j) {
            const int lo = (int)((b[i].qs[j] & 0x0f) | (((qh >> j) & 1u) << 4)) - 16;
            const int hi = (int)((b[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1u) << 4)) - 16;
            y[j] = (float)lo * d;
            y[j + SLM_QK5_0 / 2] = (float)hi * d;
        }
    }
}

static void dequant_q5_1(const void *src, float *SLM_RESTRICT y, int64_t n) {
    const slm_block_q5_1 *SLM_RESTRICT b = (const slm_block_q5_1 *)src;
    const int64_t nb = n / SLM_QK5_1;
    for (int64_t i = 0; i < nb; ++i, y += SLM_QK5_1) {
        const float d = slm_h2f_fast(b[i].d);
        const float m = slm_h2f_fast(b[i].m);
        const uint32_t qh = load_qh(b[i].qh);
        for (int j = 0; j < SLM_QK5_1 / 2; ++j) {
            const int lo = (int)((b[i].qs[j] & 0x0f) | (((qh >> j) & 1u) << 4));
            const int hi = (int)((b[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1u) << 4));
            y[j] = (float)lo * d + m;
            y[j + SLM_QK5_1 / 2] = (float)hi * d + m;
        }
    }
}

static void dequant_q8_0(const void *src, float *SLM_RESTRICT y, int64_t n) {
    const slm_block_q8_0 *SLM_RESTRICT b = (const slm_block_q8_0 *)src;
    const int64_t nb = n / SLM_QK8_0;
    for (int64_t i = 0; i < nb; ++i, y += SLM_QK8_0) {
        const float d = slm_h2f_fast(b[i].d);
        for (int j = 0; j < SLM_QK8_0; ++j) {
            y[j] = (float)b[i].qs[j] * d;
        }
    }
}

static void dequant_q8_1(const void *src, float *SLM_RESTRICT y, int64_t n) {
    const slm_block_q8_1 *SLM_RESTRICT b = (const slm_block_q8_1 *)src;
    const int64_t nb = n / SLM_QK8_1;
    for (int64_t i = 0; i < nb; ++i, y += SLM_QK8_1) {
        const float d = slm_h2f_fast(b[i].d);
        for (int j = 0; j < SLM_QK8_1; ++j) {
            y[j] = (float)b[i].qs[j] * d;
        }
    }
}

static void dequant_q8_K(const void *src, float *SLM_RESTRICT y, int64_t n) {
    const slm_block_q8_K *SLM_RESTRICT b = (const slm_block_q8_K *)src;
    const int64_t nb = n / SLM_QK_K;
    for (int64_t i = 0; i < nb; ++i, y += SLM_QK_K) {
        const float d = b[i].d;
        for (int j = 0; j < SLM_QK_K; ++j) {
            y[j] = d * (float)b[i].qs[j];
        }
    }
}

// Q4_K: 4 chunks of 64 elements; in chunk c, byte l of the 32 qs bytes holds element l (low
// nibble, sub-block 2c) and element 32 + l (high nibble, sub-block 2c + 1).
static void dequant_q4_K(const void *src, float *SLM_RESTRICT y, int64_t n) {
    const slm_block_q4_K *SLM_RESTRICT b = (const slm_block_q4_K *)src;
    const int64_t nb = n / SLM_QK_K;
    for (int64_t i = 0; i < nb; ++i) {
        const float d = slm_h2f_fast(b[i].d);
        const float dmin = slm_h2f_fast(b[i].dmin);
        uint8_t sc[8], mn[8];
        slm_unpack_k_scales(b[i].scales, sc, mn);
        const uint8_t *q = b[i].qs;
        for (int c = 0; c < 4; ++c, q += 32, y += 64) {
            const float d_lo = d * (float)sc[2 * c], m_lo = dmin * (float)mn[2 * c];
            const float d_hi = d * (float)sc[2 * c + 1], m_hi = dmin * (float)mn[2 * c + 1];
            for (int l = 0; l < 32; ++l) {
                y[l] = d_lo * (float)(q[l] & 0x0f) - m_lo;
                y[l + 32] = d_hi * (float)(q[l] >> 4) - m_hi;
            }
        }
    }
}

// Q5_K: as Q4_K; the fifth bit of element l of chunk c is bit 2c (low half) or 2c + 1 (high
// half) of qh[l].
static void dequant_q5_K(const void *src, float *SLM_RESTRICT y, int64_t n) {
    const slm_block_q5_K *SLM_RESTRICT b = (const slm_block_q5_K *)src;
    const int64_t nb = n / SLM_QK_K;
    for (int64_t i = 0; i < nb; ++i) {
        const float d = slm_h2f_fast(b[i].d);
        const float dmin = slm_h2f_fast(b[i].dmin);
        uint8_t sc[8], mn[8];
        slm_unpack_k_scales(b[i].scales, sc, mn);
        const uint8_t *q = b[i].qs;
        const uint8_t *qh = b[i].qh;
        for (int c = 0; c < 4; ++c, q += 32, y += 64) {
            const float d_lo = d * (float)sc[2 * c], m_lo = dmin * (float)mn[2 * c];
            const float d_hi = d * (float)sc[2 * c + 1], m_hi = dmin * (float)mn[2 * c + 1];
            for (int l = 0; l < 32; ++l) {
                const int lo = (q[l] & 0x0f) | (((qh[l] >> (2 * c)) & 1) << 4);
                const int hi = (q[l] >> 4) | (((qh[l] >> (2 * c + 1)) & 1) << 4);
                y[l] = d_lo * (float)lo - m_lo;
                y[l + 32] = d_hi * (float)hi - m_hi;
            }
        }
    }
}

// Q6_K: 2 halves of 128 elements. In a half, for l < 32, ql[l] / ql[l + 32] give the low 4 bits
// of elements l, l + 32 (low nibbles) and l + 64, l + 96 (high nibbles); qh[l] gives their top
// 2 bits at shifts 0, 2, 4, 6. Each 16 elements share one int8 scale.
static void dequant_q6_K(const void *src, float *SLM_RESTRICT y, int64_t n) {
    const slm_block_q6_K *SLM_RESTRICT b = (const slm_block_q6_K *)src;
    const int64_t nb = n / SLM_QK_K;
    for (int64_t i = 0; i < nb; ++i) {
        const float d = slm_h2f_fast(b[i].d);
        const uint8_t *ql = b[i].ql;
        const uint8_t *qh = b[i].qh;
        const int8_t *sc = b[i].scales;
        for (int half = 0; half < 2; ++half, ql += 64, qh += 32, sc += 8, y += 128) {
            for (int l = 0; l < 32; ++l) {
                const int s = l / 16;
                const int q0 = ((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q1 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q2 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q3 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * (float)sc[s] * (float)q0;
                y[l + 32] = d * (float)sc[s + 2] * (float)q1;
                y[l + 64] = d * (float)sc[s + 4] * (float)q2;
                y[l + 96] = d * (float)sc[s + 6] * (float)q3;
            }
        }
    }
}

void slm_dequantize_row(int type, const void *src, float *dst, int64_t n) {
    if (n <= 0) {
        return;
    }
    switch (type) {
    case SLM_TYPE_F32: dequant_f32(src, dst, n); return;
    case SLM_TYPE_F16: dequant_f16(src, dst, n); return;
    case SLM_TYPE_BF16: dequant_bf16(src, dst, n); return;
    case SLM_TYPE_Q4_0: dequant_q4_0(src, dst, n); return;
    case SLM_TYPE_Q4_1: dequant_q4_1(src, dst, n); return;
    case SLM_TYPE_Q5_0: dequant_q5_0(src, dst, n); return;
    case SLM_TYPE_Q5_1: dequant_q5_1(src, dst, n); return;
    case SLM_TYPE_Q8_0: dequant_q8_0(src, dst, n); return;
    case SLM_TYPE_Q8_1: dequant_q8_1(src, dst, n); return;
    case SLM_TYPE_Q4_K: dequant_q4_K(src, dst, n); return;
    case SLM_TYPE_Q5_K: dequant_q5_K(src, dst, n); return;
    case SLM_TYPE_Q6_K: dequant_q6_K(src, dst, n); return;
    case SLM_TYPE_Q8_K: dequant_q8_K(src, dst, n); return;
    default:
        for (int64_t i = 0; i < n; ++i) {
            dst[i] = NAN;
        }
        return;
    }
}
