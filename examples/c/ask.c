/*
 * ask: answer a question about a text file of any length with focusllm, streaming the answer.
 *
 *   ask MODEL.gguf DOCUMENT.txt "QUESTION"
 *
 * Environment: FOCUSLLM_THREADS sets the number of CPU threads (default: all cores).
 * Build (see "Linking from C" in README.md):
 *   cc ask.c -I"$FOCUSLLM_DIR/include" "$FOCUSLLM_DIR/target/release/libfocusllm.a" \
 *      -lstdc++ -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc -o ask
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "focusllm.h"

/* Prints what failed and why (the library's per-thread last error message). */
static int fail(const char *what, focusllm_status status) {
    char message[1024];
    focusllm_last_error_message(message, sizeof message);
    fprintf(stderr, "ask: %s failed (%s): %s\n", what, focusllm_status_string(status), message);
    return 1;
}

/* Reads a whole file into a malloc'ed buffer; NULL on failure. */
static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    char *text = NULL;
    size_t size = 0;
    char chunk[1 << 16];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        char *grown = realloc(text, size + n);
        if (grown == NULL) {
            free(text);
            fclose(f);
            return NULL;
        }
        text = grown;
        memcpy(text + size, chunk, n);
        size += n;
    }
    fclose(f);
    *len = size;
    return text != NULL ? text : calloc(1, 1);
}

/* Streams each piece of the answer as it comes (whole UTF-8 characters). */
static bool print_piece(const char *text, size_t len, const int32_t *tokens, size_t n_tokens, void *user_data) {
    (void)tokens;
    (void)n_tokens;
    (void)user_data;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return true; /* false would stop the answer here */
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s MODEL.gguf DOCUMENT.txt \"QUESTION\"\n", argv[0]);
        return 2;
    }
    if (focusllm_abi_version() != FOCUSLLM_ABI_VERSION) {
        fprintf(stderr, "ask: focusllm.h (ABI %d) does not match the library (%s)\n", FOCUSLLM_ABI_VERSION,
                focusllm_version_string());
        return 1;
    }
    size_t document_len = 0;
    char *document = read_file(argv[2], &document_len);
    if (document == NULL) {
        perror(argv[2]);
        return 1;
    }

    int exit_code = 1;
    focusllm_model *model = NULL;
    focusllm_session *session = NULL;
    focusllm_status status;

    focusllm_model_params model_params;
    focusllm_model_default_params(&model_params, sizeof model_params);
    status = focusllm_model_load(argv[1], strlen(argv[1]), &model_params, NULL, NULL, &model);
    if (status != FOCUSLLM_STATUS_OK) {
        fail("loading the model", status);
        goto done;
    }

    focusllm_session_params session_params;
    focusllm_session_default_params(&session_params, sizeof session_params);
    const char *threads = getenv("FOCUSLLM_THREADS");
    if (threads != NULL) session_params.n_threads = (uint32_t)strtoul(threads, NULL, 10);
    status = focusllm_session_new(model, &session_params, &session);
    if (status != FOCUSLLM_STATUS_OK) {
        fail("creating the session", status);
        goto done;
    }

    focusllm_job job;
    memset(&job, 0, sizeof job);
    job.struct_size = sizeof job;
    job.document = document;
    job.document_len = document_len;
    job.prompt = argv[3];
    job.prompt_len = strlen(argv[3]);

    focusllm_generate_params generate_params;
    focusllm_generate_default_params(&generate_params, sizeof generate_params);
    generate_params.max_tokens = 128;

    focusllm_result result;
    memset(&result, 0, sizeof result);
    result.struct_size = sizeof result;
    status = focusllm_session_run(session, &job, &generate_params, print_piece, NULL, NULL, &result);
    printf("\n");
    if (status != FOCUSLLM_STATUS_OK) {
        fail("answering", status);
        goto done;
    }
    fprintf(stderr, "ask: %zu tokens in, %zu out, %zu chunks, %.2f s prefill, %.2f s generation\n",
            result.n_prompt_tokens, result.n_tokens, result.n_chunks, result.prefill_seconds,
            result.generate_seconds);
    exit_code = 0;

done:
    focusllm_session_free(session);
    focusllm_model_free(model);
    free(document);
    return exit_code;
}
