// slm_kernels_testing.h — the kernels' entry points that only the tests call: each SIMD table
// on its own, the scalar `_generic` twins, the matmul tiles, and forcing the twins.
//
// Not in the public include/slm_kernels.h, so the engine and libslm see only what they use. The
// kernels include this header themselves (kernels_internal.h), so every definition is checked
// against it. Tests reach it through the CSLMKernelsTesting target (Package.swift), whose one
// header includes this file; the C twin test (Tests/CKernelTests) uses the same header.
#ifndef SLM_KERNELS_TESTING_H
#define SLM_KERNELS_TESTING_H

#include "slm_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

// ---- Dot products (generic/dot.c, x86/dot_avx2.c, x86/quant_body.h, arm/dot_neon.c) ----
// The scalar twins only, and each SIMD table of this CPU (NULL where the CPU or the build's
// architecture has no such variant). x86-64: AVX2+FMA+F16C. aarch64: plain NEON (every aarch64
// CPU) and NEON with the dot-product instructions (HWCAP_ASIMDDP).
slm_vec_dot_fn slm_vec_dot_kernel_generic(int type);
slm_vec_dot_fn slm_vec_dot_kernel_avx2(int type);
slm_vec_dot_fn slm_vec_dot_kernel_neon(int type);
slm_vec_dot_fn slm_vec_dot_kernel_neon_dotprod(int type);
// The AVX2 batch orders of slm_vec_dot_kernel_for_batch alone: NULL where the one-token order applies.
slm_vec_dot_fn slm_vec_dot_kernel_avx2_for_batch(int type, int64_t n_tokens, int64_t token);
// The quantized types' tables of the VNNI builds (x86/quant_body.h): the same kernels as the
// AVX2 table's for Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K and Q6_K, with the same bits, NULL for
// the other types and where this CPU lacks the build's features. vnni_emulated is the VNNI code
// with its two instructions emulated in AVX2 (tests only; any AVX2 CPU runs it).
slm_vec_dot_fn slm_vec_dot_kernel_avxvnni(int type);
slm_vec_dot_fn slm_vec_dot_kernel_avx512vnni(int type);
slm_vec_dot_fn slm_vec_dot_kernel_vnni_emulated(int type);
slm_vec_dot_fn slm_vec_dot_kernel_avxvnni_for_batch(int type, int64_t n_tokens, int64_t token);
slm_vec_dot_fn slm_vec_dot_kernel_avx512vnni_for_batch(int type, int64_t n_tokens, int64_t token);
slm_vec_dot_fn slm_vec_dot_kernel_vnni_emulated_for_batch(int type, int64_t n_tokens, int64_t token);
// Makes every dispatch point (generic/dispatch.c) choose the scalar twins.
void slm_set_force_generic(int force);
// Which x86 build runs the quantized dots and tiles (x86/quant_body.h). By default the dispatch
// takes the best this CPU has: AVX512-VNNI, then AVX-VNNI, then AVX2.
typedef enum slm_x86_quant_build_id {
    SLM_X86_QUANT_BEST = 0,  // the default choice (or none: not x86, no AVX2)
    SLM_X86_QUANT_AVX2 = 1,
    SLM_X86_QUANT_AVXVNNI = 2,
    SLM_X86_QUANT_AVX512VNNI = 3,
    SLM_X86_QUANT_VNNI_EMULATED = 4,  // tests only
} slm_x86_quant_build_id;
// Makes the dispatch use `build` (SLM_X86_QUANT_BEST: its own choice again, or the environment's
// SLM_X86_QUANT, see generic/dispatch.c). Returns 1, or 0 where this CPU cannot run that build
// (the choice is then left as it was).
int slm_set_x86_quant_build(int build);
// The build the dispatch uses now: SLM_X86_QUANT_AVX2 ... , or SLM_X86_QUANT_BEST (0) where none
// applies (not x86, no AVX2+FMA+F16C).
int slm_x86_quant_build(void);

