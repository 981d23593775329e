/*
 * Running jobs through the C API against the real model: streaming, results, stop strings,
 * callbacks that stop or cancel, cancel from the callback and from another thread, re-entry,
 * two threads sharing one model, structs from an "older header", and bad run inputs.
 * Generation is kept short (a few tokens, one thread). With FOCUSLLM_TEST_QUICK set (under
 * valgrind, which runs llama.cpp about 100 times slower) prompts are a few raw tokens, answers 3
 * tokens, and the parts that only repeat covered paths (the long document, determinism, two
 * threads) are skipped.
 *
 * Usage: [FOCUSLLM_TEST_QUICK=1] test_run MODEL.gguf SCRATCH_DIR
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"

static focusllm_model *model;
/* Quick mode (FOCUSLLM_TEST_QUICK): shorter answers, fewer repeated paths. */
static int quick;
/* Tokens of the reference answer, which several tests compare with. */
static uint32_t answer_tokens = 8;

/* What a piece callback does besides recording the text. */
enum action { RECORD, STOP_FIRST, CANCEL_FIRST, REENTER, FREE_SELF, OTHER_SESSION, WAIT_FOR_CANCEL };

typedef struct {
    enum action action;
    focusllm_session *session; /* the session running the job */
    focusllm_session *other;   /* for OTHER_SESSION */
    char text[4096];
    size_t len;
    size_t pieces;
    size_t tokens;
    int anomalies; /* pieces not NUL-terminated, progress past its total */
    focusllm_status inner_status;
    char inner_error[512];
    atomic_int piece_seen; /* for WAIT_FOR_CANCEL: set at the first piece */
    atomic_int cancelled;  /* for WAIT_FOR_CANCEL: set by the cancelling thread */
    size_t progress_calls;
    int progress_stop; /* the progress callback returns false */
} sink;

static const char QUESTION[] = "What is the capital of France?";
/* Sentences of the long document (about 19 tokens each). */
#define LONG_DOCUMENT_NOTES 16

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static focusllm_job plain_job(const char *prompt, bool chat) {
    focusllm_job job;
    memset(&job, 0, sizeof job);
    job.struct_size = sizeof job;
    job.prompt = prompt;
    job.prompt_len = strlen(prompt);
    job.chat = chat;
    return job;
}

/* The job most tests run: the chat question, or in quick mode a raw prompt of a few tokens
 * (under valgrind every prompt token costs about a second). */
static focusllm_job question_job(void) {
    return quick ? plain_job("The capital of France is", false) : plain_job(QUESTION, true);
}

static focusllm_generate_params short_params(uint32_t max_tokens) {
    focusllm_generate_params params;
    focusllm_generate_default_params(&params, sizeof params);
    params.max_tokens = max_tokens;
    return params;
}

static focusllm_session *new_session(uint32_t window) {
    focusllm_session_params params;
    focusllm_session_default_params(&params, sizeof params);
    params.n_threads = 1;
    params.n_ctx = 512;
    /* Small batches in quick mode: llama.cpp sizes (and, under valgrind, slowly builds) its
     * compute graph for n_ubatch tokens whenever a context is made, once per run. */
    params.n_batch = quick ? 64 : 512;
    params.n_ubatch = quick ? 64 : 512;
    params.window = window;
    focusllm_session *session = NULL;
    CHECK_OK(focusllm_session_new(model, &params, &session));
    return session;
}

static bool on_progress(size_t done, size_t total, void *user_data) {
    sink *s = user_data;
    s->progress_calls++;
    if (done > total) s->anomalies++;
    return !s->progress_stop;
}

