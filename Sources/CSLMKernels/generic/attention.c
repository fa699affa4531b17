// Attention of one query head over a KV cache stored as F16 rows, with an online softmax.
//
// Two numeric modes, because llama.cpp's CPU flash attention (our reference) uses two and the
// small models we run are sensitive enough that rounding differences flip greedy choices:
//  - SLM_ATTENTION_F16_ACCUMULATE (decode and batches under 64 tokens): the query is rounded to
//    F16, scores use libm's expf, and the weighted sum of V is kept in an F16 accumulator that is
//    rescaled whenever a new maximum appears.
//  - SLM_ATTENTION_F32 (prompt batches of 64+ tokens): F32 query and accumulator; positions are
//    taken in tiles of 64: one running maximum update per tile, weights from the fast exp
//    approximation, the tile's weights summed 8 lanes at a time.
// Every multiply-add is fused (fmaf), as vector code does; the same source is compiled once
// generic and once for AVX2+FMA, where fmaf is one instruction.
#include "kernels_internal.h"

#define ATTENTION_TILE 64

// Q·K for one position in the F16 mode: 32 strided partial sums folded like an 8-lane reduction.
SLM_INLINE float dot_f16_f16(const uint16_t *SLM_RESTRICT a, const uint16_t *SLM_RESTRICT b, int64_t n) {
    float acc[32] = {0};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        for (int j = 0; j < 32; j++) acc[j] = fmaf(slm_h2f(a[i + j]), slm_h2f(b[i + j]), acc[j]);
    }
    for (int j = 0; j < 8; j++) {
        acc[j] += acc[16 + j];
        acc[8 + j] += acc[24 + j];
        acc[j] += acc[8 + j];
    }
    float t[4];
    for (int j = 0; j < 4; j++) t[j] = acc[j] + acc[4 + j];
    double sum = (double)((t[0] + t[1]) + (t[2] + t[3]));
    for (; i < n; i++) sum += (double)(slm_h2f(a[i]) * slm_h2f(b[i]));
    return (float)sum;
}

// Runs positions [begin, end) into a running (max, sum, F16 accumulator).
SLM_INLINE void f16_accumulate_range(const uint16_t *q16, const uint16_t *keys, int64_t key_stride,
                                     const uint16_t *values, int64_t value_stride, int64_t begin, int64_t end,
                                     int64_t head_dim, float scale, float softcap, float *max_io, float *sum_io,
                                     uint16_t *acc16) {
    float max_score = *max_io, sum = *sum_io;
    for (int64_t p = begin; p < end; p++) {
        const uint16_t *v = values + p * value_stride;
        float s = dot_f16_f16(keys + p * key_stride, q16, head_dim) * scale;
        if (softcap != 0.0f) s = softcap * tanhf(s);
        float rescale = 1.0f, weight = 1.0f;
        if (s > max_score) {
            rescale = expf(max_score - s);
            max_score = s;
            for (int64_t d = 0; d < head_dim; d++) acc16[d] = slm_f2h(slm_h2f(acc16[d]) * rescale);
        } else {
            weight = expf(s - max_score);
        }
        for (int64_t d = 0; d < head_dim; d++) acc16[d] = slm_f2h(fmaf(slm_h2f(v[d]), weight, slm_h2f(acc16[d])));
        sum = fmaf(sum, rescale, weight);
    }
    *max_io = max_score;
    *sum_io = sum;
}

SLM_INLINE void attention_f16_accumulate(const float *query, const uint16_t *keys, int64_t key_stride,
                                         const uint16_t *values, int64_t value_stride, int64_t begin, int64_t end,
                                         int64_t head_dim, float scale, float softcap, float *out, float *partial,
                                         void *scratch) {
    uint16_t *q16 = (uint16_t *)scratch;
    uint16_t *acc16 = q16 + head_dim;
    float max_score = -INFINITY, sum = 0.0f;
    for (int64_t d = 0; d < head_dim; d++) {
        q16[d] = slm_f2h(query[d]);
        acc16[d] = 0;
    }
    f16_accumulate_range(q16, keys, key_stride, values, value_stride, begin, end, head_dim, scale, softcap, &max_score,
                         &sum, acc16);
    if (partial) {
        partial[0] = max_score;
        partial[1] = sum;
        for (int64_t d = 0; d < head_dim; d++) partial[2 + d] = slm_h2f(acc16[d]);
        return;
    }
    const float inv = sum == 0.0f ? 0.0f : 1.0f / sum;
    for (int64_t d = 0; d < head_dim; d++) out[d] = slm_h2f(acc16[d]) * inv;
}

