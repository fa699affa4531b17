// The AVX2 build of the quantized dots and tiles (x86/quant_body.h): integer block sums with
// vpmaddubsw + vpmaddwd. Runs on every CPU with AVX2+FMA+F16C.
#include "arch.h"

#if SLM_ARCH_X86
#include "avx2_common.h"

#define SLM_Q_BUILD avx2
#define SLM_Q_DOT_TABLE slm_vec_dot_kernel_quant_avx2
#define SLM_Q_TARGET SLM_AVX2
#define SLM_Q_FEATURES SLM_CPU_X86_AVX2_FMA_F16C
#define SLM_Q_VNNI 0
#include "quant_body.h"
#endif