static bool on_piece(const char *text, size_t len, const int32_t *tokens, size_t n_tokens, void *user_data) {
    sink *s = user_data;
    (void)tokens;
    if (text[len] != '\0') s->anomalies++;
    if (s->len + len < sizeof s->text) {
        memcpy(s->text + s->len, text, len);
        s->len += len;
        s->text[s->len] = '\0';
    }
    s->pieces++;
    s->tokens += n_tokens;
    switch (s->action) {
    case RECORD:
        return true;
    case STOP_FIRST:
        return false;
    case CANCEL_FIRST:
        focusllm_session_cancel(s->session);
        return true;
    case REENTER: {
        focusllm_job job = question_job();
        focusllm_generate_params params = short_params(2);
        s->inner_status = focusllm_session_run(s->session, &job, &params, NULL, NULL, NULL, NULL);
        snprintf(s->inner_error, sizeof s->inner_error, "%s", last_error());
        s->action = RECORD;
        return true;
    }
    case FREE_SELF:
        focusllm_session_free(s->session);
        snprintf(s->inner_error, sizeof s->inner_error, "%s", last_error());
        s->action = RECORD;
        return true;
    case OTHER_SESSION: {
        focusllm_job job = question_job();
        focusllm_generate_params params = short_params(2);
        s->inner_status = focusllm_session_run(s->other, &job, &params, NULL, NULL, NULL, NULL);
        s->action = RECORD;
        return true;
    }
    case WAIT_FOR_CANCEL:
        atomic_store(&s->piece_seen, 1);
        for (int i = 0; i < 120000 && !atomic_load(&s->cancelled); i++) sleep_ms(1);
        return true;
    }
    return true;
}

static focusllm_status run(focusllm_session *session, const focusllm_job *job,
                           const focusllm_generate_params *params, sink *s, focusllm_result *result) {
    s->session = session;
    return focusllm_session_run(session, job, params, on_piece, on_progress, s, result);
}

static focusllm_result new_result(void) {
    focusllm_result result;
    memset(&result, 0, sizeof result);
    result.struct_size = sizeof result;
    return result;
}

/* Valid UTF-8 (no overlongs or surrogates checked: the library streams whole characters). */
static int valid_utf8(const char *text, size_t len) {
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)text[i];
        size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
        if (n == 0 || i + n > len) return 0;
        for (size_t k = 1; k < n; k++)
            if (((unsigned char)text[i + k] >> 6) != 0x2) return 0;
        i += n;
    }
    return 1;
}

static char first_answer[4096];

static void test_plain_generation(focusllm_session *session) {
    focusllm_job job = question_job();
    focusllm_generate_params params = short_params(answer_tokens);
    focusllm_result result = new_result();
    sink s = {0};
    CHECK_OK(run(session, &job, &params, &s, &result));
    CHECK(result.struct_size == sizeof result);
    CHECK(result.finish_reason == FOCUSLLM_FINISH_REASON_MAX_TOKENS ||
          result.finish_reason == FOCUSLLM_FINISH_REASON_END_OF_GENERATION);
    CHECK(result.n_tokens >= 1 && result.n_tokens <= answer_tokens);
    CHECK(result.n_prompt_tokens > 3 && result.direct && result.n_chunks == 0);
    CHECK(s.len > 0 && s.pieces >= 1 && s.anomalies == 0 && valid_utf8(s.text, s.len));
    CHECK(s.tokens >= 1 && s.tokens <= result.n_tokens);
    CHECK(s.progress_calls >= 1);
    snprintf(first_answer, sizeof first_answer, "%s", s.text);
    printf("answer: \"%s\" (%zu tokens, %zu prompt tokens)\n", s.text, result.n_tokens, result.n_prompt_tokens);
    if (quick) return;

    /* Greedy by default: the same job gives the same text. NULL callbacks and result are fine. */
    sink again = {0};
    CHECK_OK(run(session, &job, &params, &again, NULL));
    CHECK(strcmp(again.text, first_answer) == 0);
    CHECK_OK(focusllm_session_run(session, &job, &params, NULL, NULL, NULL, NULL));

    /* The other kind of prompt: raw text (no chat template). */
    focusllm_job raw = plain_job("The capital of France is", false);
    sink r = {0};
    CHECK_OK(run(session, &raw, &params, &r, &result));
    CHECK(r.len > 0 && result.n_prompt_tokens >= 4);
}

