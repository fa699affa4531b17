// The quantized dot kernels, prompt tiles and decode tiles of x86-64, one body built four times
// (the project's "one body, several builds" pattern, as generic/attention_body.h):
//
//   build            file                  integer block sums                      target
//   avx2             quant_avx2.c          vpmaddubsw + vpmaddwd (+ vpaddd)        AVX2+FMA+F16C
//   avxvnni          quant_avxvnni.c       vpdpbusd / vpdpwssd, VEX 256-bit        + AVX-VNNI
//   avx512vnni       quant_avx512vnni.c    vpdpbusd / vpdpwssd, EVEX 256-bit       + AVX512F/VL/BW/VNNI
//   vnni_emulated    quant_vnni_emulated.c the VNNI code with dpbusd / dpwssd      AVX2+FMA+F16C
//                                          emulated exactly in AVX2 (tests only)
//
// Every build gives the same bits for every input. The float operations are the same code in
// the same order; only the integer block sums are formed by other instructions, and they come out
// as the same exact integers in the same lanes:
//   - dpbusd adds four u8 x s8 products into an int32 lane (lane l: bytes 4l..4l+3) with no
//     intermediate rounding or saturation. maddubs + madd(ones) gives the same lane unless
//     maddubs saturates a pair sum u0 s0 + u1 s1 outside [-32768, 32767]. Over the unsigned
//     operands of these kernels that never happens, for any signed byte s (-128 included):
//       sign trick (Q4_0 dot, Q5_0, Q8_0): u = |x| <= 128, s in [-128, 127]: pairs in [-32768, 32512]
//       nibbles 0..15 (Q4_0 tiles, Q4_1, Q4_K): [-3840, 3810]
//       5-bit values 0..31 (Q5_0 decode, Q5_1, Q5_K): [-7936, 7874]; 16 x a pairs: [-4096, 4064]
//       6-bit values 0..63 (Q6_K): [-16128, 16002]
//     so no kernel has to stay on AVX2.
//   - dpwssd (the K-quants' sub-block scales times int16 pair sums) is madd + add exactly: int16
//     products summed in int32, no saturation; the pair sums it takes are maddubs's, as above.
//   - Q4_0's tiles sum the AVX2 build's int16 products with wrapping adds (exact for every
//     legal Q8_0 activation, |a| <= 127, see tile_q4_0); the VNNI builds sum int32 lanes, exact
//     for any byte. Q8_0 and Q8_K quantization never produce -128, so the builds agree on every
//     activation row the engine makes.
// The eight-lane float order is 256 bits wide (one 32-element block per register, one FMA per
// block), so the AVX-512 build keeps 256-bit registers: dpbusd on zmm would put two blocks in one
// register and change which partial sums are rounded together.
//
// Before including this file, a build defines:
//   SLM_Q_BUILD       the name suffix (avx2, avxvnni, ...) of the tables at the end
//   SLM_Q_TARGET      the target attribute of every function here
//   SLM_Q_FEATURES    the SLM_CPU_* bits the build needs (its tables answer NULL without them)
//   SLM_Q_VNNI        1 if the build has dpbusd / dpwssd:
//   SLM_Q_DPBUSD(acc, u, s)   acc + four u8 x s8 products per int32 lane
//   SLM_Q_DPWSSD(acc, a, b)   acc + two int16 x int16 products per int32 lane
// and includes arch.h and avx2_common.h inside the SLM_ARCH_X86 guard.

#define SLM_Q_CAT3(a, b, c) a##b##c
#define SLM_Q_CAT3_EXPANDED(a, b, c) SLM_Q_CAT3(a, b, c)
// SLM_Q_NAME(slm_matmul_tile_kernel_, _for_batch) -> slm_matmul_tile_kernel_avx2_for_batch, ...
#define SLM_Q_NAME(prefix, suffix) SLM_Q_CAT3_EXPANDED(prefix, SLM_Q_BUILD, suffix)

// ---- Integer block sums: the only code that differs between the builds -------------------------

// Eight int32 lanes, lane l = u[4l..4l+3] . s[4l..4l+3], added to acc.
SLM_Q_TARGET static inline __m256i q_dot4_u8_s8_acc(__m256i acc, __m256i u, __m256i s) {
#if SLM_Q_VNNI
    return SLM_Q_DPBUSD(acc, u, s);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
#endif
}

SLM_Q_TARGET static inline __m256i q_dot4_u8_s8(__m256i u, __m256i s) {
#if SLM_Q_VNNI
    return SLM_Q_DPBUSD(_mm256_setzero_si256(), u, s);
#else
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}

// Unsigned bytes times signed bytes, summed in groups of four into eight int32 lanes, as floats.
SLM_Q_TARGET static inline __m256 q_dot_u8_s8_lanes(__m256i u, __m256i s) {
    return _mm256_cvtepi32_ps(q_dot4_u8_s8(u, s));
}

// Signed times signed: move x's sign onto y so the unsigned-by-signed instruction applies.
SLM_Q_TARGET static inline __m256 q_dot_s8_s8_lanes(__m256i x, __m256i y) {
    return q_dot_u8_s8_lanes(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

// Sixteen int16 pair sums u[2k] s[2k] + u[2k+1] s[2k+1] (maddubs in every build: VNNI has no
// byte-to-int16 form; exact for the operands here, see above).
SLM_Q_TARGET static inline __m256i q_pairs_u8_s8(__m256i u, __m256i s) { return _mm256_maddubs_epi16(u, s); }

// lanes + scale . pairs per int32 lane (the K-quants' sub-block scales).
SLM_Q_TARGET static inline __m256i q_add_scaled_pairs(__m256i lanes, __m256i scale, __m256i pairs) {
#if SLM_Q_VNNI
    return SLM_Q_DPWSSD(lanes, scale, pairs);
#else
    return _mm256_add_epi32(lanes, _mm256_madd_epi16(scale, pairs));
#endif
}

// ---- 32-element blocks --------------------------------------------------------------------------
//
// Shape of the 32-element block kernels: per block, integer products are summed exactly into
// eight 32-bit lanes (lane l holds elements 4l..4l+3), converted to float and accumulated with one
// FMA per block into eight float lanes; the lanes are folded at the end (upper half onto lower,
// then pairwise). This is also how llama.cpp's x86 kernels order the float operations, so the two
// engines round identically on the same file. Q4_0 and Q4_K follow llama.cpp's repacked kernels
// instead, and the K-quants have their own orders (see each).

SLM_Q_TARGET static float vec_dot_q4_1_q8_1(int64_t n, const void *w, const void *a) {
    const slm_block_q4_1 *SLM_RESTRICT x = (const slm_block_q4_1 *)w;
    const slm_block_q8_1 *SLM_RESTRICT y = (const slm_block_q8_1 *)a;
    const int64_t nb = n / SLM_QK8_1;
    __m256 acc = _mm256_setzero_ps();
    __m128 offsets = _mm_setzero_ps();  // lane 0: sum of m * s, the weights' block minimum times the activation sums
    for (int64_t i = 0; i < nb; ++i) {
        const __m128 dm = h2f_pair(x[i].d, x[i].m);  // (d_w, m)
        const __m128 ds = h2f_pair(y[i].d, y[i].s);  // (d_a, s)
        offsets = _mm_fmadd_ss(_mm_movehdup_ps(dm), _mm_movehdup_ps(ds), offsets);
        const __m256 scale = _mm256_broadcastss_ps(_mm_mul_ss(dm, ds));
        const __m256 lanes = q_dot_u8_s8_lanes(unpack_nibbles(x[i].qs), _mm256_loadu_si256((const __m256i *)y[i].qs));
        acc = _mm256_fmadd_ps(scale, lanes, acc);
    }
    return hsum8(acc) + _mm_cvtss_f32(offsets);
}

// Q4_0 is the exception to the eight-float-lane shape: llama.cpp repacks Q4_0 weights (row count
// divisible by 8) into interleaved groups whose gemv adds one FMA per block into a scalar sum per
// output, so this kernel does the same: exact integer block sum, then fma(sum, d_w * d_a, acc).
SLM_Q_TARGET static float vec_dot_q4_0_q8_0(int64_t n, const void *w, const void *a) {
    const slm_block_q4_0 *SLM_RESTRICT x = (const slm_block_q4_0 *)w;
    const slm_block_q8_0 *SLM_RESTRICT y = (const slm_block_q8_0 *)a;
    const int64_t nb = n / SLM_QK8_0;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        // Q4_0 stores q + 8: recentre to [-8, 7] and use the signed-by-signed product.
        const __m256i q = _mm256_sub_epi8(unpack_nibbles(x[i].qs), _mm256_set1_epi8(8));
        const __m256i y8 = _mm256_loadu_si256((const __m256i *)y[i].qs);
        const int isum = hsum_i32x8(q_dot4_u8_s8(_mm256_sign_epi8(q, q), _mm256_sign_epi8(y8, q)));
        sum = fmaf((float)isum, slm_h2f_fast(x[i].d) * slm_h2f_fast(y[i].d), sum);
    }
    return sum;
}

SLM_Q_TARGET static float vec_dot_q5_0_q8_0(int64_t n, const void *w, const void *a) {
    const slm_block_q5_0 *SLM_RESTRICT x = (const slm_block_q5_0 *)w;
    const slm_block_q8_0 *SLM_RESTRICT y = (const slm_block_q8_0 *)a;
    const int64_t nb = n / SLM_QK5_0;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; ++i) {
        const __m256 scale = block_scale(x[i].d, y[i].d);
        // q - 16 as a signed byte: a set fifth bit gives the nibble itself, a clear one the nibble
        // with the top four bits set (nibble - 16).
        const __m256i clear = _mm256_andnot_si256(expand_bits(x[i].qh), _mm256_set1_epi8((char)0xF0));
        const __m256i q = _mm256_or_si256(unpack_nibbles(x[i].qs), clear);
        acc = _mm256_fmadd_ps(scale, q_dot_s8_s8_lanes(q, _mm256_loadu_si256((const __m256i *)y[i].qs)), acc);
    }
    return hsum8(acc);
}

SLM_Q_TARGET static float vec_dot_q5_1_q8_1(int64_t n, const void *w, const void *a) {
    const slm_block_q5_1 *SLM_RESTRICT x = (const slm_block_q5_1 *)w;
    const slm_block_q8_1 *SLM_RESTRICT y = (const slm_block_q8_1 *)a;
    const int64_t nb = n / SLM_QK5_1;
    __m256 acc = _mm256_setzero_ps();
    __m128 offsets = _mm_setzero_ps();  // lane 0: sum of m * s
    for (int64_t i = 0; i < nb; ++i) {
        const __m128 dm = h2f_pair(x[i].d, x[i].m);
        const __m128 ds = h2f_pair(y[i].d, y[i].s);
        offsets = _mm_fmadd_ss(_mm_movehdup_ps(dm), _mm_movehdup_ps(ds), offsets);
        const __m256 scale = _mm256_broadcastss_ps(_mm_mul_ss(dm, ds));
        // q in 0..31: the nibble plus 16 where the fifth bit is set.
        const __m256i high = _mm256_and_si256(expand_bits(x[i].qh), _mm256_set1_epi8(0x10));
        const __m256i q = _mm256_or_si256(unpack_nibbles(x[i].qs), high);
        acc = _mm256_fmadd_ps(scale, q_dot_u8_s8_lanes(q, _mm256_loadu_si256((const __m256i *)y[i].qs)), acc);
    }
    return hsum8(acc) + _mm_cvtss_f32(offsets);
}

SLM_Q_TARGET static float vec_dot_q8_0_q8_0(int64_t n, const void *w, const void *a) {
    const slm_block_q8_0 *SLM_RESTRICT x = (const slm_block_q8_0 *)w;
    const slm_block_q8_0 *SLM_RESTRICT y = (const slm_block_q8_0 *)a;
    const int64_t nb = n / SLM_QK8_0;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; ++i) {
        const __m256 scale = block_scale(x[i].d, y[i].d);
        const __m256 lanes = q_dot_s8_s8_lanes(_mm256_loadu_si256((const __m256i *)x[i].qs),
                                             _mm256_loadu_si256((const __m256i *)y[i].qs));
        acc = _mm256_fmadd_ps(scale, lanes, acc);
    }
    return hsum8(acc);
}

