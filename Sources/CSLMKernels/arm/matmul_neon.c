// NEON tiles (aarch64), chosen at run time by generic/dispatch.c: decode tiles (several weight
// rows per activation load, for slm_matvec) and prompt tiles (rows x tokens, for slm_matmul) for
// Q4_0, Q4_1, Q5_0, Q8_0, Q4_K and Q6_K, built from matmul_neon_body.h for plain NEON and for
// SDOT; SMMLA (i8mm) prompt tiles for the same six types; and prompt panels (rows by any number
// of tokens, from blocks unpacked once per 64 tokens): SDOT for all six types, SMMLA for the
// 32-element ones, which the dispatch prefers for prompts (SMMLA, then SDOT), below.
//
// Every tile gives, for each (row, token), the bits of the NEON dot of that pair (dot_neon.c),
// whose scalar twin in the NEON float order is generic/dot_neon_order.c: the same integers, the
// same float operations in the same order. Tests/CKernelTests/kernel_twins.c checks each tile
// against the dot and that twin bit for bit (and against the ggml-order generic twin of
// generic/dot.c within its tolerance), under qemu for the three CPU kinds.
//
// The NEON order sums each 32-element block (each K-quant super-block) into one exact integer per
// pair before any float step, which is what SMMLA's 2 x 2 blocks of 8-byte dot products give: an
// SMMLA tile's vector holds four pairs' block sums, and its float steps are the dot's, four pairs
// per instruction, with no lane shuffles.
#include "arch.h"

#if SLM_ARCH_ARM64
#include <stddef.h>

#include "neon_common.h"

// Shapes. NEON / SDOT prompt tiles: PROMPT_ROWS x PROMPT_TOKENS, whose accumulators, one weight
// block per row and one activation block fit in the 32 vector registers (4 x 4 spilled a third of
// its loop to the stack in GCC 12's code; 2 x 4 keeps all in registers at the same instructions per
// pair). SMMLA tiles: 4 x 4, two row pairs by two token pairs. Decode tiles: DECODE_ROWS x 1.
// TILE_MAX_* bound every shape.
#define TILE_MAX_ROWS 4
#define TILE_MAX_TOKENS 4
#define PROMPT_ROWS 2
#define PROMPT_TOKENS 4
#define DECODE_ROWS 4
_Static_assert(TILE_MAX_ROWS == 4 && TILE_MAX_TOKENS == 4, "per-row and per-token values are gathered in 4-lane vectors");

// Decode tiles read their rows side by side, which the hardware prefetcher does not follow: each
// block step prefetches the next slice of the following rows (the next tile's), as the x86 decode
// tiles do. Prefetches never fault, past the matrix's end included.
typedef struct {
    const uint8_t *next;
    size_t slice;
} tile_prefetch;

static inline tile_prefetch tile_prefetch_next_rows(const uint8_t *w, size_t row_stride, int rows, int64_t nb) {
    return (tile_prefetch){w + (size_t)rows * row_stride, ((size_t)rows * row_stride + (size_t)nb - 1) / (size_t)nb};
}

static inline void tile_prefetch_step(tile_prefetch ahead, int64_t i) {
    for (size_t o = 0; o < ahead.slice; o += 64) __builtin_prefetch(ahead.next + (size_t)i * ahead.slice + o);
}

// The F16 field at p (block fields are not aligned).
static inline uint16_t tile_half(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, sizeof h);
    return h;
}

// ---- block unpackers: the signed byte values each type's dot multiplies -------------------------
// A 32-element block's values as elements 0..15 and 16..31 (plain NEON: both copies use them).
typedef void (*block32_values_fn)(const uint8_t *block, int8x16_t *lo, int8x16_t *hi);

static inline void q4_0_values(const uint8_t *block, int8x16_t *lo, int8x16_t *hi) {
    const uint8x16_t q = vld1q_u8(((const slm_block_q4_0 *)block)->qs);
    *lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0f))), vdupq_n_s8(8));
    *hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), vdupq_n_s8(8));
}

static inline void q4_1_values(const uint8_t *block, int8x16_t *lo, int8x16_t *hi) {
    const uint8x16_t q = vld1q_u8(((const slm_block_q4_1 *)block)->qs);
    *lo = vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0f)));
    *hi = vreinterpretq_s8_u8(vshrq_n_u8(q, 4));
}

static inline void q5_0_values(const uint8_t *block, int8x16_t *lo, int8x16_t *hi) {
    const slm_block_q5_0 *x = (const slm_block_q5_0 *)block;
    const uint8x16_t q = vld1q_u8(x->qs);
    uint8x16_t fifth_lo, fifth_hi;
    neon_q5_fifth_masks(x->qh, &fifth_lo, &fifth_hi);
    *lo = neon_q5_0_values(vandq_u8(q, vdupq_n_u8(0x0f)), fifth_lo);
    *hi = neon_q5_0_values(vshrq_n_u8(q, 4), fifth_hi);
}

static inline void q8_0_values(const uint8_t *block, int8x16_t *lo, int8x16_t *hi) {
    const slm_block_q8_0 *x = (const slm_block_q8_0 *)block;
    *lo = vld1q_s8(x->qs);
    *hi = vld1q_s8(x->qs + 16);
}

// 32 bytes of a Q4_K chunk: low nibbles are one sub-block (elements 0..15, 16..31), high nibbles
// the next.
static inline void q4_K_nibbles(const uint8_t *qs, int8x16_t *lo0, int8x16_t *lo1, int8x16_t *hi0, int8x16_t *hi1) {
    const uint8x16_t q0 = vld1q_u8(qs), q1 = vld1q_u8(qs + 16);
    *lo0 = vreinterpretq_s8_u8(vandq_u8(q0, vdupq_n_u8(0x0f)));
    *lo1 = vreinterpretq_s8_u8(vandq_u8(q1, vdupq_n_u8(0x0f)));
    *hi0 = vreinterpretq_s8_u8(vshrq_n_u8(q0, 4));
    *hi1 = vreinterpretq_s8_u8(vshrq_n_u8(q1, 4));
}

// Q6_K, one half at byte position p (0 or 16): element group k (elements 32k + p .. 32k + p + 15
// of the half) from ql[p] (k = 0, 2) or ql[p + 32] (k = 1, 3), low nibbles for k < 2, high ones
// after, with qh[p]'s bits 2k, 2k + 1 on top; minus 32.
static inline int8x16_t q6_K_group(const uint8_t *ql, const uint8_t *qh, int k) {
    const uint8x16_t l = vld1q_u8(ql + (k & 1) * 32), h = vld1q_u8(qh);
    const uint8x16_t low = k < 2 ? vandq_u8(l, vdupq_n_u8(0x0f)) : vshrq_n_u8(l, 4);
    uint8x16_t top;
    switch (k) {
    case 0: top = vandq_u8(h, vdupq_n_u8(0x03)); break;
    case 1: top = vandq_u8(vshrq_n_u8(h, 2), vdupq_n_u8(0x03)); break;
    case 2: top = vandq_u8(vshrq_n_u8(h, 4), vdupq_n_u8(0x03)); break;
    default: top = vshrq_n_u8(h, 6); break;
    }
    return vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(low, vshlq_n_u8(top, 4))), vdupq_n_s8(32));
}

// All four groups of a half at p.
static inline void q6_K_values(const uint8_t *ql, const uint8_t *qh, int8x16_t v[4]) {
    for (int k = 0; k < 4; ++k) v[k] = q6_K_group(ql, qh, k);
}

// The activation blocks beside a 32-element weight type: Q8_1 (d, s, qs) beside weights with a
// minimum (Q4_1), else Q8_0 (d, qs). Every tile and panel below reads them through these two.
static inline size_t act32_block_bytes(int with_min) {
    return with_min ? sizeof(slm_block_q8_1) : sizeof(slm_block_q8_0);
}

static inline size_t act32_qs_offset(int with_min) {
    return with_min ? offsetof(slm_block_q8_1, qs) : offsetof(slm_block_q8_0, qs);
}

