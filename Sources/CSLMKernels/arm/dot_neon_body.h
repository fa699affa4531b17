// The NEON dot kernels, compiled twice by dot_neon.c: once for plain ARMv8-A NEON and once for
// CPUs with the dot-product extension (SDOT). The including file defines
//   NEON_ATTR        function attributes of this copy (target for the SDOT copy)
//   NEON_NAME(name)  the name of a function in this copy
//   neon_dot_s8      int32x4_t f(int32x4_t acc, int8x16_t a, int8x16_t b): acc lane l += the
//                    products of bytes 4l..4l+3 (SDOT's lane layout; the plain copy builds the
//                    same sums from widening multiplies)
// Both copies put the same integers in the same lanes and do the same float operations, so they
// return the same bits.
//
// Float order. 32-element types: per block, the exact integer dot of the block (the SDOT lanes
// added up), converted to float and added with one FMA by d_w * d_a into the pair's single sum;
// Q4_1 / Q5_1 add m_w * s_a with a second FMA chain, added last. A block sum per pair is what
// SMMLA gives four pairs at a time, so the SMMLA tiles (matmul_neon.c) repeat these bits with no
// lane shuffles. K-quants add one FMA per super-block into a scalar sum (the mins into a second
// one, subtracted at the end), the order llama.cpp's repacked Q4_K kernels use on x86.
// generic/dot_neon_order.c repeats this order in scalar C and the tests require its bits: a
// change of lanes or float steps here must be made there too.

// Horizontal sum of four float lanes, (0 + 2) + (1 + 3), written out so the order is fixed.
NEON_ATTR static inline float NEON_NAME(fold4)(float32x4_t v) {
    const float32x2_t pair = vadd_f32(vget_low_f32(v), vget_high_f32(v));
    return vget_lane_f32(pair, 0) + vget_lane_f32(pair, 1);
}

// One block's step of a pair's sum: fma((float)(exact integer dot), d_w * d_a, sum).
NEON_ATTR static inline float NEON_NAME(block_fma)(float sum, int32x4_t lanes, float scale) {
    return fmaf((float)vaddvq_s32(lanes), scale, sum);
}

NEON_ATTR static float NEON_NAME(slm_vec_dot_q4_0_q8_0)(int64_t n, const void *w, const void *a) {
    const slm_block_q4_0 *SLM_RESTRICT x = (const slm_block_q4_0 *)w;
    const slm_block_q8_0 *SLM_RESTRICT y = (const slm_block_q8_0 *)a;
    const int64_t nb = n / SLM_QK8_0;
    float acc = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        const uint8x16_t q = vld1q_u8(x[i].qs);
        const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0f))), vdupq_n_s8(8));
        const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), vdupq_n_s8(8));
        int32x4_t lanes = neon_dot_s8(vdupq_n_s32(0), lo, vld1q_s8(y[i].qs));
        lanes = neon_dot_s8(lanes, hi, vld1q_s8(y[i].qs + 16));
        acc = NEON_NAME(block_fma)(acc, lanes, slm_h2f_fast(x[i].d) * slm_h2f_fast(y[i].d));
    }
    return acc;
}

NEON_ATTR static float NEON_NAME(slm_vec_dot_q4_1_q8_1)(int64_t n, const void *w, const void *a) {
    const slm_block_q4_1 *SLM_RESTRICT x = (const slm_block_q4_1 *)w;
    const slm_block_q8_1 *SLM_RESTRICT y = (const slm_block_q8_1 *)a;
    const int64_t nb = n / SLM_QK8_1;
    float acc = 0.0f;
    float offsets = 0.0f;  // sum of m * s: the weights' block minimum times the activation sums
    for (int64_t i = 0; i < nb; ++i) {
        const uint8x16_t q = vld1q_u8(x[i].qs);
        const int8x16_t lo = vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0f)));
        const int8x16_t hi = vreinterpretq_s8_u8(vshrq_n_u8(q, 4));
        int32x4_t lanes = neon_dot_s8(vdupq_n_s32(0), lo, vld1q_s8(y[i].qs));
        lanes = neon_dot_s8(lanes, hi, vld1q_s8(y[i].qs + 16));
        offsets = fmaf(slm_h2f_fast(x[i].m), slm_h2f_fast(y[i].s), offsets);
        acc = NEON_NAME(block_fma)(acc, lanes, slm_h2f_fast(x[i].d) * slm_h2f_fast(y[i].d));
    }
    return acc + offsets;
}