// ---- 256-element super-blocks against Q8_K ------------------------------------------------------
//
// Integer products are exact here too; what has to match llama.cpp is where the float roundings
// happen, and that differs by type, because llama.cpp runs different kernels for them on x86:
//   Q4_K: weights are repacked into interleaved 8-row groups and run by a gemv/gemm kernel whose
//         accumulation, per output, is one FMA per super-block into a scalar sum (d_w * d_a times
//         the block's integer sum) and a second for the mins, subtracted at the end.
//   Q5_K, Q6_K: the plain dot kernels: eight int32 lanes per super-block (lane l = bytes 4l..4l+3
//         of each 32-byte chunk), one FMA per super-block into eight float lanes, folded at the end.

// Prompt tiles of the batch orders take this many tokens; activation super-block i of token t:
#define K_TILE_TOKENS 4
#define K_ACT(t, i) (((const slm_block_q8_K *)(act + (size_t)(t) * act_row_bytes)) + (i))

// sum_j mins[j] * (bsums[2j] + bsums[2j + 1]): the min term of Q4_K / Q5_K, exact.
SLM_Q_TARGET static inline __m128i k_min_products(const int16_t *bsums, const uint8_t *mn) {
    const __m128i pairs = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)bsums), _mm_loadu_si128((const __m128i *)(bsums + 8)));
    return _mm_madd_epi16(_mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)mn)), pairs);
}

SLM_Q_TARGET static inline int hsum_i32x4(__m128i r) {
    r = _mm_add_epi32(r, _mm_unpackhi_epi64(r, r));
    r = _mm_add_epi32(r, _mm_shuffle_epi32(r, 0xb1));
    return _mm_cvtsi128_si32(r);
}

// lanes + 32 unsigned weights (< 64) times 32 activations, summed in pairs of int16 then, times
// the sub-block scale, into eight int32 lanes (lane l = bytes 4l..4l+3).
SLM_Q_TARGET static inline __m256i add_scaled_lanes(__m256i lanes, __m256i q, const int8_t *a, int scale) {
    return q_add_scaled_pairs(lanes, _mm256_set1_epi16((short)scale), q_pairs_u8_s8(q, _mm256_loadu_si256((const __m256i *)a)));
}

SLM_Q_TARGET static float vec_dot_q4_K_q8_K(int64_t n, const void *w, const void *a) {
    const slm_block_q4_K *SLM_RESTRICT x = (const slm_block_q4_K *)w;
    const slm_block_q8_K *SLM_RESTRICT y = (const slm_block_q8_K *)a;
    const int64_t nb = n / SLM_QK_K;
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    float sum = 0.0f, sum_mins = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        uint8_t sc[8], mn[8];
        slm_unpack_k_scales(x[i].scales, sc, mn);
        __m256i lanes = _mm256_setzero_si256();
        for (int c = 0; c < 4; ++c) {
            // 32 bytes: low nibbles are sub-block 2c, high nibbles sub-block 2c + 1.
            const __m256i q = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * c));
            lanes = add_scaled_lanes(lanes, _mm256_and_si256(q, low4), y[i].qs + 64 * c, sc[2 * c]);
            lanes = add_scaled_lanes(lanes, _mm256_and_si256(_mm256_srli_epi16(q, 4), low4), y[i].qs + 64 * c + 32, sc[2 * c + 1]);
        }
        const float d = slm_h2f_fast(x[i].d) * y[i].d;
        const float dmin = slm_h2f_fast(x[i].dmin) * y[i].d;
        sum = fmaf((float)hsum_i32x8(lanes), d, sum);
        sum_mins = fmaf((float)hsum_i32x4(k_min_products(y[i].bsums, mn)), dmin, sum_mins);
    }
    return sum - sum_mins;
}

// The same products in the order of llama.cpp's repacked Q4_K gemm, which it runs on each full
// group of 4 tokens of a batch (the remaining tokens go through the gemv order above): one FMA per
// 64-element chunk (two sub-blocks) instead of per super-block, for the scales and for the mins.
// Chosen by slm_vec_dot_kernel_for_batch.
// The body for `tokens` activation rows (act_row_bytes apart) against one weight row: each
// super-block's weights and scale vectors are unpacked once and shared by the tokens (the prompt
// tile takes 4), each token's steps being exactly the one-token dot's.
__attribute__((always_inline)) SLM_Q_TARGET static inline void q4_K_batch_tokens(int64_t n, const void *w, const uint8_t *act,
                                                                            size_t act_row_bytes, int tokens, float *out,
                                                                            int64_t out_stride) {
    const slm_block_q4_K *SLM_RESTRICT x = (const slm_block_q4_K *)w;
    const int64_t nb = n / SLM_QK_K;
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    float sum[K_TILE_TOKENS] = {0}, sum_mins[K_TILE_TOKENS] = {0};
    for (int64_t i = 0; i < nb; ++i) {
        uint8_t sc[8], mn[8];
        slm_unpack_k_scales(x[i].scales, sc, mn);
        // q[2c], q[2c + 1]: sub-blocks 2c and 2c + 1 (low and high nibbles of 32 bytes).
        __m256i q[8], scale[8];
        for (int c = 0; c < 4; ++c) {
            const __m256i packed = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * c));
            q[2 * c] = _mm256_and_si256(packed, low4);
            q[2 * c + 1] = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low4);
        }
        for (int j = 0; j < 8; ++j) scale[j] = _mm256_set1_epi16((short)sc[j]);
        const float dw = slm_h2f_fast(x[i].d), dminw = slm_h2f_fast(x[i].dmin);
        for (int t = 0; t < tokens; ++t) {
            const slm_block_q8_K *y = K_ACT(t, i);
            const float d = dw * y->d, dmin = dminw * y->d;
            for (int c = 0; c < 4; ++c) {
                const __m256i lo = q_pairs_u8_s8(q[2 * c], _mm256_loadu_si256((const __m256i *)(y->qs + 64 * c)));
                const __m256i hi = q_pairs_u8_s8(q[2 * c + 1], _mm256_loadu_si256((const __m256i *)(y->qs + 64 * c + 32)));
                const __m256i lanes = q_add_scaled_pairs(_mm256_madd_epi16(scale[2 * c], lo), scale[2 * c + 1], hi);
                const int16_t *bs = y->bsums + 4 * c;
                const int mins = mn[2 * c] * (bs[0] + bs[1]) + mn[2 * c + 1] * (bs[2] + bs[3]);
                sum[t] = fmaf((float)hsum_i32x8(lanes), d, sum[t]);
                sum_mins[t] = fmaf((float)mins, dmin, sum_mins[t]);
            }
        }
    }
    for (int t = 0; t < tokens; ++t) out[t * out_stride] = sum[t] - sum_mins[t];
}

SLM_Q_TARGET static float vec_dot_q4_K_q8_K_batch(int64_t n, const void *w, const void *a) {
    float out;
    q4_K_batch_tokens(n, w, (const uint8_t *)a, 0, 1, &out, 1);
    return out;
}

SLM_Q_TARGET static float vec_dot_q5_K_q8_K(int64_t n, const void *w, const void *a) {
    const slm_block_q5_K *SLM_RESTRICT x = (const slm_block_q5_K *)w;
    const slm_block_q8_K *SLM_RESTRICT y = (const slm_block_q8_K *)a;
    const int64_t nb = n / SLM_QK_K;
    const __m256i low4 = _mm256_set1_epi8(0x0f), bit4 = _mm256_set1_epi8(0x10);
    __m256 acc = _mm256_setzero_ps();
    float sum_mins = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        uint8_t sc[8], mn[8];
        slm_unpack_k_scales(x[i].scales, sc, mn);
        const float d = y[i].d * slm_h2f_fast(x[i].d);
        const float dmin = -y[i].d * slm_h2f_fast(x[i].dmin);
        sum_mins = fmaf(dmin, (float)hsum_i32x4(k_min_products(y[i].bsums, mn)), sum_mins);
        const __m256i qh = _mm256_loadu_si256((const __m256i *)x[i].qh);
        __m256i lanes = _mm256_setzero_si256();
        for (int c = 0; c < 4; ++c) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * c));
            // Fifth bits: bit 2c of qh[p] for the low nibbles, bit 2c + 1 for the high ones,
            // moved to bit 4 of the same byte (16-bit shifts; the mask drops what crossed bytes).
            const __m256i h_lo = _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(qh, 2 * c), 4), bit4);
            const __m256i h_hi = _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(qh, 2 * c + 1), 4), bit4);
            const __m256i q_lo = _mm256_or_si256(_mm256_and_si256(q, low4), h_lo);
            const __m256i q_hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), low4), h_hi);
            lanes = add_scaled_lanes(lanes, q_lo, y[i].qs + 64 * c, sc[2 * c]);
            lanes = add_scaled_lanes(lanes, q_hi, y[i].qs + 64 * c + 32, sc[2 * c + 1]);
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(lanes), acc);
    }
    return hsum8(acc) + sum_mins;
}

// Half `half` of a Q6_K super-block's values u (0..63) as four chunks of 32: q[k] holds
// elements 32 (4 half + k) ... + 31, whose top two bits are qh bits 2k, 2k + 1.
SLM_Q_TARGET static inline void q6_K_half_values(const slm_block_q6_K *x, int half, __m256i q[4]) {
    const __m256i low4 = _mm256_set1_epi8(0x0f), low2 = _mm256_set1_epi8(0x03);
    const uint8_t *ql = x->ql + 64 * half;
    const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
    const __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
    const __m256i h = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * half));
    q[0] = _mm256_or_si256(_mm256_and_si256(l0, low4), _mm256_slli_epi16(_mm256_and_si256(h, low2), 4));
    q[1] = _mm256_or_si256(_mm256_and_si256(l1, low4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2), low2), 4));
    q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low4),
                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 4), low2), 4));
    q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low4),
                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 6), low2), 4));
}

// Chunk s's two sub-block scales as int16 lanes: bytes 0..15 of a chunk are sub-block 2s, bytes
// 16..31 sub-block 2s + 1.
SLM_Q_TARGET static inline __m256i q6_K_chunk_scale(const slm_block_q6_K *x, int s) {
    return _mm256_set_m128i(_mm_set1_epi16(x->scales[2 * s + 1]), _mm_set1_epi16(x->scales[2 * s]));
}

// 32 * scale * bsum per lane: what the unsigned values u add over the true values u - 32.
SLM_Q_TARGET static inline __m256i q6_K_offset(const slm_block_q6_K *x, const slm_block_q8_K *y) {
    const __m128i scales = _mm_loadu_si128((const __m128i *)x->scales);
    const __m256i bsums = _mm256_loadu_si256((const __m256i *)y->bsums);
    return _mm256_slli_epi32(_mm256_madd_epi16(bsums, _mm256_cvtepi8_epi16(scales)), 5);
}

// Exact integer sum of a Q6_K super-block (values u - 32): the eight lanes of the dot kernel.
// Unpacks half a block at a time, which keeps decode's register pressure low.
SLM_Q_TARGET static inline __m256i q6_K_block_lanes(const slm_block_q6_K *x, const slm_block_q8_K *y) {
    __m256i lanes = _mm256_setzero_si256();
    for (int half = 0; half < 2; ++half) {
        __m256i q[4];
        q6_K_half_values(x, half, q);
        for (int k = 0; k < 4; ++k) {
            const int s = 4 * half + k;
            const __m256i pairs = q_pairs_u8_s8(q[k], _mm256_loadu_si256((const __m256i *)(y->qs + 32 * s)));
            lanes = q_add_scaled_pairs(lanes, q6_K_chunk_scale(x, s), pairs);
        }
    }
    return _mm256_sub_epi32(lanes, q6_K_offset(x, y));
}

