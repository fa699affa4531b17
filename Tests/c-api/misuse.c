/* Misuse of the C API: every call with NULL for each pointer argument, bad values, a missing file,
 * corrupt GGUF files, a too-small token buffer, cancel from another thread, re-entrant calls,
 * a full context, free(NULL). Each must return its documented status with a message, and nothing
 * may crash. Run by scripts/test-c-api.sh (also under valgrind).
 *
 *   misuse MODEL.gguf SCRATCH_DIR [--light]
 *
 * --light (used under valgrind, where each token costs seconds) skips the parts that run the
 * model for many tokens: filling a context by generation, the repeat_last_n generations, and the
 * chat turns in the store (the chat example covers those under valgrind).
 */
#define _POSIX_C_SOURCE 200809L
#include <slm.h>

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int failures = 0, checks = 0;

#define CHECK(cond, ...) do { checks++; if (!(cond)) { failures++; fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
    fprintf(stderr, __VA_ARGS__); fprintf(stderr, "\n"); } } while (0)

/* The call returned `expected` and left a non-empty message. */
#define EXPECT_STATUS(call, expected) do { slm_status s_ = (call); \
    CHECK(s_ == (expected), "%s: got %s (%s), expected %s", #call, slm_status_string(s_), slm_last_error(), slm_status_string(expected)); \
    if ((expected) != SLM_OK) CHECK(slm_last_error()[0] != '\0', "%s: no message", #call); \
    else CHECK(slm_last_error()[0] == '\0', "%s: message after success: %s", #call, slm_last_error()); } while (0)

static void write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); exit(2); }
    fwrite(data, 1, len, f);
    fclose(f);
}

static bool count_pieces(const char *piece, size_t len, void *user_data) {
    CHECK(piece != NULL && strlen(piece) == len, "piece is not NUL-terminated at its length");
    (*(int *)user_data)++;
    return true;
}

static bool stop_after_three(const char *piece, size_t len, void *user_data) {
    (void)piece; (void)len;
    return ++*(int *)user_data < 3;
}

/* A sampling value the library must refuse before running anything, naming the field. */
static void expect_refused(slm_session *session, slm_sampling_params params, const char *field) {
    int pieces = 0;
    slm_status status = slm_generate(session, "Hello", &params, count_pieces, &pieces);
    CHECK(status == SLM_ERR_INVALID_ARGUMENT, "bad %s: got %s", field, slm_status_string(status));
    CHECK(strncmp(slm_last_error(), field, strlen(field)) == 0, "the message names %s: %s", field, slm_last_error());
    CHECK(pieces == 0, "bad %s: callback called", field);
}

struct text { char bytes[2048]; size_t len; };
static bool collect(const char *piece, size_t len, void *user_data) {
    struct text *t = user_data;
    if (t->len + len < sizeof t->bytes) { memcpy(t->bytes + t->len, piece, len); t->len += len; t->bytes[t->len] = '\0'; }
    return true;
}

struct reentry { slm_session *session; slm_status inner; int calls; };
static bool reenter(const char *piece, size_t len, void *user_data) {
    struct reentry *r = user_data;
    (void)piece; (void)len;
    if (r->calls++ == 0) {
        r->inner = slm_generate(r->session, "again", NULL, NULL, NULL);
        CHECK(slm_session_reset(r->session) == SLM_ERR_INVALID_ARGUMENT, "reset during a call must fail");
        /* Every session function honours the busy guard, the statistics included. */
        slm_stats during;
        CHECK(slm_session_stats(r->session, &during) == SLM_ERR_INVALID_ARGUMENT, "stats during a call must fail");
        CHECK(slm_chat(r->session, "hi", NULL, NULL, NULL) == SLM_ERR_INVALID_ARGUMENT, "chat during a call must fail");
        CHECK(slm_session_detach(r->session) == SLM_ERR_INVALID_ARGUMENT, "detach during a call must fail");
    }
    return true;
}

/* Cancel from another thread: the callback announces the first piece and waits until the thread
 * has cancelled, so the test does not depend on how the threads are scheduled (valgrind runs one
 * thread at a time and could let the generation finish before the other thread ran). */
