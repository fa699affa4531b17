// Compares slm's dot kernels with llama.cpp's CPU backend, matrix by matrix, on the weights of a
// real GGUF file: for each 2D weight, W · X with X = `tokens` rows of fixed pseudo-random
// activations, computed by ggml (weights placed in the CPU_REPACK buffer where llama.cpp puts
// them) and by slm's dot kernels, each token through the kernel slm_vec_dot_kernel_for_batch
// chooses for it. Prints, per type, how many matrices came out bit-identical, and the largest
// difference relative to the matrix's largest output. Built and run by scripts/compare-kernels-with-llama-cpp.sh; one thread
// (ggml's sums do not depend on the thread count). Exit status 0 even on differences: this
// measures, it does not assert.
//
//   kernels_vs_ggml MODEL.gguf TOKENS
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "ggml.h"
#include "gguf.h"
#include "slm_kernels.h"

#define TYPE_SLOTS 64

// The CPU backend's repack buffer type (weights in it are interleaved and run by ggml's
// gemv/gemm kernels), or NULL.
static ggml_backend_buffer_type_t repack_buffer(ggml_backend_dev_t dev) {
    ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(dev);
    ggml_backend_dev_get_extra_bufts_t extra =
        (ggml_backend_dev_get_extra_bufts_t)ggml_backend_reg_get_proc_address(reg, "ggml_backend_dev_get_extra_bufts");
    for (ggml_backend_buffer_type_t *b = extra ? extra(dev) : NULL; b && *b; ++b) {
        if (strstr(ggml_backend_buft_name(*b), "REPACK")) return *b;
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL.gguf TOKENS\n", argv[0]);
        return 2;
    }
    const int tokens = atoi(argv[2]);
    struct ggml_context *meta = NULL;
    struct gguf_init_params gp = {true, &meta};
    struct gguf_context *gg = gguf_init_from_file(argv[1], gp);
    if (!gg) {
        fprintf(stderr, "cannot read %s\n", argv[1]);
        return 1;
    }
    int fd = open(argv[1], O_RDONLY);
    struct stat st;
    fstat(fd, &st);
    const uint8_t *file = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    const size_t data_offset = gguf_get_data_offset(gg);

    ggml_backend_t backend = ggml_backend_cpu_init();
    ggml_backend_cpu_set_n_threads(backend, 1);
    ggml_backend_buffer_type_t repack = repack_buffer(ggml_backend_get_device(backend));
    const int avx2 = __builtin_cpu_supports("avx2");

    long matrices[TYPE_SLOTS] = {0}, identical[TYPE_SLOTS] = {0};
    double worst[TYPE_SLOTS] = {0};
    for (int64_t id = 0; id < gguf_get_n_tensors(gg); ++id) {
        const char *name = gguf_get_tensor_name(gg, id);
        struct ggml_tensor *info = ggml_get_tensor(meta, name);
        const int type = info->type;
        const int64_t cols = info->ne[0], rows = info->ne[1];
        if (ggml_n_dims(info) != 2 || type >= TYPE_SLOTS || !slm_type_is_supported(type)) continue;
        if (strcmp(name, "token_embd.weight") == 0 && ggml_get_tensor(meta, "output.weight")) continue;
        const uint8_t *weights = file + data_offset + gguf_get_tensor_offset(gg, id);

        struct ggml_init_params ip = {32 * ggml_tensor_overhead() + ggml_graph_overhead(), NULL, true};
        struct ggml_context *cw = ggml_init(ip), *c = ggml_init(ip);
        struct ggml_tensor *W = ggml_new_tensor_2d(cw, info->type, cols, rows);
        struct ggml_tensor *X = ggml_new_tensor_2d(c, GGML_TYPE_F32, cols, tokens);
        // Repacked where llama.cpp repacks on an AVX2 CPU (ggml's repack.cpp): Q4_0 and Q4_K
        // weights with a row count divisible by 8.
        ggml_backend_buffer_type_t bt = ggml_backend_cpu_buffer_type();
        if (repack && avx2 && (type == GGML_TYPE_Q4_0 || type == GGML_TYPE_Q4_K) && rows % 8 == 0) bt = repack;
        ggml_backend_buffer_t bw = ggml_backend_alloc_ctx_tensors_from_buft(cw, bt);
        ggml_backend_tensor_set(W, weights, 0, ggml_nbytes(W));
        struct ggml_tensor *Y = ggml_mul_mat(c, W, X);
        struct ggml_cgraph *graph = ggml_new_graph(c);
        ggml_build_forward_expand(graph, Y);
        ggml_backend_buffer_t bx = ggml_backend_alloc_ctx_tensors(c, backend);

        float *x = malloc(sizeof(float) * (size_t)(cols * tokens));
        float *want = malloc(sizeof(float) * (size_t)(rows * tokens)), *got = malloc(sizeof(float) * (size_t)(rows * tokens));
        uint32_t s = 12345u + (uint32_t)id;
        for (int64_t i = 0; i < cols * tokens; ++i) {
            s = s * 1103515245u + 12345u;
            x[i] = (float)((int)((s >> 8) & 0xffff) - 32768) / 16384.0f;
        }
        ggml_backend_tensor_set(X, x, 0, ggml_nbytes(X));
        ggml_backend_graph_compute(backend, graph);
        ggml_backend_tensor_get(Y, want, 0, ggml_nbytes(Y));

        const int act_type = slm_type_activation_type(type);
        const size_t act_bytes = slm_row_bytes(act_type, cols), row_bytes = slm_row_bytes(type, cols);
        uint8_t *act = malloc(act_bytes * (size_t)tokens);
        for (int t = 0; t < tokens; ++t) slm_quantize_row(act_type, x + t * cols, act + t * act_bytes, cols);
        // Each token through the kernel slm_vec_dot_kernel_for_batch picks for it.
        for (int t = 0; t < tokens; ++t) {
            const slm_vec_dot_fn dot = slm_vec_dot_kernel_for_batch(type, tokens, t);
            for (int64_t r = 0; r < rows; ++r) got[t * rows + r] = dot(cols, weights + r * row_bytes, act + t * act_bytes);
        }
        // Differences relative to the matrix's largest output (an element-wise ratio would blow
        // up on outputs near zero).
        int same = 1;
        double largest = 0, diff = 0;
        for (int64_t i = 0; i < rows * tokens; ++i) {
            if (got[i] != want[i]) same = 0;
            largest = fmax(largest, fabs(want[i]));
            diff = fmax(diff, fabs((double)got[i] - want[i]));
        }
        if (largest > 0 && diff / largest > worst[type]) worst[type] = diff / largest;
        matrices[type]++;
        identical[type] += same;

        free(x);
        free(want);
        free(got);
        free(act);
        ggml_backend_buffer_free(bx);
        ggml_backend_buffer_free(bw);
        ggml_free(c);
        ggml_free(cw);
    }
    for (int t = 0; t < TYPE_SLOTS; ++t) {
        if (!matrices[t]) continue;
        printf("%-5s %3ld matrices, %3ld bit-identical, max |difference| / max |output| %.3g (tokens=%d)\n", slm_type_name(t),
               matrices[t], identical[t], worst[t], tokens);
    }
    ggml_backend_free(backend);
    gguf_free(gg);
    ggml_free(meta);
    return 0;
}
