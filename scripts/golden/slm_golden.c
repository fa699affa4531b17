// slm_golden: writes reference ("golden") greedy generations and logits from llama.cpp as JSON.
//
// Our own small tool against the public C API in llama.h; built and run by scripts/make-goldens.sh.
//
//   slm_golden MODEL.gguf INPUT N_PREDICT N_LOGITS TOP_K > out.json
//
// INPUT is a file of NUL-terminated fields, in pairs: name, text. Every pair is a generation
// prompt except the one named "__logits__", whose text is used for the all-positions logits check.
// Extra metadata fields may be passed in the environment: SLM_GOLDEN_MODEL_NAME,
// SLM_GOLDEN_MODEL_SHA256, SLM_GOLDEN_REFERENCE. SLM_GOLDEN_CACHE_TYPE_K / SLM_GOLDEN_CACHE_TYPE_V
// (f16, q8_0, q4_0; default f16) set the KV cache types, as -ctk / -ctv do; flash attention is then
// enabled explicitly (llama.cpp needs it for a quantized V).
//
// Behaviour (see DESIGN.md "Correctness"):
//  - CPU only, n_ctx 2048, n_batch 2048, 2 threads, library defaults otherwise.
//  - Tokenization like llama-simple: add_special = true, parse_special = true.
//  - Each prompt runs in a fresh context: decode the prompt in one batch, then greedy-generate exactly
//    N_PREDICT tokens one at a time (argmax, lowest id wins ties, like llama_sampler_init_greedy),
//    without stopping at end-of-generation tokens; the index of the first EOG token is recorded.
//  - Logits: the logits text is tokenized the same way and truncated to N_LOGITS tokens, decoded in
//    one batch with outputs at every position; the TOP_K largest (id, logit) pairs per position are
//    written, sorted by logit descending (ties: lower id first).
#include "llama.h"

#include <locale.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_CTX 2048
#define N_THREADS 2

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "slm_golden: error: ");
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

// ---------------------------------------------------------------------------------------------
// JSON output

// Length of the valid UTF-8 sequence starting at s (at most n bytes), or 0 if invalid
// (truncated, overlong, surrogate, above U+10FFFF, stray continuation byte).
static size_t utf8_seq_len(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
    else return 0;
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return 0;
    if (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) return 0;
    return len;
}

// Writes bytes as a JSON string. Valid UTF-8 is copied; '"', '\\' and control characters
// (U+0000..U+001F, U+007F) are escaped; each byte that is not part of valid UTF-8 becomes U+FFFD
// (the exact bytes are available separately as hex where that matters).
static void json_str(FILE *f, const char *bytes, size_t n) {
    const unsigned char *s = (const unsigned char *)bytes;
    fputc('"', f);
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c == '"') { fputs("\\\"", f); i++; continue; }
        if (c == '\\') { fputs("\\\\", f); i++; continue; }
        if (c == '\n') { fputs("\\n", f); i++; continue; }
        if (c == '\r') { fputs("\\r", f); i++; continue; }
        if (c == '\t') { fputs("\\t", f); i++; continue; }
        if (c < 0x20 || c == 0x7F) { fprintf(f, "\\u%04x", c); i++; continue; }
        size_t len = utf8_seq_len(s + i, n - i);
        if (len == 0) { fputs("\\ufffd", f); i++; continue; }
        fwrite(s + i, 1, len, f);
        i += len;
    }
    fputc('"', f);
}

static void json_hex(FILE *f, const char *bytes, size_t n) {
    fputc('"', f);
    for (size_t i = 0; i < n; i++) fprintf(f, "%02x", (unsigned char)bytes[i]);
    fputc('"', f);
}

// Shortest round-trip representation of a float (as JSON number).
static void json_float(FILE *f, float v) {
    char buf[32];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v) break;
    }
    fputs(buf, f);
}

static void json_tokens(FILE *f, const llama_token *t, int n) {
    fputc('[', f);
    for (int i = 0; i < n; i++) fprintf(f, i ? ", %d" : "%d", t[i]);
    fputc(']', f);
}

// ---------------------------------------------------------------------------------------------
// llama helpers

typedef struct { char *data; size_t len; } bytes_t;