static void test_documents(void) {
    /* Documents plan against the session's window: 256 tokens keeps contexts small. */
    focusllm_session *session = new_session(256);
    if (session == NULL) return;
    const char *document = quick ? "Alice keeps her keys in the blue drawer."
                                 : "Alice keeps her spare keys in the blue drawer of the kitchen. Bob keeps "
                                   "his bicycle in the garage next to the old piano.";
    focusllm_job job = plain_job(quick ? "Where are the keys?" : "Where does Alice keep her spare keys?", true);
    job.document = document;
    job.document_len = strlen(document);
    focusllm_generate_params params = short_params(quick ? 2 : 6);
    focusllm_result result = new_result();
    sink s = {0};
    CHECK_OK(run(session, &job, &params, &s, &result));
    CHECK(result.direct && result.n_chunks == 0 && result.n_tokens >= 1 && s.len > 0);
    printf("short document: \"%s\"\n", s.text);
    check_done("short document");
    if (quick) {
        focusllm_session_free(session);
        return;
    }

    /* A document longer than the window is read in chunks. */
    static char long_document[16384];
    long_document[0] = '\0';
    for (int i = 0; i < LONG_DOCUMENT_NOTES; i++) {
        char sentence[200];
        snprintf(sentence, sizeof sentence, "Note %d: the weather on day %d was mild and the river was calm. ", i,
                 i + 1);
        strcat(long_document, sentence);
    }
    strcat(long_document, "The secret code is 7421. ");
    job.document = long_document;
    job.document_len = strlen(long_document);
    job.prompt = "What is the secret code?";
    job.prompt_len = strlen(job.prompt);
    params.max_tokens = 4;
    sink c = {0};
    result = new_result();
    CHECK_OK(run(session, &job, &params, &c, &result));
    CHECK(!result.direct && result.n_chunks >= 2 && result.n_waves >= 1 && result.n_tokens >= 1);
    CHECK(result.n_prompt_tokens > 256 && c.progress_calls >= 2);
    printf("long document: \"%s\" (%zu chunks, %zu waves, %zu input tokens)\n", c.text, result.n_chunks,
           result.n_waves, result.n_prompt_tokens);
    focusllm_session_free(session);
}

static void test_stop_string(focusllm_session *session) {
    size_t len = strlen(first_answer);
    if (len < 6) {
        CHECK(len >= 6);
        return;
    }
    /* Stop at the 2 bytes in the middle of the first answer (ASCII for this question). */
    char stop_text[3] = {first_answer[len / 2], first_answer[len / 2 + 1], '\0'};
    focusllm_str stop[1] = {{stop_text, 2}};
    focusllm_job job = question_job();
    focusllm_generate_params params = short_params(answer_tokens);
    params.stop = stop;
    params.n_stop = 1;
    focusllm_result result = new_result();
    sink s = {0};
    CHECK_OK(run(session, &job, &params, &s, &result));
    CHECK(result.finish_reason == FOCUSLLM_FINISH_REASON_STOP_STRING);
    const char *at = strstr(first_answer, stop_text);
    CHECK(at != NULL && s.len == (size_t)(at - first_answer) && strncmp(s.text, first_answer, s.len) == 0);
}

static void test_callbacks_stop_and_cancel(focusllm_session *session) {
    focusllm_job job = question_job();
    focusllm_generate_params params = short_params(answer_tokens);

    /* The piece callback returns false: success, CALLER_STOPPED, one piece. */
    focusllm_result result = new_result();
    sink s = {0};
    s.action = STOP_FIRST;
    CHECK_OK(run(session, &job, &params, &s, &result));
    CHECK(result.finish_reason == FOCUSLLM_FINISH_REASON_CALLER_STOPPED && s.pieces == 1);

    /* The progress callback returns false: CANCELLED, and the result is not written. */
    focusllm_result untouched = new_result();
    untouched.n_tokens = 777;
    result = untouched;
    sink p = {0};
    p.progress_stop = 1;
    CHECK_ERROR(run(session, &job, &params, &p, &result), FOCUSLLM_STATUS_CANCELLED, "cancelled");
    CHECK(memcmp(&result, &untouched, sizeof result) == 0 && p.pieces == 0);

    /* Cancel from inside the piece callback. */
    sink c = {0};
    c.action = CANCEL_FIRST;
    CHECK_ERROR(run(session, &job, &params, &c, &result), FOCUSLLM_STATUS_CANCELLED, "focusllm_session_run");
    CHECK(c.pieces == 1 && result.n_tokens == 777);

    /* A call after a cancelled one runs normally. */
    sink after = {0};
    CHECK_OK(run(session, &job, &params, &after, NULL));
    CHECK(strcmp(after.text, first_answer) == 0);

    /* A cancel while idle is not lost: it stops the next call, at once (two count as one);
     * the call after that runs normally. */
    CHECK_OK(focusllm_session_cancel(session));
    CHECK_OK(focusllm_session_cancel(session));
    sink idle = {0};
    CHECK_ERROR(run(session, &job, &params, &idle, NULL), FOCUSLLM_STATUS_CANCELLED, "cancelled");
    CHECK(idle.pieces == 0);
    sink again = {0};
    CHECK_OK(run(session, &job, &params, &again, NULL));
    CHECK(strcmp(again.text, first_answer) == 0);

    /* A call's own token: cancelled before the call, it stops that call only. */
    focusllm_cancel_token *token = NULL;
    CHECK_OK(focusllm_cancel_token_new(&token));
    CHECK(token != NULL && !focusllm_cancel_token_is_cancelled(token));
    CHECK_OK(focusllm_cancel_token_cancel(token));
    CHECK(focusllm_cancel_token_is_cancelled(token));
    focusllm_generate_params with_token = params;
    with_token.cancel = token;
    sink early = {0};
    CHECK_ERROR(run(session, &job, &with_token, &early, NULL), FOCUSLLM_STATUS_CANCELLED, "cancelled");
    CHECK(early.pieces == 0);
    focusllm_cancel_token_free(token);
    sink untouched_by_token = {0};
    CHECK_OK(run(session, &job, &params, &untouched_by_token, NULL));
    CHECK(strcmp(untouched_by_token.text, first_answer) == 0);
}