// ---- plain NEON and SDOT copies ----
#define NEON_ATTR
#define NEON_NAME(name) name##_neon
#define neon_dot_s8 neon_dot_s8_plain
#include "matmul_neon_body.h"
#undef NEON_ATTR
#undef NEON_NAME
#undef neon_dot_s8

#define NEON_ATTR SLM_DOTPROD
#define NEON_NAME(name) name##_neon_dotprod
#define neon_dot_s8 neon_dot_s8_sdot
#include "matmul_neon_body.h"
#undef NEON_ATTR
#undef NEON_NAME
#undef neon_dot_s8

// ---- SMMLA (i8mm) prompt tiles: 4 rows x 4 tokens ---------------------------------------------
// vmmlaq_s32(acc, a, b) adds the 2 x 2 dot products of a's two 8-byte halves (rows) with b's two
// (tokens): lanes (r0, t0), (r0, t1), (r1, t0), (r1, t1). A row pair's (or token pair's) operand
// holds bytes 8k..8k+7 of both rows, one zip of their 16-byte vectors. The tile is 2 x 2 such
// pair blocks; each lane's integer is its pair's exact super-block sum, so the float steps are
// the dot's, four pairs per vector instruction.

// Lane (r, t) of a pair block's vector: row 2 rp + r, token 2 tp + t.
#define MMLA_PAIRS 2

// Operands for 16 bytes of two rows: bytes 0..7 of both, then 8..15 of both.
SLM_I8MM static inline void mmla_zip(int8x16_t a, int8x16_t b, int8x16_t *first, int8x16_t *second) {
    *first = vreinterpretq_s8_s64(vzip1q_s64(vreinterpretq_s64_s8(a), vreinterpretq_s64_s8(b)));
    *second = vreinterpretq_s8_s64(vzip2q_s64(vreinterpretq_s64_s8(a), vreinterpretq_s64_s8(b)));
}

// The 2 x 2 integer dots of 32 elements: w[0..3] and a[0..3] are zipped operands of bytes 0..31.
SLM_I8MM static inline int32x4_t mmla32(const int8x16_t w[4], const int8x16_t a[4]) {
    int32x4_t m = vmmlaq_s32(vdupq_n_s32(0), w[0], a[0]);
    m = vmmlaq_s32(m, w[1], a[1]);
    m = vmmlaq_s32(m, w[2], a[2]);
    return vmmlaq_s32(m, w[3], a[3]);
}

// Zipped operands of 32 activations at offset `at` of tokens 2 tp and 2 tp + 1.
SLM_I8MM static inline void mmla_act32(const slm_block_q8_K *const *y, int tp, int at, int8x16_t a[4]) {
    const int8_t *p0 = y[2 * tp]->qs + at, *p1 = y[2 * tp + 1]->qs + at;
    mmla_zip(vld1q_s8(p0), vld1q_s8(p1), &a[0], &a[1]);
    mmla_zip(vld1q_s8(p0 + 16), vld1q_s8(p1 + 16), &a[2], &a[3]);
}

// Lanes (r0, r0, r1, r1) of a row pair: the rows' values v0, v1.
SLM_I8MM static inline int32x4_t mmla_row_lanes(int32_t v0, int32_t v1) {
    return vcombine_s32(vdup_n_s32(v0), vdup_n_s32(v1));
}

// Lanes (t0, t1, t0, t1) of a token pair: v0, v1.
SLM_I8MM static inline float32x4_t mmla_token_lanes(float v0, float v1) {
    const float32x2_t pair = vset_lane_f32(v1, vdup_n_f32(v0), 1);
    return vcombine_f32(pair, pair);
}

// Writes a pair block's four results.
SLM_I8MM static inline void mmla_store(float32x4_t v, float *out, int64_t out_stride, int rp, int tp) {
    float lanes[4];
    vst1q_f32(lanes, v);
    for (int r = 0; r < 2; ++r) {
        for (int t = 0; t < 2; ++t) out[(2 * tp + t) * out_stride + 2 * rp + r] = lanes[2 * r + t];
    }
}

// 32-element blocks. Per block: each row pair's values zipped into four operands (elements
// 8k..8k+7 of both rows), each token pair's activations likewise; four SMMLA give the pair block's
// four exact block sums; then acc = fma(cvt(sums), d_w * d_a, acc) lane by lane, Q4_1 also
// offsets = fma(m_w, s_a, offsets): the dot's steps (dot_neon_body.h).
__attribute__((always_inline)) SLM_I8MM static inline void mmla_blocks32(
    int64_t nb, size_t block_bytes, block32_values_fn values, const int with_min, const uint8_t *w, size_t row_stride,
    const uint8_t *act, size_t act_row_bytes, const float *act_d, int64_t act_d_stride, float *out, int64_t out_stride) {
    const size_t act_block = act32_block_bytes(with_min);
    const size_t act_qs = act32_qs_offset(with_min);
    float32x4_t acc[MMLA_PAIRS][MMLA_PAIRS], offsets[MMLA_PAIRS][MMLA_PAIRS];
    for (int rp = 0; rp < MMLA_PAIRS; ++rp) {
        for (int tp = 0; tp < MMLA_PAIRS; ++tp) acc[rp][tp] = offsets[rp][tp] = vdupq_n_f32(0.0f);
    }
    for (int64_t i = 0; i < nb; ++i) {
        int8x16_t wz[MMLA_PAIRS][4];
        float32x4_t dw[MMLA_PAIRS], mw[MMLA_PAIRS];  // lanes (r0, r0, r1, r1) of a row pair
        for (int rp = 0; rp < MMLA_PAIRS; ++rp) {
            const uint8_t *b0 = w + (size_t)(2 * rp) * row_stride + (size_t)i * block_bytes;
            const uint8_t *b1 = b0 + row_stride;
            int8x16_t lo0, hi0, lo1, hi1;
            values(b0, &lo0, &hi0);
            values(b1, &lo1, &hi1);
            mmla_zip(lo0, lo1, &wz[rp][0], &wz[rp][1]);
            mmla_zip(hi0, hi1, &wz[rp][2], &wz[rp][3]);
            dw[rp] = vcombine_f32(vdup_n_f32(slm_h2f_fast(tile_half(b0))), vdup_n_f32(slm_h2f_fast(tile_half(b1))));
            if (with_min) {
                mw[rp] = vcombine_f32(vdup_n_f32(slm_h2f_fast(tile_half(b0 + 2))),
                                      vdup_n_f32(slm_h2f_fast(tile_half(b1 + 2))));
            }
        }
        const float32x4_t da = vld1q_f32(act_d + i * act_d_stride);  // tokens 0..3
        float sa[TILE_MAX_TOKENS] = {0};
        const uint8_t *ablock[TILE_MAX_TOKENS];
        for (int t = 0; t < TILE_MAX_TOKENS; ++t) {
            ablock[t] = act + (size_t)t * act_row_bytes + (size_t)i * act_block;
            if (with_min) sa[t] = slm_h2f_fast(tile_half(ablock[t] + 2));
        }
        const float32x4_t sa_all = vld1q_f32(sa);
        for (int tp = 0; tp < MMLA_PAIRS; ++tp) {
            // Lanes (t0, t1, t0, t1) of the token pair.
            const float32x4_t da_lanes = tp == 0 ? vcombine_f32(vget_low_f32(da), vget_low_f32(da))
                                                 : vcombine_f32(vget_high_f32(da), vget_high_f32(da));
            const float32x4_t sa_lanes = tp == 0 ? vcombine_f32(vget_low_f32(sa_all), vget_low_f32(sa_all))
                                                 : vcombine_f32(vget_high_f32(sa_all), vget_high_f32(sa_all));
            const int8_t *q0 = (const int8_t *)(ablock[2 * tp] + act_qs), *q1 = (const int8_t *)(ablock[2 * tp + 1] + act_qs);
            int8x16_t a[4];
            mmla_zip(vld1q_s8(q0), vld1q_s8(q1), &a[0], &a[1]);
            mmla_zip(vld1q_s8(q0 + 16), vld1q_s8(q1 + 16), &a[2], &a[3]);
            for (int rp = 0; rp < MMLA_PAIRS; ++rp) {
                acc[rp][tp] = vfmaq_f32(acc[rp][tp], vcvtq_f32_s32(mmla32(wz[rp], a)), vmulq_f32(dw[rp], da_lanes));
                if (with_min) offsets[rp][tp] = vfmaq_f32(offsets[rp][tp], mw[rp], sa_lanes);
            }
        }
    }
    for (int rp = 0; rp < MMLA_PAIRS; ++rp) {
        for (int tp = 0; tp < MMLA_PAIRS; ++tp) {
            mmla_store(with_min ? vaddq_f32(acc[rp][tp], offsets[rp][tp]) : acc[rp][tp], out, out_stride, rp, tp);
        }
    }
}

