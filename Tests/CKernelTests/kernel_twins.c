// Every SIMD dot kernel of this CPU against its scalar `_generic` twin, for every weight type;
// both aarch64 NEON dot tables (plain and SDOT) against their scalar NEON-order twins
// (generic/dot_neon_order.c) bit for bit; and every aarch64 tile (decode and prompt, NEON / SDOT /
// SMMLA) against the dot and the NEON-order twin of each of its (row, token) pairs, bit for bit;
// in plain C so that it can be cross-compiled and run under qemu (scripts/test-arm-kernels.sh) as
// well as natively. Hermetic: all inputs come from a fixed-seed generator.
//
//   kernel_twins [--expect TABLES] [--expect-features FEATURES]
//
// TABLES is a comma-separated list of the SIMD tables this CPU must offer (avx2, avxvnni,
// avx512vnni, vnni_emulated, neon, neon_dotprod, neon_i8mm, or "none"); FEATURES the CPU features
// the dispatch must detect (slm_cpu_feature_names: e.g. neon,dotprod,i8mm,sve). The run fails if
// the dispatch finds a different set, which checks the run-time CPU detection (e.g. no SDOT under
// qemu's cortex-a53, no SMMLA under cortex-a76, no VNNI builds on a CPU without the extension).
//
// The x86 VNNI builds of the quantized kernels (x86/quant_body.h) must give the AVX2 build's bits
// exactly: every dot, batch-order dot, matvec and matmul, on random rows and at the extremes.
// vnni_emulated (the VNNI code with its instructions emulated in AVX2) runs on any AVX2 CPU; the
// native builds where the CPU has them, and are reported as skipped where it does not. Prints one
// line per (table, type) and per tile, and ends with "kernel_twins: P passed, F failed" (counting
// cases: one per (table, type), per tile, per type for the matrix shapes, the NEON copies, the
// NEON-order twin against the generic one (every architecture) and each NEON table against the
// NEON-order twin, plus dispatch and the CPU detection); exits 1 on any failure.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slm_kernels_testing.h"

// ---- Tolerances ---------------------------------------------------------------------------------
//
// Both kernels of a pair compute every block's integer dot exactly (quantized types) or the same
// exact products (float types, up to FMA fusing); they differ in how the float terms are grouped
// and rounded. Errors are measured relative to B = sum_i |w_i * a_i| over the dequantized rows
// (for types with a minimum term, the scale part and the min part counted separately, since they
// can cancel). With T float terms summed in different orders, each rounding is at most 2^-24 of
// a partial sum bounded by B; independent roundings grow like sqrt(T), so the bound used is
//     |simd - generic| <= TWIN_ROUNDING_SIGMAS * 2^-24 * sqrt(T) * B.
// A dropped or misplaced block, a wrong scale or a missed tail element is off by about one
// whole term, B / T, which stays above this bound for every shape tested (T <= 65536).
#define TWIN_ROUNDING_SIGMAS 8.0
#define TWIN_EPSILON 0x1p-24
// The plain-NEON and SDOT copies put the same integers in the same lanes: exactly equal.
#define NEON_COPIES_MAX_ULPS 0

// ---- Shapes -------------------------------------------------------------------------------------
// Smallest K: one block (one element for float rows); largest: an embedding width beyond any
// edge model's. Float rows also get tails that are not a multiple of any vector step.
#define LARGEST_K 65536
static const int64_t float_sizes[] = {1, 7, 15, 16, 17, 31, 32, 33, 63, 100, 576, 4096 + 17, LARGEST_K, LARGEST_K + 5};
static const int64_t block32_sizes[] = {32, 64, 96, 576, 1536, 4096, LARGEST_K};
static const int64_t block256_sizes[] = {256, 512, 768, 2304, 4864, LARGEST_K};
#define ROWS_PER_SIZE 4
// Row ranges for slm_matvec / slm_matmul that are not multiples of any tile, with odd offsets.
static const int64_t matrix_rows[] = {1, 7, 17, 33};
static const int64_t matrix_tokens[] = {1, 3, 5, 17};
#define MATRIX_ROW_BEGIN 3

// ---- Random data --------------------------------------------------------------------------------
static uint64_t rng_state = 0x5EED2024C0FFEEull;

