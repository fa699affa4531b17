// The dispatch: every choice between a SIMD kernel and its scalar `_generic` twin is made here,
// from the CPU features slm_cpu_features detects (the only code that asks the CPU), so this file
// is the map of what runs where:
//
//   kernel                          x86-64 (x86/)                aarch64 (arm/)
//   dot products (slm_vec_dot_*)    AVX2+FMA+F16C                NEON+SDOT, else NEON
//   matvec (decode) tiles           AVX2+FMA+F16C (some types)   NEON+SDOT, else NEON (some types)
//   matmul (prompt) tiles           AVX2+FMA+F16C (some types)   SMMLA (K-quants), else NEON+SDOT,
//                                                                else NEON (some types)
//   K-quant batch orders            AVX2+FMA+F16C                -
//   SwiGLU, attention               AVX2+FMA+F16C                -
//   RoPE                            FMA                          -
//
// Everything else (GELU / GeGLU, formats, quantization), and everything on other CPUs or under
// slm_set_force_generic, runs the code in generic/.
#include "arch.h"

#include <stdio.h>

#if SLM_ARCH_ARM64
#include <sys/auxv.h>

// Linux's bits, for C libraries whose headers predate them.
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)  // dot-product instructions (SDOT)
#endif
#ifndef HWCAP_SVE
#define HWCAP_SVE (1 << 22)
#endif
#ifndef AT_HWCAP2
#define AT_HWCAP2 26
#endif
#ifndef HWCAP2_I8MM
#define HWCAP2_I8MM (1 << 13)  // int8 matrix multiply (SMMLA)
#endif
#endif

// ---- CPU features ------------------------------------------------------------------------------

// Marks the cached set as detected (a CPU may have none of the features).
#define SLM_CPU_DETECTED (1u << 31)

static unsigned detect_cpu_features(void) {
    unsigned features = 0;
#if SLM_ARCH_X86
    // Also runs before constructors (a kernel called from another library's initialiser).
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) features |= SLM_CPU_X86_AVX2;
    if (__builtin_cpu_supports("fma")) features |= SLM_CPU_X86_FMA;
    if (__builtin_cpu_supports("f16c")) features |= SLM_CPU_X86_F16C;
#elif SLM_ARCH_ARM64
    // The kernel's word, not the ID registers: it says what user space may run.
    features |= SLM_CPU_ARM_NEON;
    const unsigned long hwcap = getauxval(AT_HWCAP), hwcap2 = getauxval(AT_HWCAP2);
    if (hwcap & HWCAP_ASIMDDP) features |= SLM_CPU_ARM_DOTPROD;
    if (hwcap & HWCAP_SVE) features |= SLM_CPU_ARM_SVE;
    if (hwcap2 & HWCAP2_I8MM) features |= SLM_CPU_ARM_I8MM;
#endif
    return features;
}

unsigned slm_cpu_features(void) {
    // Threads racing on the first call detect the same set; atomics keep that race defined.
    static unsigned cached;
    unsigned features = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (!features) {
        features = detect_cpu_features() | SLM_CPU_DETECTED;
        __atomic_store_n(&cached, features, __ATOMIC_RELAXED);
    }
    return features & ~SLM_CPU_DETECTED;
}

void slm_cpu_feature_names(char *buf, size_t size) {
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {
        {SLM_CPU_X86_AVX2, "avx2"}, {SLM_CPU_X86_FMA, "fma"},  {SLM_CPU_X86_F16C, "f16c"}, {SLM_CPU_ARM_NEON, "neon"},
        {SLM_CPU_ARM_DOTPROD, "dotprod"}, {SLM_CPU_ARM_I8MM, "i8mm"}, {SLM_CPU_ARM_SVE, "sve"},
    };
    if (size == 0) return;
    buf[0] = 0;
    size_t used = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; ++i) {
        if (!slm_cpu_has(names[i].bit)) continue;
        const int wrote = snprintf(buf + used, size - used, "%s%s", used ? "," : "", names[i].name);
        if (wrote < 0 || (size_t)wrote >= size - used) return;
        used += (size_t)wrote;
    }
    if (!used) snprintf(buf, size, "none");
}

// ---- forcing the twins -------------------------------------------------------------------------

int slm_force_generic = 0;

void slm_set_force_generic(int force) { slm_force_generic = force != 0; }

// 1 if the SIMD kernels needing `features` may run: this CPU has them and the twins are not forced.
SLM_INLINE int use_simd(unsigned features) { return !slm_force_generic && slm_cpu_has(features); }

