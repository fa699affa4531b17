// AVX2 + FMA matmul tiles (x86-64; Q4_0, Q4_1, Q5_0, Q8_0) for prompt batches: 2 weight rows x 4 tokens per call
// (Q5_0: 1 x 8), so each unpacked weight block serves several tokens and each activation block
// several rows, instead of one dot product re-reading and re-unpacking both per pair. Decode
// tiles (several rows x 1 token) for slm_matvec: Q4_0, Q4_1, Q5_0, Q8_0.
//
// Bit-identical to slm_vec_dot (dot_avx2.c) for every (row, token): each of the 8 pairs keeps its
// own eight-lane accumulator and receives exactly the same operations in the same order (exact
// integer lane sums, the same d_w * d_a product, one FMA per block, the same final fold). Only
// which values are computed once and shared changes, so prompt logits stay equal to decode's and
// to llama.cpp's. The scalar twin is the per-pair loop in slm_matmul (generic/matvec.c).
#include "arch.h"

#if SLM_ARCH_X86
#include "avx2_common.h"

// Shape of the tiles below but Q5_0's (which is one row by eight tokens).
#define TILE_ROWS 2
#define TILE_TOKENS 4

// Four F16 values (one per token) -> four floats.
SLM_AVX2 static inline __m128 h2f_quad(uint16_t a, uint16_t b, uint16_t c, uint16_t d) {
    const uint64_t packed = (uint64_t)a | (uint64_t)b << 16 | (uint64_t)c << 32 | (uint64_t)d << 48;
    return _mm_cvtph_ps(_mm_cvtsi64_si128((long long)packed));
}

// Activation block i of token t.
#define ACT(type, t, i) (((const type *)(act + (size_t)(t) * act_row_bytes))[i])

SLM_AVX2 static void tile_q4_1(int64_t n, const uint8_t *w, size_t row_stride, const uint8_t *act,
                               size_t act_row_bytes, const float *act_d, int64_t act_d_stride, float *out,
                               int64_t out_stride) {
    const slm_block_q4_1 *x0 = (const slm_block_q4_1 *)w;
    const slm_block_q4_1 *x1 = (const slm_block_q4_1 *)(w + row_stride);
    const int64_t nb = n / SLM_QK4_1;
    __m256 acc[TILE_ROWS][TILE_TOKENS];
    for (int r = 0; r < TILE_ROWS; ++r)
        for (int t = 0; t < TILE_TOKENS; ++t) acc[r][t] = _mm256_setzero_ps();
    // Lane t: sum over blocks of m_w * s_a for token t, one fused step per block (as the dot).
    __m128 off0 = _mm_setzero_ps(), off1 = _mm_setzero_ps();
    float scale[TILE_ROWS * TILE_TOKENS] __attribute__((aligned(16)));
    for (int64_t i = 0; i < nb; ++i) {
        const __m128 dm0 = h2f_pair(x0[i].d, x0[i].m), dm1 = h2f_pair(x1[i].d, x1[i].m);
        const __m128 da = _mm_loadu_ps(act_d + i * act_d_stride);
        const __m128 sa = h2f_quad(ACT(slm_block_q8_1, 0, i).s, ACT(slm_block_q8_1, 1, i).s,
                                   ACT(slm_block_q8_1, 2, i).s, ACT(slm_block_q8_1, 3, i).s);
        _mm_store_ps(scale, _mm_mul_ps(_mm_broadcastss_ps(dm0), da));
        _mm_store_ps(scale + 4, _mm_mul_ps(_mm_broadcastss_ps(dm1), da));
        off0 = _mm_fmadd_ps(_mm_permute_ps(dm0, 0x55), sa, off0);
        off1 = _mm_fmadd_ps(_mm_permute_ps(dm1, 0x55), sa, off1);
        const __m256i q0 = unpack_nibbles(x0[i].qs), q1 = unpack_nibbles(x1[i].qs);
        for (int t = 0; t < TILE_TOKENS; ++t) {
            const __m256i a = _mm256_loadu_si256((const __m256i *)ACT(slm_block_q8_1, t, i).qs);
            acc[0][t] = _mm256_fmadd_ps(_mm256_broadcast_ss(scale + t), dot_u8_s8_lanes(q0, a), acc[0][t]);
            acc[1][t] = _mm256_fmadd_ps(_mm256_broadcast_ss(scale + 4 + t), dot_u8_s8_lanes(q1, a), acc[1][t]);
        }
    }
    float offsets[TILE_ROWS * TILE_TOKENS] __attribute__((aligned(16)));
    _mm_store_ps(offsets, off0);
    _mm_store_ps(offsets + 4, off1);
    for (int t = 0; t < TILE_TOKENS; ++t) {
        out[t * out_stride] = hsum8(acc[0][t]) + offsets[t];
        out[t * out_stride + 1] = hsum8(acc[1][t]) + offsets[4 + t];
    }
}

