/*
 * Tokens, chat templates, metadata and the sampling fields appended to
 * focusllm_generate_params (penalties, logit bias, log-probabilities), through the C API
 * against the real model, with bad input: NULL pointers, too-small buffers, invalid UTF-8,
 * out-of-vocabulary ids, struct sizes too small. Generation is a few tokens; with
 * FOCUSLLM_TEST_QUICK set (valgrind) it is two.
 *
 * Usage: [FOCUSLLM_TEST_QUICK=1] test_tokens MODEL.gguf SCRATCH_DIR
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static focusllm_model *model;
static uint32_t n_generate = 4;
static bool quick;

static focusllm_str str(const char *text) {
    focusllm_str s = {text, strlen(text)};
    return s;
}

static void test_tokenize_and_count(void) {
    const char *text = "Hello, world! ünïcödé";
    size_t n = 0;
    /* Size query: NULL buffer, capacity 0. */
    CHECK_OK(focusllm_model_tokenize(model, text, strlen(text), false, false, NULL, 0, &n));
    CHECK(n > 3 && n < 32);
    int32_t tokens[64];
    size_t n2 = 0;
    CHECK_OK(focusllm_model_tokenize(model, text, strlen(text), false, false, tokens, 64, &n2));
    CHECK(n2 == n);
    size_t counted = 0;
    CHECK_OK(focusllm_model_count_tokens(model, text, strlen(text), false, false, &counted));
    CHECK(counted == n);
    /* A buffer one too small: the count is given, the buffer untouched. */
    int32_t small[64];
    memset(small, 0x7f, sizeof small);
    size_t n3 = 0;
    CHECK_OK(focusllm_model_tokenize(model, text, strlen(text), false, false, small, n - 1, &n3));
    CHECK(n3 == n && small[0] == 0x7f7f7f7f);
    /* Control-token text: one token with parse_special, several without. */
    const char *control = "<|im_start|>";
    CHECK_OK(focusllm_model_tokenize(model, control, strlen(control), false, true, tokens, 64, &n));
    CHECK(n == 1);
    CHECK_OK(focusllm_model_count_tokens(model, control, strlen(control), false, false, &n));
    CHECK(n > 1);
    /* Empty text: zero tokens. */
    CHECK_OK(focusllm_model_count_tokens(model, NULL, 0, false, false, &n));
    CHECK(n == 0);

    /* Bad input. */
    CHECK_ERROR(focusllm_model_tokenize(NULL, text, 5, false, false, tokens, 64, &n),
                FOCUSLLM_STATUS_INVALID_ARGUMENT, "model is NULL");
    CHECK_ERROR(focusllm_model_tokenize(model, NULL, 5, false, false, tokens, 64, &n),
                FOCUSLLM_STATUS_INVALID_ARGUMENT, "text is NULL but its length is 5");
    CHECK_ERROR(focusllm_model_tokenize(model, text, 5, false, false, tokens, 64, NULL),
                FOCUSLLM_STATUS_INVALID_ARGUMENT, "is NULL or not aligned");
    CHECK_ERROR(focusllm_model_tokenize(model, text, 5, false, false, NULL, 8, &n),
                FOCUSLLM_STATUS_INVALID_ARGUMENT, "out_tokens is NULL or not aligned but capacity is 8");
    const char bad_utf8[] = {'a', (char)0xff, 'b'};
    CHECK_ERROR(focusllm_model_tokenize(model, bad_utf8, 3, false, false, tokens, 64, &n),
                FOCUSLLM_STATUS_INVALID_ARGUMENT, "text is not valid UTF-8 (invalid byte at offset 1 of 3)");
    CHECK_ERROR(focusllm_model_count_tokens(model, bad_utf8, 3, false, false, &n),
                FOCUSLLM_STATUS_INVALID_ARGUMENT, "not valid UTF-8");
    CHECK_ERROR(focusllm_model_count_tokens(model, text, 5, false, false, NULL), FOCUSLLM_STATUS_INVALID_ARGUMENT,
                "focusllm_model_count_tokens: the length output");
}

