// Private helpers shared by the CSLMKernels translation units (not part of the public header).
// Every kernel source includes it, so every definition meets its declaration in slm_kernels.h or
// slm_kernels_testing.h.
#ifndef SLM_KERNELS_INTERNAL_H
#define SLM_KERNELS_INTERNAL_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "slm_kernels.h"
#include "slm_kernels_testing.h"

#if defined(__GNUC__) || defined(__clang__)
#define SLM_INLINE static inline __attribute__((always_inline))
#else
#define SLM_INLINE static inline
#endif

#define SLM_RESTRICT __restrict

extern int slm_force_generic __attribute__((visibility("hidden")));

SLM_INLINE uint32_t slm_bits_of(float f) {
    uint32_t u;
    __builtin_memcpy(&u, &f, sizeof u);
    return u;
}

SLM_INLINE float slm_float_of(uint32_t u) {
    float f;
    __builtin_memcpy(&f, &u, sizeof f);
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

// Half -> float for block scales, where speed matters. aarch64 converts in hardware; elsewhere
// a 65536-entry table (256 KB, filled once at load time) beats any bit manipulation: a block
// kernel needs two to four scale conversions per 32 elements.
#if defined(__aarch64__)
SLM_INLINE float slm_h2f_fast(uint16_t h) {
    __fp16 v;
    __builtin_memcpy(&v, &h, sizeof v);
    return (float)v;
}
#else
#define SLM_HAVE_FP16_TABLE 1
extern float slm_fp16_table[1 << 16] __attribute__((visibility("hidden")));
SLM_INLINE float slm_h2f_fast(uint16_t h) { return slm_fp16_table[h]; }
#endif

// Half -> float inside loops over whole rows: hardware where available, else the select-only
// slm_h2f (vectorizes; a table would mean one scattered load per element).
#if defined(__aarch64__)
#define slm_h2f_row slm_h2f_fast
#else
#define slm_h2f_row slm_h2f
#endif

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

// The K-quants' weights as signed bytes and their min term, shared by the generic twins (dot.c)
// and the NEON-order twins (dot_neon_order.c).

// sum over the 16 groups of 16 activations of bsums[g] * mins[g / 2] (the min term of Q4_K/Q5_K).
static inline int slm_k_min_term(const int16_t *SLM_RESTRICT bsums, const uint8_t *SLM_RESTRICT mn) {
    int s = 0;
    for (int g = 0; g < 16; ++g) s += bsums[g] * mn[g / 2];
    return s;
}

// Q4_K / Q5_K: 4 chunks of 64 elements; byte p of chunk c holds element 64c + p (low nibble,
// sub-block 2c) and 64c + 32 + p (high nibble, sub-block 2c + 1). Q5_K's fifth bits are bit 2c
// and 2c + 1 of qh[p].
static inline void slm_unpack_q4_K_values(const uint8_t *SLM_RESTRICT q, int8_t *SLM_RESTRICT v) {
    for (int c = 0; c < 4; ++c, q += 32, v += 64) {
        for (int p = 0; p < 32; ++p) {
            v[p] = (int8_t)(q[p] & 0x0f);
            v[p + 32] = (int8_t)(q[p] >> 4);
        }
    }
}

static inline void slm_unpack_q5_K_values(const uint8_t *SLM_RESTRICT q, const uint8_t *SLM_RESTRICT qh,
                                          int8_t *SLM_RESTRICT v) {
    for (int c = 0; c < 4; ++c, q += 32, v += 64) {
        const uint8_t m_lo = (uint8_t)(1u << (2 * c)), m_hi = (uint8_t)(2u << (2 * c));
        for (int p = 0; p < 32; ++p) {
            v[p] = (int8_t)((q[p] & 0x0f) | ((qh[p] & m_lo) ? 16 : 0));
            v[p + 32] = (int8_t)((q[p] >> 4) | ((qh[p] & m_hi) ? 16 : 0));
        }
    }
}

// Q6_K: per half of 128 elements, byte position p < 32 gives elements p, p + 32 (low nibbles of
// ql[p], ql[p + 32]) and p + 64, p + 96 (their high nibbles), with top bits from qh[p] at shifts
// 0, 2, 4, 6; values are u - 32.
static inline void slm_unpack_q6_K_values(const uint8_t *SLM_RESTRICT ql, const uint8_t *SLM_RESTRICT qh,
                                          int8_t *SLM_RESTRICT v) {
    for (int half = 0; half < 2; ++half, ql += 64, qh += 32, v += 128) {
        for (int p = 0; p < 32; ++p) {
            v[p] = (int8_t)(((ql[p] & 0x0f) | (((qh[p] >> 0) & 3) << 4)) - 32);
            v[p + 32] = (int8_t)(((ql[p + 32] & 0x0f) | (((qh[p] >> 2) & 3) << 4)) - 32);
            v[p + 64] = (int8_t)(((ql[p] >> 4) | (((qh[p] >> 4) & 3) << 4)) - 32);
            v[p + 96] = (int8_t)(((ql[p + 32] >> 4) | (((qh[p] >> 6) & 3) << 4)) - 32);
        }
    }
}

// e^x by the fast approximation llama.cpp's CPU backend also uses (see activation.c); callers
// compiled for FMA get the fused operations it is defined with.
// Constants of the approximation: round-to-int bias 1.5 * 2^23; log2(e); ln(2) split in a high
// and a low part; polynomial coefficients of e^b on |b| <= ln(2) / 2.
#define EXP_SHIFT 0x1.8p23f
#define EXP_LOG2E 0x1.715476p+0f
#define EXP_LN2_HI 0x1.62e4p-1f
#define EXP_LN2_LO 0x1.7f7d1cp-20f
#define EXP_C5 0x1.0e4020p-7f
#define EXP_C4 0x1.573e2ep-5f
#define EXP_C3 0x1.555e66p-3f
#define EXP_C2 0x1.fffdb6p-2f
#define EXP_C1 0x1.ffffecp-1f

SLM_INLINE float slm_exp_approx(float x) {
    const float z = fmaf(x, EXP_LOG2E, EXP_SHIFT);
    const float n = z - EXP_SHIFT;                        // round(x * log2 e)
    const float b = fmaf(-n, EXP_LN2_LO, fmaf(-n, EXP_LN2_HI, x));  // x - n ln 2
    const uint32_t e = slm_bits_of(z) << 23;              // n in the exponent field
    const float k = slm_float_of(e + slm_bits_of(1.0f));  // 2^n
    const float u = b * b;
    const float j = fmaf(fmaf(fmaf(EXP_C5, b, EXP_C4), u, fmaf(EXP_C3, b, EXP_C2)), u, EXP_C1 * b);  // e^b - 1
    if (!(fabsf(n) > 126.0f)) return fmaf(k, j, k);
    // 2^n would overflow the exponent field: split it into two factors, saturating past 192.
    const uint32_t g = n <= 0.0f ? 0x82000000u : 0u;
    const float s1 = slm_float_of(g + 0x7f000000u);
    const float s2 = slm_float_of(e - g);
    if (fabsf(n) > 192.0f) return s1 * s1;
    return fmaf(s2, j, s2) * s1;
}

#endif // SLM_KERNELS_INTERNAL_H
