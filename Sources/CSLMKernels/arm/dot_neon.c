// NEON dot products (aarch64), chosen at run time by slm_vec_dot_kernel: a plain ARMv8-A copy
// and one using the dot-product instructions (SDOT, ARMv8.2-A+dotprod), both built from
// dot_neon_body.h. Each has a scalar `_generic` twin in generic/dot.c and a test against it
// (Tests/CKernelTests/kernel_twins.c, run under qemu by scripts/test-arm-kernels.sh).
#include "arch.h"

#if SLM_ARCH_ARM64
#include <arm_neon.h>

// ---- plain NEON: SDOT's lane sums built from widening multiplies ----
// vmull gives the 16 products as int16; pairwise adds make lanes of (0+1), (2+3), ... and a
// second pairwise add across both halves makes lane l = products 4l..4l+3.
static inline int32x4_t neon_dot_s8_plain(int32x4_t acc, int8x16_t a, int8x16_t b) {
    const int32x4_t lo = vpaddlq_s16(vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    const int32x4_t hi = vpaddlq_s16(vmull_high_s8(a, b));
    return vaddq_s32(acc, vpaddq_s32(lo, hi));
}

#define NEON_ATTR
#define NEON_NAME(name) name##_neon
#define neon_dot_s8 neon_dot_s8_plain
#include "dot_neon_body.h"
#undef NEON_ATTR
#undef NEON_NAME
#undef neon_dot_s8

// ---- NEON with SDOT ----
// GCC needs the architecture named in the target attribute ("+dotprod" alone does not let
// vdotq_s32 inline); clang accepts the same spelling.
#define SLM_DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))

SLM_DOTPROD static inline int32x4_t neon_dot_s8_sdot(int32x4_t acc, int8x16_t a, int8x16_t b) {
    return vdotq_s32(acc, a, b);
}

#define NEON_ATTR SLM_DOTPROD
#define NEON_NAME(name) name##_neon_dotprod
#define neon_dot_s8 neon_dot_s8_sdot
#include "dot_neon_body.h"
#undef NEON_ATTR
#undef NEON_NAME
#undef neon_dot_s8

// NEON is part of every aarch64 CPU (Linux requires it); SDOT is optional.
slm_vec_dot_fn slm_vec_dot_kernel_neon(int type) {
    return slm_cpu_has(SLM_CPU_ARM_NEON) ? table_neon(type) : NULL;
}

slm_vec_dot_fn slm_vec_dot_kernel_neon_dotprod(int type) {
    return slm_cpu_has(SLM_CPU_ARM_DOTPROD) ? table_neon_dotprod(type) : NULL;
}
#endif
