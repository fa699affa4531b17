// The attention algorithm of attention.c (see there for its two numeric modes) as inline
// functions, shared by the generic twins (attention.c) and their AVX2+FMA build
// (x86/attention_avx2.c): one source, so both take the same operations in the same order.
#ifndef SLM_ATTENTION_BODY_H
#define SLM_ATTENTION_BODY_H

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

// One position's score s into the F16 mode's running max: when s raises it, returns 1 with the
// factor the accumulator and sum are rescaled by (the position's own weight is then 1); else
// returns 0 with the position's weight. Every build's F16 loop takes this step, libm's expf.
SLM_INLINE int softmax_step(float s, float *max_score, float *rescale, float *weight) {
    *rescale = 1.0f;
    *weight = 1.0f;
    if (s > *max_score) {
        *rescale = expf(*max_score - s);
        *max_score = s;
        return 1;
    }
    *weight = expf(s - *max_score);
    return 0;
}

// The two F16 steps a build supplies (scalar here, vectors in x86/attention_avx2.c and
// arm/attention_neon.c); the F16 and typed bodies take them as constant arguments, which inlining
// turns into direct code.
typedef float (*attention_f16_dot_fn)(const uint16_t *a, const uint16_t *b, int64_t n);
// acc16 = f16(acc16 · rescale) when `rescaled`, then acc16 = f16(fma(v, weight, acc16)).
typedef void (*attention_f16_update_fn)(uint16_t *acc16, const uint16_t *v, int rescaled, float rescale, float weight,
                                        int64_t n);

SLM_INLINE void f16_update(uint16_t *acc16, const uint16_t *v, int rescaled, float rescale, float weight, int64_t n) {
    if (rescaled) {
        for (int64_t d = 0; d < n; d++) acc16[d] = slm_f2h(slm_h2f(acc16[d]) * rescale);
    }
    for (int64_t d = 0; d < n; d++) acc16[d] = slm_f2h(fmaf(slm_h2f(v[d]), weight, slm_h2f(acc16[d])));
}