#define MMLA_TILE32(name, values, block, with_min)                                                            \
    SLM_I8MM static void mmla_##name(int64_t n, const uint8_t *w, size_t row_stride, const uint8_t *act,       \
                                     size_t act_row_bytes, const float *act_d, int64_t act_d_stride, float *out, \
                                     int64_t out_stride) {                                                     \
        mmla_blocks32(n / 32, sizeof(block), values, with_min, w, row_stride, act, act_row_bytes, act_d,     \
                      act_d_stride, out, out_stride);                                                          \
    }

MMLA_TILE32(q4_0, q4_0_values, slm_block_q4_0, 0)
MMLA_TILE32(q4_1, q4_1_values, slm_block_q4_1, 1)
MMLA_TILE32(q5_0, q5_0_values, slm_block_q5_0, 0)
MMLA_TILE32(q8_0, q8_0_values, slm_block_q8_0, 0)
#undef MMLA_TILE32

SLM_I8MM static void mmla_q4_K(int64_t n, const uint8_t *w, size_t row_stride, const uint8_t *act,
                               size_t act_row_bytes, const float *act_d, int64_t act_d_stride, float *out,
                               int64_t out_stride) {
    (void)act_d, (void)act_d_stride;
    const int64_t nb = n / SLM_QK_K;
    float32x4_t sum[MMLA_PAIRS][MMLA_PAIRS], sum_mins[MMLA_PAIRS][MMLA_PAIRS];
    for (int rp = 0; rp < MMLA_PAIRS; ++rp) {
        for (int tp = 0; tp < MMLA_PAIRS; ++tp) sum[rp][tp] = sum_mins[rp][tp] = vdupq_n_f32(0.0f);
    }
    for (int64_t i = 0; i < nb; ++i) {
        const slm_block_q4_K *x[TILE_MAX_ROWS];
        const slm_block_q8_K *y[TILE_MAX_TOKENS];
        uint8_t sc[TILE_MAX_ROWS][8], mn[TILE_MAX_ROWS][8];
        for (int r = 0; r < TILE_MAX_ROWS; ++r) {
            x[r] = (const slm_block_q4_K *)(w + (size_t)r * row_stride) + i;
            slm_unpack_k_scales(x[r]->scales, sc[r], mn[r]);
        }
        for (int t = 0; t < TILE_MAX_TOKENS; ++t) y[t] = (const slm_block_q8_K *)(act + (size_t)t * act_row_bytes) + i;
        int32x4_t isum[MMLA_PAIRS][MMLA_PAIRS];
        for (int rp = 0; rp < MMLA_PAIRS; ++rp) {
            for (int tp = 0; tp < MMLA_PAIRS; ++tp) isum[rp][tp] = vdupq_n_s32(0);
        }
        for (int c = 0; c < 4; ++c) {
            // Each row pair's chunk c, zipped before unpacking: the nibbles keep their byte places.
            int8x16_t lo[MMLA_PAIRS][4], hi[MMLA_PAIRS][4];
            for (int rp = 0; rp < MMLA_PAIRS; ++rp) {
                const uint8_t *q0 = x[2 * rp]->qs + 32 * c, *q1 = x[2 * rp + 1]->qs + 32 * c;
                int8x16_t z[4];
                mmla_zip(vld1q_s8((const int8_t *)q0), vld1q_s8((const int8_t *)q1), &z[0], &z[1]);
                mmla_zip(vld1q_s8((const int8_t *)q0 + 16), vld1q_s8((const int8_t *)q1 + 16), &z[2], &z[3]);
                for (int k = 0; k < 4; ++k) {
                    const uint8x16_t u = vreinterpretq_u8_s8(z[k]);
                    lo[rp][k] = vreinterpretq_s8_u8(vandq_u8(u, vdupq_n_u8(0x0f)));
                    hi[rp][k] = vreinterpretq_s8_u8(vshrq_n_u8(u, 4));
                }
            }
            for (int tp = 0; tp < MMLA_PAIRS; ++tp) {
                int8x16_t a_lo[4], a_hi[4];
                mmla_act32(y, tp, 64 * c, a_lo);
                mmla_act32(y, tp, 64 * c + 32, a_hi);
                for (int rp = 0; rp < MMLA_PAIRS; ++rp) {
                    const int32x4_t sc_lo = mmla_row_lanes(sc[2 * rp][2 * c], sc[2 * rp + 1][2 * c]);
                    const int32x4_t sc_hi = mmla_row_lanes(sc[2 * rp][2 * c + 1], sc[2 * rp + 1][2 * c + 1]);
                    isum[rp][tp] = vmlaq_s32(isum[rp][tp], mmla32(lo[rp], a_lo), sc_lo);
                    isum[rp][tp] = vmlaq_s32(isum[rp][tp], mmla32(hi[rp], a_hi), sc_hi);
                }
            }
        }
        // Min terms per pair as the dot makes them, gathered into the pair blocks' lanes.
        int16x8_t pairs[TILE_MAX_TOKENS];
        for (int t = 0; t < TILE_MAX_TOKENS; ++t) pairs[t] = vpaddq_s16(vld1q_s16(y[t]->bsums), vld1q_s16(y[t]->bsums + 8));
        for (int rp = 0; rp < MMLA_PAIRS; ++rp) {
            for (int tp = 0; tp < MMLA_PAIRS; ++tp) {
                int32x4_t p[4];
                for (int r = 0; r < 2; ++r) {
                    const int16x8_t mins = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(mn[2 * rp + r])));
                    for (int t = 0; t < 2; ++t) {
                        const int16x8_t bp = pairs[2 * tp + t];
                        p[2 * r + t] = vmlal_s16(vmull_s16(vget_low_s16(bp), vget_low_s16(mins)), vget_high_s16(bp),
                                                 vget_high_s16(mins));
                    }
                }
                // Lane j: the sum of p[j]'s four lanes.
                const int32x4_t min_terms = vpaddq_s32(vpaddq_s32(p[0], p[1]), vpaddq_s32(p[2], p[3]));
                const float32x4_t yd = mmla_token_lanes(y[2 * tp]->d, y[2 * tp + 1]->d);
                const float32x4_t d = vmulq_f32(vcombine_f32(vdup_n_f32(slm_h2f_fast(x[2 * rp]->d)),
                                                             vdup_n_f32(slm_h2f_fast(x[2 * rp + 1]->d))),
                                                yd);
                const float32x4_t dmin = vmulq_f32(vcombine_f32(vdup_n_f32(slm_h2f_fast(x[2 * rp]->dmin)),
                                                                vdup_n_f32(slm_h2f_fast(x[2 * rp + 1]->dmin))),
                                                   yd);
                sum[rp][tp] = vfmaq_f32(sum[rp][tp], vcvtq_f32_s32(isum[rp][tp]), d);
                sum_mins[rp][tp] = vfmaq_f32(sum_mins[rp][tp], vcvtq_f32_s32(min_terms), dmin);
            }
        }
    }
    for (int rp = 0; rp < MMLA_PAIRS; ++rp) {
        for (int tp = 0; tp < MMLA_PAIRS; ++tp) mmla_store(vsubq_f32(sum[rp][tp], sum_mins[rp][tp]), out, out_stride, rp, tp);
    }
}

