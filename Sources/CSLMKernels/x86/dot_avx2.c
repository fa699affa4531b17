// AVX2 + FMA dot products (x86-64), chosen at run time by slm_vec_dot_kernel. Each has a scalar
// `_generic` twin in generic/dot.c and a test against it.
//
// Shape of the 32-element block kernels: per block, integer products are summed exactly into
// eight 32-bit lanes (lane l holds elements 4l..4l+3), converted to float and accumulated with one
// FMA per block into eight float lanes; the lanes are folded at the end (upper half onto lower,
// then pairwise). This is also how llama.cpp's x86 kernels order the float operations, so the two
// engines round identically on the same file. Q4_0 and Q4_K follow llama.cpp's repacked kernels
// instead, and the K-quants and float rows have their own orders (see each).
#include "arch.h"

#include <stdlib.h>

#if SLM_ARCH_X86
#include "avx2_common.h"

// d_w * d_a as a broadcast vector.
SLM_AVX2 static inline __m256 block_scale(uint16_t dw, uint16_t da) {
    const __m128 both = h2f_pair(dw, da);
    return _mm256_broadcastss_ps(_mm_mul_ss(both, _mm_movehdup_ps(both)));
}

SLM_AVX2 static float slm_vec_dot_q4_1_q8_1_avx2(int64_t n, const void *w, const void *a) {
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
        const __m256 lanes = dot_u8_s8_lanes(unpack_nibbles(x[i].qs), _mm256_loadu_si256((const __m256i *)y[i].qs));
        acc = _mm256_fmadd_ps(scale, lanes, acc);
    }
    return hsum8(acc) + _mm_cvtss_f32(offsets);
}

// Q4_0 is the exception to the eight-float-lane shape: llama.cpp repacks Q4_0 weights (row count
// divisible by 8) into interleaved groups whose gemv adds one FMA per block into a scalar sum per
// output, so this kernel does the same: exact integer block sum, then fma(sum, d_w * d_a, acc).
SLM_AVX2 static float slm_vec_dot_q4_0_q8_0_avx2(int64_t n, const void *w, const void *a) {
    const slm_block_q4_0 *SLM_RESTRICT x = (const slm_block_q4_0 *)w;
    const slm_block_q8_0 *SLM_RESTRICT y = (const slm_block_q8_0 *)a;
    const int64_t nb = n / SLM_QK8_0;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        // Q4_0 stores q + 8: recentre to [-8, 7] and use the signed-by-signed product.
        const __m256i q = _mm256_sub_epi8(unpack_nibbles(x[i].qs), _mm256_set1_epi8(8));
        const __m256i y8 = _mm256_loadu_si256((const __m256i *)y[i].qs);
        const __m256i pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(q, q), _mm256_sign_epi8(y8, q));
        const int isum = hsum_i32x8(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
        sum = fmaf((float)isum, slm_h2f_fast(x[i].d) * slm_h2f_fast(y[i].d), sum);
    }
    return sum;
}

// Q4_0 keys of a quantized KV cache dotted with a Q8_0 query: the cache is not repacked, so
// llama.cpp's flash attention uses its plain x86 kernel, of the eight-float-lane shape.
SLM_AVX2 float slm_vec_dot_q4_0_q8_0_lanes_avx2(int64_t n, const void *w, const void *a) {
    const slm_block_q4_0 *SLM_RESTRICT x = (const slm_block_q4_0 *)w;
    const slm_block_q8_0 *SLM_RESTRICT y = (const slm_block_q8_0 *)a;
    const int64_t nb = n / SLM_QK8_0;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; ++i) {
        const __m256i q = _mm256_sub_epi8(unpack_nibbles(x[i].qs), _mm256_set1_epi8(8));
        acc = _mm256_fmadd_ps(block_scale(x[i].d, y[i].d), dot_s8_s8_lanes(q, _mm256_loadu_si256((const __m256i *)y[i].qs)), acc);
    }
    return hsum8(acc);
}

SLM_AVX2 static float slm_vec_dot_q5_0_q8_0_avx2(int64_t n, const void *w, const void *a) {
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
        acc = _mm256_fmadd_ps(scale, dot_s8_s8_lanes(q, _mm256_loadu_si256((const __m256i *)y[i].qs)), acc);
    }
    return hsum8(acc);
}