NEON_ATTR static float NEON_NAME(slm_vec_dot_q5_0_q8_0)(int64_t n, const void *w, const void *a) {
    const slm_block_q5_0 *SLM_RESTRICT x = (const slm_block_q5_0 *)w;
    const slm_block_q8_0 *SLM_RESTRICT y = (const slm_block_q8_0 *)a;
    const int64_t nb = n / SLM_QK5_0;
    float acc = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        const uint8x16_t q = vld1q_u8(x[i].qs);
        uint8x16_t fifth_lo, fifth_hi;
        neon_q5_fifth_masks(x[i].qh, &fifth_lo, &fifth_hi);
        const int8x16_t lo = neon_q5_0_values(vandq_u8(q, vdupq_n_u8(0x0f)), fifth_lo);
        const int8x16_t hi = neon_q5_0_values(vshrq_n_u8(q, 4), fifth_hi);
        int32x4_t lanes = neon_dot_s8(vdupq_n_s32(0), lo, vld1q_s8(y[i].qs));
        lanes = neon_dot_s8(lanes, hi, vld1q_s8(y[i].qs + 16));
        acc = NEON_NAME(block_fma)(acc, lanes, slm_h2f_fast(x[i].d) * slm_h2f_fast(y[i].d));
    }
    return acc;
}

NEON_ATTR static float NEON_NAME(slm_vec_dot_q5_1_q8_1)(int64_t n, const void *w, const void *a) {
    const slm_block_q5_1 *SLM_RESTRICT x = (const slm_block_q5_1 *)w;
    const slm_block_q8_1 *SLM_RESTRICT y = (const slm_block_q8_1 *)a;
    const int64_t nb = n / SLM_QK5_1;
    float acc = 0.0f;
    float offsets = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        const uint8x16_t q = vld1q_u8(x[i].qs);
        uint8x16_t fifth_lo, fifth_hi;
        neon_q5_fifth_masks(x[i].qh, &fifth_lo, &fifth_hi);
        const int8x16_t lo = neon_q5_1_values(vandq_u8(q, vdupq_n_u8(0x0f)), fifth_lo);
        const int8x16_t hi = neon_q5_1_values(vshrq_n_u8(q, 4), fifth_hi);
        int32x4_t lanes = neon_dot_s8(vdupq_n_s32(0), lo, vld1q_s8(y[i].qs));
        lanes = neon_dot_s8(lanes, hi, vld1q_s8(y[i].qs + 16));
        offsets = fmaf(slm_h2f_fast(x[i].m), slm_h2f_fast(y[i].s), offsets);
        acc = NEON_NAME(block_fma)(acc, lanes, slm_h2f_fast(x[i].d) * slm_h2f_fast(y[i].d));
    }
    return acc + offsets;
}

NEON_ATTR static float NEON_NAME(slm_vec_dot_q8_0_q8_0)(int64_t n, const void *w, const void *a) {
    const slm_block_q8_0 *SLM_RESTRICT x = (const slm_block_q8_0 *)w;
    const slm_block_q8_0 *SLM_RESTRICT y = (const slm_block_q8_0 *)a;
    const int64_t nb = n / SLM_QK8_0;
    float acc = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        int32x4_t lanes = neon_dot_s8(vdupq_n_s32(0), vld1q_s8(x[i].qs), vld1q_s8(y[i].qs));
        lanes = neon_dot_s8(lanes, vld1q_s8(x[i].qs + 16), vld1q_s8(y[i].qs + 16));
        acc = NEON_NAME(block_fma)(acc, lanes, slm_h2f_fast(x[i].d) * slm_h2f_fast(y[i].d));
    }
    return acc;
}