// The same lanes from a block unpacked once for several tokens (q: both halves' chunks, scale:
// every chunk's q6_K_chunk_scale).
SLM_Q_TARGET static inline __m256i q6_K_unpacked_lanes(const slm_block_q6_K *x, const __m256i q[8], const __m256i scale[8],
                                                   const slm_block_q8_K *y) {
    __m256i lanes = _mm256_setzero_si256();
    for (int s = 0; s < 8; ++s) {
        const __m256i pairs = q_pairs_u8_s8(q[s], _mm256_loadu_si256((const __m256i *)(y->qs + 32 * s)));
        lanes = q_add_scaled_pairs(lanes, scale[s], pairs);
    }
    return _mm256_sub_epi32(lanes, q6_K_offset(x, y));
}

// Q6_K values are u - 32 with u in 0..63: the unsigned u are multiplied, and 32 * scale * bsum
// is subtracted per lane (lane l: activation groups 2l and 2l + 1).
SLM_Q_TARGET static float vec_dot_q6_K_q8_K(int64_t n, const void *w, const void *a) {
    const slm_block_q6_K *SLM_RESTRICT x = (const slm_block_q6_K *)w;
    const slm_block_q8_K *SLM_RESTRICT y = (const slm_block_q8_K *)a;
    const int64_t nb = n / SLM_QK_K;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; ++i) {
        const float d = y[i].d * slm_h2f_fast(x[i].d);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(q6_K_block_lanes(&x[i], &y[i])), acc);
    }
    return hsum8(acc);
}

// ---- K-quants in the order of llama.cpp's tiled batch kernel ------------------------------------
//
// For 8 or more tokens llama.cpp multiplies Q5_K / Q6_K weights (those it does not repack) with
// its tiled kernel: per output and super-block, the exact integer sum is scaled by the weight's d
// alone (a rounded product; the min term is subtracted from it with one fused step), and the
// result goes into the output with one FMA by the activation's d.

// Exact integer sums of a Q5_K super-block: scales times products, and mins times bsums.
SLM_Q_TARGET static inline int q5_K_block_sum(const slm_block_q5_K *x, const int8_t *q8, const uint8_t *sc) {
    const __m256i low4 = _mm256_set1_epi8(0x0f), bit4 = _mm256_set1_epi8(0x10);
    const __m256i qh = _mm256_loadu_si256((const __m256i *)x->qh);
    __m256i lanes = _mm256_setzero_si256();
    for (int c = 0; c < 4; ++c) {
        const __m256i q = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * c));
        const __m256i h_lo = _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(qh, 2 * c), 4), bit4);
        const __m256i h_hi = _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(qh, 2 * c + 1), 4), bit4);
        const __m256i q_lo = _mm256_or_si256(_mm256_and_si256(q, low4), h_lo);
        const __m256i q_hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), low4), h_hi);
        lanes = add_scaled_lanes(lanes, q_lo, q8 + 64 * c, sc[2 * c]);
        lanes = add_scaled_lanes(lanes, q_hi, q8 + 64 * c + 32, sc[2 * c + 1]);
    }
    return hsum_i32x8(lanes);
}

SLM_Q_TARGET static float vec_dot_q5_K_q8_K_tiled(int64_t n, const void *w, const void *a) {
    const slm_block_q5_K *SLM_RESTRICT x = (const slm_block_q5_K *)w;
    const slm_block_q8_K *SLM_RESTRICT y = (const slm_block_q8_K *)a;
    const int64_t nb = n / SLM_QK_K;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        uint8_t sc[8], mn[8];
        slm_unpack_k_scales(x[i].scales, sc, mn);
        const int isum = q5_K_block_sum(&x[i], y[i].qs, sc);
        const int msum = hsum_i32x4(k_min_products(y[i].bsums, mn));
        const float block = fmaf(-slm_h2f_fast(x[i].dmin), (float)msum, slm_h2f_fast(x[i].d) * (float)isum);
        sum = fmaf(block, y[i].d, sum);
    }
    return sum;
}

// The tiled order for `tokens` activation rows sharing each unpacked super-block (see
// q4_K_batch_tokens).
__attribute__((always_inline)) SLM_Q_TARGET static inline void q6_K_tiled_tokens(int64_t n, const void *w, const uint8_t *act,
                                                                            size_t act_row_bytes, int tokens, float *out,
                                                                            int64_t out_stride) {
    const slm_block_q6_K *SLM_RESTRICT x = (const slm_block_q6_K *)w;
    const int64_t nb = n / SLM_QK_K;
    float sum[K_TILE_TOKENS] = {0};
    for (int64_t i = 0; i < nb; ++i) {
        __m256i q[8], scale[8];
        q6_K_half_values(&x[i], 0, q);
        q6_K_half_values(&x[i], 1, q + 4);
        for (int c = 0; c < 8; ++c) scale[c] = q6_K_chunk_scale(&x[i], c);
        const float dw = slm_h2f_fast(x[i].d);
        for (int t = 0; t < tokens; ++t) {
            const slm_block_q8_K *y = K_ACT(t, i);
            const float block = dw * (float)hsum_i32x8(q6_K_unpacked_lanes(&x[i], q, scale, y));
            sum[t] = fmaf(block, y->d, sum[t]);
        }
    }
    for (int t = 0; t < tokens; ++t) out[t * out_stride] = sum[t];
}

SLM_Q_TARGET static float vec_dot_q6_K_q8_K_tiled(int64_t n, const void *w, const void *a) {
    float out;
    q6_K_tiled_tokens(n, w, (const uint8_t *)a, 0, 1, &out, 1);
    return out;
}

// ---- K-quant tiles for prompt batches ---------------------------------------------------------
//
// One weight row times K_TILE_TOKENS tokens in the batch orders above, through the same bodies as
// the batch dots (the same bits per pair; tested against them).

SLM_Q_TARGET static void tile_q6_K_tiled(int64_t n, const uint8_t *w, size_t row_stride, const uint8_t *act,
                                     size_t act_row_bytes, const float *act_d, int64_t act_d_stride, float *out,
                                     int64_t out_stride) {
    (void)row_stride, (void)act_d, (void)act_d_stride;
    q6_K_tiled_tokens(n, w, act, act_row_bytes, K_TILE_TOKENS, out, out_stride);
}

SLM_Q_TARGET static void tile_q4_K_batch(int64_t n, const uint8_t *w, size_t row_stride, const uint8_t *act,
                                     size_t act_row_bytes, const float *act_d, int64_t act_d_stride, float *out,
                                     int64_t out_stride) {
    (void)row_stride, (void)act_d, (void)act_d_stride;
    q4_K_batch_tokens(n, w, act, act_row_bytes, K_TILE_TOKENS, out, out_stride);
}


// ---- Prompt tiles and decode tiles --------------------------------------------------------------
//
// For prompt batches, 2 weight rows x 4 tokens per call (Q5_0: 1 x 8), so each unpacked weight
// block serves several tokens and each activation block several rows, instead of one dot product
// re-reading and re-unpacking both per pair (Q4_0, Q5_0, Q8_0; Q4_1, Q5_0 and Q8_0 have panels
// further down, and the Q5_0 and Q8_0 tiles take the rows those leave).
// Decode tiles (several rows x 1 token) for slm_matvec: Q4_0, Q4_1, Q5_0, Q8_0.
//
// Bit-identical to the dots above for every (row, token): each of the pairs keeps its own
// eight-lane accumulator and receives exactly the same operations in the same order (exact
// integer lane sums, the same d_w * d_a product, one FMA per block, the same final fold). Only
// which values are computed once and shared changes, so prompt logits stay equal to decode's and
// to llama.cpp's. The scalar twin is the per-pair loop in slm_matmul (generic/matvec.c).

// Shape of the tiles below but Q5_0's (one row by eight).
#define TILE_ROWS 2
#define TILE_TOKENS 4

// Activation block i of token t.
#define ACT(type, t, i) (((const type *)(act + (size_t)(t) * act_row_bytes))[i])

// The tiles below run through the blocks a chunk at a time: first they compute the chunk's
// per-pair scales d_w * d_a and store them, then the
// integer products of the chunk run with each pair's scale broadcast straight from memory (a
// load, no vector ALU). Computing the scales inside the product loop let the compiler move them
// into place with register shuffles, eight per block, which compete with the products for the
// same ports: on Zen 3 that loop took 2.5 TSC ticks per 32-weight pair, the chunked one 2.0.
#define TILE_CHUNK_BLOCKS 32
// Scales of a chunk: [block - chunk start][pair], pair = TILE_TOKENS * row + token (Q5_0: token).
typedef float tile_chunk_scales[TILE_CHUNK_BLOCKS][TILE_ROWS * TILE_TOKENS];

// A chunk's scales, as the product loop reads them: the empty asm hides where the pointer comes
// from, so the compiler loads each broadcast instead of rebuilding it from the stored vectors.
SLM_Q_TARGET static inline const float *chunk_scales_for_loads(const float *scales) {
    __asm__("" : "+r"(scales));
    return scales;
}

#if SLM_Q_VNNI
// Eight vectors of 8 int32 -> 8 int32 whose lane k is the sum of all of v[k]'s elements (exact
// for the block sums here, far inside int32). Pairwise adds only.
SLM_Q_TARGET static inline __m256i hsum_i32_transposed(const __m256i v[8]) {
    const __m256i quads0 = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
    const __m256i quads1 = _mm256_hadd_epi32(_mm256_hadd_epi32(v[4], v[5]), _mm256_hadd_epi32(v[6], v[7]));
    // quads0 = (v0..v3 low halves | v0..v3 high halves), quads1 the same for v4..v7.
    return _mm256_add_epi32(_mm256_permute2x128_si256(quads0, quads1, 0x20), _mm256_permute2x128_si256(quads0, quads1, 0x31));
}
#else
// Eight vectors of 16 int16 -> 8 int16 whose lane k is the sum of all of v[k]'s elements, modulo
// 2^16 (the adds wrap, they do not saturate): exact once the caller's final value, after any
// further wrapping adds, fits in an int16. Pairwise adds only: no multiply is spent on it.
SLM_Q_TARGET static inline __m128i hsum_i16_transposed(const __m256i v[8]) {
    const __m256i quads0 = _mm256_hadd_epi16(_mm256_hadd_epi16(v[0], v[1]), _mm256_hadd_epi16(v[2], v[3]));
    const __m256i quads1 = _mm256_hadd_epi16(_mm256_hadd_epi16(v[4], v[5]), _mm256_hadd_epi16(v[6], v[7]));
    const __m256i eights = _mm256_hadd_epi16(quads0, quads1);
    return _mm_add_epi16(_mm256_castsi256_si128(eights), _mm256_extracti128_si256(eights, 1));
}
#endif

// Q4_0 follows its dot's order (llama.cpp's repacked gemv/gemm): per block an exact integer sum
// for each pair, then one fma(sum, d_w * d_a, acc) per pair. The eight pairs share one vector:
// lane 4 r + t is (row r, token t). The stored nibbles q in [0, 15] go straight into maddubs's
// unsigned side; the block's 8 * sum(a), precomputed per token (see slm_matmul_tile_fn), is
// subtracted once at the end: sum (q - 8) a = sum q a - 8 sum a. The int16 adds wrap, and the
// result, at most 32 * 8 * 127 = 32512 in magnitude, fits, so it comes out exact.
SLM_Q_TARGET static void tile_q4_0(int64_t n, const uint8_t *w, size_t row_stride, const uint8_t *act,
                               size_t act_row_bytes, const float *act_d, int64_t act_d_stride, float *out,
                               int64_t out_stride) {
    const slm_block_q4_0 *x0 = (const slm_block_q4_0 *)w;
    const slm_block_q4_0 *x1 = (const slm_block_q4_0 *)(w + row_stride);
    const int64_t nb = n / SLM_QK4_0;
    const float *act_sum8 = act_d + nb * act_d_stride;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; ++i) {
        const __m128 d = h2f_pair(x0[i].d, x1[i].d);
        const __m128 da = _mm_loadu_ps(act_d + i * act_d_stride);
        const __m256 scale = _mm256_set_m128(_mm_mul_ps(_mm_broadcastss_ps(_mm_movehdup_ps(d)), da),
                                             _mm_mul_ps(_mm_broadcastss_ps(d), da));
        const __m128i sum8 = _mm_cvtps_epi32(_mm_loadu_ps(act_sum8 + i * act_d_stride));  // tokens 0..3
        const __m256i q0 = unpack_nibbles(x0[i].qs), q1 = unpack_nibbles(x1[i].qs);
        __m256i products[8];
#if SLM_Q_VNNI
        // int32 block sums: each product vector already holds sums of four (no int16 step).
        for (int t = 0; t < TILE_TOKENS; ++t) {
            const __m256i a = _mm256_loadu_si256((const __m256i *)ACT(slm_block_q8_0, t, i).qs);
            products[t] = q_dot4_u8_s8(q0, a);
            products[4 + t] = q_dot4_u8_s8(q1, a);
        }
        const __m256i sums = _mm256_sub_epi32(hsum_i32_transposed(products), _mm256_set_m128i(sum8, sum8));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), scale, acc);
