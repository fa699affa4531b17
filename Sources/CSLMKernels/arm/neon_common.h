// NEON pieces shared by the dot kernels (dot_neon.c) and the tiles (matmul_neon.c), so both build
// their integer lanes the same way (aarch64 only; include inside the architecture guard, after
// arch.h).
#ifndef SLM_NEON_COMMON_H
#define SLM_NEON_COMMON_H

#include <arm_neon.h>

// GCC needs the architecture named in the target attribute ("+dotprod" alone does not let
// vdotq_s32 inline); clang accepts the same spelling. The i8mm copy keeps SDOT too, since the
// dispatch offers it only where both are present.
#define SLM_DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))
#define SLM_I8MM __attribute__((target("arch=armv8.2-a+dotprod+i8mm")))

// Plain NEON: SDOT's lane sums built from widening multiplies. vmull gives the 16 products as
// int16; pairwise adds make lanes of (0+1), (2+3), ... and a second pairwise add across both
// halves makes lane l = products 4l..4l+3.
static inline int32x4_t neon_dot_s8_plain(int32x4_t acc, int8x16_t a, int8x16_t b) {
    const int32x4_t lo = vpaddlq_s16(vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    const int32x4_t hi = vpaddlq_s16(vmull_high_s8(a, b));
    return vaddq_s32(acc, vpaddq_s32(lo, hi));
}

SLM_DOTPROD static inline int32x4_t neon_dot_s8_sdot(int32x4_t acc, int8x16_t a, int8x16_t b) {
    return vdotq_s32(acc, a, b);
}

#endif // SLM_NEON_COMMON_H
