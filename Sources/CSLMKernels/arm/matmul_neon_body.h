// The NEON tiles, compiled twice by matmul_neon.c like the dots of dot_neon_body.h: plain ARMv8-A
// and with SDOT. The including file defines NEON_ATTR, NEON_NAME(name) and neon_dot_s8 as for
// dot_neon_body.h, and the block unpackers (*_values, q4_K_nibbles, q6_K_values) both copies share.
//
// A tile is `rows` weight rows x `tokens` activation rows (slm_matmul_tile_fn). Every (row, token)
// pair gets exactly the operations of its NEON dot (dot_neon_body.h), in the same order: the same
// exact integer block (or super-block) sums, the same d_w * d_a product, one FMA per block into
// the pair's own sum (a lane of a vector shared by four pairs). Only what is shared changes: a weight block is
// unpacked once for all the tile's tokens and an activation block loaded once for all its rows.
// So each output has the bits of slm_vec_dot for its pair (prompt logits equal decode's), and the
// twin test checks exactly that.

// ---- 32-element blocks (Q4_0, Q4_1, Q5_0, Q8_0) ----------------------------------------------
// Per block and pair: isum = the block's exact integer dot (SDOT lanes of both halves, added up);
// acc = fma((float)isum, d_w * d_a, acc); Q4_1 also offsets = fma(m_w, s_a, offsets). The result:
// acc (+ offsets). Four pairs share each vector step: the decode tile keeps lane r for row r, the
// prompt tile one vector per row with lane t for token t; one pairwise-add tree turns four pairs'
// SDOT lanes into their four block sums.
_Static_assert(DECODE_ROWS == 4 && PROMPT_TOKENS == 4, "a tile's pairs fill 4-lane vectors");

// Lane k: the sum of v[k]'s four lanes (exact).
NEON_ATTR static inline int32x4_t NEON_NAME(block_sums4)(const int32x4_t v[4]) {
    return vpaddq_s32(vpaddq_s32(v[0], v[1]), vpaddq_s32(v[2], v[3]));
}

// A tile's pairs four to a vector: decode tiles (rows == 4, tokens == 1) one vector, lane r for
// row r; prompt tiles (tokens == 4) vector r, lane t for token t. Every float step below is one
// lane per pair, the same operation as the dot's scalar one.
#define TILE_PAIR_VECTORS(rows, tokens) ((tokens) == 1 ? 1 : (rows))

// acc += cvt(the pairs' exact integers) * (w[r] * a[t]): lanes[r][t] holds the integer of pair
// (r, t) spread over four lanes (their sum); w and a the row and token scales.
__attribute__((always_inline)) NEON_ATTR static inline void NEON_NAME(pairs_fma)(
    const int rows, const int tokens, int32x4_t lanes[TILE_MAX_ROWS][TILE_MAX_TOKENS], const float *w, const float *a,
    float32x4_t *acc) {
    if (tokens == 1) {
        const int32x4_t by_row[DECODE_ROWS] = {lanes[0][0], lanes[1][0], lanes[2][0], lanes[3][0]};
        acc[0] = vfmaq_f32(acc[0], vcvtq_f32_s32(NEON_NAME(block_sums4)(by_row)), vmulq_n_f32(vld1q_f32(w), a[0]));
    } else {
        const float32x4_t a_lanes = vld1q_f32(a);
        for (int r = 0; r < rows; ++r) {
            acc[r] = vfmaq_f32(acc[r], vcvtq_f32_s32(NEON_NAME(block_sums4)(lanes[r])), vmulq_n_f32(a_lanes, w[r]));
        }
    }
}

// Writes the pairs' results, one vector per TILE_PAIR_VECTORS.
__attribute__((always_inline)) NEON_ATTR static inline void NEON_NAME(pairs_store)(const int rows, const int tokens,
                                                                                   const float32x4_t *result, float *out,
                                                                                   int64_t out_stride) {
    for (int v = 0; v < TILE_PAIR_VECTORS(rows, tokens); ++v) {
        float lanes[4];
        vst1q_f32(lanes, result[v]);
        for (int k = 0; k < 4; ++k) {
            if (tokens == 1) {
                out[k] = lanes[k];  // row k of the one token
            } else {
                out[k * out_stride + v] = lanes[k];  // row v, token k
            }
        }
    }
}

