/* C helpers of the Go binding: see shim.h. */
#include <stdlib.h>

#include "shim.h"
#include "_cgo_export.h"

/* When status is a failure, copies this thread's last error message into a new malloc'd
 * string at *message (NULL if out of memory). Called right after the failing function, in
 * the same C call, hence on the same thread. */
static int32_t with_message(int32_t status, char **message) {
    if (status != FOCUSLLM_STATUS_OK && message != NULL) {
        size_t len = focusllm_last_error_message(NULL, 0);
        char *copy = malloc(len + 1);
        if (copy != NULL) {
            focusllm_last_error_message(copy, len + 1);
        }
        *message = copy;
    }
    return status;
}

int32_t fgo_model_default_params(focusllm_model_params *params, char **message) {
    return with_message(focusllm_model_default_params(params, sizeof *params), message);
}

int32_t fgo_session_default_params(focusllm_session_params *params, char **message) {
    return with_message(focusllm_session_default_params(params, sizeof *params), message);
}

int32_t fgo_generate_default_params(focusllm_generate_params *params, char **message) {
    return with_message(focusllm_generate_default_params(params, sizeof *params), message);
}

static bool load_progress_trampoline(float progress, void *user_data) {
    return focusllmGoLoadProgress(progress, (uintptr_t)user_data);
}

int32_t fgo_model_load(const char *path, size_t path_len, const focusllm_model_params *params,
                       uintptr_t progress_handle, focusllm_model **out_model, char **message) {
    focusllm_load_progress_fn progress = progress_handle != 0 ? load_progress_trampoline : NULL;
    return with_message(focusllm_model_load(path, path_len, params, progress, (void *)progress_handle,
                                            out_model),
                        message);
}

char *fgo_model_description(const focusllm_model *model) {
    size_t len = focusllm_model_description(model, NULL, 0);
    char *text = malloc(len + 1);
    if (text != NULL) {
        focusllm_model_description(model, text, len + 1);
    }
    return text;
}

int32_t fgo_model_estimate_memory(const focusllm_model *model, const focusllm_session_params *params,
                                  uint32_t max_tokens, uint64_t *out_bytes, char **message) {
    return with_message(focusllm_model_estimate_memory(model, params, max_tokens, out_bytes), message);
}

int32_t fgo_cancel_token_new(focusllm_cancel_token **out_token, char **message) {
    return with_message(focusllm_cancel_token_new(out_token), message);
}

int32_t fgo_session_new(const focusllm_model *model, const focusllm_session_params *params,
                        focusllm_session **out_session, char **message) {
    return with_message(focusllm_session_new(model, params, out_session), message);
}

int32_t fgo_model_tokenize(const focusllm_model *model, const char *text, size_t text_len, bool special,
                           int32_t *out_tokens, size_t capacity, size_t *out_n_tokens, char **message) {
    return with_message(
        focusllm_model_tokenize(model, text, text_len, special, special, out_tokens, capacity, out_n_tokens),
        message);
}

int32_t fgo_model_detokenize(const focusllm_model *model, const int32_t *tokens, size_t n_tokens, bool special,
                             char *buffer, size_t buffer_len, size_t *out_len, char **message) {
    return with_message(focusllm_model_detokenize(model, tokens, n_tokens, special, buffer, buffer_len, out_len),
                        message);
}

int32_t fgo_model_apply_chat_template(const focusllm_model *model, const focusllm_chat_message *messages,
                                      size_t n_messages, bool add_assistant, char *buffer, size_t buffer_len,
                                      size_t *out_len, char **message) {
    return with_message(focusllm_model_apply_chat_template(model, messages, n_messages, add_assistant, buffer,
                                                           buffer_len, out_len),
                        message);
}

int32_t fgo_model_architecture(const focusllm_model *model, char *buffer, size_t buffer_len, size_t *out_len,
                               char **message) {
    return with_message(focusllm_model_architecture(model, buffer, buffer_len, out_len), message);
}

int32_t fgo_model_get_info(const focusllm_model *model, focusllm_model_info *out_info, char **message) {
    out_info->struct_size = sizeof *out_info;
    return with_message(focusllm_model_get_info(model, out_info), message);
}

static bool piece_trampoline(const char *text, size_t len, const int32_t *tokens, size_t n_tokens,
                             void *user_data) {
    return focusllmGoPiece((char *)text, len, (int32_t *)tokens, n_tokens, (uintptr_t)user_data);
}

static bool progress_trampoline(size_t done, size_t total, void *user_data) {
    return focusllmGoProgress(done, total, (uintptr_t)user_data);
}

static bool logprobs_trampoline(int32_t token, float logprob, const focusllm_token_logprob *top, size_t n_top,
                                void *user_data) {
    return focusllmGoLogprobs(token, logprob, (void *)top, n_top, (uintptr_t)user_data);
}

/* params with the log-probabilities trampoline set when they are asked for. */
static focusllm_generate_params with_logprobs(const focusllm_generate_params *params) {
    focusllm_generate_params copy = *params;
    copy.on_logprobs = params->top_logprobs > 0 ? logprobs_trampoline : NULL;
    return copy;
}

