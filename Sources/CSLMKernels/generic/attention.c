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
// Every multiply-add is fused (fmaf), as vector code does; the same source (attention_body.h) is
// compiled once generic (here) and once for AVX2+FMA (x86/attention_avx2.c), where fmaf is one
// instruction. The slm_attention_* entry points choose between them in dispatch.c.
#include "attention_body.h"

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

void slm_attention_head_f32_window_generic(const float *query, const float *keys_t, const float *values,
                                           int64_t value_stride, int64_t begin, int64_t n_positions,
                                           int64_t head_dim, float scale, float softcap, float *out, void *scratch) {
    attention_f32_transposed(query, keys_t, values, value_stride, begin, n_positions, head_dim, scale, softcap, out,
                             (float *)scratch);
}

void slm_attention_head_group_f32_window_generic(const float *queries, int64_t n_heads, const float *keys_t,
                                                 const float *values, int64_t value_stride, int64_t begin,
                                                 int64_t n_positions, int64_t head_dim, float scale, float softcap,
                                                 float *out, void *scratch) {
    attention_heads_f32_transposed(queries, n_heads, keys_t, values, value_stride, begin, n_positions, head_dim, scale,
                                   softcap, out, scratch);
}

size_t slm_attention_group_scratch_bytes(int64_t head_dim, int64_t n_heads) {
    // Per head: its F32 accumulator, one tile's weights, its running max and sum.
    const size_t group = (size_t)n_heads * ((size_t)head_dim + ATTENTION_TILE + 2) * sizeof(float) + 64;
    const size_t single = slm_attention_scratch_bytes(head_dim);
    return group > single ? group : single;
}

void slm_attention_head_f32_transposed_generic(const float *query, const float *keys_t, const float *values,
                                               int64_t value_stride, int64_t n_positions, int64_t head_dim,
                                               float scale, float *out, void *scratch) {
    attention_f32_transposed(query, keys_t, values, value_stride, 0, n_positions, head_dim, scale, 0.0f, out,
                             (float *)scratch);
}

size_t slm_attention_scratch_bytes(int64_t head_dim) {
    // F32 accumulator, or F16 query + F16 accumulator; the typed mode: query, accumulator and one
    // dequantized value row. The SIMD F32 kernels run one head as a group of one (accumulator, a
    // tile's weights, max and sum), which is more than those three parts for heads below 33.
    const size_t typed = 3 * typed_scratch_part(head_dim) + 64;
    const size_t group_of_one = ((size_t)head_dim + ATTENTION_TILE + 2) * sizeof(float) + 64;
    return typed > group_of_one ? typed : group_of_one;
}

static float f16_dot_generic(const uint16_t *a, const uint16_t *b, int64_t n) { return dot_f16_f16(a, b, n); }

// Quantized keys are dotted with the query by slm_kv_key_dot_kernel, the kernel this CPU runs
// (scalar under slm_set_force_generic): it has its own twins, and the typed twins then differ in
// nothing but their F16 steps, so they agree bit for bit.
void slm_attention_head_typed_generic(const float *query, int key_type, const void *keys, size_t key_row_bytes,
                                      int value_type, const void *values, size_t value_row_bytes, int64_t begin,
                                      int64_t end, int64_t head_dim, float scale, float softcap, float *out,
                                      void *scratch) {
    attention_typed(query, key_type, (const uint8_t *)keys, key_row_bytes, value_type, (const uint8_t *)values,
                    value_row_bytes, begin, end, head_dim, scale, softcap, out, scratch,
                    slm_kv_key_dot_kernel(key_type), f16_dot_generic,
                    f16_update);
}

void slm_attention_head_generic(const float *query, const uint16_t *keys, int64_t key_stride,
                                const uint16_t *values, int64_t value_stride, int64_t n_positions,
                                int64_t head_dim, float scale, int mode, float *out, void *scratch) {
    if (mode == SLM_ATTENTION_F16_ACCUMULATE) {
        attention_f16_accumulate(query, keys, key_stride, values, value_stride, 0, n_positions, head_dim, scale, 0.0f, out, NULL, scratch,
                                 dot_f16_f16, f16_update);
    } else {
        attention_f32(query, keys, key_stride, values, value_stride, n_positions, head_dim, scale, out, scratch);
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
    attention_f16_accumulate(query, keys, key_stride, values, value_stride, begin, end, head_dim, scale, softcap, NULL, partial, scratch,
                             dot_f16_f16, f16_update);
}

void slm_attention_merge_generic(const float *partials, int64_t count, int64_t head_dim, float *out) {
    merge_partials(partials, count, head_dim, out);
}

void slm_attention_partial(const float *query, const uint16_t *keys, int64_t key_stride,
                           const uint16_t *values, int64_t value_stride, int64_t begin, int64_t end,
                           int64_t head_dim, float scale, float *partial, void *scratch) {
    slm_attention_partial_capped(query, keys, key_stride, values, value_stride, begin, end, head_dim, scale, 0.0f,
                                 partial, scratch);
}
