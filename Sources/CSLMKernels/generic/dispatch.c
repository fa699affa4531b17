// The dispatch: every choice between a SIMD kernel and its scalar `_generic` twin is made here,
// from the CPU features slm_cpu_features detects (the only code that asks the CPU), so this file
// is the map of what runs where:
//
//   kernel                          x86-64 (x86/)                aarch64 (arm/)
//   dot products (slm_vec_dot_*)    AVX2+FMA+F16C (1)            NEON+SDOT, else NEON
//   matvec (decode) tiles           AVX2+FMA+F16C (1) some types NEON+SDOT, else NEON (some types)
//   matmul (prompt) tiles           AVX2+FMA+F16C (1) SMMLA, else NEON+SDOT,
//                                                                else NEON (some types)
//   K-quant batch orders            AVX2+FMA+F16C (1)            -
//   SwiGLU, attention               AVX2+FMA+F16C                -
//   RoPE                            FMA                          -
//
// (1) The quantized types run the build of x86/quant_body.h this CPU has: AVX512-VNNI (256-bit
// EVEX), else AVX-VNNI, else AVX2 (the same bits from all three; slm_set_x86_quant_build or the
// environment's SLM_X86_QUANT forces one).
//
// Everything else (GELU / GeGLU, formats, quantization), and everything on other CPUs or under
// slm_set_force_generic, runs the code in generic/.
#include "arch.h"

#include <stdio.h>
#include <stdlib.h>

#if SLM_ARCH_X86
#include <cpuid.h>
#endif

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

#if SLM_ARCH_X86
// The state-component bits of XCR0 the OS enables (saves on context switches): no extension may
// be used unless its registers are saved. 1, 2: SSE and AVX (YMM upper halves); 5, 6, 7: AVX-512's
// opmask registers, ZMM upper halves and ZMM16-31 (the EVEX 256-bit forms use the opmask and
// YMM16-31 registers, so they need the AVX-512 state too).
#define SLM_XCR0_AVX 0x06u
#define SLM_XCR0_AVX512 0xe0u

static unsigned long long read_xcr0(void) {
    unsigned eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return (unsigned long long)edx << 32 | eax;
}

// The VNNI features from CPUID: AVX-VNNI is leaf 7 sub-leaf 1, EAX bit 4; AVX512-VNNI is leaf 7
// sub-leaf 0, ECX bit 11, used here together with AVX512F (EBX bit 16), AVX512BW (EBX bit 30) and
// AVX512VL (EBX bit 31). XGETBV exists when CPUID.1:ECX bit 27 (OSXSAVE) says so.
static unsigned detect_x86_vnni(void) {
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & (1u << 27))) return 0;
    const unsigned long long xcr0 = read_xcr0();
    if ((xcr0 & SLM_XCR0_AVX) != SLM_XCR0_AVX) return 0;
    if (__get_cpuid_max(0, NULL) < 7) return 0;
    unsigned features = 0;
    __cpuid_count(7, 0, eax, ebx, ecx, edx);
    const unsigned avx512_f_bw_vl = (1u << 16) | (1u << 30) | (1u << 31);
    if ((ebx & avx512_f_bw_vl) == avx512_f_bw_vl && (ecx & (1u << 11)) && (xcr0 & SLM_XCR0_AVX512) == SLM_XCR0_AVX512) {
        features |= SLM_CPU_X86_AVX512VNNI;
    }
    if (eax >= 1) {  // leaf 7 sub-leaf 0's EAX: the highest sub-leaf
        __cpuid_count(7, 1, eax, ebx, ecx, edx);
        if (eax & (1u << 4)) features |= SLM_CPU_X86_AVXVNNI;
    }
    return features;
}
#endif

static unsigned detect_cpu_features(void) {
    unsigned features = 0;
#if SLM_ARCH_X86
    // Also runs before constructors (a kernel called from another library's initialiser).
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) features |= SLM_CPU_X86_AVX2;
    if (__builtin_cpu_supports("fma")) features |= SLM_CPU_X86_FMA;
    if (__builtin_cpu_supports("f16c")) features |= SLM_CPU_X86_F16C;
    features |= detect_x86_vnni();
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
        {SLM_CPU_X86_AVXVNNI, "avxvnni"}, {SLM_CPU_X86_AVX512VNNI, "avx512vnni"},
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

// ---- the x86 build of the quantized kernels ----------------------------------------------------

static int forced_x86_quant_build = SLM_X86_QUANT_BEST;

