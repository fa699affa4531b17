// AVX2 helpers shared by the x86 kernels (dot_avx2.c, quant_body.h, attention_avx2.c, activation_avx2.c) (x86-64 only; include inside the
// architecture guard, after kernels_internal.h). The tiles must repeat the dots' operations
// exactly, so both files build them from these same pieces.
#ifndef SLM_AVX2_COMMON_H
#define SLM_AVX2_COMMON_H

#include <immintrin.h>

#define SLM_AVX2 __attribute__((target("avx2,fma,f16c")))

// Two F16 block fields -> floats in lanes 0 and 1. Going through a zero-extending 32-bit move
// (rather than a scalar convert, which inserts into a live register) keeps each block's scale
// conversion independent of the previous block's accumulator.
SLM_AVX2 static inline __m128 h2f_pair(uint16_t lo, uint16_t hi) {
    return _mm_cvtph_ps(_mm_cvtsi32_si128((int)((uint32_t)lo | (uint32_t)hi << 16)));
}

SLM_AVX2 static inline float hsum8(__m256 v) {
    __m128 r = _mm_add_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

// d_w * d_a as a broadcast vector.
SLM_AVX2 static inline __m256 block_scale(uint16_t dw, uint16_t da) {
    const __m128 both = h2f_pair(dw, da);
    return _mm256_broadcastss_ps(_mm_mul_ss(both, _mm_movehdup_ps(both)));
}

// Sum of the eight int32 lanes.
SLM_AVX2 static inline int hsum_i32x8(__m256i v) {
    __m128i r = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    r = _mm_add_epi32(r, _mm_unpackhi_epi64(r, r));
    r = _mm_add_epi32(r, _mm_shuffle_epi32(r, 0xb1));
    return _mm_cvtsi128_si32(r);
}

// Unsigned bytes times signed bytes, summed in groups of four into eight int32 lanes, as floats.
SLM_AVX2 static inline __m256 dot_u8_s8_lanes(__m256i u, __m256i s) {
    const __m256i pairs = _mm256_maddubs_epi16(u, s);
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

// Signed times signed: move x's sign onto y so the unsigned-by-signed instruction applies.
SLM_AVX2 static inline __m256 dot_s8_s8_lanes(__m256i x, __m256i y) {
    return dot_u8_s8_lanes(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

// 16 bytes of packed nibbles -> 32 bytes: low nibbles (elements 0..15), then high (16..31).
SLM_AVX2 static inline __m256i unpack_nibbles(const uint8_t *qs) {
    const __m128i packed = _mm_loadu_si128((const __m128i *)qs);
    const __m256i both = _mm256_insertf128_si256(_mm256_castsi128_si256(packed), _mm_srli_epi16(packed, 4), 1);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0f));
}

// Four bytes at p (unaligned) as one int32, for a broadcast straight from memory.
static inline int32_t load_i32(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

// The 32 fifth bits of a Q5 block (bit j of the little-endian qh is element j) as 32 bytes:
// 0xFF where the bit is set, 0 where it is clear.
SLM_AVX2 static inline __m256i expand_bits(const uint8_t *qh) {
    uint32_t bits;
    memcpy(&bits, qh, sizeof bits);
    // Byte j gets qh byte j / 8, then keeps only bit j % 8.
    const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits),
                                               _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                                                 0x0101010101010101, 0x0000000000000000));
    const __m256i lane_bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    return _mm256_cmpeq_epi8(_mm256_and_si256(spread, lane_bit), lane_bit);
}

// slm_exp_approx eight lanes at a time (the same operations per lane, so the same bits).
SLM_AVX2 static inline __m256 exp_approx_avx2(__m256 x) {
    const __m256 shift = _mm256_set1_ps(EXP_SHIFT);
    const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(EXP_LOG2E), shift);
    const __m256 n = _mm256_sub_ps(z, shift);
    const __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(EXP_LN2_LO), _mm256_fnmadd_ps(n, _mm256_set1_ps(EXP_LN2_HI), x));
    const __m256i e = _mm256_slli_epi32(_mm256_castps_si256(z), 23);
    const __m256 k = _mm256_castsi256_ps(_mm256_add_epi32(e, _mm256_castps_si256(_mm256_set1_ps(1.0f))));
    const __m256 abs_n = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), n);
    const __m256 big = _mm256_cmp_ps(abs_n, _mm256_set1_ps(126.0f), _CMP_GT_OQ);
    const __m256 u = _mm256_mul_ps(b, b);
    const __m256 j = _mm256_fmadd_ps(
        _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(EXP_C5), b, _mm256_set1_ps(EXP_C4)), u,
                        _mm256_fmadd_ps(_mm256_set1_ps(EXP_C3), b, _mm256_set1_ps(EXP_C2))),
        u, _mm256_mul_ps(_mm256_set1_ps(EXP_C1), b));
    const __m256 normal = _mm256_fmadd_ps(k, j, k);
    if (!_mm256_movemask_ps(big)) return normal;
    const __m256i g = _mm256_and_si256(_mm256_castps_si256(_mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_LE_OQ)),
                                       _mm256_set1_epi32((int)0x82000000u));
    const __m256 s1 = _mm256_castsi256_ps(_mm256_add_epi32(g, _mm256_set1_epi32(0x7f000000)));
    const __m256 s2 = _mm256_castsi256_ps(_mm256_sub_epi32(e, g));
    const __m256 huge = _mm256_cmp_ps(abs_n, _mm256_set1_ps(192.0f), _CMP_GT_OQ);
    const __m256 split = _mm256_mul_ps(_mm256_fmadd_ps(s2, j, s2), s1);
    const __m256 r = _mm256_blendv_ps(normal, split, big);
    return _mm256_blendv_ps(r, _mm256_mul_ps(s1, s1), huge);
}

#endif
