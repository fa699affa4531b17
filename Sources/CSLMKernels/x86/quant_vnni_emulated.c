// The VNNI code of x86/quant_body.h with vpdpbusd / vpdpwssd emulated exactly in AVX2, for the
// tests only (the dispatch never picks it by itself): it runs the VNNI builds' logic bit for bit
// on any AVX2 CPU, so their equality with the AVX2 build is checked where no VNNI CPU is at hand
// (the native VNNI builds differ from it only in those two instructions).
#include "arch.h"

#if SLM_ARCH_X86
#include "avx2_common.h"

// dpbusd: the even and the odd bytes of each 16-bit word, widened to int16 (u zero-extended, s
// sign-extended), multiplied and summed in pairs by madd: lane l gets u[4l] s[4l] + u[4l+2] s[4l+2]
// from the even bytes and the two odd products from the odd ones. Each product fits an int16 x
// int16 multiply (|u s| <= 255 * 128) and the sums an int32: exact, as dpbusd, never saturating.
SLM_AVX2 static inline __m256i dpbusd_emulated(__m256i acc, __m256i u, __m256i s) {
    const __m256i u_even = _mm256_and_si256(u, _mm256_set1_epi16(0x00ff));
    const __m256i u_odd = _mm256_srli_epi16(u, 8);
    const __m256i s_even = _mm256_srai_epi16(_mm256_slli_epi16(s, 8), 8);
    const __m256i s_odd = _mm256_srai_epi16(s, 8);
    return _mm256_add_epi32(acc, _mm256_add_epi32(_mm256_madd_epi16(u_even, s_even), _mm256_madd_epi16(u_odd, s_odd)));
}

// dpwssd is madd's products and pair sums added to acc (both wrap in int32 alike).
SLM_AVX2 static inline __m256i dpwssd_emulated(__m256i acc, __m256i a, __m256i b) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b));
}

#define SLM_Q_BUILD vnni_emulated
#define SLM_Q_DOT_TABLE slm_vec_dot_kernel_vnni_emulated
#define SLM_Q_TARGET SLM_AVX2
#define SLM_Q_FEATURES SLM_CPU_X86_AVX2_FMA_F16C
#define SLM_Q_VNNI 1
#define SLM_Q_DPBUSD(acc, u, s) dpbusd_emulated(acc, u, s)
#define SLM_Q_DPWSSD(acc, a, b) dpwssd_emulated(acc, a, b)
#include "quant_body.h"
#endif
