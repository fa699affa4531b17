// What runs where: the architectures with SIMD kernels, the CPU features that choose them, and
// what each architecture's folder (x86/, arm/) hands to the dispatch (generic/dispatch.c).
//
// One binary runs on every CPU of its architecture: SIMD code is compiled for its extension with
// target attributes and chosen at run time. Every choice is made in generic/dispatch.c from
// slm_cpu_features(), the one function that asks the CPU what it has; the SIMD tables below
// check the same function, since the tests call them directly.
//
// The folders are compiled on every architecture (SwiftPM has no per-architecture sources), so
// each x86/ and arm/ file is wrapped in its SLM_ARCH_* guard, and generic/arch_fallback.c gives
// the other architecture's tables their empty answer (ggml's arch-fallback, as functions).
#ifndef SLM_ARCH_H
#define SLM_ARCH_H

#include "kernels_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#define SLM_ARCH_X86 1
#else
#define SLM_ARCH_X86 0
#endif

#if defined(__aarch64__)
#define SLM_ARCH_ARM64 1
#else
#define SLM_ARCH_ARM64 0
#endif

#define SLM_HIDDEN __attribute__((visibility("hidden")))

// ---- CPU features ------------------------------------------------------------------------------

enum {
    SLM_CPU_X86_AVX2 = 1u << 0,
    SLM_CPU_X86_FMA = 1u << 1,
    SLM_CPU_X86_F16C = 1u << 2,
    SLM_CPU_ARM_NEON = 1u << 3,     // every aarch64 CPU (Linux requires it)
    SLM_CPU_ARM_DOTPROD = 1u << 4,  // SDOT (ARMv8.2-A dotprod, Linux's HWCAP_ASIMDDP)
    SLM_CPU_ARM_I8MM = 1u << 5,     // SMMLA (int8 matrix multiply, Linux's HWCAP2_I8MM)
    SLM_CPU_ARM_SVE = 1u << 6,      // SVE present (HWCAP_SVE): detected and reported, no kernel uses it yet
    SLM_CPU_X86_AVXVNNI = 1u << 7,  // VEX vpdpbusd / vpdpwssd on 256 bits, with the OS saving AVX state
    // EVEX vpdpbusd / vpdpwssd on 256-bit registers: AVX512F, VL, BW and VNNI, with the OS saving
    // the AVX-512 state (opmask and ZMM registers) as well.
    SLM_CPU_X86_AVX512VNNI = 1u << 8,
};
// What the x86/ kernels but RoPE's need (RoPE's FMA build needs only SLM_CPU_X86_FMA).
#define SLM_CPU_X86_AVX2_FMA_F16C (SLM_CPU_X86_AVX2 | SLM_CPU_X86_FMA | SLM_CPU_X86_F16C)

// The SLM_CPU_* bits of this CPU, detected on the first call and cached.
SLM_HIDDEN unsigned slm_cpu_features(void);

SLM_INLINE int slm_cpu_has(unsigned features) { return (slm_cpu_features() & features) == features; }

// ---- generic/dispatch.c: the choices the generic code asks for -------------------------------

// The tile of slm_vec_dot_kernel_for_batch's batch orders (see slm_matmul_tile_kernel_avx2_for_batch),
// or an empty one (and *tile_tokens_end = 0) where the dispatch has none.
SLM_HIDDEN slm_matmul_tile slm_matmul_tile_kernel_for_batch(int type, int64_t batch_tokens, int64_t batch_offset,
                                                            int64_t n_tokens, int64_t *tile_tokens_end);

// ---- x86/ (x86-64, AVX2 + FMA + F16C; the quantized kernels also with AVX-VNNI, AVX512-VNNI) ----
// The SIMD tables (slm_vec_dot_kernel_avx2 and slm_vec_dot_kernel_avx2_for_batch are declared in
// slm_kernels_testing.h) answer NULL or an empty tile where this CPU lacks the features.
SLM_HIDDEN slm_matmul_tile slm_matmul_tile_kernel_avx2(int type);
SLM_HIDDEN slm_matmul_tile slm_matvec_tile_kernel_avx2(int type);
SLM_HIDDEN slm_matmul_panel slm_matmul_panel_kernel_avx2(int type, int64_t batch_tokens, int64_t batch_offset,
                                                     int64_t n_tokens, int64_t *tokens_end);