// Moves the running max up to a tile's max, rescaling the accumulator and the sum when it grows;
// returns the new max.
SLM_INLINE float raise_running_max(float tile_max, float *max_io, float *sum_io, float *acc, int64_t head_dim) {
    const float new_max = fmaxf(*max_io, tile_max);
    if (new_max > *max_io) {
        const float rescale = expf(*max_io - new_max);
        for (int64_t d = 0; d < head_dim; d++) acc[d] *= rescale;
        *sum_io *= rescale;
    }
    *max_io = new_max;
    return new_max;
}

// Folds one tile's scores (in `weights`, masked ones -inf) into the running max and sum: rescales
// the accumulator when the max grows, turns the scores into weights e^(s - max) in place, and adds
// them to the sum eight lanes at a time, as a vector reduction would.
SLM_INLINE void tile_softmax(float *weights, float tile_max, float *max_io, float *sum_io, float *acc,
                             int64_t head_dim) {
    const float new_max = raise_running_max(tile_max, max_io, sum_io, acc, head_dim);
    double tile_sum = 0.0;
    for (int64_t t = 0; t < ATTENTION_TILE; t += 8) {
        float lane[8];
        for (int l = 0; l < 8; l++) lane[l] = weights[t + l] = slm_exp_approx(weights[t + l] - new_max);
        float h[4];
        for (int l = 0; l < 4; l++) h[l] = lane[4 + l] + lane[l];
        tile_sum += (double)((h[0] + h[2]) + (h[1] + h[3]));
    }
    *sum_io = (float)((double)*sum_io + tile_sum);
}

SLM_INLINE void attention_f32(const float *query, const uint16_t *keys, int64_t key_stride,
                              const uint16_t *values, int64_t value_stride, int64_t n_positions,
                              int64_t head_dim, float scale, float *out, void *scratch) {
    float *acc = (float *)scratch;
    float weights[ATTENTION_TILE];
    float max_score = -INFINITY, sum = 0.0f;
    for (int64_t d = 0; d < head_dim; d++) acc[d] = 0.0f;
    for (int64_t tile = 0; tile < n_positions; tile += ATTENTION_TILE) {
        const int64_t count = n_positions - tile < ATTENTION_TILE ? n_positions - tile : ATTENTION_TILE;
        float tile_max = -INFINITY;
        for (int64_t t = 0; t < ATTENTION_TILE; t++) {
            float s = -INFINITY;
            if (t < count) {
                const uint16_t *k = keys + (tile + t) * key_stride;
                s = 0.0f;
                for (int64_t d = 0; d < head_dim; d++) s = fmaf(query[d], slm_h2f(k[d]), s);
                s *= scale;
            }
            weights[t] = s;
            tile_max = s > tile_max ? s : tile_max;
        }
        tile_softmax(weights, tile_max, &max_score, &sum, acc, head_dim);
        for (int64_t t = 0; t < count; t++) {
            const uint16_t *v = values + (tile + t) * value_stride;
            for (int64_t d = 0; d < head_dim; d++) acc[d] = fmaf(slm_h2f(v[d]), weights[t], acc[d]);
        }
    }
    const float inv = sum == 0.0f ? 0.0f : 1.0f / sum;
    for (int64_t d = 0; d < head_dim; d++) out[d] = acc[d] * inv;
}

// Keys of one KV head widened to F32 and laid out per 64-position tile as (head_dim, 64):
// keys_t[(p / 64) * head_dim * 64 + d * 64 + p % 64] = key[p][d].
void slm_attention_transpose_keys(const uint16_t *keys, int64_t key_stride, int64_t begin, int64_t end,
                                  int64_t head_dim, float *keys_t) {
    for (int64_t p = begin; p < end; p++) {
        const uint16_t *k = keys + p * key_stride;
        float *tile = keys_t + (p / ATTENTION_TILE) * head_dim * ATTENTION_TILE + p % ATTENTION_TILE;
        for (int64_t d = 0; d < head_dim; d++) tile[d * ATTENTION_TILE] = slm_h2f(k[d]);
    }
}