static void test_detokenize(void) {
    const char *text = "Round trip: 世界 and spaces  here.";
    int32_t tokens[64];
    size_t n = 0;
    CHECK_OK(focusllm_model_tokenize(model, text, strlen(text), false, false, tokens, 64, &n));
    char buffer[128];
    size_t len = 0;
    CHECK_OK(focusllm_model_detokenize(model, tokens, n, false, buffer, sizeof buffer, &len));
    CHECK(len == strlen(text) && strcmp(buffer, text) == 0);
    /* Too small: snprintf style, cut at a character boundary, full length reported. */
    char small[16];
    CHECK_OK(focusllm_model_detokenize(model, tokens, n, false, small, sizeof small, &len));
    CHECK(len == strlen(text) && strlen(small) < sizeof small && strncmp(small, text, strlen(small)) == 0);
    CHECK_OK(focusllm_model_detokenize(model, tokens, n, false, NULL, 0, &len));
    CHECK(len == strlen(text));
    /* Control tokens render only with render_special. */
    const char *chat = "<|im_start|>user";
    CHECK_OK(focusllm_model_tokenize(model, chat, strlen(chat), false, true, tokens, 64, &n));
    CHECK_OK(focusllm_model_detokenize(model, tokens, n, true, buffer, sizeof buffer, &len));
    CHECK(strcmp(buffer, chat) == 0);
    CHECK_OK(focusllm_model_detokenize(model, tokens, n, false, buffer, sizeof buffer, &len));
    CHECK(strcmp(buffer, "user") == 0);
    CHECK_OK(focusllm_model_detokenize(model, NULL, 0, false, buffer, sizeof buffer, &len));
    CHECK(len == 0 && buffer[0] == '\0');

    int32_t outside[] = {1, 49152};
    CHECK_ERROR(focusllm_model_detokenize(model, outside, 2, false, buffer, sizeof buffer, &len),
                FOCUSLLM_STATUS_INVALID_INPUT, "token 49152 (at index 1) is outside the model's vocabulary 0..49152");
    CHECK_ERROR(focusllm_model_detokenize(model, NULL, 2, false, buffer, sizeof buffer, &len),
                FOCUSLLM_STATUS_INVALID_ARGUMENT, "tokens is NULL but its length is 2");
    CHECK_ERROR(focusllm_model_detokenize(model, tokens, 1, false, buffer, sizeof buffer, NULL),
                FOCUSLLM_STATUS_INVALID_ARGUMENT, "the length output");
}

static void test_chat_template(void) {
    focusllm_chat_message messages[2];
    messages[0].role = str("system");
    messages[0].content = str("Be brief.");
    messages[1].role = str("user");
    messages[1].content = str("Hi!");
    const char *expected = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n";
    char buffer[256];
    size_t len = 0;
    CHECK_OK(focusllm_model_apply_chat_template(model, messages, 2, false, buffer, sizeof buffer, &len));
    CHECK(strcmp(buffer, expected) == 0 && len == strlen(expected));
    CHECK_OK(focusllm_model_apply_chat_template(model, messages, 2, true, buffer, sizeof buffer, &len));
    CHECK(strncmp(buffer, expected, strlen(expected)) == 0);
    CHECK(strcmp(buffer + strlen(expected), "<|im_start|>assistant\n") == 0);
    /* Size query, then a too-small buffer. */
    size_t full = 0;
    CHECK_OK(focusllm_model_apply_chat_template(model, messages, 2, true, NULL, 0, &full));
    CHECK(full == len);
    char small[8];
    CHECK_OK(focusllm_model_apply_chat_template(model, messages, 2, true, small, sizeof small, &full));
    CHECK(full == len && strcmp(small, "<|im_st") == 0);
    /* The template source itself. */
    CHECK_OK(focusllm_model_chat_template(model, NULL, 0, &len));
    CHECK(len > 50);
    char *source = malloc(len + 1);
    CHECK_OK(focusllm_model_chat_template(model, source, len + 1, &full));
    CHECK(full == len && strstr(source, "im_start") != NULL);
    free(source);

    CHECK_ERROR(focusllm_model_apply_chat_template(model, messages, 0, true, buffer, sizeof buffer, &len),
                FOCUSLLM_STATUS_INVALID_INPUT, "the chat has no messages");
    CHECK_ERROR(focusllm_model_apply_chat_template(model, NULL, 2, true, buffer, sizeof buffer, &len),
                FOCUSLLM_STATUS_INVALID_ARGUMENT, "messages is NULL but its length is 2");
    const char bad_utf8[] = {'h', (char)0xc3};
    messages[1].content.ptr = bad_utf8;
    messages[1].content.len = 2;
    CHECK_ERROR(focusllm_model_apply_chat_template(model, messages, 2, true, buffer, sizeof buffer, &len),
                FOCUSLLM_STATUS_INVALID_ARGUMENT, "messages[1].content is not valid UTF-8");
    messages[1].content.ptr = NULL;
    messages[1].content.len = 3;
    CHECK_ERROR(focusllm_model_apply_chat_template(model, messages, 2, true, buffer, sizeof buffer, &len),
                FOCUSLLM_STATUS_INVALID_ARGUMENT, "messages[1].content is NULL but its length is 3");
    CHECK_ERROR(focusllm_model_apply_chat_template(NULL, messages, 2, true, buffer, sizeof buffer, &len),
                FOCUSLLM_STATUS_INVALID_ARGUMENT, "model is NULL");
}

