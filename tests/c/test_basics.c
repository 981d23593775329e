/*
 * The C API without generation: versions, statuses, the last error, default parameters and
 * struct_size, NULL for every pointer, bad lengths and UTF-8, files that are not models,
 * load progress and cancel, model facts, impossible session parameters.
 *
 * Usage: test_basics MODEL.gguf SCRATCH_DIR
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"

static const char *model_path;
static const char *scratch_dir;

/* A path under the scratch directory (static buffer per call site is enough here). */
static const char *scratch(const char *name, char *buffer, size_t size) {
    snprintf(buffer, size, "%s/%s", scratch_dir, name);
    return buffer;
}

static int write_file(const char *path, const void *bytes, size_t len) {
    FILE *f = fopen(path, "wb");
    if (f == NULL) return 0;
    size_t written = fwrite(bytes, 1, len, f);
    return fclose(f) == 0 && written == len;
}

/* Copies the first `len` bytes of the real model: a truncated model file. */
static int write_truncated_model(const char *path, size_t len) {
    FILE *in = fopen(model_path, "rb");
    if (in == NULL) return 0;
    char *bytes = malloc(len);
    size_t got = bytes ? fread(bytes, 1, len, in) : 0;
    fclose(in);
    int ok = got == len && write_file(path, bytes, len);
    free(bytes);
    return ok;
}

static focusllm_status load(const char *path, size_t len, focusllm_model **out) {
    focusllm_model_params params;
    focusllm_model_default_params(&params, sizeof params);
    return focusllm_model_load(path, len, &params, NULL, NULL, out);
}

static void test_versions(void) {
    CHECK(focusllm_abi_version() == FOCUSLLM_ABI_VERSION);
    const char *version = focusllm_version_string();
    CHECK(strncmp(version, "focusllm ", 9) == 0);
    CHECK(strstr(version, "llama-cpp-sys-2 0.1.161") != NULL);
    CHECK(strcmp(focusllm_status_string(FOCUSLLM_STATUS_OK), "ok") == 0);
    CHECK(strcmp(focusllm_status_string(FOCUSLLM_STATUS_BUSY), "session busy") == 0);
    CHECK(strcmp(focusllm_status_string(12345), "unknown status") == 0);
}

static void test_last_error(void) {
    /* Success clears it; failure sets it with the function's name and the reason. */
    focusllm_model_params params;
    CHECK_OK(focusllm_model_default_params(&params, sizeof params));
    CHECK(focusllm_last_error_message(NULL, 0) == 0);
    CHECK_ERROR(focusllm_model_default_params(NULL, sizeof params), FOCUSLLM_STATUS_INVALID_ARGUMENT,
                "focusllm_model_default_params: params is NULL");
    size_t len = focusllm_last_error_message(NULL, 0);
    CHECK(len == strlen("focusllm_model_default_params: params is NULL"));
    /* Truncation: 5 bytes of room hold 4 bytes and a NUL; the full length is returned. */
    char small[5];
    memset(small, 'x', sizeof small);
    CHECK(focusllm_last_error_message(small, sizeof small) == len);
    CHECK(memcmp(small, "focu", 5) == 0);
    /* A size query writes nothing; reading does not clear. */
    CHECK(focusllm_last_error_message(small, 0) == len);
    CHECK(focusllm_last_error_message(NULL, 0) == len);
}