void slm_attention_widen_values(const uint16_t *values, int64_t value_stride, int64_t begin, int64_t end,
                                int64_t head_dim, float *values_f32) {
    for (int64_t p = begin; p < end; p++) slm_f16_row_to_f32(values + p * value_stride, values_f32 + p * head_dim, head_dim);
}

// The F32 mode over keys already transposed by slm_attention_transpose_keys and values widened by
// slm_attention_widen_values: same operations and order as attention_f32, without converting the
// keys and values again for every query.
// Positions before `begin` (a sliding window's start) are masked like those past the end: tiles
// wholly before it are skipped and the rest of its tile scores -inf, as llama.cpp masks them.
SLM_INLINE void attention_f32_transposed(const float *query, const float *keys_t, const float *values,
                                         int64_t value_stride, int64_t begin, int64_t n_positions,
                                         int64_t head_dim, float scale, float softcap, float *out, float *acc) {
    float weights[ATTENTION_TILE];
    float max_score = -INFINITY, sum = 0.0f;
    for (int64_t d = 0; d < head_dim; d++) acc[d] = 0.0f;
    for (int64_t tile = begin / ATTENTION_TILE * ATTENTION_TILE; tile < n_positions; tile += ATTENTION_TILE) {
        const int64_t count = n_positions - tile < ATTENTION_TILE ? n_positions - tile : ATTENTION_TILE;
        const int64_t first = begin > tile ? begin - tile : 0;
        const float *kt = keys_t + (tile / ATTENTION_TILE) * head_dim * ATTENTION_TILE;
        float tile_max = -INFINITY;
        for (int64_t t = 0; t < ATTENTION_TILE; t++) {
            float s = -INFINITY;
            if (t >= first && t < count) {
                s = 0.0f;
                for (int64_t d = 0; d < head_dim; d++) s = fmaf(query[d], kt[d * ATTENTION_TILE + t], s);
                s *= scale;
                if (softcap != 0.0f) s = softcap * tanhf(s);
            }
            weights[t] = s;
            tile_max = s > tile_max ? s : tile_max;
        }
        tile_softmax(weights, tile_max, &max_score, &sum, acc, head_dim);
        for (int64_t t = first; t < count; t++) {
            const float *v = values + (tile + t) * value_stride;
            for (int64_t d = 0; d < head_dim; d++) acc[d] = fmaf(v[d], weights[t], acc[d]);
        }
    }
    const float inv = sum == 0.0f ? 0.0f : 1.0f / sum;
    for (int64_t d = 0; d < head_dim; d++) out[d] = acc[d] * inv;
}

void slm_attention_head_f32_window_generic(const float *query, const float *keys_t, const float *values,
                                           int64_t value_stride, int64_t begin, int64_t n_positions,
                                           int64_t head_dim, float scale, float softcap, float *out, void *scratch) {
    attention_f32_transposed(query, keys_t, values, value_stride, begin, n_positions, head_dim, scale, softcap, out,
                             (float *)scratch);
}

void slm_attention_head_f32_transposed_generic(const float *query, const float *keys_t, const float *values,
                                               int64_t value_stride, int64_t n_positions, int64_t head_dim,
                                               float scale, float *out, void *scratch) {
    attention_f32_transposed(query, keys_t, values, value_stride, 0, n_positions, head_dim, scale, 0.0f, out,
                             (float *)scratch);
}

size_t slm_attention_scratch_bytes(int64_t head_dim) {
    // F32 accumulator, or F16 query + F16 accumulator.
    return (size_t)head_dim * 4 + 64;
}