// Whether this CPU runs `build` (never SLM_X86_QUANT_BEST).
static int x86_quant_build_runs(int build) {
    const unsigned base = SLM_CPU_X86_AVX2_FMA_F16C;
    switch (build) {
    case SLM_X86_QUANT_AVX2: case SLM_X86_QUANT_VNNI_EMULATED: return SLM_ARCH_X86 && slm_cpu_has(base);
    case SLM_X86_QUANT_AVXVNNI: return SLM_ARCH_X86 && slm_cpu_has(base | SLM_CPU_X86_AVXVNNI);
    case SLM_X86_QUANT_AVX512VNNI: return SLM_ARCH_X86 && slm_cpu_has(base | SLM_CPU_X86_AVX512VNNI);
    default: return 0;
    }
}

int slm_set_x86_quant_build(int build) {
    if (build != SLM_X86_QUANT_BEST && !x86_quant_build_runs(build)) return 0;
    __atomic_store_n(&forced_x86_quant_build, build, __ATOMIC_RELAXED);
    return 1;
}

// SLM_X86_QUANT=avx2|avxvnni|avx512vnni|vnni_emulated in the environment makes the same choice
// as slm_set_x86_quant_build for the whole process (ignored where this CPU cannot run that
// build): to compare the builds with one binary, or to run whole-model tests through one.
// Read once; slm_set_x86_quant_build overrides it.
static int environment_x86_quant_build(void) {
    static int cached = -1;
    int build = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (build < 0) {
        static const char *const names[] = {"", "avx2", "avxvnni", "avx512vnni", "vnni_emulated"};
        const char *wanted = getenv("SLM_X86_QUANT");
        build = SLM_X86_QUANT_BEST;
        for (int b = SLM_X86_QUANT_AVX2; wanted && b <= SLM_X86_QUANT_VNNI_EMULATED; ++b) {
            if (strcmp(wanted, names[b]) == 0 && x86_quant_build_runs(b)) build = b;
        }
        __atomic_store_n(&cached, build, __ATOMIC_RELAXED);
    }
    return build;
}

// The default choice: the environment's, else the best build this CPU runs.
static int default_x86_quant_build(void) {
    const int environment = environment_x86_quant_build();
    if (environment != SLM_X86_QUANT_BEST) return environment;
    // The EVEX build first: same instructions, and 32 vector registers instead of 16.
    if (x86_quant_build_runs(SLM_X86_QUANT_AVX512VNNI)) return SLM_X86_QUANT_AVX512VNNI;
    if (x86_quant_build_runs(SLM_X86_QUANT_AVXVNNI)) return SLM_X86_QUANT_AVXVNNI;
    if (x86_quant_build_runs(SLM_X86_QUANT_AVX2)) return SLM_X86_QUANT_AVX2;
    return SLM_X86_QUANT_BEST;
}

// Asked once per token and row block of every matmul (slm_vec_dot_kernel_for_batch), so the
// default is worked out once: two plain loads after the first call.
int slm_x86_quant_build(void) {
    static int cached_default = -1;
    const int forced = __atomic_load_n(&forced_x86_quant_build, __ATOMIC_RELAXED);
    if (forced != SLM_X86_QUANT_BEST) return forced;
    int build = __atomic_load_n(&cached_default, __ATOMIC_RELAXED);
    if (build < 0) {
        build = default_x86_quant_build();
        __atomic_store_n(&cached_default, build, __ATOMIC_RELAXED);
    }
    return build;
}

// The quantized dot of the chosen build (NULL for the float rows: the AVX2 table has those).
static slm_vec_dot_fn x86_quant_dot(int type) {
    switch (slm_x86_quant_build()) {
    case SLM_X86_QUANT_AVXVNNI: return slm_vec_dot_kernel_avxvnni(type);
    case SLM_X86_QUANT_AVX512VNNI: return slm_vec_dot_kernel_avx512vnni(type);
    case SLM_X86_QUANT_VNNI_EMULATED: return slm_vec_dot_kernel_vnni_emulated(type);
    default: return NULL;  // AVX2 or none: the AVX2 table
    }
}

// ---- dot products and matmul tiles -------------------------------------------------------------

