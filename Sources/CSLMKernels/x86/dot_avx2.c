// AVX2 + FMA dot products of float rows (x86-64), the F16 batches, the Q4_0 key dot of a
// quantized KV cache, and the AVX2 table slm_vec_dot_kernel picks from; the quantized types'
// dots are in quant_body.h (built for AVX2 and for the VNNI extensions). Each has a scalar
// `_generic` twin in generic/dot.c and a test against it.
#include "arch.h"

#include <stdlib.h>

#if SLM_ARCH_X86
#include "avx2_common.h"

// Q4_0 keys of a quantized KV cache dotted with a Q8_0 query: the cache is not repacked, so
// llama.cpp's flash attention uses its plain x86 kernel, of the eight-float-lane shape.
SLM_AVX2 float slm_vec_dot_q4_0_q8_0_lanes_avx2(int64_t n, const void *w, const void *a) {
    const slm_block_q4_0 *SLM_RESTRICT x = (const slm_block_q4_0 *)w;
    const slm_block_q8_0 *SLM_RESTRICT y = (const slm_block_q8_0 *)a;
    const int64_t nb = n / SLM_QK8_0;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; ++i) {
        const __m256i q = _mm256_sub_epi8(unpack_nibbles(x[i].qs), _mm256_set1_epi8(8));
        acc = _mm256_fmadd_ps(block_scale(x[i].d, y[i].d), dot_s8_s8_lanes(q, _mm256_loadu_si256((const __m256i *)y[i].qs)), acc);
    }
    return hsum8(acc);
}

// ---- float rows ---------------------------------------------------------------------------------
//
// llama.cpp's x86 order: four accumulators of eight lanes over steps of 32 elements, folded
// (0 + 2, 1 + 3, then 0 + 1), the two halves added, then two horizontal adds; the tail after
// the last full step is added one product at a time (F16 / BF16 in double, as ggml does).

SLM_AVX2 static inline float fold4_hadd(__m256 s0, __m256 s1, __m256 s2, __m256 s3) {
    s0 = _mm256_add_ps(s0, s2);
    s1 = _mm256_add_ps(s1, s3);
    s0 = _mm256_add_ps(s0, s1);
    const __m128 t0 = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
    const __m128 t1 = _mm_hadd_ps(t0, t0);
    return _mm_cvtss_f32(_mm_hadd_ps(t1, t1));
}

SLM_AVX2 static float slm_vec_dot_f32_f32_avx2(int64_t n, const void *w, const void *a) {
    const float *SLM_RESTRICT x = (const float *)w;
    const float *SLM_RESTRICT y = (const float *)a;
    __m256 s[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        for (int j = 0; j < 4; ++j) s[j] = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8 * j), _mm256_loadu_ps(y + i + 8 * j), s[j]);
    }
    float sum = fold4_hadd(s[0], s[1], s[2], s[3]);
    for (; i < n; ++i) sum = fmaf(x[i], y[i], sum);
    return sum;
}

SLM_AVX2 static inline __m256 load_f16x8(const uint16_t *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

SLM_AVX2 static float slm_vec_dot_f16_f16_avx2(int64_t n, const void *w, const void *a) {
    const uint16_t *SLM_RESTRICT x = (const uint16_t *)w;
    const uint16_t *SLM_RESTRICT y = (const uint16_t *)a;
    __m256 s[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        for (int j = 0; j < 4; ++j) s[j] = _mm256_fmadd_ps(load_f16x8(x + i + 8 * j), load_f16x8(y + i + 8 * j), s[j]);
    }
    double sum = fold4_hadd(s[0], s[1], s[2], s[3]);
    for (; i < n; ++i) sum += (double)(slm_h2f(x[i]) * slm_h2f(y[i]));
    return (float)sum;
}

// ---- F16 batches ----------------------------------------------------------------------------
// A prompt batch (or a packed embedding batch) over F16 weights: each pair above converts both
// operands from F16 for every multiply, so a batch spends more time converting than
// multiplying. Here a block of weight rows and a block of activation rows are converted to F32
// once and every pair of the two blocks is summed from those: the same products (the
// conversion is exact), the same four eight-lane accumulators, the same fold and the same tail as
// slm_vec_dot_f16_f16_avx2, so every output has that kernel's bits.
enum { F16_BLOCK_ROWS = 18, F16_BLOCK_TOKENS = 48 };  // multiples of the 3 x 3 tile

SLM_AVX2 static void f16_row_to_f32(const uint16_t *src, float *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load_f16x8(src + i));
    for (; i < n; ++i) dst[i] = slm_h2f(src[i]);
}