void slm_attention_head_generic(const float *query, const uint16_t *keys, int64_t key_stride,
                                const uint16_t *values, int64_t value_stride, int64_t n_positions,
                                int64_t head_dim, float scale, int mode, float *out, void *scratch) {
    if (mode == SLM_ATTENTION_F16_ACCUMULATE) {
        attention_f16_accumulate(query, keys, key_stride, values, value_stride, 0, n_positions, head_dim, scale, 0.0f, out, NULL, scratch);
    } else {
        attention_f32(query, keys, key_stride, values, value_stride, n_positions, head_dim, scale, out, scratch);
    }
}

SLM_INLINE void merge_partials(const float *partials, int64_t count, int64_t head_dim, float *out) {
    const int64_t stride = 2 + head_dim;
    float max_score = -INFINITY, sum = 0.0f;
    for (int64_t d = 0; d < head_dim; d++) out[d] = 0.0f;
    for (int64_t c = 0; c < count; c++) {
        const float *part = partials + c * stride;
        if (part[1] == 0.0f) continue;  // a slice with no visible positions
        const float new_max = fmaxf(max_score, part[0]);
        const float scale_old = expf(max_score - new_max);
        const float scale_new = expf(part[0] - new_max);
        for (int64_t d = 0; d < head_dim; d++) out[d] = fmaf(out[d], scale_old, part[2 + d] * scale_new);
        sum = fmaf(sum, scale_old, part[1] * scale_new);
        max_score = new_max;
    }
    if (sum != 0.0f) {
        const float inv = 1.0f / sum;
        for (int64_t d = 0; d < head_dim; d++) out[d] *= inv;
    }
}

void slm_attention_partial_generic(const float *query, const uint16_t *keys, int64_t key_stride,
                                   const uint16_t *values, int64_t value_stride, int64_t begin, int64_t end,
                                   int64_t head_dim, float scale, float *partial, void *scratch) {
    slm_attention_partial_capped_generic(query, keys, key_stride, values, value_stride, begin, end, head_dim, scale,
                                         0.0f, partial, scratch);
}

void slm_attention_partial_capped_generic(const float *query, const uint16_t *keys, int64_t key_stride,
                                          const uint16_t *values, int64_t value_stride, int64_t begin, int64_t end,
                                          int64_t head_dim, float scale, float softcap, float *partial,
                                          void *scratch) {
    attention_f16_accumulate(query, keys, key_stride, values, value_stride, begin, end, head_dim, scale, softcap, NULL, partial, scratch);
}

void slm_attention_merge_generic(const float *partials, int64_t count, int64_t head_dim, float *out) {
    merge_partials(partials, count, head_dim, out);
}

#if defined(__x86_64__) || defined(__i386__)
#include "x86/avx2_common.h"

// Vector versions of the two modes for head sizes that are multiples of 32: the same operations
// in the same order as the portable code above (one FMA per element and step, F16 conversions
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

SLM_AVX2 static void f16_accumulate_range_avx2(const uint16_t *q16, const uint16_t *keys, int64_t key_stride,
                                               const uint16_t *values, int64_t value_stride, int64_t begin,
                                               int64_t end, int64_t head_dim, float scale, float softcap,
                                               float *max_io, float *sum_io, uint16_t *acc16) {
    float max_score = *max_io, sum = *sum_io;
    for (int64_t p = begin; p < end; p++) {
        const uint16_t *v = values + p * value_stride;
        float s = dot_f16_f16_avx2(keys + p * key_stride, q16, head_dim) * scale;
        if (softcap != 0.0f) s = softcap * tanhf(s);
        float rescale = 1.0f, weight = 1.0f;
        if (s > max_score) {
            rescale = expf(max_score - s);
            max_score = s;
            const __m256 r = _mm256_set1_ps(rescale);
            for (int64_t d = 0; d < head_dim; d += 8) {
                const __m256 a = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(acc16 + d))), r);
                _mm_storeu_si128((__m128i *)(acc16 + d), _mm256_cvtps_ph(a, _MM_FROUND_TO_NEAREST_INT));
            }
        } else {
            weight = expf(s - max_score);
        }
        const __m256 w = _mm256_set1_ps(weight);
        for (int64_t d = 0; d < head_dim; d += 8) {
            const __m256 a = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(acc16 + d)));
            const __m256 x = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + d)));
            _mm_storeu_si128((__m128i *)(acc16 + d), _mm256_cvtps_ph(_mm256_fmadd_ps(x, w, a), _MM_FROUND_TO_NEAREST_INT));
        }
        sum = fmaf(sum, rescale, weight);
    }
    *max_io = max_score;
    *sum_io = sum;
}