#else
        for (int t = 0; t < TILE_TOKENS; ++t) {
            const __m256i a = _mm256_loadu_si256((const __m256i *)ACT(slm_block_q8_0, t, i).qs);
            products[t] = _mm256_maddubs_epi16(q0, a);
            products[4 + t] = _mm256_maddubs_epi16(q1, a);
        }
        // Lane 4 r + t takes token t's 8 * sum(a): the low halves of the four int32 sums, twice.
        const __m128i sum8_lanes = _mm_shuffle_epi8(sum8, _mm_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, 0, 1, 4, 5, 8, 9, 12, 13));
        const __m128i sums = _mm_sub_epi16(hsum_i16_transposed(products), sum8_lanes);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi16_epi32(sums)), scale, acc);
#endif
    }
    float sums[TILE_ROWS * TILE_TOKENS] __attribute__((aligned(32)));
    _mm256_store_ps(sums, acc);
    for (int t = 0; t < TILE_TOKENS; ++t) {
        out[t * out_stride] = sums[t];
        out[t * out_stride + 1] = sums[4 + t];
    }
}

// ---- Q4_0 prompt panel: 8 rows by any number of tokens ------------------------------------------
//
// Q4_0's order is an exact integer block sum per pair, then one fma(sum, d_w * d_a, acc) (the
// dot above), so the integers may be formed any way. The panel turns each block of its 8 rows on
// its side once (group k: elements 4k..4k+3 of rows 0..7, four bytes per row) and keeps it in
// registers while it runs through the tokens: per token, eight maddubs against the token's four
// bytes broadcast (a load, no shuffle) give lane r = row r's pair sums, so no horizontal sums
// are left, and one conversion, one scale product and one FMA finish eight pairs. The tile above
// spends a transposed horizontal sum (seven hadds) per block and 2 x 4 pairs; here the turn costs
// about as much once per block for all the panel's tokens. llama.cpp gets the same effect by
// repacking Q4_0 rows at load time; this needs no second copy of the weights.
//
// The stored nibbles q go unsigned into maddubs; the block's 8 * sum(a) (act_d's second half, an
// exact integer in a float) is subtracted after the conversion, which is exact: both are
// integers far below 2^24. Eight groups of pair sums add up in int16 without wrapping (at most
// 8 x 2 x 15 x 127 = 30480), then one madd with ones gives each row's int32.
#define PANEL_ROWS 8
// Tokens per pass over the blocks: their activations and outputs stay in L1 while a block's
// groups serve them (the groups are rebuilt once per pass).
#define PANEL_TOKEN_CHUNK 64

// Eight rows' 32 bytes turned on their side: group[k] lane r = dword k (bytes 4k..4k+3) of u[r].
// An 8 x 8 transpose of dwords: pairs of rows, then quads, then the 128-bit halves.
SLM_Q_TARGET static inline void panel_turn(const __m256i u[PANEL_ROWS], __m256i group[8]) {
    __m256i pairs[PANEL_ROWS], quads[PANEL_ROWS];
    for (int p = 0; p < 4; ++p) {
        pairs[2 * p] = _mm256_unpacklo_epi32(u[2 * p], u[2 * p + 1]);      // groups 0, 1 | 4, 5
        pairs[2 * p + 1] = _mm256_unpackhi_epi32(u[2 * p], u[2 * p + 1]);  // groups 2, 3 | 6, 7
    }
    for (int h = 0; h < 2; ++h) {  // rows 0..3, then 4..7
        const __m256i *p = pairs + 4 * h;
        quads[4 * h + 0] = _mm256_unpacklo_epi64(p[0], p[2]);  // group 0 | 4 of four rows
        quads[4 * h + 1] = _mm256_unpackhi_epi64(p[0], p[2]);  // group 1 | 5
        quads[4 * h + 2] = _mm256_unpacklo_epi64(p[1], p[3]);  // group 2 | 6
        quads[4 * h + 3] = _mm256_unpackhi_epi64(p[1], p[3]);  // group 3 | 7
    }
    for (int k = 0; k < 4; ++k) {
        group[k] = _mm256_permute2x128_si256(quads[k], quads[4 + k], 0x20);
        group[k + 4] = _mm256_permute2x128_si256(quads[k], quads[4 + k], 0x31);
    }
}

// Block i of the panel's rows, turned: group[k] lane r = the four stored nibbles 4k..4k+3 of row r.
SLM_Q_TARGET static inline void q4_0_panel_groups(const uint8_t *w, size_t row_stride, int64_t i, __m256i group[8]) {
    __m256i u[PANEL_ROWS];  // row r's 32 nibbles as bytes: dword k is its group k
    for (int r = 0; r < PANEL_ROWS; ++r) u[r] = unpack_nibbles(((const slm_block_q4_0 *)(w + (size_t)r * row_stride))[i].qs);
    panel_turn(u, group);
}

// Lane r: row r's pair sums (int16) of turned unsigned values times 32 activation bytes `a`,
// summed over the eight groups; exact while they stay within int16 (the callers' bounds).
SLM_Q_TARGET static inline __m256i panel_pair_sums(const __m256i group[8], const int8_t *a) {
    __m256i pair_sums = _mm256_maddubs_epi16(group[0], _mm256_set1_epi32(load_i32(a)));
    for (int k = 1; k < 8; ++k) {
        pair_sums = _mm256_add_epi16(pair_sums, _mm256_maddubs_epi16(group[k], _mm256_set1_epi32(load_i32(a + 4 * k))));
    }
    return pair_sums;
}

// Row r's integer sum of stored nibbles times token activations `a` (32 bytes) in lane r.
SLM_Q_TARGET static inline __m256i q4_0_panel_sums(const __m256i group[8], const int8_t *a) {
#if SLM_Q_VNNI
    __m256i sums = _mm256_setzero_si256();
    for (int k = 0; k < 8; ++k) sums = SLM_Q_DPBUSD(sums, group[k], _mm256_set1_epi32(load_i32(a + 4 * k)));
    return sums;
#else
    return _mm256_madd_epi16(panel_pair_sums(group, a), _mm256_set1_epi16(1));
#endif
}

SLM_Q_TARGET static void panel_q4_0(int64_t n, const uint8_t *w, size_t row_stride, const uint8_t *act,
                                    size_t act_row_bytes, int64_t n_tokens, const float *act_d, int64_t act_d_stride,
                                    float *out, int64_t out_stride) {
    const int64_t nb = n / SLM_QK4_0;
    const float *act_sum8 = act_d + nb * act_d_stride;
    for (int64_t t0 = 0; t0 < n_tokens; t0 += PANEL_TOKEN_CHUNK) {
        const int64_t t1 = t0 + PANEL_TOKEN_CHUNK < n_tokens ? t0 + PANEL_TOKEN_CHUNK : n_tokens;
        // Each pair's running sum lives in its output until the last block.
        for (int64_t t = t0; t < t1; ++t) _mm256_storeu_ps(out + t * out_stride, _mm256_setzero_ps());
        for (int64_t i = 0; i < nb; ++i) {
            __m256i group[8];
            q4_0_panel_groups(w, row_stride, i, group);
            float dw[PANEL_ROWS] __attribute__((aligned(32)));
            for (int r = 0; r < PANEL_ROWS; ++r) dw[r] = slm_h2f_fast(((const slm_block_q4_0 *)(w + (size_t)r * row_stride))[i].d);
            const __m256 d_w = _mm256_load_ps(dw);
            for (int64_t t = t0; t < t1; ++t) {
                const __m256i sums = q4_0_panel_sums(group, ACT(slm_block_q8_0, t, i).qs);
                const __m256 centred = _mm256_sub_ps(_mm256_cvtepi32_ps(sums), _mm256_broadcast_ss(act_sum8 + i * act_d_stride + t));
                const __m256 scale = _mm256_mul_ps(d_w, _mm256_broadcast_ss(act_d + i * act_d_stride + t));
                float *o = out + t * out_stride;
                _mm256_storeu_ps(o, _mm256_fmadd_ps(centred, scale, _mm256_loadu_ps(o)));
            }
        }
    }
}

// ---- Q4_K prompt panel, in the batch order of llama.cpp's repacked gemm --------------------------
//
// The same panel for Q4_K's batch order (q4_K_batch_tokens above): per 64-element chunk, each
// pair's exact integer sc[2c] * (sub-block 2c) + sc[2c + 1] * (sub-block 2c + 1) and one
// fma(that, d_w * d_a, sum); the chunk's min term likewise into sum_mins; the result sum -
// sum_mins. Per chunk the two sub-blocks of the 8 rows are turned once; per token, sixteen maddubs
// against broadcast activation bytes give lane r = row r's int16 pair sums (at most 8 x 2 x 15 x
// 127 = 30480 per sub-block), one madd with the rows' scales (int16 lanes, two per row) makes
// the int32s, and one madd of the rows' two mins against the token's two bsum pairs the min term.
SLM_Q_TARGET static void panel_q4_K(int64_t n, const uint8_t *w, size_t row_stride, const uint8_t *act,
                                    size_t act_row_bytes, int64_t n_tokens, const float *act_d, int64_t act_d_stride,
                                    float *out, int64_t out_stride) {
    (void)act_d, (void)act_d_stride;  // Q8_K blocks carry their d
    const int64_t nb = n / SLM_QK_K;
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    float mins[PANEL_TOKEN_CHUNK][PANEL_ROWS] __attribute__((aligned(32)));  // each pair's sum_mins
    for (int64_t t0 = 0; t0 < n_tokens; t0 += PANEL_TOKEN_CHUNK) {
        const int64_t t1 = t0 + PANEL_TOKEN_CHUNK < n_tokens ? t0 + PANEL_TOKEN_CHUNK : n_tokens;
        for (int64_t t = t0; t < t1; ++t) {
            _mm256_storeu_ps(out + t * out_stride, _mm256_setzero_ps());
            _mm256_store_ps(mins[t - t0], _mm256_setzero_ps());
        }
        for (int64_t i = 0; i < nb; ++i) {
            const slm_block_q4_K *x[PANEL_ROWS];
            uint8_t sc[PANEL_ROWS][8], mn[PANEL_ROWS][8];
            float dw[PANEL_ROWS] __attribute__((aligned(32))), dminw[PANEL_ROWS] __attribute__((aligned(32)));
            for (int r = 0; r < PANEL_ROWS; ++r) {
                x[r] = (const slm_block_q4_K *)(w + (size_t)r * row_stride) + i;
                slm_unpack_k_scales(x[r]->scales, sc[r], mn[r]);
                dw[r] = slm_h2f_fast(x[r]->d);
                dminw[r] = slm_h2f_fast(x[r]->dmin);
            }
            const __m256 d_w = _mm256_load_ps(dw), dmin_w = _mm256_load_ps(dminw);
            for (int c = 0; c < 4; ++c) {
                // Sub-blocks 2c (low nibbles) and 2c + 1 (high) of the 8 rows, turned.
                __m256i lo[8], hi[8], u[PANEL_ROWS];
                for (int r = 0; r < PANEL_ROWS; ++r) u[r] = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(x[r]->qs + 32 * c)), low4);
                panel_turn(u, lo);
                for (int r = 0; r < PANEL_ROWS; ++r) {
                    u[r] = _mm256_and_si256(_mm256_srli_epi16(_mm256_loadu_si256((const __m256i *)(x[r]->qs + 32 * c)), 4), low4);
                }
                panel_turn(u, hi);
                // Per row, int16 lanes 2r and 2r + 1: its scales of the two sub-blocks, and its two mins.
                int16_t scale_lo[16], scale_hi[16], min_pair[16];
                for (int r = 0; r < PANEL_ROWS; ++r) {
                    scale_lo[2 * r] = scale_lo[2 * r + 1] = sc[r][2 * c];
                    scale_hi[2 * r] = scale_hi[2 * r + 1] = sc[r][2 * c + 1];
                    min_pair[2 * r] = mn[r][2 * c];
                    min_pair[2 * r + 1] = mn[r][2 * c + 1];
                }
                const __m256i s_lo = _mm256_loadu_si256((const __m256i *)scale_lo);
                const __m256i s_hi = _mm256_loadu_si256((const __m256i *)scale_hi);
                const __m256i m_pair = _mm256_loadu_si256((const __m256i *)min_pair);
                for (int64_t t = t0; t < t1; ++t) {
                    const slm_block_q8_K *y = K_ACT(t, i);
                    const int8_t *a = y->qs + 64 * c;
                    const __m256i chunk = q_add_scaled_pairs(_mm256_madd_epi16(s_lo, panel_pair_sums(lo, a)), s_hi,
                                                             panel_pair_sums(hi, a + 32));
                    // The token's two bsum pairs of the chunk, (b0 + b1, b2 + b3), in every int32 lane.
                    const int16_t *bs = y->bsums + 4 * c;
                    const __m256i bsum_pairs = _mm256_set1_epi32((int32_t)((uint32_t)(uint16_t)(bs[0] + bs[1]) |
                                                                           (uint32_t)(uint16_t)(bs[2] + bs[3]) << 16));
                    const __m256i min_term = _mm256_madd_epi16(m_pair, bsum_pairs);
                    const __m256 da = _mm256_set1_ps(y->d);
                    float *o = out + t * out_stride;
                    _mm256_storeu_ps(o, _mm256_fmadd_ps(_mm256_cvtepi32_ps(chunk), _mm256_mul_ps(d_w, da), _mm256_loadu_ps(o)));
                    _mm256_store_ps(mins[t - t0], _mm256_fmadd_ps(_mm256_cvtepi32_ps(min_term), _mm256_mul_ps(dmin_w, da),
                                                                  _mm256_load_ps(mins[t - t0])));
                }
            }
        }
        for (int64_t t = t0; t < t1; ++t) {
            float *o = out + t * out_stride;
            _mm256_storeu_ps(o, _mm256_sub_ps(_mm256_loadu_ps(o), _mm256_load_ps(mins[t - t0])));
        }
    }
}

