/*
 * slm.h — the slm engine as a C library (libslm.so / libslm.a).
 *
 * Runs small language models (GGUF files) on the CPU. C99; usable from C++ (extern "C").
 * Link with `pkg-config --cflags --libs slm` (shared) or `pkg-config --cflags --libs --static slm`.
 *
 * Usage (error handling shortened):
 *
 *     #include <stdio.h>
 *     #include <slm.h>
 *
 *     static bool print_piece(const char *piece, size_t len, void *user_data) {
 *         (void)user_data;
 *         fwrite(piece, 1, len, stdout);
 *         return true;                            // false stops the generation early
 *     }
 *
 *     int main(void) {
 *         slm_model *model = NULL;
 *         slm_session *session = NULL;
 *         if (slm_model_load("model.gguf", NULL, &model) != SLM_OK) {
 *             fprintf(stderr, "%s\n", slm_last_error());
 *             return 1;
 *         }
 *         slm_session_create(model, &session);
 *         slm_sampling_params sampling = slm_sampling_default_params();
 *         sampling.max_tokens = 64;
 *         slm_status status = slm_generate(session, "The capital of France is", &sampling,
 *                                          print_piece, NULL);
 *         if (status != SLM_OK) fprintf(stderr, "%s: %s\n", slm_status_string(status), slm_last_error());
 *         slm_session_free(session);
 *         slm_model_free(model);
 *         return status == SLM_OK ? 0 : 1;
 *     }
 *
 * Conventions (the same for every declaration below):
 * - Fallible calls return an slm_status: SLM_OK (0) or a negative error code; the details are in
 *   slm_last_error(). Outputs go through `out_` pointers, which are written only on SLM_OK.
 * - Objects are opaque handles made by a *_load / *_create / *_open call and released by the
 *   matching *_free / *_close call, which accepts NULL. Never use a handle after releasing it.
 * - Strings passed in are UTF-8 and NUL-terminated unless a length is given; they are copied when
 *   needed, so the caller may release them as soon as the call returns. Strings handed out are
 *   owned by the library; their lifetime is stated at each declaration.
 * - Threads: a handle may be used from any thread, but one session by one call at a time
 *   (a second concurrent call on the same session fails with SLM_ERR_INVALID_ARGUMENT; this holds
 *   for every function taking a session, slm_session_stats included, except slm_session_cancel).
 * - Sizes (size_t) are checked as unsigned values: SIZE_MAX or a negative number cast to size_t
 *   is refused with SLM_ERR_INVALID_ARGUMENT (or INT32_MIN from slm_tokenize), never wrapped.
 *   Calls on different sessions may run on different threads; generations of sessions that share
 *   a model take turns (the model's worker threads serve one generation at a time).
 *   slm_session_cancel is the one call meant for another thread while a call runs.
 *   While a generation computes a token, the calling thread works as one of the model's workers,
 *   pinned to its first CPU; it has its own CPU affinity back whenever the library returns to
 *   the caller (callbacks included). Freeing the last handle of a model stops and joins its
 *   worker threads.
 * - The ABI is stable within one SLM_ABI_VERSION: functions and struct layouts never change;
 *   new functions may only come with a new version.
 *   Structs grow only at their end, and only with a new ABI version: a program built against
 *   an older header passes a smaller struct, so it must not load a newer library (check
 *   slm_abi_version() against SLM_ABI_VERSION, and link libslm.so.N by its soname).
 *   ABI 2 (libslm.so.2): slm_sampling_params gained repeat_last_n (in what was padding before
 *   `seed`, so the struct's size and the other offsets are those of ABI 1).
 *   ABI 3 (libslm.so.3): slm_sampling_params gained `grammar` and `json_schema` at its end.
 *   ABI 4 (libslm.so.4): embeddings (slm_embed_params, slm_embed_default_params,
 *   slm_embedding_size, slm_embed, slm_embed_binary); nothing else changed.
 *   ABI 5 (libslm.so.5): slm_model_params gained cache_type_k and cache_type_v at its end
 *   (quantized KV caches, slm_cache_type); slm_sampling_params gained `context_shift` and
 *   `keep` at its end; slm_stats gained `truncated_turns` and `context_shifts` at its end.
 */