static void test_default_params_and_struct_size(void) {
    focusllm_model_params mp;
    focusllm_session_params sp;
    focusllm_generate_params gp;
    CHECK_OK(focusllm_model_default_params(&mp, sizeof mp));
    CHECK(mp.struct_size == sizeof mp && mp.use_mmap && !mp.vocab_only && mp.n_gpu_layers == 0);
    CHECK_OK(focusllm_session_default_params(&sp, sizeof sp));
    CHECK(sp.struct_size == sizeof sp && sp.n_threads >= 1 && sp.n_batch == 2048 && sp.n_ubatch == 512);
    CHECK(sp.strategy == FOCUSLLM_STRATEGY_FOCUS && sp.flash_attention == FOCUSLLM_FLASH_ATTENTION_AUTO);
    CHECK(sp.type_k == FOCUSLLM_KV_TYPE_F16 && sp.type_v == FOCUSLLM_KV_TYPE_F16);
    CHECK(sp.top_chunks == 2 && sp.use_chat_template);
    CHECK(sp.read_gap == 8.0f && sp.zoom);
    CHECK(sp.direct_when_fits == FOCUSLLM_DIRECT_WHEN_FITS_AUTO && FOCUSLLM_AUTO_DIRECT_MAX_TOKENS > 0);
    CHECK_OK(focusllm_generate_default_params(&gp, sizeof gp));
    CHECK(gp.struct_size == sizeof gp && gp.max_tokens == 256 && gp.temperature == 0.0f);
    CHECK(gp.stop == NULL && gp.n_stop == 0 && gp.top_k == 40 && gp.seed == 42 && !gp.render_special);

    /* The header's sizeof is the library's: accepted as is, rejected 8 bytes larger. */
    CHECK_ERROR(focusllm_model_default_params(&mp, sizeof mp + 8), FOCUSLLM_STATUS_STRUCT_SIZE,
                "newer focusllm.h than the library");
    CHECK_ERROR(focusllm_session_default_params(&sp, sizeof sp + 8), FOCUSLLM_STATUS_STRUCT_SIZE,
                "is larger than this library's focusllm_session_params");
    CHECK_ERROR(focusllm_generate_default_params(&gp, sizeof gp + 8), FOCUSLLM_STATUS_STRUCT_SIZE,
                "struct_size");
    CHECK_ERROR(focusllm_model_default_params(&mp, 0), FOCUSLLM_STATUS_STRUCT_SIZE, "struct_size is 0");
    CHECK_ERROR(focusllm_model_default_params(&mp, 4), FOCUSLLM_STATUS_STRUCT_SIZE,
                "smaller than struct_size itself");
    CHECK_ERROR(focusllm_model_default_params(&mp, 10), FOCUSLLM_STATUS_STRUCT_SIZE,
                "ends inside field n_gpu_layers");

    /* An older, shorter struct: only its bytes are written, the memory after it is untouched. */
    struct old_generate_params {
        size_t struct_size;
        uint32_t max_tokens;
        float temperature;
    };
    struct {
        struct old_generate_params old;
        uint64_t canary;
    } older;
    older.canary = 0x0123456789abcdefULL;
    CHECK_OK(focusllm_generate_default_params((focusllm_generate_params *)(void *)&older.old,
                                              sizeof older.old));
    CHECK(older.old.struct_size == sizeof older.old && older.old.max_tokens == 256);
    CHECK(older.canary == 0x0123456789abcdefULL);
    CHECK(offsetof(focusllm_generate_params, max_tokens) == offsetof(struct old_generate_params, max_tokens));
}

