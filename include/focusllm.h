/*
 * focusllm.h: the C API of focusllm, FocusLLM long-context question answering on llama.cpp.
 *
 * Conventions (they hold for every function below):
 *
 * Names: focusllm_<object>_<verb>. Objects are opaque handles made by _new / _load through an
 *   out-parameter and released by _free; _free(NULL) is a no-op; never free twice.
 *
 * Ownership: the caller owns everything it passes in and gets nothing to free() with its own
 *   allocator. Inputs are read during the call only; the library keeps no pointer to them.
 *   Outputs are handles (free them with their _free), values written through out-parameters,
 *   or text copied into a caller buffer. A session keeps its model alive.
 *
 * Strings in: (const char *ptr, size_t len), UTF-8, no NUL needed; (NULL, 0) is "".
 *   Invalid UTF-8, NULL with len > 0, or an impossible len is FOCUSLLM_STATUS_INVALID_ARGUMENT.
 * Strings out: static strings (never free them), text copied snprintf-style into a caller
 *   buffer (the function returns the full length; call with NULL, 0 to ask for it), or
 *   (ptr, len) borrowed only for the duration of a callback.
 *
 * Errors: a fallible function returns focusllm_status; FOCUSLLM_STATUS_OK is 0, and the numbers
 *   never change. Out-parameters are written only on success. The reason of the last failure
 *   is kept per thread: read it with focusllm_last_error_message() on the same thread, before
 *   the next focusllm call. Functions that return a number or a pointer return 0 / NULL on a
 *   NULL handle and set the same message. A panic inside the library is caught and becomes
 *   FOCUSLLM_STATUS_PANIC (it never unwinds into C). llama.cpp's own fatal asserts
 *   (GGML_ASSERT) abort the process; the library validates inputs so they are not reached.
 *
 * Threads: a model is shared and immutable: any thread, many at once. A session is used by
 *   one thread at a time (a second call while one runs returns FOCUSLLM_STATUS_BUSY instead
 *   of racing). focusllm_session_cancel() may be called from any thread at any time.
 *   focusllm_set_log_callback(), the version and status functions: any thread.
 *
 * Callbacks: every callback gets the user_data given with it and is called synchronously on
 *   the thread of the call that takes it (except the log callback: any thread). Callbacks
 *   returning bool stop the work when they return false. A callback must not unwind (no C++
 *   exception, no longjmp) through the library. Calling into the same session from its own
 *   callback returns FOCUSLLM_STATUS_BUSY; other objects may be used.
 *
 * Structs: parameter and result structs start with size_t struct_size, the struct's sizeof
 *   as the program's header declares it. Fill parameter structs with the matching
 *   focusllm_*_default_params(&p, sizeof p), then change fields. The library reads (and for
 *   results writes) only struct_size bytes: a program built against an older header keeps
 *   working when fields are added at the end (the missing ones take their defaults). A
 *   struct_size larger than the library's struct (a header newer than the library), 0, or one
 *   that ends inside a field is FOCUSLLM_STATUS_STRUCT_SIZE.
 *
 * Versions: FOCUSLLM_ABI_VERSION (this header) must equal focusllm_abi_version() (the
 *   library); check it at startup.
 *
 * Linking: after scripts/install.sh, `pkg-config --cflags --libs focusllm` (shared library
 *   libfocusllm.so.<ABI version>, which exports only focusllm_* symbols), `pkg-config --static`
 *   against an install made with --static-only, or CMake's find_package(focusllm); see
 *   "Linking from C" in README.md. C++17: focusllm.hpp wraps this header.
 */

#ifndef FOCUSLLM_H
#define FOCUSLLM_H

/* Generated from src/capi/ by build.rs (cbindgen 0.29.4): do not edit. CI fails when this
 * file differs from what the code generates. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/**
 * The ABI version of focusllm.h. It changes only when a change breaks programs compiled
 * against an older header (a removed or changed function, a changed struct layout); adding
 * functions, statuses or struct fields at the end does not change it. Compare it with
 * focusllm_abi_version() at startup: they must be equal.
 */
#define FOCUSLLM_ABI_VERSION 1

/**
 * Longest input, in tokens, that FOCUSLLM_DIRECT_WHEN_FITS_AUTO runs as plain generation.
 * (A literal, for cbindgen; a unit test keeps it equal to the engine's.)
 */
#define FOCUSLLM_AUTO_DIRECT_MAX_TOKENS 2048

/**
 * What a fallible focusllm function returns. FOCUSLLM_STATUS_OK (0) is success; every other
 * value is a failure whose message focusllm_last_error_message() gives on the same thread.
 * The numbers never change: new statuses get new numbers, retired ones are not reused. A
 * program should treat an unknown non-zero value as a failure.
 */
enum
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  focusllm_status : int32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
    /**
     * Success.
     */
    FOCUSLLM_STATUS_OK = 0,
    /**
     * A pointer argument is NULL, a length is impossible, or text is not valid UTF-8.
     */
    FOCUSLLM_STATUS_INVALID_ARGUMENT = 1,
    /**
     * A struct's struct_size is 0, cuts a field, or is larger than this library knows (the
     * program was compiled against a newer focusllm.h than the library it runs with).
     */
    FOCUSLLM_STATUS_STRUCT_SIZE = 2,
    /**
     * A parameter is out of range (0 threads, n_ubatch > n_batch, ...); the message names it.
     */
    FOCUSLLM_STATUS_INVALID_PARAM = 3,
    /**
     * The model file cannot be opened or read (missing, a directory, empty, no permission).
     */
    FOCUSLLM_STATUS_MODEL_FILE = 4,
    /**
     * The file is not a loadable GGUF model; the message carries llama.cpp's reason, or names
     * the hyperparameter focusllm refused before llama.cpp saw the file (a value llama.cpp
     * would end the process on, or a number that is not finite).
     */
    FOCUSLLM_STATUS_MODEL_LOAD = 5,
    /**
     * llama.cpp could not create a context (usually not enough memory for n_ctx).
     */
    FOCUSLLM_STATUS_CONTEXT_CREATE = 6,
    /**
     * The input text is unusable (an empty prompt, ...).
     */
    FOCUSLLM_STATUS_INVALID_INPUT = 7,
    /**
     * The input does not fit where it must.
     */
    FOCUSLLM_STATUS_TOO_LONG = 8,
    /**
     * Tokenization failed.
     */
    FOCUSLLM_STATUS_TOKENIZE = 9,
    /**
     * The model's chat template could not be applied.
     */
    FOCUSLLM_STATUS_CHAT_TEMPLATE = 10,
    /**
     * llama_decode failed.
     */
    FOCUSLLM_STATUS_DECODE = 11,
    /**
     * The KV cache has no room for the batch.
     */
    FOCUSLLM_STATUS_KV_CACHE_FULL = 12,
    /**
     * The call was cancelled: focusllm_session_cancel(), its focusllm_cancel_token, or a
     * progress callback returned false.
     */
    FOCUSLLM_STATUS_CANCELLED = 13,
    /**
     * A file could not be read or written.
     */
    FOCUSLLM_STATUS_IO = 14,
    /**
     * A GGUF file's metadata is malformed or incomplete.
     */
    FOCUSLLM_STATUS_GGUF = 15,
    /**
     * The feature is not supported for this model or build.
     */
    FOCUSLLM_STATUS_UNSUPPORTED = 16,
    /**
     * A bug in focusllm: an internal invariant did not hold.
     */
    FOCUSLLM_STATUS_INTERNAL = 17,
    /**
     * The session is already running a call (re-entry from one of its callbacks, or a
     * second thread); a session runs one call at a time.
     */
    FOCUSLLM_STATUS_BUSY = 18,
    /**
     * focusllm panicked (a bug); the panic was caught at the boundary. The objects involved
     * may be freed, and other objects stay usable.
     */
    FOCUSLLM_STATUS_PANIC = 19,
    /**
     * A processed-document file is not one, is from a newer format, truncated or damaged.
     */
    FOCUSLLM_STATUS_DOCUMENT_FILE = 20,
    /**
     * A processed document belongs to another model, chunking or KV layout.
     */
    FOCUSLLM_STATUS_DOCUMENT_MISMATCH = 21,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum focusllm_status focusllm_status;
