// Scalar twins of the aarch64 NEON dot kernels (arm/dot_neon_body.h) in their exact float order,
// so the tests can require the NEON dots, both copies (plain and SDOT), and through them every
// aarch64 tile, to give these functions' bits on every CPU model and from either compiler. The
// plain `_generic` twins (dot.c) sum in ggml's scalar order and are only within a tolerance of
// the NEON dots; they stay the check against llama.cpp's math, these the check of the lanes.
//
// The integer sums of a block are exact in both, so a twin only has to put the same elements
// into the same int32 lane and then repeat the NEON code's float operations one by one: the
// conversion of each lane, the scale products, the FMAs and the final fold. Plain C, built on
// every architecture (on x86 the tests check it against the generic twins).
#include "kernels_internal.h"

// Every FMA of the NEON code (vfmaq, fmaf) is an explicit fmaf here; every other product and sum
// must be rounded on its own, so the compiler may not fuse them: clang honours the STDC pragma,
// GCC (which contracts across statements by default) its optimize pragma. As written no product
// feeds a sum outside an fmaf (scales are products that become FMA multipliers), so today both
// compilers emit the same fused operations with or without the pragmas; they keep it so when
// the code changes.
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

// The NEON horizontal sum of four float lanes (fold4 of dot_neon_body.h): the low pair plus the
// high pair lane by lane, then the two sums: (0 + 2) + (1 + 3).
static inline float neon_fold4(const float *v) {
    const float low = v[0] + v[2];
    const float high = v[1] + v[3];
    return low + high;
}

// ---- 32-element blocks --------------------------------------------------------------------------
//
// Per block: the exact integer dot of the block, converted to float and added with one FMA by
// (weight d * activation d) into the pair's single sum. Q4_1 / Q5_1 add m * s per block with a
// second FMA chain and add that sum last. (The NEON kernels build the integer from SDOT lanes or
// widening multiplies, and the SMMLA tiles four pairs at a time; the integer is the same.)

// One weight block as integers in element order, with its fp16 scale and (Q4_1 / Q5_1) minimum.
typedef struct {
    int8_t q[32];
    float d, m;
} block32_ints;

// The fifth bit of element e of a Q5 block: bit e of the little-endian 32-bit qh.
static inline int q5_bit(const uint8_t *qh, int e) { return (qh[e / 8] >> (e % 8)) & 1; }

static inline void unpack_q4_0(const void *row, int64_t i, block32_ints *b) {
    const slm_block_q4_0 *x = (const slm_block_q4_0 *)row + i;
    for (int j = 0; j < 16; ++j) {
        b->q[j] = (int8_t)((x->qs[j] & 0x0f) - 8);
        b->q[j + 16] = (int8_t)((x->qs[j] >> 4) - 8);
    }
    b->d = slm_h2f_fast(x->d);
    b->m = 0.0f;
}

static inline void unpack_q4_1(const void *row, int64_t i, block32_ints *b) {
    const slm_block_q4_1 *x = (const slm_block_q4_1 *)row + i;
    for (int j = 0; j < 16; ++j) {
        b->q[j] = (int8_t)(x->qs[j] & 0x0f);
        b->q[j + 16] = (int8_t)(x->qs[j] >> 4);
    }
    b->d = slm_h2f_fast(x->d);
    b->m = slm_h2f_fast(x->m);
}

static inline void unpack_q5_0(const void *row, int64_t i, block32_ints *b) {
    const slm_block_q5_0 *x = (const slm_block_q5_0 *)row + i;
    for (int j = 0; j < 16; ++j) {
        b->q[j] = (int8_t)(((x->qs[j] & 0x0f) | q5_bit(x->qh, j) << 4) - 16);
        b->q[j + 16] = (int8_t)(((x->qs[j] >> 4) | q5_bit(x->qh, j + 16) << 4) - 16);
    }
    b->d = slm_h2f_fast(x->d);
    b->m = 0.0f;
}

static inline void unpack_q5_1(const void *row, int64_t i, block32_ints *b) {
    const slm_block_q5_1 *x = (const slm_block_q5_1 *)row + i;
    for (int j = 0; j < 16; ++j) {
        b->q[j] = (int8_t)((x->qs[j] & 0x0f) | q5_bit(x->qh, j) << 4);
        b->q[j + 16] = (int8_t)((x->qs[j] >> 4) | q5_bit(x->qh, j + 16) << 4);
    }
    b->d = slm_h2f_fast(x->d);
    b->m = slm_h2f_fast(x->m);
}

static inline void unpack_q8_0(const void *row, int64_t i, block32_ints *b) {
    const slm_block_q8_0 *x = (const slm_block_q8_0 *)row + i;
    memcpy(b->q, x->qs, 32);
    b->d = slm_h2f_fast(x->d);
    b->m = 0.0f;
}

