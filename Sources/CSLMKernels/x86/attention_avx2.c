// Attention (generic/attention.c) for x86-64 CPUs with AVX2, FMA and F16C: the portable code
// of generic/attention_body.h built for them, where fmaf is one instruction, and vector versions
// of both numeric modes. The entry points have the signatures of the `_generic` twins and are
// chosen by the slm_attention_* functions in generic/dispatch.c.
#include "arch.h"

#if SLM_ARCH_X86
#include "avx2_common.h"
#include "generic/attention_body.h"

// Vector versions of the two modes for head sizes that are multiples of 32: the same operations
// in the same order as the portable code (generic/attention_body.h) (one FMA per element and step, F16 conversions
// rounding to nearest even), eight lanes at a time, so they produce identical bits.

SLM_AVX2 static inline float dot_f16_f16_avx2(const uint16_t *a, const uint16_t *b, int64_t n) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t i = 0; i < n; i += 32) {
        for (int j = 0; j < 4; j++) {
            const __m256 x = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + i + 8 * j)));
            const __m256 y = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(b + i + 8 * j)));
            acc[j] = _mm256_fmadd_ps(x, y, acc[j]);
        }
    }
    acc[0] = _mm256_add_ps(acc[0], acc[2]);
    acc[1] = _mm256_add_ps(acc[1], acc[3]);
    acc[0] = _mm256_add_ps(acc[0], acc[1]);
    const __m128 t = _mm_add_ps(_mm256_castps256_ps128(acc[0]), _mm256_extractf128_ps(acc[0], 1));
    const __m128 pairs = _mm_hadd_ps(t, t);
    return (float)(double)_mm_cvtss_f32(_mm_hadd_ps(pairs, pairs));
}

SLM_AVX2 static void f16_update_avx2(uint16_t *acc16, const uint16_t *v, int rescaled, float rescale, float weight,
                                     int64_t n) {
    if (rescaled) {
        const __m256 r = _mm256_set1_ps(rescale);
        for (int64_t d = 0; d < n; d += 8) {
            const __m256 a = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(acc16 + d))), r);
            _mm_storeu_si128((__m128i *)(acc16 + d), _mm256_cvtps_ph(a, _MM_FROUND_TO_NEAREST_INT));
        }
    }
    const __m256 w = _mm256_set1_ps(weight);
    for (int64_t d = 0; d < n; d += 8) {
        const __m256 a = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(acc16 + d)));
        const __m256 x = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + d)));
        _mm_storeu_si128((__m128i *)(acc16 + d), _mm256_cvtps_ph(_mm256_fmadd_ps(x, w, a), _MM_FROUND_TO_NEAREST_INT));
    }
}

// tile_softmax with the weights computed and summed eight lanes at a time: hsum8 folds a group
// of eight exactly as tile_softmax does (upper half onto lower, then (0+2)+(1+3)).
SLM_AVX2 static inline void tile_softmax_avx2(float *weights, float tile_max, float *max_io, float *sum_io, float *acc,
                                              int64_t head_dim) {
    const float new_max = raise_running_max(tile_max, max_io, sum_io, acc, head_dim);
    double tile_sum = 0.0;
    const __m256 max8 = _mm256_set1_ps(new_max);
    for (int64_t t = 0; t < ATTENTION_TILE; t += 8) {
        const __m256 e = exp_approx_avx2(_mm256_sub_ps(_mm256_loadu_ps(weights + t), max8));
        _mm256_storeu_ps(weights + t, e);
        tile_sum += (double)hsum8(e);
    }
    *sum_io = (float)((double)*sum_io + tile_sum);
}

// A tile's 64 scores: each position's score is the portable code's sequential FMA chain over the
// head, eight positions per vector and all eight vectors in flight, which covers the FMA latency
// (four cycles, two units) that fewer chains left idle. A partial tile is scored whole too: the
// lanes past its end cost nothing extra (a single chain would have waited as long) and the
// masking below discards them, whatever stale values they hold.
SLM_AVX2 static inline void tile_scores_avx2(const float *query, const float *kt, int64_t head_dim, float scale,
                                             float *weights) {
    const __m256 vscale = _mm256_set1_ps(scale);
    __m256 s[8];
    for (int j = 0; j < 8; j++) s[j] = _mm256_setzero_ps();
    for (int64_t d = 0; d < head_dim; d++) {
        const __m256 q = _mm256_set1_ps(query[d]);
        const float *k = kt + d * ATTENTION_TILE;
        for (int j = 0; j < 8; j++) s[j] = _mm256_fmadd_ps(q, _mm256_loadu_ps(k + 8 * j), s[j]);
    }
    for (int j = 0; j < 8; j++) _mm256_storeu_ps(weights + 8 * j, _mm256_mul_ps(s[j], vscale));
}