#else
typedef int32_t focusllm_status;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

/**
 * Severity of a log line.
 */
enum
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  focusllm_log_level : int32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
    FOCUSLLM_LOG_LEVEL_DEBUG = 1,
    FOCUSLLM_LOG_LEVEL_INFO = 2,
    FOCUSLLM_LOG_LEVEL_WARN = 3,
    FOCUSLLM_LOG_LEVEL_ERROR = 4,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum focusllm_log_level focusllm_log_level;
#else
typedef int32_t focusllm_log_level;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

/**
 * Why generation ended.
 */
enum
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  focusllm_finish_reason : int32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
    /**
     * The model produced an end-of-generation token.
     */
    FOCUSLLM_FINISH_REASON_END_OF_GENERATION = 1,
    /**
     * max_tokens tokens were generated.
     */
    FOCUSLLM_FINISH_REASON_MAX_TOKENS = 2,
    /**
     * A stop string appeared (it is not part of the streamed text).
     */
    FOCUSLLM_FINISH_REASON_STOP_STRING = 3,
    /**
     * The context has no room for another token.
     */
    FOCUSLLM_FINISH_REASON_CONTEXT_FULL = 4,
    /**
     * The piece callback returned false.
     */
    FOCUSLLM_FINISH_REASON_CALLER_STOPPED = 5,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum focusllm_finish_reason focusllm_finish_reason;
#else
typedef int32_t focusllm_finish_reason;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

/**
 * A cancel token: give it to one call (focusllm_generate_params.cancel,
 * focusllm_document_params.cancel), then focusllm_cancel_token_cancel() stops that call from
 * any thread, whenever it comes: a token cancelled before the call starts makes the call
 * return FOCUSLLM_STATUS_CANCELLED at once. A token stays cancelled: make a new one for the
 * next call. Free it with focusllm_cancel_token_free() (even while a call that uses it runs:
 * the call keeps what it needs).
 */
typedef struct focusllm_cancel_token focusllm_cancel_token;

/**
 * A conversation: a system prompt, then user and assistant turns in the model's chat
 * template, over an optional processed document. Made by focusllm_conversation_new() or
 * focusllm_conversation_new_over_document(), freed with focusllm_conversation_free(). It
 * has its own copy of the session's model and settings (the session may be freed first) and
 * keeps the KV of its turns between calls. Used by one thread at a time: a second call
 * while one runs returns FOCUSLLM_STATUS_BUSY. focusllm_conversation_cancel() may be called
 * from any thread at any time.
 */
typedef struct focusllm_conversation focusllm_conversation;

/**
 * A processed document: the chunks' KV of a long text, computed once. Made by
 * focusllm_document_ingest() or focusllm_document_load(), freed with
 * focusllm_document_free(). Usable with any session on the same model and settings;
 * several sessions may ask about one document at the same time. Holds no pointer to the
 * session that made it.
 */
typedef struct focusllm_document focusllm_document;

/**
 * A loaded GGUF model. Shared and immutable: one model serves any number of sessions, and
 * every function taking a `const focusllm_model *` may be called from any thread at the same
 * time. Sessions keep the model alive: focusllm_model_free() may come before the sessions
 * made from it are freed.
 */
typedef struct focusllm_model focusllm_model;

/**
 * A session: a model plus the settings jobs run with. It keeps no conversation or KV state
 * between calls. Used by one thread at a time: a second call while one runs (from another
 * thread, or from inside a callback) returns FOCUSLLM_STATUS_BUSY. focusllm_session_cancel()
 * may be called from any thread at any time.
 */
typedef struct focusllm_session focusllm_session;

/**
 * Receives one complete log line of llama.cpp / ggml: `len` bytes at `text` (also
 * NUL-terminated; no trailing newline), valid only during the call. It may be called from
 * any thread that runs focusllm work, concurrently: it must be thread-safe.
 */
typedef void (*focusllm_log_fn)(focusllm_log_level level,
                                const char *text,
                                size_t len,
                                void *user_data);

/**
 * How focusllm_model_load() loads a model. Fill it with focusllm_model_default_params().
 */
typedef struct focusllm_model_params {
    /**
     * sizeof(focusllm_model_params) as compiled into the program; set by
     * focusllm_model_default_params(). See "Structs" at the top of this header.
     */
    size_t struct_size;
    /**
     * Layers to offload to the GPU (0 = CPU only; a large number = all). Ignored by CPU builds.
     */
    int32_t n_gpu_layers;
    /**
     * Map the file instead of reading it into memory (default true).
     */
    bool use_mmap;
    /**
     * Load only the vocabulary (default false).
     */
    bool vocab_only;
} focusllm_model_params;

/**
 * Called during focusllm_model_load() with the fraction loaded (0.0 to 1.0), on the loading
 * thread. Return false to cancel the load (it then returns FOCUSLLM_STATUS_CANCELLED).
 */
typedef bool (*focusllm_load_progress_fn)(float progress,
                                          void *user_data);

/**
 * Flash attention setting (llama.cpp's flash_attn_type).
 */
typedef int32_t focusllm_flash_attention;

/**
 * How what the chunks of a long document hold reaches the answer.
 */
typedef int32_t focusllm_strategy;