// Always inlined with constant shapes and unpacker, so each type and shape gets its own loop.
// Decode: rows == 4, tokens == 1. Prompt: tokens == 4, rows <= TILE_MAX_ROWS.
__attribute__((always_inline)) NEON_ATTR static inline void NEON_NAME(tile_blocks32)(
    const int rows, const int tokens, int64_t nb, size_t block_bytes, block32_values_fn values, const int with_min,
    const uint8_t *w, size_t row_stride, const uint8_t *act, size_t act_row_bytes, const float *act_d,
    int64_t act_d_stride, float *out, int64_t out_stride) {
    const size_t act_block = act32_block_bytes(with_min), act_qs = act32_qs_offset(with_min);
    const int vectors = TILE_PAIR_VECTORS(rows, tokens);
    float32x4_t acc[TILE_MAX_ROWS], offsets[TILE_MAX_ROWS];
    for (int v = 0; v < vectors; ++v) acc[v] = offsets[v] = vdupq_n_f32(0.0f);
    const tile_prefetch ahead = tile_prefetch_next_rows(w, row_stride, rows, nb);
    for (int64_t i = 0; i < nb; ++i) {
        if (tokens == 1) tile_prefetch_step(ahead, i);
        float dw[TILE_MAX_ROWS], mw[TILE_MAX_ROWS] = {0}, sa[TILE_MAX_TOKENS] = {0};
        int8x16_t lo[TILE_MAX_ROWS], hi[TILE_MAX_ROWS];
        for (int r = 0; r < rows; ++r) {
            const uint8_t *block = w + (size_t)r * row_stride + (size_t)i * block_bytes;
            dw[r] = slm_h2f_fast(tile_half(block));
            if (with_min) mw[r] = slm_h2f_fast(tile_half(block + 2));
            values(block, &lo[r], &hi[r]);
        }
        int8x16_t a0[TILE_MAX_TOKENS], a1[TILE_MAX_TOKENS];
        for (int t = 0; t < tokens; ++t) {
            const uint8_t *ablock = act + (size_t)t * act_row_bytes + (size_t)i * act_block;
            a0[t] = vld1q_s8((const int8_t *)(ablock + act_qs));
            a1[t] = vld1q_s8((const int8_t *)(ablock + act_qs + 16));
            if (with_min) sa[t] = slm_h2f_fast(tile_half(ablock + 2));
        }
        int32x4_t lanes[TILE_MAX_ROWS][TILE_MAX_TOKENS];
        for (int r = 0; r < rows; ++r) {
            for (int t = 0; t < tokens; ++t) lanes[r][t] = neon_dot_s8(neon_dot_s8(vdupq_n_s32(0), lo[r], a0[t]), hi[r], a1[t]);
        }
        NEON_NAME(pairs_fma)(rows, tokens, lanes, dw, act_d + i * act_d_stride, acc);  // d_w * d_a
        if (with_min) {
            if (tokens == 1) {
                offsets[0] = vfmaq_n_f32(offsets[0], vld1q_f32(mw), sa[0]);
            } else {
                const float32x4_t sa_lanes = vld1q_f32(sa);
                for (int r = 0; r < rows; ++r) offsets[r] = vfmaq_n_f32(offsets[r], sa_lanes, mw[r]);
            }
        }
    }
    if (with_min) {
        for (int v = 0; v < vectors; ++v) acc[v] = vaddq_f32(acc[v], offsets[v]);
    }
    NEON_NAME(pairs_store)(rows, tokens, acc, out, out_stride);
}

// ---- K-quants against Q8_K ---------------------------------------------------------------------
// Per super-block and pair, the dot's exact integer sum (sub-block scales times SDOT lanes, kept
// in four int32 lanes and added up at the end of the super-block: the same integer), then
// sum = fma((float)isum, d_w * d_a, sum); Q4_K also sum_mins = fma((float)min_term, dmin_w * d_a,
// sum_mins), and the result sum - sum_mins.

// The lanes of the Q4_K / Q5_K min term of a pair (their sum: sum_j mins[j] * (bsums[2j] +
// bsums[2j + 1]), exact), as the dot's k_min_term makes them before its horizontal add.
NEON_ATTR static inline int32x4_t NEON_NAME(tile_min_lanes)(int16x8_t bsum_pairs, int16x8_t mins) {
    return vmlal_s16(vmull_s16(vget_low_s16(bsum_pairs), vget_low_s16(mins)), vget_high_s16(bsum_pairs), vget_high_s16(mins));
}