static void test_reentry(focusllm_session *session) {
    focusllm_job job = question_job();
    focusllm_generate_params params = short_params(quick ? 2 : 4);

    /* The same session from its own callback: BUSY, and the outer call goes on. */
    sink s = {0};
    s.action = REENTER;
    CHECK_OK(run(session, &job, &params, &s, NULL));
    CHECK(s.inner_status == FOCUSLLM_STATUS_BUSY);
    CHECK(strstr(s.inner_error, "already running a call") != NULL);
    CHECK(s.len > 0);

    /* Freeing the session from its own callback is refused; the session stays usable. */
    sink f = {0};
    f.action = FREE_SELF;
    CHECK_OK(run(session, &job, &params, &f, NULL));
    CHECK(strstr(f.inner_error, "not freed") != NULL);
    CHECK_OK(run(session, &job, &params, &(sink){0}, NULL));

    /* Another session may be used from inside the callback. */
    if (quick) return;
    sink o = {0};
    o.action = OTHER_SESSION;
    o.other = new_session(0);
    CHECK_OK(run(session, &job, &params, &o, NULL));
    CHECK(o.inner_status == FOCUSLLM_STATUS_OK);
    focusllm_session_free(o.other);
}

static void *cancel_when_streaming(void *user_data) {
    sink *s = user_data;
    for (int i = 0; i < 120000 && !atomic_load(&s->piece_seen); i++) sleep_ms(1);
    focusllm_session_cancel(s->session);
    atomic_store(&s->cancelled, 1);
    return NULL;
}

static void test_cancel_from_another_thread(focusllm_session *session) {
    focusllm_job job = question_job();
    focusllm_generate_params params = short_params(8);
    sink s = {0};
    s.action = WAIT_FOR_CANCEL;
    s.session = session;
    pthread_t thread;
    CHECK(pthread_create(&thread, NULL, cancel_when_streaming, &s) == 0);
    CHECK_ERROR(run(session, &job, &params, &s, NULL), FOCUSLLM_STATUS_CANCELLED, "cancelled");
    pthread_join(thread, NULL);
    CHECK(s.pieces == 1);
}

typedef struct {
    focusllm_session *session;
    focusllm_status status;
    sink s;
} worker;

static void *work(void *user_data) {
    worker *w = user_data;
    focusllm_job job = question_job();
    focusllm_generate_params params = short_params(4);
    w->status = run(w->session, &job, &params, &w->s, NULL);
    return NULL;
}

static void test_threads_share_the_model(void) {
    worker workers[2];
    pthread_t threads[2];
    memset(workers, 0, sizeof workers);
    for (int i = 0; i < 2; i++) {
        workers[i].session = new_session(0);
        CHECK(pthread_create(&threads[i], NULL, work, &workers[i]) == 0);
    }
    for (int i = 0; i < 2; i++) pthread_join(threads[i], NULL);
    for (int i = 0; i < 2; i++) {
        CHECK(workers[i].status == FOCUSLLM_STATUS_OK && workers[i].s.len > 0);
        focusllm_session_free(workers[i].session);
    }
    CHECK(strcmp(workers[0].s.text, workers[1].s.text) == 0);
}