// The shared body; `unpack` and `with_min` are constants in each caller, so it specializes.
// Types with a minimum are dotted with Q8_1 activations (d and s = d * sum), the others with Q8_0.
SLM_INLINE float dot_block32_neon_order(int64_t n, const void *w, const void *a,
                                        void (*unpack)(const void *, int64_t, block32_ints *), int with_min) {
    const int64_t nb = n / 32;
    float acc = 0.0f;
    float offsets = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        block32_ints b;
        unpack(w, i, &b);
        const int8_t *qa;
        float d_a, s_a = 0.0f;
        if (with_min) {
            const slm_block_q8_1 *y = (const slm_block_q8_1 *)a + i;
            qa = y->qs;
            d_a = slm_h2f_fast(y->d);
            s_a = slm_h2f_fast(y->s);
        } else {
            const slm_block_q8_0 *y = (const slm_block_q8_0 *)a + i;
            qa = y->qs;
            d_a = slm_h2f_fast(y->d);
        }
        int32_t isum = 0;
        for (int e = 0; e < 32; ++e) isum += b.q[e] * qa[e];
        if (with_min) offsets = fmaf(b.m, s_a, offsets);
        acc = fmaf((float)isum, b.d * d_a, acc);  // the scale product rounded once, then the FMA
    }
    // Without a minimum the NEON code returns the sum itself (adding 0.0f could turn -0 into +0).
    return with_min ? acc + offsets : acc;
}

float slm_vec_dot_q4_0_q8_0_neon_order_generic(int64_t n, const void *w, const void *a) {
    return dot_block32_neon_order(n, w, a, unpack_q4_0, 0);
}

float slm_vec_dot_q4_1_q8_1_neon_order_generic(int64_t n, const void *w, const void *a) {
    return dot_block32_neon_order(n, w, a, unpack_q4_1, 1);
}

float slm_vec_dot_q5_0_q8_0_neon_order_generic(int64_t n, const void *w, const void *a) {
    return dot_block32_neon_order(n, w, a, unpack_q5_0, 0);
}

float slm_vec_dot_q5_1_q8_1_neon_order_generic(int64_t n, const void *w, const void *a) {
    return dot_block32_neon_order(n, w, a, unpack_q5_1, 1);
}

float slm_vec_dot_q8_0_q8_0_neon_order_generic(int64_t n, const void *w, const void *a) {
    return dot_block32_neon_order(n, w, a, unpack_q8_0, 0);
}

// ---- 256-element super-blocks against Q8_K ------------------------------------------------------
//
// The NEON kernels sum a whole super-block exactly in integers (the scaled sub-block dots, and
// for Q4_K / Q5_K the min term from bsums), so the lanes do not matter: per super-block one FMA of
// the sum by (fp16 d * activation d) into `sum` and, for Q4_K / Q5_K, one of the min term by
// (fp16 dmin * activation d) into `sum_mins`, subtracted at the end. The weights are unpacked as
// by the generic twins (kernels_internal.h).
SLM_INLINE float dot_k_neon_order(int64_t n, const void *w, const void *a, int type) {
    const slm_block_q8_K *y = (const slm_block_q8_K *)a;
    const int64_t nb = n / SLM_QK_K;
    float sum = 0.0f, sum_mins = 0.0f;
    int8_t v[SLM_QK_K];
    for (int64_t i = 0; i < nb; ++i) {
        int32_t isum = 0;
        float d_w;
        if (type == SLM_TYPE_Q6_K) {
            const slm_block_q6_K *x = (const slm_block_q6_K *)w + i;
            slm_unpack_q6_K_values(x->ql, x->qh, v);
            for (int e = 0; e < SLM_QK_K; ++e) isum += x->scales[e / 16] * (v[e] * y[i].qs[e]);
            d_w = slm_h2f_fast(x->d);
        } else {
            // Q4_K and Q5_K share the header layout (d, dmin, scales) before their quants.
            const slm_block_q4_K *x4 = (const slm_block_q4_K *)w + i;
            const slm_block_q5_K *x5 = (const slm_block_q5_K *)w + i;
            uint8_t sc[8], mn[8];
            if (type == SLM_TYPE_Q4_K) {
                slm_unpack_k_scales(x4->scales, sc, mn);
                slm_unpack_q4_K_values(x4->qs, v);
                d_w = slm_h2f_fast(x4->d);
            } else {
                slm_unpack_k_scales(x5->scales, sc, mn);
                slm_unpack_q5_K_values(x5->qs, x5->qh, v);
                d_w = slm_h2f_fast(x5->d);
            }
            for (int e = 0; e < SLM_QK_K; ++e) isum += sc[e / 32] * (v[e] * y[i].qs[e]);
            const float dmin = slm_h2f_fast(type == SLM_TYPE_Q4_K ? x4->dmin : x5->dmin);
            const float min_scale = dmin * y[i].d;
            sum_mins = fmaf((float)slm_k_min_term(y[i].bsums, mn), min_scale, sum_mins);
        }
        const float scale = d_w * y[i].d;
        sum = fmaf((float)isum, scale, sum);
    }
    // Q6_K has no minimum: the NEON code returns sum itself.
    return type == SLM_TYPE_Q6_K ? sum : sum - sum_mins;
}

