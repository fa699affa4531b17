// slm_kernels.h — quantized tensor formats and scalar compute kernels for slm.
//
// Every block layout below is bit-exact with GGUF / ggml (little-endian hosts only), so weight
// tensors can be used straight from the mapped file. Half-precision fields are stored as raw
// uint16_t bit patterns; use slm_fp16_to_fp32 to read them.
//
// Conventions for all row functions:
//   - n is the number of elements and must be a multiple of slm_type_block_elements(type);
//     a trailing partial block is ignored.
//   - An unknown or unsupported type never crashes: dequantize fills dst with NaN,
//     vec_dot / matvec / matmul produce NaN, quantize writes nothing.
//
// Entry points only the tests call (each SIMD table, the scalar `_generic` twins, the matmul
// tiles, forcing the twins) are declared in slm_kernels_testing.h, not here.
#ifndef SLM_KERNELS_H
#define SLM_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Type ids are GGUF's ggml_type numbers.
typedef enum slm_tensor_type {
    SLM_TYPE_F32 = 0,
    SLM_TYPE_F16 = 1,
    SLM_TYPE_Q4_0 = 2,
    SLM_TYPE_Q4_1 = 3,
    SLM_TYPE_Q5_0 = 6,
    SLM_TYPE_Q5_1 = 7,
    SLM_TYPE_Q8_0 = 8,
    SLM_TYPE_Q8_1 = 9,
    SLM_TYPE_Q2_K = 10,
    SLM_TYPE_Q3_K = 11,
    SLM_TYPE_Q4_K = 12,
    SLM_TYPE_Q5_K = 13,
    SLM_TYPE_Q6_K = 14,
    SLM_TYPE_Q8_K = 15,
    SLM_TYPE_BF16 = 30,
} slm_tensor_type;

// Elements per block.
#define SLM_QK4_0 32
#define SLM_QK4_1 32
#define SLM_QK5_0 32
#define SLM_QK5_1 32
#define SLM_QK8_0 32
#define SLM_QK8_1 32
#define SLM_QK_K 256
#define SLM_K_SCALE_SIZE 12

// ---------------------------------------------------------------------------------------------
// Block layouts. Field order and sizes are those of GGUF; the asserts pin the byte sizes.
// ---------------------------------------------------------------------------------------------

// value = d * (q - 8), q in 0..15; element j in the low nibble of qs[j], element j+16 in the high one.
typedef struct slm_block_q4_0 {
    uint16_t d;
    uint8_t qs[SLM_QK4_0 / 2];
} slm_block_q4_0;

// value = d * q + m, q in 0..15, nibble order as Q4_0.
typedef struct slm_block_q4_1 {
    uint16_t d;
    uint16_t m;
    uint8_t qs[SLM_QK4_1 / 2];
} slm_block_q4_1;

// value = d * (q - 16), q in 0..31; bit 4 of element j is bit j of the little-endian word qh.
typedef struct slm_block_q5_0 {
    uint16_t d;
    uint8_t qh[4];
    uint8_t qs[SLM_QK5_0 / 2];
} slm_block_q5_0;

// value = d * q + m, q in 0..31, bits as Q5_0.
typedef struct slm_block_q5_1 {
    uint16_t d;
    uint16_t m;
    uint8_t qh[4];
    uint8_t qs[SLM_QK5_1 / 2];
} slm_block_q5_1;

// value = d * q.
typedef struct slm_block_q8_0 {
    uint16_t d;
    int8_t qs[SLM_QK8_0];
} slm_block_q8_0;

// value = d * q; s = d * sum(q) (both fp16), used to fold in the weight's min of Q4_1 / Q5_1.
typedef struct slm_block_q8_1 {
    uint16_t d;
    uint16_t s;
    int8_t qs[SLM_QK8_1];
} slm_block_q8_1;

// 16 sub-blocks of 16; value = d * sc * q - dmin * m (4-bit sc and m packed in scales).
typedef struct slm_block_q2_K {
    uint8_t scales[SLM_QK_K / 16];
    uint8_t qs[SLM_QK_K / 4];
    uint16_t d;
    uint16_t dmin;
} slm_block_q2_K;