SLM_AVX2 static void attention_f16_avx2(const float *query, const uint16_t *keys, int64_t key_stride,
                                        const uint16_t *values, int64_t value_stride, int64_t begin, int64_t end,
                                        int64_t head_dim, float scale, float softcap, float *out, float *partial,
                                        void *scratch) {
    uint16_t *q16 = (uint16_t *)scratch;
    uint16_t *acc16 = q16 + head_dim;
    float max_score = -INFINITY, sum = 0.0f;
    for (int64_t d = 0; d < head_dim; d += 8) {
        _mm_storeu_si128((__m128i *)(q16 + d), _mm256_cvtps_ph(_mm256_loadu_ps(query + d), _MM_FROUND_TO_NEAREST_INT));
        _mm_storeu_si128((__m128i *)(acc16 + d), _mm_setzero_si128());
    }
    f16_accumulate_range_avx2(q16, keys, key_stride, values, value_stride, begin, end, head_dim, scale, softcap,
                              &max_score, &sum, acc16);
    if (partial) {
        partial[0] = max_score;
        partial[1] = sum;
        for (int64_t d = 0; d < head_dim; d += 8) {
            _mm256_storeu_ps(partial + 2 + d, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(acc16 + d))));
        }
        return;
    }
    const __m256 inv = _mm256_set1_ps(sum == 0.0f ? 0.0f : 1.0f / sum);
    for (int64_t d = 0; d < head_dim; d += 8) {
        _mm256_storeu_ps(out + d, _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(acc16 + d))), inv));
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

// F32 mode over transposed keys: each position's score is still one sequential FMA chain over the
// head, computed for 8 positions at once.
SLM_AVX2 static void attention_f32_transposed_avx2(const float *query, const float *keys_t, const float *values,
                                                   int64_t value_stride, int64_t begin, int64_t n_positions,
                                                   int64_t head_dim, float scale, float softcap, float *out,
                                                   float *acc) {
    float weights[ATTENTION_TILE];
    float max_score = -INFINITY, sum = 0.0f;
    for (int64_t d = 0; d < head_dim; d++) acc[d] = 0.0f;
    const __m256 vscale = _mm256_set1_ps(scale);
    for (int64_t tile = begin / ATTENTION_TILE * ATTENTION_TILE; tile < n_positions; tile += ATTENTION_TILE) {
        const int64_t count = n_positions - tile < ATTENTION_TILE ? n_positions - tile : ATTENTION_TILE;
        const int64_t first = begin > tile ? begin - tile : 0;
        const int64_t lanes = (count + 7) & ~(int64_t)7;
        const float *kt = keys_t + (tile / ATTENTION_TILE) * head_dim * ATTENTION_TILE;
        // Four groups of 8 positions at once: each chain is latency-bound (one FMA per head
        // element), so independent chains in flight multiply throughput without reordering any.
        int64_t t = 0;
        for (; t + 32 <= lanes; t += 32) {
            __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
            for (int64_t d = 0; d < head_dim; d++) {
                const __m256 q = _mm256_set1_ps(query[d]);
                const float *k = kt + d * ATTENTION_TILE + t;
                s0 = _mm256_fmadd_ps(q, _mm256_loadu_ps(k), s0);
                s1 = _mm256_fmadd_ps(q, _mm256_loadu_ps(k + 8), s1);
                s2 = _mm256_fmadd_ps(q, _mm256_loadu_ps(k + 16), s2);
                s3 = _mm256_fmadd_ps(q, _mm256_loadu_ps(k + 24), s3);
            }
            _mm256_storeu_ps(weights + t, _mm256_mul_ps(s0, vscale));
            _mm256_storeu_ps(weights + t + 8, _mm256_mul_ps(s1, vscale));
            _mm256_storeu_ps(weights + t + 16, _mm256_mul_ps(s2, vscale));
            _mm256_storeu_ps(weights + t + 24, _mm256_mul_ps(s3, vscale));
        }
        for (; t < lanes; t += 8) {
            __m256 s = _mm256_setzero_ps();
            for (int64_t d = 0; d < head_dim; d++) {
                s = _mm256_fmadd_ps(_mm256_set1_ps(query[d]), _mm256_loadu_ps(kt + d * ATTENTION_TILE + t), s);
            }
            _mm256_storeu_ps(weights + t, _mm256_mul_ps(s, vscale));
        }
        float tile_max = -INFINITY;
        for (int64_t t = 0; t < ATTENTION_TILE; t++) {
            if (softcap != 0.0f) weights[t] = softcap * tanhf(weights[t]);
            if (t >= count || t < first) weights[t] = -INFINITY;  // stale keys, or outside the window
            tile_max = weights[t] > tile_max ? weights[t] : tile_max;
        }
        tile_softmax_avx2(weights, tile_max, &max_score, &sum, acc, head_dim);
        if (head_dim == 64) {
            // The whole accumulator in registers for the common head size (same FMAs, same order).
            __m256 a[8];
            for (int j = 0; j < 8; j++) a[j] = _mm256_loadu_ps(acc + 8 * j);
            for (int64_t p = first; p < count; p++) {
                const float *v = values + (tile + p) * value_stride;
                const __m256 w = _mm256_set1_ps(weights[p]);
                for (int j = 0; j < 8; j++) a[j] = _mm256_fmadd_ps(_mm256_loadu_ps(v + 8 * j), w, a[j]);
            }
            for (int j = 0; j < 8; j++) _mm256_storeu_ps(acc + 8 * j, a[j]);
            continue;
        }
        for (int64_t t = first; t < count; t++) {
            const float *v = values + (tile + t) * value_stride;
            const __m256 w = _mm256_set1_ps(weights[t]);
            for (int64_t d = 0; d < head_dim; d += 8) {
                _mm256_storeu_ps(acc + d, _mm256_fmadd_ps(_mm256_loadu_ps(v + d), w, _mm256_loadu_ps(acc + d)));
            }
        }
    }
    const float inv = sum == 0.0f ? 0.0f : 1.0f / sum;
    for (int64_t d = 0; d < head_dim; d++) out[d] = acc[d] * inv;
}

