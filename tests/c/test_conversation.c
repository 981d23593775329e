/*
 * Conversations and sources through the C API against the real model: a second turn that
 * decodes only its new tokens, a restored history that replies the same, the history read
 * back, a cancel that leaves it unchanged, a conversation over a processed document that
 * outlives the document handle, and (not in quick mode) a fact from turn 1 recalled past
 * three windows with the message it came from cited, and a session run's sources.
 *
 * Usage: [FOCUSLLM_TEST_QUICK=1] test_conversation MODEL.gguf SCRATCH_DIR
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
    char text[1024];
    size_t len;
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

static focusllm_session *new_session(uint32_t window) {
    focusllm_session_params params;
    focusllm_session_default_params(&params, sizeof params);
    params.n_threads = 1;
    params.window = window;
    /* Small batches in quick mode (valgrind): llama.cpp builds its compute graph for
     * n_ubatch tokens whenever a context is made. */
    params.n_batch = quick ? 64 : 2048;
    params.n_ubatch = quick ? 64 : 512;
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

static focusllm_result new_result(void) {
    focusllm_result result;
    memset(&result, 0, sizeof result);
    result.struct_size = sizeof result;
    return result;
}

/* Sends `text`; the reply lands in `reply`. */
static focusllm_status send(focusllm_conversation *chat, const char *text, uint32_t max_tokens, sink *reply,
                            focusllm_result *result) {
    focusllm_generate_params params = short_params(max_tokens);
    memset(reply, 0, sizeof *reply);
    return focusllm_conversation_send(chat, text, strlen(text), &params, on_piece, NULL, reply, result);
}

static size_t message_count(focusllm_conversation *chat) {
    size_t count = 0;
    CHECK_OK(focusllm_conversation_message_count(chat, &count));
    return count;
}

/* Message `index` of the history, in a buffer the caller frees. */
static char *message(focusllm_conversation *chat, size_t index, focusllm_role *role) {
    size_t len = 0;
    CHECK_OK(focusllm_conversation_get_message(chat, index, NULL, 0, &len, role));
    char *text = malloc(len + 1);
    if (text == NULL) return NULL;
    size_t again = 0;
    CHECK_OK(focusllm_conversation_get_message(chat, index, text, len + 1, &again, NULL));
    CHECK(again == len && strlen(text) == len);
    return text;
}

