/*
 * Processed documents through the C API against the real model: ingest once, ask, the same
 * answer as focusllm_session_run(), save and load, info, and every refusal (NULLs, bad
 * params, files that are not documents, truncated, damaged, from other settings).
 * With FOCUSLLM_TEST_QUICK set (valgrind) the document fits the window, so nothing is
 * decoded during ingest; the file and error paths are the same.
 *
 * Usage: [FOCUSLLM_TEST_QUICK=1] test_document MODEL.gguf SCRATCH_DIR
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static focusllm_model *model;
static int quick;

typedef struct {
    char text[2048];
    size_t len;
    size_t progress_calls;
    int progress_bad;
} sink;

static bool on_piece(const char *text, size_t len, const int32_t *tokens, size_t n_tokens, void *user_data) {
    sink *s = user_data;
    (void)tokens;
    (void)n_tokens;
    if (s->len + len < sizeof s->text) {
        memcpy(s->text + s->len, text, len);
        s->len += len;
        s->text[s->len] = '\0';
    }
    return true;
}

static bool on_progress(size_t done, size_t total, void *user_data) {
    sink *s = user_data;
    s->progress_calls++;
    if (done > total) s->progress_bad++;
    return true;
}

static focusllm_session *new_session(uint32_t window) {
    focusllm_session_params params;
    focusllm_session_default_params(&params, sizeof params);
    params.n_threads = 1;
    params.n_batch = quick ? 64 : 512;
    params.n_ubatch = quick ? 64 : 512;
    params.window = window;
    params.use_chat_template = false;
    focusllm_session *session = NULL;
    CHECK_OK(focusllm_session_new(model, &params, &session));
    return session;
}

static focusllm_generate_params short_params(uint32_t max_tokens) {
    focusllm_generate_params params;
    focusllm_generate_default_params(&params, sizeof params);
    params.max_tokens = max_tokens;
    return params;
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *bytes = malloc((size_t)size + 1);
    if (bytes != NULL && fread(bytes, 1, (size_t)size, f) != (size_t)size) {
        free(bytes);
        bytes = NULL;
    }
    fclose(f);
    *len = (size_t)size;
    return bytes;
}

static void write_file(const char *path, const char *bytes, size_t len) {
    FILE *f = fopen(path, "wb");
    if (f == NULL) return;
    fwrite(bytes, 1, len, f);
    fclose(f);
}

/* Loads `path` on `session` and checks it is refused with `expected` and `needle`. */
static void check_refused(focusllm_session *session, const char *path, focusllm_status expected, const char *needle) {
    focusllm_document *document = NULL;
    CHECK_ERROR(focusllm_document_load(session, path, strlen(path), &document), expected, needle);
    CHECK(document == NULL);
}

