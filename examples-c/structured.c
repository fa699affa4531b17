/* structured: generate output that is valid under a JSON Schema (or matches a GBNF grammar).
 *
 *   structured MODEL.gguf "PROMPT" '{"type":"object", ...}'     JSON Schema (JSON text)
 *   structured MODEL.gguf "PROMPT" --grammar 'root ::= ...'     GBNF grammar
 *
 * Greedy, at most 256 tokens; generation ends when the document is complete. A schema or
 * grammar slm cannot use fails with SLM_ERR_INVALID_ARGUMENT and a message saying where.
 */
#include <slm.h>

#include <stdio.h>
#include <string.h>

static bool print_piece(const char *piece, size_t piece_len, void *user_data) {
    (void)user_data;
    fwrite(piece, 1, piece_len, stdout);
    return true;
}

int main(int argc, char **argv) {
    bool grammar = argc == 5 && strcmp(argv[3], "--grammar") == 0;
    if (argc != 4 && !grammar) {
        fprintf(stderr, "usage: %s MODEL.gguf PROMPT SCHEMA_JSON | --grammar GBNF\n", argv[0]);
        return 2;
    }
    if (slm_abi_version() != SLM_ABI_VERSION) {
        fprintf(stderr, "libslm ABI %u, built against %d\n", (unsigned)slm_abi_version(), SLM_ABI_VERSION);
        return 1;
    }
    slm_model_params model_params = slm_model_default_params();
    slm_model *model = NULL;
    slm_session *session = NULL;
    slm_status status = slm_model_load(argv[1], &model_params, &model);
    if (status == SLM_OK) status = slm_session_create(model, &session);
    if (status == SLM_OK) {
        slm_sampling_params sampling = slm_sampling_default_params();
        sampling.temperature = 0;
        sampling.max_tokens = 256;
        if (grammar) {
            sampling.grammar = argv[4];
        } else {
            sampling.json_schema = argv[3];
        }
        status = slm_generate(session, argv[2], &sampling, print_piece, NULL);
        printf("\n");
    }
    if (status != SLM_OK) fprintf(stderr, "error: %s: %s\n", slm_status_string(status), slm_last_error());
    slm_session_free(session);
    slm_model_free(model);
    return status == SLM_OK ? 0 : 1;
}