SLM_AVX2 static float slm_vec_dot_q5_1_q8_1_avx2(int64_t n, const void *w, const void *a) {
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
        acc = _mm256_fmadd_ps(scale, dot_u8_s8_lanes(q, _mm256_loadu_si256((const __m256i *)y[i].qs)), acc);
    }
    return hsum8(acc) + _mm_cvtss_f32(offsets);
}

SLM_AVX2 static float slm_vec_dot_q8_0_q8_0_avx2(int64_t n, const void *w, const void *a) {
    const slm_block_q8_0 *SLM_RESTRICT x = (const slm_block_q8_0 *)w;
    const slm_block_q8_0 *SLM_RESTRICT y = (const slm_block_q8_0 *)a;
    const int64_t nb = n / SLM_QK8_0;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; ++i) {
        const __m256 scale = block_scale(x[i].d, y[i].d);
        const __m256 lanes = dot_s8_s8_lanes(_mm256_loadu_si256((const __m256i *)x[i].qs),
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
SLM_AVX2 static inline __m128i k_min_products(const int16_t *bsums, const uint8_t *mn) {
    const __m128i pairs = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)bsums), _mm_loadu_si128((const __m128i *)(bsums + 8)));
    return _mm_madd_epi16(_mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)mn)), pairs);
}

SLM_AVX2 static inline int hsum_i32x4(__m128i r) {
    r = _mm_add_epi32(r, _mm_unpackhi_epi64(r, r));
    r = _mm_add_epi32(r, _mm_shuffle_epi32(r, 0xb1));
    return _mm_cvtsi128_si32(r);
}

// 32 unsigned weights (< 64) times 32 activations, summed in pairs of int16 then, times the
// sub-block scale, into eight int32 lanes (lane l = bytes 4l..4l+3).
SLM_AVX2 static inline __m256i scaled_lanes(__m256i q, const int8_t *a, int scale) {
    const __m256i pairs = _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)a));
    return _mm256_madd_epi16(_mm256_set1_epi16((short)scale), pairs);
}

SLM_AVX2 static float slm_vec_dot_q4_K_q8_K_avx2(int64_t n, const void *w, const void *a) {
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
            lanes = _mm256_add_epi32(lanes, scaled_lanes(_mm256_and_si256(q, low4), y[i].qs + 64 * c, sc[2 * c]));
            lanes = _mm256_add_epi32(lanes, scaled_lanes(_mm256_and_si256(_mm256_srli_epi16(q, 4), low4), y[i].qs + 64 * c + 32, sc[2 * c + 1]));
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
__attribute__((always_inline)) SLM_AVX2 static inline void q4_K_batch_tokens(int64_t n, const void *w, const uint8_t *act,
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
                const __m256i lo = _mm256_maddubs_epi16(q[2 * c], _mm256_loadu_si256((const __m256i *)(y->qs + 64 * c)));
                const __m256i hi = _mm256_maddubs_epi16(q[2 * c + 1], _mm256_loadu_si256((const __m256i *)(y->qs + 64 * c + 32)));
                const __m256i lanes = _mm256_add_epi32(_mm256_madd_epi16(scale[2 * c], lo), _mm256_madd_epi16(scale[2 * c + 1], hi));
                const int16_t *bs = y->bsums + 4 * c;
                const int mins = mn[2 * c] * (bs[0] + bs[1]) + mn[2 * c + 1] * (bs[2] + bs[3]);
                sum[t] = fmaf((float)hsum_i32x8(lanes), d, sum[t]);
                sum_mins[t] = fmaf((float)mins, dmin, sum_mins[t]);
            }
        }
    }
    for (int t = 0; t < tokens; ++t) out[t * out_stride] = sum[t] - sum_mins[t];
}

SLM_AVX2 static float slm_vec_dot_q4_K_q8_K_batch_avx2(int64_t n, const void *w, const void *a) {
    float out;
    q4_K_batch_tokens(n, w, (const uint8_t *)a, 0, 1, &out, 1);
    return out;
}

SLM_AVX2 static float slm_vec_dot_q5_K_q8_K_avx2(int64_t n, const void *w, const void *a) {
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
            lanes = _mm256_add_epi32(lanes, _mm256_add_epi32(scaled_lanes(q_lo, y[i].qs + 64 * c, sc[2 * c]),
                                                             scaled_lanes(q_hi, y[i].qs + 64 * c + 32, sc[2 * c + 1])));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(lanes), acc);
    }
    return hsum8(acc) + sum_mins;
}