// ---- K-quants: exact integer sum per super-block, then one scalar FMA ---------------------------

// sum_j mins[j] * (bsums[2j] + bsums[2j + 1]), exact.
NEON_ATTR static inline int32_t NEON_NAME(k_min_term)(const int16_t *bsums, const uint8_t *mn) {
    const int16x8_t pairs = vpaddq_s16(vld1q_s16(bsums), vld1q_s16(bsums + 8));
    const int16x8_t mins = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(mn)));
    const int32x4_t prod = vmlal_s16(vmull_s16(vget_low_s16(pairs), vget_low_s16(mins)), vget_high_s16(pairs), vget_high_s16(mins));
    return vaddvq_s32(prod);
}

// Integer dot of 32 weights (as signed bytes) with 32 activations.
NEON_ATTR static inline int32_t NEON_NAME(dot32)(int8x16_t w0, int8x16_t w1, const int8_t *a) {
    const int32x4_t lanes = neon_dot_s8(neon_dot_s8(vdupq_n_s32(0), w0, vld1q_s8(a)), w1, vld1q_s8(a + 16));
    return vaddvq_s32(lanes);
}

NEON_ATTR static float NEON_NAME(slm_vec_dot_q4_K_q8_K)(int64_t n, const void *w, const void *a) {
    const slm_block_q4_K *SLM_RESTRICT x = (const slm_block_q4_K *)w;
    const slm_block_q8_K *SLM_RESTRICT y = (const slm_block_q8_K *)a;
    const int64_t nb = n / SLM_QK_K;
    const uint8x16_t low4 = vdupq_n_u8(0x0f);
    float sum = 0.0f, sum_mins = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        uint8_t sc[8], mn[8];
        slm_unpack_k_scales(x[i].scales, sc, mn);
        int32_t isum = 0;
        for (int c = 0; c < 4; ++c) {
            // 32 bytes: low nibbles are sub-block 2c, high nibbles sub-block 2c + 1.
            const uint8x16_t q0 = vld1q_u8(x[i].qs + 32 * c), q1 = vld1q_u8(x[i].qs + 32 * c + 16);
            const int8_t *q8 = y[i].qs + 64 * c;
            isum += sc[2 * c] * NEON_NAME(dot32)(vreinterpretq_s8_u8(vandq_u8(q0, low4)), vreinterpretq_s8_u8(vandq_u8(q1, low4)), q8);
            isum += sc[2 * c + 1] * NEON_NAME(dot32)(vreinterpretq_s8_u8(vshrq_n_u8(q0, 4)), vreinterpretq_s8_u8(vshrq_n_u8(q1, 4)), q8 + 32);
        }
        sum = fmaf((float)isum, slm_h2f_fast(x[i].d) * y[i].d, sum);
        sum_mins = fmaf((float)NEON_NAME(k_min_term)(y[i].bsums, mn), slm_h2f_fast(x[i].dmin) * y[i].d, sum_mins);
    }
    return sum - sum_mins;
}