static bytes_t token_piece(const struct llama_vocab *vocab, llama_token tok) {
    int cap = 64;
    for (;;) {
        char *buf = xmalloc((size_t)cap);
        int n = llama_token_to_piece(vocab, tok, buf, cap, 0, true);
        if (n >= 0) return (bytes_t){buf, (size_t)n};
        free(buf);
        cap = -n + 1;
    }
}

static llama_token *tokenize(const struct llama_vocab *vocab, const char *text, int *n_out) {
    int len = (int)strlen(text);
    int n = -llama_tokenize(vocab, text, len, NULL, 0, true, true);
    if (n <= 0) die("tokenize failed (%d) for: %s", n, text);
    llama_token *toks = xmalloc(sizeof(llama_token) * (size_t)n);
    if (llama_tokenize(vocab, text, len, toks, n, true, true) != n) die("tokenize mismatch");
    *n_out = n;
    return toks;
}

// A KV cache type named in the environment variable `name` (unset: F16).
static enum ggml_type cache_type(const char *name) {
    const char *v = getenv(name);
    if (!v || !*v || strcmp(v, "f16") == 0) return GGML_TYPE_F16;
    if (strcmp(v, "q8_0") == 0) return GGML_TYPE_Q8_0;
    if (strcmp(v, "q4_0") == 0) return GGML_TYPE_Q4_0;
    die("%s=%s: not a KV cache type (f16, q8_0, q4_0)", name, v);
    return GGML_TYPE_F16;
}

static struct llama_context *new_context(struct llama_model *model) {
    struct llama_context_params cp = llama_context_default_params();
    cp.type_k = cache_type("SLM_GOLDEN_CACHE_TYPE_K");
    cp.type_v = cache_type("SLM_GOLDEN_CACHE_TYPE_V");
    if (cp.type_k != GGML_TYPE_F16 || cp.type_v != GGML_TYPE_F16) cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_ENABLED;
    cp.n_ctx = N_CTX;
    cp.n_batch = N_CTX;
    cp.n_threads = N_THREADS;
    cp.n_threads_batch = N_THREADS;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (!ctx) die("llama_init_from_model failed");
    return ctx;
}

// Decodes tokens at positions pos0.. in sequence 0, with outputs at every position if all_logits,
// else only at the last one.
static void decode(struct llama_context *ctx, const llama_token *toks, int n, int pos0, bool all_logits) {
    struct llama_batch b = llama_batch_init(n, 0, 1);
    for (int i = 0; i < n; i++) {
        b.token[i] = toks[i];
        b.pos[i] = pos0 + i;
        b.n_seq_id[i] = 1;
        b.seq_id[i][0] = 0;
        b.logits[i] = (int8_t)(all_logits || i == n - 1);
    }
    b.n_tokens = n;
    int rc = llama_decode(ctx, b);
    llama_batch_free(b);
    if (rc != 0) die("llama_decode returned %d", rc);
}

typedef struct { llama_token id; float logit; } cand_t;

// Top-k (id, logit) by logit descending, ties by lower id; returns k' = min(k, n_vocab).
static int top_k(const float *logits, int n_vocab, int k, cand_t *out) {
    int m = 0;
    for (int id = 0; id < n_vocab; id++) {
        float v = logits[id];
        if (m == k && !(v > out[m - 1].logit)) continue;  // ids ascend, so ties keep the earlier id
        int j = (m < k) ? m++ : m - 1;
        while (j > 0 && v > out[j - 1].logit) { out[j] = out[j - 1]; j--; }
        out[j].id = id;
        out[j].logit = v;
    }
    return m;
}

// ---------------------------------------------------------------------------------------------

typedef struct { char *name; char *text; } prompt_t;

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) die("cannot open %s", path);
    size_t cap = 1 << 16, n = 0;
    char *buf = xmalloc(cap + 1);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) { cap *= 2; buf = realloc(buf, cap + 1); if (!buf) die("out of memory"); }
    }
    fclose(f);
    buf[n] = 0;
    *len = n;
    return buf;
}

