// slm_grammar_golden: one greedy, grammar-constrained generation from llama.cpp, as a line of JSON.
//
// Our own small tool against the public C API in llama.h; built and run by
// scripts/make-grammar-goldens.sh, which also checks its text against llama-completion's.
//
//   slm_grammar_golden MODEL.gguf GRAMMAR.gbnf PROMPT.txt MAX_TOKENS > case.json
//
// PROMPT.txt is used byte for byte (no trailing-newline trimming). The output holds only numbers,
// null and hex strings, so no JSON string escaping is needed here; the script decodes the hex.
//
// Behaviour (the same as llama-completion -no-cnv --temp 0 --grammar-file, see the script):
//  - CPU only, n_ctx 2048, n_batch 2048, 1 thread, library defaults otherwise.
//  - Tokenization like llama-completion: add_special = true, parse_special = true. The prompt is
//    decoded in one batch; the grammar sees only generated tokens, never the prompt.
//  - Sampler chain: llama_sampler_init_grammar(vocab, grammar, "root") then
//    llama_sampler_init_greedy() (argmax of the masked logits, lowest id on ties). llama.cpp's
//    grammar masks EOG tokens unless the grammar may end here, and masks everything but EOG once
//    the grammar cannot continue.
//  - Generation stops at the first EOG token (it is recorded in "tokens" but adds no text) or after
//    MAX_TOKENS tokens. "stopped" says why:
//      "grammar"  EOG was chosen because the grammar allowed nothing else (grammar complete),
//      "eos"      the model chose EOG while the grammar also allowed other tokens,
//      "length"   MAX_TOKENS tokens were generated without EOG.
//  - Per step: "n_allowed" = tokens left with a finite logit after the grammar mask (depends only on
//    the vocabulary and the grammar state, not on the logits), and "margins" = chosen logit minus the
//    best other allowed logit (null when only one token was allowed): small margins are where a
//    reimplementation with slightly different logits may pick another token.
//  - "pieces_hex" are the generated tokens' pieces with special = false (what llama-completion
//    prints); the output text is their concatenation.
#include "llama.h"

#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_CTX 2048
#define N_THREADS 1

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "slm_grammar_golden: error: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) die("out of memory");
    return p;
}

static void quiet_log(enum ggml_log_level level, const char *text, void *user) {
    (void)user;
    if (level == GGML_LOG_LEVEL_ERROR || level == GGML_LOG_LEVEL_WARN) fputs(text, stderr);
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) die("cannot open %s", path);
    size_t cap = 1 << 12, n = 0, r;
    char *buf = xmalloc(cap + 1);
    while ((r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
            if (!buf) die("out of memory");
        }
    }
    fclose(f);
    buf[n] = 0;
    if (strlen(buf) != n) die("%s contains a NUL byte", path);
    *len = n;
    return buf;
}

// Piece of a token with special = false, like llama-completion's output (control tokens: empty).
static char *token_piece(const struct llama_vocab *vocab, llama_token tok, int *len) {
    int cap = 64;
    for (;;) {
        char *buf = xmalloc((size_t)cap);
        int n = llama_token_to_piece(vocab, tok, buf, cap, 0, false);
        if (n >= 0) { *len = n; return buf; }
        free(buf);
        cap = -n + 1;
    }
}

static void decode(struct llama_context *ctx, const llama_token *toks, int n, int pos0) {
    struct llama_batch b = llama_batch_init(n, 0, 1);
    for (int i = 0; i < n; i++) {
        b.token[i] = toks[i];
        b.pos[i] = pos0 + i;
        b.n_seq_id[i] = 1;
        b.seq_id[i][0] = 0;
        b.logits[i] = (int8_t)(i == n - 1);
    }
    b.n_tokens = n;
    int rc = llama_decode(ctx, b);
    llama_batch_free(b);
    if (rc != 0) die("llama_decode returned %d", rc);
}

static void put_hex(const char *s, int n) {
    putchar('"');
    for (int i = 0; i < n; i++) printf("%02x", (unsigned char)s[i]);
    putchar('"');
}