// Row x with tokens y0 and y1 (F32 copies): two dots sharing the row's loads.
SLM_AVX2 static void dot2_f16_order(int64_t n, const float *x, const float *y0, const float *y1, float *out0,
                                    float *out1) {
    __m256 s[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    __m256 u[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        for (int j = 0; j < 4; ++j) {
            const __m256 w = _mm256_loadu_ps(x + i + 8 * j);
            s[j] = _mm256_fmadd_ps(w, _mm256_loadu_ps(y0 + i + 8 * j), s[j]);
            u[j] = _mm256_fmadd_ps(w, _mm256_loadu_ps(y1 + i + 8 * j), u[j]);
        }
    }
    double sum0 = fold4_hadd(s[0], s[1], s[2], s[3]);
    double sum1 = fold4_hadd(u[0], u[1], u[2], u[3]);
    for (int64_t k = i; k < n; ++k) {
        sum0 += (double)(x[k] * y0[k]);
        sum1 += (double)(x[k] * y1[k]);
    }
    *out0 = (float)sum0;
    *out1 = (float)sum1;
}

SLM_AVX2 static float dot_f16_order(int64_t n, const float *x, const float *y) {
    __m256 s[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        for (int j = 0; j < 4; ++j) s[j] = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8 * j), _mm256_loadu_ps(y + i + 8 * j), s[j]);
    }
    double sum = fold4_hadd(s[0], s[1], s[2], s[3]);
    for (; i < n; ++i) sum += (double)(x[i] * y[i]);
    return (float)sum;
}

// Three rows by three tokens from the F32 copies. The pair dot's four accumulators are four
// independent sums (accumulator j takes columns 32k + 8j … 32k + 8j + 7, in ascending k), so they
// are computed one after another, each for all nine pairs at once: nine accumulators, three
// weight vectors and one activation vector fit the sixteen registers, and every load serves three
// multiplies. Each accumulator receives the same FMAs in the same order as in the pair dot.
SLM_AVX2 static void tile3x3_f16_order(int64_t n, const float *const x[3], const float *const y[3], float *out,
                                       int64_t out_row_stride) {
    __m256 s[4][3][3];
    const int64_t full = n / 32 * 32;
    for (int j = 0; j < 4; ++j) {
        __m256 a00 = _mm256_setzero_ps(), a01 = _mm256_setzero_ps(), a02 = _mm256_setzero_ps();
        __m256 a10 = _mm256_setzero_ps(), a11 = _mm256_setzero_ps(), a12 = _mm256_setzero_ps();
        __m256 a20 = _mm256_setzero_ps(), a21 = _mm256_setzero_ps(), a22 = _mm256_setzero_ps();
        for (int64_t i = 8 * j; i < full; i += 32) {
            const __m256 w0 = _mm256_loadu_ps(x[0] + i), w1 = _mm256_loadu_ps(x[1] + i), w2 = _mm256_loadu_ps(x[2] + i);
            __m256 v = _mm256_loadu_ps(y[0] + i);
            a00 = _mm256_fmadd_ps(w0, v, a00), a10 = _mm256_fmadd_ps(w1, v, a10), a20 = _mm256_fmadd_ps(w2, v, a20);
            v = _mm256_loadu_ps(y[1] + i);
            a01 = _mm256_fmadd_ps(w0, v, a01), a11 = _mm256_fmadd_ps(w1, v, a11), a21 = _mm256_fmadd_ps(w2, v, a21);
            v = _mm256_loadu_ps(y[2] + i);
            a02 = _mm256_fmadd_ps(w0, v, a02), a12 = _mm256_fmadd_ps(w1, v, a12), a22 = _mm256_fmadd_ps(w2, v, a22);
        }
        s[j][0][0] = a00, s[j][0][1] = a01, s[j][0][2] = a02;
        s[j][1][0] = a10, s[j][1][1] = a11, s[j][1][2] = a12;
        s[j][2][0] = a20, s[j][2][1] = a21, s[j][2][2] = a22;
    }
    for (int r = 0; r < 3; ++r) {
        for (int t = 0; t < 3; ++t) {
            double sum = fold4_hadd(s[0][r][t], s[1][r][t], s[2][r][t], s[3][r][t]);
            for (int64_t k = full; k < n; ++k) sum += (double)(x[r][k] * y[t][k]);
            out[t * out_row_stride + r] = (float)sum;
        }
    }
}

