// slm_logits: llama.cpp's logits at every position of a fixed token sequence, as JSON. Used for the
// tiny synthetic models (scripts/make-synthetic-goldens.sh), whose vocabulary is not text.
//
//   slm_logits MODEL.gguf N_TOKENS TOP_K > out.json
//
// Tokens: BOS (1), then 3 + (37 i + 11) mod (n_vocab - 3) for i = 1 ..< N_TOKENS. One batch with
// outputs at every position; CPU only, n_ctx 256, 2 threads, library defaults otherwise. Writes
// {"tokens": [...], "top": [[[id, logit], ...] per position]} with the TOP_K largest logits per
// position, by logit descending (ties: lower id first).
#include "llama.h"

#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_CTX 256
#define N_THREADS 2

static void quiet_log(enum ggml_log_level level, const char *text, void *user) {
    (void)user;
    if (level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

static void json_float(float v) {
    char buf[32];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v) break;
    }
    fputs(buf, stdout);
}

int main(int argc, char **argv) {
    setlocale(LC_NUMERIC, "C");
    if (argc != 4) {
        fprintf(stderr, "usage: %s MODEL.gguf N_TOKENS TOP_K > out.json\n", argv[0]);
        return 2;
    }
    int n = atoi(argv[2]), k = atoi(argv[3]);
    if (n < 1 || n > N_CTX || k < 1) {
        fprintf(stderr, "slm_logits: bad arguments\n");
        return 2;
    }
    llama_log_set(quiet_log, NULL);
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    struct llama_model *model = llama_model_load_from_file(argv[1], mp);
    if (!model) { fprintf(stderr, "slm_logits: cannot load %s\n", argv[1]); return 1; }
    int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
    if (k > n_vocab) k = n_vocab;

    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = N_CTX;
    cp.n_batch = N_CTX;
    cp.n_threads = N_THREADS;
    cp.n_threads_batch = N_THREADS;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (!ctx) { fprintf(stderr, "slm_logits: llama_init_from_model failed\n"); return 1; }

    struct llama_batch b = llama_batch_init(n, 0, 1);
    for (int i = 0; i < n; i++) {
        b.token[i] = i == 0 ? 1 : 3 + (37 * i + 11) % (n_vocab - 3);
        b.pos[i] = i;
        b.n_seq_id[i] = 1;
        b.seq_id[i][0] = 0;
        b.logits[i] = 1;
    }
    b.n_tokens = n;
    if (llama_decode(ctx, b) != 0) { fprintf(stderr, "slm_logits: llama_decode failed\n"); return 1; }

    printf("{\"n_vocab\": %d, \"tokens\": [", n_vocab);
    for (int i = 0; i < n; i++) printf(i ? ", %d" : "%d", b.token[i]);
    printf("],\n \"top\": [\n");
    int *order = malloc(sizeof(int) * (size_t)n_vocab);
    for (int i = 0; i < n; i++) {
        const float *lg = llama_get_logits_ith(ctx, i);
        for (int id = 0; id < n_vocab; id++) order[id] = id;
        // Selection of the top k by logit descending, lower id first on ties.
        for (int a = 0; a < k; a++) {
            int best = a;
            for (int c = a + 1; c < n_vocab; c++) {
                if (lg[order[c]] > lg[order[best]] || (lg[order[c]] == lg[order[best]] && order[c] < order[best])) best = c;
            }
            int t = order[a]; order[a] = order[best]; order[best] = t;
        }
        printf("  [");
        for (int a = 0; a < k; a++) {
            printf(a ? ", [%d, " : "[%d, ", order[a]);
            json_float(lg[order[a]]);
            putchar(']');
        }
        printf("]%s\n", i + 1 < n ? "," : "");
    }
    printf(" ]}\n");
    free(order);
    llama_batch_free(b);
    llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    return 0;
}