/**
 * The element type of the K or V cache (llama.cpp's type_k / type_v). Per 32 values, F16
 * takes 64 bytes, Q8_0 34 and Q4_0 18. A quantized V needs flash attention:
 * focusllm_session_new refuses a quantized type_v with FOCUSLLM_FLASH_ATTENTION_DISABLED
 * (FOCUSLLM_STATUS_INVALID_PARAM), and with FOCUSLLM_FLASH_ATTENTION_AUTO llama.cpp turns
 * flash attention on. Any type_k works with flash attention on or off. A processed document
 * is used only by a session with the types it was made with.
 */
typedef int32_t focusllm_kv_type;

/**
 * Whether a document that fits the window together with the answer is read as one plain
 * prompt or in chunks.
 */
typedef int32_t focusllm_direct_when_fits;

/**
 * How a session runs. Fill it with focusllm_session_default_params(). Lengths of 0 mean
 * "the default for this model and strategy".
 */
typedef struct focusllm_session_params {
    /**
     * sizeof(focusllm_session_params) as compiled into the program; set by
     * focusllm_session_default_params(). See "Structs" at the top of this header.
     */
    size_t struct_size;
    /**
     * Context length for plain prompts (0 = the model's window). Documents size their own.
     */
    uint32_t n_ctx;
    /**
     * Most tokens per llama_decode call (default 2048).
     */
    uint32_t n_batch;
    /**
     * Most tokens per compute step inside a decode (default 512, at most n_batch).
     */
    uint32_t n_ubatch;
    /**
     * CPU threads (default: every core the process may use; 1..=1024).
     */
    uint32_t n_threads;
    /**
     * A FOCUSLLM_FLASH_ATTENTION_* value.
     */
    focusllm_flash_attention flash_attention;
    /**
     * A FOCUSLLM_STRATEGY_* value.
     */
    focusllm_strategy strategy;
    /**
     * The window the engine plans for (0 = the model's training window).
     */
    uint32_t window;
    /**
     * Tokens per chunk of a long document (0 = derived from the window).
     */
    uint32_t chunk_len;
    /**
     * Longest question (with the chat template's tail), in tokens, accepted as the local
     * context; the chunks cut the document alone (0 = derived).
     */
    uint32_t local_len;
    /**
     * Most tokens of the question's tail appended to every chunk (0 = derived).
     */
    uint32_t prompt_len;
    /**
     * Chunks kept after scoring (FOCUS, LOGIT_FUSION; 1..=64).
     */
    uint32_t top_chunks;
    /**
     * Chunks decoded together in one wave (bounds memory).
     */
    uint32_t wave_size;
    /**
     * Weight of the context-free contrast in LOGIT_FUSION (0..=4).
     */
    float fusion_beta;
    /**
     * KV cells each chunk contributes in CANDIDATE (>= 1).
     */
    uint32_t candidate_cells;
    /**
     * Wrap document and question in the model's chat template (when it has one).
     */
    bool use_chat_template;
    /**
     * Unused: keeps the fields added after the first version out of its tail padding.
     */
    uint8_t _reserved[7];
    /**
     * A FOCUSLLM_KV_TYPE_* value: the element type of the K cache (default F16).
     */
    focusllm_kv_type type_k;
    /**
     * A FOCUSLLM_KV_TYPE_* value: the element type of the V cache (default F16; a quantized
     * one needs flash attention AUTO or ENABLED).
     */
    focusllm_kv_type type_v;
    /**
     * FOCUS reads, of the top_chunks best, only those scored within this many nats of the
     * best one (>= 0; INFINITY reads them all; default 8).
     */
    float read_gap;
    /**
     * FOCUS reads the best chunk's most relevant passage again right before the question
     * (default true).
     */
    bool zoom;
    /**
     * Unused: keeps direct_when_fits out of the previous version's tail padding.
     */
    uint8_t _reserved_2[3];
    /**
     * A FOCUSLLM_DIRECT_WHEN_FITS_* value (default AUTO).
     */
    focusllm_direct_when_fits direct_when_fits;
} focusllm_session_params;

/**
 * A model's metadata, written by focusllm_model_get_info(). The caller sets struct_size =
 * sizeof(focusllm_model_info); the library writes only that many bytes, on success only.
 */
typedef struct focusllm_model_info {
    /**
     * sizeof(focusllm_model_info) as compiled into the program, set by the caller.
     */
    size_t struct_size;
    /**
     * The context length the model was trained with (its native window).
     */
    uint32_t n_ctx_train;
    /**
     * Tokens in the vocabulary; valid ids are 0 .. n_vocab - 1.
     */
    uint32_t n_vocab;
    /**
     * Number of parameters.
     */
    uint64_t n_params;
    /**
     * Size of the weights in bytes.
     */
    uint64_t size_bytes;
    uint32_t n_layer;
    uint32_t n_embd;
    /**
     * The beginning- and end-of-sequence token ids, or -1 when the vocabulary has none.
     */
    int32_t bos;
    int32_t eos;
    /**
     * Whether tokenizing with add_special adds BOS.
     */
    bool adds_bos;
    /**
     * Whether the model file carries a chat template.
     */
    bool has_chat_template;
} focusllm_model_info;

/**
 * A borrowed string: `len` bytes of UTF-8 at `ptr`, no NUL needed. `{NULL, 0}` is "".
 */
typedef struct focusllm_str {
    const char *ptr;
    size_t len;
} focusllm_str;

/**
 * One message of a chat for focusllm_model_apply_chat_template(): a role ("system", "user",
 * "assistant") and its content, both UTF-8.
 */
typedef struct focusllm_chat_message {
    struct focusllm_str role;
    struct focusllm_str content;
} focusllm_chat_message;

/**
 * A bias added to one token's logit before sampling (see focusllm_generate_params.logit_bias).
 */
typedef struct focusllm_logit_bias {
    /**
     * A token id of the model's vocabulary (0 .. focusllm_model_n_vocab() - 1).
     */
    int32_t token;
    /**
     * Added to the token's logit: finite, or -INFINITY to ban the token.
     */
    float bias;
} focusllm_logit_bias;

/**
 * One alternative at a generation step: a token and its log-probability.
 */
typedef struct focusllm_token_logprob {
    int32_t token;
    /**
     * Natural log of the token's probability (<= 0).
     */
    float logprob;
} focusllm_token_logprob;

/**
 * Receives the log-probabilities of one generated token, when params.top_logprobs > 0:
 * `token`, its log-probability `logprob` (<= 0; from the model's distribution before logit
 * bias, penalties and temperature), and the `n_top` most likely tokens at that step, most
 * likely first (`top` is valid only during the callback). Called once per generated token,
 * before the piece callback that carries the token, on the thread running the job, with
 * the run's `user_data`. Return false to stop generating (as from the piece callback).
 */
typedef bool (*focusllm_logprobs_fn)(int32_t token,
                                     float logprob,
                                     const struct focusllm_token_logprob *top,
                                     size_t n_top,
                                     void *user_data);

