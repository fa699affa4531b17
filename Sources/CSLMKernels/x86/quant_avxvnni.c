// The AVX-VNNI build of the quantized dots and tiles (x86/quant_body.h): VEX-encoded 256-bit
// vpdpbusd / vpdpwssd (Intel Alder Lake and later, the N100 / N97 class; AMD Zen 5). Same bits
// as the AVX2 build; chosen by the dispatch where the CPU has AVX-VNNI and not AVX512-VNNI.
#include "arch.h"

#if SLM_ARCH_X86
#include "avx2_common.h"

#define SLM_Q_BUILD avxvnni
#define SLM_Q_DOT_TABLE slm_vec_dot_kernel_avxvnni
#define SLM_Q_TARGET __attribute__((target("avx2,fma,f16c,avxvnni")))
#define SLM_Q_FEATURES (SLM_CPU_X86_AVX2_FMA_F16C | SLM_CPU_X86_AVXVNNI)
#define SLM_Q_VNNI 1
#define SLM_Q_DPBUSD(acc, u, s) _mm256_dpbusd_avx_epi32(acc, u, s)
#define SLM_Q_DPWSSD(acc, a, b) _mm256_dpwssd_avx_epi32(acc, a, b)
#include "quant_body.h"
#endif