// Positions outside [first, count) become -inf and the tile's max is returned, as the portable
// loop does one position at a time. Soft-capping stays scalar (libm's tanhf) on the visible ones.
SLM_AVX2 static inline float tile_mask_avx2(float *weights, int64_t first, int64_t count, float softcap) {
    if (softcap != 0.0f) {
        for (int64_t t = first; t < count; t++) weights[t] = softcap * tanhf(weights[t]);
    }
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i below = _mm256_set1_epi32((int)first - 1), end = _mm256_set1_epi32((int)count);
    const __m256 masked = _mm256_set1_ps(-INFINITY);
    __m256 top = masked;
    for (int j = 0; j < 8; j++) {
        const __m256i t = _mm256_add_epi32(lane, _mm256_set1_epi32(8 * j));
        const __m256 visible = _mm256_castsi256_ps(_mm256_and_si256(_mm256_cmpgt_epi32(t, below), _mm256_cmpgt_epi32(end, t)));
        const __m256 w = _mm256_blendv_ps(masked, _mm256_loadu_ps(weights + 8 * j), visible);
        _mm256_storeu_ps(weights + 8 * j, w);
        top = _mm256_max_ps(w, top);  // a NaN score is skipped, as the scalar comparison skips it
    }
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(top), _mm256_extractf128_ps(top, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

// acc[d] += weights[p] · values[p][d] for p in [first, count), each element's chain in position
// order as in the portable loop; 64 elements at a time stay in registers across the positions.
SLM_AVX2 static inline void tile_accumulate_avx2(const float *weights, const float *values, int64_t value_stride,
                                                 int64_t first, int64_t count, int64_t head_dim, float *acc) {
    int64_t c = 0;
    for (; c + 64 <= head_dim; c += 64) {
        __m256 a[8];
        for (int j = 0; j < 8; j++) a[j] = _mm256_loadu_ps(acc + c + 8 * j);
        for (int64_t p = first; p < count; p++) {
            const float *v = values + p * value_stride + c;
            const __m256 w = _mm256_set1_ps(weights[p]);
            for (int j = 0; j < 8; j++) a[j] = _mm256_fmadd_ps(_mm256_loadu_ps(v + 8 * j), w, a[j]);
        }
        for (int j = 0; j < 8; j++) _mm256_storeu_ps(acc + c + 8 * j, a[j]);
    }
    for (int64_t p = first; c < head_dim && p < count; p++) {
        const float *v = values + p * value_stride;
        const __m256 w = _mm256_set1_ps(weights[p]);
        for (int64_t d = c; d < head_dim; d += 8) {
            _mm256_storeu_ps(acc + d, _mm256_fmadd_ps(_mm256_loadu_ps(v + d), w, _mm256_loadu_ps(acc + d)));
        }
    }
}

// Two heads of a KV group at once (the group body's pair steps): each key and value vector loaded
// feeds both heads' chains, half the loads per FMA of two single runs. Per head, every operation
// is the single step's, in its order.
SLM_AVX2 static inline void tile_scores_pair_avx2(const float *query0, const float *query1, const float *kt,
                                                  int64_t head_dim, float scale, float *weights0, float *weights1) {
    const __m256 vscale = _mm256_set1_ps(scale);
    for (int half = 0; half < ATTENTION_TILE; half += 32) {
        __m256 s0[4], s1[4];
        for (int j = 0; j < 4; j++) s0[j] = s1[j] = _mm256_setzero_ps();
        for (int64_t d = 0; d < head_dim; d++) {
            const __m256 q0 = _mm256_set1_ps(query0[d]), q1 = _mm256_set1_ps(query1[d]);
            const float *k = kt + d * ATTENTION_TILE + half;
            for (int j = 0; j < 4; j++) {
                const __m256 key = _mm256_loadu_ps(k + 8 * j);
                s0[j] = _mm256_fmadd_ps(q0, key, s0[j]);
                s1[j] = _mm256_fmadd_ps(q1, key, s1[j]);
            }
        }
        for (int j = 0; j < 4; j++) {
            _mm256_storeu_ps(weights0 + half + 8 * j, _mm256_mul_ps(s0[j], vscale));
            _mm256_storeu_ps(weights1 + half + 8 * j, _mm256_mul_ps(s1[j], vscale));
        }
    }
}

SLM_AVX2 static inline void tile_accumulate_pair_avx2(const float *weights0, const float *weights1,
                                                      const float *values, int64_t value_stride, int64_t first,
                                                      int64_t count, int64_t head_dim, float *acc0, float *acc1) {
    int64_t c = 0;
    for (; c + 32 <= head_dim; c += 32) {
        __m256 a0[4], a1[4];
        for (int j = 0; j < 4; j++) {
            a0[j] = _mm256_loadu_ps(acc0 + c + 8 * j);
            a1[j] = _mm256_loadu_ps(acc1 + c + 8 * j);
        }
        for (int64_t p = first; p < count; p++) {
            const float *v = values + p * value_stride + c;
            const __m256 w0 = _mm256_set1_ps(weights0[p]), w1 = _mm256_set1_ps(weights1[p]);
            for (int j = 0; j < 4; j++) {
                const __m256 value = _mm256_loadu_ps(v + 8 * j);
                a0[j] = _mm256_fmadd_ps(value, w0, a0[j]);
                a1[j] = _mm256_fmadd_ps(value, w1, a1[j]);
            }
        }
        for (int j = 0; j < 4; j++) {
            _mm256_storeu_ps(acc0 + c + 8 * j, a0[j]);
            _mm256_storeu_ps(acc1 + c + 8 * j, a1[j]);
        }
    }
    if (c < head_dim) {
        tile_accumulate_avx2(weights0, values + c, value_stride, first, count, head_dim - c, acc0 + c);
        tile_accumulate_avx2(weights1, values + c, value_stride, first, count, head_dim - c, acc1 + c);
    }
}

// The F32 mode through the group body (generic/attention_body.h) with the steps above; one head
// is a group of one (slm_attention_scratch_bytes covers that). Head sizes that are not multiples
// of 8 run the portable code, head by head.
SLM_AVX2 void slm_attention_head_group_f32_window_avx2(const float *queries, int64_t n_heads, const float *keys_t,
                                                       const float *values, int64_t value_stride, int64_t begin,
                                                       int64_t n_positions, int64_t head_dim, float scale,
                                                       float softcap, float *out, void *scratch) {
    if (head_dim % 8 != 0) {
        attention_heads_f32_transposed(queries, n_heads, keys_t, values, value_stride, begin, n_positions, head_dim,
                                       scale, softcap, out, scratch);
        return;
    }
    attention_group_f32(queries, n_heads, keys_t, values, value_stride, begin, n_positions, head_dim, scale, softcap, out,
                        scratch, tile_scores_avx2, tile_scores_pair_avx2, tile_mask_avx2, tile_softmax_avx2,
                        tile_accumulate_avx2, tile_accumulate_pair_avx2);
}

SLM_AVX2 void slm_attention_head_f32_window_avx2(const float *query, const float *keys_t, const float *values,
                                                 int64_t value_stride, int64_t begin, int64_t n_positions,
                                                 int64_t head_dim, float scale, float softcap, float *out,
                                                 void *scratch) {
    slm_attention_head_group_f32_window_avx2(query, 1, keys_t, values, value_stride, begin, n_positions, head_dim, scale,
                                             softcap, out, scratch);
}

SLM_AVX2
void slm_attention_partial_capped_avx2(const float *query, const uint16_t *keys, int64_t key_stride,
                                       const uint16_t *values, int64_t value_stride, int64_t begin, int64_t end,
                                       int64_t head_dim, float scale, float softcap, float *partial, void *scratch) {
    if (head_dim % 32 == 0) {
        attention_f16_accumulate(query, keys, key_stride, values, value_stride, begin, end, head_dim, scale, softcap, NULL,
                                 partial, scratch, dot_f16_f16_avx2, f16_update_avx2);
        return;
    }
    attention_f16_accumulate(query, keys, key_stride, values, value_stride, begin, end, head_dim, scale, softcap, NULL, partial,
                             scratch, dot_f16_f16, f16_update);
}

__attribute__((target("avx2,fma,f16c")))
void slm_attention_merge_avx2(const float *partials, int64_t count, int64_t head_dim, float *out) {
    merge_partials(partials, count, head_dim, out);
}


// The typed body with the F16 steps in vectors (head_dim is a multiple of 32) and the quantized
// keys dotted by this CPU's kernel (bit-identical to its twin); the F32 loops vectorize as written.
SLM_AVX2 void slm_attention_head_typed_avx2(const float *query, int key_type, const void *keys, size_t key_row_bytes,
                                            int value_type, const void *values, size_t value_row_bytes,
                                            int64_t begin, int64_t end, int64_t head_dim, float scale, float softcap,
                                            float *out, void *scratch) {
    attention_typed(query, key_type, (const uint8_t *)keys, key_row_bytes, value_type, (const uint8_t *)values,
                    value_row_bytes, begin, end, head_dim, scale, softcap, out, scratch,
                    slm_kv_key_dot_kernel(key_type), dot_f16_f16_avx2,
                    f16_update_avx2);
}

// The same code with fused multiply-adds as instructions instead of libm calls.
__attribute__((target("avx2,fma,f16c")))
void slm_attention_head_avx2(const float *query, const uint16_t *keys, int64_t key_stride,
                             const uint16_t *values, int64_t value_stride, int64_t n_positions,
                             int64_t head_dim, float scale, int mode, float *out, void *scratch) {
    if (mode == SLM_ATTENTION_F16_ACCUMULATE && head_dim % 32 == 0) {
        attention_f16_accumulate(query, keys, key_stride, values, value_stride, 0, n_positions, head_dim, scale, 0.0f, out,
                                 NULL, scratch, dot_f16_f16_avx2, f16_update_avx2);
        return;
    }
    if (mode == SLM_ATTENTION_F16_ACCUMULATE) {
        attention_f16_accumulate(query, keys, key_stride, values, value_stride, 0, n_positions, head_dim, scale, 0.0f, out, NULL,
                                 scratch, dot_f16_f16, f16_update);
    } else {
        attention_f32(query, keys, key_stride, values, value_stride, n_positions, head_dim, scale, out, scratch);
    }
}
#endif