// 16 sub-blocks of 16; 2 low bits in qs, high bit in hmask, 6-bit scales.
typedef struct slm_block_q3_K {
    uint8_t hmask[SLM_QK_K / 8];
    uint8_t qs[SLM_QK_K / 4];
    uint8_t scales[12];
    uint16_t d;
} slm_block_q3_K;

// 8 sub-blocks of 32; value = d * sc * q - dmin * m, 6-bit sc and m packed in scales.
typedef struct slm_block_q4_K {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[SLM_K_SCALE_SIZE];
    uint8_t qs[SLM_QK_K / 2];
} slm_block_q4_K;

// As Q4_K with a fifth bit per element in qh.
typedef struct slm_block_q5_K {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[SLM_K_SCALE_SIZE];
    uint8_t qh[SLM_QK_K / 8];
    uint8_t qs[SLM_QK_K / 2];
} slm_block_q5_K;

// 16 sub-blocks of 16; value = d * scales[i] * (q - 32), q in 0..63 (4 bits in ql, 2 in qh).
typedef struct slm_block_q6_K {
    uint8_t ql[SLM_QK_K / 2];
    uint8_t qh[SLM_QK_K / 4];
    int8_t scales[SLM_QK_K / 16];
    uint16_t d;
} slm_block_q6_K;

// Activation format of the K-quants: float scale, bsums[i] = sum of qs[16*i ..< 16*i+16].
typedef struct slm_block_q8_K {
    float d;
    int8_t qs[SLM_QK_K];
    int16_t bsums[SLM_QK_K / 16];
} slm_block_q8_K;

_Static_assert(sizeof(slm_block_q4_0) == 18, "slm_block_q4_0 size");
_Static_assert(sizeof(slm_block_q4_1) == 20, "slm_block_q4_1 size");
_Static_assert(sizeof(slm_block_q5_0) == 22, "slm_block_q5_0 size");
_Static_assert(sizeof(slm_block_q5_1) == 24, "slm_block_q5_1 size");
_Static_assert(sizeof(slm_block_q8_0) == 34, "slm_block_q8_0 size");
_Static_assert(sizeof(slm_block_q8_1) == 36, "slm_block_q8_1 size");
_Static_assert(sizeof(slm_block_q2_K) == 84, "slm_block_q2_K size");
_Static_assert(sizeof(slm_block_q3_K) == 110, "slm_block_q3_K size");
_Static_assert(sizeof(slm_block_q4_K) == 144, "slm_block_q4_K size");
_Static_assert(sizeof(slm_block_q5_K) == 176, "slm_block_q5_K size");
_Static_assert(sizeof(slm_block_q6_K) == 210, "slm_block_q6_K size");
_Static_assert(sizeof(slm_block_q8_K) == 292, "slm_block_q8_K size");

// ---------------------------------------------------------------------------------------------
// Type traits
// ---------------------------------------------------------------------------------------------

// 1 for the types usable as weights (dequantize + dot): F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1,
// Q8_0, Q4_K, Q5_K, Q6_K.
int slm_type_is_supported(int type);
// Elements per block (1 for F32/F16/BF16, 32, or 256); 0 for an unknown type id.
int64_t slm_type_block_elements(int type);
// Bytes per block; 0 for an unknown type id.
int64_t slm_type_block_bytes(int type);
// "Q4_1" etc., "unknown" otherwise.
const char *slm_type_name(int type);
// Format the activations are quantized to before dotting with a weight of this type
// (ggml's vec_dot_type); -1 for a type that is not a supported weight type.
int slm_type_activation_type(int type);
// Bytes of a row of n elements (n a multiple of the block size); 0 for an unknown type.
size_t slm_row_bytes(int type, int64_t n);

// ---------------------------------------------------------------------------------------------
// Scalar conversions
// ---------------------------------------------------------------------------------------------

// IEEE half <-> float, round-to-nearest-even (as F16C); NaN stays NaN (quiet bit set on narrowing).
float slm_fp16_to_fp32(uint16_t h);
uint16_t slm_fp32_to_fp16(float f);
// bfloat16 <-> float, round-to-nearest-even; NaN forced quiet (as ggml).
float slm_bf16_to_fp32(uint16_t h);
uint16_t slm_fp32_to_bf16(float f);

void slm_f16_row_to_f32(const uint16_t *src, float *dst, int64_t n);
void slm_f32_row_to_f16(const float *src, uint16_t *dst, int64_t n);