int main(int argc, char **argv) {
    setlocale(LC_NUMERIC, "C");
    if (argc != 5) {
        fprintf(stderr, "usage: %s MODEL.gguf GRAMMAR.gbnf PROMPT.txt MAX_TOKENS > case.json\n", argv[0]);
        return 2;
    }
    const int max_tokens = atoi(argv[4]);
    if (max_tokens < 1) die("bad MAX_TOKENS %s", argv[4]);
    size_t grammar_len, prompt_len;
    char *grammar = read_file(argv[2], &grammar_len);
    char *prompt = read_file(argv[3], &prompt_len);

    llama_log_set(quiet_log, NULL);
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    struct llama_model *model = llama_model_load_from_file(argv[1], mp);
    if (!model) die("cannot load %s", argv[1]);
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    const int n_vocab = llama_vocab_n_tokens(vocab);

    int n_prompt = -llama_tokenize(vocab, prompt, (int)prompt_len, NULL, 0, true, true);
    if (n_prompt <= 0) die("tokenize failed (%d)", n_prompt);
    llama_token *ptoks = xmalloc(sizeof(llama_token) * (size_t)n_prompt);
    if (llama_tokenize(vocab, prompt, (int)prompt_len, ptoks, n_prompt, true, true) != n_prompt)
        die("tokenize mismatch");
    if (n_prompt + max_tokens > N_CTX) die("prompt too long (%d tokens)", n_prompt);

    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = N_CTX;
    cp.n_batch = N_CTX;
    cp.n_threads = N_THREADS;
    cp.n_threads_batch = N_THREADS;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (!ctx) die("llama_init_from_model failed");

    struct llama_sampler *chain = llama_sampler_chain_init(llama_sampler_chain_default_params());
    struct llama_sampler *gram = llama_sampler_init_grammar(vocab, grammar, "root");
    if (!gram) die("llama.cpp could not parse the grammar %s", argv[2]);
    llama_sampler_chain_add(chain, gram);
    llama_sampler_chain_add(chain, llama_sampler_init_greedy());

    llama_token *gen = xmalloc(sizeof(llama_token) * (size_t)max_tokens);
    int *n_allowed = xmalloc(sizeof(int) * (size_t)max_tokens);
    float *margin = xmalloc(sizeof(float) * (size_t)max_tokens);
    llama_token_data *cand = xmalloc(sizeof(llama_token_data) * (size_t)n_vocab);
    const char *stopped = "length";
    int n_gen = 0;

    decode(ctx, ptoks, n_prompt, 0);
    for (int step = 0; step < max_tokens; step++) {
        const float *logits = llama_get_logits_ith(ctx, -1);
        if (!logits) die("no logits at step %d", step);
        for (int id = 0; id < n_vocab; id++) cand[id] = (llama_token_data){id, logits[id], 0.0f};
        llama_token_data_array arr = {cand, (size_t)n_vocab, -1, false};
        llama_sampler_apply(chain, &arr);  // grammar mask, then greedy sets arr.selected
        if (arr.selected < 0) die("no token selected at step %d", step);
        const llama_token id = arr.data[arr.selected].id;
        const float best = arr.data[arr.selected].logit;
        if (!isfinite(best)) die("the grammar allowed no token at step %d", step);

        int allowed = 0;
        bool only_eog = true;
        float second = -INFINITY;
        for (size_t i = 0; i < arr.size; i++) {
            if (!isfinite(arr.data[i].logit)) continue;
            allowed++;
            if (!llama_vocab_is_eog(vocab, arr.data[i].id)) only_eog = false;
            if ((int64_t)i != arr.selected && arr.data[i].logit > second) second = arr.data[i].logit;
        }
        gen[n_gen] = id;
        n_allowed[n_gen] = allowed;
        margin[n_gen] = allowed > 1 ? best - second : NAN;
        n_gen++;

        if (llama_vocab_is_eog(vocab, id)) {
            stopped = only_eog ? "grammar" : "eos";
            break;
        }
        llama_sampler_accept(chain, id);
        if (step + 1 < max_tokens) decode(ctx, &gen[n_gen - 1], 1, n_prompt + step);
    }

    printf("{\"n_vocab\": %d, \"prompt_tokens\": [", n_vocab);
    for (int i = 0; i < n_prompt; i++) printf(i ? ", %d" : "%d", ptoks[i]);
    printf("], \"tokens\": [");
    for (int i = 0; i < n_gen; i++) printf(i ? ", %d" : "%d", gen[i]);
    printf("], \"pieces_hex\": [");
    for (int i = 0; i < n_gen; i++) {
        int len;
        char *p = token_piece(vocab, gen[i], &len);
        if (i) fputs(", ", stdout);
        put_hex(p, len);
        free(p);
    }
    printf("], \"n_allowed\": [");
    for (int i = 0; i < n_gen; i++) printf(i ? ", %d" : "%d", n_allowed[i]);
    printf("], \"margins\": [");
    for (int i = 0; i < n_gen; i++) {
        if (i) fputs(", ", stdout);
        if (isnan(margin[i])) fputs("null", stdout); else printf("%.9g", (double)margin[i]);
    }
    printf("], \"stopped\": \"%s\"}\n", stopped);
    fflush(stdout);

    llama_sampler_free(chain);
    llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    free(cand); free(margin); free(n_allowed); free(gen); free(ptoks); free(prompt); free(grammar);
    return 0;
}
