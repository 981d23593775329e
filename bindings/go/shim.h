/*
 * C helpers of the Go binding (compiled by cgo with the package). Each fallible helper calls
 * one focusllm function and, when it fails, copies focusllm_last_error_message() into a
 * malloc'd string in the same C call, so on the same OS thread: a goroutine may move to
 * another thread between two cgo calls, and the message is kept per thread. The Go side
 * frees *message with free(). Callbacks reach Go through trampolines whose user_data is a
 * runtime/cgo.Handle value (an integer, not a Go pointer).
 */
#ifndef FOCUSLLM_GO_SHIM_H
#define FOCUSLLM_GO_SHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "focusllm.h"

int32_t fgo_model_default_params(focusllm_model_params *params, char **message);
int32_t fgo_session_default_params(focusllm_session_params *params, char **message);
int32_t fgo_generate_default_params(focusllm_generate_params *params, char **message);

/* progress_handle 0 means no progress callback. */
int32_t fgo_model_load(const char *path, size_t path_len, const focusllm_model_params *params,
                       uintptr_t progress_handle, focusllm_model **out_model, char **message);
/* The model's description as a malloc'd NUL-terminated string (NULL when out of memory). */
char *fgo_model_description(const focusllm_model *model);
int32_t fgo_model_estimate_memory(const focusllm_model *model, const focusllm_session_params *params,
                                  uint32_t max_tokens, uint64_t *out_bytes, char **message);

/* Tokens, templates, metadata: the focusllm_model_* functions of the same names. */
int32_t fgo_model_tokenize(const focusllm_model *model, const char *text, size_t text_len, bool special,
                           int32_t *out_tokens, size_t capacity, size_t *out_n_tokens, char **message);
int32_t fgo_model_detokenize(const focusllm_model *model, const int32_t *tokens, size_t n_tokens, bool special,
                             char *buffer, size_t buffer_len, size_t *out_len, char **message);
int32_t fgo_model_apply_chat_template(const focusllm_model *model, const focusllm_chat_message *messages,
                                      size_t n_messages, bool add_assistant, char *buffer, size_t buffer_len,
                                      size_t *out_len, char **message);
int32_t fgo_model_architecture(const focusllm_model *model, char *buffer, size_t buffer_len, size_t *out_len,
                               char **message);
int32_t fgo_model_get_info(const focusllm_model *model, focusllm_model_info *out_info, char **message);

/* A new cancel token for one call (see focusllm_cancel_token). */
int32_t fgo_cancel_token_new(focusllm_cancel_token **out_token, char **message);

int32_t fgo_session_new(const focusllm_model *model, const focusllm_session_params *params,
                        focusllm_session **out_session, char **message);
/* Builds the focusllm_job from its parts (so no Go memory holds Go pointers) and runs it;
 * the piece and progress callbacks go to the Go run state behind handle. */
int32_t fgo_session_run(focusllm_session *session, const char *document, size_t document_len,
                        const char *prompt, size_t prompt_len, bool chat,
                        const focusllm_generate_params *params, uintptr_t handle,
                        focusllm_result *out_result, char **message);

int32_t fgo_document_default_params(focusllm_document_params *params, char **message);
/* Ingests text with params, whose spill_dir the helper sets from (spill_dir, spill_dir_len)
 * (so no Go memory holds Go pointers); progress goes to the Go run state behind handle. */
int32_t fgo_document_ingest(focusllm_session *session, const char *text, size_t text_len,
                            const focusllm_document_params *params, const char *spill_dir,
                            size_t spill_dir_len, const char *save_path, size_t save_path_len,
                            uintptr_t handle, focusllm_document **out_document, char **message);
/* Asks about a document; the piece and progress callbacks go to the run state behind handle. */
int32_t fgo_document_ask(focusllm_session *session, const focusllm_document *document,
                         const char *question, size_t question_len, const focusllm_generate_params *params,
                         uintptr_t handle, focusllm_result *out_result, char **message);
int32_t fgo_document_save(const focusllm_document *document, const char *path, size_t path_len,
                          char **message);
int32_t fgo_document_load(focusllm_session *session, const char *path, size_t path_len,
                          focusllm_document **out_document, char **message);
int32_t fgo_document_get_info(const focusllm_document *document, focusllm_document_info *out_info,
                              char **message);

/* Conversations: the focusllm_conversation_* functions of the same names; send's callbacks
 * go to the run state behind handle. */
int32_t fgo_conversation_new(focusllm_session *session, const char *system, size_t system_len,
                             focusllm_conversation **out_conversation, char **message);
int32_t fgo_conversation_new_over_document(focusllm_session *session, const focusllm_document *document,
                                           focusllm_conversation **out_conversation, char **message);
int32_t fgo_conversation_send(focusllm_conversation *conversation, const char *text, size_t text_len,
                              const focusllm_generate_params *params, uintptr_t handle,
                              focusllm_result *out_result, char **message);
int32_t fgo_conversation_push(focusllm_conversation *conversation, focusllm_role role, const char *text,
                              size_t text_len, char **message);
int32_t fgo_conversation_message_count(focusllm_conversation *conversation, size_t *out_count, char **message);
int32_t fgo_conversation_get_message(focusllm_conversation *conversation, size_t index, char *buffer,
                                     size_t buffer_len, size_t *out_len, focusllm_role *out_role, char **message);
/* The sources of the last call (out_source's struct_size is set here). */
int32_t fgo_session_get_source(const focusllm_session *session, size_t index, focusllm_source *out_source,
                               char **message);
int32_t fgo_conversation_get_source(const focusllm_conversation *conversation, size_t index,
                                    focusllm_source *out_source, char **message);

/* Routes llama.cpp's log to the Go log function (on = true) or restores the default. */
int32_t fgo_set_log_callback(bool on, char **message);

#endif /* FOCUSLLM_GO_SHIM_H */
