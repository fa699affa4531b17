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

#endif // SLM_ATTENTION_BODY_H
