// Matrix-vector and matrix-matrix products over rows of quantized weights: SIMD tiles where the
// dispatch (dispatch.c) offers them, the dot kernel pair by pair elsewhere.
#include "arch.h"

#include <pthread.h>
#include <stdlib.h>

static const float *activation_scales(int type, const uint8_t *act, size_t act_row_bytes, int64_t n_cols,
                                      int64_t n_tokens);

void slm_matvec(int type, const void *weight, size_t row_stride, int64_t n_cols,
                const void *activation, float *y, int64_t row_begin, int64_t row_end) {
    const slm_vec_dot_fn dot = slm_vec_dot_kernel(type);
    const uint8_t *w = (const uint8_t *)weight;
    int64_t r = row_begin;
    const slm_matmul_tile tile = dot ? slm_matvec_tile_kernel(type) : (slm_matmul_tile){NULL, 0, 0};
    if (tile.fn && row_end - r >= tile.rows) {
        const float *act_d = activation_scales(type, (const uint8_t *)activation, 0, n_cols, 1);
        for (; act_d && r + tile.rows <= row_end; r += tile.rows) {
            tile.fn(n_cols, w + (size_t)r * row_stride, row_stride, (const uint8_t *)activation, 0, act_d, 1, y + r, 0);
        }
    }
    for (; r < row_end; ++r) {
        // The row after next into cache while this one is summed (prefetching never faults, so
        // running past the range or the matrix is harmless).
        const uint8_t *ahead = w + (size_t)(r + 2) * row_stride;
        for (size_t o = 0; o < row_stride; o += 64) __builtin_prefetch(ahead + o);
        y[r] = dot ? dot(n_cols, w + (size_t)r * row_stride, activation) : NAN;
    }
}

void slm_matmul(int type, const void *weight, size_t row_stride, int64_t n_cols,
                const void *activations, size_t act_row_bytes, int64_t n_tokens,
                float *out, int64_t out_row_stride, int64_t row_begin, int64_t row_end) {
    slm_matmul_in_batch(type, weight, row_stride, n_cols, activations, act_row_bytes, n_tokens, n_tokens, 0,
                        out, out_row_stride, row_begin, row_end);
}

// Each thread's buffer for the tiles' activation scales: kept between calls so the token loop
// allocates nothing once warm, and freed by the key's destructor when the thread exits (pool
// workers of a freed model or session), so nothing leaks.
typedef struct {
    float *values;
    size_t capacity;
} scale_buffer;

static pthread_key_t scale_buffer_key;
static pthread_once_t scale_buffer_once = PTHREAD_ONCE_INIT;
static int scale_buffer_key_ok;

static void free_scale_buffer(void *p) {
    scale_buffer *buffer = (scale_buffer *)p;
    free(buffer->values);
    free(buffer);
}

static void make_scale_buffer_key(void) { scale_buffer_key_ok = pthread_key_create(&scale_buffer_key, free_scale_buffer) == 0; }

static float *thread_scale_buffer(size_t count) {
    pthread_once(&scale_buffer_once, make_scale_buffer_key);
    if (!scale_buffer_key_ok) return NULL;
    scale_buffer *buffer = (scale_buffer *)pthread_getspecific(scale_buffer_key);
    if (!buffer) {
        buffer = (scale_buffer *)calloc(1, sizeof *buffer);
        if (!buffer) return NULL;
        if (pthread_setspecific(scale_buffer_key, buffer) != 0) {
            free(buffer);
            return NULL;
        }
    }
    if (count > buffer->capacity) {
        float *grown = (float *)realloc(buffer->values, count * sizeof(float));
        if (!grown) return NULL;
        buffer->values = grown;
        buffer->capacity = count;
    }
    return buffer->values;
}

// What the tiles read of the activations, per block, as floats (see slm_matmul_tile_fn): the
// scale d of block i of token t at [i * n_tokens + t], then for Q4_0 weights 8 times the sum of
// each block's 32 quants (exact in a float), which turns the stored nibbles' products into the
// centred ones: sum (q - 8) a = sum q a - 8 sum a; for Q4_1 weights the block's s (d times that
// sum, stored in the Q8_1 block as F16). The 32-element activation formats (Q8_0, Q8_1) start
// their blocks with d as F16; Q8_K (the K-quants' activations, whose tiles exist on aarch64 and
// read d from the block themselves) starts its 256-element blocks with d as a float.
// Whether the activation format `act_type` has per-block scales the tiles read.
static int has_block_scales(int act_type) {
    return act_type == SLM_TYPE_Q8_0 || act_type == SLM_TYPE_Q8_1 || act_type == SLM_TYPE_Q8_K;
}