// Eight vectors of 16 int16 -> 8 int16 whose lane k is the sum of all of v[k]'s elements, modulo
// 2^16 (the adds wrap, they do not saturate): exact once the caller's final value, after any
// further wrapping adds, fits in an int16. Pairwise adds only: no multiply is spent on it.
SLM_AVX2 static inline __m128i hsum_i16_transposed(const __m256i v[8]) {
    const __m256i quads0 = _mm256_hadd_epi16(_mm256_hadd_epi16(v[0], v[1]), _mm256_hadd_epi16(v[2], v[3]));
    const __m256i quads1 = _mm256_hadd_epi16(_mm256_hadd_epi16(v[4], v[5]), _mm256_hadd_epi16(v[6], v[7]));
    const __m256i eights = _mm256_hadd_epi16(quads0, quads1);
    return _mm_add_epi16(_mm256_castsi256_si128(eights), _mm256_extracti128_si256(eights, 1));
}

// Q4_0 follows its dot's order (llama.cpp's repacked gemv/gemm): per block an exact integer sum
// for each pair, then one fma(sum, d_w * d_a, acc) per pair. The eight pairs share one vector:
// lane 4 r + t is (row r, token t). The stored nibbles q in [0, 15] go straight into maddubs's
// unsigned side; the block's 8 * sum(a), precomputed per token (see slm_matmul_tile_fn), is
// subtracted once at the end: sum (q - 8) a = sum q a - 8 sum a. The int16 adds wrap, and the
// result, at most 32 * 8 * 127 = 32512 in magnitude, fits, so it comes out exact.
SLM_AVX2 static void tile_q4_0(int64_t n, const uint8_t *w, size_t row_stride, const uint8_t *act,
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
        for (int t = 0; t < TILE_TOKENS; ++t) {
            const __m256i a = _mm256_loadu_si256((const __m256i *)ACT(slm_block_q8_0, t, i).qs);
            products[t] = _mm256_maddubs_epi16(q0, a);
            products[4 + t] = _mm256_maddubs_epi16(q1, a);
        }
        // Lane 4 r + t takes token t's 8 * sum(a): the low halves of the four int32 sums, twice.
        const __m128i sum8_lanes = _mm_shuffle_epi8(sum8, _mm_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, 0, 1, 4, 5, 8, 9, 12, 13));
        const __m128i sums = _mm_sub_epi16(hsum_i16_transposed(products), sum8_lanes);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi16_epi32(sums)), scale, acc);
    }
    float sums[TILE_ROWS * TILE_TOKENS] __attribute__((aligned(32)));
    _mm256_store_ps(sums, acc);
    for (int t = 0; t < TILE_TOKENS; ++t) {
        out[t * out_stride] = sums[t];
        out[t * out_stride + 1] = sums[4 + t];
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
SLM_AVX2 static void decode_q4_0(int64_t n, const uint8_t *w, size_t row_stride, const uint8_t *act,
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
        for (int r = 0; r < ROWS; ++r) products[r] = _mm256_maddubs_epi16(unpack_nibbles(x[r][i].qs), a);
        const __m128i eight_sum = _mm_set1_epi16((short)(int32_t)act_sum8[i * act_d_stride]);
        const __m256i sums = _mm256_cvtepi16_epi32(_mm_sub_epi16(hsum_i16_transposed(products), eight_sum));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), scale, acc);
    }
    _mm256_storeu_ps(out, acc);
}