int slm_matmul_f16_avx2(const void *weight, size_t row_stride, int64_t n_cols, const void *activations,
                        size_t act_row_bytes, int64_t n_tokens, float *out, int64_t out_row_stride,
                        int64_t row_begin, int64_t row_end) {
    if (!slm_cpu_has(SLM_CPU_X86_AVX2_FMA_F16C) || n_cols <= 0) return 0;
    const size_t stride = ((size_t)n_cols + 7) / 8 * 8;  // floats per converted row
    float *rows = malloc(sizeof(float) * stride * (F16_BLOCK_ROWS + F16_BLOCK_TOKENS));
    if (!rows) return 0;
    float *acts = rows + stride * F16_BLOCK_ROWS;
    const uint8_t *w = (const uint8_t *)weight;
    const uint8_t *a = (const uint8_t *)activations;
    for (int64_t t0 = 0; t0 < n_tokens; t0 += F16_BLOCK_TOKENS) {
        const int64_t nt = n_tokens - t0 < F16_BLOCK_TOKENS ? n_tokens - t0 : F16_BLOCK_TOKENS;
        for (int64_t t = 0; t < nt; ++t)
            f16_row_to_f32((const uint16_t *)(a + (size_t)(t0 + t) * act_row_bytes), acts + (size_t)t * stride, n_cols);
        for (int64_t r0 = row_begin; r0 < row_end; r0 += F16_BLOCK_ROWS) {
            const int64_t nr = row_end - r0 < F16_BLOCK_ROWS ? row_end - r0 : F16_BLOCK_ROWS;
            for (int64_t r = 0; r < nr; ++r)
                f16_row_to_f32((const uint16_t *)(w + (size_t)(r0 + r) * row_stride), rows + (size_t)r * stride, n_cols);
            // Whole 3 x 3 tiles first, then the ragged rows and tokens pair by pair (same bits).
            const int64_t tiled_rows = nr / 3 * 3, tiled_tokens = nt / 3 * 3;
            for (int64_t r = 0; r < tiled_rows; r += 3) {
                const float *x[3] = {rows + (size_t)r * stride, rows + (size_t)(r + 1) * stride, rows + (size_t)(r + 2) * stride};
                for (int64_t t = 0; t < tiled_tokens; t += 3) {
                    const float *y[3] = {acts + (size_t)t * stride, acts + (size_t)(t + 1) * stride, acts + (size_t)(t + 2) * stride};
                    tile3x3_f16_order(n_cols, x, y, out + (t0 + t) * out_row_stride + r0 + r, out_row_stride);
                }
            }
            for (int64_t r = 0; r < nr; ++r) {
                const float *x = rows + (size_t)r * stride;
                int64_t t = r < tiled_rows ? tiled_tokens : 0;
                for (; t + 2 <= nt; t += 2) {
                    dot2_f16_order(n_cols, x, acts + (size_t)t * stride, acts + (size_t)(t + 1) * stride,
                                   out + (t0 + t) * out_row_stride + r0 + r, out + (t0 + t + 1) * out_row_stride + r0 + r);
                }
                if (t < nt) out[(t0 + t) * out_row_stride + r0 + r] = dot_f16_order(n_cols, x, acts + (size_t)t * stride);
            }
        }
    }
    free(rows);
    return 1;
}

SLM_AVX2 static inline __m256 load_bf16x8(const uint16_t *p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}

SLM_AVX2 static float slm_vec_dot_bf16_bf16_avx2(int64_t n, const void *w, const void *a) {
    const uint16_t *SLM_RESTRICT x = (const uint16_t *)w;
    const uint16_t *SLM_RESTRICT y = (const uint16_t *)a;
    __m256 s[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        for (int j = 0; j < 4; ++j) s[j] = _mm256_fmadd_ps(load_bf16x8(x + i + 8 * j), load_bf16x8(y + i + 8 * j), s[j]);
    }
    // BF16 folds as (0 + 2) + (1 + 3), then halves, then the usual two pairwise steps.
    const __m256 s02 = _mm256_add_ps(s[0], s[2]), s13 = _mm256_add_ps(s[1], s[3]);
    const __m256 all = _mm256_add_ps(s02, s13);
    __m128 g = _mm_add_ps(_mm256_extractf128_ps(all, 1), _mm256_castps256_ps128(all));
    g = _mm_add_ps(g, _mm_movehl_ps(g, g));
    g = _mm_add_ss(g, _mm_movehdup_ps(g));
    double sum = _mm_cvtss_f32(g);
    for (; i < n; ++i) sum += (double)(slm_bf2f(x[i]) * slm_bf2f(y[i]));
    return (float)sum;
}

int slm_sum_order_depends_on_batch_avx2(int type) {
    if (!slm_cpu_has(SLM_CPU_X86_AVX2_FMA_F16C)) return 0;
    return type == SLM_TYPE_Q4_K || type == SLM_TYPE_Q5_K || type == SLM_TYPE_Q6_K;
}

slm_vec_dot_fn slm_vec_dot_kernel_avx2(int type) {
    if (!slm_cpu_has(SLM_CPU_X86_AVX2_FMA_F16C)) return NULL;
    switch (type) {
    case SLM_TYPE_F32: return slm_vec_dot_f32_f32_avx2;
    case SLM_TYPE_F16: return slm_vec_dot_f16_f16_avx2;
    case SLM_TYPE_BF16: return slm_vec_dot_bf16_bf16_avx2;
    default: return slm_vec_dot_kernel_quant_avx2(type);
    }
}
#endif
