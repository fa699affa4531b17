// NEON pieces shared by the dot kernels (dot_neon.c) and the tiles (matmul_neon.c), so both build
// their integer lanes the same way, and the exp approximation of attention_neon.c and
// activation_neon.c (aarch64 only; include inside the architecture guard, after arch.h).
#ifndef SLM_NEON_COMMON_H
#define SLM_NEON_COMMON_H

#include <arm_neon.h>
#include <stdint.h>
#include <string.h>

#include "kernels_internal.h"

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

// The fifth bits of a Q5 block as byte masks (0xff where set): lo for elements 0..15, hi for
// 16..31. Element e's bit is bit e of the little-endian 32-bit qh, so byte lane k of lo takes
// qh byte k / 8 and tests bit k % 8. One table lookup per half spreads the four qh bytes over
// the lanes (the older code built each half from two byte broadcasts and a combine).
static inline void neon_q5_fifth_masks(const uint8_t *qh, uint8x16_t *lo, uint8x16_t *hi) {
    static const uint8_t byte_lo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1};
    static const uint8_t byte_hi[16] = {2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3};
    static const uint8_t bit_of_lane[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    uint32_t word;
    memcpy(&word, qh, sizeof word);
    const uint8x16_t bytes = vreinterpretq_u8_u32(vdupq_n_u32(word));
    const uint8x16_t bits = vld1q_u8(bit_of_lane);
    *lo = vtstq_u8(vqtbl1q_u8(bytes, vld1q_u8(byte_lo)), bits);
    *hi = vtstq_u8(vqtbl1q_u8(bytes, vld1q_u8(byte_hi)), bits);
}

// Q5_0 values (v - 16, v = nibble + 16 * fifth bit) of 16 nibbles: where the bit is clear, the
// nibble plus 0xf0 (-16); where set, the nibble itself.
static inline int8x16_t neon_q5_0_values(uint8x16_t nibbles, uint8x16_t fifth_mask) {
    return vreinterpretq_s8_u8(vaddq_u8(nibbles, vbicq_u8(vdupq_n_u8(0xf0), fifth_mask)));
}

// Q5_1 values (nibble + 16 * fifth bit, unsigned) of 16 nibbles.
static inline int8x16_t neon_q5_1_values(uint8x16_t nibbles, uint8x16_t fifth_mask) {
    return vreinterpretq_s8_u8(vorrq_u8(nibbles, vandq_u8(fifth_mask, vdupq_n_u8(0x10))));
}

// slm_exp_approx, four lanes: the same fused steps, the same split of 2^n past |n| > 126.
static inline float32x4_t exp_approx_neon(float32x4_t x) {
    const float32x4_t shift = vdupq_n_f32(EXP_SHIFT);
    const float32x4_t z = vfmaq_f32(shift, x, vdupq_n_f32(EXP_LOG2E));
    const float32x4_t n = vsubq_f32(z, shift);
    // fmaf(-n, c, x) is x - n·c with one rounding: vfmsq.
    const float32x4_t b = vfmsq_f32(vfmsq_f32(x, n, vdupq_n_f32(EXP_LN2_HI)), n, vdupq_n_f32(EXP_LN2_LO));
    const uint32x4_t e = vshlq_n_u32(vreinterpretq_u32_f32(z), 23);
    const float32x4_t k = vreinterpretq_f32_u32(vaddq_u32(e, vreinterpretq_u32_f32(vdupq_n_f32(1.0f))));
    const float32x4_t u = vmulq_f32(b, b);
    const float32x4_t j = vfmaq_f32(vmulq_f32(vdupq_n_f32(EXP_C1), b),
                                    vfmaq_f32(vfmaq_f32(vdupq_n_f32(EXP_C2), vdupq_n_f32(EXP_C3), b),
                                              vfmaq_f32(vdupq_n_f32(EXP_C4), vdupq_n_f32(EXP_C5), b), u),
                                    u);
    const float32x4_t normal = vfmaq_f32(k, k, j);
    const uint32x4_t big = vcagtq_f32(n, vdupq_n_f32(126.0f));  // false for NaN, as !(|n| > 126)
    if (vmaxvq_u32(big) == 0) return normal;
    const uint32x4_t g = vandq_u32(vcleq_f32(n, vdupq_n_f32(0.0f)), vdupq_n_u32(0x82000000u));
    const float32x4_t s1 = vreinterpretq_f32_u32(vaddq_u32(g, vdupq_n_u32(0x7f000000u)));
    const float32x4_t s2 = vreinterpretq_f32_u32(vsubq_u32(e, g));
    const uint32x4_t huge = vcagtq_f32(n, vdupq_n_f32(192.0f));
    const float32x4_t split = vmulq_f32(vfmaq_f32(s2, s2, j), s1);
    return vbslq_f32(huge, vmulq_f32(s1, s1), vbslq_f32(big, split, normal));
}

#endif // SLM_NEON_COMMON_H