#ifndef SLM_H
#define SLM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ABI version of this header; slm_abi_version() returns the library's. They must be equal. */
#define SLM_ABI_VERSION 5

/* Thread-safe; no side effects. Returns SLM_ABI_VERSION of the library that was linked. */
uint32_t    slm_abi_version(void);
/* Thread-safe. The library's version (e.g. "0.1.0", as `slm --version` prints it): a static string,
 * never NULL, never freed. */
const char *slm_version(void);

typedef enum slm_status {
    SLM_OK = 0, SLM_ERR_INVALID_ARGUMENT = -1, SLM_ERR_IO = -2, SLM_ERR_FORMAT = -3,
    SLM_ERR_UNSUPPORTED = -4, SLM_ERR_NO_MEMORY = -5, SLM_ERR_CONTEXT_FULL = -6,
    SLM_ERR_CANCELLED = -7, SLM_ERR_STORE = -8, SLM_ERR_INTERNAL = -9
} slm_status;
/* SLM_ERR_INVALID_ARGUMENT: a NULL or out-of-range argument, or a session already in a call.
 * SLM_ERR_IO: a file cannot be opened or read.        SLM_ERR_FORMAT: a malformed GGUF file.
 * SLM_ERR_UNSUPPORTED: a valid model slm cannot run (architecture, tensor type, tokenizer, chat template).
 * SLM_ERR_NO_MEMORY: an allocation or mlock failed.   SLM_ERR_CONTEXT_FULL: the context is full.
 * SLM_ERR_CANCELLED: slm_session_cancel ended the call. SLM_ERR_STORE: the conversation store failed.
 * SLM_ERR_INTERNAL: a bug in slm; please report it with slm_last_error(). */

/* Thread-safe. The status's name ("SLM_ERR_IO"); "SLM_ERR_UNKNOWN" for other values. */
const char *slm_status_string(slm_status status);   /* static string, never NULL */
/* The message of the last failed call on this thread, e.g. "model.gguf: cannot open: No such
 * file or directory". Owned by the library. */
const char *slm_last_error(void);                   /* thread-local; valid until the next slm_ call on this thread; "" if none */

/* ---- Models ---------------------------------------------------------------------------------- */

/* A loaded model: the memory-mapped weights, tokenizer and worker threads. Read-only once loaded. */
typedef struct slm_model slm_model;
/* One conversation's state: KV cache, chat history, statistics of its last call. */
typedef struct slm_session slm_session;

/* How a session's KV cache stores keys or values (llama.cpp's -ctk / -ctv): F16 (the default),
 * or Q8_0 / Q4_0 blocks of 32 values, 53 % / 28 % of F16's size. Q8_0 keeps the output close
 * to F16's (docs/kv-cache.md); quantized types need a head size that is a multiple of 32. */
typedef enum slm_cache_type {
    SLM_CACHE_F16 = 0,
    SLM_CACHE_Q8_0 = 1,
    SLM_CACHE_Q4_0 = 2,
} slm_cache_type;

typedef struct slm_model_params {
    int32_t        n_threads;       /* 0 = one per big core */
    const int32_t *cpus;            /* CPU ids to pin to, or NULL = automatic */
    size_t         n_cpus;
    int32_t        context_length;  /* 0 = min(model, 4096) */
    bool           use_mlock;
    int32_t        cache_type_k;    /* slm_cache_type of every session's K cache (ABI 5) */
    int32_t        cache_type_v;    /* slm_cache_type of every session's V cache (ABI 5) */
} slm_model_params;
/* Thread-safe. The defaults: n_threads 0, cpus NULL, n_cpus 0, context_length 0, use_mlock false,
 * cache_type_k and cache_type_v SLM_CACHE_F16.
 * Start from these and change fields, so new fields of later versions get their defaults. */
