/*
 * focusllm.hpp: a header-only C++17 wrapper of the C API in focusllm.h (same library, nothing
 * else to link).
 *
 *   focusllm::Model model("model.gguf");                  // throws focusllm::Error
 *   focusllm::Session session(model);
 *   session.ask(document, "Who is the narrator?", [](std::string_view piece) {
 *       std::cout << piece;
 *       return true;                                     // false stops generating
 *   });
 *
 * - Handles (Model, Session, Document, Conversation) own their C object and free it in the destructor;
 *   they move but do not copy. A session keeps its model alive, so a Model may go first.
 * - Strings in are std::string_view (UTF-8, no NUL needed); the library copies what it keeps.
 * - Every failure throws focusllm::Error, with the library's status and message.
 * - Streaming takes any callable `bool(std::string_view piece)`. An exception it throws stops
 *   the run and is rethrown from the call once the library has returned: it never unwinds
 *   through the C library.
 * - Threads follow focusllm.h: a Model is shared by any thread, a Session runs one call at a
 *   time, Session::cancel() works from any thread.
 */
#ifndef FOCUSLLM_HPP
#define FOCUSLLM_HPP

#include "focusllm.h"

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace focusllm {

/// A failed call: the library's status (a FOCUSLLM_STATUS_* value) and its message.
class Error : public std::runtime_error {
public:
    Error(int32_t status, const std::string &message)
        : std::runtime_error(message), status_(status) {}
    /// The FOCUSLLM_STATUS_* value.
    int32_t status() const noexcept { return status_; }
    /// focusllm_status_string() of the status ("model file", "cancelled", ...).
    const char *status_name() const noexcept { return focusllm_status_string(status_); }

private:
    int32_t status_;
};

/// Receives each streamed piece of text (whole UTF-8 characters); return false to stop.
using PieceFn = std::function<bool(std::string_view piece)>;
/// Receives prefill progress in input tokens; return false to cancel the call.
using ProgressFn = std::function<bool(std::size_t done, std::size_t total)>;

/// The log-probability of one generated token and the most likely alternatives at that step
/// (params.top_logprobs of them, most likely first).
struct TokenLogprobs {
    int32_t token;
    float logprob;
    std::vector<focusllm_token_logprob> top;
};
/// Receives each generated token's log-probabilities (when params.top_logprobs > 0), before
/// the piece that carries the token; return false to stop generating.
using LogprobsFn = std::function<bool(const TokenLogprobs &)>;

/// One message of a chat for Model::apply_chat_template.
struct ChatMessage {
    std::string_view role;
    std::string_view content;
};

namespace detail {

/// The calling thread's last error message (the library keeps one per thread).
inline std::string last_error_message() {
    std::string text(focusllm_last_error_message(nullptr, 0) + 1, '\0');
    text.resize(focusllm_last_error_message(text.data(), text.size()));
    return text;
}

inline void check(int32_t status) {
    if (status != FOCUSLLM_STATUS_OK) {
        throw Error(status, last_error_message());
    }
}

struct ModelDelete {
    void operator()(focusllm_model *model) const noexcept { focusllm_model_free(model); }
};
struct SessionDelete {
    void operator()(focusllm_session *session) const noexcept { focusllm_session_free(session); }
};
struct DocumentDelete {
    void operator()(focusllm_document *document) const noexcept { focusllm_document_free(document); }
};
struct ConversationDelete {
    void operator()(focusllm_conversation *conversation) const noexcept { focusllm_conversation_free(conversation); }
};

/// Copies a snprintf-style text out of the library: `call(buffer, size, &full_length)`.
template <typename Call>
std::string read_text(Call call) {
    std::size_t length = 0;
    check(call(nullptr, 0, &length));
    std::string text(length + 1, '\0');
    check(call(text.data(), text.size(), &length));
    text.resize(length < text.size() ? length : text.size() - 1);
    return text;
}

/// The callbacks of one call, and the first exception one of them threw.
struct Callbacks {
    const PieceFn *on_piece;
    const ProgressFn *on_progress;
    std::exception_ptr error;
    const LogprobsFn *on_logprobs = nullptr;

    static bool logprobs(int32_t token, float logprob, const focusllm_token_logprob *top, std::size_t n_top,
                         void *user_data) noexcept {
        auto *self = static_cast<Callbacks *>(user_data);
        try {
            TokenLogprobs entry{token, logprob, std::vector<focusllm_token_logprob>(top, top + n_top)};
            return (*self->on_logprobs)(entry);
        } catch (...) {
            self->error = std::current_exception();
            return false;
        }
    }

    /// `params` with on_logprobs routed to this object's LogprobsFn (the library passes the
    /// call's user_data, which is this object, to every callback).
    focusllm_generate_params with_logprobs(const focusllm_generate_params &params) const {
        focusllm_generate_params copy = params;
        copy.on_logprobs = on_logprobs && *on_logprobs ? &Callbacks::logprobs : nullptr;
        return copy;
    }

    static bool piece(const char *text, std::size_t len, const int32_t *, std::size_t, void *user_data) noexcept {
        auto *self = static_cast<Callbacks *>(user_data);
        try {
            return (*self->on_piece)(std::string_view(text, len));
        } catch (...) {
            self->error = std::current_exception();
            return false;
        }
    }

    static bool progress(std::size_t done, std::size_t total, void *user_data) noexcept {
        auto *self = static_cast<Callbacks *>(user_data);
        try {
            return (*self->on_progress)(done, total);
        } catch (...) {
            self->error = std::current_exception();
            return false;
        }
    }

    focusllm_piece_fn piece_fn() const { return on_piece && *on_piece ? &Callbacks::piece : nullptr; }
    focusllm_progress_fn progress_fn() const { return on_progress && *on_progress ? &Callbacks::progress : nullptr; }

    /// Rethrows a callback's exception, else throws the call's failure.
    void finish(int32_t status) const {
        if (error) {
            std::rethrow_exception(error);
        }
        check(status);
    }
};

}  // namespace detail

/// The library's defaults, to change fields of before passing them.
inline focusllm_model_params default_model_params() {
    focusllm_model_params params{};
    detail::check(focusllm_model_default_params(&params, sizeof params));
    return params;
}
inline focusllm_session_params default_session_params() {
    focusllm_session_params params{};
    detail::check(focusllm_session_default_params(&params, sizeof params));
    return params;
}
inline focusllm_generate_params default_generate_params() {
    focusllm_generate_params params{};
    detail::check(focusllm_generate_default_params(&params, sizeof params));
    return params;
}
inline focusllm_document_params default_document_params() {
    focusllm_document_params params{};
    detail::check(focusllm_document_default_params(&params, sizeof params));
    return params;
}

/// "focusllm 0.1.0 (ABI 1; llama.cpp ...)": the library's version.
inline std::string_view version() { return focusllm_version_string(); }

/// Throws unless the library's ABI is the one this header was written for.
inline void check_abi() {
    if (focusllm_abi_version() != FOCUSLLM_ABI_VERSION) {
        throw Error(FOCUSLLM_STATUS_UNSUPPORTED,
                    "focusllm.h has ABI " + std::to_string(FOCUSLLM_ABI_VERSION) + ", the library " +
                        std::to_string(focusllm_abi_version()));
    }
}

/// A loaded GGUF model: immutable, shared by any number of threads and sessions.
class Model {
public:
    /// Loads the model at `path`; checks the ABI first.
    explicit Model(std::string_view path, const focusllm_model_params &params = default_model_params()) {
        check_abi();
        focusllm_model *model = nullptr;
        detail::check(focusllm_model_load(path.data(), path.size(), &params, nullptr, nullptr, &model));
        model_.reset(model);
    }

    /// The window the model was trained with, in tokens.
    uint32_t n_ctx_train() const { return focusllm_model_n_ctx_train(get()); }

    /// The tokens of `text`: `add_special` adds BOS/EOS as the model wants, `parse_special`
    /// turns control-token text ("<|im_start|>") into control tokens (false for users' text).
    std::vector<int32_t> tokenize(std::string_view text, bool add_special = false,
                                  bool parse_special = false) const {
        std::size_t count = 0;
        detail::check(focusllm_model_tokenize(get(), text.data(), text.size(), add_special, parse_special, nullptr,
                                              0, &count));
        std::vector<int32_t> tokens(count);
        detail::check(focusllm_model_tokenize(get(), text.data(), text.size(), add_special, parse_special,
                                              tokens.data(), tokens.size(), &count));
        tokens.resize(count);
        return tokens;
    }
    /// How many tokens `text` becomes (see tokenize).
    std::size_t count_tokens(std::string_view text, bool add_special = false, bool parse_special = false) const {
        std::size_t count = 0;
        detail::check(
            focusllm_model_count_tokens(get(), text.data(), text.size(), add_special, parse_special, &count));
        return count;
    }
    /// The text of `tokens`; `render_special` writes control tokens as their text.
    std::string detokenize(const std::vector<int32_t> &tokens, bool render_special = false) const {
        return detail::read_text([&](char *buffer, std::size_t size, std::size_t *length) {
            return focusllm_model_detokenize(get(), tokens.data(), tokens.size(), render_special, buffer, size,
                                             length);
        });
    }
    /// `messages` formatted with the model's own chat template, ending with the assistant's
    /// opener when `add_assistant` (see focusllm_model_apply_chat_template).
    std::string apply_chat_template(const std::vector<ChatMessage> &messages, bool add_assistant = true) const {
        std::vector<focusllm_chat_message> raw;
        raw.reserve(messages.size());
        for (const ChatMessage &m : messages) {
            raw.push_back({{m.role.data(), m.role.size()}, {m.content.data(), m.content.size()}});
        }
        return detail::read_text([&](char *buffer, std::size_t size, std::size_t *length) {
            return focusllm_model_apply_chat_template(get(), raw.data(), raw.size(), add_assistant, buffer, size,
                                                      length);
        });
    }
    /// The model's metadata (window, vocabulary, BOS/EOS, parameters, chat template presence).
    focusllm_model_info info() const {
        focusllm_model_info info{};
        info.struct_size = sizeof info;
        detail::check(focusllm_model_get_info(get(), &info));
        return info;
    }
    /// The GGUF architecture name ("llama").
    std::string architecture() const {
        return detail::read_text([&](char *buffer, std::size_t size, std::size_t *length) {
            return focusllm_model_architecture(get(), buffer, size, length);
        });
    }
    /// llama.cpp's one-line description ("llama 135M Q4_1").
    std::string description() const {
        std::string text(focusllm_model_description(get(), nullptr, 0) + 1, '\0');
        text.resize(focusllm_model_description(get(), text.data(), text.size()));
        return text;
    }
    /// The C handle, for calls this wrapper does not cover; null after a move.
    focusllm_model *get() const noexcept { return model_.get(); }

private:
    std::unique_ptr<focusllm_model, detail::ModelDelete> model_;
};

/// A long text processed once (its chunks' KV), asked about many times with Session::ask.
class Document {
public:
    /// Saves it to a `.fllm` file (replacing it; a failed save leaves no partial file).
    void save(std::string_view path) const {
        detail::check(focusllm_document_save(get(), path.data(), path.size()));
    }
    /// Tokens, chunks and where their KV is.
    focusllm_document_info info() const {
        focusllm_document_info info{};
        info.struct_size = sizeof info;
        detail::check(focusllm_document_get_info(get(), &info));
        return info;
    }
    focusllm_document *get() const noexcept { return document_.get(); }

private:
    friend class Session;
    explicit Document(focusllm_document *document) : document_(document) {}
    std::unique_ptr<focusllm_document, detail::DocumentDelete> document_;
};

/// A model with the settings jobs run with. One call at a time (another meanwhile throws
/// Error with FOCUSLLM_STATUS_BUSY); cancel() from any thread.
class Session {
public:
    explicit Session(const Model &model, const focusllm_session_params &params = default_session_params()) {
        focusllm_session *session = nullptr;
        detail::check(focusllm_session_new(model.get(), &params, &session));
        session_.reset(session);
    }

    /// Answers `question` about `document` (of any length: chunked when it exceeds the
    /// window), streaming the answer to `on_piece`.
    focusllm_result ask(std::string_view document, std::string_view question, const PieceFn &on_piece,
                        const focusllm_generate_params &params = default_generate_params(),
                        const ProgressFn &on_progress = {}) {
        focusllm_job job{};
        job.struct_size = sizeof job;
        job.document = document.data();
        job.document_len = document.size();
        job.prompt = question.data();
        job.prompt_len = question.size();
        return run(job, on_piece, params, on_progress);
    }

    /// The whole answer to `question` about `document`, as one string.
    std::string ask(std::string_view document, std::string_view question,
                    const focusllm_generate_params &params = default_generate_params()) {
        std::string answer;
        ask(document, question, [&answer](std::string_view piece) { return answer.append(piece), true; }, params);
        return answer;
    }

    /// Plain generation from `prompt` (wrapped as one chat message when `chat`).
    focusllm_result generate(std::string_view prompt, const PieceFn &on_piece, bool chat = true,
                             const focusllm_generate_params &params = default_generate_params()) {
        focusllm_job job{};
        job.struct_size = sizeof job;
        job.prompt = prompt.data();
        job.prompt_len = prompt.size();
        job.chat = chat;
        return run(job, on_piece, params, {});
    }

    /// Runs a job as focusllm_session_run() does. `on_logprobs` receives each token's
    /// log-probabilities when params.top_logprobs > 0 (params.on_logprobs is not used: the
    /// wrapper routes the C callback to `on_logprobs`).
    focusllm_result run(const focusllm_job &job, const PieceFn &on_piece,
                        const focusllm_generate_params &params = default_generate_params(),
                        const ProgressFn &on_progress = {}, const LogprobsFn &on_logprobs = {}) {
        detail::Callbacks callbacks{&on_piece, &on_progress, nullptr, &on_logprobs};
        focusllm_generate_params run_params = callbacks.with_logprobs(params);
        focusllm_result result{};
        result.struct_size = sizeof result;
        int32_t status = focusllm_session_run(get(), &job, &run_params, callbacks.piece_fn(),
                                              callbacks.progress_fn(), &callbacks, &result);
        callbacks.finish(status);
        return result;
    }

    /// Processes `text` once for later questions (ask with a Document).
    Document ingest(std::string_view text, const focusllm_document_params &params = default_document_params(),
                    const ProgressFn &on_progress = {}) {
        detail::Callbacks callbacks{nullptr, &on_progress, nullptr};
        focusllm_document *document = nullptr;
        int32_t status = focusllm_document_ingest(get(), text.data(), text.size(), &params, callbacks.progress_fn(),
                                                  &callbacks, &document);
        callbacks.finish(status);
        return Document(document);
    }

    /// Answers `question` about a processed document: the answer ask() gives on its text.
    focusllm_result ask(const Document &document, std::string_view question, const PieceFn &on_piece,
                        const focusllm_generate_params &params = default_generate_params(),
                        const ProgressFn &on_progress = {}) {
        detail::Callbacks callbacks{&on_piece, &on_progress, nullptr};
        focusllm_generate_params run_params = callbacks.with_logprobs(params);
        focusllm_result result{};
        result.struct_size = sizeof result;
        int32_t status = focusllm_document_ask(get(), document.get(), question.data(), question.size(), &run_params,
                                               callbacks.piece_fn(), callbacks.progress_fn(), &callbacks, &result);
        callbacks.finish(status);
        return result;
    }

    /// Opens a document saved by Document::save (checksums verified now).
    Document load_document(std::string_view path) {
        focusllm_document *document = nullptr;
        detail::check(focusllm_document_load(get(), path.data(), path.size(), &document));
        return Document(document);
    }

    /// Stops the running call as soon as possible (it throws FOCUSLLM_STATUS_CANCELLED).
    /// Any thread, any time.
    void cancel() const { detail::check(focusllm_session_cancel(get())); }

    focusllm_session *get() const noexcept { return session_.get(); }

private:
    std::unique_ptr<focusllm_session, detail::SessionDelete> session_;
};

/// A chat: a system prompt, then user and assistant turns in the model's chat template,
/// over an optional processed document. While it fits the window a turn decodes only what
/// is new (result.n_cached_tokens); past it the oldest turns are read in chunks. It keeps
/// its own copy of the session's settings (and the document's data): both may go first.
class Conversation {
public:
    /// A conversation on `session`'s model and settings, opened by `system` ("" for none).
    explicit Conversation(const Session &session, std::string_view system = {}) {
        focusllm_conversation *conversation = nullptr;
        detail::check(focusllm_conversation_new(session.get(), system.empty() ? nullptr : system.data(),
                                                system.size(), &conversation));
        conversation_.reset(conversation);
    }
    /// A conversation about a processed document.
    Conversation(const Session &session, const Document &document) {
        focusllm_conversation *conversation = nullptr;
        detail::check(focusllm_conversation_new_over_document(session.get(), document.get(), &conversation));
        conversation_.reset(conversation);
    }

    /// Sends a user message and streams the reply to `on_piece`; the reply joins the history.
    focusllm_result send(std::string_view text, const PieceFn &on_piece,
                         const focusllm_generate_params &params = default_generate_params(),
                         const ProgressFn &on_progress = {}) {
        detail::Callbacks callbacks{&on_piece, &on_progress, nullptr};
        focusllm_generate_params run_params = callbacks.with_logprobs(params);
        focusllm_result result{};
        result.struct_size = sizeof result;
        int32_t status = focusllm_conversation_send(get(), text.data(), text.size(), &run_params,
                                                    callbacks.piece_fn(), callbacks.progress_fn(), &callbacks, &result);
        callbacks.finish(status);
        return result;
    }

    /// The whole reply to `text`, as one string.
    std::string send(std::string_view text, const focusllm_generate_params &params = default_generate_params()) {
        std::string reply;
        send(text, [&reply](std::string_view piece) { return reply.append(piece), true; }, params);
        return reply;
    }

    /// Adds a turn without generating (FOCUSLLM_ROLE_USER or _ASSISTANT, alternating).
    void push(focusllm_role role, std::string_view text) {
        detail::check(focusllm_conversation_push(get(), role, text.data(), text.size()));
    }

    /// The history: (role, text) of each user and assistant turn, in order.
    std::vector<std::pair<focusllm_role, std::string>> messages() const {
        size_t count = 0;
        detail::check(focusllm_conversation_message_count(get(), &count));
        std::vector<std::pair<focusllm_role, std::string>> out;
        for (size_t i = 0; i < count; i++) {
            size_t len = 0;
            focusllm_role role = FOCUSLLM_ROLE_USER;
            detail::check(focusllm_conversation_get_message(get(), i, nullptr, 0, &len, &role));
            std::string text(len + 1, '\0');
            detail::check(focusllm_conversation_get_message(get(), i, text.data(), text.size(), &len, nullptr));
            text.resize(len);
            out.emplace_back(role, std::move(text));
        }
        return out;
    }

    /// The passages the last send() read, in the order read.
    std::vector<focusllm_source> sources(const focusllm_result &result) const {
        std::vector<focusllm_source> out(result.n_sources);
        for (size_t i = 0; i < out.size(); i++) {
            out[i].struct_size = sizeof out[i];
            detail::check(focusllm_conversation_get_source(get(), i, &out[i]));
        }
        return out;
    }

    /// Stops the running call (it throws FOCUSLLM_STATUS_CANCELLED). Any thread, any time.
    void cancel() const { detail::check(focusllm_conversation_cancel(get())); }

    focusllm_conversation *get() const noexcept { return conversation_.get(); }

private:
    std::unique_ptr<focusllm_conversation, detail::ConversationDelete> conversation_;
};

}  // namespace focusllm

#endif  // FOCUSLLM_HPP
