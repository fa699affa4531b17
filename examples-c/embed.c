/* embed: rank texts by meaning with an embedding model.
 *
 *   embed MODEL.gguf "QUERY" "TEXT" ["TEXT" ...]
 *
 * Embeds the query and the texts in one call (float vectors, L2-normalised, so the dot product
 * is the cosine), then again as sign bits, and prints each text with its cosine to the query and
 * the Hamming distance of their bits, most similar first. Works with a BERT encoder
 * (scripts/fetch-model.sh minilm) and with decoders.
 */
#include <slm.h>

#include <stdio.h>
#include <stdlib.h>

static int popcount8(uint8_t x) {
    int n = 0;
    for (; x; x &= (uint8_t)(x - 1)) n++;
    return n;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s MODEL.gguf QUERY TEXT [TEXT ...]\n", argv[0]);
        return 2;
    }
    if (slm_abi_version() != SLM_ABI_VERSION) {
        fprintf(stderr, "libslm ABI %u, built against %d\n", (unsigned)slm_abi_version(), SLM_ABI_VERSION);
        return 1;
    }
    slm_model *model = NULL;
    if (slm_model_load(argv[1], NULL, &model) != SLM_OK) {
        fprintf(stderr, "error: %s\n", slm_last_error());
        return 1;
    }
    const char *const *texts = (const char *const *)(argv + 2); /* the query, then the texts */
    size_t n = (size_t)(argc - 2);
    slm_embed_params params = slm_embed_default_params();

    /* Ask for the size first (out NULL, size 0), then embed. */
    int32_t needed = slm_embed(model, texts, n, &params, NULL, 0);
    int32_t needed_bytes = slm_embed_binary(model, texts, n, &params, NULL, 0);
    if (needed == INT32_MIN || needed_bytes == INT32_MIN) {
        fprintf(stderr, "error: %s\n", slm_last_error());
        slm_model_free(model);
        return 1;
    }
    float *vectors = malloc(sizeof(float) * (size_t)-needed);
    uint8_t *bits = malloc((size_t)-needed_bytes);
    int status = 1;
    if (vectors && bits && slm_embed(model, texts, n, &params, vectors, -needed) == -needed &&
        slm_embed_binary(model, texts, n, &params, bits, -needed_bytes) == -needed_bytes) {
        size_t d = (size_t)-needed / n, b = (size_t)-needed_bytes / n;
        printf("%zu texts, %zu dimensions\n", n - 1, d);
        /* A selection sort by cosine is plenty for a handful of texts. */
        int *order = malloc(sizeof(int) * n);
        double *cosine = malloc(sizeof(double) * n);
        for (size_t i = 1; i < n; i++) {
            double dot = 0;
            for (size_t k = 0; k < d; k++) dot += (double)vectors[k] * vectors[i * d + k];
            cosine[i] = dot;
            order[i] = (int)i;
        }
        for (size_t i = 1; i < n; i++)
            for (size_t j = i + 1; j < n; j++)
                if (cosine[order[j]] > cosine[order[i]]) {
                    int t = order[i];
                    order[i] = order[j];
                    order[j] = t;
                }
        for (size_t i = 1; i < n; i++) {
            int hamming = 0;
            for (size_t k = 0; k < b; k++) hamming += popcount8((uint8_t)(bits[k] ^ bits[(size_t)order[i] * b + k]));
            printf("%.4f  %4d  %s\n", cosine[order[i]], hamming, texts[order[i]]);
        }
        free(order);
        free(cosine);
        status = 0;
    } else {
        fprintf(stderr, "error: %s\n", slm_last_error());
    }
    free(vectors);
    free(bits);
    slm_model_free(model);
    return status;
}
