// Private helpers shared by the CSLMKernels translation units (not part of the public header).
#ifndef SLM_KERNELS_INTERNAL_H
#define SLM_KERNELS_INTERNAL_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "slm_kernels.h"

#if defined(__GNUC__) || defined(__clang__)
#define SLM_INLINE static inline __attribute__((always_inline))
#else
#define SLM_INLINE static inline
#endif

#define SLM_RESTRICT __restrict

SLM_INLINE uint32_t slm_bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

SLM_INLINE float slm_float_of(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

// Half -> float, with selects only so loops over it vectorize. Shifting exponent+mantissa up 13
// bits puts them in float position; then
//   normal:    add the bias difference (127 - 15) << 23
//   inf / NaN: exponent 31 must become 255, so add (255 - 31) << 23 instead (payload kept)
//   subnormal: add (127 - 14) << 23 to get 2^-14 * (1 + m / 1024), then subtract 2^-14 (exact)
SLM_INLINE float slm_h2f(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t mag = h & 0x7fffu;
    const uint32_t shifted = mag << 13;
    const uint32_t normal = shifted + (mag >= 0x7c00u ? 0x70000000u : 0x38000000u);
    const uint32_t sub = slm_bits_of(slm_float_of(shifted + 0x38800000u) - 0x1p-14f);
    return slm_float_of((mag < 0x0400u ? sub : normal) | sign);
}

// Half -> float for a single scale field, in fewer operations than slm_h2f: with exponent and
// mantissa moved into float position, multiplying by 2^112 rebiases normal halves and turns half
// subnormals (float denormals at that point) into the right normal floats, exactly. Only
// infinity / NaN need a separate result. (Assumes denormals are not flushed, the C default.)
SLM_INLINE float slm_h2f_scale(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t shifted = (uint32_t)(h & 0x7fffu) << 13;
    const float finite = slm_float_of(sign | shifted) * 0x1p112f;
    const float special = slm_float_of(sign | shifted | 0x7f800000u);
    return (h & 0x7c00u) == 0x7c00u ? special : finite;
}

// Float -> half, round to nearest, ties to even.
SLM_INLINE uint16_t slm_f2h(float f) {
    const uint32_t x = slm_bits_of(f);
    const uint32_t sign = (x >> 16) & 0x8000u;
    const uint32_t mag = x & 0x7fffffffu;
    uint32_t h;
    if (mag > 0x7f800000u) {
        // NaN: keep the top of the payload, force the quiet bit.
        h = 0x7e00u | ((mag >> 13) & 0x03ffu);
    } else if (mag >= 0x477ff000u) {
        // >= 65520 (halfway between 65504 and 2^16, which ties up to the even 2^16): infinity.
        h = 0x7c00u;
    } else if (mag >= 0x38800000u) {
        // Normal half: rebias the exponent by (127 - 15), then round the 13 dropped bits.
        const uint32_t t = mag - 0x38000000u;
        h = (t + 0x0fffu + ((t >> 13) & 1u)) >> 13;
    } else {
        // Below 2^-14: adding 0.5 (whose ulp is 2^-24, the half subnormal step) lets the FPU
        // round to the nearest multiple of 2^-24 with ties to even; the excess is the encoding.
        h = slm_bits_of(slm_float_of(mag) + 0.5f) - 0x3f000000u;
    }
    return (uint16_t)(h | sign);
}

SLM_INLINE float slm_bf2f(uint16_t h) {
    return slm_float_of((uint32_t)h << 16);
}

SLM_INLINE uint16_t slm_f2bf(float f) {
    const uint32_t x = slm_bits_of(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) {
        return (uint16_t)((x >> 16) | 0x40u);
    }
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

// Unpack the 6-bit scales and mins of a Q4_K / Q5_K super-block. The 12 bytes hold:
//   bytes 0..3  : low 6 bits = scale 0..3, top 2 bits = bits 4..5 of scale 4..7
//   bytes 4..7  : low 6 bits = min 0..3,   top 2 bits = bits 4..5 of min 4..7
//   bytes 8..11 : low nibble = bits 0..3 of scale 4..7, high nibble = bits 0..3 of min 4..7
SLM_INLINE void slm_unpack_k_scales(const uint8_t *SLM_RESTRICT packed, uint8_t *SLM_RESTRICT sc,
                                    uint8_t *SLM_RESTRICT mn) {
    for (int j = 0; j < 4; ++j) {
        sc[j] = packed[j] & 0x3f;
        mn[j] = packed[j + 4] & 0x3f;
        sc[j + 4] = (uint8_t)((packed[j + 8] & 0x0f) | ((packed[j] >> 6) << 4));
        mn[j + 4] = (uint8_t)((packed[j + 8] >> 4) | ((packed[j + 4] >> 6) << 4));
    }
}

#endif // SLM_KERNELS_INTERNAL_H