static void test_structs_from_an_older_header(void) {
    /* An older focusllm_session_params: only the first four fields; the rest take defaults. */
    struct old_session_params {
        size_t struct_size;
        uint32_t n_ctx, n_batch, n_ubatch, n_threads;
    } old_sp = {sizeof(struct old_session_params), 512, 256, 256, 1};
    focusllm_session *session = NULL;
    CHECK_OK(focusllm_session_new(model, (const focusllm_session_params *)(const void *)&old_sp, &session));
    if (session == NULL) return;

    /* An older focusllm_generate_params: max_tokens and temperature only. */
    struct old_generate_params {
        size_t struct_size;
        uint32_t max_tokens;
        float temperature;
    } old_gp = {sizeof(struct old_generate_params), answer_tokens / 2, 0.0f};
    /* An older focusllm_result: finish_reason and direct only, followed by a canary. */
    struct old_result {
        size_t struct_size;
        int32_t finish_reason;
        bool direct;
    };
    struct {
        struct old_result result;
        uint64_t canary;
    } out = {{sizeof(struct old_result), 0, false}, 0xfeedfacecafebeefULL};
    focusllm_job job = question_job();
    sink s = {0};
    CHECK_OK(run(session, &job, (const focusllm_generate_params *)(const void *)&old_gp, &s,
                 (focusllm_result *)(void *)&out.result));
    CHECK(out.result.struct_size == sizeof(struct old_result));
    CHECK(out.result.finish_reason == FOCUSLLM_FINISH_REASON_MAX_TOKENS && out.result.direct);
    CHECK(out.canary == 0xfeedfacecafebeefULL);
    CHECK(strncmp(s.text, first_answer, s.len) == 0 && s.len > 0 && s.len < strlen(first_answer));

    /* Sizes from a header newer than the library, or not set, are refused before any work. */
    focusllm_generate_params params = short_params(3);
    params.struct_size = sizeof params + 8;
    CHECK_ERROR(run(session, &job, &params, &s, NULL), FOCUSLLM_STATUS_STRUCT_SIZE, "newer focusllm.h");
    params.struct_size = sizeof params;
    focusllm_result result = new_result();
    result.struct_size = sizeof result + 8;
    CHECK_ERROR(run(session, &job, &params, &s, &result), FOCUSLLM_STATUS_STRUCT_SIZE, "focusllm_result");
    result.struct_size = 0;
    CHECK_ERROR(run(session, &job, &params, &s, &result), FOCUSLLM_STATUS_STRUCT_SIZE,
                "set out_result->struct_size");
    job.struct_size = 0;
    CHECK_ERROR(run(session, &job, &params, &s, NULL), FOCUSLLM_STATUS_STRUCT_SIZE, "focusllm_job.struct_size is 0");
    focusllm_session_free(session);
}

static void test_bad_run_inputs(focusllm_session *session) {
    focusllm_job job = plain_job(QUESTION, true);
    focusllm_generate_params params = short_params(2);
    sink s = {0};
    CHECK_ERROR(run(session, NULL, &params, &s, NULL), FOCUSLLM_STATUS_INVALID_ARGUMENT, "job is NULL");
    CHECK_ERROR(run(session, &job, NULL, &s, NULL), FOCUSLLM_STATUS_INVALID_ARGUMENT, "params is NULL");

    focusllm_job bad = job;
    bad.prompt = NULL;
    CHECK_ERROR(run(session, &bad, &params, &s, NULL), FOCUSLLM_STATUS_INVALID_ARGUMENT,
                "job.prompt is NULL but its length is 30");
    bad.prompt_len = 0;
    CHECK_ERROR(run(session, &bad, &params, &s, NULL), FOCUSLLM_STATUS_INVALID_INPUT, "empty");
    bad.prompt = "caf\xc3";
    bad.prompt_len = 4;
    CHECK_ERROR(run(session, &bad, &params, &s, NULL), FOCUSLLM_STATUS_INVALID_ARGUMENT,
                "job.prompt is not valid UTF-8");
    bad = job;
    bad.document = "ok \xff\xfe";
    bad.document_len = 5;
    CHECK_ERROR(run(session, &bad, &params, &s, NULL), FOCUSLLM_STATUS_INVALID_ARGUMENT,
                "job.document is not valid UTF-8 (invalid byte at offset 3");
    bad.document_len = SIZE_MAX;
    CHECK_ERROR(run(session, &bad, &params, &s, NULL), FOCUSLLM_STATUS_INVALID_ARGUMENT, "larger than any buffer");

    focusllm_generate_params p = params;
    p.max_tokens = 0;
    CHECK_ERROR(run(session, &job, &p, &s, NULL), FOCUSLLM_STATUS_INVALID_PARAM, "max_tokens must be at least 1");
    p = params;
    p.top_p = 0.0f;
    CHECK_ERROR(run(session, &job, &p, &s, NULL), FOCUSLLM_STATUS_INVALID_PARAM, "top_p");
    p = params;
    p.n_stop = 2;
    CHECK_ERROR(run(session, &job, &p, &s, NULL), FOCUSLLM_STATUS_INVALID_ARGUMENT,
                "params.stop is NULL but its length is 2");
    p.n_stop = 100000;
    CHECK_ERROR(run(session, &job, &p, &s, NULL), FOCUSLLM_STATUS_INVALID_PARAM, "n_stop must be at most");
    focusllm_str stops[2] = {{"\n", 1}, {"\xc0\xaf", 2}};
    p.stop = stops;
    p.n_stop = 2;
    CHECK_ERROR(run(session, &job, &p, &s, NULL), FOCUSLLM_STATUS_INVALID_ARGUMENT,
                "params.stop[1] is not valid UTF-8");
    stops[1].len = 0;
    CHECK_ERROR(run(session, &job, &p, &s, NULL), FOCUSLLM_STATUS_INVALID_PARAM, "stop string must not be empty");
    CHECK(s.pieces == 0);
}