/**
 * What focusllm_session_run() generates. Fill it with focusllm_generate_default_params().
 * The defaults sample greedily (temperature 0): reproducible output.
 */
typedef struct focusllm_generate_params {
    /**
     * sizeof(focusllm_generate_params) as compiled into the program; set by
     * focusllm_generate_default_params(). See "Structs" at the top of this header.
     */
    size_t struct_size;
    /**
     * Most tokens to generate (>= 1; default 256).
     */
    uint32_t max_tokens;
    /**
     * Sampling temperature; <= 0 is greedy (default 0).
     */
    float temperature;
    /**
     * Top-k (0 disables; default 40).
     */
    int32_t top_k;
    /**
     * Top-p in (0, 1] (1 disables; default 0.95).
     */
    float top_p;
    /**
     * Min-p in [0, 1] (0 disables; default 0.05).
     */
    float min_p;
    /**
     * Repetition penalty > 0 (1 disables; default 1).
     */
    float repeat_penalty;
    /**
     * Recent tokens the penalty looks at (-1 = the whole context; default 64).
     */
    int32_t repeat_last_n;
    /**
     * Seed of the sampler's random numbers (default 42).
     */
    uint32_t seed;
    /**
     * `n_stop` stop strings: generation ends when the text contains one of them, which is
     * not emitted. Read during the call only. May be NULL when n_stop is 0 (the default).
     */
    const struct focusllm_str *stop;
    /**
     * The number of stop strings.
     */
    size_t n_stop;
    /**
     * Render control tokens ("<|im_end|>") as text instead of dropping them (default false).
     */
    bool render_special;
    /**
     * A token that cancels this call (see focusllm_cancel_token), or NULL (the default):
     * then only focusllm_session_cancel() and the callbacks stop it.
     */
    const struct focusllm_cancel_token *cancel;
    /**
     * Subtracted from a token's logit per occurrence in the last repeat_last_n tokens, in
     * [-2, 2] (0 disables; default 0).
     */
    float frequency_penalty;
    /**
     * Subtracted once from the logit of every token in the last repeat_last_n tokens, in
     * [-2, 2] (0 disables; default 0).
     */
    float presence_penalty;
    /**
     * `n_logit_bias` biases added to token logits before sampling (at most 1024; read during
     * the call only). May be NULL when n_logit_bias is 0 (the default).
     */
    const struct focusllm_logit_bias *logit_bias;
    size_t n_logit_bias;
    /**
     * How many most likely alternatives on_logprobs receives per token, 0..=20 (default 0:
     * no log-probabilities).
     */
    uint32_t top_logprobs;
    /**
     * Called with each generated token's log-probabilities when top_logprobs > 0; NULL (the
     * default) for none.
     */
    focusllm_logprobs_fn on_logprobs;
    /**
     * Whether the penalties also count the prompt's tokens (llama.cpp's way) or only the
     * generated ones (default false: an answer about a document may repeat its words).
     */
    bool penalize_prompt;
} focusllm_generate_params;

/**
 * What to run. Zero-initialise it, set struct_size = sizeof(focusllm_job), then the fields.
 */
typedef struct focusllm_job {
    /**
     * sizeof(focusllm_job) as compiled into the program. See "Structs" at the top.
     */
    size_t struct_size;
    /**
     * The document, `document_len` bytes of UTF-8 (no NUL needed), of any length: when it
     * does not fit the model's window it is read in chunks (FocusLLM). `document_len == 0`
     * (document may then be NULL) means no document: `prompt` runs as a plain prompt.
     */
    const char *document;
    size_t document_len;
    /**
     * The question about the document, or the plain prompt: `prompt_len` bytes of UTF-8.
     */
    const char *prompt;
    size_t prompt_len;
    /**
     * Plain prompts only: wrap the prompt as one user message in the model's chat template
     * (true), or feed it as raw text with control tokens parsed (false). Document jobs follow
     * the session's use_chat_template.
     */
    bool chat;
} focusllm_job;

/**
 * Receives each streamed piece of text: `len` bytes of whole UTF-8 characters at `text`
 * (also NUL-terminated, for convenience) and the `n_tokens` token ids that produced them
 * (may be 0 when a token completes no character yet). Both pointers are valid only during
 * the callback. Called on the thread running the job. Return false to stop generating: the
 * run then succeeds with FOCUSLLM_FINISH_REASON_CALLER_STOPPED.
 */
typedef bool (*focusllm_piece_fn)(const char *text,
                                  size_t len,
                                  const int32_t *tokens,
                                  size_t n_tokens,
                                  void *user_data);

/**
 * Reports prefill progress: `done` of `total` tokens decoded (the input, plus for a long
 * document the question's tail read with every chunk). Called on the thread running the
 * job, after each decoded batch; `done` grows to `total` exactly, reached once. Return
 * false to cancel: the run then returns FOCUSLLM_STATUS_CANCELLED.
 */
typedef bool (*focusllm_progress_fn)(size_t done,
                                     size_t total,
                                     void *user_data);

/**
 * What a finished run reports besides the streamed text. The caller sets struct_size =
 * sizeof(focusllm_result); the library writes only that many bytes, on success only.
 */
typedef struct focusllm_result {
    /**
     * sizeof(focusllm_result) as compiled into the program, set by the caller.
     */
    size_t struct_size;
    /**
     * A focusllm_finish_reason value.
     */
    focusllm_finish_reason finish_reason;
    /**
     * True when the input fit the model's window and ran without chunking.
     */
    bool direct;
    /**
     * Tokens generated (an end-of-generation token is not counted).
     */
    size_t n_tokens;
    /**
     * Tokens of the whole input (chat wrapping, document and prompt).
     */
    size_t n_prompt_tokens;
    /**
     * Chunks and waves of a long document (0 when direct).
     */
    size_t n_chunks;
    size_t n_waves;
    /**
     * Wall time until the first token could be sampled, and of generation, in seconds.
     */
    double prefill_seconds;
    double generate_seconds;
    /**
     * Tokens of the input that a conversation kept from its previous turn instead of
     * decoding them again (0 for other calls).
     */
    size_t n_cached_tokens;
    /**
     * Passages the answer read, to get with focusllm_session_get_source() or
     * focusllm_conversation_get_source() (0 when direct).
     */
    size_t n_sources;
} focusllm_result;

/**
 * How a document keeps its chunks' KV. Fill it with focusllm_document_default_params().
 */