// Scalar reference kernels (the "_generic" twins of any SIMD kernels).
float slm_vec_dot_f32_f32_generic(int64_t n, const void *w, const void *a);
float slm_vec_dot_f16_f16_generic(int64_t n, const void *w, const void *a);
float slm_vec_dot_bf16_bf16_generic(int64_t n, const void *w, const void *a);
float slm_vec_dot_q4_0_q8_0_generic(int64_t n, const void *w, const void *a);
float slm_vec_dot_q4_1_q8_1_generic(int64_t n, const void *w, const void *a);
float slm_vec_dot_q5_0_q8_0_generic(int64_t n, const void *w, const void *a);
float slm_vec_dot_q5_1_q8_1_generic(int64_t n, const void *w, const void *a);
float slm_vec_dot_q8_0_q8_0_generic(int64_t n, const void *w, const void *a);
float slm_vec_dot_q4_0_q8_0_lanes_generic(int64_t n, const void *w, const void *a);
float slm_vec_dot_q4_K_q8_K_generic(int64_t n, const void *w, const void *a);
float slm_vec_dot_q5_K_q8_K_generic(int64_t n, const void *w, const void *a);
float slm_vec_dot_q6_K_q8_K_generic(int64_t n, const void *w, const void *a);
// Scalar twins of the aarch64 NEON dots in their exact float order (generic/dot_neon_order.c):
// the same lanes of exact integer sums, the same conversions, products, FMAs and folds, so both
// NEON copies (plain and SDOT), and through them the aarch64 tiles, return these bits exactly.
// Plain C on every architecture; NULL for types the NEON table lacks.
slm_vec_dot_fn slm_vec_dot_kernel_neon_order_generic(int type);
float slm_vec_dot_f32_f32_neon_order_generic(int64_t n, const void *w, const void *a);
float slm_vec_dot_f16_f16_neon_order_generic(int64_t n, const void *w, const void *a);
float slm_vec_dot_bf16_bf16_neon_order_generic(int64_t n, const void *w, const void *a);
float slm_vec_dot_q4_0_q8_0_neon_order_generic(int64_t n, const void *w, const void *a);
float slm_vec_dot_q4_1_q8_1_neon_order_generic(int64_t n, const void *w, const void *a);
float slm_vec_dot_q5_0_q8_0_neon_order_generic(int64_t n, const void *w, const void *a);
float slm_vec_dot_q5_1_q8_1_neon_order_generic(int64_t n, const void *w, const void *a);
float slm_vec_dot_q8_0_q8_0_neon_order_generic(int64_t n, const void *w, const void *a);
float slm_vec_dot_q4_K_q8_K_neon_order_generic(int64_t n, const void *w, const void *a);
float slm_vec_dot_q5_K_q8_K_neon_order_generic(int64_t n, const void *w, const void *a);
float slm_vec_dot_q6_K_q8_K_neon_order_generic(int64_t n, const void *w, const void *a);

// ---- Matmul tiles (x86/quant_body.h, x86/dot_avx2.c, arm/matmul_neon.c; chosen in generic/dispatch.c) ----
// A tile of slm_matmul: `rows` consecutive weight rows (from `weight`, row_stride apart) times
// `tokens` consecutive activation rows (from `activations`, act_row_bytes apart), written to
// out[t * out_row_stride + r] for the tile's own t and r; each type has its own shape.
// act_d[i * act_d_stride + t] is the scale d of activation block i of the tile's token t, as a
// float (converted once per matmul instead of once per tile). For Q4_0, act_d continues with
// 8 * (sum of the block's 32 quants) in the same layout from act_d[nb * act_d_stride], nb = n_cols / 32;
// for Q4_1, with the blocks' s (d times that sum) as floats. slm_tile_activation_scales (slm_kernels.h)
// writes it.
// For the K-quants (Q8_K activations, 256-element blocks) it holds each block's float d; their
// tiles read d from the blocks themselves. Bit-identical to slm_vec_dot of each pair. fn is NULL where this CPU or type has none
// (slm_matmul then computes pair by pair); SIMD only, its scalar twin is that pair-by-pair loop.
typedef void (*slm_matmul_tile_fn)(int64_t n_cols, const uint8_t *weight, size_t row_stride,
                                   const uint8_t *activations, size_t act_row_bytes, const float *act_d,
                                   int64_t act_d_stride, float *out, int64_t out_row_stride);
typedef struct {
    slm_matmul_tile_fn fn;
    int rows, tokens;
} slm_matmul_tile;
slm_matmul_tile slm_matmul_tile_kernel(int type);
// Prompt panels: `rows` weight rows by any number of tokens (at least `min_tokens`) per call (and
// aarch64's SDOT panels, below), for x86 Q4_0 and the batch orders of Q4_K and Q6_K (each block of the rows is rearranged once and
// serves every token of the call), Q4_1, Q5_0 and Q8_0 (their blocks unpacked once per 64 tokens). Same contract as the tiles otherwise;
// slm_matmul prefers a panel to the tile where there is one. For a chunk of n_tokens tokens at
// batch_offset in a batch of batch_tokens, *tokens_end is how many of them (from the first) the
// panel takes (the others keep the order slm_vec_dot_kernel_for_batch gives them).
typedef void (*slm_matmul_panel_fn)(int64_t n_cols, const uint8_t *weight, size_t row_stride,
                                    const uint8_t *activations, size_t act_row_bytes, int64_t n_tokens,
                                    const float *act_d, int64_t act_d_stride, float *out, int64_t out_row_stride);