// Half `half` of a Q6_K super-block's values u (0..63) as four chunks of 32: q[k] holds
// elements 32 (4 half + k) ... + 31, whose top two bits are qh bits 2k, 2k + 1.
SLM_AVX2 static inline void q6_K_half_values(const slm_block_q6_K *x, int half, __m256i q[4]) {
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
SLM_AVX2 static inline __m256i q6_K_chunk_scale(const slm_block_q6_K *x, int s) {
    return _mm256_set_m128i(_mm_set1_epi16(x->scales[2 * s + 1]), _mm_set1_epi16(x->scales[2 * s]));
}

// 32 * scale * bsum per lane: what the unsigned values u add over the true values u - 32.
SLM_AVX2 static inline __m256i q6_K_offset(const slm_block_q6_K *x, const slm_block_q8_K *y) {
    const __m128i scales = _mm_loadu_si128((const __m128i *)x->scales);
    const __m256i bsums = _mm256_loadu_si256((const __m256i *)y->bsums);
    return _mm256_slli_epi32(_mm256_madd_epi16(bsums, _mm256_cvtepi8_epi16(scales)), 5);
}

// Exact integer sum of a Q6_K super-block (values u - 32): the eight lanes of the dot kernel.
// Unpacks half a block at a time, which keeps decode's register pressure low.
SLM_AVX2 static inline __m256i q6_K_block_lanes(const slm_block_q6_K *x, const slm_block_q8_K *y) {
    __m256i lanes = _mm256_setzero_si256();
    for (int half = 0; half < 2; ++half) {
        __m256i q[4];
        q6_K_half_values(x, half, q);
        for (int k = 0; k < 4; ++k) {
            const int s = 4 * half + k;
            const __m256i pairs = _mm256_maddubs_epi16(q[k], _mm256_loadu_si256((const __m256i *)(y->qs + 32 * s)));
            lanes = _mm256_add_epi32(lanes, _mm256_madd_epi16(q6_K_chunk_scale(x, s), pairs));
        }
    }
    return _mm256_sub_epi32(lanes, q6_K_offset(x, y));
}

// The same lanes from a block unpacked once for several tokens (q: both halves' chunks, scale:
// every chunk's q6_K_chunk_scale).
SLM_AVX2 static inline __m256i q6_K_unpacked_lanes(const slm_block_q6_K *x, const __m256i q[8], const __m256i scale[8],
                                                   const slm_block_q8_K *y) {
    __m256i lanes = _mm256_setzero_si256();
    for (int s = 0; s < 8; ++s) {
        const __m256i pairs = _mm256_maddubs_epi16(q[s], _mm256_loadu_si256((const __m256i *)(y->qs + 32 * s)));
        lanes = _mm256_add_epi32(lanes, _mm256_madd_epi16(scale[s], pairs));
    }
    return _mm256_sub_epi32(lanes, q6_K_offset(x, y));
}

// Q6_K values are u - 32 with u in 0..63: the unsigned u are multiplied, and 32 * scale * bsum
// is subtracted per lane (lane l: activation groups 2l and 2l + 1).
SLM_AVX2 static float slm_vec_dot_q6_K_q8_K_avx2(int64_t n, const void *w, const void *a) {
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
SLM_AVX2 static inline int q5_K_block_sum(const slm_block_q5_K *x, const int8_t *q8, const uint8_t *sc) {
    const __m256i low4 = _mm256_set1_epi8(0x0f), bit4 = _mm256_set1_epi8(0x10);
    const __m256i qh = _mm256_loadu_si256((const __m256i *)x->qh);
    __m256i lanes = _mm256_setzero_si256();
    for (int c = 0; c < 4; ++c) {
        const __m256i q = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * c));
        const __m256i h_lo = _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(qh, 2 * c), 4), bit4);
        const __m256i h_hi = _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(qh, 2 * c + 1), 4), bit4);
        const __m256i q_lo = _mm256_or_si256(_mm256_and_si256(q, low4), h_lo);
        const __m256i q_hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), low4), h_hi);
        lanes = _mm256_add_epi32(lanes, _mm256_add_epi32(scaled_lanes(q_lo, q8 + 64 * c, sc[2 * c]),
                                                         scaled_lanes(q_hi, q8 + 64 * c + 32, sc[2 * c + 1])));
    }
    return hsum_i32x8(lanes);
}