SLM_AVX2 static void attention_f32_transposed_fma(const float *query, const float *keys_t, const float *values,
                                                  int64_t value_stride, int64_t begin, int64_t n_positions,
                                                  int64_t head_dim, float scale, float softcap, float *out,
                                                  void *scratch) {
    if (head_dim % 8 == 0) {
        attention_f32_transposed_avx2(query, keys_t, values, value_stride, begin, n_positions, head_dim, scale, softcap, out,
                                      (float *)scratch);
    } else {
        attention_f32_transposed(query, keys_t, values, value_stride, begin, n_positions, head_dim, scale, softcap, out,
                                 (float *)scratch);
    }
}

SLM_AVX2
static void attention_partial_fma(const float *query, const uint16_t *keys, int64_t key_stride,
                                  const uint16_t *values, int64_t value_stride, int64_t begin, int64_t end,
                                  int64_t head_dim, float scale, float softcap, float *partial, void *scratch) {
    if (head_dim % 32 == 0) {
        attention_f16_avx2(query, keys, key_stride, values, value_stride, begin, end, head_dim, scale, softcap, NULL, partial, scratch);
        return;
    }
    attention_f16_accumulate(query, keys, key_stride, values, value_stride, begin, end, head_dim, scale, softcap, NULL, partial, scratch);
}

__attribute__((target("avx2,fma,f16c")))
static void attention_merge_fma(const float *partials, int64_t count, int64_t head_dim, float *out) {
    merge_partials(partials, count, head_dim, out);
}
#endif

