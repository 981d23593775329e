// The C++17 wrapper include/focusllm.hpp, built against an installed focusllm only and run on
// the real model: handles, errors, streaming through a lambda, exceptions out of a callback,
// cancellation, processed documents, conversations.
//
//   test_focusllm_hpp MODEL.gguf SCRATCH_DIR
//
// Prints "test_focusllm_hpp: N checks passed, M failed"; exits 1 when any failed.
#include <focusllm.hpp>

#include <cstdio>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

static_assert(!std::is_copy_constructible_v<focusllm::Model>, "a Model owns its handle");
static_assert(!std::is_copy_assignable_v<focusllm::Session>, "a Session owns its handle");
static_assert(std::is_nothrow_move_constructible_v<focusllm::Model>, "a Model moves");
static_assert(std::is_nothrow_move_constructible_v<focusllm::Session>, "a Session moves");
static_assert(std::is_nothrow_move_constructible_v<focusllm::Document>, "a Document moves");

namespace {

int passed = 0;
int failed = 0;

void check(bool ok, const std::string &what) {
    if (ok) {
        ++passed;
    } else {
        ++failed;
        std::fprintf(stderr, "FAILED: %s\n", what.c_str());
    }
}

// Runs `body`, which must throw focusllm::Error with `status`; returns its message.
template <typename Body>
std::string expect_error(int32_t status, const std::string &what, Body body) {
    try {
        body();
        check(false, what + ": no exception");
    } catch (const focusllm::Error &error) {
        check(error.status() == status, what + ": status " + std::to_string(error.status()) + " (" +
                                            error.status_name() + "), expected " + std::to_string(status));
        return error.what();
    }
    return {};
}

const std::string_view kDocument =
    "The lighthouse keeper of Ardmore was called Niamh. Every evening she climbed the 112 steps "
    "of the tower and lit the lamp before sunset.";
const std::string_view kQuestion = "What was the lighthouse keeper called?";

}  // namespace

