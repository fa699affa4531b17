// Attention (generic/attention_body.h) in NEON vectors for aarch64, chosen by
// generic/dispatch.c. GCC and clang leave the portable loops scalar here: the F32 mode's scores
// are chains over the head with a stride of 64 floats, and the F16 mode converts every element
// in software. So prompts, decode and split decode all spent their attention in scalar code.
// - F32 mode (prompt batches over transposed keys): the one-head and KV-group entry points.
// - F16 mode (decode, short prompts, the split decode's partials, quantized caches' F16 steps).
//
// Same operations in the same order as the portable code, four lanes at a time: each score is one
// fused multiply-add chain (vfmaq is one rounding, as fmaf), the softmax is the portable exp
// approximation and fold, and each accumulator element is one chain over the positions.
// Tests/CKernelTests/kernel_twins.c checks the results against the generic twins bit for bit
// under qemu.
#include "arch.h"

#if SLM_ARCH_ARM64
#include <arm_neon.h>
#include <math.h>

#include "generic/attention_body.h"
#include "neon_common.h"

// tile_softmax with eight weights per step, folded as the portable code folds them: lane l + 4
// onto lane l, then (0 + 2) + (1 + 3).
static inline void tile_softmax_neon(float *weights, float tile_max, float *max_io, float *sum_io, float *acc,
                                     int64_t head_dim) {
    const float new_max = raise_running_max(tile_max, max_io, sum_io, acc, head_dim);
    const float32x4_t max4 = vdupq_n_f32(new_max);
    double tile_sum = 0.0;
    for (int64_t t = 0; t < ATTENTION_TILE; t += 8) {
        const float32x4_t lo = exp_approx_neon(vsubq_f32(vld1q_f32(weights + t), max4));
        const float32x4_t hi = exp_approx_neon(vsubq_f32(vld1q_f32(weights + t + 4), max4));
        vst1q_f32(weights + t, lo);
        vst1q_f32(weights + t + 4, hi);
        const float32x4_t h = vaddq_f32(hi, lo);
        const float32x2_t pair = vadd_f32(vget_low_f32(h), vget_high_f32(h));
        tile_sum += (double)(vget_lane_f32(pair, 0) + vget_lane_f32(pair, 1));
    }
    *sum_io = (float)((double)*sum_io + tile_sum);
}

// A tile's 64 scores for one head: sixteen chains of four lanes in flight.
static inline void tile_scores_neon(const float *query, const float *kt, int64_t head_dim, float scale,
                                    float *weights) {
    float32x4_t s[16];
    for (int j = 0; j < 16; j++) s[j] = vdupq_n_f32(0.0f);
    for (int64_t d = 0; d < head_dim; d++) {
        const float q = query[d];
        const float *k = kt + d * ATTENTION_TILE;
        for (int j = 0; j < 16; j++) s[j] = vfmaq_n_f32(s[j], vld1q_f32(k + 4 * j), q);
    }
    for (int j = 0; j < 16; j++) vst1q_f32(weights + 4 * j, vmulq_n_f32(s[j], scale));
}

// Two heads' scores, 32 positions at a time: each key vector loaded once feeds both heads.
static inline void tile_scores_pair_neon(const float *query0, const float *query1, const float *kt, int64_t head_dim,
                                         float scale, float *weights0, float *weights1) {
    for (int half = 0; half < ATTENTION_TILE; half += 32) {
        float32x4_t s0[8], s1[8];
        for (int j = 0; j < 8; j++) s0[j] = s1[j] = vdupq_n_f32(0.0f);
        for (int64_t d = 0; d < head_dim; d++) {
            const float q0 = query0[d], q1 = query1[d];
            const float *k = kt + d * ATTENTION_TILE + half;
            for (int j = 0; j < 8; j++) {
                const float32x4_t key = vld1q_f32(k + 4 * j);
                s0[j] = vfmaq_n_f32(s0[j], key, q0);
                s1[j] = vfmaq_n_f32(s1[j], key, q1);
            }
        }
        for (int j = 0; j < 8; j++) {
            vst1q_f32(weights0 + half + 4 * j, vmulq_n_f32(s0[j], scale));
            vst1q_f32(weights1 + half + 4 * j, vmulq_n_f32(s1[j], scale));
        }
    }
}

// Soft-capping, masking of positions outside [first, count) and the tile's max, as the portable
// loop does them.
static inline float tile_mask(float *weights, int64_t first, int64_t count, float softcap) {
    float tile_max = -INFINITY;
    for (int64_t t = 0; t < ATTENTION_TILE; t++) {
        if (t < first || t >= count) {
            weights[t] = -INFINITY;
        } else if (softcap != 0.0f) {
            weights[t] = softcap * tanhf(weights[t]);
        }
        tile_max = weights[t] > tile_max ? weights[t] : tile_max;
    }
    return tile_max;
}