// The decode tiles read their rows side by side, which the hardware prefetcher does not follow:
// each block step prefetches the next slice of the following rows (the next tile's), so its
// lines arrive while this tile runs (measured: single-thread SmolLM2 Q4_0 decode 47 -> 57 t/s
// with it on Zen 1). Prefetches never fault, past the matrix's end included.
typedef struct {
    const uint8_t *next;
    size_t slice;
} prefetch_ahead;

static inline prefetch_ahead prefetch_next_rows(const uint8_t *w, size_t row_stride, int rows, int64_t nb) {
    return (prefetch_ahead){w + (size_t)rows * row_stride, ((size_t)rows * row_stride + (size_t)nb - 1) / (size_t)nb};
}

static inline void prefetch_step(prefetch_ahead ahead, int64_t i) {
    for (size_t o = 0; o < ahead.slice; o += 64) _mm_prefetch((const char *)ahead.next + (size_t)i * ahead.slice + o, _MM_HINT_T0);
}

// Q4_0 decode: 8 rows x 1 token, the tile above turned on its side. Lane r of every vector is
// row r, so one transposed reduction, one conversion and one FMA per block serve all 8 rows
// where the dot spends a horizontal sum, a conversion and a scalar FMA per row. Same exact
// integer block sums and the same fma(sum, d_w * d_a, acc) per row and block as the dot.
SLM_Q_TARGET static void decode_q4_0(int64_t n, const uint8_t *w, size_t row_stride, const uint8_t *act,
                                 size_t act_row_bytes, const float *act_d, int64_t act_d_stride, float *out,
                                 int64_t out_stride) {
    (void)act_row_bytes, (void)out_stride;
    enum { ROWS = 8 };
    const slm_block_q4_0 *x[ROWS];
    for (int r = 0; r < ROWS; ++r) x[r] = (const slm_block_q4_0 *)(w + (size_t)r * row_stride);
    const slm_block_q8_0 *y = (const slm_block_q8_0 *)act;
    const int64_t nb = n / SLM_QK4_0;
    const float *act_sum8 = act_d + nb * act_d_stride;
    __m256 acc = _mm256_setzero_ps();
    const prefetch_ahead ahead = prefetch_next_rows(w, row_stride, ROWS, nb);
    for (int64_t i = 0; i < nb; ++i) {
        prefetch_step(ahead, i);
        const __m128i dw = _mm_set_epi16((short)x[7][i].d, (short)x[6][i].d, (short)x[5][i].d, (short)x[4][i].d,
                                         (short)x[3][i].d, (short)x[2][i].d, (short)x[1][i].d, (short)x[0][i].d);
        const __m256 scale = _mm256_mul_ps(_mm256_cvtph_ps(dw), _mm256_broadcast_ss(act_d + i * act_d_stride));
        const __m256i a = _mm256_loadu_si256((const __m256i *)y[i].qs);
        __m256i products[ROWS];
#if SLM_Q_VNNI
        for (int r = 0; r < ROWS; ++r) products[r] = q_dot4_u8_s8(unpack_nibbles(x[r][i].qs), a);
        const __m256i eight_sum = _mm256_set1_epi32((int32_t)act_sum8[i * act_d_stride]);
        const __m256i sums = _mm256_sub_epi32(hsum_i32_transposed(products), eight_sum);
#else
        for (int r = 0; r < ROWS; ++r) products[r] = _mm256_maddubs_epi16(unpack_nibbles(x[r][i].qs), a);
        const __m128i eight_sum = _mm_set1_epi16((short)(int32_t)act_sum8[i * act_d_stride]);
        const __m256i sums = _mm256_cvtepi16_epi32(_mm_sub_epi16(hsum_i16_transposed(products), eight_sum));
#endif
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), scale, acc);
    }
    _mm256_storeu_ps(out, acc);
}

// Weight blocks whose values load as 32 signed bytes with an F16 scale first (Q8_0, Q5_0), times
// Q8_0 activations: the dot's per-block steps for the 8 pairs. Always inlined with a constant
// `values`, so each type gets its own loop.
typedef __m256i (*signed_block_values_fn)(const uint8_t *block);

__attribute__((always_inline)) SLM_Q_TARGET static inline void tile_signed_blocks(
    int64_t nb, size_t block_bytes, signed_block_values_fn values, const uint8_t *w, size_t row_stride,
    const uint8_t *act, size_t act_row_bytes, const float *act_d, int64_t act_d_stride, float *out, int64_t out_stride) {
    const uint8_t *x0 = w, *x1 = w + row_stride;
    __m256 acc[TILE_ROWS][TILE_TOKENS];
    for (int r = 0; r < TILE_ROWS; ++r)
        for (int t = 0; t < TILE_TOKENS; ++t) acc[r][t] = _mm256_setzero_ps();
    tile_chunk_scales scales __attribute__((aligned(32)));
    for (int64_t c0 = 0; c0 < nb; c0 += TILE_CHUNK_BLOCKS) {
        const int64_t c1 = c0 + TILE_CHUNK_BLOCKS < nb ? c0 + TILE_CHUNK_BLOCKS : nb;
        for (int64_t i = c0; i < c1; ++i) {
            uint16_t d0, d1;  // each block's F16 scale is its first field
            memcpy(&d0, x0 + (size_t)i * block_bytes, sizeof d0);
            memcpy(&d1, x1 + (size_t)i * block_bytes, sizeof d1);
            const __m128 d = h2f_pair(d0, d1);
            const __m128 da = _mm_loadu_ps(act_d + i * act_d_stride);
            _mm_store_ps(scales[i - c0], _mm_mul_ps(_mm_broadcastss_ps(d), da));
            _mm_store_ps(scales[i - c0] + 4, _mm_mul_ps(_mm_broadcastss_ps(_mm_movehdup_ps(d)), da));
        }
        const float *scale = chunk_scales_for_loads(&scales[0][0]);
        for (int64_t i = c0; i < c1; ++i, scale += TILE_ROWS * TILE_TOKENS) {
            const __m256i q0 = values(x0 + (size_t)i * block_bytes), q1 = values(x1 + (size_t)i * block_bytes);
            const __m256i abs0 = _mm256_sign_epi8(q0, q0), abs1 = _mm256_sign_epi8(q1, q1);
            for (int t = 0; t < TILE_TOKENS; ++t) {
                const __m256i a = _mm256_loadu_si256((const __m256i *)ACT(slm_block_q8_0, t, i).qs);
                acc[0][t] = _mm256_fmadd_ps(_mm256_broadcast_ss(scale + t), q_dot_u8_s8_lanes(abs0, _mm256_sign_epi8(a, q0)), acc[0][t]);
                acc[1][t] = _mm256_fmadd_ps(_mm256_broadcast_ss(scale + 4 + t), q_dot_u8_s8_lanes(abs1, _mm256_sign_epi8(a, q1)), acc[1][t]);
            }
        }
    }
    for (int t = 0; t < TILE_TOKENS; ++t) {
        out[t * out_stride] = hsum8(acc[0][t]);
        out[t * out_stride + 1] = hsum8(acc[1][t]);
    }
}

// The same per-pair steps for one weight row and eight tokens: for weights whose values cost
// more to unpack than to load (Q5_0), sharing them across eight tokens beats sharing activations
// across two rows.
__attribute__((always_inline)) SLM_Q_TARGET static inline void row_signed_blocks(
    int64_t nb, size_t block_bytes, signed_block_values_fn values, const uint8_t *w, const uint8_t *act,
    size_t act_row_bytes, const float *act_d, int64_t act_d_stride, float *out, int64_t out_stride) {
    enum { TOKENS = 8 };
    __m256 acc[TOKENS];
    for (int t = 0; t < TOKENS; ++t) acc[t] = _mm256_setzero_ps();
    _Static_assert(TOKENS == TILE_ROWS * TILE_TOKENS, "a chunk's scales hold eight pairs per block");
    tile_chunk_scales scales __attribute__((aligned(32)));
    for (int64_t c0 = 0; c0 < nb; c0 += TILE_CHUNK_BLOCKS) {
        const int64_t c1 = c0 + TILE_CHUNK_BLOCKS < nb ? c0 + TILE_CHUNK_BLOCKS : nb;
        for (int64_t i = c0; i < c1; ++i) {
            uint16_t dw;  // the block's F16 scale is its first field
            memcpy(&dw, w + (size_t)i * block_bytes, sizeof dw);
            const __m256 d = _mm256_broadcastss_ps(h2f_pair(dw, 0));
            _mm256_store_ps(scales[i - c0], _mm256_mul_ps(d, _mm256_loadu_ps(act_d + i * act_d_stride)));
        }
        const float *scale = chunk_scales_for_loads(&scales[0][0]);
        for (int64_t i = c0; i < c1; ++i, scale += TOKENS) {
            const uint8_t *block = w + (size_t)i * block_bytes;
            const __m256i q = values(block);
            const __m256i abs = _mm256_sign_epi8(q, q);
            for (int t = 0; t < TOKENS; ++t) {
                const __m256i a = _mm256_loadu_si256((const __m256i *)ACT(slm_block_q8_0, t, i).qs);
                acc[t] = _mm256_fmadd_ps(_mm256_broadcast_ss(scale + t), q_dot_u8_s8_lanes(abs, _mm256_sign_epi8(a, q)), acc[t]);
            }
        }
    }
    for (int t = 0; t < TOKENS; ++t) out[t * out_stride] = hsum8(acc[t]);
}

SLM_Q_TARGET static inline __m256i q8_0_values(const uint8_t *block) {
    return _mm256_loadu_si256((const __m256i *)((const slm_block_q8_0 *)block)->qs);
}