SLM_I8MM static void mmla_q6_K(int64_t n, const uint8_t *w, size_t row_stride, const uint8_t *act,
                               size_t act_row_bytes, const float *act_d, int64_t act_d_stride, float *out,
                               int64_t out_stride) {
    (void)act_d, (void)act_d_stride;
    const int64_t nb = n / SLM_QK_K;
    float32x4_t sum[MMLA_PAIRS][MMLA_PAIRS];
    for (int rp = 0; rp < MMLA_PAIRS; ++rp) {
        for (int tp = 0; tp < MMLA_PAIRS; ++tp) sum[rp][tp] = vdupq_n_f32(0.0f);
    }
    for (int64_t i = 0; i < nb; ++i) {
        const slm_block_q6_K *x[TILE_MAX_ROWS];
        const slm_block_q8_K *y[TILE_MAX_TOKENS];
        for (int r = 0; r < TILE_MAX_ROWS; ++r) x[r] = (const slm_block_q6_K *)(w + (size_t)r * row_stride) + i;
        for (int t = 0; t < TILE_MAX_TOKENS; ++t) y[t] = (const slm_block_q8_K *)(act + (size_t)t * act_row_bytes) + i;
        int32x4_t isum[MMLA_PAIRS][MMLA_PAIRS];
        for (int rp = 0; rp < MMLA_PAIRS; ++rp) {
            for (int tp = 0; tp < MMLA_PAIRS; ++tp) isum[rp][tp] = vdupq_n_s32(0);
        }
        for (int half = 0; half < 2; ++half) {
            for (int p = 0; p < 32; p += 16) {
                // One group of 16 at a time (group 2k + p / 16 of the half), unpacked and zipped
                // where it is used: the whole half's values would not fit in the registers.
                for (int k = 0; k < 4; ++k) {
                    const int g = 8 * half + (32 * k + p) / 16, e = 128 * half + 32 * k + p;
                    int8x16_t wz[MMLA_PAIRS][2];
                    int32x4_t scale[MMLA_PAIRS];
                    for (int rp = 0; rp < MMLA_PAIRS; ++rp) {
                        const int8x16_t v0 = q6_K_group(x[2 * rp]->ql + 64 * half + p, x[2 * rp]->qh + 32 * half + p, k);
                        const int8x16_t v1 =
                            q6_K_group(x[2 * rp + 1]->ql + 64 * half + p, x[2 * rp + 1]->qh + 32 * half + p, k);
                        mmla_zip(v0, v1, &wz[rp][0], &wz[rp][1]);
                        scale[rp] = mmla_row_lanes(x[2 * rp]->scales[g], x[2 * rp + 1]->scales[g]);
                    }
                    for (int tp = 0; tp < MMLA_PAIRS; ++tp) {
                        int8x16_t a[2];
                        mmla_zip(vld1q_s8(y[2 * tp]->qs + e), vld1q_s8(y[2 * tp + 1]->qs + e), &a[0], &a[1]);
                        for (int rp = 0; rp < MMLA_PAIRS; ++rp) {
                            const int32x4_t m = vmmlaq_s32(vmmlaq_s32(vdupq_n_s32(0), wz[rp][0], a[0]), wz[rp][1], a[1]);
                            isum[rp][tp] = vmlaq_s32(isum[rp][tp], m, scale[rp]);
                        }
                    }
                }
            }
        }
        for (int rp = 0; rp < MMLA_PAIRS; ++rp) {
            for (int tp = 0; tp < MMLA_PAIRS; ++tp) {
                const float32x4_t yd = mmla_token_lanes(y[2 * tp]->d, y[2 * tp + 1]->d);
                const float32x4_t d = vmulq_f32(vcombine_f32(vdup_n_f32(slm_h2f_fast(x[2 * rp]->d)),
                                                             vdup_n_f32(slm_h2f_fast(x[2 * rp + 1]->d))),
                                                yd);
                sum[rp][tp] = vfmaq_f32(sum[rp][tp], vcvtq_f32_s32(isum[rp][tp]), d);
            }
        }
    }
    for (int rp = 0; rp < MMLA_PAIRS; ++rp) {
        for (int tp = 0; tp < MMLA_PAIRS; ++tp) mmla_store(sum[rp][tp], out, out_stride, rp, tp);
    }
}

// ---- SDOT prompt panels (32-element types): 4 rows by any number of tokens -------------------
// What llama.cpp's load-time repacking buys (its 4-row interleaved Q4_0 / Q8_0 layouts for SDOT),
// without a second copy of the weights: a chunk of the 4 rows' blocks is unpacked and turned once
// per PANEL_TOKEN_CHUNK tokens into a buffer in L1 (group k of a block: lane r = values 4k..4k+3
// of row r), and each token's block then takes eight SDOTs by element (activation bytes 4k..4k+3
// from its two registers, no broadcast) whose lanes are the 4 rows' exact block sums: no
// pairwise-add tree, and the float steps (convert, d_w * d_a, FMA; Q4_1's m_w * s_a chain) run
// for the 4 rows in one instruction each. Each pair gets its dot's integers and float steps in
// its dot's order (dot_neon_body.h), so the same bits. The next rows' blocks are prefetched while
// a chunk computes, as on x86.
#define PANEL_ROWS_NEON 4
#define PANEL_BLOCKS_NEON 32
#define PANEL_TOKEN_CHUNK_NEON 64

// A chunk of the panel's blocks as the product loop reads them: [block][k] the turned groups,
// [block] the rows' d_w (and Q4_1's m_w) as 4-lane vectors.
typedef struct {
    int8x16_t group[PANEL_BLOCKS_NEON][8];
    float32x4_t dw[PANEL_BLOCKS_NEON], mw[PANEL_BLOCKS_NEON];
} neon_panel_chunk;

// A panel of `rows` rows prefetches blocks [c0, c1) of the next `rows` rows (the caller's next
// panel) while it computes on its own: without it the next chunk's unpacking waits on memory.
static inline void panel_prefetch_next_rows(const uint8_t *w, size_t row_stride, int rows, int64_t c0, int64_t c1,
                                            size_t block_bytes) {
    for (int r = 0; r < rows; ++r) {
        const uint8_t *next = w + (size_t)(rows + r) * row_stride + (size_t)c0 * block_bytes;
        const uint8_t *end = w + (size_t)(rows + r) * row_stride + (size_t)c1 * block_bytes;
        for (; next < end; next += 64) __builtin_prefetch(next);
    }
}

// Four rows' 16 values (one vector each) turned: group[k] lane r = bytes 4k..4k+3 of row r.
static inline void neon_panel_turn(const int8x16_t row[4], int8x16_t group[4]) {
    const int32x4_t t0 = vtrn1q_s32(vreinterpretq_s32_s8(row[0]), vreinterpretq_s32_s8(row[1]));  // words 0, 2
    const int32x4_t t1 = vtrn2q_s32(vreinterpretq_s32_s8(row[0]), vreinterpretq_s32_s8(row[1]));  // words 1, 3
    const int32x4_t t2 = vtrn1q_s32(vreinterpretq_s32_s8(row[2]), vreinterpretq_s32_s8(row[3]));
    const int32x4_t t3 = vtrn2q_s32(vreinterpretq_s32_s8(row[2]), vreinterpretq_s32_s8(row[3]));
    group[0] = vreinterpretq_s8_s64(vtrn1q_s64(vreinterpretq_s64_s32(t0), vreinterpretq_s64_s32(t2)));
    group[1] = vreinterpretq_s8_s64(vtrn1q_s64(vreinterpretq_s64_s32(t1), vreinterpretq_s64_s32(t3)));
    group[2] = vreinterpretq_s8_s64(vtrn2q_s64(vreinterpretq_s64_s32(t0), vreinterpretq_s64_s32(t2)));
    group[3] = vreinterpretq_s8_s64(vtrn2q_s64(vreinterpretq_s64_s32(t1), vreinterpretq_s64_s32(t3)));
}