// The K-quant tiles of slm_vec_dot_kernel_for_batch's batch orders: for a chunk of n_tokens
// tokens at batch_offset in a batch of batch_tokens, the tile and, in *tile_tokens_end, how many
// of the chunk's tokens (from its first) take that order.
SLM_HIDDEN slm_matmul_tile slm_matmul_tile_kernel_avx2_for_batch(int type, int64_t batch_tokens,
                                                                 int64_t batch_offset, int64_t n_tokens,
                                                                 int64_t *tile_tokens_end);
// The same three tables from the VNNI builds of the quantized kernels (x86/quant_body.h), with
// the bits of the AVX2 ones; empty where this CPU lacks the build's features.
SLM_HIDDEN slm_matmul_tile slm_matmul_tile_kernel_avxvnni(int type);
SLM_HIDDEN slm_matmul_tile slm_matvec_tile_kernel_avxvnni(int type);
SLM_HIDDEN slm_matmul_panel slm_matmul_panel_kernel_avxvnni(int type, int64_t batch_tokens, int64_t batch_offset,
                                                     int64_t n_tokens, int64_t *tokens_end);
SLM_HIDDEN slm_matmul_tile slm_matmul_tile_kernel_avxvnni_for_batch(int type, int64_t batch_tokens,
                                                                    int64_t batch_offset, int64_t n_tokens,
                                                                    int64_t *tile_tokens_end);
SLM_HIDDEN slm_matmul_tile slm_matmul_tile_kernel_avx512vnni(int type);
SLM_HIDDEN slm_matmul_tile slm_matvec_tile_kernel_avx512vnni(int type);
SLM_HIDDEN slm_matmul_panel slm_matmul_panel_kernel_avx512vnni(int type, int64_t batch_tokens, int64_t batch_offset,
                                                     int64_t n_tokens, int64_t *tokens_end);
SLM_HIDDEN slm_matmul_tile slm_matmul_tile_kernel_avx512vnni_for_batch(int type, int64_t batch_tokens,
                                                                       int64_t batch_offset, int64_t n_tokens,
                                                                       int64_t *tile_tokens_end);
SLM_HIDDEN slm_matmul_tile slm_matmul_tile_kernel_vnni_emulated(int type);
SLM_HIDDEN slm_matmul_tile slm_matvec_tile_kernel_vnni_emulated(int type);
SLM_HIDDEN slm_matmul_panel slm_matmul_panel_kernel_vnni_emulated(int type, int64_t batch_tokens, int64_t batch_offset,
                                                     int64_t n_tokens, int64_t *tokens_end);
SLM_HIDDEN slm_matmul_tile slm_matmul_tile_kernel_vnni_emulated_for_batch(int type, int64_t batch_tokens,
                                                                          int64_t batch_offset, int64_t n_tokens,
                                                                          int64_t *tile_tokens_end);
// The quantized types of slm_vec_dot_kernel_avx2 (x86/quant_avx2.c), which adds the float rows.
SLM_HIDDEN slm_vec_dot_fn slm_vec_dot_kernel_quant_avx2(int type);
// Whether the AVX2 batch orders above apply to `type` for some batch (slm_sum_order_depends_on_batch).
SLM_HIDDEN int slm_sum_order_depends_on_batch_avx2(int type);
// F16 weights times F16 activations for rows [row_begin, row_end) and every token, with the bits of
// slm_vec_dot's F16 kernel for each pair (see dot_avx2.c). Returns 0 (nothing written) where this
// CPU lacks AVX2/F16C or the block buffers cannot be had; the caller then goes pair by pair.
SLM_HIDDEN int slm_matmul_f16_avx2(const void *weight, size_t row_stride, int64_t n_cols, const void *activations,
                                   size_t act_row_bytes, int64_t n_tokens, float *out, int64_t out_row_stride,
                                   int64_t row_begin, int64_t row_end);

#if SLM_ARCH_X86
// Q4_0 x Q8_0 in eight float lanes (slm_kv_key_dot_kernel), on a CPU with SLM_CPU_X86_AVX2_FMA_F16C.
SLM_HIDDEN float slm_vec_dot_q4_0_q8_0_lanes_avx2(int64_t n, const void *w, const void *a);
// Row kernels, each with the signature of its `_generic` twin; only the dispatch calls them, on
// a CPU with SLM_CPU_X86_AVX2_FMA_F16C (rope: SLM_CPU_X86_FMA).
SLM_HIDDEN void slm_swiglu_avx2(const float *gate, const float *up, float *out, int64_t n);
SLM_HIDDEN void slm_rope_adjacent_fma(float *x, int64_t heads, int64_t head_dim, int64_t rotary_dims,
                                      const float *cos_table, const float *sin_table);
