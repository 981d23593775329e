/*
 * A program outside focusllm: built only against an installed focusllm (the header and the
 * library found through pkg-config or CMake), it asks the model a question about a short text
 * and checks that an answer streamed back.
 *
 *   consumer MODEL.gguf
 *
 * Built by tests/consumers/run.sh: cc consumer.c $(pkg-config --cflags --libs focusllm), the
 * same with --static against a --static-only install, and by tests/consumers/cmake.
 */
#include <focusllm.h>

#include <stdio.h>
#include <string.h>

struct answer {
    char text[512];
    size_t len;
    size_t pieces;
};

static bool collect(const char *text, size_t len, const int32_t *tokens, size_t n_tokens, void *user_data) {
    (void)tokens;
    (void)n_tokens;
    struct answer *answer = user_data;
    size_t room = sizeof answer->text - 1 - answer->len;
    size_t copied = len < room ? len : room;
    memcpy(answer->text + answer->len, text, copied);
    answer->len += copied;
    answer->text[answer->len] = '\0';
    answer->pieces++;
    return true;
}

static int fail(const char *what, focusllm_status status) {
    char message[1024];
    focusllm_last_error_message(message, sizeof message);
    fprintf(stderr, "consumer: %s failed (%s): %s\n", what, focusllm_status_string(status), message);
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s MODEL.gguf\n", argv[0]);
        return 2;
    }
    if (focusllm_abi_version() != FOCUSLLM_ABI_VERSION) {
        fprintf(stderr, "consumer: header ABI %d, library %s\n", FOCUSLLM_ABI_VERSION, focusllm_version_string());
        return 1;
    }
    printf("consumer: linked %s\n", focusllm_version_string());

    const char *path = argv[1];
    const char *document = "The lighthouse keeper of Ardmore was called Niamh. Every evening she climbed "
                           "the 112 steps of the tower and lit the lamp before sunset.";
    const char *question = "What was the lighthouse keeper called?";

    focusllm_model_params model_params;
    focusllm_session_params session_params;
    focusllm_generate_params generate_params;
    focusllm_model_default_params(&model_params, sizeof model_params);
    focusllm_session_default_params(&session_params, sizeof session_params);
    focusllm_generate_default_params(&generate_params, sizeof generate_params);
    session_params.n_ctx = 1024;
    session_params.window = 1024;
    session_params.n_threads = 2;
    generate_params.max_tokens = 12;

    focusllm_model *model = NULL;
    focusllm_session *session = NULL;
    focusllm_status status = focusllm_model_load(path, strlen(path), &model_params, NULL, NULL, &model);
    if (status != FOCUSLLM_STATUS_OK) return fail("focusllm_model_load", status);
    status = focusllm_session_new(model, &session_params, &session);
    if (status != FOCUSLLM_STATUS_OK) return fail("focusllm_session_new", status);

    focusllm_job job = {0};
    job.struct_size = sizeof job;
    job.document = document;
    job.document_len = strlen(document);
    job.prompt = question;
    job.prompt_len = strlen(question);
    struct answer answer = {{0}, 0, 0};
    focusllm_result result = {0};
    result.struct_size = sizeof result;
    status = focusllm_session_run(session, &job, &generate_params, collect, NULL, &answer, &result);
    if (status != FOCUSLLM_STATUS_OK) return fail("focusllm_session_run", status);
    focusllm_session_free(session);
    focusllm_model_free(model);

    if (result.n_tokens == 0 || answer.len == 0 || answer.pieces == 0) {
        fprintf(stderr, "consumer: no answer (%zu tokens, %zu bytes)\n", result.n_tokens, answer.len);
        return 1;
    }
    printf("consumer: ok, %zu tokens in %zu pieces: %s\n", result.n_tokens, answer.pieces, answer.text);
    return 0;
}
