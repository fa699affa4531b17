// The SIMD tables of the architecture this build is not for: always empty. The tests and the
// dispatch call every table on every architecture (a table answers NULL where it does not
// apply), so each needs a definition everywhere; the real ones are in x86/ and arm/, under the
// same SLM_ARCH_* guards inverted here.
#include "arch.h"

#if !SLM_ARCH_X86
slm_vec_dot_fn slm_vec_dot_kernel_avx2(int type) {
    (void)type;
    return NULL;
}

slm_vec_dot_fn slm_vec_dot_kernel_avx2_for_batch(int type, int64_t n_tokens, int64_t token) {
    (void)type;
    (void)n_tokens;
    (void)token;
    return NULL;
}

slm_matmul_tile slm_matmul_tile_kernel_avx2(int type) {
    (void)type;
    return (slm_matmul_tile){NULL, 0, 0};
}

slm_matmul_tile slm_matvec_tile_kernel_avx2(int type) {
    (void)type;
    return (slm_matmul_tile){NULL, 0, 0};
}

slm_matmul_panel slm_matmul_panel_kernel_avx2(int type, int64_t batch_tokens, int64_t batch_offset, int64_t n_tokens,
                                              int64_t *tokens_end) {
    (void)type, (void)batch_tokens, (void)batch_offset, (void)n_tokens;
    *tokens_end = 0;
    return (slm_matmul_panel){NULL, 0, 0};
}

slm_matmul_tile slm_matmul_tile_kernel_avx2_for_batch(int type, int64_t batch_tokens, int64_t batch_offset,
                                                      int64_t n_tokens, int64_t *tile_tokens_end) {
    (void)type, (void)batch_tokens, (void)batch_offset, (void)n_tokens;
    *tile_tokens_end = 0;
    return (slm_matmul_tile){NULL, 0, 0};
}

// The VNNI builds' tables (x86/quant_body.h), empty in the same way.
#define SLM_NO_QUANT_BUILD(build)                                                                          \
    slm_vec_dot_fn slm_vec_dot_kernel_##build(int type) {                                                  \
        (void)type;                                                                                        \
        return NULL;                                                                                       \
    }                                                                                                      \
    slm_vec_dot_fn slm_vec_dot_kernel_##build##_for_batch(int type, int64_t n_tokens, int64_t token) {     \
        (void)type, (void)n_tokens, (void)token;                                                           \
        return NULL;                                                                                       \
    }                                                                                                      \
    slm_matmul_tile slm_matmul_tile_kernel_##build(int type) {                                             \
        (void)type;                                                                                        \
        return (slm_matmul_tile){NULL, 0, 0};                                                              \
    }                                                                                                      \
    slm_matmul_tile slm_matvec_tile_kernel_##build(int type) {                                             \
        (void)type;                                                                                        \
        return (slm_matmul_tile){NULL, 0, 0};                                                              \
    }                                                                                                      \
    slm_matmul_panel slm_matmul_panel_kernel_##build(int type, int64_t batch_tokens, int64_t batch_offset,  \
                                                     int64_t n_tokens, int64_t *tokens_end) {              \
        (void)type, (void)batch_tokens, (void)batch_offset, (void)n_tokens;                                \
        *tokens_end = 0;                                                                                   \
        return (slm_matmul_panel){NULL, 0, 0};                                                             \
    }                                                                                                      \
    slm_matmul_tile slm_matmul_tile_kernel_##build##_for_batch(int type, int64_t batch_tokens,             \
                                                               int64_t batch_offset, int64_t n_tokens,     \
                                                               int64_t *tile_tokens_end) {                 \
        (void)type, (void)batch_tokens, (void)batch_offset, (void)n_tokens;                                \
        *tile_tokens_end = 0;                                                                              \
        return (slm_matmul_tile){NULL, 0, 0};                                                              \
    }
SLM_NO_QUANT_BUILD(avxvnni)
SLM_NO_QUANT_BUILD(avx512vnni)
SLM_NO_QUANT_BUILD(vnni_emulated)

slm_vec_dot_fn slm_vec_dot_kernel_quant_avx2(int type) {
    (void)type;
    return NULL;
}

int slm_sum_order_depends_on_batch_avx2(int type) {
    (void)type;
    return 0;
}

int slm_matmul_f16_avx2(const void *weight, size_t row_stride, int64_t n_cols, const void *activations,
                        size_t act_row_bytes, int64_t n_tokens, float *out, int64_t out_row_stride,
                        int64_t row_begin, int64_t row_end) {
    (void)weight, (void)row_stride, (void)n_cols, (void)activations, (void)act_row_bytes, (void)n_tokens;
    (void)out, (void)out_row_stride, (void)row_begin, (void)row_end;
    return 0;
}
#endif

#if !SLM_ARCH_ARM64
slm_vec_dot_fn slm_vec_dot_kernel_neon(int type) {
    (void)type;
    return NULL;
}

slm_vec_dot_fn slm_vec_dot_kernel_neon_dotprod(int type) {
    (void)type;
    return NULL;
}

slm_matmul_tile slm_matvec_tile_kernel_neon(int type) {
    (void)type;
    return (slm_matmul_tile){NULL, 0, 0};
}

slm_matmul_tile slm_matvec_tile_kernel_neon_dotprod(int type) {
    (void)type;
    return (slm_matmul_tile){NULL, 0, 0};
}

slm_matmul_tile slm_matmul_tile_kernel_neon(int type) {
    (void)type;
    return (slm_matmul_tile){NULL, 0, 0};
}

slm_matmul_tile slm_matmul_tile_kernel_neon_dotprod(int type) {
    (void)type;
    return (slm_matmul_tile){NULL, 0, 0};
}

slm_matmul_tile slm_matmul_tile_kernel_neon_i8mm(int type) {
    (void)type;
    return (slm_matmul_tile){NULL, 0, 0};
}

slm_matmul_panel slm_matmul_panel_kernel_neon_dotprod(int type) {
    (void)type;
    return (slm_matmul_panel){NULL, 0, 0};
}

slm_matmul_panel slm_matmul_panel_kernel_neon_i8mm(int type) {
    (void)type;
    return (slm_matmul_panel){NULL, 0, 0};
}
#endif