NEON_ATTR static float NEON_NAME(slm_vec_dot_q5_K_q8_K)(int64_t n, const void *w, const void *a) {
    const slm_block_q5_K *SLM_RESTRICT x = (const slm_block_q5_K *)w;
    const slm_block_q8_K *SLM_RESTRICT y = (const slm_block_q8_K *)a;
    const int64_t nb = n / SLM_QK_K;
    const uint8x16_t low4 = vdupq_n_u8(0x0f), bit4 = vdupq_n_u8(0x10);
    float sum = 0.0f, sum_mins = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        uint8_t sc[8], mn[8];
        slm_unpack_k_scales(x[i].scales, sc, mn);
        const uint8x16_t h0 = vld1q_u8(x[i].qh), h1 = vld1q_u8(x[i].qh + 16);
        int32_t isum = 0;
        for (int c = 0; c < 4; ++c) {
            // Fifth bits: bit 2c of qh[p] for the low nibbles, bit 2c + 1 for the high ones.
            const uint8x16_t m_lo = vdupq_n_u8((uint8_t)(1u << (2 * c))), m_hi = vdupq_n_u8((uint8_t)(2u << (2 * c)));
            const uint8x16_t q0 = vld1q_u8(x[i].qs + 32 * c), q1 = vld1q_u8(x[i].qs + 32 * c + 16);
            const int8x16_t lo0 = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q0, low4), vandq_u8(vtstq_u8(h0, m_lo), bit4)));
            const int8x16_t lo1 = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q1, low4), vandq_u8(vtstq_u8(h1, m_lo), bit4)));
            const int8x16_t hi0 = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q0, 4), vandq_u8(vtstq_u8(h0, m_hi), bit4)));
            const int8x16_t hi1 = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q1, 4), vandq_u8(vtstq_u8(h1, m_hi), bit4)));
            const int8_t *q8 = y[i].qs + 64 * c;
            isum += sc[2 * c] * NEON_NAME(dot32)(lo0, lo1, q8);
            isum += sc[2 * c + 1] * NEON_NAME(dot32)(hi0, hi1, q8 + 32);
        }
        sum = fmaf((float)isum, slm_h2f_fast(x[i].d) * y[i].d, sum);
        sum_mins = fmaf((float)NEON_NAME(k_min_term)(y[i].bsums, mn), slm_h2f_fast(x[i].dmin) * y[i].d, sum_mins);
    }
    return sum - sum_mins;
}

NEON_ATTR static float NEON_NAME(slm_vec_dot_q6_K_q8_K)(int64_t n, const void *w, const void *a) {
    const slm_block_q6_K *SLM_RESTRICT x = (const slm_block_q6_K *)w;
    const slm_block_q8_K *SLM_RESTRICT y = (const slm_block_q8_K *)a;
    const int64_t nb = n / SLM_QK_K;
    const uint8x16_t low4 = vdupq_n_u8(0x0f), low2 = vdupq_n_u8(0x03);
    const int8x16_t bias = vdupq_n_s8(32);
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        int32_t isum = 0;
        for (int half = 0; half < 2; ++half) {
            const uint8_t *ql = x[i].ql + 64 * half, *qh = x[i].qh + 32 * half;
            const int8_t *q8 = y[i].qs + 128 * half;
            const int8_t *scales = x[i].scales + 8 * half;
            for (int p = 0; p < 32; p += 16) {
                // Byte p of ql / qh gives elements p, p + 32 (low nibbles of ql[p], ql[p + 32]) and
                // p + 64, p + 96 (high nibbles), top bits from qh at shifts 0, 2, 4, 6.
                const uint8x16_t l0 = vld1q_u8(ql + p), l1 = vld1q_u8(ql + p + 32), h = vld1q_u8(qh + p);
                const uint8x16_t u[4] = {
                    vorrq_u8(vandq_u8(l0, low4), vshlq_n_u8(vandq_u8(h, low2), 4)),
                    vorrq_u8(vandq_u8(l1, low4), vshlq_n_u8(vandq_u8(vshrq_n_u8(h, 2), low2), 4)),
                    vorrq_u8(vshrq_n_u8(l0, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(h, 4), low2), 4)),
                    vorrq_u8(vshrq_n_u8(l1, 4), vshlq_n_u8(vshrq_n_u8(h, 6), 4)),
                };
                for (int k = 0; k < 4; ++k) {
                    const int e = 32 * k + p;  // first element of this group of 16
                    const int8x16_t v = vsubq_s8(vreinterpretq_s8_u8(u[k]), bias);
                    isum += scales[e / 16] * vaddvq_s32(neon_dot_s8(vdupq_n_s32(0), v, vld1q_s8(q8 + e)));
                }
            }
        }
        sum = fmaf((float)isum, slm_h2f_fast(x[i].d) * y[i].d, sum);
    }
    return sum;
}

// ---- float rows: four accumulators of four lanes over steps of 16 -------------------------------

NEON_ATTR static inline float NEON_NAME(fold16)(float32x4_t s0, float32x4_t s1, float32x4_t s2, float32x4_t s3) {
    return NEON_NAME(fold4)(vaddq_f32(vaddq_f32(s0, s2), vaddq_f32(s1, s3)));
}