// Q5_0 as its dot: the block's values q - 16 as signed bytes (a clear fifth bit sets the top four).
SLM_Q_TARGET static inline __m256i q5_0_values(const uint8_t *block) {
    const slm_block_q5_0 *x = (const slm_block_q5_0 *)block;
    const __m256i clear = _mm256_andnot_si256(expand_bits(x->qh), _mm256_set1_epi8((char)0xF0));
    return _mm256_or_si256(unpack_nibbles(x->qs), clear);
}

SLM_Q_TARGET static void tile_q8_0(int64_t n, const uint8_t *w, size_t row_stride, const uint8_t *act,
                               size_t act_row_bytes, const float *act_d, int64_t act_d_stride, float *out,
                               int64_t out_stride) {
    tile_signed_blocks(n / SLM_QK8_0, sizeof(slm_block_q8_0), q8_0_values, w, row_stride, act, act_row_bytes,
                       act_d, act_d_stride, out, out_stride);
}

SLM_Q_TARGET static void tile_q5_0(int64_t n, const uint8_t *w, size_t row_stride, const uint8_t *act,
                               size_t act_row_bytes, const float *act_d, int64_t act_d_stride, float *out,
                               int64_t out_stride) {
    (void)row_stride;
    row_signed_blocks(n / SLM_QK5_0, sizeof(slm_block_q5_0), q5_0_values, w, act, act_row_bytes, act_d, act_d_stride,
                      out, out_stride);
}

// ---- Prompt panels in the eight-float-lane order (Q4_1, Q5_0, Q8_0): 4 rows by any number of tokens
//
// These types keep the eight-float-lane order (per block one FMA into each pair's eight lanes;
// Q4_1 also the m_w * s_a sum beside it), so unlike Q4_0's panel they cannot share an FMA among
// rows. What they share is the work per weight block: a tile unpacks a block (Q5_0: nibbles and
// fifth bits; Q5_0 and Q8_0: the sign trick's |q|) and converts its scales once per 4 or 8
// tokens, the panel once per PANEL_TOKEN_CHUNK tokens. A chunk of the 4 rows' blocks goes into a
// buffer (values and scales as floats; at most 9 KB, in L1), then each group of 8 tokens runs
// over it: a scale pass (d_w * d_a for 8 tokens per 256-bit op and, for Q4_1, the m_w * s_a
// chains, four independent ones) and, per row pair and token quad, the 2 x 4 product loop
// reading the buffered values and broadcasting each pair's scale from memory. Each pair gets its
// dot's operations in its dot's order. The next 4 rows' blocks are prefetched while a chunk
// computes: without that the buffer fill waits on memory with nothing to overlap, which cost the
// whole gain end to end. Measured on Zen 3 through slm_matmul (64 rows x 28 tokens, TSC ticks
// per 32-weight pair, best of 5, tiles -> panels): at 576 columns Q4_1 2.03 -> 1.73, Q5_0 2.99 ->
// 1.99, Q8_0 2.22 -> 1.97; at 1,536 columns 1.92 -> 1.70, 2.82 -> 1.95, 2.09 -> 1.94.
#define LANE_PANEL_ROWS 4
#define LANE_PANEL_BLOCKS 32
// Tokens per scale pass: one 256-bit lane each.
#define LANE_PANEL_GROUP 8

// A chunk's blocks as the product loops read them: [block][row][0] the values (Q4_1: unsigned
// nibbles; Q5_0: q - 16 and Q8_0: q, signed), [block][row][1] the signed ones' magnitudes (the
// sign trick's unsigned side).
typedef __m256i lane_panel_values[LANE_PANEL_BLOCKS][LANE_PANEL_ROWS][2];

// Rows 2p, 2p + 1 times `tokens` (1..4, a constant where inlined) tokens over a chunk's blocks.
// scale points at the chunk's scale of (row 2p, the quad's first token), and pair (row 2p + k,
// token t) is at scale[block * LANE_PANEL_ROWS * LANE_PANEL_GROUP + k * LANE_PANEL_GROUP + t].
// The pairs' lanes: acc[t][row], carried over from the chunk before (zeros for the first chunk).
__attribute__((always_inline)) SLM_Q_TARGET static inline void lane_panel_products(
    int type, const lane_panel_values values, int p, const float *scale, const uint8_t *act, size_t act_row_bytes,
    int64_t c0, int64_t c1, int tokens, __m256 (*acc)[LANE_PANEL_ROWS]) {
    const size_t act_block_bytes = type == SLM_TYPE_Q4_1 ? sizeof(slm_block_q8_1) : sizeof(slm_block_q8_0);
    const size_t act_qs = type == SLM_TYPE_Q4_1 ? offsetof(slm_block_q8_1, qs) : offsetof(slm_block_q8_0, qs);
    __m256 acc0[4], acc1[4];
    for (int t = 0; t < tokens; ++t) {
        acc0[t] = c0 == 0 ? _mm256_setzero_ps() : acc[t][2 * p];
        acc1[t] = c0 == 0 ? _mm256_setzero_ps() : acc[t][2 * p + 1];
    }
    scale = chunk_scales_for_loads(scale);
    for (int64_t i = c0; i < c1; ++i, scale += LANE_PANEL_ROWS * LANE_PANEL_GROUP) {
        const __m256i q0 = _mm256_load_si256(&values[i - c0][2 * p][0]), q1 = _mm256_load_si256(&values[i - c0][2 * p + 1][0]);
        for (int t = 0; t < tokens; ++t) {
            const __m256i a = _mm256_loadu_si256((const __m256i *)(act + (size_t)t * act_row_bytes + (size_t)i * act_block_bytes + act_qs));
            __m256 lanes0, lanes1;
            if (type == SLM_TYPE_Q4_1) {
                lanes0 = q_dot_u8_s8_lanes(q0, a), lanes1 = q_dot_u8_s8_lanes(q1, a);
            } else {
                lanes0 = q_dot_u8_s8_lanes(_mm256_load_si256(&values[i - c0][2 * p][1]), _mm256_sign_epi8(a, q0));
                lanes1 = q_dot_u8_s8_lanes(_mm256_load_si256(&values[i - c0][2 * p + 1][1]), _mm256_sign_epi8(a, q1));
            }
            acc0[t] = _mm256_fmadd_ps(_mm256_broadcast_ss(scale + t), lanes0, acc0[t]);
            acc1[t] = _mm256_fmadd_ps(_mm256_broadcast_ss(scale + LANE_PANEL_GROUP + t), lanes1, acc1[t]);
        }
    }
    for (int t = 0; t < tokens; ++t) acc[t][2 * p] = acc0[t], acc[t][2 * p + 1] = acc1[t];
}