slm_model_params slm_model_default_params(void);
/* Loads the GGUF file at `path` (UTF-8, NUL-terminated) and stores the new model in *out_model;
 * the caller owns it and releases it with slm_model_free. `params` is read during the call only
 * (cpus is copied). Each worker thread is pinned to one CPU: those in `cpus`, else the big cores
 * (highest cpuinfo_max_freq; all cores when equal). n_threads 0 means one thread per such CPU;
 * a smaller n_threads uses the first ones, a larger one shares them round-robin. With use_mlock,
 * the weights are locked in RAM, or the load fails with SLM_ERR_NO_MEMORY (see RLIMIT_MEMLOCK).
 * Errors: SLM_ERR_INVALID_ARGUMENT (NULL path/out_model, n_threads < 0 or > 256, context_length
 * < 0 or 1..7, n_cpus without cpus, a negative CPU id or one this process may not run on, a
 * cache type that is not an slm_cache_type), SLM_ERR_IO, SLM_ERR_FORMAT, SLM_ERR_UNSUPPORTED
 * (also: a quantized cache type for a model whose head size is not a multiple of 32),
 * SLM_ERR_NO_MEMORY. */
slm_status slm_model_load(const char *path, const slm_model_params *params, slm_model **out_model); /* params NULL = defaults */
/* Releases the caller's reference. Sessions made from the model keep it alive until they are
 * freed, so the model may be freed first. Must not race with other calls that use this handle. */
void       slm_model_free(slm_model *model);        /* NULL is a no-op */

/* Tokenizes text_len bytes of `text` (UTF-8; need not be NUL-terminated; invalid bytes become
 * U+FFFD) into `tokens` (may be NULL when max_tokens is 0, to ask for the size). add_special adds
 * BOS/EOS as the model says; parse_special turns control-token text such as "<|im_start|>" into
 * the token. Thread-safe on one model. Errors (INT32_MIN): NULL model or text, tokens NULL with
 * max_tokens > 0, max_tokens < 0, text_len > 64 MiB (compared as the unsigned size_t it is, so
 * SIZE_MAX is refused, not taken for -1). */
/* Returns the token count; -(needed) if max_tokens is too small; INT32_MIN on error (see slm_last_error). */
int32_t slm_tokenize(const slm_model *model, const char *text, size_t text_len,
                     int32_t *tokens, int32_t max_tokens, bool add_special, bool parse_special);

/* ---- Embeddings ------------------------------------------------------------------------------ */

/* Pooling of the hidden states into one vector per text. */
#define SLM_POOLING_MODEL (-1) /* the model's own (<arch>.pooling_type), else mean */
#define SLM_POOLING_MEAN  1
#define SLM_POOLING_CLS   2    /* the first token ([CLS]) */
#define SLM_POOLING_LAST  3    /* the last token (decoders) */

typedef struct slm_embed_params {
    int32_t pooling;   /* SLM_POOLING_*; default SLM_POOLING_MODEL */
    int32_t dims;      /* keep the first dims values (Matryoshka), 0 = all; default 0 */
    bool    normalize; /* L2-normalise (after truncation); default true */
    bool    truncate;  /* cut a text longer than the model takes instead of failing; default false */
} slm_embed_params;
/* Thread-safe. Start from these and change fields. */
slm_embed_params slm_embed_default_params(void);
/* The width of the model's embeddings (its hidden size), or -1 for a NULL model. Thread-safe. */
int32_t slm_embedding_size(const slm_model *model);
/* Embeds n_texts NUL-terminated UTF-8 texts into `out`: text i's vector at out + i * d, where d
 * is params->dims or slm_embedding_size(). Special tokens are added as the model says ([CLS] …
 * [SEP] for BERT, BOS for most decoders), and special-token text is parsed, as in
 * sentence-transformers. Works with encoders (BERT) and decoders. Returns the floats written
 * (n_texts * d); -(needed) when max_floats is smaller, before any work (out may be NULL when
 * max_floats is 0, to ask for the size); INT32_MIN on error. Thread-safe on one model; calls
 * take turns with generations on the model's workers. Errors: NULL model/texts/a text, out NULL
 * with max_floats > 0, max_floats < 0, n_texts 0 or > 2048, a pooling other than those above,
 * dims < 0 or > slm_embedding_size(), a text longer than the model takes (without truncate) or
 * with no tokens (SLM_ERR_INVALID_ARGUMENT). */