static void test_documents(const char *scratch) {
    focusllm_session *session = new_session(256);
    if (session == NULL) return;
    static char text[8192];
    text[0] = '\0';
    int notes = quick ? 1 : 14;
    for (int i = 0; i < notes; i++) {
        char sentence[160];
        snprintf(sentence, sizeof sentence, "Note %d: the weather on day %d was mild and the river was calm. ", i, i + 1);
        strcat(text, sentence);
    }
    strcat(text, "The secret code is 7421. ");
    const char *question = "\nQ: What is the secret code?\nA: The secret code is";

    focusllm_document_params dp;
    CHECK_OK(focusllm_document_default_params(&dp, sizeof dp));
    CHECK(dp.struct_size == sizeof dp && dp.memory_budget_bytes == (uint64_t)1 << 30 && dp.spill_dir_len == 0);
    focusllm_document *document = NULL;
    sink progress = {0};
    CHECK_OK(focusllm_document_ingest(session, text, strlen(text), &dp, on_progress, &progress, &document));
    if (document == NULL) {
        focusllm_session_free(session);
        return;
    }
    focusllm_document_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    CHECK_OK(focusllm_document_get_info(document, &info));
    CHECK(info.n_tokens > 10 && info.n_in_memory == info.n_chunks && info.n_not_kept == 0);
    CHECK(quick ? info.n_chunks == 0 : (info.n_chunks >= 2 && progress.progress_calls > 0));
    CHECK(progress.progress_bad == 0);

    /* The same answer as a plain run over the text. */
    focusllm_generate_params params = short_params(quick ? 2 : 4);
    focusllm_job job;
    memset(&job, 0, sizeof job);
    job.struct_size = sizeof job;
    job.document = text;
    job.document_len = strlen(text);
    job.prompt = question;
    job.prompt_len = strlen(question);
    sink plain = {0};
    CHECK_OK(focusllm_session_run(session, &job, &params, on_piece, NULL, &plain, NULL));
    sink cached = {0};
    focusllm_result result;
    memset(&result, 0, sizeof result);
    result.struct_size = sizeof result;
    CHECK_OK(focusllm_document_ask(session, document, question, strlen(question), &params, on_piece, NULL, &cached,
                                   &result));
    CHECK(plain.len > 0 && strcmp(plain.text, cached.text) == 0);
    CHECK(result.n_chunks == info.n_chunks && result.direct == (info.n_chunks == 0));
    printf("answer: \"%s\"\n", cached.text);

    /* Save, load, ask again. */
    char path[1024];
    snprintf(path, sizeof path, "%s/doc.fllm", scratch);
    CHECK_OK(focusllm_document_save(document, path, strlen(path)));
    focusllm_document *loaded = NULL;
    CHECK_OK(focusllm_document_load(session, path, strlen(path), &loaded));
    if (loaded != NULL) {
        sink again = {0};
        CHECK_OK(focusllm_document_ask(session, loaded, question, strlen(question), &params, on_piece, NULL, &again,
                                       NULL));
        CHECK(strcmp(again.text, plain.text) == 0);
        memset(&info, 0, sizeof info);
        info.struct_size = sizeof info;
        CHECK_OK(focusllm_document_get_info(loaded, &info));
        CHECK(info.n_in_file == info.n_chunks && info.n_in_memory == 0 && info.ingest_seconds == 0.0);
        focusllm_document_free(loaded);
    }

    /* Streamed to its file while processed: the saved file's bytes, no KV in memory. */
    size_t len = 0;
    char *good = read_file(path, &len);
    CHECK(good != NULL && len > 20);
    char streamed_path[1024];
    snprintf(streamed_path, sizeof streamed_path, "%s/streamed.fllm", scratch);
    focusllm_document_params streaming = dp;
    streaming.save_path = streamed_path;
    streaming.save_path_len = strlen(streamed_path);
    focusllm_document *streamed = NULL;
    CHECK_OK(focusllm_document_ingest(session, text, strlen(text), &streaming, NULL, NULL, &streamed));
    if (streamed != NULL) {
        memset(&info, 0, sizeof info);
        info.struct_size = sizeof info;
        CHECK_OK(focusllm_document_get_info(streamed, &info));
        CHECK(info.n_in_memory == 0 && info.memory_bytes == 0 && info.n_in_file == info.n_chunks);
        size_t streamed_len = 0;
        char *streamed_bytes = read_file(streamed_path, &streamed_len);
        CHECK(streamed_bytes != NULL && good != NULL && streamed_len == len && memcmp(streamed_bytes, good, len) == 0);
        free(streamed_bytes);
        sink from_stream = {0};
        CHECK_OK(focusllm_document_ask(session, streamed, question, strlen(question), &params, on_piece, NULL,
                                       &from_stream, NULL));
        CHECK(strcmp(from_stream.text, plain.text) == 0);
        focusllm_document_free(streamed);
    }

    /* Files that must be refused. */
    if (good != NULL) {
        char bad[1024];
        snprintf(bad, sizeof bad, "%s/bad.fllm", scratch);
        write_file(bad, good, len - 1);
        check_refused(session, bad, FOCUSLLM_STATUS_DOCUMENT_FILE, "truncated");
        write_file(bad, "plain text, not a document", 26);
        check_refused(session, bad, FOCUSLLM_STATUS_DOCUMENT_FILE, "not a focusllm document");
        char version = good[8];
        good[8] = 9; /* format version 9 */
        write_file(bad, good, len);
        check_refused(session, bad, FOCUSLLM_STATUS_DOCUMENT_FILE, "newer");
        good[8] = version;
        good[len / 2] ^= 0x10;
        write_file(bad, good, len);
        check_refused(session, bad, FOCUSLLM_STATUS_DOCUMENT_FILE, "damaged");
        free(good);
    }
    focusllm_session *other = new_session(512);
    if (other != NULL) {
        check_refused(other, path, FOCUSLLM_STATUS_DOCUMENT_MISMATCH, "window");
        CHECK_ERROR(focusllm_document_ask(other, document, question, strlen(question), &params, NULL, NULL, NULL, NULL),
                    FOCUSLLM_STATUS_DOCUMENT_MISMATCH, "window");
        focusllm_session_free(other);
    }
    check_refused(session, "/nonexistent/doc.fllm", FOCUSLLM_STATUS_IO, "nonexistent");

    /* Bad arguments. */
    focusllm_document *none = NULL;
    CHECK_ERROR(focusllm_document_ingest(NULL, text, strlen(text), NULL, NULL, NULL, &none),
                FOCUSLLM_STATUS_INVALID_ARGUMENT, "session");
    CHECK_ERROR(focusllm_document_ingest(session, text, strlen(text), NULL, NULL, NULL, NULL),
                FOCUSLLM_STATUS_INVALID_ARGUMENT, "out_document");
    CHECK_ERROR(focusllm_document_ingest(session, "", 0, NULL, NULL, NULL, &none), FOCUSLLM_STATUS_INVALID_INPUT,
                "empty");
    CHECK_ERROR(focusllm_document_ingest(session, "\xff\xfe", 2, NULL, NULL, NULL, &none),
                FOCUSLLM_STATUS_INVALID_ARGUMENT, "UTF-8");
    dp.spill_dir = "/nonexistent/spill";
    dp.spill_dir_len = strlen(dp.spill_dir);
    CHECK_ERROR(focusllm_document_ingest(session, text, strlen(text), &dp, NULL, NULL, &none), FOCUSLLM_STATUS_IO,
                "spill");
    dp.struct_size = sizeof dp + 8;
    CHECK_ERROR(focusllm_document_ingest(session, text, strlen(text), &dp, NULL, NULL, &none),
                FOCUSLLM_STATUS_STRUCT_SIZE, "focusllm_document_params");
    CHECK(none == NULL);
    CHECK_ERROR(focusllm_document_ask(session, NULL, question, strlen(question), &params, NULL, NULL, NULL, NULL),
                FOCUSLLM_STATUS_INVALID_ARGUMENT, "document");
    CHECK_ERROR(focusllm_document_ask(session, document, "  ", 2, &params, NULL, NULL, NULL, NULL),
                FOCUSLLM_STATUS_INVALID_INPUT, "question");
    CHECK_ERROR(focusllm_document_save(document, "", 0), FOCUSLLM_STATUS_INVALID_ARGUMENT, "path");
    CHECK_ERROR(focusllm_document_save(NULL, path, strlen(path)), FOCUSLLM_STATUS_INVALID_ARGUMENT, "document");
    CHECK_ERROR(focusllm_document_save(document, "/nonexistent/dir/doc.fllm", 25), FOCUSLLM_STATUS_IO, "nonexistent");
    CHECK_ERROR(focusllm_document_get_info(document, NULL), FOCUSLLM_STATUS_INVALID_ARGUMENT, "out_info");
    focusllm_document_free(document);
    focusllm_document_free(NULL);
    focusllm_session_free(session);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL.gguf SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    quick = getenv("FOCUSLLM_TEST_QUICK") != NULL;
    focusllm_model_params mp;
    focusllm_model_default_params(&mp, sizeof mp);
    check_done("start");
    CHECK_OK(focusllm_model_load(argv[1], strlen(argv[1]), &mp, NULL, NULL, &model));
    check_done("load");
    if (model != NULL) {
        test_documents(argv[2]);
        check_done("test_documents");
        focusllm_model_free(model);
    }
    return check_summary("test_document");
}