// ---- dot products and matmul tiles -------------------------------------------------------------

// A SIMD variant when the CPU has one for the type (decided from CPU features at run time, so
// one binary runs on any machine of its architecture), else the scalar twin. Each table returns
// NULL off its architecture or without its features, so at most one family answers.
slm_vec_dot_fn slm_vec_dot_kernel(int type) {
    if (!slm_force_generic) {
        slm_vec_dot_fn simd = slm_vec_dot_kernel_avx2(type);
        if (!simd) simd = slm_vec_dot_kernel_neon_dotprod(type);
        if (!simd) simd = slm_vec_dot_kernel_neon(type);
        if (simd) return simd;
    }
    return slm_vec_dot_kernel_generic(type);
}

slm_vec_dot_fn slm_kv_key_dot_kernel(int type) {
    switch (type) {
    case SLM_TYPE_Q8_0: return slm_vec_dot_kernel(type);
    case SLM_TYPE_Q4_0:
#if SLM_ARCH_X86
        if (use_simd(SLM_CPU_X86_AVX2_FMA_F16C)) return slm_vec_dot_q4_0_q8_0_lanes_avx2;
#endif
        return slm_vec_dot_q4_0_q8_0_lanes_generic;
    default: return NULL;
    }
}

// The batch variant: llama.cpp's batch order where it has one (x86 only).
slm_vec_dot_fn slm_vec_dot_kernel_for_batch(int type, int64_t n_tokens, int64_t token) {
    const slm_vec_dot_fn batch = slm_force_generic ? NULL : slm_vec_dot_kernel_avx2_for_batch(type, n_tokens, token);
    return batch ? batch : slm_vec_dot_kernel(type);
}

int slm_sum_order_depends_on_batch(int type) { return slm_sum_order_depends_on_batch_avx2(type); }

// Tiles: each table answers an empty tile off its architecture, without its features or for a
// type it lacks, so the first that answers is the best this CPU has for the type.
slm_matmul_tile slm_matmul_tile_kernel(int type) {
    if (slm_force_generic) return (slm_matmul_tile){NULL, 0, 0};
    slm_matmul_tile tile = slm_matmul_tile_kernel_avx2(type);
    if (!tile.fn) tile = slm_matmul_tile_kernel_neon_i8mm(type);
    if (!tile.fn) tile = slm_matmul_tile_kernel_neon_dotprod(type);
    if (!tile.fn) tile = slm_matmul_tile_kernel_neon(type);
    return tile;
}

slm_matmul_tile slm_matvec_tile_kernel(int type) {
    if (slm_force_generic) return (slm_matmul_tile){NULL, 0, 0};
    slm_matmul_tile tile = slm_matvec_tile_kernel_avx2(type);
    if (!tile.fn) tile = slm_matvec_tile_kernel_neon_dotprod(type);
    if (!tile.fn) tile = slm_matvec_tile_kernel_neon(type);
    return tile;
}

slm_matmul_tile slm_matmul_tile_kernel_for_batch(int type, int64_t batch_tokens, int64_t batch_offset,
                                                 int64_t n_tokens, int64_t *tile_tokens_end) {
    if (slm_force_generic) {
        *tile_tokens_end = 0;
        return (slm_matmul_tile){NULL, 0, 0};
    }
    return slm_matmul_tile_kernel_avx2_for_batch(type, batch_tokens, batch_offset, n_tokens, tile_tokens_end);
}

// ---- row kernels -------------------------------------------------------------------------------
// Their SIMD builds exist on x86-64 only, hence the architecture guards.

void slm_swiglu(const float *gate, const float *up, float *out, int64_t n) {
#if SLM_ARCH_X86
    if (use_simd(SLM_CPU_X86_AVX2_FMA_F16C)) {
        slm_swiglu_avx2(gate, up, out, n);
        return;
    }
#endif
    slm_swiglu_generic(gate, up, out, n);
}

void slm_rope_neox(float *x, int64_t heads, int64_t head_dim, int64_t rotary_dims,
                   const float *cos_table, const float *sin_table) {
#if SLM_ARCH_X86
    if (use_simd(SLM_CPU_X86_FMA)) {
        slm_rope_neox_fma(x, heads, head_dim, rotary_dims, cos_table, sin_table);
        return;
    }
#endif
    slm_rope_neox_generic(x, heads, head_dim, rotary_dims, cos_table, sin_table);
}