int32_t slm_embed(slm_model *model, const char *const *texts, size_t n_texts, const slm_embed_params *params,
                  float *out, int32_t max_floats); /* params NULL = defaults */
/* As slm_embed, but each vector becomes sign bits, 1 bit per dimension (set when the value is
 * > 0), packed most significant bit first: text i's (d + 7) / 8 bytes at out + i * ((d + 7) / 8).
 * Returns the bytes written, -(needed) or INT32_MIN, as slm_embed. Compare such vectors by
 * Hamming distance (popcount of the XOR). */
int32_t slm_embed_binary(slm_model *model, const char *const *texts, size_t n_texts,
                         const slm_embed_params *params, uint8_t *out, int32_t max_bytes);

/* ---- Sampling -------------------------------------------------------------------------------- */

/* A seed that means "a fresh random seed for each call". */
#define SLM_SEED_RANDOM UINT64_MAX

typedef struct slm_sampling_params {
    float    temperature;     /* 0 = greedy */
    int32_t  top_k;           /* 0 = off */
    float    top_p;           /* 1 = off */
    float    min_p;           /* 0 = off */
    float    repeat_penalty;  /* 1 = off */
    int32_t  repeat_last_n;   /* tokens the repeat penalty looks back over; 0 = none, -1 = the whole context (ABI 2) */
    uint64_t seed;
    int32_t  max_tokens;
    /* Structured output (ABI 3); NULL = none, at most one of the two. Copied during the call. */
    const char *grammar;      /* GBNF text (llama.cpp's grammar syntax), start rule root */
    const char *json_schema;  /* a JSON Schema as JSON text; "{}" = any JSON value */
    /* Context shift (ABI 5), slm_generate only: when the context fills, the first token and the
     * `keep` prompt tokens after it stay (-1 = the whole prompt), the oldest half of the rest is
     * forgotten and generation goes on (llama.cpp's --context-shift / --keep). */
    bool     context_shift;   /* false = a full context ends the call with SLM_ERR_CONTEXT_FULL */
    int32_t  keep;
} slm_sampling_params;
/* Thread-safe. llama.cpp's defaults: temperature 0.8, top_k 40, top_p 0.95, min_p 0.05,
 * repeat_penalty 1, repeat_last_n 64, seed SLM_SEED_RANDOM, max_tokens -1, grammar and json_schema
 * NULL, context_shift false, keep 0.
 * seed: the same seed gives the same text. max_tokens: tokens to generate; -1 = until the model
 * ends its text or the context is full; 0 = only process the prompt (fills the KV cache).
 * Valid: temperature >= 0, top_k >= 0, top_p in (0, 1], min_p in [0, 1], repeat_penalty > 0,
 * repeat_last_n >= -1, max_tokens >= -1, keep >= -1 and leaving 2 positions of the context to
 * shift, context_shift false for slm_chat and for models with sliding-window layers (Gemma 2/3:
 * SLM_ERR_UNSUPPORTED); floats finite and not subnormal (e.g. 1e-40). A bad
 * value fails the call with SLM_ERR_INVALID_ARGUMENT and slm_last_error() names the field; for a
 * grammar or schema it also says what is wrong and where (line and column, rule, schema path).
 * With a grammar, tokens that cannot continue it are never sampled, end of text comes only where
 * the grammar may end, and generation stops when nothing more can follow. */
slm_sampling_params slm_sampling_default_params(void);

/* ---- Sessions -------------------------------------------------------------------------------- */