__attribute__((always_inline)) NEON_ATTR static inline void NEON_NAME(tile_q4_K_shape)(
    const int rows, const int tokens, int64_t n, const uint8_t *w, size_t row_stride, const uint8_t *act,
    size_t act_row_bytes, float *out, int64_t out_stride) {
    const int64_t nb = n / SLM_QK_K;
    const int vectors = TILE_PAIR_VECTORS(rows, tokens);
    float32x4_t sum[TILE_MAX_ROWS], sum_mins[TILE_MAX_ROWS];
    for (int v = 0; v < vectors; ++v) sum[v] = sum_mins[v] = vdupq_n_f32(0.0f);
    const tile_prefetch ahead = tile_prefetch_next_rows(w, row_stride, rows, nb);
    for (int64_t i = 0; i < nb; ++i) {
        if (tokens == 1) tile_prefetch_step(ahead, i);
        const slm_block_q4_K *x[TILE_MAX_ROWS];
        const slm_block_q8_K *y[TILE_MAX_TOKENS];
        uint8_t sc[TILE_MAX_ROWS][8], mn[TILE_MAX_ROWS][8];
        float dw[TILE_MAX_ROWS], dmin[TILE_MAX_ROWS], da[TILE_MAX_TOKENS];
        for (int r = 0; r < rows; ++r) {
            x[r] = (const slm_block_q4_K *)(w + (size_t)r * row_stride) + i;
            slm_unpack_k_scales(x[r]->scales, sc[r], mn[r]);
            dw[r] = slm_h2f_fast(x[r]->d);
            dmin[r] = slm_h2f_fast(x[r]->dmin);
        }
        for (int t = 0; t < tokens; ++t) {
            y[t] = (const slm_block_q8_K *)(act + (size_t)t * act_row_bytes) + i;
            da[t] = y[t]->d;
        }
        int32x4_t isum[TILE_MAX_ROWS][TILE_MAX_TOKENS];
        for (int r = 0; r < rows; ++r) {
            for (int t = 0; t < tokens; ++t) isum[r][t] = vdupq_n_s32(0);
        }
        // Kept a loop: unrolled, GCC 12 spilled a sixth of the decode tile's super-block to the stack.
        _Pragma("GCC unroll 1") for (int c = 0; c < 4; ++c) {
            for (int r = 0; r < rows; ++r) {
                int8x16_t lo0, lo1, hi0, hi1;  // sub-block 2c (low nibbles), 2c + 1 (high)
                q4_K_nibbles(x[r]->qs + 32 * c, &lo0, &lo1, &hi0, &hi1);
                for (int t = 0; t < tokens; ++t) {
                    const int8_t *q8 = y[t]->qs + 64 * c;
                    const int32x4_t l = neon_dot_s8(neon_dot_s8(vdupq_n_s32(0), lo0, vld1q_s8(q8)), lo1, vld1q_s8(q8 + 16));
                    const int32x4_t h =
                        neon_dot_s8(neon_dot_s8(vdupq_n_s32(0), hi0, vld1q_s8(q8 + 32)), hi1, vld1q_s8(q8 + 48));
                    isum[r][t] = vmlaq_n_s32(vmlaq_n_s32(isum[r][t], l, sc[r][2 * c]), h, sc[r][2 * c + 1]);
                }
            }
        }
        int32x4_t min_lanes[TILE_MAX_ROWS][TILE_MAX_TOKENS];
        for (int t = 0; t < tokens; ++t) {
            const int16x8_t pairs = vpaddq_s16(vld1q_s16(y[t]->bsums), vld1q_s16(y[t]->bsums + 8));
            for (int r = 0; r < rows; ++r) {
                min_lanes[r][t] = NEON_NAME(tile_min_lanes)(pairs, vreinterpretq_s16_u16(vmovl_u8(vld1_u8(mn[r]))));
            }
        }
        NEON_NAME(pairs_fma)(rows, tokens, isum, dw, da, sum);          // d_w * d_a
        NEON_NAME(pairs_fma)(rows, tokens, min_lanes, dmin, da, sum_mins);  // dmin_w * d_a
    }
    for (int v = 0; v < vectors; ++v) sum[v] = vsubq_f32(sum[v], sum_mins[v]);
    NEON_NAME(pairs_store)(rows, tokens, sum, out, out_stride);
}