// ---------------------------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------------------------

// All supported weight types, plus Q8_0, Q8_1 (d * q) and Q8_K.
void slm_dequantize_row(int type, const void *src, float *dst, int64_t n);

// Activation formats: F32 (copy), F16, BF16, Q8_0, Q8_1, Q8_K, and Q4_0 (a KV-cache type).
// Numerically the same as the quantizers ggml's CPU backend runs on x86 (a Q8_K block of zeros
// also gets zero bsums).
void slm_quantize_row(int activation_type, const float *src, void *dst, int64_t n);

// Dot of one weight row with one activation row in slm_type_activation_type(type) format.
float slm_vec_dot(int type, int64_t n, const void *weight_row, const void *activation_row);

// The dot kernel of one (weight, activation) pair: the SIMD variant this CPU has for the type
// (chosen in generic/dispatch.c, from the CPU features detected there once), else the scalar
// twin; NULL if unsupported. slm_vec_dot dispatches through it.
typedef float (*slm_vec_dot_fn)(int64_t n, const void *weight_row, const void *activation_row);
slm_vec_dot_fn slm_vec_dot_kernel(int type);
// The dot kernel of a quantized KV cache's key rows (Q8_0 or Q4_0) with a Q8_0 query, in the
// order llama.cpp's flash attention sums them on x86 (for Q4_0 not the weights' order, which
// follows llama.cpp's repacked Q4_0); NULL for other types.
slm_vec_dot_fn slm_kv_key_dot_kernel(int type);
// The dot kernel for token `token` of a batch of n_tokens activation rows multiplied by the same
// weights: the same products as slm_vec_dot_kernel(type), summed in the order llama.cpp's CPU
// backend uses for that token of such a batch where it differs from its one-token order (on
// x86-64 AVX2: Q4_K in full groups of 4 tokens, Q5_K / Q6_K in batches of 8 or more); else
// slm_vec_dot_kernel(type). Same CPU detection and forced-generic rule.
slm_vec_dot_fn slm_vec_dot_kernel_for_batch(int type, int64_t n_tokens, int64_t token);
// Whether slm_vec_dot_kernel_for_batch (and its tiles) can sum `type` in another order than the
// one-token order for some batch on this CPU: then a token's result depends on the size of the
// batch it is computed in and its place there (the prompt cache reuses positions only where that
// is the same). Ignores slm_set_force_generic, so the answer errs on the side of "depends".
int slm_sum_order_depends_on_batch(int type);

// y[r] = dot(weight row r, activation) for r in [row_begin, row_end).
// row_stride = bytes between weight rows; y is indexed by absolute row number.
void slm_matvec(int type, const void *weight, size_t row_stride, int64_t n_cols,
                const void *activation, float *y, int64_t row_begin, int64_t row_end);

// Batched: activations are n_tokens rows of act_row_bytes each (already quantized);
// out[t * out_row_stride + r] = dot(weight row r, activation t) for r in [row_begin, row_end).
// Each weight row is read once per call (weight rows outer, tokens inner).
void slm_matmul(int type, const void *weight, size_t row_stride, int64_t n_cols,
                const void *activations, size_t act_row_bytes, int64_t n_tokens,
                float *out, int64_t out_row_stride, int64_t row_begin, int64_t row_end);

// slm_matmul for activations that are tokens [batch_offset, batch_offset + n_tokens) of a batch
// of batch_tokens tokens (a prompt fed in chunks): the types whose summation order depends on the
// batch (see slm_vec_dot_kernel_for_batch) follow the whole batch, not the chunk. n_tokens may be 1.
void slm_matmul_in_batch(int type, const void *weight, size_t row_stride, int64_t n_cols,
                         const void *activations, size_t act_row_bytes, int64_t n_tokens,
                         int64_t batch_tokens, int64_t batch_offset,
                         float *out, int64_t out_row_stride, int64_t row_begin, int64_t row_end);

// The same, with the per-block activation values the prompt tiles read (their scales d, and
// what Q4_0 / Q4_1 tiles add from the activations) already computed by
// slm_tile_activation_scales for these activations; NULL computes them here, per call.
// Computing them once per batch, split across the workers with the quantization, saves each
// worker (and each matrix of a fused call) from repeating it.
void slm_matmul_in_batch_scaled(int type, const void *weight, size_t row_stride, int64_t n_cols,
                                const void *activations, size_t act_row_bytes, int64_t n_tokens,
                                int64_t batch_tokens, int64_t batch_offset, const float *act_scales,
                                float *out, int64_t out_row_stride, int64_t row_begin, int64_t row_end);