// The F16 mode over positions [begin, end): query rounded to F16, running (max, sum, F16
// accumulator), then the output row or the partial (max, sum, accumulator as floats).
SLM_INLINE void attention_f16_accumulate(const float *query, const uint16_t *keys, int64_t key_stride,
                                         const uint16_t *values, int64_t value_stride, int64_t begin, int64_t end,
                                         int64_t head_dim, float scale, float softcap, float *out, float *partial,
                                         void *scratch, attention_f16_dot_fn f16_dot,
                                         attention_f16_update_fn update_f16) {
    uint16_t *q16 = (uint16_t *)scratch;
    uint16_t *acc16 = q16 + head_dim;
    float max_score = -INFINITY, sum = 0.0f;
    for (int64_t d = 0; d < head_dim; d++) {
        q16[d] = slm_f2h(query[d]);
        acc16[d] = 0;
    }
    for (int64_t p = begin; p < end; p++) {
        float s = f16_dot(keys + p * key_stride, q16, head_dim) * scale;
        if (softcap != 0.0f) s = softcap * tanhf(s);
        float rescale, weight;
        const int rescaled = softmax_step(s, &max_score, &rescale, &weight);
        update_f16(acc16, values + p * value_stride, rescaled, rescale, weight, head_dim);
        sum = fmaf(sum, rescale, weight);
    }
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

// ---- Typed caches (slm_attention_head_typed): K and V rows F16, Q8_0 or Q4_0 ----

// One value row of a quantized cache as floats, as ggml's reference dequantizers give it.
SLM_INLINE void dequantize_value_row(int type, const uint8_t *row, float *SLM_RESTRICT dst, int64_t n) {
    if (type == SLM_TYPE_Q8_0) {
        const slm_block_q8_0 *b = (const slm_block_q8_0 *)row;
        for (int64_t i = 0; i < n / 32; i++) {
            const float d = slm_h2f(b[i].d);
            for (int j = 0; j < 32; j++) dst[i * 32 + j] = (float)b[i].qs[j] * d;
        }
        return;
    }
    const slm_block_q4_0 *b = (const slm_block_q4_0 *)row;
    for (int64_t i = 0; i < n / 32; i++) {
        const float d = slm_h2f(b[i].d);
        for (int j = 0; j < 16; j++) {
            dst[i * 32 + j] = (float)((b[i].qs[j] & 0x0F) - 8) * d;
            dst[i * 32 + 16 + j] = (float)((b[i].qs[j] >> 4) - 8) * d;
        }
    }
}

// Scratch of the typed mode, in 64-byte-aligned parts: the query (F16, or Q8_0 blocks), the
// accumulator (F16 or F32) and one dequantized value row.
SLM_INLINE size_t typed_scratch_part(int64_t head_dim) { return ((size_t)head_dim * 4 + 63) / 64 * 64; }

SLM_INLINE void attention_typed(const float *query, int key_type, const uint8_t *keys, size_t key_row_bytes,
                                int value_type, const uint8_t *values, size_t value_row_bytes, int64_t begin,
                                int64_t end, int64_t head_dim, float scale, float softcap, float *out, void *scratch,
                                slm_vec_dot_fn quantized_key_dot, attention_f16_dot_fn f16_dot,
                                attention_f16_update_fn update_f16) {
    uint8_t *parts = (uint8_t *)scratch;
    const size_t part = typed_scratch_part(head_dim);
    void *q = parts;
    uint16_t *acc16 = (uint16_t *)(parts + part);
    float *acc = (float *)(parts + part);
    float *v32 = (float *)(parts + 2 * part);
    const int f16_keys = key_type == SLM_TYPE_F16, f16_values = value_type == SLM_TYPE_F16;
    // ggml converts the query to the keys' dot format once per head.
    if (f16_keys) {
        for (int64_t d = 0; d < head_dim; d++) ((uint16_t *)q)[d] = slm_f2h(query[d]);
    } else {
        slm_quantize_row(SLM_TYPE_Q8_0, query, q, head_dim);
    }
    for (int64_t d = 0; d < head_dim; d++) {
        if (f16_values) acc16[d] = 0;
        else acc[d] = 0.0f;
    }
    float max_score = -INFINITY, sum = 0.0f;
    for (int64_t p = begin; p < end; p++) {
        const uint8_t *k = keys + (size_t)p * key_row_bytes;
        const uint8_t *v = values + (size_t)p * value_row_bytes;
        float s = f16_keys ? f16_dot((const uint16_t *)k, (const uint16_t *)q, head_dim)
                           : quantized_key_dot(head_dim, k, q);
        s *= scale;
        if (softcap != 0.0f) s = softcap * tanhf(s);
        float rescale, weight;
        const int rescaled = softmax_step(s, &max_score, &rescale, &weight);
        if (f16_values) {
            update_f16(acc16, (const uint16_t *)v, rescaled, rescale, weight, head_dim);
        } else {
            if (rescaled) {
                for (int64_t d = 0; d < head_dim; d++) acc[d] *= rescale;
            }
            dequantize_value_row(value_type, v, v32, head_dim);
            for (int64_t d = 0; d < head_dim; d++) acc[d] = fmaf(v32[d], weight, acc[d]);
        }
        sum = fmaf(sum, rescale, weight);
    }
    const float inv = sum == 0.0f ? 0.0f : 1.0f / sum;
    for (int64_t d = 0; d < head_dim; d++) out[d] = (f16_values ? slm_h2f(acc16[d]) : acc[d]) * inv;
}

// attention_f32_transposed head after head: the generic group twin, and the SIMD builds' path for
// head sizes their vectors do not divide.
SLM_INLINE void attention_heads_f32_transposed(const float *queries, int64_t n_heads, const float *keys_t,
                                               const float *values, int64_t value_stride, int64_t begin,
                                               int64_t n_positions, int64_t head_dim, float scale, float softcap,
                                               float *out, void *scratch) {
    for (int64_t i = 0; i < n_heads; i++) {
        attention_f32_transposed(queries + i * head_dim, keys_t, values, value_stride, begin, n_positions, head_dim,
                                 scale, softcap, out + i * head_dim, (float *)scratch);
    }
}

// ---- The F32 mode for a KV group's heads at once (x86/attention_avx2.c, arm/attention_neon.c) ----

// A build's vector steps for one 64-position tile (each the portable loop's operations in its
// order, per head): scores of one head or of two heads sharing each key load; masking of positions
// outside [first, count) (soft-capping the rest) returning the tile's max; the softmax into the
// running max and sum; the value sums of one head or of two sharing each value load.
typedef void (*tile_scores_fn)(const float *query, const float *kt, int64_t head_dim, float scale, float *weights);
typedef void (*tile_scores_pair_fn)(const float *query0, const float *query1, const float *kt, int64_t head_dim,
                                    float scale, float *weights0, float *weights1);
typedef float (*tile_mask_fn)(float *weights, int64_t first, int64_t count, float softcap);
typedef void (*tile_softmax_fn)(float *weights, float tile_max, float *max_io, float *sum_io, float *acc,
                                int64_t head_dim);
typedef void (*tile_accumulate_fn)(const float *weights, const float *values, int64_t value_stride, int64_t first,
                                   int64_t count, int64_t head_dim, float *acc);
typedef void (*tile_accumulate_pair_fn)(const float *weights0, const float *weights1, const float *values,
                                        int64_t value_stride, int64_t first, int64_t count, int64_t head_dim,
                                        float *acc0, float *acc1);

// attention_f32_transposed for n_heads heads that share keys, values and the visible range: the
// heads go through each tile together (the tile is read from memory once for the group), two at a
// time through the pair steps. queries and out: the heads' rows side by side; scratch: the heads'
// accumulators, tile weights, running maxima and sums (slm_attention_group_scratch_bytes). The
// steps are constant arguments, which inlining turns into direct code.
SLM_INLINE void attention_group_f32(const float *queries, int64_t n_heads, const float *keys_t, const float *values,
                                    int64_t value_stride, int64_t begin, int64_t n_positions, int64_t head_dim,
                                    float scale, float softcap, float *out, void *scratch, tile_scores_fn scores,
                                    tile_scores_pair_fn scores_pair, tile_mask_fn mask, tile_softmax_fn softmax,
                                    tile_accumulate_fn accumulate, tile_accumulate_pair_fn accumulate_pair) {
    float *acc = (float *)scratch;                                                      // (n_heads, head_dim)
    float *weights = acc + n_heads * head_dim;                                          // (n_heads, ATTENTION_TILE)
    float *max_score = weights + n_heads * ATTENTION_TILE, *sum = max_score + n_heads;  // (n_heads) each
    for (int64_t i = 0; i < n_heads; i++) max_score[i] = -INFINITY, sum[i] = 0.0f;
    for (int64_t d = 0; d < n_heads * head_dim; d++) acc[d] = 0.0f;
    for (int64_t tile = begin / ATTENTION_TILE * ATTENTION_TILE; tile < n_positions; tile += ATTENTION_TILE) {
        const int64_t count = n_positions - tile < ATTENTION_TILE ? n_positions - tile : ATTENTION_TILE;
        const int64_t first = begin > tile ? begin - tile : 0;
        const float *kt = keys_t + (tile / ATTENTION_TILE) * head_dim * ATTENTION_TILE;
        const float *v = values + tile * value_stride;
        int64_t i = 0;
        for (; i + 2 <= n_heads; i += 2) {
            scores_pair(queries + i * head_dim, queries + (i + 1) * head_dim, kt, head_dim, scale,
                        weights + i * ATTENTION_TILE, weights + (i + 1) * ATTENTION_TILE);
        }
        if (i < n_heads) scores(queries + i * head_dim, kt, head_dim, scale, weights + i * ATTENTION_TILE);
        for (i = 0; i < n_heads; i++) {
            float *w = weights + i * ATTENTION_TILE;
            softmax(w, mask(w, first, count, softcap), &max_score[i], &sum[i], acc + i * head_dim, head_dim);
        }
        for (i = 0; i + 2 <= n_heads; i += 2) {
            accumulate_pair(weights + i * ATTENTION_TILE, weights + (i + 1) * ATTENTION_TILE, v, value_stride, first,
                            count, head_dim, acc + i * head_dim, acc + (i + 1) * head_dim);
        }
        if (i < n_heads) accumulate(weights + i * ATTENTION_TILE, v, value_stride, first, count, head_dim, acc + i * head_dim);
    }
    for (int64_t i = 0; i < n_heads; i++) {
        const float inv = sum[i] == 0.0f ? 0.0f : 1.0f / sum[i];
        for (int64_t d = 0; d < head_dim; d++) out[i * head_dim + d] = acc[i * head_dim + d] * inv;
    }
}

#endif // SLM_ATTENTION_BODY_H