static uint64_t rng_next(void) {  // splitmix64
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double uniform(double lo, double hi) { return lo + (hi - lo) * (double)(rng_next() >> 11) * 0x1p-53; }

// Per-block magnitude over two decades, so blocks of very different scale are summed.
static float block_magnitude(void) { return (float)pow(10.0, uniform(-1, 1)); }

static void put_half(uint8_t *p, float v) {
    const uint16_t h = slm_fp32_to_fp16(v);
    memcpy(p, &h, 2);
}

// Shape of a test row: random, all-maximal quant bytes with same-sign activations (the largest
// integer sums the lane widths must hold), or activations of zero (Q8 blocks with d = 0).
enum row_kind { ROW_RANDOM, ROW_EXTREME, ROW_ZERO_ACTIVATIONS };

static void random_floats(float *x, int64_t n, enum row_kind kind) {
    for (int64_t b = 0; b < n; b += 32) {
        const float m = block_magnitude();
        for (int64_t j = b; j < n && j < b + 32; ++j) {
            x[j] = kind == ROW_EXTREME ? m : kind == ROW_ZERO_ACTIVATIONS ? 0.0f : (float)uniform(-1, 1) * m;
        }
    }
}

// One valid weight row of `type`. Quantized rows are built from random bytes with plausible fp16
// scales (signed where the format allows); Q8_0 and the float types from random floats.
static void random_weights(int type, int64_t n, uint8_t *row, enum row_kind kind) {
    const int64_t block_bytes = slm_type_block_bytes(type);
    const int64_t nb = n / slm_type_block_elements(type);
    const uint8_t fill = kind == ROW_EXTREME ? 0xff : 0;
    if (type == SLM_TYPE_F32 || type == SLM_TYPE_F16 || type == SLM_TYPE_BF16 || type == SLM_TYPE_Q8_0) {
        float *x = malloc((size_t)n * sizeof *x);
        random_floats(x, n, kind == ROW_EXTREME ? ROW_EXTREME : ROW_RANDOM);
        slm_quantize_row(type, x, row, n);
        free(x);
        return;
    }
    for (int64_t b = 0; b < nb; ++b) {
        uint8_t *p = row + b * block_bytes;
        for (int64_t k = 0; k < block_bytes; ++k) p[k] = fill ? fill : (uint8_t)rng_next();
        const float d = (float)uniform(0.002, 0.2);
        const float sign = (rng_next() & 1) ? 1.0f : -1.0f;
        switch (type) {
        case SLM_TYPE_Q4_0: case SLM_TYPE_Q5_0: put_half(p, d * sign); break;
        case SLM_TYPE_Q4_1: put_half(p, d); put_half(p + 2, -d * (float)uniform(0, 15)); break;
        case SLM_TYPE_Q5_1: put_half(p, d); put_half(p + 2, -d * (float)uniform(0, 31)); break;
        case SLM_TYPE_Q4_K: case SLM_TYPE_Q5_K:
            put_half(p, d * 0.02f);
            put_half(p + 2, d * 0.02f * (float)uniform(0, 1));
            break;
        case SLM_TYPE_Q6_K: put_half(p + offsetof(slm_block_q6_K, d), d * 0.01f * sign); break;
        default: break;
        }
    }
}

// ---- Reference magnitude ------------------------------------------------------------------------

// Zeroes the fp16 field at `offset` of every block (to split a row into its scale and min parts).
static void zero_field(uint8_t *row, int type, int64_t n, size_t offset) {
    const int64_t block_bytes = slm_type_block_bytes(type);
    for (int64_t b = 0; b < n / slm_type_block_elements(type); ++b) memset(row + b * block_bytes + offset, 0, 2);
}

// B of the tolerance: sum_i |w_i a_i|; for types with a min, the d part and the min part apart.
static double dot_magnitude(int type, int64_t n, const uint8_t *w, const uint8_t *act) {
    const size_t bytes = slm_row_bytes(type, n);
    float *wf = malloc((size_t)n * sizeof *wf), *af = malloc((size_t)n * sizeof *af);
    slm_dequantize_row(slm_type_activation_type(type), act, af, n);
    size_t min_offset = 0;
    switch (type) {
    case SLM_TYPE_Q4_1: case SLM_TYPE_Q5_1: case SLM_TYPE_Q4_K: case SLM_TYPE_Q5_K: min_offset = 2; break;
    default: break;
    }
    double bound = 0;
    if (min_offset == 0) {
        slm_dequantize_row(type, w, wf, n);
        for (int64_t i = 0; i < n; ++i) bound += fabs((double)wf[i] * af[i]);
    } else {
        uint8_t *part = malloc(bytes);
        for (int which = 0; which < 2; ++which) {
            memcpy(part, w, bytes);
            zero_field(part, type, n, which == 0 ? min_offset : 0);  // d part, then min part
            slm_dequantize_row(type, part, wf, n);
            for (int64_t i = 0; i < n; ++i) bound += fabs((double)wf[i] * af[i]);
        }
        free(part);
    }
    free(wf);
    free(af);
    return bound;
}

// Float terms whose summation order differs between the twins (see the tolerance above).
static double float_terms(int type, int64_t n) {
    const int64_t block = slm_type_block_elements(type);
    if (block == 1) return (double)n;
    if (block == 256) return 8.0 * (double)(n / 256) + 2.0;  // the generic twin's 8 lanes, plus mins
    return (double)(n / block) + 1.0;
}

// ---- Checks -------------------------------------------------------------------------------------
// A case is one (table, type) comparison, one type's matrix shapes, ... ; it fails if any of its
// checks fails. The counts printed at the end are cases, like a test runner's.
static int passed = 0, failed = 0;
static int case_failures = 0;

static void check(int ok, const char *what) {
    if (!ok) {
        ++case_failures;
        if (case_failures <= 5) printf("FAIL %s\n", what);
    }
}

static void begin_case(void) { case_failures = 0; }

// Ends a case; returns 1 if it passed.
static int end_case(void) {
    if (case_failures == 0) {
        ++passed;
        return 1;
    }
    ++failed;
    return 0;
}

typedef struct simd_table {
    const char *name;
    slm_vec_dot_fn (*lookup)(int type);
    int quant_only;  // the VNNI builds have the quantized types only (float rows stay on AVX2)
} simd_table;

// llama.cpp's batch orders (slm_vec_dot_kernel_for_batch): the kernels for token 0 of an
// 8-token batch, for the types that have one (NULL for the others).
static slm_vec_dot_fn avx2_batch_table(int type) { return slm_vec_dot_kernel_avx2_for_batch(type, 8, 0); }
static slm_vec_dot_fn avxvnni_batch_table(int type) { return slm_vec_dot_kernel_avxvnni_for_batch(type, 8, 0); }
static slm_vec_dot_fn avx512vnni_batch_table(int type) { return slm_vec_dot_kernel_avx512vnni_for_batch(type, 8, 0); }
static slm_vec_dot_fn vnni_emulated_batch_table(int type) {
    return slm_vec_dot_kernel_vnni_emulated_for_batch(type, 8, 0);
}

static const simd_table tables[] = {
    {"avx2", slm_vec_dot_kernel_avx2, 0},
    {"avxvnni", slm_vec_dot_kernel_avxvnni, 1},
    {"avx512vnni", slm_vec_dot_kernel_avx512vnni, 1},
    {"vnni_emulated", slm_vec_dot_kernel_vnni_emulated, 1},
    {"neon", slm_vec_dot_kernel_neon, 0},
    {"neon_dotprod", slm_vec_dot_kernel_neon_dotprod, 0},
    {"avx2_batch", avx2_batch_table, 1},
    {"avxvnni_batch", avxvnni_batch_table, 1},
    {"avx512vnni_batch", avx512vnni_batch_table, 1},
    {"vnni_emulated_batch", vnni_emulated_batch_table, 1},
};
#define TABLE_COUNT (int)(sizeof tables / sizeof tables[0])

static const int weight_types[] = {
    SLM_TYPE_F32, SLM_TYPE_F16, SLM_TYPE_BF16, SLM_TYPE_Q4_0, SLM_TYPE_Q4_1, SLM_TYPE_Q5_0,
    SLM_TYPE_Q5_1, SLM_TYPE_Q8_0, SLM_TYPE_Q4_K, SLM_TYPE_Q5_K, SLM_TYPE_Q6_K,
};
#define TYPE_COUNT (int)(sizeof weight_types / sizeof weight_types[0])

static void sizes_of(int type, const int64_t **sizes, int *count) {
    switch (slm_type_block_elements(type)) {
    case 1: *sizes = float_sizes; *count = (int)(sizeof float_sizes / sizeof *float_sizes); break;
    case 32: *sizes = block32_sizes; *count = (int)(sizeof block32_sizes / sizeof *block32_sizes); break;
    default: *sizes = block256_sizes; *count = (int)(sizeof block256_sizes / sizeof *block256_sizes); break;
    }
}

// A weight row and its activation row, generated together.
typedef struct test_row {
    uint8_t *w, *act;
    double bound;
} test_row;

static test_row make_row(int type, int64_t n, enum row_kind kind) {
    test_row r;
    const int act_type = slm_type_activation_type(type);
    r.w = malloc(slm_row_bytes(type, n));
    r.act = malloc(slm_row_bytes(act_type, n));
    random_weights(type, n, r.w, kind);
    float *x = malloc((size_t)n * sizeof *x);
    random_floats(x, n, kind);
    slm_quantize_row(act_type, x, r.act, n);
    free(x);
    r.bound = dot_magnitude(type, n, r.w, r.act);
    return r;
}

static void free_row(test_row r) {
    free(r.w);
    free(r.act);
}

static double tolerance(int type, int64_t n, double bound) {
    return TWIN_ROUNDING_SIGMAS * TWIN_EPSILON * sqrt(float_terms(type, n)) * bound;
}

// SIMD vs generic dot for every size of the type; returns the worst error / tolerance.
static double check_dots(const simd_table *t, int type, slm_vec_dot_fn simd, slm_vec_dot_fn generic) {
    const int64_t *sizes;
    int count;
    sizes_of(type, &sizes, &count);
    double worst = 0;
    for (int s = 0; s < count; ++s) {
        const int64_t n = sizes[s];
        for (int k = 0; k < ROWS_PER_SIZE + 2; ++k) {
            const enum row_kind kind = k == ROWS_PER_SIZE ? ROW_EXTREME : k == ROWS_PER_SIZE + 1 ? ROW_ZERO_ACTIVATIONS : ROW_RANDOM;
            test_row r = make_row(type, n, kind);
            const float got = simd(n, r.w, r.act), want = generic(n, r.w, r.act);
            const double tol = tolerance(type, n, r.bound);
            const double err = fabs((double)got - (double)want);
            char what[256];
            snprintf(what, sizeof what, "%s %s n=%lld row=%d: simd %.9g generic %.9g |diff| %.3g > tol %.3g",
                     t->name, slm_type_name(type), (long long)n, k, got, want, err, tol);
            check(isfinite(got) && isfinite(want) && err <= tol, what);
            if (kind == ROW_ZERO_ACTIVATIONS) check(got == 0.0f && want == 0.0f, what);
            if (tol > 0 && err / tol > worst) worst = err / tol;
            free_row(r);
        }
    }
    return worst;
}

// slm_matvec and slm_matmul through the dispatch, over row ranges that are not multiples of
// any tile: each output within tolerance of the generic dot of its (row, token), and nothing
// outside [row_begin, row_end) written.
static void check_matrix(int type, int64_t n) {
    begin_case();
    const int act_type = slm_type_activation_type(type);
    const size_t wbytes = slm_row_bytes(type, n), abytes = slm_row_bytes(act_type, n);
    const slm_vec_dot_fn generic = slm_vec_dot_kernel_generic(type);
    for (size_t ri = 0; ri < sizeof matrix_rows / sizeof *matrix_rows; ++ri) {
        const int64_t rows = matrix_rows[ri], total = MATRIX_ROW_BEGIN + rows + 2;
        uint8_t *w = malloc(wbytes * (size_t)total);
        for (int64_t r = 0; r < total; ++r) random_weights(type, n, w + r * wbytes, ROW_RANDOM);
        for (size_t ti = 0; ti < sizeof matrix_tokens / sizeof *matrix_tokens; ++ti) {
            const int64_t tokens = matrix_tokens[ti];
            uint8_t *act = malloc(abytes * (size_t)tokens);
            float *x = malloc((size_t)n * sizeof *x);
            for (int64_t t = 0; t < tokens; ++t) {
                random_floats(x, n, ROW_RANDOM);
                slm_quantize_row(act_type, x, act + t * abytes, n);
            }
            free(x);
            const int64_t stride = total + 1;  // output row stride wider than the weight rows
            float *out = malloc(sizeof(float) * (size_t)(stride * tokens));
            for (int64_t i = 0; i < stride * tokens; ++i) out[i] = NAN;
            if (tokens == 1) {
                slm_matvec(type, w, wbytes, n, act, out, MATRIX_ROW_BEGIN, MATRIX_ROW_BEGIN + rows);
            } else {
                slm_matmul(type, w, wbytes, n, act, abytes, tokens, out, stride, MATRIX_ROW_BEGIN, MATRIX_ROW_BEGIN + rows);
            }
            int ok = 1;
            char what[256] = "";
            for (int64_t t = 0; t < tokens && ok; ++t) {
                for (int64_t r = 0; r < stride && ok; ++r) {
                    const float got = out[t * stride + r];
                    if (r < MATRIX_ROW_BEGIN || r >= MATRIX_ROW_BEGIN + rows) {
                        if (!isnan(got)) {
                            ok = 0;
                            snprintf(what, sizeof what, "%s matrix rows=%lld tokens=%lld: wrote row %lld outside the range",
                                     slm_type_name(type), (long long)rows, (long long)tokens, (long long)r);
                        }
                        continue;
                    }
                    const uint8_t *wr = w + r * wbytes, *ar = act + t * abytes;
                    const float want = generic(n, wr, ar);
                    const double tol = tolerance(type, n, dot_magnitude(type, n, wr, ar));
                    // Tiles or not, each output has the bits of the dispatched dot of its pair.
                    const slm_vec_dot_fn pair_dot =
                        tokens == 1 ? slm_vec_dot_kernel(type) : slm_vec_dot_kernel_for_batch(type, tokens, t);
                    const float pair = pair_dot(n, wr, ar);
                    if (!(fabs((double)got - want) <= tol) || memcmp(&got, &pair, sizeof got) != 0) {
                        ok = 0;
                        snprintf(what, sizeof what,
                                 "%s matrix rows=%lld tokens=%lld row %lld token %lld: %.9g vs generic %.9g, pair dot %.9g",
                                 slm_type_name(type), (long long)rows, (long long)tokens, (long long)r, (long long)t, got,
                                 want, pair);
                    }
                }
            }
            check(ok, what);
            free(out);
            free(act);
        }
        free(w);
    }
    end_case();
}

// ---- The x86 builds of the quantized kernels: the AVX2 build's bits -----------------------------

typedef struct quant_build {
    const char *name, *needs;
    int id;
    slm_vec_dot_fn (*dot)(int type);
    slm_vec_dot_fn (*batch)(int type, int64_t n_tokens, int64_t token);
} quant_build;

static const quant_build vnni_builds[] = {
    {"vnni_emulated", "AVX2+FMA+F16C", SLM_X86_QUANT_VNNI_EMULATED, slm_vec_dot_kernel_vnni_emulated,
     slm_vec_dot_kernel_vnni_emulated_for_batch},
    {"avxvnni", "AVX-VNNI", SLM_X86_QUANT_AVXVNNI, slm_vec_dot_kernel_avxvnni, slm_vec_dot_kernel_avxvnni_for_batch},
    {"avx512vnni", "AVX512F+VL+BW+VNNI", SLM_X86_QUANT_AVX512VNNI, slm_vec_dot_kernel_avx512vnni,
     slm_vec_dot_kernel_avx512vnni_for_batch},
};

static const int quant_types[] = {SLM_TYPE_Q4_0, SLM_TYPE_Q4_1, SLM_TYPE_Q5_0, SLM_TYPE_Q5_1,
                                  SLM_TYPE_Q8_0, SLM_TYPE_Q4_K, SLM_TYPE_Q5_K, SLM_TYPE_Q6_K};
#define QUANT_TYPE_COUNT (int)(sizeof quant_types / sizeof quant_types[0])

static unsigned bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return (unsigned)u;
}