typedef struct focusllm_document_params {
    /**
     * sizeof(focusllm_document_params) as compiled into the program. See "Structs".
     */
    size_t struct_size;
    /**
     * Most bytes of chunk KV held in memory (default 1 GiB; 0 = no limit). Beyond it each
     * chunk's KV goes to an unlinked spill file, or is dropped and decoded again by each
     * question when that was measured to be faster.
     */
    uint64_t memory_budget_bytes;
    /**
     * Directory of the spill file, `spill_dir_len` bytes of UTF-8; length 0 (pointer may
     * be NULL) = the system's temporary directory. It must exist.
     */
    const char *spill_dir;
    size_t spill_dir_len;
    /**
     * A token that cancels the ingest (see focusllm_cancel_token), or NULL (the default).
     */
    const struct focusllm_cancel_token *cancel;
    /**
     * Where focusllm_document_ingest() writes the document as a `.fllm` file while it
     * processes it, `save_path_len` bytes of UTF-8; length 0 (pointer may be NULL, the
     * default) = keep the KV as memory_budget_bytes says. When set, each chunk's KV goes to
     * the file as soon as it is decoded (processing then needs no more memory than a
     * question; memory_budget_bytes and spill_dir do not apply), the file appears under this
     * name only once complete, and the document reads its KV from it, as a document opened
     * with focusllm_document_load() does.
     */
    const char *save_path;
    size_t save_path_len;
} focusllm_document_params;

/**
 * What a document holds. The caller sets struct_size = sizeof(focusllm_document_info).
 */
typedef struct focusllm_document_info {
    /**
     * sizeof(focusllm_document_info) as compiled into the program, set by the caller.
     */
    size_t struct_size;
    /**
     * Tokens of the document's text.
     */
    size_t n_tokens;
    /**
     * Chunks (0 when the text is read as one plain prompt, see direct_when_fits: questions
     * then run without chunking).
     */
    size_t n_chunks;
    /**
     * Chunks whose KV is in memory, in a file (spill or loaded document), or not kept
     * (decoded again by each question).
     */
    size_t n_in_memory;
    size_t n_in_file;
    size_t n_not_kept;
    /**
     * Bytes of chunk KV in memory and in the file.
     */
    uint64_t memory_bytes;
    uint64_t file_bytes;
    /**
     * Wall time of focusllm_document_ingest() (0 for a loaded document), in seconds.
     */
    double ingest_seconds;
} focusllm_document_info;

/**
 * Which of the caller's texts a source lies in.
 */
typedef int32_t focusllm_source_text;

/**
 * A passage an answer read: a byte range of the caller's text. The caller sets
 * struct_size = sizeof(focusllm_source); the library writes only that many bytes.
 */
typedef struct focusllm_source {
    /**
     * sizeof(focusllm_source) as compiled into the program, set by the caller.
     */
    size_t struct_size;
    /**
     * The chunk the passage belongs to (chunks count from 0 at the start of the text read
     * in chunks).
     */
    size_t chunk;
    /**
     * That chunk's score: lower is more relevant (the question's mean negative
     * log-likelihood after the chunk).
     */
    float score;
    /**
     * A FOCUSLLM_SOURCE_TEXT_* value.
     */
    focusllm_source_text text;
    /**
     * The message's index for FOCUSLLM_SOURCE_TEXT_MESSAGE (as in
     * focusllm_conversation_get_message()), else 0.
     */
    size_t message;
    /**
     * Bytes [byte_start, byte_end) of that text, on UTF-8 character boundaries.
     */
    size_t byte_start;
    size_t byte_end;
} focusllm_source;

/**
 * Who wrote a message.
 */
typedef int32_t focusllm_role;

/**
 * llama.cpp decides (on for CPU).
 */
#define FOCUSLLM_FLASH_ATTENTION_AUTO 0

#define FOCUSLLM_FLASH_ATTENTION_ENABLED 1

#define FOCUSLLM_FLASH_ATTENTION_DISABLED 2

/**
 * 16-bit floats (the default).
 */
#define FOCUSLLM_KV_TYPE_F16 0

/**
 * 8-bit blocks: about half the bytes of F16.
 */
#define FOCUSLLM_KV_TYPE_Q8_0 1

/**
 * 4-bit blocks: about a quarter of the bytes of F16.
 */
#define FOCUSLLM_KV_TYPE_Q4_0 2

/**
 * Score chunks with the question appended, keep the top_chunks best, attend to their KV.
 */
#define FOCUSLLM_STRATEGY_FOCUS 0

/**
 * The best chunks and a context-free row decode in parallel; their logits are fused.
 */
#define FOCUSLLM_STRATEGY_LOGIT_FUSION 1

/**
 * The paper's candidate tokens: the last candidate_cells KV cells of every chunk are shared.
 */
#define FOCUSLLM_STRATEGY_CANDIDATE 2

/**
 * Plain generation up to FOCUSLLM_AUTO_DIRECT_MAX_TOKENS input tokens, chunks above (the
 * default: past that length chunks were faster and found more; see bench/README.md).
 */
#define FOCUSLLM_DIRECT_WHEN_FITS_AUTO 0

/**
 * Plain generation whenever the input and the answer fit the window.
 */
#define FOCUSLLM_DIRECT_WHEN_FITS_ALWAYS 1

/**
 * Chunks whenever there is a document, however short.
 */
#define FOCUSLLM_DIRECT_WHEN_FITS_NEVER 2

#define FOCUSLLM_ROLE_USER 0

#define FOCUSLLM_ROLE_ASSISTANT 1

/**
 * The document (of focusllm_session_run(), or the processed document's text).
 */
#define FOCUSLLM_SOURCE_TEXT_DOCUMENT 0

/**
 * A message of the conversation's history (focusllm_source.message is its index).
 */
#define FOCUSLLM_SOURCE_TEXT_MESSAGE 1

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * A short description of a status ("invalid argument", "cancelled", ...), or "unknown status"
 * for a number this library does not know. The string is static: never free it.
 */
const char *focusllm_status_string(int32_t status);

/**
 * Copies the message of the most recent failure on the calling thread into `buffer`.
 *
 * Every function that returns focusllm_status sets this message when it fails and clears it
 * when it succeeds; functions that return a number or a pointer set it only when they return
 * their failure value (0 or NULL). The message is UTF-8 and names what was wrong and with
 * which value (for a model that does not load: llama.cpp's own reason).
 *
 * Returns the message's full length in bytes, without the terminating NUL, like snprintf.
 * When `buffer_len > 0`, writes at most `buffer_len - 1` bytes (never splitting a UTF-8
 * character) followed by a NUL. Size query: pass `buffer = NULL, buffer_len = 0`, then call
 * again with a buffer of the returned length + 1. Reading does not clear the message.
 * Thread safety: any thread; each thread has its own message.
 */
size_t focusllm_last_error_message(char *buffer,
                                   size_t buffer_len);

/**
 * The ABI version the library was built with (FOCUSLLM_ABI_VERSION of its own header).
 * Thread safety: any thread.
 */
uint32_t focusllm_abi_version(void);