static void test_info(void) {
    focusllm_model_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    CHECK_OK(focusllm_model_get_info(model, &info));
    CHECK(info.struct_size == sizeof info);
    CHECK(info.n_ctx_train == 8192 && info.n_vocab == 49152 && info.n_layer == 30 && info.n_embd == 576);
    CHECK(info.n_params > 130000000ULL && info.n_params < 140000000ULL);
    CHECK(info.size_bytes > 50000000ULL && info.size_bytes == focusllm_model_size_bytes(model));
    CHECK(info.bos >= 0 && info.eos >= 0 && info.has_chat_template);
    char arch[32];
    size_t len = 0;
    CHECK_OK(focusllm_model_architecture(model, arch, sizeof arch, &len));
    CHECK(strcmp(arch, "llama") == 0 && len == 5);
    /* EOS renders as a control token. */
    char eos[32];
    CHECK_OK(focusllm_model_detokenize(model, &info.eos, 1, true, eos, sizeof eos, &len));
    CHECK(strncmp(eos, "<|", 2) == 0);

    /* An older, shorter focusllm_model_info: only n_ctx_train and n_vocab, then a canary. */
    struct old_info {
        size_t struct_size;
        uint32_t n_ctx_train;
        uint32_t n_vocab;
    };
    struct {
        struct old_info info;
        uint64_t canary;
    } old = {{sizeof(struct old_info), 0, 0}, 0xfeedfacecafebeefULL};
    CHECK_OK(focusllm_model_get_info(model, (focusllm_model_info *)(void *)&old.info));
    CHECK(old.info.n_ctx_train == 8192 && old.info.n_vocab == 49152 && old.canary == 0xfeedfacecafebeefULL);

    /* Bad sizes and pointers. */
    info.struct_size = 0;
    CHECK_ERROR(focusllm_model_get_info(model, &info), FOCUSLLM_STATUS_STRUCT_SIZE,
                "focusllm_model_info.struct_size is 0");
    info.struct_size = 4;
    CHECK_ERROR(focusllm_model_get_info(model, &info), FOCUSLLM_STATUS_STRUCT_SIZE, "smaller than struct_size");
    info.struct_size = sizeof(size_t) + 2;
    CHECK_ERROR(focusllm_model_get_info(model, &info), FOCUSLLM_STATUS_STRUCT_SIZE, "ends inside field n_ctx_train");
    info.struct_size = sizeof info + 8;
    CHECK_ERROR(focusllm_model_get_info(model, &info), FOCUSLLM_STATUS_STRUCT_SIZE, "newer focusllm.h");
    CHECK_ERROR(focusllm_model_get_info(model, NULL), FOCUSLLM_STATUS_INVALID_ARGUMENT, "out_info is NULL");
    info.struct_size = sizeof info;
    CHECK_ERROR(focusllm_model_get_info(NULL, &info), FOCUSLLM_STATUS_INVALID_ARGUMENT, "model is NULL");
    CHECK_ERROR(focusllm_model_architecture(model, arch, sizeof arch, NULL), FOCUSLLM_STATUS_INVALID_ARGUMENT,
                "the length output");
}

/* What the run callbacks record. */
typedef struct {
    int32_t tokens[64];
    size_t n_tokens;
    int32_t logprob_tokens[64];
    size_t n_logprobs;
    int bad_logprobs;   /* unsorted, > 0, wrong count, chosen token not first (greedy) */
    int out_of_order;   /* a piece carried a token whose logprobs had not come first */
} record;

