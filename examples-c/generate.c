/* generate: load a model, stream a completion of a prompt to stdout, print statistics to stderr.
 *
 *   generate MODEL.gguf "PROMPT" [MAX_TOKENS] [THREADS]
 *
 * Greedy (temperature 0), so the same model and prompt always give the same text.
 */
#include <slm.h>

#include <stdio.h>
#include <stdlib.h>

static bool print_piece(const char *piece, size_t piece_len, void *user_data) {
    (void)user_data;
    fwrite(piece, 1, piece_len, stdout);
    fflush(stdout);
    return true;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL.gguf PROMPT [MAX_TOKENS] [THREADS]\n", argv[0]);
        return 2;
    }
    if (slm_abi_version() != SLM_ABI_VERSION) {
        fprintf(stderr, "libslm ABI %u, built against %d\n", (unsigned)slm_abi_version(), SLM_ABI_VERSION);
        return 1;
    }
    slm_model_params model_params = slm_model_default_params();
    if (argc > 4) model_params.n_threads = atoi(argv[4]);

    slm_model *model = NULL;
    slm_session *session = NULL;
    slm_status status = slm_model_load(argv[1], &model_params, &model);
    if (status == SLM_OK) status = slm_session_create(model, &session);
    if (status == SLM_OK) {
        slm_sampling_params sampling = slm_sampling_default_params();
        sampling.temperature = 0;
        sampling.max_tokens = argc > 3 ? atoi(argv[3]) : 64;
        status = slm_generate(session, argv[2], &sampling, print_piece, NULL);
        printf("\n");
    }
    if (status == SLM_OK) {
        slm_stats stats;
        slm_session_stats(session, &stats);
        fprintf(stderr, "prompt: %d tokens, generated: %d tokens, time to first token: %.1f ms, %.2f tokens/s\n",
                (int)stats.prompt_tokens, (int)stats.generated_tokens, stats.ttft_ms, stats.tokens_per_second);
    } else {
        fprintf(stderr, "error: %s: %s\n", slm_status_string(status), slm_last_error());
    }
    slm_session_free(session);
    slm_model_free(model);
    return status == SLM_OK ? 0 : 1;
}