static int same_bits(float a, float b) {
    uint32_t ua, ub;
    memcpy(&ua, &a, 4);
    memcpy(&ub, &b, 4);
    return ua == ub;
}

// Overwrites every quant byte of an activation row with random bytes, -128 included (which no
// quantizer writes): the dots of every build must still agree, since none saturates (see
// x86/quant_body.h). Scales and sums are left as they are.
static void scramble_activation_quants(int act_type, uint8_t *act, int64_t n) {
    const int64_t block = slm_type_block_elements(act_type), bytes = slm_type_block_bytes(act_type);
    const size_t qs_offset = act_type == SLM_TYPE_Q8_K ? offsetof(slm_block_q8_K, qs)
                             : act_type == SLM_TYPE_Q8_1 ? offsetof(slm_block_q8_1, qs)
                                                         : offsetof(slm_block_q8_0, qs);
    for (int64_t b = 0; b < n / block; ++b)
        for (int64_t k = 0; k < block; ++k) act[b * bytes + (int64_t)qs_offset + k] = (uint8_t)rng_next();
}

// An activation row of constant c (quantizes to +-127 in every block, or 0).
static void constant_activations(int act_type, uint8_t *act, int64_t n, float c) {
    float *x = malloc((size_t)n * sizeof *x);
    for (int64_t i = 0; i < n; ++i) x[i] = c;
    slm_quantize_row(act_type, x, act, n);
    free(x);
}

// Weight rows of all-0x00 or all-0xFF quant bytes (nibbles 0 / 15, 5- and 6-bit values 0 / 31 /
// 63, Q8_0 +-127 through quantization), with valid scales.
static void extreme_weights(int type, int64_t n, uint8_t *row, int ones) {
    if (type == SLM_TYPE_Q8_0) {
        float *x = malloc((size_t)n * sizeof *x);
        for (int64_t i = 0; i < n; ++i) x[i] = ones ? 1.0f : -1.0f;
        slm_quantize_row(type, x, row, n);
        free(x);
        return;
    }
    random_weights(type, n, row, ROW_EXTREME);  // all 0xFF with valid scales
    if (ones) return;
    const int64_t block_bytes = slm_type_block_bytes(type), nb = n / slm_type_block_elements(type);
    for (int64_t b = 0; b < nb; ++b) {
        // Keep the scale fields (the F16 d / m / dmin and the K-quant scales), zero the quants.
        uint8_t *p = row + b * block_bytes;
        switch (type) {
        case SLM_TYPE_Q4_0: memset(p + 2, 0, 16); break;
        case SLM_TYPE_Q4_1: memset(p + 4, 0, 16); break;
        case SLM_TYPE_Q5_0: memset(p + 2, 0, 20); break;
        case SLM_TYPE_Q5_1: memset(p + 4, 0, 20); break;
        case SLM_TYPE_Q4_K: memset(p + offsetof(slm_block_q4_K, qs), 0, sizeof ((slm_block_q4_K *)0)->qs); break;
        case SLM_TYPE_Q5_K:
            memset(p + offsetof(slm_block_q5_K, qh), 0, sizeof ((slm_block_q5_K *)0)->qh + sizeof ((slm_block_q5_K *)0)->qs);
            break;
        case SLM_TYPE_Q6_K: memset(p, 0, offsetof(slm_block_q6_K, scales)); break;
        default: break;
        }
    }
}

// One build's dots (plain and batch order) against the AVX2 build's, bit for bit.
static void check_build_dots(const quant_build *b, int type) {
    begin_case();
    const int act_type = slm_type_activation_type(type);
    const slm_vec_dot_fn dot = b->dot(type), avx2 = slm_vec_dot_kernel_avx2(type);
    const slm_vec_dot_fn batch = b->batch(type, 8, 0), avx2_batch = slm_vec_dot_kernel_avx2_for_batch(type, 8, 0);
    char what[200];
    snprintf(what, sizeof what, "%s has the %s kernels of avx2", b->name, slm_type_name(type));
    check(dot && avx2 && dot != avx2 && (batch == NULL) == (avx2_batch == NULL), what);
    const int64_t *sizes;
    int count;
    sizes_of(type, &sizes, &count);
    for (int s = 0; s < count && dot && avx2; ++s) {
        const int64_t n = sizes[s];
        uint8_t *w = malloc(slm_row_bytes(type, n)), *act = malloc(slm_row_bytes(act_type, n));
        // Rows: random; extreme weights (all max, all min) x activations +-127; random activation bytes.
        for (int k = 0; k < 8; ++k) {
            if (k < 2) {
                random_weights(type, n, w, ROW_RANDOM);
                float *x = malloc((size_t)n * sizeof *x);
                random_floats(x, n, ROW_RANDOM);
                slm_quantize_row(act_type, x, act, n);
                free(x);
            } else if (k < 6) {
                extreme_weights(type, n, w, k & 1);
                constant_activations(act_type, act, n, k < 4 ? 1.0f : -1.0f);
            } else {
                random_weights(type, n, w, k == 6 ? ROW_RANDOM : ROW_EXTREME);
                constant_activations(act_type, act, n, 1.0f);
                scramble_activation_quants(act_type, act, n);
            }
            const float got = dot(n, w, act), want = avx2(n, w, act);
            snprintf(what, sizeof what, "%s %s n=%lld row=%d: %.9g, avx2 %.9g", b->name, slm_type_name(type), (long long)n,
                     k, got, want);
            check(same_bits(got, want), what);
            if (batch && avx2_batch) {
                const float bgot = batch(n, w, act), bwant = avx2_batch(n, w, act);
                snprintf(what, sizeof what, "%s batch order %s n=%lld row=%d: %.9g, avx2 %.9g", b->name,
                         slm_type_name(type), (long long)n, k, bgot, bwant);
                check(same_bits(bgot, bwant), what);
            }
        }
        free(w);
        free(act);
    }
    end_case();
}