SLM_AVX2 static float slm_vec_dot_q5_K_q8_K_tiled_avx2(int64_t n, const void *w, const void *a) {
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
__attribute__((always_inline)) SLM_AVX2 static inline void q6_K_tiled_tokens(int64_t n, const void *w, const uint8_t *act,
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

SLM_AVX2 static float slm_vec_dot_q6_K_q8_K_tiled_avx2(int64_t n, const void *w, const void *a) {
    float out;
    q6_K_tiled_tokens(n, w, (const uint8_t *)a, 0, 1, &out, 1);
    return out;
}

// ---- K-quant tiles for prompt batches ---------------------------------------------------------
//
// One weight row times K_TILE_TOKENS tokens in the batch orders above, through the same bodies as
// the batch dots (the same bits per pair; tested against them).

SLM_AVX2 static void tile_q6_K_tiled(int64_t n, const uint8_t *w, size_t row_stride, const uint8_t *act,
                                     size_t act_row_bytes, const float *act_d, int64_t act_d_stride, float *out,
                                     int64_t out_stride) {
    (void)row_stride, (void)act_d, (void)act_d_stride;
    q6_K_tiled_tokens(n, w, act, act_row_bytes, K_TILE_TOKENS, out, out_stride);
}

SLM_AVX2 static void tile_q4_K_batch(int64_t n, const uint8_t *w, size_t row_stride, const uint8_t *act,
                                     size_t act_row_bytes, const float *act_d, int64_t act_d_stride, float *out,
                                     int64_t out_stride) {
    (void)row_stride, (void)act_d, (void)act_d_stride;
    q4_K_batch_tokens(n, w, act, act_row_bytes, K_TILE_TOKENS, out, out_stride);
}

// ---- float rows ---------------------------------------------------------------------------------
//
// llama.cpp's x86 order: four accumulators of eight lanes over steps of 32 elements, folded
// (0 + 2, 1 + 3, then 0 + 1), the two halves added, then two horizontal adds; the tail after
// the last full step is added one product at a time (F16 / BF16 in double, as ggml does).

SLM_AVX2 static inline float fold4_hadd(__m256 s0, __m256 s1, __m256 s2, __m256 s3) {
    s0 = _mm256_add_ps(s0, s2);
    s1 = _mm256_add_ps(s1, s3);
    s0 = _mm256_add_ps(s0, s1);
    const __m128 t0 = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
    const __m128 t1 = _mm_hadd_ps(t0, t0);
    return _mm_cvtss_f32(_mm_hadd_ps(t1, t1));
}

SLM_AVX2 static float slm_vec_dot_f32_f32_avx2(int64_t n, const void *w, const void *a) {
    const float *SLM_RESTRICT x = (const float *)w;
    const float *SLM_RESTRICT y = (const float *)a;
    __m256 s[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        for (int j = 0; j < 4; ++j) s[j] = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8 * j), _mm256_loadu_ps(y + i + 8 * j), s[j]);
    }
    float sum = fold4_hadd(s[0], s[1], s[2], s[3]);
    for (; i < n; ++i) sum = fmaf(x[i], y[i], sum);
    return sum;
}

SLM_AVX2 static inline __m256 load_f16x8(const uint16_t *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

SLM_AVX2 static float slm_vec_dot_f16_f16_avx2(int64_t n, const void *w, const void *a) {
    const uint16_t *SLM_RESTRICT x = (const uint16_t *)w;
    const uint16_t *SLM_RESTRICT y = (const uint16_t *)a;
    __m256 s[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        for (int j = 0; j < 4; ++j) s[j] = _mm256_fmadd_ps(load_f16x8(x + i + 8 * j), load_f16x8(y + i + 8 * j), s[j]);
    }
    double sum = fold4_hadd(s[0], s[1], s[2], s[3]);
    for (; i < n; ++i) sum += (double)(slm_h2f(x[i]) * slm_h2f(y[i]));
    return (float)sum;
}

// ---- F16 batches ----------------------------------------------------------------------------
// A prompt batch (or a packed embedding batch) over F16 weights: each pair above converts both
// operands from F16 for every multiply, so a batch spends more time converting than
// multiplying. Here a block of weight rows and a block of activation rows are converted to F32
// once and every pair of the two blocks is summed from those: the same products (the
// conversion is exact), the same four eight-lane accumulators, the same fold and the same tail as
// slm_vec_dot_f16_f16_avx2, so every output has that kernel's bits.
enum { F16_BLOCK_ROWS = 18, F16_BLOCK_TOKENS = 48 };  // multiples of the 3 x 3 tile

SLM_AVX2 static void f16_row_to_f32(const uint16_t *src, float *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load_f16x8(src + i));
    for (; i < n; ++i) dst[i] = slm_h2f(src[i]);
}

