// Type traits and the scalar float conversions.
#include "kernels_internal.h"

typedef struct slm_type_traits {
    const char *name;
    int64_t block_elements;
    int64_t block_bytes;
    int supported_weight;   // dequantize + dot as a weight
    int activation_type;    // -1 when not a weight type
} slm_type_traits;

// Indexed by GGUF type id; ids not listed are zero-initialised (block_elements == 0 = unknown).
#define SLM_TYPE_TABLE_SIZE 31
static const slm_type_traits slm_traits[SLM_TYPE_TABLE_SIZE] = {
    [SLM_TYPE_F32] = {"F32", 1, 4, 1, SLM_TYPE_F32},
    [SLM_TYPE_F16] = {"F16", 1, 2, 1, SLM_TYPE_F16},
    [SLM_TYPE_Q4_0] = {"Q4_0", SLM_QK4_0, sizeof(slm_block_q4_0), 1, SLM_TYPE_Q8_0},
    [SLM_TYPE_Q4_1] = {"Q4_1", SLM_QK4_1, sizeof(slm_block_q4_1), 1, SLM_TYPE_Q8_1},
    [SLM_TYPE_Q5_0] = {"Q5_0", SLM_QK5_0, sizeof(slm_block_q5_0), 1, SLM_TYPE_Q8_0},
    [SLM_TYPE_Q5_1] = {"Q5_1", SLM_QK5_1, sizeof(slm_block_q5_1), 1, SLM_TYPE_Q8_1},
    [SLM_TYPE_Q8_0] = {"Q8_0", SLM_QK8_0, sizeof(slm_block_q8_0), 1, SLM_TYPE_Q8_0},
    [SLM_TYPE_Q8_1] = {"Q8_1", SLM_QK8_1, sizeof(slm_block_q8_1), 0, -1},
    [SLM_TYPE_Q2_K] = {"Q2_K", SLM_QK_K, sizeof(slm_block_q2_K), 0, -1},
    [SLM_TYPE_Q3_K] = {"Q3_K", SLM_QK_K, sizeof(slm_block_q3_K), 0, -1},
    [SLM_TYPE_Q4_K] = {"Q4_K", SLM_QK_K, sizeof(slm_block_q4_K), 1, SLM_TYPE_Q8_K},
    [SLM_TYPE_Q5_K] = {"Q5_K", SLM_QK_K, sizeof(slm_block_q5_K), 1, SLM_TYPE_Q8_K},
    [SLM_TYPE_Q6_K] = {"Q6_K", SLM_QK_K, sizeof(slm_block_q6_K), 1, SLM_TYPE_Q8_K},
    [SLM_TYPE_Q8_K] = {"Q8_K", SLM_QK_K, sizeof(slm_block_q8_K), 0, -1},
    [SLM_TYPE_BF16] = {"BF16", 1, 2, 1, SLM_TYPE_BF16},
};

static const slm_type_traits *slm_lookup(int type) {
    if (type < 0 || type >= SLM_TYPE_TABLE_SIZE || slm_traits[type].block_elements == 0) {
        return NULL;
    }
    return &slm_traits[type];
}

int slm_type_is_supported(int type) {
    const slm_type_traits *t = slm_lookup(type);
    return t != NULL && t->supported_weight;
}

int64_t slm_type_block_elements(int type) {
    const slm_type_traits *t = slm_lookup(type);
    return t ? t->block_elements : 0;
}

int64_t slm_type_block_bytes(int type) {
    const slm_type_traits *t = slm_lookup(type);
    return t ? t->block_bytes : 0;
}

const char *slm_type_name(int type) {
    const slm_type_traits *t = slm_lookup(type);
    return t ? t->name : "unknown";
}

int slm_type_activation_type(int type) {
    const slm_type_traits *t = slm_lookup(type);
    return t ? t->activation_type : -1;
}

size_t slm_row_bytes(int type, int64_t n) {
    const slm_type_traits *t = slm_lookup(type);
    if (t == NULL || n <= 0) {
        return 0;
    }
    return (size_t)(n / t->block_elements) * (size_t)t->block_bytes;
}

#ifdef SLM_HAVE_FP16_TABLE
float slm_fp16_table[1 << 16];

// Runs when the library is loaded (before any kernel can be called), so no per-call check.
__attribute__((constructor)) static void slm_fp16_table_init(void) {
    for (uint32_t h = 0; h < (1u << 16); ++h) {
        slm_fp16_table[h] = slm_h2f((uint16_t)h);
    }
}
#endif

float slm_fp16_to_fp32(uint16_t h) { return slm_h2f(h); }
uint16_t slm_fp32_to_fp16(float f) { return slm_f2h(f); }
float slm_bf16_to_fp32(uint16_t h) { return slm_bf2f(h); }
uint16_t slm_fp32_to_bf16(float f) { return slm_f2bf(f); }

void slm_f16_row_to_f32(const uint16_t *SLM_RESTRICT src, float *SLM_RESTRICT dst, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        dst[i] = slm_h2f_row(src[i]);
    }
}

void slm_f32_row_to_f16(const float *SLM_RESTRICT src, uint16_t *SLM_RESTRICT dst, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        dst[i] = slm_f2h(src[i]);
    }
}