// slm_matvec and slm_matmul_in_batch through one build's tiles (the dispatch forced to it) against
// the same calls through the AVX2 build, bit for bit, over ragged row ranges, batches the K-quant
// orders split (70 tokens in chunks), and rows at the extremes (legal activations, +-127).
static void check_build_matrices(const quant_build *b, int type) {
    begin_case();
    const int act_type = slm_type_activation_type(type);
    const int64_t n = slm_type_block_elements(type) == 32 ? 576 : 512;
    const size_t wbytes = slm_row_bytes(type, n), abytes = slm_row_bytes(act_type, n);
    enum { ROWS = 21, TOKENS = 70, BEGIN = 1 };
    uint8_t *w = malloc(wbytes * ROWS), *act = malloc(abytes * TOKENS);
    float *x = malloc((size_t)n * sizeof *x);
    for (int64_t r = 0; r < ROWS; ++r) {
        if (r < 4) extreme_weights(type, n, w + r * wbytes, r & 1);
        else random_weights(type, n, w + r * wbytes, ROW_RANDOM);
    }
    for (int64_t t = 0; t < TOKENS; ++t) {
        if (t < 4) {
            constant_activations(act_type, act + t * abytes, n, t & 1 ? -1.0f : 1.0f);
        } else {
            random_floats(x, n, ROW_RANDOM);
            slm_quantize_row(act_type, x, act + t * abytes, n);
        }
    }
    free(x);
    float *out[2];
    for (int k = 0; k < 2; ++k) {
        out[k] = malloc(sizeof(float) * ROWS * (TOKENS + 1));
        for (int64_t i = 0; i < ROWS * (TOKENS + 1); ++i) out[k][i] = NAN;
        check(slm_set_x86_quant_build(k == 0 ? SLM_X86_QUANT_AVX2 : b->id), "forcing a build");
        // Decode: token 0 (activations all +127) into the extra last row of out.
        slm_matvec(type, w, wbytes, n, act, out[k] + ROWS * TOKENS, BEGIN, ROWS);
        // Prompt: the whole batch, then in chunks (64, 5, 1) as a long prompt is fed.
        for (int chunk = 0; chunk < 3; ++chunk) {
            const int64_t first = chunk == 0 ? 0 : chunk == 1 ? 64 : 69, count = chunk == 0 ? 64 : chunk == 1 ? 5 : 1;
            slm_matmul_in_batch(type, w, wbytes, n, act + first * abytes, abytes, count, TOKENS, first,
                                out[k] + first * ROWS, ROWS, BEGIN, ROWS);
        }
    }
    slm_set_x86_quant_build(SLM_X86_QUANT_BEST);
    int mismatches = 0;
    char what[200] = "";
    for (int64_t i = 0; i < ROWS * (TOKENS + 1); ++i) {
        if (i % ROWS < BEGIN) continue;
        if (!same_bits(out[0][i], out[1][i]) && mismatches++ == 0) {
            snprintf(what, sizeof what, "%s %s matrices: token %lld row %lld: %.9g, avx2 %.9g", b->name,
                     slm_type_name(type), (long long)(i / ROWS), (long long)(i % ROWS), out[1][i], out[0][i]);
        }
    }
    check(mismatches == 0, what);
    free(out[0]);
    free(out[1]);
    free(w);
    free(act);
    end_case();
}

// slm_matmul of rows [begin, rows) by `tokens` activation rows against the batch-order dot of every
// pair, bit for bit (nothing written to the rows before begin); `label` names the case.
static void check_matmul_against_dots(int type, int64_t n, const uint8_t *w, size_t wbytes, int64_t rows,
                                      int64_t begin, const uint8_t *act, size_t abytes, int64_t tokens,
                                      const char *label) {
    float *out = malloc(sizeof(float) * (size_t)(rows * tokens));
    for (int64_t i = 0; i < rows * tokens; ++i) out[i] = NAN;
    slm_matmul(type, w, wbytes, n, act, abytes, tokens, out, rows, begin, rows);
    int mismatches = 0;
    char what[200] = "";
    for (int64_t t = 0; t < tokens; ++t) {
        const slm_vec_dot_fn dot = slm_vec_dot_kernel_for_batch(type, tokens, t);
        for (int64_t r = 0; r < rows; ++r) {
            const float got = out[t * rows + r];
            const float want = r < begin ? NAN : dot(n, w + r * wbytes, act + t * abytes);
            if ((r < begin ? !isnan(got) : !same_bits(got, want)) && mismatches++ == 0)
                snprintf(what, sizeof what, "%s matmul %s: token %lld row %lld: %.9g, dot %.9g", slm_type_name(type),
                         label, (long long)t, (long long)r, got, want);
        }
    }
    check(mismatches == 0, what);
    free(out);
}

// slm_matmul (prompt tiles and panels, whichever the dispatch picks) against the batch-order dot of
// every pair, bit for bit, at the edges of the panels' integer bounds: all-maximal and
// all-minimal quants (Q6_K also with every sub-block scale at -128) against activations of +-127
// and activation bytes scrambled over the whole int8 range (-128 included), over 17 rows (two
// 8-row panels, one row left) and 12 tokens (a batch order's full groups and the tail).
static void check_matmul_extremes(int type) {
    begin_case();
    const int act_type = slm_type_activation_type(type);
    const int64_t n = slm_type_block_elements(type) == 32 ? 576 : 512;
    const size_t wbytes = slm_row_bytes(type, n), abytes = slm_row_bytes(act_type, n);
    enum { ROWS = 17, TOKENS = 12 };
    uint8_t *w = malloc(wbytes * ROWS), *act = malloc(abytes * TOKENS);
    for (int64_t r = 0; r < ROWS; ++r) {
        uint8_t *row = w + r * wbytes;
        if (r % 3 == 2) {
            random_weights(type, n, row, ROW_RANDOM);
        } else {
            extreme_weights(type, n, row, r % 3 == 0);
            if (type == SLM_TYPE_Q6_K && r >= 8)
                for (int64_t b = 0; b < n / SLM_QK_K; ++b)
                    memset(row + b * sizeof(slm_block_q6_K) + offsetof(slm_block_q6_K, scales), 0x80, 16);
        }
    }
    float *x = malloc((size_t)n * sizeof *x);
    for (int64_t t = 0; t < TOKENS; ++t) {
        if (t % 3 < 2) {
            constant_activations(act_type, act + t * abytes, n, t % 3 ? -1.0f : 1.0f);
        } else {
            random_floats(x, n, ROW_RANDOM);
            slm_quantize_row(act_type, x, act + t * abytes, n);
            scramble_activation_quants(act_type, act + t * abytes, n);
            // Q4_0's AVX2 panels and tiles are exact for legal Q8_0 activations only (|a| <= 127,
            // x86/quant_body.h), which is all the quantizer writes.
            if (type == SLM_TYPE_Q4_0)
                for (int64_t b = 0; b < n / SLM_QK8_0; ++b)
                    for (int k = 0; k < SLM_QK8_0; ++k) {
                        int8_t *q = ((slm_block_q8_0 *)(act + t * abytes))[b].qs + k;
                        if (*q == -128) *q = -127;
                    }
        }
    }
    free(x);
    check_matmul_against_dots(type, n, w, wbytes, ROWS, 0, act, abytes, TOKENS, "at the integer bounds");
    free(w);
    free(act);
    end_case();
}

// slm_matmul against the batch-order dot of every pair, bit for bit, in the shapes that cross the
// prompt panels' inner chunks: 70 tokens (a 64-token pass, then 6: a full and a partial quad),
// 65 blocks of 32 (two 32-block chunks and a one-block tail; K-quants 9 super-blocks), 10 rows
// from row 1 (two 4-row panels, one 8-row panel, and rows left for the tiles). Whatever the
// dispatch picks on this CPU (x86 panels, aarch64 SDOT or SMMLA panels) is what is checked.
static void check_matmul_panel_shapes(int type) {
    begin_case();
    const int act_type = slm_type_activation_type(type);
    const int64_t n = slm_type_block_elements(type) == 32 ? 65 * 32 : 9 * 256;
    const size_t wbytes = slm_row_bytes(type, n), abytes = slm_row_bytes(act_type, n);
    enum { ROWS = 11, BEGIN = 1, TOKENS = 70 };
    uint8_t *w = malloc(wbytes * ROWS), *act = malloc(abytes * TOKENS);
    for (int64_t r = 0; r < ROWS; ++r) random_weights(type, n, w + r * wbytes, ROW_RANDOM);
    float *x = malloc((size_t)n * sizeof *x);
    for (int64_t t = 0; t < TOKENS; ++t) {
        random_floats(x, n, ROW_RANDOM);
        slm_quantize_row(act_type, x, act + t * abytes, n);
    }
    free(x);
    check_matmul_against_dots(type, n, w, wbytes, ROWS, BEGIN, act, abytes, TOKENS, "across panel chunks");
    free(w);
    free(act);
    end_case();
}