// acc[d] += weights[p] · values[p][d] for p in [first, count): 64 elements of one head, or 32 of
// two heads, in registers across the positions; the rest four at a time through memory.
static inline void tile_accumulate_neon(const float *weights, const float *values, int64_t value_stride,
                                        int64_t first, int64_t count, int64_t head_dim, float *acc) {
    int64_t c = 0;
    for (; c + 64 <= head_dim; c += 64) {
        float32x4_t a[16];
        for (int j = 0; j < 16; j++) a[j] = vld1q_f32(acc + c + 4 * j);
        for (int64_t p = first; p < count; p++) {
            const float *v = values + p * value_stride + c;
            const float w = weights[p];
            for (int j = 0; j < 16; j++) a[j] = vfmaq_n_f32(a[j], vld1q_f32(v + 4 * j), w);
        }
        for (int j = 0; j < 16; j++) vst1q_f32(acc + c + 4 * j, a[j]);
    }
    for (int64_t p = first; c < head_dim && p < count; p++) {
        const float *v = values + p * value_stride;
        const float w = weights[p];
        for (int64_t d = c; d < head_dim; d += 4) vst1q_f32(acc + d, vfmaq_n_f32(vld1q_f32(acc + d), vld1q_f32(v + d), w));
    }
}

static inline void tile_accumulate_pair_neon(const float *weights0, const float *weights1, const float *values,
                                             int64_t value_stride, int64_t first, int64_t count, int64_t head_dim,
                                             float *acc0, float *acc1) {
    int64_t c = 0;
    for (; c + 32 <= head_dim; c += 32) {
        float32x4_t a0[8], a1[8];
        for (int j = 0; j < 8; j++) {
            a0[j] = vld1q_f32(acc0 + c + 4 * j);
            a1[j] = vld1q_f32(acc1 + c + 4 * j);
        }
        for (int64_t p = first; p < count; p++) {
            const float *v = values + p * value_stride + c;
            const float w0 = weights0[p], w1 = weights1[p];
            for (int j = 0; j < 8; j++) {
                const float32x4_t value = vld1q_f32(v + 4 * j);
                a0[j] = vfmaq_n_f32(a0[j], value, w0);
                a1[j] = vfmaq_n_f32(a1[j], value, w1);
            }
        }
        for (int j = 0; j < 8; j++) {
            vst1q_f32(acc0 + c + 4 * j, a0[j]);
            vst1q_f32(acc1 + c + 4 * j, a1[j]);
        }
    }
    if (c < head_dim) {
        tile_accumulate_neon(weights0, values + c, value_stride, first, count, head_dim - c, acc0 + c);
        tile_accumulate_neon(weights1, values + c, value_stride, first, count, head_dim - c, acc1 + c);
    }
}

// The F32 mode through the group body (generic/attention_body.h) with the steps above; head sizes
// that are not multiples of 4 run the portable code, head by head.
void slm_attention_head_group_f32_window_neon(const float *queries, int64_t n_heads, const float *keys_t,
                                              const float *values, int64_t value_stride, int64_t begin,
                                              int64_t n_positions, int64_t head_dim, float scale, float softcap,
                                              float *out, void *scratch) {
    if (head_dim % 4 != 0) {
        attention_heads_f32_transposed(queries, n_heads, keys_t, values, value_stride, begin, n_positions, head_dim,
                                       scale, softcap, out, scratch);
        return;
    }
    attention_group_f32(queries, n_heads, keys_t, values, value_stride, begin, n_positions, head_dim, scale, softcap, out,
                        scratch, tile_scores_neon, tile_scores_pair_neon, tile_mask, tile_softmax_neon,
                        tile_accumulate_neon, tile_accumulate_pair_neon);
}

// ---- The F16 mode (decode, short prompts, split decode): keys, values and accumulator in F16 ----
//
// The portable code converts F16 in software, one element at a time; NEON's FCVTL / FCVTN convert
// four at a time with the same results (F16 to F32 is exact; F32 to F16 rounds to nearest even,
// the default mode, subnormals kept). Same steps and order as generic/attention_body.h.

static inline float32x4_t load_f16x4(const uint16_t *p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }
static inline void store_f16x4(uint16_t *p, float32x4_t x) { vst1_u16(p, vreinterpret_u16_f16(vcvt_f16_f32(x))); }