static int log_lines;
static int log_bad;
static void on_log(focusllm_log_level level, const char *text, size_t len, void *user_data) {
    (void)user_data;
    if (level < FOCUSLLM_LOG_LEVEL_DEBUG || level > FOCUSLLM_LOG_LEVEL_ERROR || text[len] != '\0') log_bad++;
    log_lines++;
}

/* The model may be freed before its sessions; the log callback sees llama.cpp's lines. */
static void test_model_lifetime_and_log(const char *model_path) {
    CHECK_OK(focusllm_set_log_callback(on_log, NULL));
    focusllm_model_params mp;
    focusllm_model_default_params(&mp, sizeof mp);
    focusllm_model *second = NULL;
    CHECK_OK(focusllm_model_load(model_path, strlen(model_path), &mp, NULL, NULL, &second));
    CHECK_OK(focusllm_set_log_callback(NULL, NULL));
    CHECK(log_lines > 0 && log_bad == 0);
    if (second == NULL) return;
    focusllm_session_params sp;
    focusllm_session_default_params(&sp, sizeof sp);
    sp.n_threads = 1;
    sp.n_ctx = 256;
    focusllm_session *session = NULL;
    CHECK_OK(focusllm_session_new(second, &sp, &session));
    focusllm_model_free(second);
    focusllm_job job = question_job();
    focusllm_generate_params params = short_params(2);
    CHECK_OK(focusllm_session_run(session, &job, &params, NULL, NULL, NULL, NULL));
    focusllm_session_free(session);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL.gguf SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    quick = getenv("FOCUSLLM_TEST_QUICK") != NULL;
    answer_tokens = quick ? 3 : 8;
    focusllm_model_params mp;
    focusllm_model_default_params(&mp, sizeof mp);
    check_done("start");
    CHECK_OK(focusllm_model_load(argv[1], strlen(argv[1]), &mp, NULL, NULL, &model));
    check_done("load");
    if (model == NULL) return check_summary("test_run");
    focusllm_session *session = new_session(0);
    if (session != NULL) {
        test_plain_generation(session);
        check_done("test_plain_generation");
        test_documents();
        check_done("test_documents");
        test_stop_string(session);
        check_done("test_stop_string");
        test_callbacks_stop_and_cancel(session);
        check_done("test_callbacks_stop_and_cancel");
        test_reentry(session);
        check_done("test_reentry");
        test_cancel_from_another_thread(session);
        check_done("test_cancel_from_another_thread");
        test_bad_run_inputs(session);
        check_done("test_bad_run_inputs");
        focusllm_session_free(session);
    }
    if (!quick) {
        test_threads_share_the_model();
        check_done("test_threads_share_the_model");
    }
    test_structs_from_an_older_header();
    check_done("test_structs_from_an_older_header");
    test_model_lifetime_and_log(argv[1]);
    check_done("test_model_lifetime_and_log");
    focusllm_model_free(model);
    return check_summary("test_run");
}