static void check_vnni_builds(void) {
    for (size_t k = 0; k < sizeof vnni_builds / sizeof *vnni_builds; ++k) {
        const quant_build *b = &vnni_builds[k];
        if (!slm_vec_dot_kernel_avx2(SLM_TYPE_Q8_0)) return;  // not x86 with AVX2: nothing to compare with
        if (!b->dot(SLM_TYPE_Q8_0)) {
            printf("%-13s skipped: this CPU lacks %s\n", b->name, b->needs);
            continue;
        }
        const int before = failed;
        for (int i = 0; i < QUANT_TYPE_COUNT; ++i) {
            check_build_dots(b, quant_types[i]);
            check_build_matrices(b, quant_types[i]);
        }
        printf("%-13s quantized dots, matvec and matmul %s the avx2 build's bits\n", b->name,
               failed == before ? "have" : "DO NOT have");
    }
}

// ---- aarch64 NEON dots: the bits of their NEON-order twins ------------------------------------
// slm_vec_dot_kernel_neon_order_generic repeats the NEON dots' float order operation for
// operation (generic/dot_neon_order.c), so each NEON table (plain and SDOT) must return its bits
// exactly, for every type, on random rows, maximal rows, zero activations and, for the quantized
// types, all-minimal and all-maximal quants against activations of +-127 and activation bytes
// scrambled over the whole int8 range (-128 included). The twin itself is checked against the
// generic twin within the tolerance on every architecture (main).
#define NEON_ORDER_ROWS 7

static void check_neon_order_bits(const char *name, slm_vec_dot_fn (*lookup)(int type), int type) {
    const slm_vec_dot_fn neon = lookup(type), twin = slm_vec_dot_kernel_neon_order_generic(type);
    if (!neon) return;
    begin_case();
    char what[256];
    snprintf(what, sizeof what, "%s %s has a neon-order twin", name, slm_type_name(type));
    check(twin != NULL, what);
    const int quantized = slm_type_block_elements(type) > 1, act_type = slm_type_activation_type(type);
    const int64_t *sizes;
    int count, rows = 0;
    sizes_of(type, &sizes, &count);
    for (int s = 0; s < count && twin; ++s) {
        const int64_t n = sizes[s];
        for (int k = 0; k < (quantized ? NEON_ORDER_ROWS : 4); ++k) {
            test_row r;
            if (k < 4) {
                r = make_row(type, n, k < 2 ? ROW_RANDOM : k == 2 ? ROW_EXTREME : ROW_ZERO_ACTIVATIONS);
            } else {
                r.w = malloc(slm_row_bytes(type, n));
                r.act = malloc(slm_row_bytes(act_type, n));
                if (k < 6) {
                    extreme_weights(type, n, r.w, k & 1);
                    constant_activations(act_type, r.act, n, k == 4 ? 1.0f : -1.0f);
                } else {
                    random_weights(type, n, r.w, ROW_RANDOM);
                    constant_activations(act_type, r.act, n, 1.0f);
                    scramble_activation_quants(act_type, r.act, n);
                }
            }
            const float got = neon(n, r.w, r.act), want = twin(n, r.w, r.act);
            snprintf(what, sizeof what, "%s %s n=%lld row=%d: neon %.9g (0x%08x), neon-order twin %.9g (0x%08x)", name,
                     slm_type_name(type), (long long)n, k, got, bits_of(got), want, bits_of(want));
            check(same_bits(got, want), what);
            ++rows;
            free_row(r);
        }
    }
    const int ok = end_case();
    printf("%-12s %-5s %s  bit-identical to the neon-order twin on %d rows\n", name, slm_type_name(type),
           ok ? "ok  " : "FAIL", ok ? rows : 0);
}

// The two NEON copies give the same bits (same lanes, same float operations).
static void check_neon_copies(int type) {
    const slm_vec_dot_fn plain = slm_vec_dot_kernel_neon(type), sdot = slm_vec_dot_kernel_neon_dotprod(type);
    if (!plain || !sdot) return;
    begin_case();
    const int64_t *sizes;
    int count;
    sizes_of(type, &sizes, &count);
    for (int s = 0; s < count; ++s) {
        test_row r = make_row(type, sizes[s], ROW_RANDOM);
        const float a = plain(sizes[s], r.w, r.act), b = sdot(sizes[s], r.w, r.act);
        uint32_t ua, ub;
        memcpy(&ua, &a, 4);
        memcpy(&ub, &b, 4);
        const int64_t ulps = (int64_t)ua > (int64_t)ub ? (int64_t)ua - ub : (int64_t)ub - ua;
        char what[160];
        snprintf(what, sizeof what, "neon vs neon_dotprod %s n=%lld: %.9g vs %.9g", slm_type_name(type),
                 (long long)sizes[s], a, b);
        check(ulps <= NEON_COPIES_MAX_ULPS, what);
        free_row(r);
    }
    end_case();
}

// slm_vec_dot_kernel picks the first table that has the type (AVX512-VNNI, AVX-VNNI, AVX2, then
// SDOT, then plain NEON), the generic twin when forced or when no table has it.
static void check_dispatch(void) {
    begin_case();
    for (int i = 0; i < TYPE_COUNT; ++i) {
        const int type = weight_types[i];
        slm_vec_dot_fn want = NULL;
        const slm_vec_dot_fn order[5] = {slm_vec_dot_kernel_avx512vnni(type), slm_vec_dot_kernel_avxvnni(type),
                                         slm_vec_dot_kernel_avx2(type), slm_vec_dot_kernel_neon_dotprod(type),
                                         slm_vec_dot_kernel_neon(type)};
        for (int k = 0; k < 5 && !want; ++k) want = order[k];
        if (!want) want = slm_vec_dot_kernel_generic(type);
        char what[96];
        snprintf(what, sizeof what, "dispatch %s", slm_type_name(type));
        check(slm_vec_dot_kernel(type) == want, what);
        // The batch routing: one token and the leftover tokens of a batch use the plain kernel;
        // the forced-generic switch covers it too.
        check(slm_vec_dot_kernel_for_batch(type, 1, 0) == want, what);
        check(slm_vec_dot_kernel_for_batch(type, 7, 6) == want, what);
        slm_vec_dot_fn batch = slm_vec_dot_kernel_avx512vnni_for_batch(type, 8, 0);
        if (!batch && !slm_vec_dot_kernel_avx512vnni(SLM_TYPE_Q8_0)) batch = slm_vec_dot_kernel_avxvnni_for_batch(type, 8, 0);
        if (!batch && !slm_vec_dot_kernel_avx512vnni(SLM_TYPE_Q8_0) && !slm_vec_dot_kernel_avxvnni(SLM_TYPE_Q8_0))
            batch = slm_vec_dot_kernel_avx2_for_batch(type, 8, 0);
        check(slm_vec_dot_kernel_for_batch(type, 8, 0) == (batch ? batch : want), what);
        slm_set_force_generic(1);
        check(slm_vec_dot_kernel(type) == slm_vec_dot_kernel_generic(type), what);
        check(slm_vec_dot_kernel_for_batch(type, 8, 0) == slm_vec_dot_kernel_generic(type), what);
        slm_set_force_generic(0);
    }
    end_case();
}


// ---- aarch64 tiles ------------------------------------------------------------------------------
// Each tile table against its NEON dot, pair by pair, bit for bit (the tiles' contract; the dots
// themselves are checked against the generic twins above, so the tiles are within the same
// tolerance of them, which is checked too). Shapes: every row and token of a tile, rows of
// random, maximal (all quant bits set, same-sign activations) and zero-activation kinds mixed in
// one tile, and row strides and output strides wider than the data.
typedef struct tile_table {
    const char *name;
    slm_matmul_tile (*lookup)(int type);
    slm_vec_dot_fn (*dot)(int type);  // the dot whose bits the tiles repeat
} tile_table;