// dot_f16_f16 for n a multiple of 32: its 32 strided partial sums as eight vectors, folded as it
// folds them (lanes 16..31 onto 0..15, 8..15 onto 0..7, 4..7 onto 0..3, then (0 + 1) + (2 + 3)).
static inline float dot_f16_f16_neon(const uint16_t *a, const uint16_t *b, int64_t n) {
    float32x4_t acc[8];
    for (int j = 0; j < 8; j++) acc[j] = vdupq_n_f32(0.0f);
    for (int64_t i = 0; i < n; i += 32) {
        for (int j = 0; j < 8; j++) acc[j] = vfmaq_f32(acc[j], load_f16x4(a + i + 4 * j), load_f16x4(b + i + 4 * j));
    }
    for (int j = 0; j < 4; j++) acc[j] = vaddq_f32(acc[j], acc[j + 4]);
    acc[0] = vaddq_f32(acc[0], acc[2]);
    acc[1] = vaddq_f32(acc[1], acc[3]);
    const float32x4_t t = vaddq_f32(acc[0], acc[1]);
    const float32x2_t pair = vpadd_f32(vget_low_f32(t), vget_high_f32(t));
    return (float)(double)(vget_lane_f32(pair, 0) + vget_lane_f32(pair, 1));
}

// acc16 = f16(acc16 · rescale) when `rescaled`, then acc16 = f16(fma(v, weight, acc16)).
static inline void f16_update_neon(uint16_t *acc16, const uint16_t *v, int rescaled, float rescale, float weight,
                                   int64_t n) {
    if (rescaled) {
        for (int64_t d = 0; d < n; d += 4) store_f16x4(acc16 + d, vmulq_n_f32(load_f16x4(acc16 + d), rescale));
    }
    for (int64_t d = 0; d < n; d += 4) {
        store_f16x4(acc16 + d, vfmaq_n_f32(load_f16x4(acc16 + d), load_f16x4(v + d), weight));
    }
}

void slm_attention_head_neon(const float *query, const uint16_t *keys, int64_t key_stride, const uint16_t *values,
                             int64_t value_stride, int64_t n_positions, int64_t head_dim, float scale, int mode,
                             float *out, void *scratch) {
    if (mode == SLM_ATTENTION_F16_ACCUMULATE && head_dim % 32 == 0) {
        attention_f16_accumulate(query, keys, key_stride, values, value_stride, 0, n_positions, head_dim, scale, 0.0f, out,
                                 NULL, scratch, dot_f16_f16_neon, f16_update_neon);
    } else if (mode == SLM_ATTENTION_F16_ACCUMULATE) {
        attention_f16_accumulate(query, keys, key_stride, values, value_stride, 0, n_positions, head_dim, scale, 0.0f, out,
                                 NULL, scratch, dot_f16_f16, f16_update);
    } else {
        attention_f32(query, keys, key_stride, values, value_stride, n_positions, head_dim, scale, out, scratch);
    }
}

void slm_attention_partial_capped_neon(const float *query, const uint16_t *keys, int64_t key_stride,
                                       const uint16_t *values, int64_t value_stride, int64_t begin, int64_t end,
                                       int64_t head_dim, float scale, float softcap, float *partial, void *scratch) {
    if (head_dim % 32 == 0) {
        attention_f16_accumulate(query, keys, key_stride, values, value_stride, begin, end, head_dim, scale, softcap, NULL,
                                 partial, scratch, dot_f16_f16_neon, f16_update_neon);
        return;
    }
    attention_f16_accumulate(query, keys, key_stride, values, value_stride, begin, end, head_dim, scale, softcap, NULL,
                             partial, scratch, dot_f16_f16, f16_update);
}

// The typed body (quantized K/V caches) with the F16 steps in NEON (head sizes there are whole
// 32-element blocks) and the quantized keys dotted by this CPU's kernel, as on x86.
void slm_attention_head_typed_neon(const float *query, int key_type, const void *keys, size_t key_row_bytes,
                                   int value_type, const void *values, size_t value_row_bytes, int64_t begin,
                                   int64_t end, int64_t head_dim, float scale, float softcap, float *out, void *scratch) {
    if (head_dim % 32 != 0) {
        attention_typed(query, key_type, (const uint8_t *)keys, key_row_bytes, value_type, (const uint8_t *)values,
                        value_row_bytes, begin, end, head_dim, scale, softcap, out, scratch,
                        slm_kv_key_dot_kernel(key_type), dot_f16_f16, f16_update);
        return;
    }
    attention_typed(query, key_type, (const uint8_t *)keys, key_row_bytes, value_type, (const uint8_t *)values,
                    value_row_bytes, begin, end, head_dim, scale, softcap, out, scratch,
                    slm_kv_key_dot_kernel(key_type), dot_f16_f16_neon, f16_update_neon);
}

// One head: a group of one (slm_attention_scratch_bytes covers that).
void slm_attention_head_f32_window_neon(const float *query, const float *keys_t, const float *values,
                                        int64_t value_stride, int64_t begin, int64_t n_positions, int64_t head_dim,
                                        float scale, float softcap, float *out, void *scratch) {
    slm_attention_head_group_f32_window_neon(query, 1, keys_t, values, value_stride, begin, n_positions, head_dim, scale,
                                             softcap, out, scratch);
}
#endif