// act_d as the tiles': d_a of block i, token t at [i * act_d_stride + t]; for Q4_1, s_a (d_a times
// the sum of the block's quants, stored in the Q8_1 block as F16) at [(nb + i) * act_d_stride + t].
__attribute__((always_inline)) SLM_Q_TARGET static inline void lane_panel(int type, int64_t n, const uint8_t *w,
                                                                    size_t row_stride, const uint8_t *act,
                                                                    size_t act_row_bytes, int64_t n_tokens,
                                                                    const float *act_d, int64_t act_d_stride,
                                                                    float *out, int64_t out_stride) {
    enum { ROWS = LANE_PANEL_ROWS, GROUP = LANE_PANEL_GROUP, GROUPS = PANEL_TOKEN_CHUNK / LANE_PANEL_GROUP };
    const int q4_1 = type == SLM_TYPE_Q4_1;
    const size_t block_bytes = q4_1 ? sizeof(slm_block_q4_1) : type == SLM_TYPE_Q5_0 ? sizeof(slm_block_q5_0) : sizeof(slm_block_q8_0);
    const int64_t nb = n / 32;
    const float *act_s = act_d + nb * act_d_stride;
    lane_panel_values values __attribute__((aligned(32)));
    float dm[LANE_PANEL_BLOCKS][ROWS][2];                                        // the chunk's d_w (and Q4_1's m_w)
    float scales[LANE_PANEL_BLOCKS][ROWS * GROUP] __attribute__((aligned(32)));  // a group's d_w * d_a
    __m256 acc[PANEL_TOKEN_CHUNK][ROWS];  // each pair's eight lanes between chunks: [token][row] (set by the first)
    __m256 off[GROUPS][ROWS];             // Q4_1, lane t: the m_w * s_a sum of the group's token t
    for (int64_t t0 = 0; t0 < n_tokens; t0 += PANEL_TOKEN_CHUNK) {
        const int64_t t1 = t0 + PANEL_TOKEN_CHUNK < n_tokens ? t0 + PANEL_TOKEN_CHUNK : n_tokens;
        for (int64_t c0 = 0; c0 < nb; c0 += LANE_PANEL_BLOCKS) {
            const int64_t c1 = c0 + LANE_PANEL_BLOCKS < nb ? c0 + LANE_PANEL_BLOCKS : nb;
            for (int64_t i = c0; i < c1; ++i) {
                for (int r = 0; r < ROWS; ++r) {
                    const uint8_t *block = w + (size_t)r * row_stride + (size_t)i * block_bytes;
                    if (q4_1) {
                        const slm_block_q4_1 *x = (const slm_block_q4_1 *)block;
                        values[i - c0][r][0] = unpack_nibbles(x->qs);
                        _mm_storel_pi((__m64 *)dm[i - c0][r], h2f_pair(x->d, x->m));
                    } else {
                        const __m256i q = type == SLM_TYPE_Q5_0 ? q5_0_values(block) : q8_0_values(block);
                        values[i - c0][r][0] = q;
                        values[i - c0][r][1] = _mm256_sign_epi8(q, q);
                        uint16_t d;  // the block's F16 scale is its first field
                        memcpy(&d, block, sizeof d);
                        _mm_storel_pi((__m64 *)dm[i - c0][r], h2f_pair(d, 0));
                    }
                }
            }
            if (t0 == 0) {
                // The same blocks of the next 4 rows (the caller's next panel), arriving while this chunk computes.
                for (int r = 0; r < ROWS; ++r) {
                    const uint8_t *next = w + (size_t)(ROWS + r) * row_stride + (size_t)c0 * block_bytes;
                    const uint8_t *end = w + (size_t)(ROWS + r) * row_stride + (size_t)c1 * block_bytes;
                    for (; next < end; next += 64) _mm_prefetch((const char *)next, _MM_HINT_T0);
                }
            }
            for (int64_t g0 = t0; g0 < t1; g0 += GROUP) {
                const int tokens = t1 - g0 < GROUP ? (int)(t1 - g0) : GROUP;
                // Lanes past the last token stay zero and unused: no read past act_d's rows.
                const __m256i live = _mm256_cmpgt_epi32(_mm256_set1_epi32(tokens), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
                __m256 *group_off = off[(g0 - t0) / GROUP];
                if (q4_1 && c0 == 0)
                    for (int r = 0; r < ROWS; ++r) group_off[r] = _mm256_setzero_ps();
                for (int64_t i = c0; i < c1; ++i) {
                    const __m256 da = _mm256_maskload_ps(act_d + i * act_d_stride + g0, live);
                    for (int r = 0; r < ROWS; ++r)
                        _mm256_store_ps(scales[i - c0] + GROUP * r, _mm256_mul_ps(_mm256_broadcast_ss(&dm[i - c0][r][0]), da));
                    if (q4_1) {
                        const __m256 sa = _mm256_maskload_ps(act_s + i * act_d_stride + g0, live);
                        for (int r = 0; r < ROWS; ++r)
                            group_off[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(&dm[i - c0][r][1]), sa, group_off[r]);
                    }
                }
                for (int q = 0; q * 4 < tokens; ++q) {
                    const int quad = tokens - 4 * q < 4 ? tokens - 4 * q : 4;
                    const uint8_t *quad_act = act + (size_t)(g0 + 4 * q) * act_row_bytes;
                    __m256(*quad_acc)[ROWS] = acc + (g0 - t0 + 4 * q);
                    for (int p = 0; p < ROWS / 2; ++p) {
                        const float *scale = &scales[0][0] + 2 * p * GROUP + 4 * q;
                        switch (quad) {  // a loop per token count, each with its accumulators in registers
                        case 4: lane_panel_products(type, values, p, scale, quad_act, act_row_bytes, c0, c1, 4, quad_acc); break;
                        case 3: lane_panel_products(type, values, p, scale, quad_act, act_row_bytes, c0, c1, 3, quad_acc); break;
                        case 2: lane_panel_products(type, values, p, scale, quad_act, act_row_bytes, c0, c1, 2, quad_acc); break;
                        default: lane_panel_products(type, values, p, scale, quad_act, act_row_bytes, c0, c1, 1, quad_acc); break;
                        }
                    }
                }
            }
        }
        for (int64_t g0 = t0; g0 < t1; g0 += GROUP) {
            float offsets[ROWS][GROUP] __attribute__((aligned(32)));  // Q4_1's only
            if (q4_1)
                for (int r = 0; r < ROWS; ++r) _mm256_store_ps(offsets[r], off[(g0 - t0) / GROUP][r]);
            for (int64_t t = g0; t < t1 && t < g0 + GROUP; ++t)
                for (int r = 0; r < ROWS; ++r)
                    out[t * out_stride + r] = q4_1 ? hsum8(acc[t - t0][r]) + offsets[r][t - g0] : hsum8(acc[t - t0][r]);
        }
    }
}

SLM_Q_TARGET static void panel_q4_1(int64_t n, const uint8_t *w, size_t row_stride, const uint8_t *act,
                                    size_t act_row_bytes, int64_t n_tokens, const float *act_d, int64_t act_d_stride,
                                    float *out, int64_t out_stride) {
    lane_panel(SLM_TYPE_Q4_1, n, w, row_stride, act, act_row_bytes, n_tokens, act_d, act_d_stride, out, out_stride);
}

SLM_Q_TARGET static void panel_q5_0(int64_t n, const uint8_t *w, size_t row_stride, const uint8_t *act,
                                    size_t act_row_bytes, int64_t n_tokens, const float *act_d, int64_t act_d_stride,
                                    float *out, int64_t out_stride) {
    lane_panel(SLM_TYPE_Q5_0, n, w, row_stride, act, act_row_bytes, n_tokens, act_d, act_d_stride, out, out_stride);
}

SLM_Q_TARGET static void panel_q8_0(int64_t n, const uint8_t *w, size_t row_stride, const uint8_t *act,
                                    size_t act_row_bytes, int64_t n_tokens, const float *act_d, int64_t act_d_stride,
                                    float *out, int64_t out_stride) {
    lane_panel(SLM_TYPE_Q8_0, n, w, row_stride, act, act_row_bytes, n_tokens, act_d, act_d_stride, out, out_stride);
}

// ---- Q6_K prompt panel, in the order of llama.cpp's tiled batch kernel ----------------------------
//
// Q6_K's batch order (q6_K_tiled_tokens above) rounds nothing before each pair's exact integer
// super-block sum isum, then block = d_w * (float)isum and sum = fmaf(block, d_a, sum), so the
// integers may be formed any way and the two float steps run for 8 rows in one vector (lane r =
// row r; a vector multiply and FMA round each lane as the scalar ones do). Per 32-element chunk
// the 8 rows' unsigned values u (0..63) are turned once (panel_turn) and serve every token of the
// call: per token, four maddubs against broadcast activation bytes cover a 16-element sub-block,
// added two by two in int16 (four products each, at most 4 x 63 x 128 = 32256: no wrap), then
// the rows' sub-block scales (int16 lanes) make the int32s. The values' offset, u - 32, comes in
// once per chunk: the token's two bsums (one per sub-block) against the rows' scales times -32
// (at most 32 x 128 = 4096 in magnitude, an int16). The tile above spends a horizontal sum and
// the offset's shifts per pair and super-block, and unpacks each block once per 4 tokens.
SLM_Q_TARGET static void panel_q6_K(int64_t n, const uint8_t *w, size_t row_stride, const uint8_t *act,
                                    size_t act_row_bytes, int64_t n_tokens, const float *act_d, int64_t act_d_stride,
                                    float *out, int64_t out_stride) {
    (void)act_d, (void)act_d_stride;  // Q8_K blocks carry their d
    const int64_t nb = n / SLM_QK_K;
    // Duplicates int16 lane 2j (low) or 2j + 1 (high) of each int32 lane into both halves.
    const __m256i dup_low = _mm256_setr_epi8(0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13,
                                             0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13);
    const __m256i dup_high = _mm256_setr_epi8(2, 3, 2, 3, 6, 7, 6, 7, 10, 11, 10, 11, 14, 15, 14, 15,
                                              2, 3, 2, 3, 6, 7, 6, 7, 10, 11, 10, 11, 14, 15, 14, 15);
    __m256i sums[PANEL_TOKEN_CHUNK];  // each token's 8 rows' isum of the super-block, lane r = row r
    __m256i values[PANEL_ROWS][8];    // the super-block's 8 chunks of u, per row
    for (int64_t t0 = 0; t0 < n_tokens; t0 += PANEL_TOKEN_CHUNK) {
        const int64_t t1 = t0 + PANEL_TOKEN_CHUNK < n_tokens ? t0 + PANEL_TOKEN_CHUNK : n_tokens;
        for (int64_t t = t0; t < t1; ++t) _mm256_storeu_ps(out + t * out_stride, _mm256_setzero_ps());
        for (int64_t i = 0; i < nb; ++i) {
            float dw[PANEL_ROWS] __attribute__((aligned(32)));
            __m256i scale_rows[PANEL_ROWS], scale_pairs[8];  // row r's 16 scales as int16; turned: lane r = scales 2c, 2c + 1
            for (int r = 0; r < PANEL_ROWS; ++r) {
                const slm_block_q6_K *x = (const slm_block_q6_K *)(w + (size_t)r * row_stride) + i;
                q6_K_half_values(x, 0, values[r]);
                q6_K_half_values(x, 1, values[r] + 4);
                scale_rows[r] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x->scales));
                dw[r] = slm_h2f_fast(x->d);
            }
            panel_turn(scale_rows, scale_pairs);
            for (int c = 0; c < 8; ++c) {
                __m256i u[PANEL_ROWS], group[8];
                for (int r = 0; r < PANEL_ROWS; ++r) u[r] = values[r][c];
                panel_turn(u, group);
                const __m256i scale_lo = _mm256_shuffle_epi8(scale_pairs[c], dup_low);    // sub-block 2c, both halves
                const __m256i scale_hi = _mm256_shuffle_epi8(scale_pairs[c], dup_high);   // sub-block 2c + 1
                const __m256i offset_scales = _mm256_mullo_epi16(scale_pairs[c], _mm256_set1_epi16(-32));
                for (int64_t t = t0; t < t1; ++t) {
                    const slm_block_q8_K *y = K_ACT(t, i);
                    const int8_t *a = y->qs + 32 * c;
                    __m256i pairs[4];
                    for (int k = 0; k < 4; ++k) {
                        pairs[k] = _mm256_add_epi16(_mm256_maddubs_epi16(group[2 * k], _mm256_set1_epi32(load_i32(a + 8 * k))),
                                                    _mm256_maddubs_epi16(group[2 * k + 1], _mm256_set1_epi32(load_i32(a + 8 * k + 4))));
                    }
                    // The token's bsums of sub-blocks 2c and 2c + 1, one int16 pair in every lane.
                    __m256i lanes = _mm256_madd_epi16(offset_scales, _mm256_set1_epi32(load_i32((const int8_t *)(y->bsums + 2 * c))));
                    lanes = q_add_scaled_pairs(lanes, scale_lo, pairs[0]);
                    lanes = q_add_scaled_pairs(lanes, scale_lo, pairs[1]);
                    lanes = q_add_scaled_pairs(lanes, scale_hi, pairs[2]);
                    lanes = q_add_scaled_pairs(lanes, scale_hi, pairs[3]);
                    sums[t - t0] = c == 0 ? lanes : _mm256_add_epi32(sums[t - t0], lanes);
                }
            }
            const __m256 d_w = _mm256_load_ps(dw);
            for (int64_t t = t0; t < t1; ++t) {
                float *o = out + t * out_stride;
                const __m256 block = _mm256_mul_ps(d_w, _mm256_cvtepi32_ps(sums[t - t0]));
                _mm256_storeu_ps(o, _mm256_fmadd_ps(block, _mm256_set1_ps(K_ACT(t, i)->d), _mm256_loadu_ps(o)));
            }
        }
    }
}

// Decode tiles for the types whose dot sums in eight float lanes per row (llama.cpp's x86 order;
// Q4_1, Q5_0, Q8_0): DECODE_ROWS rows x 1 token. Each row keeps its own accumulator and gets
// exactly its dot's operations in its dot's order (so the same bits); the rows share the
// activation block, its scale, and one conversion of their F16 scales.
#define DECODE_ROWS 4
_Static_assert(DECODE_ROWS == 4, "the decode tiles gather their rows' scales into one 4-lane vector");

// Block i's F16 scales of DECODE_ROWS rows (each block starting with d), times d_a: scale[r].
SLM_Q_TARGET static inline void decode_row_scales(const uint8_t *const *rows, size_t block_bytes, int64_t i, float da,
                                              float scale[DECODE_ROWS]) {
    uint16_t d[DECODE_ROWS];
    for (int r = 0; r < DECODE_ROWS; ++r) memcpy(&d[r], rows[r] + (size_t)i * block_bytes, sizeof d[r]);
    const __m128 dw = _mm_cvtph_ps(_mm_setr_epi16((short)d[0], (short)d[1], (short)d[2], (short)d[3], 0, 0, 0, 0));
    _mm_storeu_ps(scale, _mm_mul_ps(dw, _mm_set1_ps(da)));
}

// Weight blocks with an F16 scale first, times Q8_0 activations (Q5_0, Q8_0): the body of their
// decode tiles. Per activation block, `shared` computes what every row's `lanes` needs from it
// besides the block itself; always inlined with constant functions, so each type gets its own loop.
typedef __m256i (*decode_shared_fn)(__m256i a);
typedef __m256 (*decode_lanes_fn)(const uint8_t *block, __m256i a, __m256i shared);

__attribute__((always_inline)) SLM_Q_TARGET static inline void decode_scaled_blocks(
    int64_t nb, size_t block_bytes, decode_shared_fn shared_of, decode_lanes_fn lanes_of, const uint8_t *w,
    size_t row_stride, const uint8_t *act, const float *act_d, int64_t act_d_stride, float *out) {
    const uint8_t *rows[DECODE_ROWS];
    for (int r = 0; r < DECODE_ROWS; ++r) rows[r] = w + (size_t)r * row_stride;
    const slm_block_q8_0 *y = (const slm_block_q8_0 *)act;
    __m256 acc[DECODE_ROWS];
    for (int r = 0; r < DECODE_ROWS; ++r) acc[r] = _mm256_setzero_ps();
    float scale[DECODE_ROWS];
    const prefetch_ahead ahead = prefetch_next_rows(w, row_stride, DECODE_ROWS, nb);
    for (int64_t i = 0; i < nb; ++i) {
        prefetch_step(ahead, i);
        decode_row_scales(rows, block_bytes, i, act_d[i * act_d_stride], scale);
        const __m256i a = _mm256_loadu_si256((const __m256i *)y[i].qs);
        const __m256i shared = shared_of(a);
        for (int r = 0; r < DECODE_ROWS; ++r) {
            const __m256 lanes = lanes_of(rows[r] + (size_t)i * block_bytes, a, shared);
            acc[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(scale + r), lanes, acc[r]);
        }
    }
    for (int r = 0; r < DECODE_ROWS; ++r) out[r] = hsum8(acc[r]);
}

// Q5_0: the stored 5-bit values q in [0, 31] go straight into maddubs's unsigned side and
// 16 a is subtracted pair by pair, computed once for all rows: (q - 16) a = q a - 16 a. Every
// pair sum stays within int16 (|31 * 127 * 2| < 2^15), so the lanes are the dot's exactly.
#if SLM_Q_VNNI
// With dpbusd the subtraction comes first: the lanes start at -16 * (their four a) and the four
// q a are added on top, the same int32 lane as the pairs' difference below.
SLM_Q_TARGET static inline __m256i q5_0_sixteen_a(__m256i a) {
    return _mm256_sub_epi32(_mm256_setzero_si256(), q_dot4_u8_s8(_mm256_set1_epi8(16), a));
}