static const tile_table tile_tables[] = {
    {"neon decode", slm_matvec_tile_kernel_neon, slm_vec_dot_kernel_neon},
    {"neon prompt", slm_matmul_tile_kernel_neon, slm_vec_dot_kernel_neon},
    {"sdot decode", slm_matvec_tile_kernel_neon_dotprod, slm_vec_dot_kernel_neon_dotprod},
    {"sdot prompt", slm_matmul_tile_kernel_neon_dotprod, slm_vec_dot_kernel_neon_dotprod},
    {"smmla prompt", slm_matmul_tile_kernel_neon_i8mm, slm_vec_dot_kernel_neon_dotprod},
};
#define TILE_TABLE_COUNT (int)(sizeof tile_tables / sizeof tile_tables[0])

// The activation scales slm_matmul hands its tiles (slm_tile_activation_scales).
static float *tile_act_d(int type, const uint8_t *act, size_t abytes, int64_t n, int64_t tokens) {
    float *d = malloc(sizeof(float) * slm_tile_activation_scale_count(type, n, tokens));
    slm_tile_activation_scales(type, act, abytes, n, tokens, 0, tokens, d);
    return d;
}

static const int64_t tile_block32_sizes[] = {32, 96, 576, 4096};
static const int64_t tile_block256_sizes[] = {256, 768, 4864};
// Extra bytes between weight rows, activation rows and output rows: strides are not lengths.
#define TILE_ROW_PAD 5
#define TILE_OUT_PAD 3

// One tile of `table` for `type` on every size and mix of row kinds: one case.
static void check_tile(const tile_table *table, int type, slm_matmul_tile tile) {
    begin_case();
    const slm_vec_dot_fn dot = table->dot(type), generic = slm_vec_dot_kernel_generic(type);
    const slm_vec_dot_fn neon_order = slm_vec_dot_kernel_neon_order_generic(type);
    const int act_type = slm_type_activation_type(type);
    const int big = slm_type_block_elements(type) == 256;
    const int64_t *sizes = big ? tile_block256_sizes : tile_block32_sizes;
    const int count = big ? (int)(sizeof tile_block256_sizes / sizeof *tile_block256_sizes)
                          : (int)(sizeof tile_block32_sizes / sizeof *tile_block32_sizes);
    int checked = 0;
    for (int s = 0; s < count; ++s) {
        const int64_t n = sizes[s];
        const size_t wbytes = slm_row_bytes(type, n), abytes = slm_row_bytes(act_type, n);
        const size_t wstride = wbytes + TILE_ROW_PAD, astride = abytes + TILE_ROW_PAD;
        for (int mix = 0; mix < 3; ++mix) {
            // mix 0: all random; 1: all maximal; 2: row and token kinds cycling through all three.
            uint8_t *w = calloc((size_t)tile.rows, wstride);
            uint8_t *act = calloc((size_t)tile.tokens, astride);
            float *x = malloc((size_t)n * sizeof *x);
            for (int r = 0; r < tile.rows; ++r) {
                const enum row_kind kind = mix == 0 ? ROW_RANDOM : mix == 1 ? ROW_EXTREME : (r % 2 ? ROW_EXTREME : ROW_RANDOM);
                random_weights(type, n, w + r * wstride, kind);
            }
            for (int t = 0; t < tile.tokens; ++t) {
                const enum row_kind kind = mix == 0 ? ROW_RANDOM : mix == 1 ? ROW_EXTREME : (enum row_kind)(t % 3);
                random_floats(x, n, kind);
                slm_quantize_row(act_type, x, act + t * astride, n);
            }
            free(x);
            float *act_d = tile_act_d(type, act, astride, n, tile.tokens);
            const int64_t out_stride = tile.rows + TILE_OUT_PAD;
            float *out = malloc(sizeof(float) * (size_t)(out_stride * tile.tokens));
            for (int64_t i = 0; i < out_stride * tile.tokens; ++i) out[i] = NAN;
            tile.fn(n, w, wstride, act, astride, act_d, tile.tokens, out, out_stride);
            for (int t = 0; t < tile.tokens; ++t) {
                for (int64_t r = 0; r < out_stride; ++r) {
                    const float got = out[t * out_stride + r];
                    char what[256];
                    if (r >= tile.rows) {
                        snprintf(what, sizeof what, "%s %s n=%lld: wrote past its rows (row %lld token %d)", table->name,
                                 slm_type_name(type), (long long)n, (long long)r, t);
                        check(isnan(got), what);
                        continue;
                    }
                    const uint8_t *wr = w + r * wstride, *ar = act + t * astride;
                    const float want = dot(n, wr, ar), twin = generic(n, wr, ar), ordered = neon_order(n, wr, ar);
                    const double tol = tolerance(type, n, dot_magnitude(type, n, wr, ar));
                    snprintf(what, sizeof what,
                             "%s %s n=%lld mix=%d row %lld token %d: tile %.9g dot %.9g neon-order twin %.9g generic %.9g",
                             table->name, slm_type_name(type), (long long)n, mix, (long long)r, t, got, want, ordered,
                             twin);
                    check(same_bits(got, want) && same_bits(got, ordered) && fabs((double)got - twin) <= tol, what);
                    ++checked;
                }
            }
            free(out);
            free(act_d);
            free(act);
            free(w);
        }
    }
    const int ok = end_case();
    printf("%-12s %-5s %s  %dx%d tile, %d pairs bit-identical to the dot and its neon-order twin\n", table->name,
           slm_type_name(type), ok ? "ok  " : "FAIL", tile.rows, tile.tokens, ok ? checked : 0);
}

static void check_tiles(void) {
    for (int k = 0; k < TILE_TABLE_COUNT; ++k) {
        for (int i = 0; i < TYPE_COUNT; ++i) {
            const slm_matmul_tile tile = tile_tables[k].lookup(weight_types[i]);
            if (tile.fn && tile_tables[k].dot(weight_types[i])) check_tile(&tile_tables[k], weight_types[i], tile);
        }
    }
}

// Each aarch64 panel table called directly (whatever the dispatch prefers), against the pair dots
// bit for bit: one panel's rows by 70 tokens (a 64-token pass and 6 more) and by 5 (an odd count:
// SMMLA's last token pairs with itself), over 65 blocks of 32 (9 K-quant super-blocks), random
// rows and activations, with the activation scales slm_matmul hands the panels.
static void check_panel_tables(void) {
    static const struct {
        const char *name;
        slm_matmul_panel (*lookup)(int type);
    } tables[] = {{"sdot panel", slm_matmul_panel_kernel_neon_dotprod},
                  {"smmla panel", slm_matmul_panel_kernel_neon_i8mm}};
    for (size_t k = 0; k < sizeof tables / sizeof *tables; ++k) {
        for (int i = 0; i < QUANT_TYPE_COUNT; ++i) {
            const int type = quant_types[i];
            const slm_matmul_panel panel = tables[k].lookup(type);
            if (!panel.fn) continue;
            begin_case();
            const int act_type = slm_type_activation_type(type);
            const int64_t n = slm_type_block_elements(type) == 32 ? 65 * 32 : 9 * 256;
            const size_t wbytes = slm_row_bytes(type, n), abytes = slm_row_bytes(act_type, n);
            enum { TOKENS = 70 };
            uint8_t *w = malloc(wbytes * (size_t)panel.rows), *act = malloc(abytes * TOKENS);
            for (int r = 0; r < panel.rows; ++r) random_weights(type, n, w + r * wbytes, ROW_RANDOM);
            float *x = malloc((size_t)n * sizeof *x);
            for (int64_t t = 0; t < TOKENS; ++t) {
                random_floats(x, n, ROW_RANDOM);
                slm_quantize_row(act_type, x, act + t * abytes, n);
            }
            free(x);
            char what[200] = "";
            int mismatches = 0;
            for (int pass = 0; pass < 2; ++pass) {
                const int64_t tokens = pass == 0 ? TOKENS : 5;
                float *d = tile_act_d(type, act, abytes, n, tokens);
                float *out = malloc(sizeof(float) * (size_t)(tokens * panel.rows));
                panel.fn(n, w, wbytes, act, abytes, tokens, d, tokens, out, panel.rows);
                for (int64_t t = 0; t < tokens; ++t) {
                    for (int r = 0; r < panel.rows; ++r) {
                        const float want = slm_vec_dot(type, n, w + r * wbytes, act + t * abytes);
                        if (!same_bits(out[t * panel.rows + r], want) && mismatches++ == 0)
                            snprintf(what, sizeof what, "%s %s, %lld tokens: token %lld row %d: %.9g, dot %.9g",
                                     tables[k].name, slm_type_name(type), (long long)tokens, (long long)t, r,
                                     out[t * panel.rows + r], want);
                    }
                }
                free(out);
                free(d);
            }
            check(mismatches == 0, what);
            const int ok = end_case();
            printf("%-12s %-5s %s  %d rows x 70 and 5 tokens bit-identical to the dot\n", tables[k].name,
                   slm_type_name(type), ok ? "ok  " : "FAIL", panel.rows);
            free(w);
            free(act);
        }
    }
}