size_t slm_tile_activation_scale_count(int type, int64_t n_cols, int64_t n_tokens) {
    const int act_type = slm_type_activation_type(type);
    if (!has_block_scales(act_type) || n_cols <= 0 || n_tokens <= 0) return 0;
    const int64_t nb = n_cols / slm_type_block_elements(act_type);
    const int with_second = type == SLM_TYPE_Q4_0 || type == SLM_TYPE_Q4_1;
    return (size_t)(nb * n_tokens * (with_second ? 2 : 1));
}

void slm_tile_activation_scales(int type, const void *activations, size_t act_row_bytes, int64_t n_cols,
                                int64_t n_tokens, int64_t token_begin, int64_t token_end, float *scales) {
    const int act_type = slm_type_activation_type(type);
    if (!has_block_scales(act_type)) return;
    const int64_t nb = n_cols / slm_type_block_elements(act_type);
    const size_t block_bytes = (size_t)slm_type_block_bytes(act_type);
    if (token_begin < 0) token_begin = 0;
    if (token_end > n_tokens) token_end = n_tokens;
    for (int64_t t = token_begin; t < token_end; ++t) {
        const uint8_t *row = (const uint8_t *)activations + (size_t)t * act_row_bytes;
        for (int64_t i = 0; i < nb; ++i) {
            if (act_type == SLM_TYPE_Q8_K) {
                memcpy(&scales[i * n_tokens + t], row + (size_t)i * block_bytes, sizeof(float));
            } else {
                uint16_t d;
                memcpy(&d, row + (size_t)i * block_bytes, sizeof d);
                scales[i * n_tokens + t] = slm_h2f_fast(d);
            }
        }
        if (type == SLM_TYPE_Q4_0) {
            const slm_block_q8_0 *blocks = (const slm_block_q8_0 *)row;
            for (int64_t i = 0; i < nb; ++i) {
                int sum = 0;
                for (int k = 0; k < SLM_QK8_0; ++k) sum += blocks[i].qs[k];
                scales[(nb + i) * n_tokens + t] = (float)(8 * sum);
            }
        } else if (type == SLM_TYPE_Q4_1) {
            const slm_block_q8_1 *blocks = (const slm_block_q8_1 *)row;
            for (int64_t i = 0; i < nb; ++i) scales[(nb + i) * n_tokens + t] = slm_h2f_fast(blocks[i].s);
        }
    }
}

// slm_tile_activation_scales into this thread's buffer; NULL without memory.
static const float *activation_scales(int type, const uint8_t *act, size_t act_row_bytes, int64_t n_cols,
                                      int64_t n_tokens) {
    float *scales = thread_scale_buffer(slm_tile_activation_scale_count(type, n_cols, n_tokens));
    if (!scales) return NULL;
    slm_tile_activation_scales(type, act, act_row_bytes, n_cols, n_tokens, 0, n_tokens, scales);
    return scales;
}

void slm_matmul_in_batch(int type, const void *weight, size_t row_stride, int64_t n_cols,
                         const void *activations, size_t act_row_bytes, int64_t n_tokens,
                         int64_t batch_tokens, int64_t batch_offset,
                         float *out, int64_t out_row_stride, int64_t row_begin, int64_t row_end) {
    slm_matmul_in_batch_scaled(type, weight, row_stride, n_cols, activations, act_row_bytes, n_tokens, batch_tokens,
                               batch_offset, NULL, out, out_row_stride, row_begin, row_end);
}