// A SIMD variant when the CPU has one for the type (decided from CPU features at run time, so
// one binary runs on any machine of its architecture), else the scalar twin. Each table returns
// NULL off its architecture or without its features, so at most one family answers.
slm_vec_dot_fn slm_vec_dot_kernel(int type) {
    if (!slm_force_generic) {
        slm_vec_dot_fn simd = x86_quant_dot(type);
        if (!simd) simd = slm_vec_dot_kernel_avx2(type);
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
    slm_vec_dot_fn batch = NULL;
    if (!slm_force_generic) {
        switch (slm_x86_quant_build()) {
        case SLM_X86_QUANT_AVX2: batch = slm_vec_dot_kernel_avx2_for_batch(type, n_tokens, token); break;
        case SLM_X86_QUANT_AVXVNNI: batch = slm_vec_dot_kernel_avxvnni_for_batch(type, n_tokens, token); break;
        case SLM_X86_QUANT_AVX512VNNI: batch = slm_vec_dot_kernel_avx512vnni_for_batch(type, n_tokens, token); break;
        case SLM_X86_QUANT_VNNI_EMULATED: batch = slm_vec_dot_kernel_vnni_emulated_for_batch(type, n_tokens, token); break;
        default: break;
        }
    }
    return batch ? batch : slm_vec_dot_kernel(type);
}

int slm_sum_order_depends_on_batch(int type) { return slm_sum_order_depends_on_batch_avx2(type); }

// Tiles: each table answers an empty tile off its architecture, without its features or for a
// type it lacks, so the first that answers is the best this CPU has for the type.
slm_matmul_tile slm_matmul_tile_kernel(int type) {
    if (slm_force_generic) return (slm_matmul_tile){NULL, 0, 0};
    switch (slm_x86_quant_build()) {
    case SLM_X86_QUANT_AVXVNNI: return slm_matmul_tile_kernel_avxvnni(type);
    case SLM_X86_QUANT_AVX512VNNI: return slm_matmul_tile_kernel_avx512vnni(type);
    case SLM_X86_QUANT_VNNI_EMULATED: return slm_matmul_tile_kernel_vnni_emulated(type);
    default: break;  // AVX2, or not x86: the tables below
    }
    slm_matmul_tile tile = slm_matmul_tile_kernel_avx2(type);
    if (!tile.fn) tile = slm_matmul_tile_kernel_neon_i8mm(type);
    if (!tile.fn) tile = slm_matmul_tile_kernel_neon_dotprod(type);
    if (!tile.fn) tile = slm_matmul_tile_kernel_neon(type);
    return tile;
}

// Panels: x86 by the same build choice as the tiles; aarch64's SMMLA panels where the CPU has i8mm,
// else its SDOT panels where it has SDOT (aarch64 has no batch orders: every token of the chunk
// takes the panel).
slm_matmul_panel slm_matmul_panel_kernel(int type, int64_t batch_tokens, int64_t batch_offset, int64_t n_tokens,
                                         int64_t *tokens_end) {
    *tokens_end = 0;
    if (slm_force_generic) return (slm_matmul_panel){NULL, 0, 0};
    switch (slm_x86_quant_build()) {
    case SLM_X86_QUANT_AVXVNNI:
        return slm_matmul_panel_kernel_avxvnni(type, batch_tokens, batch_offset, n_tokens, tokens_end);
    case SLM_X86_QUANT_AVX512VNNI:
        return slm_matmul_panel_kernel_avx512vnni(type, batch_tokens, batch_offset, n_tokens, tokens_end);
    case SLM_X86_QUANT_VNNI_EMULATED:
        return slm_matmul_panel_kernel_vnni_emulated(type, batch_tokens, batch_offset, n_tokens, tokens_end);
    default: break;  // AVX2, or not x86
    }
    const slm_matmul_panel panel = slm_matmul_panel_kernel_avx2(type, batch_tokens, batch_offset, n_tokens, tokens_end);
    if (panel.fn) return panel;
    slm_matmul_panel neon = slm_matmul_panel_kernel_neon_i8mm(type);
    if (!neon.fn) neon = slm_matmul_panel_kernel_neon_dotprod(type);
    *tokens_end = neon.fn ? n_tokens : 0;
    return neon;
}

slm_matmul_tile slm_matvec_tile_kernel(int type) {
    if (slm_force_generic) return (slm_matmul_tile){NULL, 0, 0};
    switch (slm_x86_quant_build()) {
    case SLM_X86_QUANT_AVXVNNI: return slm_matvec_tile_kernel_avxvnni(type);
    case SLM_X86_QUANT_AVX512VNNI: return slm_matvec_tile_kernel_avx512vnni(type);
    case SLM_X86_QUANT_VNNI_EMULATED: return slm_matvec_tile_kernel_vnni_emulated(type);
    default: break;  // AVX2, or not x86: the tables below
    }
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
    switch (slm_x86_quant_build()) {
    case SLM_X86_QUANT_AVXVNNI:
        return slm_matmul_tile_kernel_avxvnni_for_batch(type, batch_tokens, batch_offset, n_tokens, tile_tokens_end);
    case SLM_X86_QUANT_AVX512VNNI:
        return slm_matmul_tile_kernel_avx512vnni_for_batch(type, batch_tokens, batch_offset, n_tokens, tile_tokens_end);
    case SLM_X86_QUANT_VNNI_EMULATED:
        return slm_matmul_tile_kernel_vnni_emulated_for_batch(type, batch_tokens, batch_offset, n_tokens,
                                                              tile_tokens_end);
    default: return slm_matmul_tile_kernel_avx2_for_batch(type, batch_tokens, batch_offset, n_tokens, tile_tokens_end);
    }
}

// ---- row kernels -------------------------------------------------------------------------------
// Their SIMD builds exist on x86-64 only, hence the architecture guards.

void slm_swiglu(const float *gate, const float *up, float *out, int64_t n) {
#if SLM_ARCH_X86
    if (use_simd(SLM_CPU_X86_AVX2_FMA_F16C)) {
        slm_swiglu_avx2(gate, up, out, n);
        return;
    }
#elif SLM_ARCH_ARM64
    if (use_simd(SLM_CPU_ARM_NEON)) {
        slm_swiglu_neon(gate, up, out, n);
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
#elif SLM_ARCH_ARM64
    if (use_simd(SLM_CPU_ARM_NEON)) {
        slm_attention_partial_capped_neon(query, keys, key_stride, values, value_stride, begin, end, head_dim, scale,
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
#elif SLM_ARCH_ARM64
    if (use_simd(SLM_CPU_ARM_NEON)) {
        slm_attention_head_f32_window_neon(query, keys_t, values, value_stride, 0, n_positions, head_dim, scale, 0.0f, out,
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
#elif SLM_ARCH_ARM64
    if (use_simd(SLM_CPU_ARM_NEON)) {
        slm_attention_head_f32_window_neon(query, keys_t, values, value_stride, begin, n_positions, head_dim, scale,
                                           softcap, out, scratch);
        return;
    }
#endif
    slm_attention_head_f32_window_generic(query, keys_t, values, value_stride, begin, n_positions, head_dim, scale,
                                          softcap, out, scratch);
}

void slm_attention_head_group_f32_window(const float *queries, int64_t n_heads, const float *keys_t, const float *values,
                                         int64_t value_stride, int64_t begin, int64_t n_positions,
                                         int64_t head_dim, float scale, float softcap, float *out, void *scratch) {
#if SLM_ARCH_X86
    if (use_simd(SLM_CPU_X86_AVX2_FMA_F16C)) {
        slm_attention_head_group_f32_window_avx2(queries, n_heads, keys_t, values, value_stride, begin, n_positions, head_dim,
                                                 scale, softcap, out, scratch);
        return;
    }
#elif SLM_ARCH_ARM64
    if (use_simd(SLM_CPU_ARM_NEON)) {
        slm_attention_head_group_f32_window_neon(queries, n_heads, keys_t, values, value_stride, begin, n_positions, head_dim,
                                                 scale, softcap, out, scratch);
        return;
    }
#endif
    slm_attention_head_group_f32_window_generic(queries, n_heads, keys_t, values, value_stride, begin, n_positions, head_dim,
                                                scale, softcap, out, scratch);
}

void slm_attention_head(const float *query, const uint16_t *keys, int64_t key_stride,
                        const uint16_t *values, int64_t value_stride, int64_t n_positions,
                        int64_t head_dim, float scale, int mode, float *out, void *scratch) {
#if SLM_ARCH_X86
    if (use_simd(SLM_CPU_X86_AVX2_FMA_F16C)) {
        slm_attention_head_avx2(query, keys, key_stride, values, value_stride, n_positions, head_dim, scale, mode, out, scratch);
        return;
    }
#elif SLM_ARCH_ARM64
    if (use_simd(SLM_CPU_ARM_NEON)) {
        slm_attention_head_neon(query, keys, key_stride, values, value_stride, n_positions, head_dim, scale, mode, out, scratch);
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
#elif SLM_ARCH_ARM64
    if (use_simd(SLM_CPU_ARM_NEON)) {
        slm_attention_head_typed_neon(query, key_type, keys, key_row_bytes, value_type, values, value_row_bytes, begin,
                                      end, head_dim, scale, softcap, out, scratch);
        return;
    }
#endif
    slm_attention_head_typed_generic(query, key_type, keys, key_row_bytes, value_type, values, value_row_bytes, begin,
                                     end, head_dim, scale, softcap, out, scratch);
}