__attribute__((always_inline)) NEON_ATTR static inline void NEON_NAME(tile_q6_K_shape)(
    const int rows, const int tokens, int64_t n, const uint8_t *w, size_t row_stride, const uint8_t *act,
    size_t act_row_bytes, float *out, int64_t out_stride) {
    const int64_t nb = n / SLM_QK_K;
    const int vectors = TILE_PAIR_VECTORS(rows, tokens);
    float32x4_t sum[TILE_MAX_ROWS];
    for (int v = 0; v < vectors; ++v) sum[v] = vdupq_n_f32(0.0f);
    const tile_prefetch ahead = tile_prefetch_next_rows(w, row_stride, rows, nb);
    for (int64_t i = 0; i < nb; ++i) {
        if (tokens == 1) tile_prefetch_step(ahead, i);
        const slm_block_q6_K *x[TILE_MAX_ROWS];
        const slm_block_q8_K *y[TILE_MAX_TOKENS];
        float dw[TILE_MAX_ROWS], da[TILE_MAX_TOKENS];
        for (int r = 0; r < rows; ++r) {
            x[r] = (const slm_block_q6_K *)(w + (size_t)r * row_stride) + i;
            dw[r] = slm_h2f_fast(x[r]->d);
        }
        for (int t = 0; t < tokens; ++t) {
            y[t] = (const slm_block_q8_K *)(act + (size_t)t * act_row_bytes) + i;
            da[t] = y[t]->d;
        }
        int32x4_t isum[TILE_MAX_ROWS][TILE_MAX_TOKENS];
        for (int r = 0; r < rows; ++r) {
            for (int t = 0; t < tokens; ++t) isum[r][t] = vdupq_n_s32(0);
        }
        for (int half = 0; half < 2; ++half) {
            for (int p = 0; p < 32; p += 16) {
                for (int r = 0; r < rows; ++r) {
                    int8x16_t v[4];  // elements 32k + p .. 32k + p + 15 of the half, k = 0..3
                    q6_K_values(x[r]->ql + 64 * half + p, x[r]->qh + 32 * half + p, v);
                    const int8_t *scales = x[r]->scales + 8 * half;
                    for (int t = 0; t < tokens; ++t) {
                        const int8_t *q8 = y[t]->qs + 128 * half;
                        for (int k = 0; k < 4; ++k) {
                            const int e = 32 * k + p;
                            const int32x4_t lanes = neon_dot_s8(vdupq_n_s32(0), v[k], vld1q_s8(q8 + e));
                            isum[r][t] = vmlaq_n_s32(isum[r][t], lanes, scales[e / 16]);
                        }
                    }
                }
            }
        }
        NEON_NAME(pairs_fma)(rows, tokens, isum, dw, da, sum);  // d_w * d_a
    }
    NEON_NAME(pairs_store)(rows, tokens, sum, out, out_stride);
}

// ---- the tiles of this copy: decode (DECODE_ROWS x 1) and prompt (TILE_MAX_ROWS x TILE_MAX_TOKENS)

#define NEON_TILES32(name, values, block, with_min)                                                              \
    NEON_ATTR static void NEON_NAME(decode_##name)(int64_t n, const uint8_t *w, size_t row_stride,             \
                                                   const uint8_t *act, size_t act_row_bytes, const float *act_d, \
                                                   int64_t act_d_stride, float *out, int64_t out_stride) {      \
        NEON_NAME(tile_blocks32)(DECODE_ROWS, 1, n / 32, sizeof(block), values, with_min, w, row_stride, act,    \
                                 act_row_bytes, act_d, act_d_stride, out, out_stride);                          \
    }                                                                                                            \
    NEON_ATTR static void NEON_NAME(prompt_##name)(int64_t n, const uint8_t *w, size_t row_stride,             \
                                                   const uint8_t *act, size_t act_row_bytes, const float *act_d, \
                                                   int64_t act_d_stride, float *out, int64_t out_stride) {      \
        NEON_NAME(tile_blocks32)(PROMPT_ROWS, PROMPT_TOKENS, n / 32, sizeof(block), values, with_min, w,     \
                                 row_stride, act, act_row_bytes, act_d, act_d_stride, out, out_stride);         \
    }