// Floats of those values for n_tokens activation rows of n_cols columns quantized for `type`
// (0 where the activation format has no block scales: F16 / F32 weights).
size_t slm_tile_activation_scale_count(int type, int64_t n_cols, int64_t n_tokens);
// Writes the entries of tokens [token_begin, token_end) of the n_tokens rows, in the layout of all
// n_tokens, so workers can split the tokens between them.
void slm_tile_activation_scales(int type, const void *activations, size_t act_row_bytes, int64_t n_cols,
                                int64_t n_tokens, int64_t token_begin, int64_t token_end, float *scales);

// ---- Activations (generic/activation.c, generic/gelu.c) ----
// out[i] = silu(gate[i]) * up[i], silu(x) = x / (1 + e^-x). out may alias gate.
void slm_swiglu(const float *gate, const float *up, float *out, int64_t n);
// GELU, tanh approximation, rounded through F16 as llama.cpp's CPU backend does (gelu.c).
// out may alias x / gate.
void slm_gelu(const float *x, float *out, int64_t n);
// out[i] = gelu(gate[i]) * up[i] (GeGLU).
void slm_geglu(const float *gate, const float *up, float *out, int64_t n);

// ---- Rotary position embedding (generic/rope.c) ----
// Rotates the pairs (x[2i], x[2i+1]), i < rotary_dims / 2, of each of `heads` heads of `head_dim`
// floats by the angles whose cosines and sines are given (rotary_dims / 2 each).
void slm_rope_adjacent(float *x, int64_t heads, int64_t head_dim, int64_t rotary_dims,
                       const float *cos_table, const float *sin_table);
// The same rotation on split halves (x[i], x[i + rotary_dims / 2]) (ggml's NEOX mode, used by
// Qwen2, Gemma, Phi, StableLM). Dimensions from rotary_dims to head_dim are left unchanged.
void slm_rope_neox(float *x, int64_t heads, int64_t head_dim, int64_t rotary_dims,
                   const float *cos_table, const float *sin_table);

// ---- Attention over an F16 KV cache (generic/attention.c) ----
enum { SLM_ATTENTION_F32 = 0, SLM_ATTENTION_F16_ACCUMULATE = 1 };
// Bytes of scratch one slm_attention_head call needs (per concurrent caller).
size_t slm_attention_scratch_bytes(int64_t head_dim);
// out = softmax(scale * K·q) · V for one query head over positions 0..<n_positions.
// keys/values: F16 rows, `key_stride`/`value_stride` elements apart (the head's slice of each
// cached position). mode: SLM_ATTENTION_F32 or SLM_ATTENTION_F16_ACCUMULATE (see attention.c).
void slm_attention_head(const float *query, const uint16_t *keys, int64_t key_stride,
                        const uint16_t *values, int64_t value_stride, int64_t n_positions,
                        int64_t head_dim, float scale, int mode, float *out, void *scratch);
// Split attention for one query over a long cache, for spreading it across threads: each call
// runs positions [begin, end) in the F16-accumulate mode and writes (max, sum, acc[head_dim])
// (2 + head_dim floats) to `partial`; slm_attention_merge combines `count` such partials, in
// order, into the normalised output.
void slm_attention_partial(const float *query, const uint16_t *keys, int64_t key_stride,
                           const uint16_t *values, int64_t value_stride, int64_t begin, int64_t end,
                           int64_t head_dim, float scale, float *partial, void *scratch);
void slm_attention_merge(const float *partials, int64_t count, int64_t head_dim, float *out);
// slm_attention_partial with attention-logit soft-capping (Gemma 2): each score s = scale·(q·k)
// becomes softcap·tanh(s), as in llama.cpp's flash attention (which divides its scale by the cap
// first; callers pass that divided scale). softcap 0 is slm_attention_partial. A single partial
// merged with slm_attention_merge gives exactly slm_attention_head's F16-mode result.
void slm_attention_partial_capped(const float *query, const uint16_t *keys, int64_t key_stride,
                                  const uint16_t *values, int64_t value_stride, int64_t begin, int64_t end,
                                  int64_t head_dim, float scale, float softcap, float *partial, void *scratch);