/* Creates a session on `model` with the model's context length; the caller owns *out_session
 * and releases it with slm_session_free. The session keeps the model alive. Allocates the KV
 * cache now. Errors: SLM_ERR_INVALID_ARGUMENT, SLM_ERR_NO_MEMORY. */
slm_status slm_session_create(slm_model *model, slm_session **out_session);
/* Releases the session (detaching it from a store). Must not race with a call on it. */
void       slm_session_free(slm_session *session);  /* NULL is a no-op */
/* Clears the chat history, the KV cache and the statistics, and detaches the session from its
 * conversation (which stays in the store). Errors: SLM_ERR_INVALID_ARGUMENT (NULL, or a call runs). */
slm_status slm_session_reset(slm_session *session); /* forget history and KV cache */
/* Asks the call running on `session` to end at its next token; the call returns
 * SLM_ERR_CANCELLED after streaming what it had. Safe from any thread, including from inside the
 * callback; has no effect when no call runs (it does not cancel a later call). */
void       slm_session_cancel(slm_session *session); /* any thread; the running call returns SLM_ERR_CANCELLED */

/* Called on the calling thread with each decoded piece (valid UTF-8); return false to stop early. */
/* `piece` is also NUL-terminated and valid only during the callback. The callback must not call
 * slm_generate/slm_chat/slm_session_reset on the same session (they fail); stopping early by
 * returning false ends the call with SLM_OK. */
typedef bool (*slm_token_callback)(const char *piece, size_t piece_len, void *user_data);
/* Generates a continuation of `prompt` (tokenized with add_special and parse_special, as
 * `slm run` does). The KV cache of the session's earlier calls is reused as far as the new prompt
 * starts with the same tokens; the chat history is neither used nor changed. `params` NULL =
 * slm_sampling_default_params(). `on_token` may be NULL (the statistics still count). Blocks
 * until the generation ends. Errors: SLM_ERR_INVALID_ARGUMENT (NULL session/prompt, an empty
 * prompt, bad sampling values), SLM_ERR_CONTEXT_FULL (the prompt does not fit, or the context
 * filled up while generating: the text so far was streamed), SLM_ERR_CANCELLED. */
slm_status slm_generate(slm_session *session, const char *prompt, const slm_sampling_params *params,
                        slm_token_callback on_token, void *user_data);        /* raw completion */
/* Adds `user_message` to the session's history, renders the history with the model's chat template
 * (ChatML when it has none) and streams the assistant's reply, which joins the history (also when
 * stopped early or cancelled; not on other errors). Only the new tokens of each turn run. When the
 * history with the new message and room for the reply (max_tokens, else a quarter of the context,
 * at most 512 tokens; never more than half) would not fit the context, its oldest turns are left
 * out of the prompt, whole (the history itself keeps them; slm_stats.truncated_turns counts them);
 * a message that does not fit even alone is SLM_ERR_CONTEXT_FULL. When the
 * session is attached to a conversation, the turn is also stored (a cancelled reply is stored
 * marked as such). Errors: as slm_generate, plus SLM_ERR_STORE. */
slm_status slm_chat(slm_session *session, const char *user_message, const slm_sampling_params *params,
                    slm_token_callback on_token, void *user_data);            /* chat template, history kept */

/* Statistics of the session's last slm_generate/slm_chat call (zeros before the first, also
 * filled after a cancelled or context-full call). ttft_ms: from the call's start to the first
 * generated token; tokens_per_second: decode speed after the first token; truncated_turns (ABI 5):
 * turns of the chat history left out of slm_chat's prompt to fit the context; context_shifts
 * (ABI 5): context shifts slm_generate made (slm_sampling_params.context_shift). */
typedef struct slm_stats {
    int32_t prompt_tokens, generated_tokens;
    double  ttft_ms, tokens_per_second;
    int32_t truncated_turns, context_shifts;
} slm_stats;
slm_status slm_session_stats(const slm_session *session, slm_stats *out_stats); /* of the last call */
/* Like every function taking a session except slm_session_cancel, slm_session_stats fails with
 * SLM_ERR_INVALID_ARGUMENT while a call runs on the session (from another thread or from its
 * token callback): the statistics are being written. */