static void generate(FILE *out, struct llama_model *model, const struct llama_vocab *vocab,
                     const prompt_t *p, int n_predict, int n_vocab, bool last) {
    int n_prompt;
    llama_token *ptoks = tokenize(vocab, p->text, &n_prompt);
    if (n_prompt + n_predict > N_CTX) die("prompt %s too long (%d tokens)", p->name, n_prompt);

    struct llama_context *ctx = new_context(model);
    llama_token *gen = xmalloc(sizeof(llama_token) * (size_t)n_predict);
    float *margin = xmalloc(sizeof(float) * (size_t)n_predict);
    bytes_t *pieces = xmalloc(sizeof(bytes_t) * (size_t)n_predict);
    int first_eog = -1;

    decode(ctx, ptoks, n_prompt, 0, false);
    for (int step = 0; step < n_predict; step++) {
        const float *logits = llama_get_logits_ith(ctx, -1);
        if (!logits) die("no logits at step %d", step);
        cand_t top[2];
        top_k(logits, n_vocab, 2, top);
        gen[step] = top[0].id;
        margin[step] = top[0].logit - top[1].logit;
        pieces[step] = token_piece(vocab, top[0].id);
        if (first_eog < 0 && llama_vocab_is_eog(vocab, top[0].id)) first_eog = step;
        if (step + 1 < n_predict) decode(ctx, &gen[step], 1, n_prompt + step, false);
    }
    llama_free(ctx);

    size_t text_len = 0;
    for (int i = 0; i < n_predict; i++) text_len += pieces[i].len;
    char *text = xmalloc(text_len + 1);
    size_t off = 0;
    for (int i = 0; i < n_predict; i++) { memcpy(text + off, pieces[i].data, pieces[i].len); off += pieces[i].len; }

    fprintf(out, "    {\n      \"name\": ");
    json_str(out, p->name, strlen(p->name));
    fprintf(out, ",\n      \"prompt\": ");
    json_str(out, p->text, strlen(p->text));
    fprintf(out, ",\n      \"prompt_tokens\": ");
    json_tokens(out, ptoks, n_prompt);
    fprintf(out, ",\n      \"tokens\": ");
    json_tokens(out, gen, n_predict);
    fprintf(out, ",\n      \"pieces\": [");
    for (int i = 0; i < n_predict; i++) {
        if (i) fputs(", ", out);
        json_str(out, pieces[i].data, pieces[i].len);
    }
    fprintf(out, "],\n      \"pieces_hex\": [");
    for (int i = 0; i < n_predict; i++) {
        if (i) fputs(", ", out);
        json_hex(out, pieces[i].data, pieces[i].len);
    }
    fprintf(out, "],\n      \"text\": ");
    json_str(out, text, text_len);
    fprintf(out, ",\n      \"top2_margin\": [");
    for (int i = 0; i < n_predict; i++) {
        if (i) fputs(", ", out);
        json_float(out, margin[i]);
    }
    fprintf(out, "],\n      \"first_eog\": ");
    if (first_eog < 0) fputs("null", out); else fprintf(out, "%d", first_eog);
    fprintf(out, "\n    }%s\n", last ? "" : ",");

    float min_margin = margin[0];
    for (int i = 1; i < n_predict; i++) if (margin[i] < min_margin) min_margin = margin[i];
    fprintf(stderr, "slm_golden: %-12s prompt %3d tokens, min top2 margin %.4f, first_eog %d\n",
            p->name, n_prompt, (double)min_margin, first_eog);

    for (int i = 0; i < n_predict; i++) free(pieces[i].data);
    free(pieces); free(text); free(margin); free(gen); free(ptoks);
}

static void logits_check(FILE *out, struct llama_model *model, const struct llama_vocab *vocab,
                         const char *text, int n_want, int k, int n_vocab) {
    int n_all;
    llama_token *toks = tokenize(vocab, text, &n_all);
    if (n_all < n_want) die("logits text has only %d tokens, need %d", n_all, n_want);
    if (n_all != n_want)
        fprintf(stderr, "slm_golden: note: logits text has %d tokens, using the first %d\n", n_all, n_want);

    struct llama_context *ctx = new_context(model);
    decode(ctx, toks, n_want, 0, true);
    cand_t *top = xmalloc(sizeof(cand_t) * (size_t)k);

    fprintf(out, "  \"logits\": {\n    \"text\": ");
    json_str(out, text, strlen(text));
    fprintf(out, ",\n    \"text_n_tokens\": %d,\n    \"n_tokens\": %d,\n    \"top_k\": %d,\n    \"tokens\": ",
            n_all, n_want, k);
    json_tokens(out, toks, n_want);
    fprintf(out, ",\n    \"top\": [\n");
    for (int i = 0; i < n_want; i++) {
        const float *lg = llama_get_logits_ith(ctx, i);
        if (!lg) die("no logits at position %d", i);
        int m = top_k(lg, n_vocab, k, top);
        fputs("      [", out);
        for (int j = 0; j < m; j++) {
            fprintf(out, j ? ", [%d, " : "[%d, ", top[j].id);
            json_float(out, top[j].logit);
            fputc(']', out);
        }
        fprintf(out, "]%s\n", i + 1 < n_want ? "," : "");
    }
    fprintf(out, "    ]\n  }\n");
    llama_free(ctx);
    free(top);
    free(toks);
}