int main(int argc, char **argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s MODEL.gguf SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    const std::string model_path = argv[1];
    const std::string scratch = argv[2];
    try {
        focusllm::check_abi();
        check(focusllm::version().substr(0, 9) == "focusllm ", "version() names focusllm");

        const std::string missing = scratch + "/no-such-model.gguf";
        std::string message =
            expect_error(FOCUSLLM_STATUS_MODEL_FILE, "a missing model", [&] { focusllm::Model model(missing); });
        check(message.find(missing) != std::string::npos, "the error names the missing path: " + message);

        focusllm::Model model(model_path);
        check(model.n_ctx_train() >= 2048, "the model's window");
        check(!model.description().empty(), "the model's description");

        // Tokens, templates and metadata.
        const std::vector<int32_t> tokens = model.tokenize("Hello, world!");
        check(!tokens.empty() && model.detokenize(tokens) == "Hello, world!", "tokenize/detokenize round trip");
        check(model.count_tokens("Hello, world!") == tokens.size(), "count_tokens counts what tokenize gives");
        check(model.tokenize("<|im_start|>", false, true).size() == 1, "parse_special makes one control token");
        const std::string chat = model.apply_chat_template({{"user", "Hi!"}}, true);
        check(chat == "<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n", "apply_chat_template: " + chat);
        const focusllm_model_info info = model.info();
        check(info.n_vocab == 49152 && info.n_ctx_train == model.n_ctx_train() && info.has_chat_template,
              "info()");
        check(model.architecture() == "llama", "architecture(): " + model.architecture());
        message = expect_error(FOCUSLLM_STATUS_INVALID_INPUT, "an id outside the vocabulary",
                               [&] { model.detokenize({49152}); });
        check(message.find("token 49152") != std::string::npos, "the error names the id: " + message);

        focusllm_session_params session_params = focusllm::default_session_params();
        session_params.n_ctx = 1024;
        session_params.window = 1024;
        session_params.n_threads = 2;
        focusllm_generate_params params = focusllm::default_generate_params();
        params.max_tokens = 8;

        // A session keeps its model alive: the Model handle may go first.
        focusllm::Session session = [&] {
            focusllm::Model own(model_path);
            return focusllm::Session(own, session_params);
        }();

        std::string streamed;
        int pieces = 0;
        focusllm_result result = session.ask(
            kDocument, kQuestion,
            [&](std::string_view piece) {
                streamed += piece;
                ++pieces;
                return true;
            },
            params);
        check(result.n_tokens > 0 && pieces > 0 && !streamed.empty(), "ask streams an answer");
        check(session.ask(kDocument, kQuestion, params) == streamed, "the collected answer equals the stream");
        std::printf("answer: %s\n", streamed.c_str());

        int seen = 0;
        result = session.generate(
            "Count from one to ten.", [&](std::string_view) { return ++seen < 2; }, true, params);
        check(result.finish_reason == FOCUSLLM_FINISH_REASON_CALLER_STOPPED && seen == 2,
              "returning false stops generation (finish reason " + std::to_string(result.finish_reason) + ")");

        // Log-probabilities through the wrapper's LogprobsFn, before each token's piece.
        focusllm_generate_params with_logprobs = params;
        with_logprobs.top_logprobs = 2;
        std::vector<int32_t> logprob_tokens;
        bool sorted = true;
        focusllm_job job{};
        job.struct_size = sizeof job;
        job.prompt = "apple banana apple banana";
        job.prompt_len = std::string_view(job.prompt).size();
        result = session.run(
            job, [&](std::string_view) { return true; }, with_logprobs, {},
            [&](const focusllm::TokenLogprobs &entry) {
                logprob_tokens.push_back(entry.token);
                sorted = sorted && entry.top.size() == 2 && entry.top[0].logprob >= entry.top[1].logprob &&
                         entry.logprob <= 0.0f;
                return true;
            });
        check(logprob_tokens.size() == result.n_tokens && sorted, "one sorted logprobs entry per token");

        try {
            session.ask(kDocument, kQuestion, [](std::string_view) -> bool { throw std::logic_error("from the lambda"); },
                        params);
            check(false, "an exception in the callback propagates");
        } catch (const std::logic_error &error) {
            check(std::string(error.what()) == "from the lambda", "the callback's own exception comes back");
        }
        check(session.ask(kDocument, kQuestion, params) == streamed, "the session works after a callback threw");

        expect_error(FOCUSLLM_STATUS_CANCELLED, "cancel() from the progress callback", [&] {
            session.ask(
                kDocument, kQuestion, [](std::string_view) { return true; }, params,
                [&](std::size_t, std::size_t) {
                    session.cancel();
                    return true;
                });
        });

        focusllm::Document document = session.ingest(kDocument);
        check(document.info().n_tokens > 0, "the document's tokens");
        std::string from_document;
        session.ask(
            document, kQuestion, [&](std::string_view piece) { return from_document += piece, true; }, params);
        check(from_document == streamed, "a processed document answers like the text: '" + from_document + "'");
        const std::string saved = scratch + "/document.fllm";
        document.save(saved);
        focusllm::Document loaded = session.load_document(saved);
        std::string from_file;
        session.ask(loaded, kQuestion, [&](std::string_view piece) { return from_file += piece, true; }, params);
        check(from_file == streamed, "a saved document answers like the text: '" + from_file + "'");
        std::remove(saved.c_str());

        // A conversation over the processed document: the first turn answers as ask does,
        // a follow-up reuses the history, the history reads back, and a restored one agrees.
        focusllm::Conversation over(session, document);
        check(over.send(kQuestion, params) == streamed, "a conversation's first turn answers like ask");
        focusllm::Conversation plain(session, "You are terse.");
        const std::string first = plain.send("My name is Niamh.", params);
        std::string second;
        result = plain.send("What is my name?", [&](std::string_view piece) { return second += piece, true; }, params);
        check(result.n_cached_tokens > 0 && result.n_sources == 0, "turn 2 reuses turn 1's KV");
        const auto history = plain.messages();
        check(history.size() == 4 && history[3].first == FOCUSLLM_ROLE_ASSISTANT && history[3].second == second,
              "messages() reads the history back");
        focusllm::Conversation restored(session, "You are terse.");
        restored.push(FOCUSLLM_ROLE_USER, "My name is Niamh.");
        restored.push(FOCUSLLM_ROLE_ASSISTANT, first);
        check(restored.send("What is my name?", params) == second, "a restored history replies the same");
        expect_error(FOCUSLLM_STATUS_INVALID_INPUT, "a turn out of order",
                     [&] { restored.push(FOCUSLLM_ROLE_ASSISTANT, "again"); });

        focusllm::Session moved = std::move(session);
        check(moved.get() != nullptr && session.get() == nullptr, "a moved session leaves an empty handle");
        expect_error(FOCUSLLM_STATUS_INVALID_ARGUMENT, "a call on a moved-from session",
                     [&] { session.ask(kDocument, kQuestion, params); });
    } catch (const std::exception &error) {
        check(false, std::string("unexpected exception: ") + error.what());
    }
    std::printf("test_focusllm_hpp: %d checks passed, %d failed\n", passed, failed);
    return failed == 0 && passed > 0 ? 0 : 1;
}