static void test_turns(void) {
    focusllm_session *session = new_session(2048);
    if (session == NULL) return;
    const char *system = "You are a helpful assistant.";
    focusllm_conversation *chat = NULL;
    CHECK_OK(focusllm_conversation_new(session, system, strlen(system), &chat));
    if (chat == NULL) {
        focusllm_session_free(session);
        return;
    }
    uint32_t n = quick ? 3 : 10;
    sink first, second;
    focusllm_result r1 = new_result(), r2 = new_result();
    CHECK_OK(send(chat, "My name is Alice and I live in Lisbon.", n, &first, &r1));
    CHECK(r1.direct && r1.n_cached_tokens == 0 && r1.n_sources == 0 && r1.n_tokens > 0);
    CHECK_OK(send(chat, "Where do I live?", n, &second, &r2));
    CHECK(r2.n_cached_tokens > r1.n_prompt_tokens && r2.n_cached_tokens < r2.n_prompt_tokens);
    CHECK(message_count(chat) == 4);
    focusllm_role role = -1;
    char *reply = message(chat, 3, &role);
    CHECK(reply != NULL && role == FOCUSLLM_ROLE_ASSISTANT && strcmp(reply, second.text) == 0);
    free(reply);
    char *asked = message(chat, 0, &role);
    CHECK(asked != NULL && role == FOCUSLLM_ROLE_USER && strcmp(asked, "My name is Alice and I live in Lisbon.") == 0);
    free(asked);

    /* A cancel before the call stops it, and the history stays as it was. */
    CHECK_OK(focusllm_conversation_cancel(chat));
    sink cancelled;
    CHECK_ERROR(send(chat, "Tell me more.", n, &cancelled, NULL), FOCUSLLM_STATUS_CANCELLED, "cancel");
    CHECK(message_count(chat) == 4);

    /* The same history pushed into a new conversation (the session freed first) replies the same. */
    focusllm_conversation *restored = NULL;
    CHECK_OK(focusllm_conversation_new(session, system, strlen(system), &restored));
    focusllm_session_free(session);
    if (restored != NULL) {
        const char *user = "My name is Alice and I live in Lisbon.";
        CHECK_OK(focusllm_conversation_push(restored, FOCUSLLM_ROLE_USER, user, strlen(user)));
        CHECK_OK(focusllm_conversation_push(restored, FOCUSLLM_ROLE_ASSISTANT, first.text, first.len));
        CHECK_ERROR(focusllm_conversation_push(restored, FOCUSLLM_ROLE_ASSISTANT, "x", 1), FOCUSLLM_STATUS_INVALID_INPUT,
                    "must have the role \"user\"");
        sink again;
        focusllm_result r3 = new_result();
        CHECK_OK(send(restored, "Where do I live?", n, &again, &r3));
        CHECK(r3.n_cached_tokens == 0 && r3.n_prompt_tokens == r2.n_prompt_tokens);
        CHECK(strcmp(again.text, second.text) == 0);
        focusllm_conversation_free(restored);
    }
    focusllm_conversation_free(chat);
    printf("turn 2: \"%s\"\n", second.text);
}

/* A fact in turn 1, then filler exchanges until the history passes three windows of 1024. */
static void test_past_the_window(void) {
    focusllm_session *session = new_session(1024);
    if (session == NULL) return;
    focusllm_conversation *chat = NULL;
    CHECK_OK(focusllm_conversation_new(session, NULL, 0, &chat));
    if (chat == NULL) {
        focusllm_session_free(session);
        return;
    }
    const char *fact = "Remember this: the secret code is 58291. Keep it safe.";
    const char *noted = "Understood, I will remember it.";
    CHECK_OK(focusllm_conversation_push(chat, FOCUSLLM_ROLE_USER, fact, strlen(fact)));
    CHECK_OK(focusllm_conversation_push(chat, FOCUSLLM_ROLE_ASSISTANT, noted, strlen(noted)));
    for (int i = 1; i <= 40; i++) {
        char user[256], reply[256];
        snprintf(user, sizeof user,
                 "Tell me about garden number %d. The grass is green. The sky is blue. The sun is yellow. Here we "
                 "go. There and back again. The grass is green. The sky is blue.",
                 i);
        snprintf(reply, sizeof reply,
                 "Garden number %d has tall trees, a small pond and a path of grey stones. Birds sing there in the "
                 "morning and the wind is calm in the evening. People walk there after work.",
                 i);
        CHECK_OK(focusllm_conversation_push(chat, FOCUSLLM_ROLE_USER, user, strlen(user)));
        CHECK_OK(focusllm_conversation_push(chat, FOCUSLLM_ROLE_ASSISTANT, reply, strlen(reply)));
    }
    sink answer;
    focusllm_result result = new_result();
    CHECK_OK(send(chat, "What is the secret code? Answer with the number.", 12, &answer, &result));
    CHECK(!result.direct && result.n_prompt_tokens > 3 * 1024 && result.n_sources > 0);
    CHECK(strstr(answer.text, "58291") != NULL);
    int cited = 0;
    for (size_t i = 0; i < result.n_sources; i++) {
        focusllm_source source;
        memset(&source, 0, sizeof source);
        source.struct_size = sizeof source;
        CHECK_OK(focusllm_conversation_get_source(chat, i, &source));
        CHECK(source.byte_start < source.byte_end);
        if (source.text == FOCUSLLM_SOURCE_TEXT_MESSAGE && source.message == 0 && source.byte_start <= 34 &&
            source.byte_end >= 39) {
            cited = 1; /* "58291" is bytes 34..39 of the fact */
        }
    }
    CHECK(cited);
    focusllm_source past;
    memset(&past, 0, sizeof past);
    past.struct_size = sizeof past;
    CHECK_ERROR(focusllm_conversation_get_source(chat, result.n_sources, &past), FOCUSLLM_STATUS_INVALID_ARGUMENT,
                "past the last call's sources");
    printf("past the window: \"%s\" (%zu tokens, %zu sources)\n", answer.text, result.n_prompt_tokens,
           result.n_sources);
    focusllm_conversation_free(chat);
    focusllm_session_free(session);
}