/**
 * A static, NUL-terminated string naming focusllm's version, its ABI version and the
 * llama.cpp build, e.g. "focusllm 0.1.0 (ABI 1; llama.cpp vendored in llama-cpp-sys-2
 * 0.1.161)". Never free it. Thread safety: any thread.
 */
const char *focusllm_version_string(void);

/**
 * Sends every llama.cpp log line to `callback` with `user_data`, process-wide, replacing
 * any earlier callback. NULL restores the default: lines go to Rust's `log` crate (silent
 * unless the program is Rust and installed a logger). A line being delivered on another
 * thread at the moment of the switch may still reach the previous callback, so keep the
 * previous user_data valid until in-flight work is done. Thread safety: any thread.
 */
focusllm_status focusllm_set_log_callback(focusllm_log_fn callback,
                                          void *user_data);

/**
 * Writes the default model parameters into `params`; `struct_size` must be
 * sizeof(focusllm_model_params). Call: focusllm_model_default_params(&p, sizeof p).
 */
focusllm_status focusllm_model_default_params(struct focusllm_model_params *params,
                                              size_t struct_size);

/**
 * Loads a GGUF model from `path` (`path_len` bytes of UTF-8, no NUL needed). `params` must
 * not be NULL. `progress` may be NULL; it gets `user_data`. On success writes a new model to
 * `*out_model`, which the caller frees with focusllm_model_free(). On failure `*out_model`
 * is untouched and the message says why (a missing file, or llama.cpp's own reason).
 */
focusllm_status focusllm_model_load(const char *path,
                                    size_t path_len,
                                    const struct focusllm_model_params *params,
                                    focusllm_load_progress_fn progress,
                                    void *user_data,
                                    struct focusllm_model **out_model);

/**
 * Frees a model. NULL is a no-op. Sessions made from the model stay valid (they hold their
 * own reference). The model must not be used afterwards, nor freed twice.
 */
void focusllm_model_free(struct focusllm_model *model);

/**
 * The context length the model was trained with (its native window); 0 if `model` is NULL.
 */
uint32_t focusllm_model_n_ctx_train(const struct focusllm_model *model);

/**
 * The number of tokens in the model's vocabulary; 0 if `model` is NULL.
 */
uint32_t focusllm_model_n_vocab(const struct focusllm_model *model);

/**
 * The size of the model's tensors in bytes; 0 if `model` is NULL.
 */
uint64_t focusllm_model_size_bytes(const struct focusllm_model *model);

/**
 * Copies llama.cpp's one-line description of the model ("llama 135M Q4_1") into `buffer`,
 * snprintf style (see focusllm_last_error_message() for the buffer rules); returns its full
 * length. Returns 0 if `model` is NULL.
 */
size_t focusllm_model_description(const struct focusllm_model *model,
                                  char *buffer,
                                  size_t buffer_len);

/**
 * Estimates the peak memory in bytes that a session with `params` needs for a job on a long
 * document generating up to `max_tokens` tokens: the weights, the largest KV cache the
 * strategy allocates and llama.cpp's compute buffers. Meant for "will it fit" before
 * running; llama.cpp pads and adds small buffers. Writes `*out_bytes` on success.
 */
focusllm_status focusllm_model_estimate_memory(const struct focusllm_model *model,
                                               const struct focusllm_session_params *params,
                                               uint32_t max_tokens,
                                               uint64_t *out_bytes);

/**
 * Writes the model's metadata to `*out_info`, whose struct_size the caller sets. `model` and
 * `out_info` must not be NULL.
 */
focusllm_status focusllm_model_get_info(const struct focusllm_model *model,
                                        struct focusllm_model_info *out_info);

/**
 * Copies the GGUF architecture name ("llama", "gemma3"; "" when the file names none) into
 * `buffer`, snprintf style: at most buffer_len - 1 bytes (cut at a character boundary) and a
 * NUL; `buffer` may be NULL when `buffer_len` is 0. Writes the full length in bytes
 * (without the NUL) to `*out_len`, which must not be NULL: when it is >= buffer_len, call
 * again with a buffer of *out_len + 1 bytes.
 */
focusllm_status focusllm_model_architecture(const struct focusllm_model *model,
                                            char *buffer,
                                            size_t buffer_len,
                                            size_t *out_len);

/**
 * Copies the model's chat template (its Jinja source from the GGUF file) into `buffer`, with
 * the rules of focusllm_model_architecture(). A model without one gives
 * FOCUSLLM_STATUS_CHAT_TEMPLATE (focusllm_model_get_info() says beforehand).
 */
focusllm_status focusllm_model_chat_template(const struct focusllm_model *model,
                                             char *buffer,
                                             size_t buffer_len,
                                             size_t *out_len);

/**
 * Tokenizes `text` (`text_len` bytes of UTF-8, no NUL needed). `add_special` adds BOS/EOS
 * as the model wants; `parse_special` turns text such as "<|im_start|>" into its control
 * token (leave it false for text from users). Writes the token count to `*out_n_tokens`
 * (must not be NULL) and, when `capacity` is at least that count, the tokens to
 * `out_tokens`; with a smaller capacity nothing is written to `out_tokens` (which may then
 * be NULL): call again with *out_n_tokens entries. Empty text gives 0 tokens (or just BOS).
 */
focusllm_status focusllm_model_tokenize(const struct focusllm_model *model,
                                        const char *text,
                                        size_t text_len,
                                        bool add_special,
                                        bool parse_special,
                                        int32_t *out_tokens,
                                        size_t capacity,
                                        size_t *out_n_tokens);

/**
 * How many tokens `text` becomes with these flags (see focusllm_model_tokenize()): what it
 * costs of the window. Writes the count to `*out_n_tokens` (must not be NULL).
 */
focusllm_status focusllm_model_count_tokens(const struct focusllm_model *model,
                                            const char *text,
                                            size_t text_len,
                                            bool add_special,
                                            bool parse_special,
                                            size_t *out_n_tokens);

/**
 * The text of `n_tokens` token ids at `tokens` (NULL allowed when n_tokens is 0), copied into
 * `buffer` with the rules of focusllm_model_architecture(); the full length goes to
 * `*out_len`. `render_special` writes control tokens ("<|im_end|>") as their text instead of
 * dropping them. Bytes that do not form UTF-8 become U+FFFD. An id outside the vocabulary
 * gives FOCUSLLM_STATUS_INVALID_INPUT naming it.
 */
focusllm_status focusllm_model_detokenize(const struct focusllm_model *model,
                                          const int32_t *tokens,
                                          size_t n_tokens,
                                          bool render_special,
                                          char *buffer,
                                          size_t buffer_len,
                                          size_t *out_len);