static void test_null_arguments(void) {
    focusllm_model *model = (focusllm_model *)(uintptr_t)0x1;
    focusllm_session *session = (focusllm_session *)(uintptr_t)0x1;
    focusllm_model_params mp;
    focusllm_session_params sp;
    uint64_t bytes = 7;
    focusllm_model_default_params(&mp, sizeof mp);
    focusllm_session_default_params(&sp, sizeof sp);

    CHECK_ERROR(focusllm_model_default_params(NULL, sizeof mp), FOCUSLLM_STATUS_INVALID_ARGUMENT, "params is NULL");
    CHECK_ERROR(focusllm_session_default_params(NULL, sizeof sp), FOCUSLLM_STATUS_INVALID_ARGUMENT, "NULL");
    CHECK_ERROR(focusllm_generate_default_params(NULL, 64), FOCUSLLM_STATUS_INVALID_ARGUMENT, "NULL");
    CHECK_ERROR(focusllm_model_load(NULL, 5, &mp, NULL, NULL, &model), FOCUSLLM_STATUS_INVALID_ARGUMENT,
                "path is NULL but its length is 5");
    CHECK_ERROR(focusllm_model_load(NULL, 0, &mp, NULL, NULL, &model), FOCUSLLM_STATUS_INVALID_ARGUMENT,
                "path is empty");
    CHECK_ERROR(focusllm_model_load(model_path, strlen(model_path), NULL, NULL, NULL, &model),
                FOCUSLLM_STATUS_INVALID_ARGUMENT, "params is NULL");
    CHECK_ERROR(focusllm_model_load(model_path, strlen(model_path), &mp, NULL, NULL, NULL),
                FOCUSLLM_STATUS_INVALID_ARGUMENT, "out_model is NULL");
    CHECK(model == (focusllm_model *)(uintptr_t)0x1); /* outputs untouched on failure */
    CHECK_ERROR(focusllm_session_new(NULL, &sp, &session), FOCUSLLM_STATUS_INVALID_ARGUMENT, "model is NULL");
    CHECK(session == (focusllm_session *)(uintptr_t)0x1);
    CHECK_ERROR(focusllm_session_cancel(NULL), FOCUSLLM_STATUS_INVALID_ARGUMENT, "session is NULL");
    CHECK_ERROR(focusllm_session_run(NULL, NULL, NULL, NULL, NULL, NULL, NULL), FOCUSLLM_STATUS_INVALID_ARGUMENT,
                "session is NULL");
    CHECK_ERROR(focusllm_model_estimate_memory(NULL, &sp, 16, &bytes), FOCUSLLM_STATUS_INVALID_ARGUMENT,
                "model is NULL");
    CHECK(bytes == 7);
    CHECK(focusllm_model_n_ctx_train(NULL) == 0);
    CHECK_LAST_ERROR("focusllm_model_n_ctx_train: model is NULL");
    CHECK(focusllm_model_n_vocab(NULL) == 0);
    CHECK_LAST_ERROR("model is NULL");
    CHECK(focusllm_model_size_bytes(NULL) == 0);
    CHECK(focusllm_model_description(NULL, NULL, 0) == 0);
    CHECK_LAST_ERROR("focusllm_model_description: model is NULL");
    /* Freeing NULL is a no-op; a NULL log callback restores the default. */
    focusllm_model_free(NULL);
    focusllm_session_free(NULL);
    CHECK_OK(focusllm_set_log_callback(NULL, NULL));
}

static void test_bad_lengths_and_utf8(void) {
    focusllm_model *model = NULL;
    CHECK_ERROR(load(model_path, SIZE_MAX, &model), FOCUSLLM_STATUS_INVALID_ARGUMENT, "larger than any buffer");
    CHECK_ERROR(load(model_path, SIZE_MAX / 2 + 1, &model), FOCUSLLM_STATUS_INVALID_ARGUMENT,
                "larger than any buffer");
    CHECK_ERROR(load("/tmp/\xff\xfe.gguf", 12, &model), FOCUSLLM_STATUS_INVALID_ARGUMENT,
                "path is not valid UTF-8 (invalid byte at offset 5");
    CHECK_ERROR(load("", 0, &model), FOCUSLLM_STATUS_INVALID_ARGUMENT, "path is empty");
    /* A NUL inside the counted bytes: the path cannot be passed to the OS. */
    CHECK_ERROR(load("a\0b", 3, &model), FOCUSLLM_STATUS_MODEL_FILE, "NUL");
    /* Not NUL-terminated: only the counted bytes are the path. */
    CHECK_ERROR(load("/nonexistent/model.ggufXXXX", 23, &model), FOCUSLLM_STATUS_MODEL_FILE,
                "/nonexistent/model.gguf:");
    CHECK(model == NULL);
}

static int progress_calls;
static bool stop_loading(float progress, void *user_data) {
    (void)progress;
    (void)user_data;
    progress_calls++;
    return false;
}