/* A conversation over a processed document; the document handle is freed before it. */
static void test_over_document(void) {
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
    focusllm_document_params dp;
    CHECK_OK(focusllm_document_default_params(&dp, sizeof dp));
    focusllm_document *document = NULL;
    CHECK_OK(focusllm_document_ingest(session, text, strlen(text), &dp, NULL, NULL, &document));
    focusllm_conversation *chat = NULL;
    CHECK_OK(focusllm_conversation_new_over_document(session, document, &chat));
    focusllm_document_free(document);
    if (chat != NULL) {
        sink answer;
        focusllm_result result = new_result();
        CHECK_OK(send(chat, "What is the secret code?", quick ? 2 : 8, &answer, &result));
        CHECK(result.direct == quick && (quick || result.n_sources > 0));
        CHECK(message_count(chat) == 2);
        if (!quick) {
            focusllm_source source;
            memset(&source, 0, sizeof source);
            source.struct_size = sizeof source;
            CHECK_OK(focusllm_conversation_get_source(chat, 0, &source));
            CHECK(source.text == FOCUSLLM_SOURCE_TEXT_DOCUMENT && source.byte_end <= strlen(text));
        }
        printf("over a document: \"%s\"\n", answer.text);
        focusllm_conversation_free(chat);
    }

    /* A session run over the text records its sources too. */
    if (!quick) {
        const char *question = "\nQ: What is the secret code?\nA: The secret code is";
        focusllm_job job;
        memset(&job, 0, sizeof job);
        job.struct_size = sizeof job;
        job.document = text;
        job.document_len = strlen(text);
        job.prompt = question;
        job.prompt_len = strlen(question);
        focusllm_generate_params params = short_params(4);
        focusllm_result result = new_result();
        CHECK_OK(focusllm_session_run(session, &job, &params, NULL, NULL, NULL, &result));
        CHECK(result.n_sources > 0);
        int has_code = 0;
        for (size_t i = 0; i < result.n_sources; i++) {
            focusllm_source source;
            memset(&source, 0, sizeof source);
            source.struct_size = sizeof source;
            CHECK_OK(focusllm_session_get_source(session, i, &source));
            CHECK(source.byte_start < source.byte_end && source.byte_end <= strlen(text));
            const char *code = strstr(text, "7421");
            size_t at = (size_t)(code - text);
            if (source.byte_start <= at && at + 4 <= source.byte_end) has_code = 1;
        }
        CHECK(has_code);
    }
    focusllm_session_free(session);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL.gguf SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    quick = getenv("FOCUSLLM_TEST_QUICK") != NULL;
    focusllm_model_params mp;
    focusllm_model_default_params(&mp, sizeof mp);
    CHECK_OK(focusllm_model_load(argv[1], strlen(argv[1]), &mp, NULL, NULL, &model));
    if (model == NULL) return check_summary("test_conversation");
    check_done("load");
    test_turns();
    check_done("turns");
    if (!quick) {
        test_past_the_window();
        check_done("past the window");
    }
    test_over_document();
    check_done("over a document");
    focusllm_model_free(model);
    return check_summary("test_conversation");
}