void slm_rope_adjacent(float *x, int64_t heads, int64_t head_dim, int64_t rotary_dims,
                       const float *cos_table, const float *sin_table) {
#if SLM_ARCH_X86
    if (use_simd(SLM_CPU_X86_FMA)) {
        slm_rope_adjacent_fma(x, heads, head_dim, rotary_dims, cos_table, sin_table);
        return;
    }
#endif
    slm_rope_adjacent_generic(x, heads, head_dim, rotary_dims, cos_table, sin_table);
}

void slm_attention_partial_capped(const float *query, const uint16_t *keys, int64_t key_stride,
                                  const uint16_t *values, int64_t value_stride, int64_t begin, int64_t end,
                                  int64_t head_dim, float scale, float softcap, float *partial, void *scratch) {
#if SLM_ARCH_X86
    if (use_simd(SLM_CPU_X86_AVX2_FMA_F16C)) {
        slm_attention_partial_capped_avx2(query, keys, key_stride, values, value_stride, begin, end, head_dim, scale,
                                          softcap, partial, scratch);
        return;
    }
#endif
    slm_attention_partial_capped_generic(query, keys, key_stride, values, value_stride, begin, end, head_dim, scale,
                                         softcap, partial, scratch);
}

void slm_attention_merge(const float *partials, int64_t count, int64_t head_dim, float *out) {
#if SLM_ARCH_X86
    if (use_simd(SLM_CPU_X86_AVX2_FMA_F16C)) {
        slm_attention_merge_avx2(partials, count, head_dim, out);
        return;
    }
#endif
    slm_attention_merge_generic(partials, count, head_dim, out);
}

void slm_attention_head_f32_transposed(const float *query, const float *keys_t, const float *values,
                                       int64_t value_stride, int64_t n_positions, int64_t head_dim, float scale,
                                       float *out, void *scratch) {
#if SLM_ARCH_X86
    if (use_simd(SLM_CPU_X86_AVX2_FMA_F16C)) {
        slm_attention_head_f32_window_avx2(query, keys_t, values, value_stride, 0, n_positions, head_dim, scale, 0.0f, out,
                                           scratch);
        return;
    }
#endif
    slm_attention_head_f32_transposed_generic(query, keys_t, values, value_stride, n_positions, head_dim, scale, out, scratch);
}

void slm_attention_head_f32_window(const float *query, const float *keys_t, const float *values,
                                   int64_t value_stride, int64_t begin, int64_t n_positions, int64_t head_dim,
                                   float scale, float softcap, float *out, void *scratch) {
#if SLM_ARCH_X86
    if (use_simd(SLM_CPU_X86_AVX2_FMA_F16C)) {
        slm_attention_head_f32_window_avx2(query, keys_t, values, value_stride, begin, n_positions, head_dim, scale,
                                           softcap, out, scratch);
        return;
    }
#endif
    slm_attention_head_f32_window_generic(query, keys_t, values, value_stride, begin, n_positions, head_dim, scale,
                                          softcap, out, scratch);
}

void slm_attention_head(const float *query, const uint16_t *keys, int64_t key_stride,
                        const uint16_t *values, int64_t value_stride, int64_t n_positions,
                        int64_t head_dim, float scale, int mode, float *out, void *scratch) {
#if SLM_ARCH_X86
    if (use_simd(SLM_CPU_X86_AVX2_FMA_F16C)) {
        slm_attention_head_avx2(query, keys, key_stride, values, value_stride, n_positions, head_dim, scale, mode, out, scratch);
        return;
    }
#endif
    slm_attention_head_generic(query, keys, key_stride, values, value_stride, n_positions, head_dim, scale, mode, out, scratch);
}

void slm_attention_head_typed(const float *query, int key_type, const void *keys, size_t key_row_bytes,
                              int value_type, const void *values, size_t value_row_bytes, int64_t begin,
                              int64_t end, int64_t head_dim, float scale, float softcap, float *out, void *scratch) {
#if SLM_ARCH_X86
    if (use_simd(SLM_CPU_X86_AVX2_FMA_F16C)) {
        slm_attention_head_typed_avx2(query, key_type, keys, key_row_bytes, value_type, values, value_row_bytes, begin,
                                      end, head_dim, scale, softcap, out, scratch);
        return;
    }
#endif
    slm_attention_head_typed_generic(query, key_type, keys, key_row_bytes, value_type, values, value_row_bytes, begin,
                                     end, head_dim, scale, softcap, out, scratch);
}