static void test_files_that_are_not_models(void) {
    char path[1024];
    focusllm_model *model = NULL;
    CHECK_ERROR(load(scratch_dir, strlen(scratch_dir), &model), FOCUSLLM_STATUS_MODEL_FILE, "directory");
    scratch("empty.gguf", path, sizeof path);
    CHECK(write_file(path, "", 0));
    CHECK_ERROR(load(path, strlen(path), &model), FOCUSLLM_STATUS_MODEL_FILE, "empty");
    scratch("text.gguf", path, sizeof path);
    const char *text = "this is not a GGUF file, just some text that is long enough to be read\n";
    CHECK(write_file(path, text, strlen(text)));
    CHECK_ERROR(load(path, strlen(path), &model), FOCUSLLM_STATUS_MODEL_LOAD, "cannot load model");
    fprintf(stderr, "(non-GGUF file: %s)\n", last_error());
    scratch("truncated.gguf", path, sizeof path);
    CHECK(write_truncated_model(path, 1 << 20));
    CHECK_ERROR(load(path, strlen(path), &model), FOCUSLLM_STATUS_MODEL_LOAD, "truncated.gguf");
    fprintf(stderr, "(truncated model: %s)\n", last_error());
    CHECK(model == NULL);

    /* A progress callback that returns false cancels the load. */
    focusllm_model_params params;
    focusllm_model_default_params(&params, sizeof params);
    CHECK_ERROR(focusllm_model_load(model_path, strlen(model_path), &params, stop_loading, NULL, &model),
                FOCUSLLM_STATUS_CANCELLED, "cancelled");
    CHECK(progress_calls >= 1 && model == NULL);
}