/**
 * Formats `n_messages` messages with the model's own chat template (llama.cpp's template
 * engine), ending with the opener of the assistant's turn when `add_assistant` is true, into
 * `buffer` with the rules of focusllm_model_architecture(); the full length goes to
 * `*out_len`. The text holds the template's control tokens as text: tokenize it with
 * parse_special to run it, and note that control-token text inside the messages then
 * becomes control tokens too (focusllm_session_run() with job.chat keeps messages as data).
 * A model without a template, or one llama.cpp does not know, gives
 * FOCUSLLM_STATUS_CHAT_TEMPLATE; no messages, or a role or content with a NUL byte, gives
 * FOCUSLLM_STATUS_INVALID_INPUT.
 */
focusllm_status focusllm_model_apply_chat_template(const struct focusllm_model *model,
                                                   const struct focusllm_chat_message *messages,
                                                   size_t n_messages,
                                                   bool add_assistant,
                                                   char *buffer,
                                                   size_t buffer_len,
                                                   size_t *out_len);

/**
 * Writes the default session parameters into `params`; `struct_size` must be
 * sizeof(focusllm_session_params). Call: focusllm_session_default_params(&p, sizeof p).
 */
focusllm_status focusllm_session_default_params(struct focusllm_session_params *params,
                                                size_t struct_size);

/**
 * Makes a session over `model` (which it keeps alive) with `params` (not NULL; checked
 * here, so a bad value fails now rather than in the first job). On success writes the new
 * session to `*out_session`; free it with focusllm_session_free().
 */
focusllm_status focusllm_session_new(const struct focusllm_model *model,
                                     const struct focusllm_session_params *params,
                                     struct focusllm_session **out_session);

/**
 * Frees a session. NULL is a no-op. A session must not be freed while a call on it runs;
 * from inside its own callback the request is refused (the session stays, the last error
 * says so) rather than freeing memory in use. Never free a session twice.
 */
void focusllm_session_free(struct focusllm_session *session);

/**
 * Stops the call running on `session` as soon as possible: between generated tokens,
 * between prefill batches, or inside a decode. That call returns FOCUSLLM_STATUS_CANCELLED
 * and its outputs are not written. A cancel is never lost: one that comes while no call
 * runs (before a call starts, or after one has finished its work) stops the next call on
 * the session, which then returns FOCUSLLM_STATUS_CANCELLED at once; several such cancels
 * count as one. So every cancel stops exactly one call: the one running when it came, or
 * the next. To cancel one particular call and nothing else, give that call its own
 * focusllm_cancel_token instead. Thread safety: any thread, any time while the session
 * exists, including from the session's own callbacks.
 */
focusllm_status focusllm_session_cancel(const struct focusllm_session *session);

/**
 * Makes a new, uncancelled token and writes it to `*out_token`.
 */
focusllm_status focusllm_cancel_token_new(struct focusllm_cancel_token **out_token);

/**
 * Cancels the token: the call that uses it stops as soon as possible (between tokens,
 * between prefill batches, or inside a decode) and returns FOCUSLLM_STATUS_CANCELLED; a call
 * given it later returns FOCUSLLM_STATUS_CANCELLED at once. Thread safety: any thread, any
 * time while the token exists, including from a call's own callbacks.
 */
focusllm_status focusllm_cancel_token_cancel(const struct focusllm_cancel_token *token);

/**
 * Whether the token was cancelled (false for NULL). Thread safety: any thread.
 */
bool focusllm_cancel_token_is_cancelled(const struct focusllm_cancel_token *token);

/**
 * Frees a token. NULL is a no-op. A call that uses it may still be running: it keeps its own
 * reference, and cancelling it is then no longer possible through this token.
 */
void focusllm_cancel_token_free(struct focusllm_cancel_token *token);

/**
 * Writes the default generation parameters into `params`; `struct_size` must be
 * sizeof(focusllm_generate_params). Call: focusllm_generate_default_params(&p, sizeof p).
 */
focusllm_status focusllm_generate_default_params(struct focusllm_generate_params *params,
                                                 size_t struct_size);

/**
 * Runs one job on `session`: plain generation from a prompt, or a question about a document
 * of any length. Streams the answer to `on_piece` and prefill progress to `on_progress`
 * (either may be NULL; both get `user_data`). `session`, `job` and `params` must not be
 * NULL; `out_result` may be NULL when the summary is not wanted, otherwise its struct_size
 * must be set. On success (which includes a stop by the piece callback) writes
 * `*out_result`. Blocks until the job ends. The session runs one call at a time: a call
 * while another runs on it, including from inside these callbacks, returns
 * FOCUSLLM_STATUS_BUSY. Other sessions may be used from inside the callbacks.
 * Cancelling: focusllm_session_cancel(), or the token in params->cancel, stops the call
 * whenever it comes, even before the call starts (then it returns
 * FOCUSLLM_STATUS_CANCELLED at once); a cancel that comes after the call finished its work
 * but before it returned still makes it return FOCUSLLM_STATUS_CANCELLED (no output
 * written).
 */
focusllm_status focusllm_session_run(struct focusllm_session *session,
                                     const struct focusllm_job *job,
                                     const struct focusllm_generate_params *params,
                                     focusllm_piece_fn on_piece,
                                     focusllm_progress_fn on_progress,
                                     void *user_data,
                                     struct focusllm_result *out_result);

/**
 * Writes the default document parameters into `params` (`struct_size` bytes of it; pass
 * sizeof(focusllm_document_params)).
 */
focusllm_status focusllm_document_default_params(struct focusllm_document_params *params,
                                                 size_t struct_size);

/**
 * Processes `text` (`text_len` bytes of UTF-8) on `session` for later questions: the text
 * is cut into chunks and their KV is computed in parallel batches, once. `params` may be
 * NULL (defaults). `on_progress` (may be NULL) counts decoded tokens; returning false
 * cancels (FOCUSLLM_STATUS_CANCELLED), as do focusllm_session_cancel() and params->cancel
 * (see focusllm_session_run() for when a cancel counts). On success writes
 * the new document to `*out_document`. Not available with FOCUSLLM_STRATEGY_CANDIDATE
 * (FOCUSLLM_STATUS_UNSUPPORTED).
 */
focusllm_status focusllm_document_ingest(struct focusllm_session *session,
                                         const char *text,
                                         size_t text_len,
                                         const struct focusllm_document_params *params,
                                         focusllm_progress_fn on_progress,
                                         void *user_data,
                                         struct focusllm_document **out_document);

/**
 * Answers `question` (`question_len` bytes of UTF-8) about `document` on `session`: only
 * the question's prompts, the kept chunks and the answer are decoded. The answer is the one
 * focusllm_session_run() gives for the document's text and this question. Callbacks,
 * cancellation, BUSY and `out_result` (may be NULL) work as in focusllm_session_run().
 * A document made with another model or settings is refused
 * (FOCUSLLM_STATUS_DOCUMENT_MISMATCH, the message names the differences).
 */