NEON_TILES32(q4_0, q4_0_values, slm_block_q4_0, 0)
NEON_TILES32(q4_1, q4_1_values, slm_block_q4_1, 1)
NEON_TILES32(q5_0, q5_0_values, slm_block_q5_0, 0)
NEON_TILES32(q8_0, q8_0_values, slm_block_q8_0, 0)
#undef NEON_TILES32

// K-quant tiles read the activation scale from the Q8_K block itself (a float already).
#define NEON_TILES_K(name)                                                                                       \
    NEON_ATTR static void NEON_NAME(decode_##name)(int64_t n, const uint8_t *w, size_t row_stride,             \
                                                   const uint8_t *act, size_t act_row_bytes, const float *act_d, \
                                                   int64_t act_d_stride, float *out, int64_t out_stride) {      \
        (void)act_d, (void)act_d_stride;                                                                         \
        NEON_NAME(tile_##name##_shape)(DECODE_ROWS, 1, n, w, row_stride, act, act_row_bytes, out, out_stride);  \
    }                                                                                                            \
    NEON_ATTR static void NEON_NAME(prompt_##name)(int64_t n, const uint8_t *w, size_t row_stride,             \
                                                   const uint8_t *act, size_t act_row_bytes, const float *act_d, \
                                                   int64_t act_d_stride, float *out, int64_t out_stride) {      \
        (void)act_d, (void)act_d_stride;                                                                         \
        NEON_NAME(tile_##name##_shape)(PROMPT_ROWS, PROMPT_TOKENS, n, w, row_stride, act, act_row_bytes,   \
                                       out, out_stride);                                                        \
    }

NEON_TILES_K(q4_K)
NEON_TILES_K(q6_K)
#undef NEON_TILES_K

static slm_matmul_tile NEON_NAME(decode_table)(int type) {
    switch (type) {
    case SLM_TYPE_Q4_0: return (slm_matmul_tile){NEON_NAME(decode_q4_0), DECODE_ROWS, 1};
    case SLM_TYPE_Q4_1: return (slm_matmul_tile){NEON_NAME(decode_q4_1), DECODE_ROWS, 1};
    case SLM_TYPE_Q5_0: return (slm_matmul_tile){NEON_NAME(decode_q5_0), DECODE_ROWS, 1};
    case SLM_TYPE_Q8_0: return (slm_matmul_tile){NEON_NAME(decode_q8_0), DECODE_ROWS, 1};
    case SLM_TYPE_Q4_K: return (slm_matmul_tile){NEON_NAME(decode_q4_K), DECODE_ROWS, 1};
    case SLM_TYPE_Q6_K: return (slm_matmul_tile){NEON_NAME(decode_q6_K), DECODE_ROWS, 1};
    default: return (slm_matmul_tile){NULL, 0, 0};
    }
}

static slm_matmul_tile NEON_NAME(prompt_table)(int type) {
    switch (type) {
    case SLM_TYPE_Q4_0: return (slm_matmul_tile){NEON_NAME(prompt_q4_0), PROMPT_ROWS, PROMPT_TOKENS};
    case SLM_TYPE_Q4_1: return (slm_matmul_tile){NEON_NAME(prompt_q4_1), PROMPT_ROWS, PROMPT_TOKENS};
    case SLM_TYPE_Q5_0: return (slm_matmul_tile){NEON_NAME(prompt_q5_0), PROMPT_ROWS, PROMPT_TOKENS};
    case SLM_TYPE_Q8_0: return (slm_matmul_tile){NEON_NAME(prompt_q8_0), PROMPT_ROWS, PROMPT_TOKENS};
    case SLM_TYPE_Q4_K: return (slm_matmul_tile){NEON_NAME(prompt_q4_K), PROMPT_ROWS, PROMPT_TOKENS};
    case SLM_TYPE_Q6_K: return (slm_matmul_tile){NEON_NAME(prompt_q6_K), PROMPT_ROWS, PROMPT_TOKENS};
    default: return (slm_matmul_tile){NULL, 0, 0};
    }
}