/* ---- Conversation store ---------------------------------------------------------------------- */

/* A SQLite database of conversations (messages and KV snapshots), owned by the calling user
 * (getuid()). Thread-safe: one handle may serve sessions on several threads. */
typedef struct slm_store slm_store;
/* A conversation's id in a store (> 0). */
typedef int64_t slm_conversation_id;

/* Opens, creating and migrating it when needed, the database at `path`; the caller owns *out_store
 * and releases it with slm_store_close. Errors: SLM_ERR_INVALID_ARGUMENT, SLM_ERR_STORE (cannot
 * open, not a database, written by a newer slm). */
slm_status slm_store_open(const char *path, slm_store **out_store);
/* Releases the caller's handle. Sessions still attached keep the database open until they are
 * reset, freed or attached elsewhere. */
void       slm_store_close(slm_store *store);       /* NULL is a no-op */

/* Binds the session to a conversation of `store`, so each slm_chat turn is stored and the next
 * process can resume it. `conversation` 0 creates a new conversation (titled by its first message);
 * otherwise it is resumed: its messages become the session's chat history and its KV snapshot, when
 * one was saved for this model, restores the cache (else the next turn re-runs the history).
 * *out_conversation (may be NULL) receives the id. Replaces an earlier attachment and the history.
 * Errors: SLM_ERR_INVALID_ARGUMENT (NULL session/store, negative id, a call runs),
 * SLM_ERR_STORE (no such conversation of this user, database errors). */
slm_status slm_session_attach(slm_session *session, slm_store *store, slm_conversation_id conversation,
                              slm_conversation_id *out_conversation);
/* Ends the binding (keeping the in-memory history). Not attached: a no-op returning SLM_OK. */
slm_status slm_session_detach(slm_session *session);

/* One conversation, as listed. The strings are valid only during the callback. */
typedef struct slm_conversation {
    slm_conversation_id id;
    const char *title;                /* UTF-8, NUL-terminated; "" when untitled */
    int64_t     created_at_ms;        /* Unix time in milliseconds */
    int64_t     updated_at_ms;
    int32_t     message_count;
} slm_conversation;
/* Called once per listed conversation on the calling thread; return false to stop listing. */
typedef bool (*slm_conversation_callback)(const slm_conversation *conversation, void *user_data);
/* Lists the user's conversations, newest first (by last update), skipping `offset` and giving at
 * most `limit` (1..1000). Errors: SLM_ERR_INVALID_ARGUMENT (NULL store/callback, limit or offset
 * out of range), SLM_ERR_STORE. */
slm_status slm_store_list(slm_store *store, int32_t limit, int32_t offset,
                          slm_conversation_callback on_conversation, void *user_data);

/* One stored message. The strings are valid only during the callback. */
typedef struct slm_message {
    const char *role;                 /* "user", "assistant" or "system" */
    const char *content;              /* UTF-8, NUL-terminated */
    bool        cancelled;            /* an assistant reply cut short */
} slm_message;
/* Called once per message, oldest first, on the calling thread; return false to stop. */
typedef bool (*slm_message_callback)(const slm_message *message, void *user_data);
/* Lists a conversation's messages. Errors: SLM_ERR_INVALID_ARGUMENT, SLM_ERR_STORE (not found). */
slm_status slm_store_messages(slm_store *store, slm_conversation_id conversation,
                              slm_message_callback on_message, void *user_data);
/* Deletes a conversation with its messages and snapshots. Sessions attached to it fail their
 * next turn with SLM_ERR_STORE. Errors: SLM_ERR_INVALID_ARGUMENT, SLM_ERR_STORE (not found). */
slm_status slm_store_delete(slm_store *store, slm_conversation_id conversation);

#ifdef __cplusplus
}
#endif

#endif /* SLM_H */