// slm_matmul_tile_kernel / slm_matvec_tile_kernel pick SMMLA, then SDOT, then plain NEON on
// aarch64 (x86's tables are checked by the Swift tests), and nothing when the twins are forced.
static void check_tile_dispatch(void) {
    begin_case();
    for (int i = 0; i < TYPE_COUNT; ++i) {
        const int type = weight_types[i];
        char what[96];
        snprintf(what, sizeof what, "tile dispatch %s", slm_type_name(type));
        slm_matmul_tile prompt = slm_matmul_tile_kernel_neon_i8mm(type);
        if (!prompt.fn) prompt = slm_matmul_tile_kernel_neon_dotprod(type);
        if (!prompt.fn) prompt = slm_matmul_tile_kernel_neon(type);
        slm_matmul_tile decode = slm_matvec_tile_kernel_neon_dotprod(type);
        if (!decode.fn) decode = slm_matvec_tile_kernel_neon(type);
        if (prompt.fn) {
            const slm_matmul_tile got = slm_matmul_tile_kernel(type);
            check(got.fn == prompt.fn && got.rows == prompt.rows && got.tokens == prompt.tokens, what);
        }
        if (decode.fn) {
            const slm_matmul_tile got = slm_matvec_tile_kernel(type);
            check(got.fn == decode.fn && got.rows == decode.rows && got.tokens == decode.tokens, what);
        }
        // The SMMLA panels, else the SDOT panels, take every token of a prompt chunk.
        slm_matmul_panel panel = slm_matmul_panel_kernel_neon_i8mm(type);
        if (!panel.fn) panel = slm_matmul_panel_kernel_neon_dotprod(type);
        if (panel.fn) {
            int64_t tokens_end = -1;
            const slm_matmul_panel got = slm_matmul_panel_kernel(type, 70, 64, 6, &tokens_end);
            check(got.fn == panel.fn && got.rows == panel.rows && tokens_end == 6, what);
        }
        slm_set_force_generic(1);
        check(slm_matmul_tile_kernel(type).fn == NULL && slm_matvec_tile_kernel(type).fn == NULL, what);
        int64_t forced_end = -1;
        check(slm_matmul_panel_kernel(type, 8, 0, 8, &forced_end).fn == NULL && forced_end == 0, what);
        slm_set_force_generic(0);
    }
    end_case();
}

// F32-mode prompt attention (x86: AVX2; aarch64: NEON): the group kernel and the one-head kernel
// against the generic one-head twin run head by head, bit for bit. Head sizes on and off the
// vector paths (multiples of 64, 32, 8, 4, and none), partial and whole tiles, windows,
// soft-capping, NaN in the last tile's spare lanes, and keys wide enough that the exp
// approximation takes its split path (|n| > 126).
static void check_attention(void) {
    static const int64_t head_dims[] = {6, 4, 36, 40, 64, 80, 256};
    static const int64_t lengths[] = {1, 63, 64, 65, 300};
    static const int64_t groups[] = {1, 2, 3, 7};
    for (size_t hi = 0; hi < sizeof head_dims / sizeof *head_dims; ++hi) {
        const int64_t hd = head_dims[hi];
        for (size_t li = 0; li < sizeof lengths / sizeof *lengths; ++li) {
            const int64_t n = lengths[li], padded = (n + 63) / 64 * 64;
            for (int wide = 0; wide < 2; ++wide) {
                begin_case();
                uint16_t *keys = malloc(sizeof(uint16_t) * n * hd);
                float *keys_t = malloc(sizeof(float) * padded * hd), *values = malloc(sizeof(float) * n * hd);
                float *queries = malloc(sizeof(float) * 7 * hd);
                float *got = malloc(sizeof(float) * 7 * hd), *one = malloc(sizeof(float) * 7 * hd);
                float *want = malloc(sizeof(float) * 7 * hd);
                void *scratch = malloc(slm_attention_group_scratch_bytes(hd, 7));
                for (int64_t i = 0; i < n * hd; ++i) {
                    keys[i] = slm_fp32_to_fp16((float)uniform(-2, 2) * (wide ? 40.0f : 1.0f));
                    values[i] = slm_fp16_to_fp32(slm_fp32_to_fp16((float)uniform(-2, 2)));
                }
                for (int64_t i = 0; i < 7 * hd; ++i) queries[i] = (float)uniform(-1, 1);
                for (int64_t i = 0; i < padded * hd; ++i) keys_t[i] = NAN;
                slm_attention_transpose_keys(keys, hd, 0, n, hd, keys_t);
                const int64_t begins[] = {0, n / 3, n - 1};
                for (size_t g = 0; g < sizeof groups / sizeof *groups; ++g) {
                    for (int b = 0; b < 3; ++b) {
                        for (int capped = 0; capped < 2; ++capped) {
                            const float cap = capped ? 2.0f : 0.0f;
                            const float scale = 1.0f / sqrtf((float)hd) / (capped ? cap : 1.0f);
                            const int64_t heads = groups[g];
                            for (int64_t h = 0; h < heads; ++h) {
                                slm_attention_head_f32_window_generic(queries + h * hd, keys_t, values, hd, begins[b], n,
                                                                      hd, scale, cap, want + h * hd, scratch);
                                slm_attention_head_f32_window(queries + h * hd, keys_t, values, hd, begins[b], n, hd,
                                                              scale, cap, one + h * hd, scratch);
                            }
                            slm_attention_head_group_f32_window(queries, heads, keys_t, values, hd, begins[b], n, hd,
                                                                scale, cap, got, scratch);
                            char what[160];
                            snprintf(what, sizeof what, "attention head_dim=%lld n=%lld heads=%lld begin=%lld softcap=%g%s",
                                     (long long)hd, (long long)n, (long long)heads, (long long)begins[b], cap,
                                     wide ? " wide keys" : "");
                            int finite = 1;
                            for (int64_t i = 0; i < heads * hd; ++i) finite &= isfinite(want[i]) != 0;
                            check(finite, what);
                            check(memcmp(got, want, sizeof(float) * heads * hd) == 0, what);
                            check(memcmp(one, want, sizeof(float) * heads * hd) == 0, what);
                        }
                    }
                }
                const int ok = end_case();
                printf("attention    head_dim=%-3lld n=%-3lld%s %s\n", (long long)hd, (long long)n, wide ? " wide" : "     ",
                       ok ? "ok" : "FAIL");
                free(keys), free(keys_t), free(values), free(queries), free(got), free(one), free(want), free(scratch);
            }
        }
    }
}