// Row x with tokens y0 and y1 (F32 copies): two dots sharing the row's loads.
SLM_AVX2 static void dot2_f16_order(int64_t n, const float *x, const float *y0, const float *y1, float *out0,
                                    float *out1) {
    __m256 s[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    __m256 u[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        for (int j = 0; j < 4; ++j) {
            const __m256 w = _mm256_loadu_ps(x + i + 8 * j);
            s[j] = _mm256_fmadd_ps(w, _mm256_loadu_ps(y0 + i + 8 * j), s[j]);
            u[j] = _mm256_fmadd_ps(w, _mm256_loadu_ps(y1 + i + 8 * j), u[j]);
        }
    }
    double sum0 = fold4_hadd(s[0], s[1], s[2], s[3]);
    double sum1 = fold4_hadd(u[0], u[1], u[2], u[3]);
    for (int64_t k = i; k < n; ++k) {
        sum0 += (double)(x[k] * y0[k]);
        sum1 += (double)(x[k] * y1[k]);
    }
    *out0 = (float)sum0;
    *out1 = (float)sum1;
}

SLM_AVX2 static float dot_f16_order(int64_t n, const float *x, const float *y) {
    __m256 s[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        for (int j = 0; j < 4; ++j) s[j] = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8 * j), _mm256_loadu_ps(y + i + 8 * j), s[j]);
    }
    double sum = fold4_hadd(s[0], s[1], s[2], s[3]);
    for (; i < n; ++i) sum += (double)(x[i] * y[i]);
    return (float)sum;
}

// Three rows by three tokens from the F32 copies. The pair dot's four accumulators are four
// independent sums (accumulator j takes columns 32k + 8j … 32k + 8j + 7, in ascending k), so they
// are computed one after another, each for all nine pairs at once: nine accumulators, three
// weight vectors and one activation vector fit the sixteen registers, and every load serves three
// multiplies. Each accumulator receives the same FMAs in the same order as in the pair dot.
SLM_AVX2 static void tile3x3_f16_order(int64_t n, const float *const x[3], const float *const y[3], float *out,
                                       int64_t out_row_stride) {
    __m256 s[4][3][3];
    const int64_t full = n / 32 * 32;
    for (int j = 0; j < 4; ++j) {
        __m256 a00 = _mm256_setzero_ps(), a01 = _mm256_setzero_ps(), a02 = _mm256_setzero_ps();
        __m256 a10 = _mm256_setzero_ps(), a11 = _mm256_setzero_ps(), a12 = _mm256_setzero_ps();
        __m256 a20 = _mm256_setzero_ps(), a21 = _mm256_setzero_ps(), a22 = _mm256_setzero_ps();
        for (int64_t i = 8 * j; i < full; i += 32) {
            const __m256 w0 = _mm256_loadu_ps(x[0] + i), w1 = _mm256_loadu_ps(x[1] + i), w2 = _mm256_loadu_ps(x[2] + i);
            __m256 v = _mm256_loadu_ps(y[0] + i);
            a00 = _mm256_fmadd_ps(w0, v, a00), a10 = _mm256_fmadd_ps(w1, v, a10), a20 = _mm256_fmadd_ps(w2, v, a20);
            v = _mm256_loadu_ps(y[1] + i);
            a01 = _mm256_fmadd_ps(w0, v, a01), a11 = _mm256_fmadd_ps(w1, v, a11), a21 = _mm256_fmadd_ps(w2, v, a21);
            v = _mm256_loadu_ps(y[2] + i);
            a02 = _mm256_fmadd_ps(w0, v, a02), a12 = _mm256_fmadd_ps(w1, v, a12), a22 = _mm256_fmadd_ps(w2, v, a22);
        }
        s[j][0][0] = a00, s[j][0][1] = a01, s[j][0][2] = a02;
        s[j][1][0] = a10, s[j][1][1] = a11, s[j][1][2] = a12;
        s[j][2][0] = a20, s[j][2][1] = a21, s[j][2][2] = a22;
    }
    for (int r = 0; r < 3; ++r) {
        for (int t = 0; t < 3; ++t) {
            double sum = fold4_hadd(s[0][r][t], s[1][r][t], s[2][r][t], s[3][r][t]);
            for (int64_t k = full; k < n; ++k) sum += (double)(x[r][k] * y[t][k]);
            out[t * out_row_stride + r] = (float)sum;
        }
    }
}