// sums + the 4 rows' exact sums over 16 elements: groups g[0..3] against activation bytes a.
SLM_DOTPROD static inline int32x4_t neon_panel_sums16(int32x4_t sums, const int8x16_t g[4], int8x16_t a) {
    sums = vdotq_laneq_s32(sums, g[0], a, 0);
    sums = vdotq_laneq_s32(sums, g[1], a, 1);
    sums = vdotq_laneq_s32(sums, g[2], a, 2);
    return vdotq_laneq_s32(sums, g[3], a, 3);
}

// The 4 rows' exact block sums with one token's 32 activations a0 (elements 0..15), a1 (16..31).
SLM_DOTPROD static inline int32x4_t neon_panel_block_sums(const int8x16_t group[8], int8x16_t a0, int8x16_t a1) {
    return neon_panel_sums16(neon_panel_sums16(vdupq_n_s32(0), group, a0), group + 4, a1);
}

// `tokens` (1..4, a constant where inlined) tokens from `act` (their first) over a chunk's blocks
// [c0, c1): acc[t] and off[t] (lane r = row r) carried in and out. act_d / act_s point at the
// tokens' first scale of block 0 (stride act_d_stride per block).
__attribute__((always_inline)) SLM_DOTPROD static inline void neon_panel_products(
    const neon_panel_chunk *chunk, const int with_min, const int tokens, int64_t c0, int64_t c1, const uint8_t *act,
    size_t act_row_bytes, size_t act_block, size_t act_qs, const float *act_d, const float *act_s,
    int64_t act_d_stride, float32x4_t *acc, float32x4_t *off) {
    float32x4_t a_acc[4], a_off[4];
    for (int t = 0; t < tokens; ++t) a_acc[t] = acc[t], a_off[t] = off[t];
    for (int64_t i = c0; i < c1; ++i) {
        const int8x16_t *group = chunk->group[i - c0];
        float32x4_t da, sa = vdupq_n_f32(0.0f);  // lane t: token t's d_a (s_a)
        if (tokens == 4) {
            da = vld1q_f32(act_d + i * act_d_stride);
            if (with_min) sa = vld1q_f32(act_s + i * act_d_stride);
        } else {  // no reading past the last token's scale
            float d_lanes[4] = {0}, s_lanes[4] = {0};
            for (int t = 0; t < tokens; ++t) {
                d_lanes[t] = act_d[i * act_d_stride + t];
                if (with_min) s_lanes[t] = act_s[i * act_d_stride + t];
            }
            da = vld1q_f32(d_lanes), sa = vld1q_f32(s_lanes);
        }
        for (int t = 0; t < tokens; ++t) {
            const int8_t *a = (const int8_t *)(act + (size_t)t * act_row_bytes + (size_t)i * act_block + act_qs);
            const int32x4_t sums = neon_panel_block_sums(group, vld1q_s8(a), vld1q_s8(a + 16));
            // fma(cvt(isum), d_w * d_a, acc), lane r = row r: the dot's block_fma.
            float32x4_t scale;
            switch (t) {  // the lane index must be a constant
            case 0: scale = vmulq_laneq_f32(chunk->dw[i - c0], da, 0); break;
            case 1: scale = vmulq_laneq_f32(chunk->dw[i - c0], da, 1); break;
            case 2: scale = vmulq_laneq_f32(chunk->dw[i - c0], da, 2); break;
            default: scale = vmulq_laneq_f32(chunk->dw[i - c0], da, 3); break;
            }
            a_acc[t] = vfmaq_f32(a_acc[t], vcvtq_f32_s32(sums), scale);
            if (with_min) {
                switch (t) {  // fma(m_w, s_a, offsets)
                case 0: a_off[t] = vfmaq_laneq_f32(a_off[t], chunk->mw[i - c0], sa, 0); break;
                case 1: a_off[t] = vfmaq_laneq_f32(a_off[t], chunk->mw[i - c0], sa, 1); break;
                case 2: a_off[t] = vfmaq_laneq_f32(a_off[t], chunk->mw[i - c0], sa, 2); break;
                default: a_off[t] = vfmaq_laneq_f32(a_off[t], chunk->mw[i - c0], sa, 3); break;
                }
            }
        }
    }
    for (int t = 0; t < tokens; ++t) acc[t] = a_acc[t], off[t] = a_off[t];
}

// act_d as the tiles': d_a of block i, token t at [i * act_d_stride + t]; for Q4_1, s_a at
// [(nb + i) * act_d_stride + t] (slm_tile_activation_scales).
__attribute__((always_inline)) SLM_DOTPROD static inline void neon_panel_blocks32(
    int64_t nb, size_t block_bytes, block32_values_fn values, const int with_min, const uint8_t *w, size_t row_stride,
    const uint8_t *act, size_t act_row_bytes, int64_t n_tokens, const float *act_d, int64_t act_d_stride, float *out,
    int64_t out_stride) {
    enum { ROWS = PANEL_ROWS_NEON, BLOCKS = PANEL_BLOCKS_NEON, CHUNK = PANEL_TOKEN_CHUNK_NEON };
    const size_t act_block = act32_block_bytes(with_min);
    const size_t act_qs = act32_qs_offset(with_min);
    const float *act_s = act_d + nb * act_d_stride;
    neon_panel_chunk chunk;
    float32x4_t acc[CHUNK], off[CHUNK];  // each token's 4 rows, between chunks of blocks
    for (int64_t t0 = 0; t0 < n_tokens; t0 += CHUNK) {
        const int64_t t1 = t0 + CHUNK < n_tokens ? t0 + CHUNK : n_tokens;
        for (int64_t t = t0; t < t1; ++t) acc[t - t0] = off[t - t0] = vdupq_n_f32(0.0f);
        for (int64_t c0 = 0; c0 < nb; c0 += BLOCKS) {
            const int64_t c1 = c0 + BLOCKS < nb ? c0 + BLOCKS : nb;
            for (int64_t i = c0; i < c1; ++i) {
                int8x16_t lo[ROWS], hi[ROWS];
                float dw[ROWS], mw[ROWS] = {0};
                for (int r = 0; r < ROWS; ++r) {
                    const uint8_t *block = w + (size_t)r * row_stride + (size_t)i * block_bytes;
                    values(block, &lo[r], &hi[r]);
                    dw[r] = slm_h2f_fast(tile_half(block));
                    if (with_min) mw[r] = slm_h2f_fast(tile_half(block + 2));
                }
                neon_panel_turn(lo, chunk.group[i - c0]);
                neon_panel_turn(hi, chunk.group[i - c0] + 4);
                chunk.dw[i - c0] = vld1q_f32(dw);
                chunk.mw[i - c0] = vld1q_f32(mw);
            }
            if (t0 == 0) panel_prefetch_next_rows(w, row_stride, ROWS, c0, c1, block_bytes);
            for (int64_t q = t0; q < t1; q += 4) {
                const int tokens = t1 - q < 4 ? (int)(t1 - q) : 4;
                const uint8_t *quad_act = act + (size_t)q * act_row_bytes;
                float32x4_t *quad_acc = acc + (q - t0), *quad_off = off + (q - t0);
                switch (tokens) {  // a loop per token count, each with its accumulators in registers
                case 4:
                    neon_panel_products(&chunk, with_min, 4, c0, c1, quad_act, act_row_bytes, act_block, act_qs,
                                        act_d + q, act_s + q, act_d_stride, quad_acc, quad_off);
                    break;
                case 3:
                    neon_panel_products(&chunk, with_min, 3, c0, c1, quad_act, act_row_bytes, act_block, act_qs,
                                        act_d + q, act_s + q, act_d_stride, quad_acc, quad_off);
                    break;
                case 2:
                    neon_panel_products(&chunk, with_min, 2, c0, c1, quad_act, act_row_bytes, act_block, act_qs,
                                        act_d + q, act_s + q, act_d_stride, quad_acc, quad_off);
                    break;
                default:
                    neon_panel_products(&chunk, with_min, 1, c0, c1, quad_act, act_row_bytes, act_block, act_qs,
                                        act_d + q, act_s + q, act_d_stride, quad_acc, quad_off);
                    break;
                }
            }
        }
        for (int64_t t = t0; t < t1; ++t) {
            vst1q_f32(out + t * out_stride, with_min ? vaddq_f32(acc[t - t0], off[t - t0]) : acc[t - t0]);
        }
    }
}