NEON_ATTR static float NEON_NAME(slm_vec_dot_f32_f32)(int64_t n, const void *w, const void *a) {
    const float *SLM_RESTRICT x = (const float *)w;
    const float *SLM_RESTRICT y = (const float *)a;
    float32x4_t s[4] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        for (int j = 0; j < 4; ++j) s[j] = vfmaq_f32(s[j], vld1q_f32(x + i + 4 * j), vld1q_f32(y + i + 4 * j));
    }
    float sum = NEON_NAME(fold16)(s[0], s[1], s[2], s[3]);
    for (; i < n; ++i) sum = fmaf(x[i], y[i], sum);
    return sum;
}

NEON_ATTR static inline float32x4_t NEON_NAME(load_f16x4)(const uint16_t *p) {
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
}

NEON_ATTR static float NEON_NAME(slm_vec_dot_f16_f16)(int64_t n, const void *w, const void *a) {
    const uint16_t *SLM_RESTRICT x = (const uint16_t *)w;
    const uint16_t *SLM_RESTRICT y = (const uint16_t *)a;
    float32x4_t s[4] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        for (int j = 0; j < 4; ++j) {
            s[j] = vfmaq_f32(s[j], NEON_NAME(load_f16x4)(x + i + 4 * j), NEON_NAME(load_f16x4)(y + i + 4 * j));
        }
    }
    float sum = NEON_NAME(fold16)(s[0], s[1], s[2], s[3]);
    for (; i < n; ++i) sum = fmaf(slm_h2f_fast(x[i]), slm_h2f_fast(y[i]), sum);
    return sum;
}

NEON_ATTR static inline float32x4_t NEON_NAME(load_bf16x4)(const uint16_t *p) {
    return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16));
}

NEON_ATTR static float NEON_NAME(slm_vec_dot_bf16_bf16)(int64_t n, const void *w, const void *a) {
    const uint16_t *SLM_RESTRICT x = (const uint16_t *)w;
    const uint16_t *SLM_RESTRICT y = (const uint16_t *)a;
    float32x4_t s[4] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        for (int j = 0; j < 4; ++j) {
            s[j] = vfmaq_f32(s[j], NEON_NAME(load_bf16x4)(x + i + 4 * j), NEON_NAME(load_bf16x4)(y + i + 4 * j));
        }
    }
    float sum = NEON_NAME(fold16)(s[0], s[1], s[2], s[3]);
    for (; i < n; ++i) sum = fmaf(slm_bf2f(x[i]), slm_bf2f(y[i]), sum);
    return sum;
}

NEON_ATTR static slm_vec_dot_fn NEON_NAME(table)(int type) {
    switch (type) {
    case SLM_TYPE_F32: return NEON_NAME(slm_vec_dot_f32_f32);
    case SLM_TYPE_F16: return NEON_NAME(slm_vec_dot_f16_f16);
    case SLM_TYPE_BF16: return NEON_NAME(slm_vec_dot_bf16_bf16);
    case SLM_TYPE_Q4_0: return NEON_NAME(slm_vec_dot_q4_0_q8_0);
    case SLM_TYPE_Q4_1: return NEON_NAME(slm_vec_dot_q4_1_q8_1);
    case SLM_TYPE_Q5_0: return NEON_NAME(slm_vec_dot_q5_0_q8_0);
    case SLM_TYPE_Q5_1: return NEON_NAME(slm_vec_dot_q5_1_q8_1);
    case SLM_TYPE_Q8_0: return NEON_NAME(slm_vec_dot_q8_0_q8_0);
    case SLM_TYPE_Q4_K: return NEON_NAME(slm_vec_dot_q4_K_q8_K);
    case SLM_TYPE_Q5_K: return NEON_NAME(slm_vec_dot_q5_K_q8_K);
    case SLM_TYPE_Q6_K: return NEON_NAME(slm_vec_dot_q6_K_q8_K);
    default: return NULL;
    }
}