#if defined(__x86_64__) || defined(__i386__)
// The same code with fused multiply-adds as instructions instead of libm calls.
__attribute__((target("avx2,fma,f16c")))
static void slm_attention_head_fma(const float *query, const uint16_t *keys, int64_t key_stride,
                                   const uint16_t *values, int64_t value_stride, int64_t n_positions,
                                   int64_t head_dim, float scale, int mode, float *out, void *scratch) {
    if (mode == SLM_ATTENTION_F16_ACCUMULATE && head_dim % 32 == 0) {
        attention_f16_avx2(query, keys, key_stride, values, value_stride, 0, n_positions, head_dim, scale, 0.0f, out, NULL, scratch);
        return;
    }
    if (mode == SLM_ATTENTION_F16_ACCUMULATE) {
        attention_f16_accumulate(query, keys, key_stride, values, value_stride, 0, n_positions, head_dim, scale, 0.0f, out, NULL, scratch);
    } else {
        attention_f32(query, keys, key_stride, values, value_stride, n_positions, head_dim, scale, out, scratch);
    }
}

static int cpu_has_fma(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
}

static int use_fma(void) {
    static int fma = -1;
    if (fma < 0) fma = cpu_has_fma();
    return fma && !slm_force_generic;
}
#endif

void slm_attention_partial(const float *query, const uint16_t *keys, int64_t key_stride,
                           const uint16_t *values, int64_t value_stride, int64_t begin, int64_t end,
                           int64_t head_dim, float scale, float *partial, void *scratch) {
    slm_attention_partial_capped(query, keys, key_stride, values, value_stride, begin, end, head_dim, scale, 0.0f,
                                 partial, scratch);
}

void slm_attention_partial_capped(const float *query, const uint16_t *keys, int64_t key_stride,
                                  const uint16_t *values, int64_t value_stride, int64_t begin, int64_t end,
                                  int64_t head_dim, float scale, float softcap, float *partial, void *scratch) {
#if defined(__x86_64__) || defined(__i386__)
    if (use_fma()) {
        attention_partial_fma(query, keys, key_stride, values, value_stride, begin, end, head_dim, scale, softcap,
                              partial, scratch);
        return;
    }
#endif
    slm_attention_partial_capped_generic(query, keys, key_stride, values, value_stride, begin, end, head_dim, scale,
                                         softcap, partial, scratch);
}

void slm_attention_merge(const float *partials, int64_t count, int64_t head_dim, float *out) {
#if defined(__x86_64__) || defined(__i386__)
    if (use_fma()) {
        attention_merge_fma(partials, count, head_dim, out);
        return;
    }
#endif
    slm_attention_merge_generic(partials, count, head_dim, out);
}

void slm_attention_head_f32_transposed(const float *query, const float *keys_t, const float *values,
                                       int64_t value_stride, int64_t n_positions, int64_t head_dim, float scale,
                                       float *out, void *scratch) {
#if defined(__x86_64__) || defined(__i386__)
    if (use_fma()) {
        attention_f32_transposed_fma(query, keys_t, values, value_stride, 0, n_positions, head_dim, scale, 0.0f, out, scratch);
        return;
    }
#endif
    slm_attention_head_f32_transposed_generic(query, keys_t, values, value_stride, n_positions, head_dim, scale, out, scratch);
}

void slm_attention_head_f32_window(const float *query, const float *keys_t, const float *values,
                                   int64_t value_stride, int64_t begin, int64_t n_positions, int64_t head_dim,
                                   float scale, float softcap, float *out, void *scratch) {
#if defined(__x86_64__) || defined(__i386__)
    if (use_fma()) {
        attention_f32_transposed_fma(query, keys_t, values, value_stride, begin, n_positions, head_dim, scale, softcap,
                                     out, scratch);
        return;
    }
#endif
    slm_attention_head_f32_window_generic(query, keys_t, values, value_stride, begin, n_positions, head_dim, scale,
                                          softcap, out, scratch);
}

void slm_attention_head(const float *query, const uint16_t *keys, int64_t key_stride,
                        const uint16_t *values, int64_t value_stride, int64_t n_positions,
                        int64_t head_dim, float scale, int mode, float *out, void *scratch) {
#if defined(__x86_64__) || defined(__i386__)
    if (use_fma()) {
        slm_attention_head_fma(query, keys, key_stride, values, value_stride, n_positions, head_dim, scale, mode, out, scratch);
        return;
    }
#endif
    slm_attention_head_generic(query, keys, key_stride, values, value_stride, n_positions, head_dim, scale, mode, out, scratch);
}
