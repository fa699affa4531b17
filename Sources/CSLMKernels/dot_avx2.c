// AVX2 + FMA dot products (x86-64), chosen at run time by slm_vec_dot_kernel. Each has a scalar
// `_generic` twin in dot.c and a test against it.
//
// Shape of every kernel: per 32-element block, integer products are summed exactly into eight
// 32-bit lanes (lane l holds elements 4l..4l+3), converted to float and accumulated with one FMA
// per block into eight float lanes; the lanes are folded at the end (upper half onto lower, then
// pairwise). This is also how llama.cpp's x86 kernels order the float operations, so the two
// engines round identically on the same file.
#include "kernels_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define SLM_AVX2 __attribute__((target("avx2,fma,f16c")))

// Two F16 block fields -> floats in lanes 0 and 1. Going through a zero-extending 32-bit move
// (rather than a scalar convert, which inserts into a live register) keeps each block's scale
// conversion independent of the previous block's accumulator.
SLM_AVX2 static inline __m128 h2f_pair(uint16_t lo, uint16_t hi) {
    return _mm_cvtph_ps(_mm_cvtsi32_si128((int)((uint32_t)lo | (uint32_t)hi << 16)));
}

// d_w * d_a as a broadcast vector.
SLM_AVX2 static inline __m256 block_scale(uint16_t dw, uint16_t da) {
    const __m128 both = h2f_pair(dw, da);
    return _mm256_broadcastss_ps(_mm_mul_ss(both, _mm_movehdup_ps(both)));
}

SLM_AVX2 static inline float hsum8(__m256 v) {
    __m128 r = _mm_add_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
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

SLM_AVX2 static float slm_vec_dot_q4_0_q8_0_avx2(int64_t n, const void *w, const void *a) {
    const slm_block_q4_0 *SLM_RESTRICT x = (const slm_block_q4_0 *)w;
    const slm_block_q8_0 *SLM_RESTRICT y = (const slm_block_q8_0 *)a;
    const int64_t nb = n / SLM_QK8_0;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; ++i) {
        const __m256 scale = block_scale(x[i].d, y[i].d);
        // Q4_0 stores q + 8: recentre to [-8, 7] and use the signed-by-signed product.
        const __m256i q = _mm256_sub_epi8(unpack_nibbles(x[i].qs), _mm256_set1_epi8(8));
        acc = _mm256_fmadd_ps(scale, dot_s8_s8_lanes(q, _mm256_loadu_si256((const __m256i *)y[i].qs)), acc);
    }
    return hsum8(acc);
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

static int slm_cpu_has_avx2_fma(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    }
    return cached;
}

slm_vec_dot_fn slm_vec_dot_kernel_avx2(int type) {
    if (!slm_cpu_has_avx2_fma()) return NULL;
    switch (type) {
    case SLM_TYPE_Q4_0: return slm_vec_dot_q4_0_q8_0_avx2;
    case SLM_TYPE_Q4_1: return slm_vec_dot_q4_1_q8_1_avx2;
    case SLM_TYPE_Q5_0: return slm_vec_dot_q5_0_q8_0_avx2;
    case SLM_TYPE_Q5_1: return slm_vec_dot_q5_1_q8_1_avx2;
    case SLM_TYPE_Q8_0: return slm_vec_dot_q8_0_q8_0_avx2;
    default: return NULL;
    }
}

#else

slm_vec_dot_fn slm_vec_dot_kernel_avx2(int type) {
    (void)type;
    return NULL;
}

#endif