static bool on_piece(const char *text, size_t len, const int32_t *tokens, size_t n_tokens, void *user_data) {
    record *r = user_data;
    (void)text;
    (void)len;
    for (size_t i = 0; i < n_tokens && r->n_tokens < 64; i++) {
        r->tokens[r->n_tokens] = tokens[i];
        if (r->n_logprobs > 0 && r->n_tokens >= r->n_logprobs) {
            r->out_of_order++;
        }
        r->n_tokens++;
    }
    return true;
}

static bool on_logprobs(int32_t token, float logprob, const focusllm_token_logprob *top, size_t n_top,
                        void *user_data) {
    record *r = user_data;
    if (n_top != 3 || logprob > 0.0f || top[0].token != token || top[0].logprob != logprob) {
        r->bad_logprobs++;
    }
    for (size_t i = 0; i < n_top; i++) {
        if (top[i].logprob > 0.0f || (i > 0 && top[i].logprob > top[i - 1].logprob)) {
            r->bad_logprobs++;
        }
    }
    if (r->n_logprobs < 64) {
        r->logprob_tokens[r->n_logprobs++] = token;
    }
    return true;
}

static focusllm_status run(focusllm_session *session, const focusllm_generate_params *params, record *r) {
    focusllm_job job;
    memset(&job, 0, sizeof job);
    job.struct_size = sizeof job;
    /* Raw text the model continues by repeating it (no end-of-generation token early). */
    job.prompt = "one two three one two three one two three one two";
    job.prompt_len = strlen(job.prompt);
    memset(r, 0, sizeof *r);
    return focusllm_session_run(session, &job, params, on_piece, NULL, r, NULL);
}