// The four 32-element panels of one build (suffix: neon_dotprod, neon_i8mm) from its body.
#define PANELS32(suffix, attr, body)                                                                          \
    PANEL32(q4_0, suffix, attr, body, q4_0_values, slm_block_q4_0, 0)                                          \
    PANEL32(q4_1, suffix, attr, body, q4_1_values, slm_block_q4_1, 1)                                          \
    PANEL32(q5_0, suffix, attr, body, q5_0_values, slm_block_q5_0, 0)                                          \
    PANEL32(q8_0, suffix, attr, body, q8_0_values, slm_block_q8_0, 0)
#define PANEL32(name, suffix, attr, body, values, block, with_min)                                             \
    attr static void panel_##name##_##suffix(int64_t n, const uint8_t *w, size_t row_stride, const uint8_t *act, \
                                             size_t act_row_bytes, int64_t n_tokens, const float *act_d,         \
                                             int64_t act_d_stride, float *out, int64_t out_stride) {             \
        body(n / 32, sizeof(block), values, with_min, w, row_stride, act, act_row_bytes, n_tokens, act_d,        \
             act_d_stride, out, out_stride);                                                                     \
    }

PANELS32(neon_dotprod, SLM_DOTPROD, neon_panel_blocks32)

// ---- SDOT prompt panels for Q4_K and Q6_K: 4 rows by any number of tokens ------------------------
// The same idea for the K-quants: a chunk of the 4 rows' super-blocks is unpacked and turned once
// per PANEL_TOKEN_CHUNK_NEON tokens (group g lane r = elements 4g..4g+3 of row r's super-block, in
// element order; both types have 64 groups), and the rows' sub-block scales (and Q4_K's mins) are
// laid out as int32 lanes. Per token and sub-block (Q4_K 32 elements, Q6_K 16), SDOTs by element
// give the 4 rows' exact sub-block sums, one multiply-add by the scales adds them to the rows'
// isum; Q4_K's min term is the mins times the token's bsum pairs, one multiply-add by element
// each. Then the dot's float steps (dot_neon_body.h): sum = fma((float)isum, d_w * d_a, sum),
// Q4_K also sum_mins = fma((float)min_term, dmin_w * d_a, sum_mins) and sum - sum_mins, for 4
// rows per instruction. The same integers and float steps per pair as the dot: the same bits.
#define K_PANEL_SUPER_BLOCKS 4

typedef struct {
    int8x16_t group[K_PANEL_SUPER_BLOCKS][64];
    int32x4_t scale[K_PANEL_SUPER_BLOCKS][16];  // lane r: row r's scale of sub-block j (Q4_K: j < 8)
    int32x4_t min[K_PANEL_SUPER_BLOCKS][8];     // Q4_K: lane r, row r's min of sub-block j
    float32x4_t dw[K_PANEL_SUPER_BLOCKS], dmin[K_PANEL_SUPER_BLOCKS];
} neon_k_panel_chunk;

// Super-block i of the 4 rows into slot b of the chunk.
static inline void neon_k_panel_fill(int type, const uint8_t *w, size_t row_stride, int64_t i, neon_k_panel_chunk *chunk,
                                     int b) {
    int8x16_t rows[4][16];  // row r's 256 values in element order, 16 per vector
    int32_t scale[16][4], min[8][4];
    float dw[4], dmin[4] = {0};
    for (int r = 0; r < 4; ++r) {
        if (type == SLM_TYPE_Q4_K) {
            const slm_block_q4_K *x = (const slm_block_q4_K *)(w + (size_t)r * row_stride) + i;
            uint8_t sc[8], mn[8];
            slm_unpack_k_scales(x->scales, sc, mn);
            for (int c = 0; c < 4; ++c) {
                int8x16_t *v = rows[r] + 4 * c;  // elements 64c .. 64c + 63: low nibbles, then high
                q4_K_nibbles(x->qs + 32 * c, &v[0], &v[1], &v[2], &v[3]);
            }
            for (int j = 0; j < 8; ++j) scale[j][r] = sc[j], min[j][r] = mn[j];
            dw[r] = slm_h2f_fast(x->d);
            dmin[r] = slm_h2f_fast(x->dmin);
        } else {
            const slm_block_q6_K *x = (const slm_block_q6_K *)(w + (size_t)r * row_stride) + i;
            for (int half = 0; half < 2; ++half) {
                for (int p = 0; p < 32; p += 16) {
                    int8x16_t v[4];  // elements 128 half + 32 k + p ..
                    q6_K_values(x->ql + 64 * half + p, x->qh + 32 * half + p, v);
                    for (int k = 0; k < 4; ++k) rows[r][8 * half + 2 * k + p / 16] = v[k];
                }
            }
            for (int j = 0; j < 16; ++j) scale[j][r] = x->scales[j];
            dw[r] = slm_h2f_fast(x->d);
        }
    }
    for (int v = 0; v < 16; ++v) {
        const int8x16_t four[4] = {rows[0][v], rows[1][v], rows[2][v], rows[3][v]};
        neon_panel_turn(four, chunk->group[b] + 4 * v);
    }
    for (int j = 0; j < 16; ++j) chunk->scale[b][j] = vld1q_s32(scale[j]);
    if (type == SLM_TYPE_Q4_K)
        for (int j = 0; j < 8; ++j) chunk->min[b][j] = vld1q_s32(min[j]);
    chunk->dw[b] = vld1q_f32(dw);
    chunk->dmin[b] = vld1q_f32(dmin);
}

// The 4 rows' exact super-block sum (isum) with one token's activations.
__attribute__((always_inline)) SLM_DOTPROD static inline int32x4_t neon_k_panel_isum(const int type,
                                                                                    const int8x16_t *group,
                                                                                    const int32x4_t *scale,
                                                                                    const int8_t *qs) {
    const int sub_groups = type == SLM_TYPE_Q4_K ? 8 : 4, sub_blocks = 64 / sub_groups;
    int32x4_t isum = vdupq_n_s32(0);
    for (int j = 0; j < sub_blocks; ++j) {
        int32x4_t sums = vdupq_n_s32(0);
        for (int g = j * sub_groups; g < (j + 1) * sub_groups; g += 4) {
            sums = neon_panel_sums16(sums, group + g, vld1q_s8(qs + 4 * g));
        }
        isum = vmlaq_s32(isum, sums, scale[j]);
    }
    return isum;
}

// Q4_K's min term of the 4 rows: sum_j min_j * (bsums[2j] + bsums[2j + 1]).
SLM_DOTPROD static inline int32x4_t neon_k_panel_min_term(const int32x4_t *min, const int16_t *bsums) {
    const int16x8_t pairs = vpaddq_s16(vld1q_s16(bsums), vld1q_s16(bsums + 8));
    const int32x4_t lo = vmovl_s16(vget_low_s16(pairs)), hi = vmovl_high_s16(pairs);
    int32x4_t term = vmulq_laneq_s32(min[0], lo, 0);
    term = vmlaq_laneq_s32(term, min[1], lo, 1);
    term = vmlaq_laneq_s32(term, min[2], lo, 2);
    term = vmlaq_laneq_s32(term, min[3], lo, 3);
    term = vmlaq_laneq_s32(term, min[4], hi, 0);
    term = vmlaq_laneq_s32(term, min[5], hi, 1);
    term = vmlaq_laneq_s32(term, min[6], hi, 2);
    return vmlaq_laneq_s32(term, min[7], hi, 3);
}