typedef struct {
    slm_matmul_panel_fn fn;
    int rows, min_tokens;
} slm_matmul_panel;
slm_matmul_panel slm_matmul_panel_kernel(int type, int64_t batch_tokens, int64_t batch_offset, int64_t n_tokens,
                                         int64_t *tokens_end);
// Decode (one token) tiles for slm_matvec: `rows` rows x 1 token, same contract.
slm_matmul_tile slm_matvec_tile_kernel(int type);
// aarch64's tile tables one by one (arm/matmul_neon.c; empty elsewhere and on CPUs without the
// features): decode and prompt tiles for plain NEON and SDOT, prompt tiles for SMMLA (i8mm). Each
// tile's output for a (row, token) has the bits of that table's NEON dot for the pair (both NEON
// dot copies give the same bits). The dispatch prefers SMMLA, then SDOT, then plain NEON.
slm_matmul_tile slm_matvec_tile_kernel_neon(int type);
slm_matmul_tile slm_matvec_tile_kernel_neon_dotprod(int type);
slm_matmul_tile slm_matmul_tile_kernel_neon(int type);
slm_matmul_tile slm_matmul_tile_kernel_neon_dotprod(int type);
slm_matmul_tile slm_matmul_tile_kernel_neon_i8mm(int type);
// aarch64's SDOT prompt panels (arm/matmul_neon.c): 4 rows by any number of tokens for Q4_0,
// Q4_1, Q5_0, Q8_0, Q4_K and Q6_K, each output with the bits of the NEON dot of its pair; empty
// elsewhere and on CPUs without SDOT.
slm_matmul_panel slm_matmul_panel_kernel_neon_dotprod(int type);
// The SMMLA (i8mm) prompt panels: 8 rows by any number of tokens for Q4_0, Q4_1, Q5_0 and Q8_0,
// the same bits; the dispatch prefers them where the CPU has i8mm.
slm_matmul_panel slm_matmul_panel_kernel_neon_i8mm(int type);
// The CPU features the dispatch found (slm_cpu_features), as comma-separated names in the
// order avx2, fma, f16c, neon, dotprod, i8mm, sve ("none" if none), written to buf.
void slm_cpu_feature_names(char *buf, size_t size);

// ---- Scalar twins of the row kernels (generic/activation.c, gelu.c, rope.c, attention.c) ----
void slm_swiglu_generic(const float *gate, const float *up, float *out, int64_t n);
void slm_gelu_generic(const float *x, float *out, int64_t n);
void slm_geglu_generic(const float *gate, const float *up, float *out, int64_t n);
void slm_rope_adjacent_generic(float *x, int64_t heads, int64_t head_dim, int64_t rotary_dims,
                               const float *cos_table, const float *sin_table);
void slm_rope_neox_generic(float *x, int64_t heads, int64_t head_dim, int64_t rotary_dims,
                           const float *cos_table, const float *sin_table);
void slm_attention_partial_capped_generic(const float *query, const uint16_t *keys, int64_t key_stride,
                                          const uint16_t *values, int64_t value_stride, int64_t begin, int64_t end,
                                          int64_t head_dim, float scale, float softcap, float *partial,
                                          void *scratch);
void slm_attention_partial_generic(const float *query, const uint16_t *keys, int64_t key_stride,
                                   const uint16_t *values, int64_t value_stride, int64_t begin, int64_t end,
                                   int64_t head_dim, float scale, float *partial, void *scratch);
void slm_attention_merge_generic(const float *partials, int64_t count, int64_t head_dim, float *out);
void slm_attention_head_f32_transposed_generic(const float *query, const float *keys_t, const float *values,
                                               int64_t value_stride, int64_t n_positions, int64_t head_dim,
                                               float scale, float *out, void *scratch);
void slm_attention_head_typed_generic(const float *query, int key_type, const void *keys, size_t key_row_bytes,
                                      int value_type, const void *values, size_t value_row_bytes, int64_t begin,
                                      int64_t end, int64_t head_dim, float scale, float softcap, float *out,
                                      void *scratch);
void slm_attention_head_f32_window_generic(const float *query, const float *keys_t, const float *values,
                                           int64_t value_stride, int64_t begin, int64_t n_positions,
                                           int64_t head_dim, float scale, float softcap, float *out, void *scratch);
void slm_attention_head_group_f32_window_generic(const float *queries, int64_t n_heads, const float *keys_t,
                                                 const float *values, int64_t value_stride, int64_t begin,
                                                 int64_t n_positions, int64_t head_dim, float scale, float softcap,
                                                 float *out, void *scratch);
void slm_attention_head_generic(const float *query, const uint16_t *keys, int64_t key_stride,
                                const uint16_t *values, int64_t value_stride, int64_t n_positions,
                                int64_t head_dim, float scale, int mode, float *out, void *scratch);

#ifdef __cplusplus
}
#endif

#endif // SLM_KERNELS_TESTING_H