// The F16 mode (decode, short prompts, split decode) and the typed caches' F16 steps: the
// SIMD kernels against their generic twins, bit for bit. Head sizes on and off the vector paths,
// positions sliced as the split decode slices them, soft-capping, and every pairing of F16, Q8_0
// and Q4_0 keys and values (quantized rows as the KV cache stores them).
static void check_attention_f16(void) {
    static const int64_t head_dims[] = {8, 40, 64, 256};
    static const int kv_types[] = {SLM_TYPE_F16, SLM_TYPE_Q8_0, SLM_TYPE_Q4_0};
    const int64_t n = 300;
    for (size_t hi = 0; hi < sizeof head_dims / sizeof *head_dims; ++hi) {
        const int64_t hd = head_dims[hi];
        begin_case();
        uint16_t *keys = malloc(sizeof(uint16_t) * n * hd), *values = malloc(sizeof(uint16_t) * n * hd);
        float *kf = malloc(sizeof(float) * n * hd), *vf = malloc(sizeof(float) * n * hd);
        float *query = malloc(sizeof(float) * hd), *got = malloc(sizeof(float) * (hd + 2)), *want = malloc(sizeof(float) * (hd + 2));
        void *scratch = malloc(slm_attention_scratch_bytes(hd));
        for (int64_t i = 0; i < n * hd; ++i) {
            kf[i] = (float)uniform(-2, 2);
            vf[i] = (float)uniform(-2, 2);
            keys[i] = slm_fp32_to_fp16(kf[i]);
            values[i] = slm_fp32_to_fp16(vf[i]);
        }
        for (int64_t i = 0; i < hd; ++i) query[i] = (float)uniform(-1, 1);
        const float scale = 1.0f / sqrtf((float)hd);
        char what[160];
        for (int64_t len = 1; len <= n; len += 37) {
            slm_attention_head(query, keys, hd, values, hd, len, hd, scale, SLM_ATTENTION_F16_ACCUMULATE, got, scratch);
            slm_attention_head_generic(query, keys, hd, values, hd, len, hd, scale, SLM_ATTENTION_F16_ACCUMULATE, want,
                                       scratch);
            snprintf(what, sizeof what, "F16 attention head_dim=%lld n=%lld", (long long)hd, (long long)len);
            check(memcmp(got, want, sizeof(float) * hd) == 0, what);
            for (int capped = 0; capped < 2; ++capped) {
                const int64_t begin = len / 3;
                slm_attention_partial_capped(query, keys, hd, values, hd, begin, len, hd, scale, capped ? 2.0f : 0.0f, got,
                                             scratch);
                slm_attention_partial_capped_generic(query, keys, hd, values, hd, begin, len, hd, scale,
                                                     capped ? 2.0f : 0.0f, want, scratch);
                snprintf(what, sizeof what, "F16 partial head_dim=%lld [%lld, %lld) softcap=%d", (long long)hd,
                         (long long)begin, (long long)len, capped * 2);
                check(memcmp(got, want, sizeof(float) * (hd + 2)) == 0, what);
            }
        }
        if (hd % 32 == 0) {
            for (int ki = 0; ki < 3; ++ki) {
                for (int vi = 0; vi < 3; ++vi) {
                    const int kt = kv_types[ki], vt = kv_types[vi];
                    const size_t kb = slm_row_bytes(kt, hd), vb = slm_row_bytes(vt, hd);
                    uint8_t *kq = malloc(kb * n), *vq = malloc(vb * n);
                    for (int64_t p = 0; p < n; ++p) {
                        if (kt == SLM_TYPE_F16) memcpy(kq + p * kb, keys + p * hd, kb);
                        else slm_quantize_row(kt, kf + p * hd, kq + p * kb, hd);
                        if (vt == SLM_TYPE_F16) memcpy(vq + p * vb, values + p * hd, vb);
                        else slm_quantize_row(vt, vf + p * hd, vq + p * vb, hd);
                    }
                    for (int capped = 0; capped < 2; ++capped) {
                        const float cap = capped ? 2.0f : 0.0f;
                        slm_attention_head_typed(query, kt, kq, kb, vt, vq, vb, 7, n, hd, scale, cap, got, scratch);
                        slm_attention_head_typed_generic(query, kt, kq, kb, vt, vq, vb, 7, n, hd, scale, cap, want,
                                                         scratch);
                        snprintf(what, sizeof what, "typed attention head_dim=%lld K %s V %s softcap=%g", (long long)hd,
                                 slm_type_name(kt), slm_type_name(vt), cap);
                        check(memcmp(got, want, sizeof(float) * hd) == 0, what);
                    }
                    free(kq), free(vq);
                }
            }
        }
        const int ok = end_case();
        printf("attention    F16 mode, head_dim=%-3lld %s\n", (long long)hd, ok ? "ok" : "FAIL");
        free(keys), free(values), free(kf), free(vf), free(query), free(got), free(want), free(scratch);
    }
}

// SwiGLU (x86: AVX2; aarch64: NEON) against its generic twin, bit for bit: ordinary gates and
// gates large enough that the exp approximation splits 2^n (|x| > 87) or saturates (> 133),
// lengths with and without a tail.
static void check_swiglu(void) {
    begin_case();
    enum { N = 1027 };
    static float gate[N], up[N], got[N], want[N];
    for (int i = 0; i < N; ++i) {
        gate[i] = i % 97 == 0 ? (float)uniform(-200, 200) : (float)uniform(-12, 12);
        up[i] = (float)uniform(-3, 3);
    }
    for (int64_t n = 1; n <= N; n += 113) {
        slm_swiglu(gate, up, got, n);
        slm_swiglu_generic(gate, up, want, n);
        char what[64];
        snprintf(what, sizeof what, "swiglu n=%lld", (long long)n);
        check(memcmp(got, want, sizeof(float) * (size_t)n) == 0, what);
    }
    const int ok = end_case();
    printf("swiglu       %s\n", ok ? "ok" : "FAIL");
}

int main(int argc, char **argv) {
    const char *expect = NULL, *expect_features = NULL;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--expect") == 0 && i + 1 < argc) {
            expect = argv[++i];
        } else if (strcmp(argv[i], "--expect-features") == 0 && i + 1 < argc) {
            expect_features = argv[++i];
        } else {
            fprintf(stderr, "usage: %s [--expect avx2[,avxvnni][,avx512vnni],vnni_emulated|neon[,neon_dotprod[,neon_i8mm]]|none] [--expect-features LIST]\n",
                    argv[0]);
            return 2;
        }
    }

    char found[64] = "";
    for (int t = 0; t < TABLE_COUNT; ++t) {
        if (!tables[t].lookup(SLM_TYPE_Q8_0) || strstr(tables[t].name, "_batch")) continue;
        if (found[0]) strcat(found, ",");
        strcat(found, tables[t].name);
    }
    // SMMLA has tiles only (no dot table).
    if (slm_matmul_tile_kernel_neon_i8mm(SLM_TYPE_Q4_K).fn) strcat(found, found[0] ? ",neon_i8mm" : "neon_i8mm");
    if (!found[0]) strcpy(found, "none");
    char features[128];
    slm_cpu_feature_names(features, sizeof features);
    printf("SIMD tables on this CPU: %s (CPU features: %s)\n", found, features);
    if (expect) {
        begin_case();
        char what[160];
        snprintf(what, sizeof what, "expected SIMD tables %s, found %s", expect, found);
        check(strcmp(expect, found) == 0, what);
        end_case();
    }
    if (expect_features) {
        begin_case();
        char what[320];
        snprintf(what, sizeof what, "expected CPU features %s, found %s", expect_features, features);
        check(strcmp(expect_features, features) == 0, what);
        end_case();
    }

    for (int t = 0; t < TABLE_COUNT; ++t) {
        for (int i = 0; i < TYPE_COUNT; ++i) {
            const int type = weight_types[i];
            const slm_vec_dot_fn simd = tables[t].lookup(type), generic = slm_vec_dot_kernel_generic(type);
            if (!tables[t].lookup(SLM_TYPE_Q8_0) && !tables[t].lookup(SLM_TYPE_Q4_K)) continue;  // absent on this CPU
            if (!simd && strstr(tables[t].name, "_batch")) continue;  // no batch order for this type
            if (tables[t].quant_only && slm_type_block_elements(type) == 1) continue;  // float rows: AVX2's
            begin_case();
            char what[96];
            snprintf(what, sizeof what, "%s has a %s kernel", tables[t].name, slm_type_name(type));
            check(simd != NULL && generic != NULL && simd != generic, what);
            const double worst = simd && generic ? check_dots(&tables[t], type, simd, generic) : 0;
            const int ok = end_case();
            printf("%-12s %-5s %s  worst |diff| / tolerance = %.3f\n", tables[t].name, slm_type_name(type),
                   ok ? "ok  " : "FAIL", worst);
        }
    }
    // The NEON-order twins against the generic twins within the tolerance, on every architecture.
    const simd_table neon_order = {"neon_order", slm_vec_dot_kernel_neon_order_generic, 0};
    for (int i = 0; i < TYPE_COUNT; ++i) {
        const int type = weight_types[i];
        const slm_vec_dot_fn twin = neon_order.lookup(type), generic = slm_vec_dot_kernel_generic(type);
        begin_case();
        char what[96];
        snprintf(what, sizeof what, "neon_order has a %s twin", slm_type_name(type));
        check(twin != NULL && generic != NULL && twin != generic, what);
        const double worst = twin && generic ? check_dots(&neon_order, type, twin, generic) : 0;
        const int ok = end_case();
        printf("%-12s %-5s %s  worst |diff| / tolerance = %.3f (scalar twin in NEON order)\n", neon_order.name,
               slm_type_name(type), ok ? "ok  " : "FAIL", worst);
    }
    for (int i = 0; i < TYPE_COUNT; ++i) {
        check_neon_order_bits("neon", slm_vec_dot_kernel_neon, weight_types[i]);
        check_neon_order_bits("neon_dotprod", slm_vec_dot_kernel_neon_dotprod, weight_types[i]);
    }
    for (int i = 0; i < TYPE_COUNT; ++i) check_neon_copies(weight_types[i]);
    check_vnni_builds();
    for (int i = 0; i < TYPE_COUNT; ++i) {
        const int type = weight_types[i];
        check_matrix(type, slm_type_block_elements(type) == 1 ? 33 : slm_type_block_elements(type) * 3);
    }
    for (int i = 0; i < QUANT_TYPE_COUNT; ++i) {
        check_matmul_extremes(quant_types[i]);
        check_matmul_panel_shapes(quant_types[i]);
    }
    check_tiles();
    check_panel_tables();
    check_dispatch();
    check_tile_dispatch();
    check_attention();
    check_attention_f16();
    check_swiglu();

    printf("kernel_twins: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