__attribute__((always_inline)) SLM_DOTPROD static inline void neon_k_panel(const int type, int64_t n, const uint8_t *w,
                                                                           size_t row_stride, const uint8_t *act,
                                                                           size_t act_row_bytes, int64_t n_tokens,
                                                                           float *out, int64_t out_stride) {
    enum { CHUNK = PANEL_TOKEN_CHUNK_NEON, SUPER = K_PANEL_SUPER_BLOCKS };
    const int64_t nb = n / SLM_QK_K;
    const size_t block_bytes = type == SLM_TYPE_Q4_K ? sizeof(slm_block_q4_K) : sizeof(slm_block_q6_K);
    neon_k_panel_chunk chunk;
    float32x4_t sum[CHUNK], sum_mins[CHUNK];  // each token's 4 rows, between chunks of super-blocks
    for (int64_t t0 = 0; t0 < n_tokens; t0 += CHUNK) {
        const int64_t t1 = t0 + CHUNK < n_tokens ? t0 + CHUNK : n_tokens;
        for (int64_t t = t0; t < t1; ++t) sum[t - t0] = sum_mins[t - t0] = vdupq_n_f32(0.0f);
        for (int64_t c0 = 0; c0 < nb; c0 += SUPER) {
            const int64_t c1 = c0 + SUPER < nb ? c0 + SUPER : nb;
            for (int64_t i = c0; i < c1; ++i) neon_k_panel_fill(type, w, row_stride, i, &chunk, (int)(i - c0));
            if (t0 == 0) panel_prefetch_next_rows(w, row_stride, 4, c0, c1, block_bytes);
            for (int64_t t = t0; t < t1; ++t) {
                const slm_block_q8_K *y = (const slm_block_q8_K *)(act + (size_t)t * act_row_bytes);
                float32x4_t s = sum[t - t0], s_mins = sum_mins[t - t0];
                for (int64_t i = c0; i < c1; ++i) {
                    const int b = (int)(i - c0);
                    const int32x4_t isum = neon_k_panel_isum(type, chunk.group[b], chunk.scale[b], y[i].qs);
                    s = vfmaq_f32(s, vcvtq_f32_s32(isum), vmulq_n_f32(chunk.dw[b], y[i].d));
                    if (type == SLM_TYPE_Q4_K) {
                        const int32x4_t term = neon_k_panel_min_term(chunk.min[b], y[i].bsums);
                        s_mins = vfmaq_f32(s_mins, vcvtq_f32_s32(term), vmulq_n_f32(chunk.dmin[b], y[i].d));
                    }
                }
                sum[t - t0] = s, sum_mins[t - t0] = s_mins;
            }
        }
        for (int64_t t = t0; t < t1; ++t) {
            const float32x4_t result = type == SLM_TYPE_Q4_K ? vsubq_f32(sum[t - t0], sum_mins[t - t0]) : sum[t - t0];
            vst1q_f32(out + t * out_stride, result);
        }
    }
}

SLM_DOTPROD static void panel_q4_K_neon_dotprod(int64_t n, const uint8_t *w, size_t row_stride, const uint8_t *act,
                                                size_t act_row_bytes, int64_t n_tokens, const float *act_d,
                                                int64_t act_d_stride, float *out, int64_t out_stride) {
    (void)act_d, (void)act_d_stride;  // Q8_K blocks carry their d
    neon_k_panel(SLM_TYPE_Q4_K, n, w, row_stride, act, act_row_bytes, n_tokens, out, out_stride);
}

SLM_DOTPROD static void panel_q6_K_neon_dotprod(int64_t n, const uint8_t *w, size_t row_stride, const uint8_t *act,
                                                size_t act_row_bytes, int64_t n_tokens, const float *act_d,
                                                int64_t act_d_stride, float *out, int64_t out_stride) {
    (void)act_d, (void)act_d_stride;
    neon_k_panel(SLM_TYPE_Q6_K, n, w, row_stride, act, act_row_bytes, n_tokens, out, out_stride);
}

// ---- SMMLA (i8mm) prompt panels (32-element types): 8 rows by any number of tokens -----------
// The SDOT panel's buffer, laid out for SMMLA: per block, each of the 4 row pairs' values zipped
// into four operands (bytes 8k..8k+7 of both rows), once per PANEL_TOKEN_CHUNK_NEON tokens. Per
// token pair and block, the two tokens' activations are zipped once and serve the 4 row pairs:
// four SMMLA give a row pair's 2 x 2 block sums, lanes (r0, t0), (r0, t1), (r1, t0), (r1, t1),
// and the dot's float steps run on those four pairs at once (as the SMMLA tiles). A last single
// token pairs with itself and only its lanes are written. Same bits as the NEON dot per pair.
#define MMLA_PANEL_ROW_PAIRS 4
#define MMLA_PANEL_BLOCKS 16

typedef struct {
    int8x16_t w[MMLA_PANEL_BLOCKS][MMLA_PANEL_ROW_PAIRS][4];
    // A row pair's d_w and m_w in the lanes of its block sums: (r0, r0, r1, r1).
    float32x4_t dw[MMLA_PANEL_BLOCKS][MMLA_PANEL_ROW_PAIRS], mw[MMLA_PANEL_BLOCKS][MMLA_PANEL_ROW_PAIRS];
} mmla_panel_chunk;