static const char *env_or(const char *name, const char *dflt) {
    const char *v = getenv(name);
    return (v && *v) ? v : dflt;
}

int main(int argc, char **argv) {
    setlocale(LC_NUMERIC, "C");
    if (argc != 6) {
        fprintf(stderr, "usage: %s MODEL.gguf INPUT N_PREDICT N_LOGITS TOP_K > out.json\n", argv[0]);
        return 2;
    }
    const char *model_path = argv[1];
    int n_predict = atoi(argv[3]), n_logits = atoi(argv[4]), k = atoi(argv[5]);
    if (n_predict < 1 || n_logits < 1 || k < 2) die("bad numeric arguments");

    size_t in_len;
    char *in = read_file(argv[2], &in_len);
    prompt_t prompts[256];
    int n_prompts = 0;
    const char *logits_text = NULL;
    for (size_t off = 0; off < in_len;) {
        char *name = in + off;
        off += strlen(name) + 1;
        if (off >= in_len) die("input: field without text: %s", name);
        char *text = in + off;
        off += strlen(text) + 1;
        if (strcmp(name, "__logits__") == 0) { logits_text = text; continue; }
        if (n_prompts == 256) die("too many prompts");
        prompts[n_prompts++] = (prompt_t){name, text};
    }

    llama_log_set(quiet_log, NULL);
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    struct llama_model *model = llama_model_load_from_file(model_path, mp);
    if (!model) die("cannot load %s", model_path);
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    int n_vocab = llama_vocab_n_tokens(vocab);

    const char *base = strrchr(model_path, '/');
    base = base ? base + 1 : model_path;
    FILE *out = stdout;
    fprintf(out, "{\n  \"format\": \"slm-golden-v1\",\n  \"reference\": ");
    const char *ref = env_or("SLM_GOLDEN_REFERENCE", "llama.cpp");
    json_str(out, ref, strlen(ref));
    fprintf(out, ",\n  \"model\": ");
    const char *mname = env_or("SLM_GOLDEN_MODEL_NAME", base);
    json_str(out, mname, strlen(mname));
    fprintf(out, ",\n  \"model_sha256\": ");
    const char *sha = env_or("SLM_GOLDEN_MODEL_SHA256", "");
    json_str(out, sha, strlen(sha));
    fprintf(out, ",\n  \"n_vocab\": %d,\n  \"n_predict\": %d,\n", n_vocab, n_predict);
    fprintf(out, "  \"settings\": {\"n_ctx\": %d, \"n_batch\": %d, \"n_threads\": %d, \"backend\": \"cpu\", "
                 "\"cache_type_k\": \"%s\", \"cache_type_v\": \"%s\", ",
            N_CTX, N_CTX, N_THREADS, env_or("SLM_GOLDEN_CACHE_TYPE_K", "f16"), env_or("SLM_GOLDEN_CACHE_TYPE_V", "f16"));
    fprintf(out, "\"add_special\": true, \"parse_special\": true, "
                 "\"sampling\": \"greedy argmax, lowest id on ties, no stop at EOG\"},\n");
    fprintf(out, "  \"generations\": [\n");
    for (int i = 0; i < n_prompts; i++)
        generate(out, model, vocab, &prompts[i], n_predict, n_vocab, i + 1 == n_prompts);
    fprintf(out, "  ]%s\n", logits_text ? "," : "");
    if (logits_text) logits_check(out, model, vocab, logits_text, n_logits, k, n_vocab);
    fprintf(out, "}\n");
    fflush(out);

    llama_model_free(model);
    llama_backend_free();
    free(in);
    return 0;
}