static void test_model_facts_and_session_params(void) {
    focusllm_model *model = NULL;
    CHECK_OK(load(model_path, strlen(model_path), &model));
    if (model == NULL) return;
    CHECK(focusllm_model_n_ctx_train(model) == 8192);
    CHECK(focusllm_model_n_vocab(model) == 49152);
    CHECK(focusllm_model_size_bytes(model) > 50u * 1000 * 1000);
    size_t len = focusllm_model_description(model, NULL, 0);
    char description[256];
    CHECK(len > 0 && len < sizeof description);
    CHECK(focusllm_model_description(model, description, sizeof description) == len);
    CHECK(strlen(description) == len);

    /* Impossible parameters fail in focusllm_session_new, naming the field and value. */
    focusllm_session_params sp;
    focusllm_session *session = NULL;
    focusllm_session_default_params(&sp, sizeof sp);
    sp.n_threads = 0;
    CHECK_ERROR(focusllm_session_new(model, &sp, &session), FOCUSLLM_STATUS_INVALID_PARAM,
                "n_threads must be in 1..=1024, got 0");
    sp.n_threads = 1;
    sp.n_batch = 64;
    sp.n_ubatch = 128;
    CHECK_ERROR(focusllm_session_new(model, &sp, &session), FOCUSLLM_STATUS_INVALID_PARAM,
                "n_ubatch 128 must not exceed n_batch 64");
    sp.n_ubatch = 64;
    sp.strategy = 7;
    CHECK_ERROR(focusllm_session_new(model, &sp, &session), FOCUSLLM_STATUS_INVALID_PARAM,
                "strategy must be 0, 1 or 2");
    sp.strategy = FOCUSLLM_STRATEGY_FOCUS;
    sp.type_v = 3;
    CHECK_ERROR(focusllm_session_new(model, &sp, &session), FOCUSLLM_STATUS_INVALID_PARAM,
                "type_v must be 0 (f16), 1 (q8_0) or 2 (q4_0)");
    sp.type_v = FOCUSLLM_KV_TYPE_Q8_0;
    sp.flash_attention = FOCUSLLM_FLASH_ATTENTION_DISABLED;
    CHECK_ERROR(focusllm_session_new(model, &sp, &session), FOCUSLLM_STATUS_INVALID_PARAM,
                "type_v q8_0 (a quantized V cache) needs flash attention");
    sp.type_k = FOCUSLLM_KV_TYPE_Q8_0;
    sp.type_v = FOCUSLLM_KV_TYPE_F16; /* a quantized K works without flash attention */
    CHECK_OK(focusllm_session_new(model, &sp, &session));
    focusllm_session_free(session);
    session = NULL;
    sp.type_k = FOCUSLLM_KV_TYPE_F16;
    sp.flash_attention = FOCUSLLM_FLASH_ATTENTION_AUTO;
    sp.read_gap = -1.0f;
    CHECK_ERROR(focusllm_session_new(model, &sp, &session), FOCUSLLM_STATUS_INVALID_PARAM,
                "read_gap must be a number of nats >= 0 (or infinity), got -1");
    sp.read_gap = INFINITY; /* read every kept chunk */
    sp.zoom = false;
    CHECK_OK(focusllm_session_new(model, &sp, &session));
    focusllm_session_free(session);
    session = NULL;
    sp.read_gap = 8.0f;
    sp.zoom = true;
    sp.direct_when_fits = 3;
    CHECK_ERROR(focusllm_session_new(model, &sp, &session), FOCUSLLM_STATUS_INVALID_PARAM,
                "direct_when_fits must be 0 (auto), 1 (always) or 2 (never)");
    sp.direct_when_fits = FOCUSLLM_DIRECT_WHEN_FITS_NEVER;
    CHECK_OK(focusllm_session_new(model, &sp, &session));
    focusllm_session_free(session);
    session = NULL;
    sp.direct_when_fits = FOCUSLLM_DIRECT_WHEN_FITS_AUTO;
    sp.top_chunks = 0;
    CHECK_ERROR(focusllm_session_new(model, &sp, &session), FOCUSLLM_STATUS_INVALID_PARAM, "top_chunks");
    sp.top_chunks = 2;
    sp.struct_size = sizeof sp + 16;
    CHECK_ERROR(focusllm_session_new(model, &sp, &session), FOCUSLLM_STATUS_STRUCT_SIZE, "newer focusllm.h");
    sp.struct_size = 0;
    CHECK_ERROR(focusllm_session_new(model, &sp, &session), FOCUSLLM_STATUS_STRUCT_SIZE,
                "focusllm_session_default_params");
    sp.struct_size = sizeof sp;
    CHECK_ERROR(focusllm_session_new(model, NULL, &session), FOCUSLLM_STATUS_INVALID_ARGUMENT, "params is NULL");
    CHECK_ERROR(focusllm_session_new(model, &sp, NULL), FOCUSLLM_STATUS_INVALID_ARGUMENT, "out_session is NULL");
    CHECK(session == NULL);

    /* The memory estimate checks its arguments like every other call. */
    uint64_t bytes = 0;
    CHECK_ERROR(focusllm_model_estimate_memory(model, NULL, 16, &bytes), FOCUSLLM_STATUS_INVALID_ARGUMENT,
                "params is NULL");
    CHECK_ERROR(focusllm_model_estimate_memory(model, &sp, 16, NULL), FOCUSLLM_STATUS_INVALID_ARGUMENT,
                "out_bytes");
    CHECK_ERROR(focusllm_model_estimate_memory(model, &sp, 0, &bytes), FOCUSLLM_STATUS_INVALID_PARAM,
                "max_tokens");
    CHECK_OK(focusllm_model_estimate_memory(model, &sp, 16, &bytes));
    CHECK(bytes > 0);
    focusllm_model_free(model);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL.gguf SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    model_path = argv[1];
    scratch_dir = argv[2];
    test_versions();
    test_last_error();
    test_default_params_and_struct_size();
    test_null_arguments();
    test_bad_lengths_and_utf8();
    test_files_that_are_not_models();
    test_model_facts_and_session_params();
    return check_summary("test_basics");
}