int32_t fgo_session_run(focusllm_session *session, const char *document, size_t document_len,
                        const char *prompt, size_t prompt_len, bool chat,
                        const focusllm_generate_params *params, uintptr_t handle,
                        focusllm_result *out_result, char **message) {
    focusllm_job job = {0};
    job.struct_size = sizeof job;
    job.document = document;
    job.document_len = document_len;
    job.prompt = prompt;
    job.prompt_len = prompt_len;
    job.chat = chat;
    /* The trampolines always run, even without Go callbacks: they check the run's
     * context.Context between tokens and prefill batches. */
    focusllm_generate_params run_params = with_logprobs(params);
    return with_message(focusllm_session_run(session, &job, &run_params, piece_trampoline, progress_trampoline,
                                             (void *)handle, out_result),
                        message);
}

int32_t fgo_document_default_params(focusllm_document_params *params, char **message) {
    return with_message(focusllm_document_default_params(params, sizeof *params), message);
}

int32_t fgo_document_ingest(focusllm_session *session, const char *text, size_t text_len,
                            const focusllm_document_params *params, const char *spill_dir,
                            size_t spill_dir_len, const char *save_path, size_t save_path_len,
                            uintptr_t handle, focusllm_document **out_document, char **message) {
    focusllm_document_params with_dir = *params;
    with_dir.spill_dir = spill_dir;
    with_dir.spill_dir_len = spill_dir_len;
    with_dir.save_path = save_path;
    with_dir.save_path_len = save_path_len;
    /* The progress trampoline always runs: it checks the call's context.Context. */
    return with_message(focusllm_document_ingest(session, text, text_len, &with_dir, progress_trampoline,
                                                 (void *)handle, out_document),
                        message);
}

int32_t fgo_document_ask(focusllm_session *session, const focusllm_document *document,
                         const char *question, size_t question_len, const focusllm_generate_params *params,
                         uintptr_t handle, focusllm_result *out_result, char **message) {
    focusllm_generate_params run_params = with_logprobs(params);
    return with_message(focusllm_document_ask(session, document, question, question_len, &run_params,
                                              piece_trampoline, progress_trampoline, (void *)handle,
                                              out_result),
                        message);
}

int32_t fgo_document_save(const focusllm_document *document, const char *path, size_t path_len,
                          char **message) {
    return with_message(focusllm_document_save(document, path, path_len), message);
}

int32_t fgo_document_load(focusllm_session *session, const char *path, size_t path_len,
                          focusllm_document **out_document, char **message) {
    return with_message(focusllm_document_load(session, path, path_len, out_document), message);
}

int32_t fgo_document_get_info(const focusllm_document *document, focusllm_document_info *out_info,
                              char **message) {
    return with_message(focusllm_document_get_info(document, out_info), message);
}

int32_t fgo_conversation_new(focusllm_session *session, const char *system, size_t system_len,
                             focusllm_conversation **out_conversation, char **message) {
    return with_message(focusllm_conversation_new(session, system, system_len, out_conversation), message);
}

int32_t fgo_conversation_new_over_document(focusllm_session *session, const focusllm_document *document,
                                           focusllm_conversation **out_conversation, char **message) {
    return with_message(focusllm_conversation_new_over_document(session, document, out_conversation), message);
}

int32_t fgo_conversation_send(focusllm_conversation *conversation, const char *text, size_t text_len,
                              const focusllm_generate_params *params, uintptr_t handle,
                              focusllm_result *out_result, char **message) {
    focusllm_generate_params run_params = with_logprobs(params);
    return with_message(focusllm_conversation_send(conversation, text, text_len, &run_params, piece_trampoline,
                                                   progress_trampoline, (void *)handle, out_result),
                        message);
}

int32_t fgo_conversation_push(focusllm_conversation *conversation, focusllm_role role, const char *text,
                              size_t text_len, char **message) {
    return with_message(focusllm_conversation_push(conversation, role, text, text_len), message);
}

int32_t fgo_conversation_message_count(focusllm_conversation *conversation, size_t *out_count, char **message) {
    return with_message(focusllm_conversation_message_count(conversation, out_count), message);
}

int32_t fgo_conversation_get_message(focusllm_conversation *conversation, size_t index, char *buffer,
                                     size_t buffer_len, size_t *out_len, focusllm_role *out_role, char **message) {
    return with_message(
        focusllm_conversation_get_message(conversation, index, buffer, buffer_len, out_len, out_role), message);
}

int32_t fgo_session_get_source(const focusllm_session *session, size_t index, focusllm_source *out_source,
                               char **message) {
    out_source->struct_size = sizeof *out_source;
    return with_message(focusllm_session_get_source(session, index, out_source), message);
}

int32_t fgo_conversation_get_source(const focusllm_conversation *conversation, size_t index,
                                    focusllm_source *out_source, char **message) {
    out_source->struct_size = sizeof *out_source;
    return with_message(focusllm_conversation_get_source(conversation, index, out_source), message);
}

static void log_trampoline(focusllm_log_level level, const char *text, size_t len, void *user_data) {
    (void)user_data;
    focusllmGoLog(level, (char *)text, len);
}

int32_t fgo_set_log_callback(bool on, char **message) {
    return with_message(focusllm_set_log_callback(on ? log_trampoline : NULL, NULL), message);
}