SLM_Q_TARGET static inline __m256 q5_0_lanes(const uint8_t *block, __m256i a, __m256i minus_sixteen_a) {
    const slm_block_q5_0 *x = (const slm_block_q5_0 *)block;
    const __m256i fifth = _mm256_and_si256(expand_bits(x->qh), _mm256_set1_epi8(0x10));
    const __m256i q = _mm256_or_si256(unpack_nibbles(x->qs), fifth);
    return _mm256_cvtepi32_ps(q_dot4_u8_s8_acc(minus_sixteen_a, q, a));
}
#else
SLM_Q_TARGET static inline __m256i q5_0_sixteen_a(__m256i a) { return _mm256_maddubs_epi16(_mm256_set1_epi8(16), a); }

SLM_Q_TARGET static inline __m256 q5_0_lanes(const uint8_t *block, __m256i a, __m256i sixteen_a) {
    const slm_block_q5_0 *x = (const slm_block_q5_0 *)block;
    const __m256i fifth = _mm256_and_si256(expand_bits(x->qh), _mm256_set1_epi8(0x10));
    const __m256i q = _mm256_or_si256(unpack_nibbles(x->qs), fifth);
    const __m256i pairs = _mm256_sub_epi16(_mm256_maddubs_epi16(q, a), sixteen_a);
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}
#endif

SLM_Q_TARGET static inline __m256i q8_0_nothing_shared(__m256i a) { return a; }

SLM_Q_TARGET static inline __m256 q8_0_lanes(const uint8_t *block, __m256i a, __m256i unused) {
    (void)unused;
    return q_dot_s8_s8_lanes(_mm256_loadu_si256((const __m256i *)((const slm_block_q8_0 *)block)->qs), a);
}

SLM_Q_TARGET static void decode_q5_0(int64_t n, const uint8_t *w, size_t row_stride, const uint8_t *act,
                                 size_t act_row_bytes, const float *act_d, int64_t act_d_stride, float *out,
                                 int64_t out_stride) {
    (void)act_row_bytes, (void)out_stride;
    decode_scaled_blocks(n / SLM_QK5_0, sizeof(slm_block_q5_0), q5_0_sixteen_a, q5_0_lanes, w, row_stride, act, act_d,
                         act_d_stride, out);
}

SLM_Q_TARGET static void decode_q8_0(int64_t n, const uint8_t *w, size_t row_stride, const uint8_t *act,
                                 size_t act_row_bytes, const float *act_d, int64_t act_d_stride, float *out,
                                 int64_t out_stride) {
    (void)act_row_bytes, (void)out_stride;
    decode_scaled_blocks(n / SLM_QK8_0, sizeof(slm_block_q8_0), q8_0_nothing_shared, q8_0_lanes, w, row_stride, act,
                         act_d, act_d_stride, out);
}

// Q4_1 adds the rows' m * s_a terms in one four-lane FMA per block (lane r: row r's own fused step).
SLM_Q_TARGET static void decode_q4_1(int64_t n, const uint8_t *w, size_t row_stride, const uint8_t *act,
                                 size_t act_row_bytes, const float *act_d, int64_t act_d_stride, float *out,
                                 int64_t out_stride) {
    (void)act_row_bytes, (void)out_stride;
    const slm_block_q4_1 *x[DECODE_ROWS];
    for (int r = 0; r < DECODE_ROWS; ++r) x[r] = (const slm_block_q4_1 *)(w + (size_t)r * row_stride);
    const slm_block_q8_1 *y = (const slm_block_q8_1 *)act;
    const int64_t nb = n / SLM_QK4_1;
    __m256 acc[DECODE_ROWS];
    for (int r = 0; r < DECODE_ROWS; ++r) acc[r] = _mm256_setzero_ps();
    __m128 offsets = _mm_setzero_ps();
    float scale[DECODE_ROWS];
    const prefetch_ahead ahead = prefetch_next_rows(w, row_stride, DECODE_ROWS, nb);
    for (int64_t i = 0; i < nb; ++i) {
        prefetch_step(ahead, i);
        // (d, m) of the four rows -> d in the low half, m in the high half.
        const __m256 dm = _mm256_cvtph_ps(_mm_setr_epi16((short)x[0][i].d, (short)x[1][i].d, (short)x[2][i].d,
                                                         (short)x[3][i].d, (short)x[0][i].m, (short)x[1][i].m,
                                                         (short)x[2][i].m, (short)x[3][i].m));
        const __m128 sa = _mm_set1_ps(slm_h2f_fast(y[i].s));
        _mm_storeu_ps(scale, _mm_mul_ps(_mm256_castps256_ps128(dm), _mm_set1_ps(act_d[i * act_d_stride])));
        offsets = _mm_fmadd_ps(_mm256_extractf128_ps(dm, 1), sa, offsets);
        const __m256i a = _mm256_loadu_si256((const __m256i *)y[i].qs);
        for (int r = 0; r < DECODE_ROWS; ++r) {
            acc[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(scale + r), q_dot_u8_s8_lanes(unpack_nibbles(x[r][i].qs), a), acc[r]);
        }
    }
    float offset[DECODE_ROWS];
    _mm_storeu_ps(offset, offsets);
    for (int r = 0; r < DECODE_ROWS; ++r) out[r] = hsum8(acc[r]) + offset[r];
}

slm_matmul_tile SLM_Q_NAME(slm_matmul_tile_kernel_, )(int type) {
    const slm_matmul_tile none = {NULL, 0, 0};
    if (!slm_cpu_has(SLM_Q_FEATURES)) return none;
    switch (type) {
    case SLM_TYPE_Q4_0: return (slm_matmul_tile){tile_q4_0, TILE_ROWS, TILE_TOKENS};
    case SLM_TYPE_Q5_0: return (slm_matmul_tile){tile_q5_0, 1, 8};
    case SLM_TYPE_Q8_0: return (slm_matmul_tile){tile_q8_0, TILE_ROWS, TILE_TOKENS};
    default: return none;
    }
}

slm_matmul_panel SLM_Q_NAME(slm_matmul_panel_kernel_, )(int type, int64_t batch_tokens, int64_t batch_offset,
                                                         int64_t n_tokens, int64_t *tokens_end) {
    const slm_matmul_panel none = {NULL, 0, 0};
    *tokens_end = 0;
    if (!slm_cpu_has(SLM_Q_FEATURES)) return none;
    switch (type) {
    case SLM_TYPE_Q4_0: *tokens_end = n_tokens; return (slm_matmul_panel){panel_q4_0, PANEL_ROWS, 4};
    case SLM_TYPE_Q4_1: *tokens_end = n_tokens; return (slm_matmul_panel){panel_q4_1, LANE_PANEL_ROWS, 4};
    case SLM_TYPE_Q5_0: *tokens_end = n_tokens; return (slm_matmul_panel){panel_q5_0, LANE_PANEL_ROWS, 4};
    case SLM_TYPE_Q8_0: *tokens_end = n_tokens; return (slm_matmul_panel){panel_q8_0, LANE_PANEL_ROWS, 4};
    case SLM_TYPE_Q4_K: {
        // The batch order's tokens (as slm_matmul_tile_kernel_for_batch), from the chunk's first.
        const int64_t end = batch_tokens - batch_tokens % 4 - batch_offset;
        *tokens_end = end < 0 ? 0 : end > n_tokens ? n_tokens : end;
        return (slm_matmul_panel){panel_q4_K, PANEL_ROWS, 4};
    }
    case SLM_TYPE_Q6_K:
        // The tiled order holds for every token of a batch of 8 or more (as the tile's rule).
        *tokens_end = batch_tokens >= 8 ? n_tokens : 0;
        return (slm_matmul_panel){panel_q6_K, PANEL_ROWS, 4};
    default: return none;
    }
}

slm_matmul_tile SLM_Q_NAME(slm_matvec_tile_kernel_, )(int type) {
    const slm_matmul_tile none = {NULL, 0, 0};
    if (!slm_cpu_has(SLM_Q_FEATURES)) return none;
    switch (type) {
    case SLM_TYPE_Q4_0: return (slm_matmul_tile){decode_q4_0, 8, 1};
    case SLM_TYPE_Q4_1: return (slm_matmul_tile){decode_q4_1, DECODE_ROWS, 1};
    case SLM_TYPE_Q5_0: return (slm_matmul_tile){decode_q5_0, DECODE_ROWS, 1};
    case SLM_TYPE_Q8_0: return (slm_matmul_tile){decode_q8_0, DECODE_ROWS, 1};
    default: return none;
    }
}

// ---- Tables ------------------------------------------------------------------------------------

// llama.cpp's routing on an AVX2 CPU (repack.cpp, tiled.cpp): repacked Q4_K weights go through
// its gemm for each full group of 4 tokens; Q5_K / Q6_K through the tiled kernel when a batch has
// 8 or more tokens. (Q4_K weights with a row count not divisible by 8 are not repacked and take
// the tiled kernel too; every Q4_K matrix of the models we know has rows divisible by 8.)
slm_vec_dot_fn SLM_Q_NAME(slm_vec_dot_kernel_, _for_batch)(int type, int64_t n_tokens, int64_t token) {
    if (!slm_cpu_has(SLM_Q_FEATURES)) return NULL;
    switch (type) {
    case SLM_TYPE_Q4_K: return token < n_tokens - n_tokens % 4 ? vec_dot_q4_K_q8_K_batch : NULL;
    case SLM_TYPE_Q5_K: return n_tokens >= 8 ? vec_dot_q5_K_q8_K_tiled : NULL;
    case SLM_TYPE_Q6_K: return n_tokens >= 8 ? vec_dot_q6_K_q8_K_tiled : NULL;
    default: return NULL;
    }
}

// The tiles of the batch orders above, by the same rule; *tile_tokens_end is how many of the
// chunk's n_tokens tokens (batch tokens batch_offset...) take that order, from the first.
slm_matmul_tile SLM_Q_NAME(slm_matmul_tile_kernel_, _for_batch)(int type, int64_t batch_tokens, int64_t batch_offset,
                                                      int64_t n_tokens, int64_t *tile_tokens_end) {
    const slm_matmul_tile none = {NULL, 0, 0};
    *tile_tokens_end = 0;
    if (!slm_cpu_has(SLM_Q_FEATURES)) return none;
    switch (type) {
    case SLM_TYPE_Q4_K: {
        const int64_t end = batch_tokens - batch_tokens % 4 - batch_offset;
        *tile_tokens_end = end < 0 ? 0 : end > n_tokens ? n_tokens : end;
        return (slm_matmul_tile){tile_q4_K_batch, 1, K_TILE_TOKENS};
    }
    case SLM_TYPE_Q6_K:
        if (batch_tokens < 8) return none;
        *tile_tokens_end = n_tokens;
        return (slm_matmul_tile){tile_q6_K_tiled, 1, K_TILE_TOKENS};
    default: return none;
    }
}

// The quantized types' dots of this build (the float rows are dot_avx2.c's alone).
slm_vec_dot_fn SLM_Q_DOT_TABLE(int type) {
    if (!slm_cpu_has(SLM_Q_FEATURES)) return NULL;
    switch (type) {
    case SLM_TYPE_Q4_0: return vec_dot_q4_0_q8_0;
    case SLM_TYPE_Q4_1: return vec_dot_q4_1_q8_1;
    case SLM_TYPE_Q5_0: return vec_dot_q5_0_q8_0;
    case SLM_TYPE_Q5_1: return vec_dot_q5_1_q8_1;
    case SLM_TYPE_Q8_0: return vec_dot_q8_0_q8_0;
    case SLM_TYPE_Q4_K: return vec_dot_q4_K_q8_K;
    case SLM_TYPE_Q5_K: return vec_dot_q5_K_q8_K;
    case SLM_TYPE_Q6_K: return vec_dot_q6_K_q8_K;
    default: return NULL;
    }
}