static void test_sampling_fields(void) {
    focusllm_session_params sp;
    CHECK_OK(focusllm_session_default_params(&sp, sizeof sp));
    sp.n_threads = 1;
    sp.n_ctx = 256;
    /* Small batches in quick mode: llama.cpp sizes (and, under valgrind, slowly builds) its
     * compute graph and output buffer for n_ubatch tokens whenever a context is made. */
    sp.n_batch = quick ? 64 : 512;
    sp.n_ubatch = quick ? 64 : 512;
    focusllm_session *session = NULL;
    CHECK_OK(focusllm_session_new(model, &sp, &session));

    focusllm_generate_params gp;
    CHECK_OK(focusllm_generate_default_params(&gp, sizeof gp));
    CHECK(gp.frequency_penalty == 0.0f && gp.presence_penalty == 0.0f && gp.logit_bias == NULL);
    CHECK(gp.n_logit_bias == 0 && gp.top_logprobs == 0 && gp.on_logprobs == NULL && !gp.penalize_prompt);
    gp.max_tokens = n_generate;
    record plain;
    CHECK_OK(run(session, &gp, &plain));
    CHECK(plain.n_tokens == n_generate);

    /* Log-probabilities: one call per token, before its piece, sorted, chosen first. */
    gp.top_logprobs = 3;
    gp.on_logprobs = on_logprobs;
    record with_logprobs;
    CHECK_OK(run(session, &gp, &with_logprobs));
    CHECK(with_logprobs.n_logprobs == n_generate && with_logprobs.bad_logprobs == 0);
    CHECK(with_logprobs.out_of_order == 0);
    CHECK(memcmp(with_logprobs.logprob_tokens, plain.tokens, n_generate * sizeof(int32_t)) == 0);
    CHECK(memcmp(with_logprobs.tokens, plain.tokens, n_generate * sizeof(int32_t)) == 0);
    gp.top_logprobs = 0;
    gp.on_logprobs = NULL;

    /* A logit bias forcing one token. */
    focusllm_logit_bias force = {plain.tokens[0] == 1000 ? 1001 : 1000, 100.0f};
    gp.logit_bias = &force;
    gp.n_logit_bias = 1;
    record forced;
    CHECK_OK(run(session, &gp, &forced));
    CHECK(forced.n_tokens == n_generate && forced.tokens[0] == force.token && forced.tokens[1] == force.token);
    /* Banning the first greedy token. */
    focusllm_logit_bias ban = {plain.tokens[0], -INFINITY};
    gp.logit_bias = &ban;
    record banned;
    CHECK_OK(run(session, &gp, &banned));
    CHECK(banned.n_tokens > 0 && banned.tokens[0] != plain.tokens[0]);

    /* Bad values are named. */
    focusllm_logit_bias outside = {49152, 1.0f};
    gp.logit_bias = &outside;
    CHECK_ERROR(run(session, &gp, &banned), FOCUSLLM_STATUS_INVALID_PARAM,
                "logit_bias[0] names token 49152, outside the model's vocabulary 0..49152");
    focusllm_logit_bias nan_bias = {5, NAN};
    gp.logit_bias = &nan_bias;
    CHECK_ERROR(run(session, &gp, &banned), FOCUSLLM_STATUS_INVALID_PARAM, "logit_bias[0] for token 5");
    gp.logit_bias = NULL;
    CHECK_ERROR(run(session, &gp, &banned), FOCUSLLM_STATUS_INVALID_ARGUMENT,
                "params.logit_bias is NULL but its length is 1");
    gp.n_logit_bias = 0;
    gp.frequency_penalty = NAN;
    CHECK_ERROR(run(session, &gp, &banned), FOCUSLLM_STATUS_INVALID_PARAM, "frequency_penalty must be in -2..=2");
    gp.frequency_penalty = 0.0f;
    gp.presence_penalty = 3.0f;
    CHECK_ERROR(run(session, &gp, &banned), FOCUSLLM_STATUS_INVALID_PARAM, "presence_penalty must be in -2..=2, got 3");
    gp.presence_penalty = 0.0f;
    gp.top_logprobs = 21;
    CHECK_ERROR(run(session, &gp, &banned), FOCUSLLM_STATUS_INVALID_PARAM, "top_logprobs must be in 0..=20, got 21");
    gp.top_logprobs = 0;

    /* A strong repeat penalty on the prompt's tokens changes the first token, which repeats
     * the prompt; on generated tokens only (the default) it cannot. */
    gp.repeat_penalty = 10.0f;
    record generated_only;
    CHECK_OK(run(session, &gp, &generated_only));
    CHECK(generated_only.n_tokens > 0 && generated_only.tokens[0] == plain.tokens[0]);
    gp.penalize_prompt = true;
    record with_prompt;
    CHECK_OK(run(session, &gp, &with_prompt));
    CHECK(with_prompt.n_tokens > 0 && with_prompt.tokens[0] != plain.tokens[0]);
    gp.penalize_prompt = false;
    gp.repeat_penalty = 1.0f;

    /* Penalties change the greedy answer to a repetitive prompt (full mode: enough tokens). */
    if (n_generate >= 8) {
        gp.frequency_penalty = 1.5f;
        record penalized;
        CHECK_OK(run(session, &gp, &penalized));
        CHECK(memcmp(penalized.tokens, plain.tokens, n_generate * sizeof(int32_t)) != 0);
        gp.frequency_penalty = 0.0f;
    }

    /* The generate params of an older header (before these fields) still run, greedily. */
    struct old_generate_params {
        size_t struct_size;
        uint32_t max_tokens;
        float temperature;
    } old = {sizeof(struct old_generate_params), n_generate, 0.0f};
    record from_old;
    CHECK_OK(run(session, (const focusllm_generate_params *)(const void *)&old, &from_old));
    CHECK(from_old.n_tokens == n_generate && memcmp(from_old.tokens, plain.tokens, n_generate * sizeof(int32_t)) == 0);
    focusllm_session_free(session);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL.gguf SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    const char *quick_env = getenv("FOCUSLLM_TEST_QUICK");
    quick = quick_env != NULL && quick_env[0] != '\0';
    n_generate = quick ? 2 : 10;
    focusllm_model_params mp;
    CHECK_OK(focusllm_model_default_params(&mp, sizeof mp));
    CHECK_OK(focusllm_model_load(argv[1], strlen(argv[1]), &mp, NULL, NULL, &model));
    if (model == NULL) {
        return check_summary("test_tokens");
    }
    check_done("load");
    test_tokenize_and_count();
    test_detokenize();
    test_chat_template();
    test_info();
    check_done("tokens, templates, info");
    test_sampling_fields();
    check_done("sampling fields");
    focusllm_model_free(model);
    return check_summary("test_tokens");
}
