// The AVX512-VNNI build of the quantized dots and tiles (x86/quant_body.h): EVEX-encoded vpdpbusd
// / vpdpwssd on 256-bit registers (AVX512VL), which keeps the eight-lane float order (see the
// body). Intel Ice Lake / Cascade Lake and later Xeons, AMD Zen 4 and later. Same bits as the AVX2
// build; the dispatch prefers it over AVX-VNNI (the EVEX form also has 32 vector registers).
#include "arch.h"

#if SLM_ARCH_X86
#include "avx2_common.h"

// clang can keep the compiler's own vectorization of this file's scalar loops off 512-bit
// registers too ("no-evex512"); gcc (before 14) has no such switch, and nothing here is
// auto-vectorized across more than a few bytes.
#if defined(__clang__) && __clang_major__ >= 18
#define SLM_Q_TARGET __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni,no-evex512")))
#else
#define SLM_Q_TARGET __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")))
#endif
#define SLM_Q_BUILD avx512vnni
#define SLM_Q_DOT_TABLE slm_vec_dot_kernel_avx512vnni
#define SLM_Q_FEATURES (SLM_CPU_X86_AVX2_FMA_F16C | SLM_CPU_X86_AVX512VNNI)
#define SLM_Q_VNNI 1
#define SLM_Q_DPBUSD(acc, u, s) _mm256_dpbusd_epi32(acc, u, s)
#define SLM_Q_DPWSSD(acc, a, b) _mm256_dpwssd_epi32(acc, a, b)
#include "quant_body.h"
#endif