// Weight blocks whose values load as 32 signed bytes with an F16 scale first (Q8_0, Q5_0), times
// Q8_0 activations: the dot's per-block steps for the 8 pairs. Always inlined with a constant
// `values`, so each type gets its own loop.
typedef __m256i (*signed_block_values_fn)(const uint8_t *block);

__attribute__((always_inline)) SLM_AVX2 static inline void tile_signed_blocks(
    int64_t nb, size_t block_bytes, signed_block_values_fn values, const uint8_t *w, size_t row_stride,
    const uint8_t *act, size_t act_row_bytes, const float *act_d, int64_t act_d_stride, float *out, int64_t out_stride) {
    const uint8_t *x0 = w, *x1 = w + row_stride;
    __m256 acc[TILE_ROWS][TILE_TOKENS];
    for (int r = 0; r < TILE_ROWS; ++r)
        for (int t = 0; t < TILE_TOKENS; ++t) acc[r][t] = _mm256_setzero_ps();
    float scale[TILE_ROWS * TILE_TOKENS] __attribute__((aligned(16)));
    for (int64_t i = 0; i < nb; ++i) {
        const uint8_t *b0 = x0 + (size_t)i * block_bytes, *b1 = x1 + (size_t)i * block_bytes;
        uint16_t d0, d1;  // each block's F16 scale is its first field
        memcpy(&d0, b0, sizeof d0);
        memcpy(&d1, b1, sizeof d1);
        const __m128 d = h2f_pair(d0, d1);
        const __m128 da = _mm_loadu_ps(act_d + i * act_d_stride);
        _mm_store_ps(scale, _mm_mul_ps(_mm_broadcastss_ps(d), da));
        _mm_store_ps(scale + 4, _mm_mul_ps(_mm_broadcastss_ps(_mm_movehdup_ps(d)), da));
        const __m256i q0 = values(b0), q1 = values(b1);
        const __m256i abs0 = _mm256_sign_epi8(q0, q0), abs1 = _mm256_sign_epi8(q1, q1);
        for (int t = 0; t < TILE_TOKENS; ++t) {
            const __m256i a = _mm256_loadu_si256((const __m256i *)ACT(slm_block_q8_0, t, i).qs);
            acc[0][t] = _mm256_fmadd_ps(_mm256_broadcast_ss(scale + t), dot_u8_s8_lanes(abs0, _mm256_sign_epi8(a, q0)), acc[0][t]);
            acc[1][t] = _mm256_fmadd_ps(_mm256_broadcast_ss(scale + 4 + t), dot_u8_s8_lanes(abs1, _mm256_sign_epi8(a, q1)), acc[1][t]);
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
__attribute__((always_inline)) SLM_AVX2 static inline void row_signed_blocks(
    int64_t nb, size_t block_bytes, signed_block_values_fn values, const uint8_t *w, const uint8_t *act,
    size_t act_row_bytes, const float *act_d, int64_t act_d_stride, float *out, int64_t out_stride) {
    enum { TOKENS = 8 };
    __m256 acc[TOKENS];
    for (int t = 0; t < TOKENS; ++t) acc[t] = _mm256_setzero_ps();
    float scale[TOKENS] __attribute__((aligned(32)));
    for (int64_t i = 0; i < nb; ++i) {
        const uint8_t *block = w + (size_t)i * block_bytes;
        uint16_t dw;  // the block's F16 scale is its first field
        memcpy(&dw, block, sizeof dw);
        const __m256 d = _mm256_broadcastss_ps(h2f_pair(dw, 0));
        _mm256_store_ps(scale, _mm256_mul_ps(d, _mm256_loadu_ps(act_d + i * act_d_stride)));
        const __m256i q = values(block);
        const __m256i abs = _mm256_sign_epi8(q, q);
        for (int t = 0; t < TOKENS; ++t) {
            const __m256i a = _mm256_loadu_si256((const __m256i *)ACT(slm_block_q8_0, t, i).qs);
            acc[t] = _mm256_fmadd_ps(_mm256_broadcast_ss(scale + t), dot_u8_s8_lanes(abs, _mm256_sign_epi8(a, q)), acc[t]);
        }
    }
    for (int t = 0; t < TOKENS; ++t) out[t * out_stride] = hsum8(acc[t]);
}

SLM_AVX2 static inline __m256i q8_0_values(const uint8_t *block) {
    return _mm256_loadu_si256((const __m256i *)((const slm_block_q8_0 *)block)->qs);
}

// Q5_0 as its dot: the block's values q - 16 as signed bytes (a clear fifth bit sets the top four).
SLM_AVX2 static inline __m256i q5_0_values(const uint8_t *block) {
    const slm_block_q5_0 *x = (const slm_block_q5_0 *)block;
    const __m256i clear = _mm256_andnot_si256(expand_bits(x->qh), _mm256_set1_epi8((char)0xF0));
    return _mm256_or_si256(unpack_nibbles(x->qs), clear);
}

SLM_AVX2 static void tile_q8_0(int64_t n, const uint8_t *w, size_t row_stride, const uint8_t *act,
                               size_t act_row_bytes, const float *act_d, int64_t act_d_stride, float *out,
                               int64_t out_stride) {
    tile_signed_blocks(n / SLM_QK8_0, sizeof(slm_block_q8_0), q8_0_values, w, row_stride, act, act_row_bytes,
                       act_d, act_d_stride, out, out_stride);
}

SLM_AVX2 static void tile_q5_0(int64_t n, const uint8_t *w, size_t row_stride, const uint8_t *act,
                               size_t act_row_bytes, const float *act_d, int64_t act_d_stride, float *out,
                               int64_t out_stride) {
    (void)row_stride;
    row_signed_blocks(n / SLM_QK5_0, sizeof(slm_block_q5_0), q5_0_values, w, act, act_row_bytes, act_d, act_d_stride,
                      out, out_stride);
}

// Decode tiles for the types whose dot sums in eight float lanes per row (llama.cpp's x86 order;
// Q4_1, Q5_0, Q8_0): DECODE_ROWS rows x 1 token. Each row keeps its own accumulator and gets
// exactly its dot's operations in its dot's order (so the same bits); the rows share the
// activation block, its scale, and one conversion of their F16 scales.
#define DECODE_ROWS 4
_Static_assert(DECODE_ROWS == 4, "the decode tiles gather their rows' scales into one 4-lane vector");

// Block i's F16 scales of DECODE_ROWS rows (each block starting with d), times d_a: scale[r].
SLM_AVX2 static inline void decode_row_scales(const uint8_t *const *rows, size_t block_bytes, int64_t i, float da,
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

__attribute__((always_inline)) SLM_AVX2 static inline void decode_scaled_blocks(
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
SLM_AVX2 static inline __m256i q5_0_sixteen_a(__m256i a) { return _mm256_maddubs_epi16(_mm256_set1_epi8(16), a); }

SLM_AVX2 static inline __m256 q5_0_lanes(const uint8_t *block, __m256i a, __m256i sixteen_a) {
    const slm_block_q5_0 *x = (const slm_block_q5_0 *)block;
    const __m256i fifth = _mm256_and_si256(expand_bits(x->qh), _mm256_set1_epi8(0x10));
    const __m256i q = _mm256_or_si256(unpack_nibbles(x->qs), fifth);
    const __m256i pairs = _mm256_sub_epi16(_mm256_maddubs_epi16(q, a), sixteen_a);
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

SLM_AVX2 static inline __m256i q8_0_nothing_shared(__m256i a) { return a; }

SLM_AVX2 static inline __m256 q8_0_lanes(const uint8_t *block, __m256i a, __m256i unused) {
    (void)unused;
    return dot_s8_s8_lanes(_mm256_loadu_si256((const __m256i *)((const slm_block_q8_0 *)block)->qs), a);
}

SLM_AVX2 static void decode_q5_0(int64_t n, const uint8_t *w, size_t row_stride, const uint8_t *act,
                                 size_t act_row_bytes, const float *act_d, int64_t act_d_stride, float *out,
                                 int64_t out_stride) {
    (void)act_row_bytes, (void)out_stride;
    decode_scaled_blocks(n / SLM_QK5_0, sizeof(slm_block_q5_0), q5_0_sixteen_a, q5_0_lanes, w, row_stride, act, act_d,
                         act_d_stride, out);
}

SLM_AVX2 static void decode_q8_0(int64_t n, const uint8_t *w, size_t row_stride, const uint8_t *act,
                                 size_t act_row_bytes, const float *act_d, int64_t act_d_stride, float *out,
                                 int64_t out_stride) {
    (void)act_row_bytes, (void)out_stride;
    decode_scaled_blocks(n / SLM_QK8_0, sizeof(slm_block_q8_0), q8_0_nothing_shared, q8_0_lanes, w, row_stride, act,
                         act_d, act_d_stride, out);
}

// Q4_1 adds the rows' m * s_a terms in one four-lane FMA per block (lane r: row r's own fused step).
SLM_AVX2 static void decode_q4_1(int64_t n, const uint8_t *w, size_t row_stride, const uint8_t *act,
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
            acc[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(scale + r), dot_u8_s8_lanes(unpack_nibbles(x[r][i].qs), a), acc[r]);
        }
    }
    float offset[DECODE_ROWS];
    _mm_storeu_ps(offset, offsets);
    for (int r = 0; r < DECODE_ROWS; ++r) out[r] = hsum8(acc[r]) + offset[r];
}

slm_matmul_tile slm_matmul_tile_kernel_avx2(int type) {
    const slm_matmul_tile none = {NULL, 0, 0};
    if (!slm_cpu_has(SLM_CPU_X86_AVX2_FMA_F16C)) return none;
    switch (type) {
    case SLM_TYPE_Q4_0: return (slm_matmul_tile){tile_q4_0, TILE_ROWS, TILE_TOKENS};
    case SLM_TYPE_Q4_1: return (slm_matmul_tile){tile_q4_1, TILE_ROWS, TILE_TOKENS};
    case SLM_TYPE_Q5_0: return (slm_matmul_tile){tile_q5_0, 1, 8};
    case SLM_TYPE_Q8_0: return (slm_matmul_tile){tile_q8_0, TILE_ROWS, TILE_TOKENS};
    default: return none;
    }
}

slm_matmul_tile slm_matvec_tile_kernel_avx2(int type) {
    const slm_matmul_tile none = {NULL, 0, 0};
    if (!slm_cpu_has(SLM_CPU_X86_AVX2_FMA_F16C)) return none;
    switch (type) {
    case SLM_TYPE_Q4_0: return (slm_matmul_tile){decode_q4_0, 8, 1};
    case SLM_TYPE_Q4_1: return (slm_matmul_tile){decode_q4_1, DECODE_ROWS, 1};
    case SLM_TYPE_Q5_0: return (slm_matmul_tile){decode_q5_0, DECODE_ROWS, 1};
    case SLM_TYPE_Q8_0: return (slm_matmul_tile){decode_q8_0, DECODE_ROWS, 1};
    default: return none;
    }
}
#endif