int slm_matmul_f16_avx2(const void *weight, size_t row_stride, int64_t n_cols, const void *activations,
                        size_t act_row_bytes, int64_t n_tokens, float *out, int64_t out_row_stride,
                        int64_t row_begin, int64_t row_end) {
    if (!slm_cpu_has(SLM_CPU_X86_AVX2_FMA_F16C) || n_cols <= 0) return 0;
    const size_t stride = ((size_t)n_cols + 7) / 8 * 8;  // floats per converted row
    float *rows = malloc(sizeof(float) * stride * (F16_BLOCK_ROWS + F16_BLOCK_TOKENS));
    if (!rows) return 0;
    float *acts = rows + stride * F16_BLOCK_ROWS;
    const uint8_t *w = (const uint8_t *)weight;
    const uint8_t *a = (const uint8_t *)activations;
    for (int64_t t0 = 0; t0 < n_tokens; t0 += F16_BLOCK_TOKENS) {
        const int64_t nt = n_tokens - t0 < F16_BLOCK_TOKENS ? n_tokens - t0 : F16_BLOCK_TOKENS;
        for (int64_t t = 0; t < nt; ++t)
            f16_row_to_f32((const uint16_t *)(a + (size_t)(t0 + t) * act_row_bytes), acts + (size_t)t * stride, n_cols);
        for (int64_t r0 = row_begin; r0 < row_end; r0 += F16_BLOCK_ROWS) {
            const int64_t nr = row_end - r0 < F16_BLOCK_ROWS ? row_end - r0 : F16_BLOCK_ROWS;
            for (int64_t r = 0; r < nr; ++r)
                f16_row_to_f32((const uint16_t *)(w + (size_t)(r0 + r) * row_stride), rows + (size_t)r * stride, n_cols);
            // Whole 3 x 3 tiles first, then the ragged rows and tokens pair by pair (same bits).
            const int64_t tiled_rows = nr / 3 * 3, tiled_tokens = nt / 3 * 3;
            for (int64_t r = 0; r < tiled_rows; r += 3) {
                const float *x[3] = {rows + (size_t)r * stride, rows + (size_t)(r + 1) * stride, rows + (size_t)(r + 2) * stride};
                for (int64_t t = 0; t < tiled_tokens; t += 3) {
                    const float *y[3] = {acts + (size_t)t * stride, acts + (size_t)(t + 1) * stride, acts + (size_t)(t + 2) * stride};
                    tile3x3_f16_order(n_cols, x, y, out + (t0 + t) * out_row_stride + r0 + r, out_row_stride);
                }
            }
            for (int64_t r = 0; r < nr; ++r) {
                const float *x = rows + (size_t)r * stride;
                int64_t t = r < tiled_rows ? tiled_tokens : 0;
                for (; t + 2 <= nt; t += 2) {
                    dot2_f16_order(n_cols, x, acts + (size_t)t * stride, acts + (size_t)(t + 1) * stride,
                                   out + (t0 + t) * out_row_stride + r0 + r, out + (t0 + t + 1) * out_row_stride + r0 + r);
                }
                if (t < nt) out[(t0 + t) * out_row_stride + r0 + r] = dot_f16_order(n_cols, x, acts + (size_t)t * stride);
            }
        }
    }
    free(rows);
    return 1;
}

SLM_AVX2 static inline __m256 load_bf16x8(const uint16_t *p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}