__attribute__((always_inline)) SLM_I8MM static inline void mmla_panel_blocks32(
    int64_t nb, size_t block_bytes, block32_values_fn values, const int with_min, const uint8_t *w, size_t row_stride,
    const uint8_t *act, size_t act_row_bytes, int64_t n_tokens, const float *act_d, int64_t act_d_stride, float *out,
    int64_t out_stride) {
    enum { PAIRS = MMLA_PANEL_ROW_PAIRS, BLOCKS = MMLA_PANEL_BLOCKS, CHUNK = PANEL_TOKEN_CHUNK_NEON };
    const size_t act_block = act32_block_bytes(with_min);
    const size_t act_qs = act32_qs_offset(with_min);
    const float *act_s = act_d + nb * act_d_stride;
    mmla_panel_chunk chunk;
    float32x4_t acc[CHUNK / 2][PAIRS], off[CHUNK / 2][PAIRS];  // [token pair][row pair], between chunks of blocks
    for (int64_t t0 = 0; t0 < n_tokens; t0 += CHUNK) {
        const int64_t t1 = t0 + CHUNK < n_tokens ? t0 + CHUNK : n_tokens;
        const int64_t token_pairs = (t1 - t0 + 1) / 2;
        for (int64_t tp = 0; tp < token_pairs; ++tp)
            for (int rp = 0; rp < PAIRS; ++rp) acc[tp][rp] = off[tp][rp] = vdupq_n_f32(0.0f);
        for (int64_t c0 = 0; c0 < nb; c0 += BLOCKS) {
            const int64_t c1 = c0 + BLOCKS < nb ? c0 + BLOCKS : nb;
            for (int64_t i = c0; i < c1; ++i) {
                for (int rp = 0; rp < PAIRS; ++rp) {
                    const uint8_t *b0 = w + (size_t)(2 * rp) * row_stride + (size_t)i * block_bytes, *b1 = b0 + row_stride;
                    int8x16_t lo0, hi0, lo1, hi1;
                    values(b0, &lo0, &hi0);
                    values(b1, &lo1, &hi1);
                    int8x16_t *z = chunk.w[i - c0][rp];
                    mmla_zip(lo0, lo1, &z[0], &z[1]);
                    mmla_zip(hi0, hi1, &z[2], &z[3]);
                    chunk.dw[i - c0][rp] =
                        vcombine_f32(vdup_n_f32(slm_h2f_fast(tile_half(b0))), vdup_n_f32(slm_h2f_fast(tile_half(b1))));
                    chunk.mw[i - c0][rp] = with_min ? vcombine_f32(vdup_n_f32(slm_h2f_fast(tile_half(b0 + 2))),
                                                                   vdup_n_f32(slm_h2f_fast(tile_half(b1 + 2))))
                                                    : vdupq_n_f32(0.0f);
                }
            }
            if (t0 == 0) panel_prefetch_next_rows(w, row_stride, 2 * PAIRS, c0, c1, block_bytes);
            for (int64_t tp = 0; tp < token_pairs; ++tp) {
                const int64_t ta = t0 + 2 * tp, tb = ta + 1 < t1 ? ta + 1 : ta;  // a single last token pairs with itself
                const uint8_t *row_a = act + (size_t)ta * act_row_bytes, *row_b = act + (size_t)tb * act_row_bytes;
                float32x4_t pair_acc[PAIRS], pair_off[PAIRS];
                for (int rp = 0; rp < PAIRS; ++rp) pair_acc[rp] = acc[tp][rp], pair_off[rp] = off[tp][rp];
                for (int64_t i = c0; i < c1; ++i) {
                    const int8_t *qa = (const int8_t *)(row_a + (size_t)i * act_block + act_qs);
                    const int8_t *qb = (const int8_t *)(row_b + (size_t)i * act_block + act_qs);
                    int8x16_t a[4];
                    mmla_zip(vld1q_s8(qa), vld1q_s8(qb), &a[0], &a[1]);
                    mmla_zip(vld1q_s8(qa + 16), vld1q_s8(qb + 16), &a[2], &a[3]);
                    // Lanes (t0, t1, t0, t1): the two tokens' scales are adjacent (one load) unless single.
                    const float *d_at = act_d + i * act_d_stride + ta, *s_at = act_s + i * act_d_stride + ta;
                    const float32x2_t d2 = tb != ta ? vld1_f32(d_at) : vdup_n_f32(*d_at);
                    const float32x4_t da = vcombine_f32(d2, d2);
                    float32x4_t sa = vdupq_n_f32(0.0f);
                    if (with_min) {
                        const float32x2_t s2 = tb != ta ? vld1_f32(s_at) : vdup_n_f32(*s_at);
                        sa = vcombine_f32(s2, s2);
                    }
                    for (int rp = 0; rp < PAIRS; ++rp) {
                        const int32x4_t sums = mmla32(chunk.w[i - c0][rp], a);
                        pair_acc[rp] = vfmaq_f32(pair_acc[rp], vcvtq_f32_s32(sums), vmulq_f32(chunk.dw[i - c0][rp], da));
                        if (with_min) pair_off[rp] = vfmaq_f32(pair_off[rp], chunk.mw[i - c0][rp], sa);
                    }
                }
                for (int rp = 0; rp < PAIRS; ++rp) acc[tp][rp] = pair_acc[rp], off[tp][rp] = pair_off[rp];
            }
        }
        for (int64_t tp = 0; tp < token_pairs; ++tp) {
            const int64_t ta = t0 + 2 * tp;
            for (int rp = 0; rp < PAIRS; ++rp) {
                float lanes[4];
                vst1q_f32(lanes, with_min ? vaddq_f32(acc[tp][rp], off[tp][rp]) : acc[tp][rp]);
                for (int r = 0; r < 2; ++r) {
                    out[ta * out_stride + 2 * rp + r] = lanes[2 * r];
                    if (ta + 1 < t1) out[(ta + 1) * out_stride + 2 * rp + r] = lanes[2 * r + 1];
                }
            }
        }
    }
}

PANELS32(neon_i8mm, SLM_I8MM, mmla_panel_blocks32)
#undef PANEL32
#undef PANELS32

// ---- the tables: each answers only on a CPU with its features ----

slm_matmul_tile slm_matvec_tile_kernel_neon(int type) {
    return slm_cpu_has(SLM_CPU_ARM_NEON) ? decode_table_neon(type) : (slm_matmul_tile){NULL, 0, 0};
}

slm_matmul_tile slm_matvec_tile_kernel_neon_dotprod(int type) {
    return slm_cpu_has(SLM_CPU_ARM_DOTPROD) ? decode_table_neon_dotprod(type) : (slm_matmul_tile){NULL, 0, 0};
}

slm_matmul_tile slm_matmul_tile_kernel_neon(int type) {
    return slm_cpu_has(SLM_CPU_ARM_NEON) ? prompt_table_neon(type) : (slm_matmul_tile){NULL, 0, 0};
}

slm_matmul_tile slm_matmul_tile_kernel_neon_dotprod(int type) {
    return slm_cpu_has(SLM_CPU_ARM_DOTPROD) ? prompt_table_neon_dotprod(type) : (slm_matmul_tile){NULL, 0, 0};
}

// SMMLA tiles also use SDOT-era instructions, so they need both features.
slm_matmul_tile slm_matmul_tile_kernel_neon_i8mm(int type) {
    if (!slm_cpu_has(SLM_CPU_ARM_DOTPROD | SLM_CPU_ARM_I8MM)) return (slm_matmul_tile){NULL, 0, 0};
    switch (type) {
    case SLM_TYPE_Q4_0: return (slm_matmul_tile){mmla_q4_0, TILE_MAX_ROWS, TILE_MAX_TOKENS};
    case SLM_TYPE_Q4_1: return (slm_matmul_tile){mmla_q4_1, TILE_MAX_ROWS, TILE_MAX_TOKENS};
    case SLM_TYPE_Q5_0: return (slm_matmul_tile){mmla_q5_0, TILE_MAX_ROWS, TILE_MAX_TOKENS};
    case SLM_TYPE_Q8_0: return (slm_matmul_tile){mmla_q8_0, TILE_MAX_ROWS, TILE_MAX_TOKENS};
    case SLM_TYPE_Q4_K: return (slm_matmul_tile){mmla_q4_K, TILE_MAX_ROWS, TILE_MAX_TOKENS};
    case SLM_TYPE_Q6_K: return (slm_matmul_tile){mmla_q6_K, TILE_MAX_ROWS, TILE_MAX_TOKENS};
    default: return (slm_matmul_tile){NULL, 0, 0};
    }
}

slm_matmul_panel slm_matmul_panel_kernel_neon_dotprod(int type) {
    if (!slm_cpu_has(SLM_CPU_ARM_DOTPROD)) return (slm_matmul_panel){NULL, 0, 0};
    switch (type) {
    case SLM_TYPE_Q4_0: return (slm_matmul_panel){panel_q4_0_neon_dotprod, PANEL_ROWS_NEON, 4};
    case SLM_TYPE_Q4_1: return (slm_matmul_panel){panel_q4_1_neon_dotprod, PANEL_ROWS_NEON, 4};
    case SLM_TYPE_Q5_0: return (slm_matmul_panel){panel_q5_0_neon_dotprod, PANEL_ROWS_NEON, 4};
    case SLM_TYPE_Q8_0: return (slm_matmul_panel){panel_q8_0_neon_dotprod, PANEL_ROWS_NEON, 4};
    case SLM_TYPE_Q4_K: return (slm_matmul_panel){panel_q4_K_neon_dotprod, PANEL_ROWS_NEON, 4};
    case SLM_TYPE_Q6_K: return (slm_matmul_panel){panel_q6_K_neon_dotprod, PANEL_ROWS_NEON, 4};
    default: return (slm_matmul_panel){NULL, 0, 0};
    }
}

slm_matmul_panel slm_matmul_panel_kernel_neon_i8mm(int type) {
    if (!slm_cpu_has(SLM_CPU_ARM_DOTPROD | SLM_CPU_ARM_I8MM)) return (slm_matmul_panel){NULL, 0, 0};
    switch (type) {
    case SLM_TYPE_Q4_0: return (slm_matmul_panel){panel_q4_0_neon_i8mm, 2 * MMLA_PANEL_ROW_PAIRS, 4};
    case SLM_TYPE_Q4_1: return (slm_matmul_panel){panel_q4_1_neon_i8mm, 2 * MMLA_PANEL_ROW_PAIRS, 4};
    case SLM_TYPE_Q5_0: return (slm_matmul_panel){panel_q5_0_neon_i8mm, 2 * MMLA_PANEL_ROW_PAIRS, 4};
    case SLM_TYPE_Q8_0: return (slm_matmul_panel){panel_q8_0_neon_i8mm, 2 * MMLA_PANEL_ROW_PAIRS, 4};
    default: return (slm_matmul_panel){NULL, 0, 0};
    }
}
#endif