struct canceller { slm_session *session; pthread_mutex_t lock; pthread_cond_t started_cond; int started, cancelled; };
static bool announce(const char *piece, size_t len, void *user_data) {
    struct canceller *c = user_data;
    (void)piece; (void)len;
    pthread_mutex_lock(&c->lock);
    c->started = 1;
    pthread_cond_broadcast(&c->started_cond);
    while (!c->cancelled) pthread_cond_wait(&c->started_cond, &c->lock);
    pthread_mutex_unlock(&c->lock);
    return true;
}
static void *cancel_when_started(void *arg) {
    struct canceller *c = arg;
    pthread_mutex_lock(&c->lock);
    while (!c->started) pthread_cond_wait(&c->started_cond, &c->lock);
    pthread_mutex_unlock(&c->lock);
    slm_session_cancel(c->session);
    pthread_mutex_lock(&c->lock);
    c->cancelled = 1;
    pthread_cond_broadcast(&c->started_cond);
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

static void *error_on_other_thread(void *arg) {
    (void)arg;
    CHECK(slm_last_error()[0] == '\0', "another thread's error leaked into this thread: %s", slm_last_error());
    slm_model *m = NULL;
    CHECK(slm_model_load(NULL, NULL, &m) == SLM_ERR_INVALID_ARGUMENT, "load(NULL) on a thread");
    return NULL;
}

/* The calling thread's allowed CPUs as the kernel lists them ("0-3"), or "" when unknown. */
static void allowed_cpus(char *out, size_t size) {
    out[0] = '\0';
    FILE *status = fopen("/proc/thread-self/status", "r");
    if (!status) return;
    char line[4096];
    while (fgets(line, sizeof line, status)) {
        if (strncmp(line, "Cpus_allowed_list:", 18) == 0) {
            snprintf(out, size, "%s", line + 18);
            break;
        }
    }
    fclose(status);
}

/* Threads of this process (Linux /proc), or -1 when it cannot tell. */
static int threads_in_process(void) {
    DIR *dir = opendir("/proc/self/task");
    if (!dir) return -1;
    int count = 0;
    for (struct dirent *entry; (entry = readdir(dir)) != NULL;) count += entry->d_name[0] != '.';
    closedir(dir);
    return count;
}

/* The thread count once it is back at `expected`, or after 2 s. A joined thread can still be
 * listed in /proc for a moment after pthread_join returns (the kernel wakes the joiner before it
 * has reaped the thread; under valgrind that moment is long), so only a leak keeps the count up. */
static int threads_in_process_settled(int expected) {
    int count = threads_in_process();
    for (int i = 0; i < 200 && count != expected; i++) {
        struct timespec pause = {0, 10 * 1000 * 1000};
        nanosleep(&pause, NULL);
        count = threads_in_process();
    }
    return count;
}

static bool no_conversation(const slm_conversation *c, void *user_data) { (void)c; (void)user_data; return true; }
static bool no_message(const slm_message *m, void *user_data) { (void)m; (void)user_data; return true; }

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: %s MODEL.gguf SCRATCH_DIR\n", argv[0]); return 2; }
    const char *model_path = argv[1];
    const bool light = argc > 3 && strcmp(argv[3], "--light") == 0;
    char path[4096];

    /* Library information and statuses. */
    CHECK(slm_abi_version() == SLM_ABI_VERSION, "abi %u", (unsigned)slm_abi_version());
    CHECK(slm_version() && slm_version()[0], "version");
    CHECK(strcmp(slm_status_string(SLM_ERR_CONTEXT_FULL), "SLM_ERR_CONTEXT_FULL") == 0, "status string");
    CHECK(strcmp(slm_status_string((slm_status)42), "SLM_ERR_UNKNOWN") == 0, "unknown status string");
    for (int s = 0; s >= -9; s--) CHECK(slm_status_string((slm_status)s)[0] != '\0', "status %d", s);
    CHECK(slm_last_error() && slm_last_error()[0] == '\0', "initial last error not empty");

    /* free(NULL) is a no-op; cancel(NULL) too. */
    slm_model_free(NULL);
    slm_session_free(NULL);
    slm_store_close(NULL);
    slm_session_cancel(NULL);

    /* Loading: NULL pointers, bad parameters, missing and corrupt files. */
    slm_model *model = NULL;
    slm_model_params params = slm_model_default_params();
    EXPECT_STATUS(slm_model_load(NULL, NULL, &model), SLM_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(slm_model_load(model_path, NULL, NULL), SLM_ERR_INVALID_ARGUMENT);
    params.n_threads = -1;
    EXPECT_STATUS(slm_model_load(model_path, &params, &model), SLM_ERR_INVALID_ARGUMENT);
    params = slm_model_default_params();
    params.context_length = 3;
    EXPECT_STATUS(slm_model_load(model_path, &params, &model), SLM_ERR_INVALID_ARGUMENT);
    params = slm_model_default_params();
    params.n_cpus = 2;
    EXPECT_STATUS(slm_model_load(model_path, &params, &model), SLM_ERR_INVALID_ARGUMENT);
    /* size_t values are unsigned: SIZE_MAX (or -1 cast to size_t) is refused, not read as -1. */
    int32_t two_cpus[] = {0, 1};
    params.cpus = two_cpus;
    params.n_cpus = SIZE_MAX;
    EXPECT_STATUS(slm_model_load(model_path, &params, &model), SLM_ERR_INVALID_ARGUMENT);
    CHECK(strstr(slm_last_error(), "n_cpus") != NULL, "message names n_cpus: %s", slm_last_error());
    params.n_cpus = (size_t)-2;
    EXPECT_STATUS(slm_model_load(model_path, &params, &model), SLM_ERR_INVALID_ARGUMENT);
    params.n_cpus = 2;
    int32_t negative_cpu[] = {0, -3};
    params.cpus = negative_cpu;
    EXPECT_STATUS(slm_model_load(model_path, &params, &model), SLM_ERR_INVALID_ARGUMENT);
    int32_t missing_cpu[] = {0, 4000};  /* no such CPU: refused, not silently unpinned */
    params.cpus = missing_cpu;
    EXPECT_STATUS(slm_model_load(model_path, &params, &model), SLM_ERR_INVALID_ARGUMENT);
    CHECK(strstr(slm_last_error(), "4000") != NULL, "message names the CPU: %s", slm_last_error());
    CHECK(model == NULL, "out_model written on failure");
    params = slm_model_default_params();
    CHECK(params.cache_type_k == SLM_CACHE_F16 && params.cache_type_v == SLM_CACHE_F16, "cache type defaults");
    params.cache_type_v = 7;
    EXPECT_STATUS(slm_model_load(model_path, &params, &model), SLM_ERR_INVALID_ARGUMENT);
    CHECK(strstr(slm_last_error(), "cache_type_v") != NULL, "message names cache_type_v: %s", slm_last_error());
    params.cache_type_v = SLM_CACHE_F16;
    params.cache_type_k = -1;
    EXPECT_STATUS(slm_model_load(model_path, &params, &model), SLM_ERR_INVALID_ARGUMENT);
    CHECK(model == NULL, "out_model written on failure");
    /* A quantized cache: a session on it generates the same greedy start as F16 for this prompt. */
    {
        slm_model *q8 = NULL;
        params = slm_model_default_params();
        params.n_threads = 1;
        params.context_length = 128;
        params.cache_type_k = SLM_CACHE_Q8_0;
        params.cache_type_v = SLM_CACHE_Q8_0;
        EXPECT_STATUS(slm_model_load(model_path, &params, &q8), SLM_OK);
        slm_session *s = NULL;
        if (q8) EXPECT_STATUS(slm_session_create(q8, &s), SLM_OK);
        if (s) {
            slm_sampling_params sp = slm_sampling_default_params();
            sp.temperature = 0;
            sp.max_tokens = 8;
            struct text out = {{0}, 0};
            EXPECT_STATUS(slm_generate(s, "The capital of France is", &sp, collect, &out), SLM_OK);
            CHECK(strstr(out.bytes, "Paris") != NULL, "q8_0 cache output: %s", out.bytes);
        }
        slm_session_free(s);
        slm_model_free(q8);
    }

    snprintf(path, sizeof path, "%s/does-not-exist.gguf", argv[2]);
    EXPECT_STATUS(slm_model_load(path, NULL, &model), SLM_ERR_IO);
    CHECK(strstr(slm_last_error(), "does-not-exist.gguf") != NULL, "message names the file: %s", slm_last_error());
    EXPECT_STATUS(slm_model_load(argv[2], NULL, &model), SLM_ERR_IO);  /* a directory */

    snprintf(path, sizeof path, "%s/not-gguf.gguf", argv[2]);
    write_file(path, "this is not a model at all", 26);
    EXPECT_STATUS(slm_model_load(path, NULL, &model), SLM_ERR_FORMAT);
    snprintf(path, sizeof path, "%s/truncated.gguf", argv[2]);
    /* "GGUF", version 3, 5 tensors, 1000 metadata entries, and then the file ends. */
    const unsigned char truncated[] = {'G', 'G', 'U', 'F', 3, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0xe8, 3, 0, 0, 0, 0, 0, 0, 7, 0};
    write_file(path, truncated, sizeof truncated);
    EXPECT_STATUS(slm_model_load(path, NULL, &model), SLM_ERR_FORMAT);
    snprintf(path, sizeof path, "%s/empty.gguf", argv[2]);
    write_file(path, "", 0);
    EXPECT_STATUS(slm_model_load(path, NULL, &model), SLM_ERR_FORMAT);
    CHECK(model == NULL, "out_model written on failure");

    params = slm_model_default_params();
    params.n_threads = 1;
    params.context_length = 256;
    EXPECT_STATUS(slm_model_load(model_path, &params, &model), SLM_OK);
    if (!model) { fprintf(stderr, "cannot load %s; stopping\n", model_path); return 1; }

    /* The error message is thread-local. */
    EXPECT_STATUS(slm_model_load(NULL, NULL, &model), SLM_ERR_INVALID_ARGUMENT);
    pthread_t thread;
    pthread_create(&thread, NULL, error_on_other_thread, NULL);
    pthread_join(thread, NULL);
    CHECK(strstr(slm_last_error(), "path") != NULL, "this thread's message changed: %s", slm_last_error());

    /* Tokenize: NULLs, negative size, too-small buffer. */
    const char *text = "The capital of France is";
    int32_t tokens[64];
    CHECK(slm_tokenize(NULL, text, strlen(text), tokens, 64, true, true) == INT32_MIN && slm_last_error()[0], "tokenize NULL model");
    CHECK(slm_tokenize(model, NULL, 3, tokens, 64, true, true) == INT32_MIN && slm_last_error()[0], "tokenize NULL text");
    CHECK(slm_tokenize(model, text, strlen(text), NULL, 4, true, true) == INT32_MIN && slm_last_error()[0], "tokenize NULL tokens");
    CHECK(slm_tokenize(model, text, strlen(text), tokens, -1, true, true) == INT32_MIN && slm_last_error()[0], "tokenize negative max");
    CHECK(slm_tokenize(model, text, SIZE_MAX, tokens, 64, true, true) == INT32_MIN && strstr(slm_last_error(), "at most"),
          "tokenize SIZE_MAX length: %s", slm_last_error());
    CHECK(slm_tokenize(model, text, SIZE_MAX / 2 + 1, NULL, 0, true, true) == INT32_MIN, "tokenize SIZE_MAX / 2 + 1 length");
    CHECK(slm_tokenize(model, text, ((size_t)64 << 20) + 1, NULL, 0, true, true) == INT32_MIN, "tokenize 64 MiB + 1 length");
    int32_t n = slm_tokenize(model, text, strlen(text), tokens, 64, true, true);
    CHECK(n == 5 && tokens[0] == 504 && tokens[4] == 314, "tokenize: %d tokens", (int)n);
    CHECK(slm_tokenize(model, text, strlen(text), tokens, 2, true, true) == -5 && slm_last_error()[0], "too-small buffer");
    CHECK(slm_tokenize(model, text, strlen(text), NULL, 0, true, true) == -5, "size query");
    CHECK(slm_tokenize(model, text, strlen(text), tokens, 5, true, true) == 5, "exact buffer");
    CHECK(slm_tokenize(model, "", 0, NULL, 0, false, false) == 0, "empty text");
    CHECK(slm_tokenize(model, "ab\xff", 3, tokens, 64, false, false) > 0, "invalid UTF-8 is tokenized as U+FFFD");

    /* Embeddings (a decoder's, mean pooling): sizes, the needed-size convention, refusals. */
    {
        const char *texts[] = {"The capital of France is Paris.", "Bananas are yellow."};
        int32_t width = slm_embedding_size(model);
        CHECK(width == 576 && slm_embedding_size(NULL) == -1, "embedding size %d", (int)width);
        slm_embed_params ep = slm_embed_default_params();
        CHECK(ep.pooling == SLM_POOLING_MODEL && ep.dims == 0 && ep.normalize && !ep.truncate, "embed defaults");
        CHECK(slm_embed(model, texts, 2, &ep, NULL, 0) == -2 * width, "embed size query");
        static float vectors[2 * 576];
        uint8_t bits[2 * 72];
        CHECK(slm_embed(model, texts, 2, NULL, vectors, 2 * width) == 2 * width, "embed: %s", slm_last_error());
        double norm = 0;
        for (int k = 0; k < width; k++) norm += (double)vectors[width + k] * vectors[width + k];
        CHECK(norm > 0.9999 && norm < 1.0001, "embedding norm %f", norm);
        CHECK(slm_embed_binary(model, texts, 2, &ep, bits, (int32_t)sizeof bits) == 144, "binary: %s", slm_last_error());
        for (int k = 0; k < width; k++)
            CHECK(((bits[k / 8] >> (7 - k % 8)) & 1) == (vectors[k] > 0), "sign bit %d", k);
        ep.dims = 64;
        CHECK(slm_embed(model, texts, 2, &ep, vectors, 2 * width) == 128, "dims 64: %s", slm_last_error());
        CHECK(slm_embed(model, texts, 2, &ep, vectors, 127) == -128, "dims 64 too small");
        CHECK(slm_embed(model, NULL, 2, &ep, vectors, 128) == INT32_MIN && slm_last_error()[0], "embed NULL texts");
        CHECK(slm_embed(NULL, texts, 2, &ep, vectors, 128) == INT32_MIN, "embed NULL model");
        CHECK(slm_embed(model, texts, 0, &ep, vectors, 128) == INT32_MIN, "embed no texts");
        CHECK(slm_embed(model, texts, SIZE_MAX, &ep, vectors, 128) == INT32_MIN, "embed SIZE_MAX texts");
        CHECK(slm_embed(model, texts, 2, &ep, NULL, 128) == INT32_MIN, "embed NULL out");
        CHECK(slm_embed(model, texts, 2, &ep, vectors, -1) == INT32_MIN, "embed negative size");
        const char *with_null[] = {"a", NULL};
        CHECK(slm_embed(model, with_null, 2, &ep, vectors, 128) == INT32_MIN && strstr(slm_last_error(), "texts[1]"),
              "embed NULL text: %s", slm_last_error());
        slm_embed_params bad_embed = ep;
        bad_embed.pooling = 0;
        CHECK(slm_embed(model, texts, 2, &bad_embed, vectors, 128) == INT32_MIN && strstr(slm_last_error(), "pooling"),
              "pooling none refused: %s", slm_last_error());
        bad_embed = ep;
        bad_embed.dims = width + 1;
        CHECK(slm_embed(model, texts, 2, &bad_embed, vectors, 2 * width) == INT32_MIN && strstr(slm_last_error(), "dims"),
              "dims too large: %s", slm_last_error());
        CHECK(sizeof(slm_embed_params) == 12, "slm_embed_params size %zu", sizeof(slm_embed_params));
    }

    /* Sessions. */
    slm_session *session = NULL;
    EXPECT_STATUS(slm_session_create(NULL, &session), SLM_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(slm_session_create(model, NULL), SLM_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(slm_session_create(model, &session), SLM_OK);
    slm_stats stats;
    EXPECT_STATUS(slm_session_stats(NULL, &stats), SLM_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(slm_session_stats(session, NULL), SLM_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(slm_session_stats(session, &stats), SLM_OK);
    CHECK(stats.prompt_tokens == 0 && stats.generated_tokens == 0, "stats before any call");
    EXPECT_STATUS(slm_session_reset(NULL), SLM_ERR_INVALID_ARGUMENT);

    slm_sampling_params sampling = slm_sampling_default_params();
    sampling.temperature = 0;
    sampling.max_tokens = 4;
    int pieces = 0;
    EXPECT_STATUS(slm_generate(NULL, text, &sampling, count_pieces, &pieces), SLM_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(slm_generate(session, NULL, &sampling, count_pieces, &pieces), SLM_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(slm_generate(session, "", &sampling, count_pieces, &pieces), SLM_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(slm_chat(NULL, "hi", &sampling, count_pieces, &pieces), SLM_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(slm_chat(session, NULL, &sampling, count_pieces, &pieces), SLM_ERR_INVALID_ARGUMENT);
    slm_sampling_params bad = sampling;
    bad.top_p = 0;
    EXPECT_STATUS(slm_generate(session, text, &bad, count_pieces, &pieces), SLM_ERR_INVALID_ARGUMENT);
    bad = sampling;
    bad.max_tokens = -2;
    EXPECT_STATUS(slm_generate(session, text, &bad, count_pieces, &pieces), SLM_ERR_INVALID_ARGUMENT);
    CHECK(pieces == 0, "callback called by a failed call");

    /* Every sampling field is checked, NaN, infinities and subnormals included, and the message
     * starts with the field's name. ABI 2 added repeat_last_n in what was padding before seed;
     * ABI 3 appended grammar and json_schema; ABI 5 context_shift and keep. */
    CHECK(sizeof(slm_sampling_params) == 64 && offsetof(slm_sampling_params, repeat_last_n) == 20 &&
          offsetof(slm_sampling_params, seed) == 24 && offsetof(slm_sampling_params, max_tokens) == 32 &&
          offsetof(slm_sampling_params, grammar) == 40 && offsetof(slm_sampling_params, json_schema) == 48 &&
          offsetof(slm_sampling_params, context_shift) == 56 && offsetof(slm_sampling_params, keep) == 60,
          "slm_sampling_params layout: size %zu", sizeof(slm_sampling_params));
    CHECK(sizeof(slm_stats) == 32 && offsetof(slm_stats, truncated_turns) == 24 && offsetof(slm_stats, context_shifts) == 28,
          "slm_stats layout: size %zu", sizeof(slm_stats));
    CHECK(!slm_sampling_default_params().context_shift && slm_sampling_default_params().keep == 0,
          "default context_shift and keep must be false and 0");
    CHECK(slm_sampling_default_params().grammar == NULL && slm_sampling_default_params().json_schema == NULL,
          "default grammar and json_schema must be NULL");
    CHECK(slm_sampling_default_params().repeat_last_n == 64, "default repeat_last_n %d", (int)slm_sampling_default_params().repeat_last_n);
    const float bad_floats[] = {NAN, INFINITY, -1.0f, (float)1e-40};
    for (size_t i = 0; i < sizeof bad_floats / sizeof bad_floats[0]; i++) {
        bad = sampling; bad.temperature = bad_floats[i]; expect_refused(session, bad, "temperature");
        bad = sampling; bad.top_p = bad_floats[i]; expect_refused(session, bad, "top_p");
        bad = sampling; bad.min_p = bad_floats[i]; expect_refused(session, bad, "min_p");
        bad = sampling; bad.repeat_penalty = bad_floats[i]; expect_refused(session, bad, "repeat_penalty");
    }
    bad = sampling; bad.top_k = -1; expect_refused(session, bad, "top_k");
    bad = sampling; bad.repeat_last_n = -2; expect_refused(session, bad, "repeat_last_n");
    bad = sampling; bad.max_tokens = -2; expect_refused(session, bad, "max_tokens");
    bad = sampling; bad.context_shift = true; bad.keep = -2; expect_refused(session, bad, "keep");
    bad = sampling; bad.grammar = "root ::= [a-z"; expect_refused(session, bad, "grammar");
    bad = sampling; bad.grammar = "root ::= \"a\" | root \"a\""; expect_refused(session, bad, "grammar");
    bad = sampling; bad.json_schema = "{\"type\": "; expect_refused(session, bad, "json_schema");
    bad = sampling; bad.json_schema = "{\"type\": \"string\", \"not\": {}}"; expect_refused(session, bad, "json_schema");
    bad = sampling; bad.grammar = "root ::= \"a\""; bad.json_schema = "{}"; expect_refused(session, bad, "grammar");
    if (!light) {
        /* repeat_last_n 0 turns the penalty off: greedy text equals that without a penalty; the
         * default window (64) and the whole context (-1) are accepted. */
        struct text plain = {"", 0}, windowless = {"", 0};
        slm_sampling_params greedy = sampling;
        greedy.max_tokens = 12;
        EXPECT_STATUS(slm_generate(session, "Once upon a time", &greedy, collect, &plain), SLM_OK);
        greedy.repeat_penalty = 1.5f;
        greedy.repeat_last_n = 0;
        EXPECT_STATUS(slm_generate(session, "Once upon a time", &greedy, collect, &windowless), SLM_OK);
        CHECK(plain.len > 0 && strcmp(plain.bytes, windowless.bytes) == 0, "repeat_last_n 0: '%s' vs '%s'", windowless.bytes, plain.bytes);
        greedy.repeat_last_n = -1;
        EXPECT_STATUS(slm_generate(session, "Once upon a time", &greedy, NULL, NULL), SLM_OK);
    }

    /* NULL callback and NULL params are allowed. The calling thread, lent to the model's workers
     * during the call, gets its allowed CPUs back. */
    char cpus_before[256], cpus_after[256];
    allowed_cpus(cpus_before, sizeof cpus_before);
    EXPECT_STATUS(slm_generate(session, text, &sampling, NULL, NULL), SLM_OK);
    allowed_cpus(cpus_after, sizeof cpus_after);
    CHECK(strcmp(cpus_before, cpus_after) == 0, "caller's CPUs were %s after the call %s", cpus_before, cpus_after);
    EXPECT_STATUS(slm_session_stats(session, &stats), SLM_OK);
    CHECK(stats.prompt_tokens == 5 && stats.generated_tokens == 4, "stats %d/%d", (int)stats.prompt_tokens, (int)stats.generated_tokens);

    /* Stopping early from the callback is not an error. */
    int seen = 0;
    sampling.max_tokens = 20;
    EXPECT_STATUS(slm_generate(session, text, &sampling, stop_after_three, &seen), SLM_OK);
    CHECK(seen == 3, "callback called %d times after returning false", seen);

    /* Re-entrant call from the callback: the inner one fails, the outer one finishes. */
    struct reentry r = {session, SLM_OK, 0};
    sampling.max_tokens = 3;
    EXPECT_STATUS(slm_generate(session, text, &sampling, reenter, &r), SLM_OK);
    CHECK(r.inner == SLM_ERR_INVALID_ARGUMENT, "re-entrant slm_generate returned %s", slm_status_string(r.inner));

    /* Cancel from another thread. */
    struct canceller c;
    c.session = session;
    c.started = 0;
    c.cancelled = 0;
    pthread_mutex_init(&c.lock, NULL);
    pthread_cond_init(&c.started_cond, NULL);
    pthread_create(&thread, NULL, cancel_when_started, &c);
    sampling.max_tokens = 40;
    EXPECT_STATUS(slm_generate(session, "Once upon a time", &sampling, announce, &c), SLM_ERR_CANCELLED);
    pthread_join(thread, NULL);
    pthread_mutex_destroy(&c.lock);
    pthread_cond_destroy(&c.started_cond);
    EXPECT_STATUS(slm_session_stats(session, &stats), SLM_OK);
    CHECK(stats.generated_tokens >= 1 && stats.generated_tokens < 40, "cancelled after %d tokens", (int)stats.generated_tokens);
    /* A cancel while no call runs does not cancel the next call. */
    slm_session_cancel(session);
    sampling.max_tokens = 2;
    EXPECT_STATUS(slm_generate(session, text, &sampling, NULL, NULL), SLM_OK);

    /* A full context: the prompt does not fit, or generation fills it (a model with a 16-token context). */
    slm_model *small_model = NULL;
    slm_session *small = NULL;
    params.context_length = 16;
    EXPECT_STATUS(slm_model_load(model_path, &params, &small_model), SLM_OK);
    EXPECT_STATUS(slm_session_create(small_model, &small), SLM_OK);
    slm_model_free(small_model);  /* the session keeps the model alive */
    char long_prompt[2048] = "";
    for (int i = 0; i < 100; i++) strcat(long_prompt, "word ");
    EXPECT_STATUS(slm_generate(small, long_prompt, &sampling, NULL, NULL), SLM_ERR_CONTEXT_FULL);
    if (!light) {
        sampling.max_tokens = -1;
        pieces = 0;
        EXPECT_STATUS(slm_generate(small, "1, 2, 3, 4, 5,", &sampling, count_pieces, &pieces), SLM_ERR_CONTEXT_FULL);
        CHECK(pieces > 0, "context-full generation streamed nothing");
        EXPECT_STATUS(slm_session_stats(small, &stats), SLM_OK);
        CHECK(stats.prompt_tokens + stats.generated_tokens >= 15, "stopped at %d + %d tokens", (int)stats.prompt_tokens, (int)stats.generated_tokens);
    }
    slm_session_free(small);
    EXPECT_STATUS(slm_session_reset(session), SLM_OK);

    /* The store. */
    slm_store *store = NULL;
    slm_conversation_id id = 0;
    EXPECT_STATUS(slm_store_open(NULL, &store), SLM_ERR_INVALID_ARGUMENT);
    snprintf(path, sizeof path, "%s/store.db", argv[2]);
    EXPECT_STATUS(slm_store_open(path, NULL), SLM_ERR_INVALID_ARGUMENT);
    snprintf(path, sizeof path, "%s/not-a-database.db", argv[2]);
    write_file(path, "this is not an SQLite database, not even close; it is plain text....................................................................", 128);
    EXPECT_STATUS(slm_store_open(path, &store), SLM_ERR_STORE);
    CHECK(store == NULL, "out_store written on failure");
    snprintf(path, sizeof path, "%s/store.db", argv[2]);
    EXPECT_STATUS(slm_store_open(path, &store), SLM_OK);
    EXPECT_STATUS(slm_session_attach(NULL, store, 0, &id), SLM_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(slm_session_attach(session, NULL, 0, &id), SLM_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(slm_session_attach(session, store, -1, &id), SLM_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(slm_session_attach(session, store, 987654, &id), SLM_ERR_STORE);
    EXPECT_STATUS(slm_session_detach(NULL), SLM_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(slm_session_detach(session), SLM_OK);
    EXPECT_STATUS(slm_store_list(NULL, 10, 0, no_conversation, NULL), SLM_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(slm_store_list(store, 10, 0, NULL, NULL), SLM_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(slm_store_list(store, 0, 0, no_conversation, NULL), SLM_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(slm_store_list(store, 10, -1, no_conversation, NULL), SLM_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(slm_store_list(store, 10, 0, no_conversation, NULL), SLM_OK);
    EXPECT_STATUS(slm_store_messages(NULL, 1, no_message, NULL), SLM_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(slm_store_messages(store, 1, NULL, NULL), SLM_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(slm_store_messages(store, 987654, no_message, NULL), SLM_ERR_STORE);
    EXPECT_STATUS(slm_store_delete(NULL, 1), SLM_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(slm_store_delete(store, 987654), SLM_ERR_STORE);

    /* A chat turn attached to a new conversation; the conversation outlives the closed handle. */
    EXPECT_STATUS(slm_session_attach(session, store, 0, &id), SLM_OK);
    CHECK(id > 0, "new conversation id %lld", (long long)id);
    slm_store_close(store);
    sampling.max_tokens = 4;
    if (!light) EXPECT_STATUS(slm_chat(session, "Hello!", &sampling, NULL, NULL), SLM_OK);

    slm_model_free(model);  /* the session keeps the model alive */
    if (!light) EXPECT_STATUS(slm_chat(session, "And again?", &sampling, NULL, NULL), SLM_OK);
    slm_session_free(session);

    /* Freeing a model stops and joins its worker threads, also when a load fails after the
     * threads were started: a host program that loads and frees models must not gain threads. */
    int threads_before = threads_in_process();
    for (int round = 0; round < 4; round++) {
        params = slm_model_default_params();
        params.n_threads = 2;
        params.context_length = 64;
        EXPECT_STATUS(slm_model_load(model_path, &params, &model), SLM_OK);
        slm_model_free(model);
        snprintf(path, sizeof path, "%s/truncated.gguf", argv[2]);
        EXPECT_STATUS(slm_model_load(path, &params, &model), SLM_ERR_FORMAT);
    }
    int threads_after = threads_in_process_settled(threads_before);
    CHECK(threads_after == threads_before, "threads after 4 loads and frees: %d, before: %d", threads_after,
          threads_before);

    printf("misuse: %d checks, %d failures\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