float slm_vec_dot_q4_K_q8_K_neon_order_generic(int64_t n, const void *w, const void *a) {
    return dot_k_neon_order(n, w, a, SLM_TYPE_Q4_K);
}

float slm_vec_dot_q5_K_q8_K_neon_order_generic(int64_t n, const void *w, const void *a) {
    return dot_k_neon_order(n, w, a, SLM_TYPE_Q5_K);
}

float slm_vec_dot_q6_K_q8_K_neon_order_generic(int64_t n, const void *w, const void *a) {
    return dot_k_neon_order(n, w, a, SLM_TYPE_Q6_K);
}

// ---- float rows ---------------------------------------------------------------------------------
//
// Four accumulators of four lanes over steps of 16 elements, i.e. 16 float lanes, lane L taking
// elements 16k + L with one FMA each; then fold16 of dot_neon_body.h: vectors 0 + 2 and 1 + 3
// lane by lane, their sum, the four-lane fold; then the tail with one FMA per element in order.
// Every conversion (F16 by the hardware's or the table's exact conversion, BF16 by a shift) is
// exact, so only the element loader differs by type.
#define NEON_FLOAT_LANES 16

SLM_INLINE float float_element(int type, const void *row, int64_t i) {
    switch (type) {
    case SLM_TYPE_F16: return slm_h2f_fast(((const uint16_t *)row)[i]);
    case SLM_TYPE_BF16: return slm_bf2f(((const uint16_t *)row)[i]);
    default: return ((const float *)row)[i];
    }
}

SLM_INLINE float dot_float_neon_order(int64_t n, const void *w, const void *a, int type) {
    float s[NEON_FLOAT_LANES] = {0.0f};
    int64_t i = 0;
    for (; i + NEON_FLOAT_LANES <= n; i += NEON_FLOAT_LANES) {
        for (int l = 0; l < NEON_FLOAT_LANES; ++l) {
            s[l] = fmaf(float_element(type, w, i + l), float_element(type, a, i + l), s[l]);
        }
    }
    float t[4];
    for (int k = 0; k < 4; ++k) {
        const float even = s[k] + s[8 + k];     // vector 0 + vector 2
        const float odd = s[4 + k] + s[12 + k];  // vector 1 + vector 3
        t[k] = even + odd;
    }
    float sum = neon_fold4(t);
    for (; i < n; ++i) sum = fmaf(float_element(type, w, i), float_element(type, a, i), sum);
    return sum;
}

float slm_vec_dot_f32_f32_neon_order_generic(int64_t n, const void *w, const void *a) {
    return dot_float_neon_order(n, w, a, SLM_TYPE_F32);
}

float slm_vec_dot_f16_f16_neon_order_generic(int64_t n, const void *w, const void *a) {
    return dot_float_neon_order(n, w, a, SLM_TYPE_F16);
}

float slm_vec_dot_bf16_bf16_neon_order_generic(int64_t n, const void *w, const void *a) {
    return dot_float_neon_order(n, w, a, SLM_TYPE_BF16);
}

slm_vec_dot_fn slm_vec_dot_kernel_neon_order_generic(int type) {
    switch (type) {
    case SLM_TYPE_F32: return slm_vec_dot_f32_f32_neon_order_generic;
    case SLM_TYPE_F16: return slm_vec_dot_f16_f16_neon_order_generic;
    case SLM_TYPE_BF16: return slm_vec_dot_bf16_bf16_neon_order_generic;
    case SLM_TYPE_Q4_0: return slm_vec_dot_q4_0_q8_0_neon_order_generic;
    case SLM_TYPE_Q4_1: return slm_vec_dot_q4_1_q8_1_neon_order_generic;
    case SLM_TYPE_Q5_0: return slm_vec_dot_q5_0_q8_0_neon_order_generic;
    case SLM_TYPE_Q5_1: return slm_vec_dot_q5_1_q8_1_neon_order_generic;
    case SLM_TYPE_Q8_0: return slm_vec_dot_q8_0_q8_0_neon_order_generic;
    case SLM_TYPE_Q4_K: return slm_vec_dot_q4_K_q8_K_neon_order_generic;
    case SLM_TYPE_Q5_K: return slm_vec_dot_q5_K_q8_K_neon_order_generic;
    case SLM_TYPE_Q6_K: return slm_vec_dot_q6_K_q8_K_neon_order_generic;
    default: return NULL;
    }
}
