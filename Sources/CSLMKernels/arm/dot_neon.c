// NEON dot products (aarch64), chosen at run time by slm_vec_dot_kernel: a plain ARMv8-A copy
// and one using the dot-product instructions (SDOT, ARMv8.2-A+dotprod), both built from
// dot_neon_body.h. Each has a scalar `_generic` twin in generic/dot.c (ggml's order, compared
// within a tolerance) and one in the NEON float order in generic/dot_neon_order.c (compared bit
// for bit): Tests/CKernelTests/kernel_twins.c, run under qemu by scripts/test-arm-kernels.sh.
#include "arch.h"

#if SLM_ARCH_ARM64
#include "neon_common.h"

// ---- plain NEON (neon_dot_s8_plain: SDOT's lanes from widening multiplies) ----
#define NEON_ATTR
#define NEON_NAME(name) name##_neon
#define neon_dot_s8 neon_dot_s8_plain
#include "dot_neon_body.h"
#undef NEON_ATTR
#undef NEON_NAME
#undef neon_dot_s8

// ---- NEON with SDOT ----
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