SLM_AVX2 static float slm_vec_dot_bf16_bf16_avx2(int64_t n, const void *w, const void *a) {
    const uint16_t *SLM_RESTRICT x = (const uint16_t *)w;
    const uint16_t *SLM_RESTRICT y = (const uint16_t *)a;
    __m256 s[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        for (int j = 0; j < 4; ++j) s[j] = _mm256_fmadd_ps(load_bf16x8(x + i + 8 * j), load_bf16x8(y + i + 8 * j), s[j]);
    }
    // BF16 folds as (0 + 2) + (1 + 3), then halves, then the usual two pairwise steps.
    const __m256 s02 = _mm256_add_ps(s[0], s[2]), s13 = _mm256_add_ps(s[1], s[3]);
    const __m256 all = _mm256_add_ps(s02, s13);
    __m128 g = _mm_add_ps(_mm256_extractf128_ps(all, 1), _mm256_castps256_ps128(all));
    g = _mm_add_ps(g, _mm_movehl_ps(g, g));
    g = _mm_add_ss(g, _mm_movehdup_ps(g));
    double sum = _mm_cvtss_f32(g);
    for (; i < n; ++i) sum += (double)(slm_bf2f(x[i]) * slm_bf2f(y[i]));
    return (float)sum;
}

// llama.cpp's routing on an AVX2 CPU (repack.cpp, tiled.cpp): repacked Q4_K weights go through
// its gemm for each full group of 4 tokens; Q5_K / Q6_K through the tiled kernel when a batch has
// 8 or more tokens. (Q4_K weights with a row count not divisible by 8 are not repacked and take
// the tiled kernel too; every Q4_K matrix of the models we know has rows divisible by 8.)
slm_vec_dot_fn slm_vec_dot_kernel_avx2_for_batch(int type, int64_t n_tokens, int64_t token) {
    if (!slm_cpu_has(SLM_CPU_X86_AVX2_FMA_F16C)) return NULL;
    switch (type) {
    case SLM_TYPE_Q4_K: return token < n_tokens - n_tokens % 4 ? slm_vec_dot_q4_K_q8_K_batch_avx2 : NULL;
    case SLM_TYPE_Q5_K: return n_tokens >= 8 ? slm_vec_dot_q5_K_q8_K_tiled_avx2 : NULL;
    case SLM_TYPE_Q6_K: return n_tokens >= 8 ? slm_vec_dot_q6_K_q8_K_tiled_avx2 : NULL;
    default: return NULL;
    }
}

int slm_sum_order_depends_on_batch_avx2(int type) {
    if (!slm_cpu_has(SLM_CPU_X86_AVX2_FMA_F16C)) return 0;
    return type == SLM_TYPE_Q4_K || type == SLM_TYPE_Q5_K || type == SLM_TYPE_Q6_K;
}

// The tiles of the batch orders above, by the same rule; *tile_tokens_end is how many of the
// chunk's n_tokens tokens (batch tokens batch_offset...) take that order, from the first.
slm_matmul_tile slm_matmul_tile_kernel_avx2_for_batch(int type, int64_t batch_tokens, int64_t batch_offset,
                                                      int64_t n_tokens, int64_t *tile_tokens_end) {
    const slm_matmul_tile none = {NULL, 0, 0};
    *tile_tokens_end = 0;
    if (!slm_cpu_has(SLM_CPU_X86_AVX2_FMA_F16C)) return none;
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

slm_vec_dot_fn slm_vec_dot_kernel_avx2(int type) {
    if (!slm_cpu_has(SLM_CPU_X86_AVX2_FMA_F16C)) return NULL;
    switch (type) {
    case SLM_TYPE_Q4_0: return slm_vec_dot_q4_0_q8_0_avx2;
    case SLM_TYPE_Q4_1: return slm_vec_dot_q4_1_q8_1_avx2;
    case SLM_TYPE_Q5_0: return slm_vec_dot_q5_0_q8_0_avx2;
    case SLM_TYPE_Q5_1: return slm_vec_dot_q5_1_q8_1_avx2;
    case SLM_TYPE_Q8_0: return slm_vec_dot_q8_0_q8_0_avx2;
    case SLM_TYPE_Q4_K: return slm_vec_dot_q4_K_q8_K_avx2;
    case SLM_TYPE_Q5_K: return slm_vec_dot_q5_K_q8_K_avx2;
    case SLM_TYPE_Q6_K: return slm_vec_dot_q6_K_q8_K_avx2;
    case SLM_TYPE_F32: return slm_vec_dot_f32_f32_avx2;
    case SLM_TYPE_F16: return slm_vec_dot_f16_f16_avx2;
    case SLM_TYPE_BF16: return slm_vec_dot_bf16_bf16_avx2;
    default: return NULL;
    }
}
#endif