SLM_HIDDEN void slm_rope_neox_fma(float *x, int64_t heads, int64_t head_dim, int64_t rotary_dims,
                                  const float *cos_table, const float *sin_table);
SLM_HIDDEN void slm_attention_head_avx2(const float *query, const uint16_t *keys, int64_t key_stride,
                                        const uint16_t *values, int64_t value_stride, int64_t n_positions,
                                        int64_t head_dim, float scale, int mode, float *out, void *scratch);
SLM_HIDDEN void slm_attention_partial_capped_avx2(const float *query, const uint16_t *keys, int64_t key_stride,
                                                  const uint16_t *values, int64_t value_stride, int64_t begin,
                                                  int64_t end, int64_t head_dim, float scale, float softcap,
                                                  float *partial, void *scratch);
SLM_HIDDEN void slm_attention_head_typed_avx2(const float *query, int key_type, const void *keys,
                                              size_t key_row_bytes, int value_type, const void *values,
                                              size_t value_row_bytes, int64_t begin, int64_t end, int64_t head_dim,
                                              float scale, float softcap, float *out, void *scratch);
SLM_HIDDEN void slm_attention_merge_avx2(const float *partials, int64_t count, int64_t head_dim, float *out);
SLM_HIDDEN void slm_attention_head_f32_window_avx2(const float *query, const float *keys_t, const float *values,
                                                   int64_t value_stride, int64_t begin, int64_t n_positions,
                                                   int64_t head_dim, float scale, float softcap, float *out,
                                                   void *scratch);
SLM_HIDDEN void slm_attention_head_group_f32_window_avx2(const float *queries, int64_t n_heads, const float *keys_t,
                                                         const float *values, int64_t value_stride, int64_t begin,
                                                         int64_t n_positions, int64_t head_dim, float scale,
                                                         float softcap, float *out, void *scratch);
#endif

// ---- arm/ (aarch64: NEON, NEON with SDOT, SMMLA) ---------------------------------------------
// The dot tables (slm_vec_dot_kernel_neon, _neon_dotprod) and the tile tables
// (slm_matvec_tile_kernel_neon, _neon_dotprod; slm_matmul_tile_kernel_neon, _neon_dotprod,
// _neon_i8mm), all declared in slm_kernels_testing.h; attention in both modes
// (attention_neon.c) and SwiGLU (activation_neon.c) below, whose portable loops the compilers
// leave scalar; everything else runs the generic code, which the compiler vectorizes.
#if SLM_ARCH_ARM64
SLM_HIDDEN void slm_attention_head_f32_window_neon(const float *query, const float *keys_t, const float *values,
                                                   int64_t value_stride, int64_t begin, int64_t n_positions,
                                                   int64_t head_dim, float scale, float softcap, float *out,
                                                   void *scratch);
SLM_HIDDEN void slm_swiglu_neon(const float *gate, const float *up, float *out, int64_t n);
SLM_HIDDEN void slm_attention_head_neon(const float *query, const uint16_t *keys, int64_t key_stride,
                                        const uint16_t *values, int64_t value_stride, int64_t n_positions,
                                        int64_t head_dim, float scale, int mode, float *out, void *scratch);
SLM_HIDDEN void slm_attention_partial_capped_neon(const float *query, const uint16_t *keys, int64_t key_stride,
                                                  const uint16_t *values, int64_t value_stride, int64_t begin,
                                                  int64_t end, int64_t head_dim, float scale, float softcap,
                                                  float *partial, void *scratch);
SLM_HIDDEN void slm_attention_head_typed_neon(const float *query, int key_type, const void *keys,
                                              size_t key_row_bytes, int value_type, const void *values,
                                              size_t value_row_bytes, int64_t begin, int64_t end, int64_t head_dim,
                                              float scale, float softcap, float *out, void *scratch);
SLM_HIDDEN void slm_attention_head_group_f32_window_neon(const float *queries, int64_t n_heads, const float *keys_t,
                                                         const float *values, int64_t value_stride, int64_t begin,
                                                         int64_t n_positions, int64_t head_dim, float scale,
                                                         float softcap, float *out, void *scratch);
#endif

#endif // SLM_ARCH_H