void slm_matmul_in_batch_scaled(int type, const void *weight, size_t row_stride, int64_t n_cols,
                                const void *activations, size_t act_row_bytes, int64_t n_tokens,
                                int64_t batch_tokens, int64_t batch_offset, const float *act_scales,
                                float *out, int64_t out_row_stride, int64_t row_begin, int64_t row_end) {
    // F16 weights: blocks converted once, every pair with the F16 dot's bits (x86/dot_avx2.c).
    if (type == SLM_TYPE_F16 && n_tokens > 1 && !slm_force_generic &&
        slm_matmul_f16_avx2(weight, row_stride, n_cols, activations, act_row_bytes, n_tokens, out, out_row_stride,
                            row_begin, row_end)) {
        return;
    }
    const slm_vec_dot_fn dot = slm_vec_dot_kernel(type);
    const uint8_t *w = (const uint8_t *)weight;
    const uint8_t *act = (const uint8_t *)activations;
    // A panel takes whole groups of rows for its tokens (all, or the first panel_tokens); the
    // tokens after those on the panel's rows and the rows it leaves go on as below.
    int64_t panel_tokens = 0;
    const slm_matmul_panel panel = dot ? slm_matmul_panel_kernel(type, batch_tokens, batch_offset, n_tokens, &panel_tokens)
                                       : (slm_matmul_panel){NULL, 0, 0};
    if (panel.fn && panel_tokens >= panel.min_tokens && row_end - row_begin >= panel.rows) {
        const int64_t panel_rows_end = row_begin + (row_end - row_begin) / panel.rows * panel.rows;
        if (panel_tokens < n_tokens) {
            // The tokens after the panel's (the last of a batch, in another order) on its rows:
            // the other paths. First, since that call fills this thread's scale buffer with its own.
            slm_matmul_in_batch_scaled(type, weight, row_stride, n_cols, act + (size_t)panel_tokens * act_row_bytes,
                                       act_row_bytes, n_tokens - panel_tokens, batch_tokens, batch_offset + panel_tokens,
                                       NULL, out + panel_tokens * out_row_stride, out_row_stride, row_begin, panel_rows_end);
        }
        const float *panel_d = act_scales ? act_scales : activation_scales(type, act, act_row_bytes, n_cols, n_tokens);
        if (panel_d) {
            for (int64_t r = row_begin; r < panel_rows_end; r += panel.rows) {
                panel.fn(n_cols, w + (size_t)r * row_stride, row_stride, act, act_row_bytes, panel_tokens, panel_d, n_tokens,
                         out + r, out_row_stride);
            }
            row_begin = panel_rows_end;
            if (row_begin == row_end) return;
            act_scales = panel_d;  // computed once for the rows left too
        }
    }
    // The tile for this type (and batch order), and the first tokens it may take.
    slm_matmul_tile shape = {NULL, 0, 0};
    int64_t tile_tokens_end = n_tokens;
    const float *act_d = NULL;
    if (dot && !slm_force_generic) {
        shape = slm_matmul_tile_kernel(type);
        if (shape.fn) {
            act_d = act_scales ? act_scales : activation_scales(type, act, act_row_bytes, n_cols, n_tokens);
            if (!act_d) shape.fn = NULL;  // no memory for the scales: the pair-by-pair path needs none
        } else {
            shape = slm_matmul_tile_kernel_for_batch(type, batch_tokens, batch_offset, n_tokens, &tile_tokens_end);
        }
    }
    const slm_matmul_tile_fn tile = shape.fn;
    const int64_t tile_rows = shape.rows, tile_tokens = shape.tokens;
    // Blocks of rows x tokens small enough that both the weight rows and the activations of a
    // block stay in L1 (or L2 for the widest rows) while every pair is computed; weights are then
    // read from memory once per call. Inside a block, whole tiles go through the tile kernel
    // and the ragged edges pair by pair (the same bits either way).
    enum { ROW_BLOCK = 16, TOKEN_BLOCK = 16 };
    for (int64_t r0 = row_begin; r0 < row_end; r0 += ROW_BLOCK) {
        const int64_t r1 = r0 + ROW_BLOCK < row_end ? r0 + ROW_BLOCK : row_end;
        const int64_t tiled_rows = tile ? (r1 - r0) / tile_rows * tile_rows : 0;
        for (int64_t t0 = 0; t0 < n_tokens; t0 += TOKEN_BLOCK) {
            const int64_t t1 = t0 + TOKEN_BLOCK < n_tokens ? t0 + TOKEN_BLOCK : n_tokens;
            const int64_t tile_t1 = t1 < tile_tokens_end ? t1 : tile_tokens_end;
            const int64_t tiled_tokens = tile && tile_t1 > t0 ? (tile_t1 - t0) / tile_tokens * tile_tokens : 0;
            for (int64_t t = t0; t < t0 + tiled_tokens; t += tile_tokens) {
                for (int64_t r = r0; r < r0 + tiled_rows; r += tile_rows) {
                    tile(n_cols, w + (size_t)r * row_stride, row_stride, act + (size_t)t * act_row_bytes,
                         act_row_bytes, act_d ? act_d + t : NULL, n_tokens, out + t * out_row_stride + r,
                         out_row_stride);
                }
            }
            for (int64_t t = t0; t < t1; ++t) {
                // Rows the tiles did not cover for this token: all of them past the tiled tokens.
                const int64_t first = t < t0 + tiled_tokens ? r0 + tiled_rows : r0;
                if (first >= r1) continue;  // (most tokens of a prompt: no kernel lookup for none)
                // llama.cpp sums some types in another order inside a batch than for one token,
                // depending on the batch's size and the token's place in it; follow it per token
                // so prompt logits match its own.
                const slm_vec_dot_fn pair_dot =
                    dot ? slm_vec_dot_kernel_for_batch(type, batch_tokens, batch_offset + t) : NULL;
                const void *a = act + (size_t)t * act_row_bytes;
                float *o = out + t * out_row_stride;
                for (int64_t r = first; r < r1; ++r) {
                    o[r] = pair_dot ? pair_dot(n_cols, w + (size_t)r * row_stride, a) : NAN;
                }
            }
        }
    }
}
