/* chat: a multi-turn chat kept in a conversation store; run it again with the id to resume.
 *
 *   chat MODEL.gguf STORE.db [CONVERSATION_ID]           reads one user message per line on stdin
 *   chat MODEL.gguf STORE.db --list                      lists the stored conversations
 *   chat MODEL.gguf STORE.db --delete CONVERSATION_ID    deletes one
 *
 * Environment: SLM_THREADS (worker threads), SLM_MAX_TOKENS (per reply, default 128).
 * Replies are greedy, so a resumed conversation answers as the uninterrupted one would.
 */
#include <slm.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_LINE = 4096 };

static bool print_piece(const char *piece, size_t piece_len, void *user_data) {
    (void)user_data;
    fwrite(piece, 1, piece_len, stdout);
    fflush(stdout);
    return true;
}

static bool print_conversation(const slm_conversation *c, void *user_data) {
    (void)user_data;
    printf("%lld\t%d messages\t%s\n", (long long)c->id, (int)c->message_count, c->title);
    return true;
}

static bool print_message(const slm_message *m, void *user_data) {
    (void)user_data;
    printf("[%s%s] %s\n", m->role, m->cancelled ? ", cancelled" : "", m->content);
    return true;
}

static int fail(slm_status status) {
    fprintf(stderr, "error: %s: %s\n", slm_status_string(status), slm_last_error());
    return 1;
}

static int run_chat(slm_store *store, const char *model_path, slm_conversation_id id) {
    slm_model_params model_params = slm_model_default_params();
    const char *threads = getenv("SLM_THREADS");
    if (threads) model_params.n_threads = atoi(threads);
    slm_model *model = NULL;
    slm_session *session = NULL;
    slm_status status = slm_model_load(model_path, &model_params, &model);
    if (status == SLM_OK) status = slm_session_create(model, &session);
    if (status == SLM_OK) status = slm_session_attach(session, store, id, &id);
    if (status == SLM_OK) {
        printf("conversation %lld\n", (long long)id);
        status = slm_store_messages(store, id, print_message, NULL);
    }
    slm_sampling_params sampling = slm_sampling_default_params();
    sampling.temperature = 0;
    const char *max_tokens = getenv("SLM_MAX_TOKENS");
    sampling.max_tokens = max_tokens ? atoi(max_tokens) : 128;
    char line[MAX_LINE];
    while (status == SLM_OK && fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '\0') continue;
        printf("[assistant] ");
        status = slm_chat(session, line, &sampling, print_piece, NULL);
        printf("\n");
    }
    int code = status == SLM_OK ? 0 : fail(status);
    slm_session_free(session);
    slm_model_free(model);
    return code;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL.gguf STORE.db [ID | --list | --delete ID]\n", argv[0]);
        return 2;
    }
    slm_store *store = NULL;
    slm_status status = slm_store_open(argv[2], &store);
    if (status != SLM_OK) return fail(status);
    int code;
    if (argc > 3 && strcmp(argv[3], "--list") == 0) {
        status = slm_store_list(store, 100, 0, print_conversation, NULL);
        code = status == SLM_OK ? 0 : fail(status);
    } else if (argc > 4 && strcmp(argv[3], "--delete") == 0) {
        status = slm_store_delete(store, strtoll(argv[4], NULL, 10));
        code = status == SLM_OK ? 0 : fail(status);
    } else {
        code = run_chat(store, argv[1], argc > 3 ? strtoll(argv[3], NULL, 10) : 0);
    }
    slm_store_close(store);
    return code;
}