// The F32 mode for many queries over the same cache: transpose each KV head's keys once
// (positions [begin, end) into `keys_t`, laid out per 64-position tile as (head_dim, 64) floats,
// so keys_t needs ceil(end / 64) * 64 * head_dim floats), then run every query against it. Same
// results, bit for bit, as slm_attention_head in SLM_ATTENTION_F32 mode. `values` are F32 rows
// from slm_attention_widen_values, value_stride floats apart.
void slm_attention_transpose_keys(const uint16_t *keys, int64_t key_stride, int64_t begin, int64_t end,
                                  int64_t head_dim, float *keys_t);
// Values [begin, end) of one KV head widened to F32 rows of head_dim floats (row p at
// values_f32 + p * head_dim), for the transposed F32 mode below, whose `values` are such rows.
void slm_attention_widen_values(const uint16_t *values, int64_t value_stride, int64_t begin, int64_t end,
                                int64_t head_dim, float *values_f32);
void slm_attention_head_f32_transposed(const float *query, const float *keys_t, const float *values,
                                       int64_t value_stride, int64_t n_positions, int64_t head_dim, float scale,
                                       float *out, void *scratch);
// The transposed F32 mode for a sliding window: only positions [begin, n_positions) are visible.
// Tiles stay aligned to absolute positions (multiples of 64), as in llama.cpp, so for begin = 0 and
// softcap 0 the result is that of slm_attention_head_f32_transposed. softcap != 0 caps the scores
// as slm_attention_partial_capped does.
void slm_attention_head_f32_window(const float *query, const float *keys_t, const float *values,
                                   int64_t value_stride, int64_t begin, int64_t n_positions, int64_t head_dim,
                                   float scale, float softcap, float *out, void *scratch);
// slm_attention_head_f32_window for the n_heads query heads of one KV group at once (they share
// keys, values and the visible range): `queries` and `out` hold the heads' rows side by side
// (n_heads · head_dim floats each); scratch: slm_attention_group_scratch_bytes(head_dim, n_heads).
// The results are those of n_heads single calls, bit for bit; the group goes through the tiles
// together, two heads per key and value load, while a tile is in cache.
size_t slm_attention_group_scratch_bytes(int64_t head_dim, int64_t n_heads);
void slm_attention_head_group_f32_window(const float *queries, int64_t n_heads, const float *keys_t, const float *values,
                                         int64_t value_stride, int64_t begin, int64_t n_positions,
                                         int64_t head_dim, float scale, float softcap, float *out, void *scratch);

// ---- Hadamard rotation of a quantized KV cache (generic/hadamard.c) ----
// x[0..n) := H·x block by block, H the orthonormal Sylvester-Hadamard matrix of `block` rows
// (a power of two dividing n; anything else leaves x unchanged), computed as ggml's fast
// transform computes it. H·H = I: applying it twice gives x back up to rounding.
void slm_hadamard_rotate(float *x, int64_t n, int64_t block);

// ---- Attention over a typed KV cache (generic/attention.c) ----
// One query head over positions [begin, end) of a cache whose K rows and V rows are each F16,
// Q8_0 or Q4_0 (slm_tensor_type ids), as llama.cpp's flash attention takes such caches (for every
// batch size once either type is quantized): the query is rounded to F16 (F16 keys) or quantized
// to Q8_0 and dotted with slm_kv_key_dot_kernel (quantized keys); positions are
// taken one at a time with libm's expf; the weighted sum of V is kept in an F16 accumulator for
// F16 values, else in F32 over each value row dequantized. keys/values point at the head's slice
// of position 0; rows are key_row_bytes / value_row_bytes apart. head_dim must be a multiple of
// 32. softcap as slm_attention_partial_capped (0: none). Scratch: slm_attention_scratch_bytes.
void slm_attention_head_typed(const float *query, int key_type, const void *keys, size_t key_row_bytes,
                              int value_type, const void *values, size_t value_row_bytes, int64_t begin,
                              int64_t end, int64_t head_dim, float scale, float softcap, float *out, void *scratch);

#ifdef __cplusplus
}
#endif

#endif // SLM_KERNELS_H