focusllm_status focusllm_document_ask(struct focusllm_session *session,
                                      const struct focusllm_document *document,
                                      const char *question,
                                      size_t question_len,
                                      const struct focusllm_generate_params *params,
                                      focusllm_piece_fn on_piece,
                                      focusllm_progress_fn on_progress,
                                      void *user_data,
                                      struct focusllm_result *out_result);

/**
 * Saves `document` to the file `path` (`path_len` bytes of UTF-8), replacing it: a
 * versioned header (format, model identity, settings, checksums) and the chunks' KV. The
 * file is written under a temporary name and renamed, so a failed save leaves no partial
 * file at `path`.
 */
focusllm_status focusllm_document_save(const struct focusllm_document *document,
                                       const char *path,
                                       size_t path_len);

/**
 * Opens a document saved by focusllm_document_save() for use with `session`. Every
 * checksum is verified now: a file that is not a document, from a newer format, truncated
 * or damaged is FOCUSLLM_STATUS_DOCUMENT_FILE; one from another model or settings is
 * FOCUSLLM_STATUS_DOCUMENT_MISMATCH. The chunks' KV stays in the file and is read (and
 * checked again) per question. On success writes `*out_document`.
 */
focusllm_status focusllm_document_load(struct focusllm_session *session,
                                       const char *path,
                                       size_t path_len,
                                       struct focusllm_document **out_document);

/**
 * Writes what `document` holds to `*out_info` (its struct_size set by the caller).
 */
focusllm_status focusllm_document_get_info(const struct focusllm_document *document,
                                           struct focusllm_document_info *out_info);

/**
 * Frees a document (and closes its files). NULL is a no-op. It must not be in use by a
 * call (focusllm_document_ask) on any thread.
 */
void focusllm_document_free(struct focusllm_document *document);

/**
 * Writes passage `index` (0 <= index < focusllm_result.n_sources) that the last successful
 * call on `session` read (focusllm_session_run(), focusllm_document_ask()), in the order
 * read, to `*out_source` (its struct_size set by the caller). Byte ranges refer to that
 * call's document. An index out of range is FOCUSLLM_STATUS_INVALID_ARGUMENT.
 */
focusllm_status focusllm_session_get_source(const struct focusllm_session *session,
                                            size_t index,
                                            struct focusllm_source *out_source);

/**
 * Starts a conversation with `session`'s model and settings, opened by the system prompt
 * (`system_len` bytes of UTF-8; NULL and 0 for none, when the chat template decides). The
 * model must have a chat template and the session's use_chat_template be on
 * (FOCUSLLM_STATUS_UNSUPPORTED otherwise). On success writes `*out_conversation`.
 */
focusllm_status focusllm_conversation_new(struct focusllm_session *session,
                                          const char *system,
                                          size_t system_len,
                                          struct focusllm_conversation **out_conversation);

/**
 * Starts a conversation about a processed document: the document opens the first user
 * message, every turn reuses its chunks' KV and sees the earlier turns. The conversation
 * keeps the document alive (it may be freed first). A document made with another model or
 * settings is FOCUSLLM_STATUS_DOCUMENT_MISMATCH. On success writes `*out_conversation`.
 */
focusllm_status focusllm_conversation_new_over_document(struct focusllm_session *session,
                                                        const struct focusllm_document *document,
                                                        struct focusllm_conversation **out_conversation);

/**
 * Sends a user message (`text_len` bytes of UTF-8, not empty) and streams the assistant's
 * reply, which joins the history. While the conversation fits the window only what is new
 * since the last turn is decoded (focusllm_result.n_cached_tokens says how much was kept);
 * past it, the oldest turns (and the document) are read in chunks, and the reply's sources
 * can be got with focusllm_conversation_get_source(). Callbacks, cancellation, BUSY and
 * `out_result` (may be NULL) work as in focusllm_session_run(). On a failure (a cancel
 * included) the history is as it was before the call; a reply the piece callback stopped
 * is kept as far as it was streamed.
 */
focusllm_status focusllm_conversation_send(struct focusllm_conversation *conversation,
                                           const char *text,
                                           size_t text_len,
                                           const struct focusllm_generate_params *params,
                                           focusllm_piece_fn on_piece,
                                           focusllm_progress_fn on_progress,
                                           void *user_data,
                                           struct focusllm_result *out_result);

/**
 * Adds a message without generating (a saved conversation restored, or a reply the
 * application wrote): `role` a FOCUSLLM_ROLE_* value, turns alternating from USER; a user
 * message must not be empty. Returns FOCUSLLM_STATUS_INVALID_INPUT for a turn out of order.
 */
focusllm_status focusllm_conversation_push(struct focusllm_conversation *conversation,
                                           focusllm_role role,
                                           const char *text,
                                           size_t text_len);

/**
 * Writes the number of messages in the history (user and assistant turns; the system
 * prompt is not counted) to `*out_count`.
 */
focusllm_status focusllm_conversation_message_count(struct focusllm_conversation *conversation,
                                                    size_t *out_count);

/**
 * Copies message `index` of the history into `buffer`, snprintf style (at most
 * buffer_len - 1 bytes, cut at a character boundary, and a NUL; `buffer` may be NULL when
 * `buffer_len` is 0), writes its full length in bytes to `*out_len` and its
 * FOCUSLLM_ROLE_* value to `*out_role` (may be NULL). When *out_len >= buffer_len, call
 * again with *out_len + 1 bytes. An index past the history is FOCUSLLM_STATUS_INVALID_ARGUMENT.
 */
focusllm_status focusllm_conversation_get_message(struct focusllm_conversation *conversation,
                                                  size_t index,
                                                  char *buffer,
                                                  size_t buffer_len,
                                                  size_t *out_len,
                                                  focusllm_role *out_role);

/**
 * Writes passage `index` (0 <= index < focusllm_result.n_sources) that the last successful
 * focusllm_conversation_send() read, in the order read, to `*out_source` (its struct_size
 * set by the caller): in the document, or in a message of the history. An index out of
 * range is FOCUSLLM_STATUS_INVALID_ARGUMENT.
 */
focusllm_status focusllm_conversation_get_source(const struct focusllm_conversation *conversation,
                                                 size_t index,
                                                 struct focusllm_source *out_source);

/**
 * Stops the call running on `conversation`, or the next one when none runs, exactly as
 * focusllm_session_cancel() does for a session. Any thread, any time while it exists.
 */
focusllm_status focusllm_conversation_cancel(const struct focusllm_conversation *conversation);

/**
 * Frees a conversation (its KV and history). NULL is a no-op. It must not be freed while a
 * call on it runs; from inside its own callback the request is refused (it stays, the last
 * error says so). Never free a conversation twice.
 */
void focusllm_conversation_free(struct focusllm_conversation *conversation);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* FOCUSLLM_H */
