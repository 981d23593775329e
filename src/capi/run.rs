//! Running a job on a session: `focusllm_session_run`, its job and result structs, and the
//! streaming callbacks.

use std::ffi::{c_char, c_void};
use std::sync::{Mutex, PoisonError, TryLockError};

use super::boundary;
use super::generate_params::{focusllm_generate_params, focusllm_logprobs_fn, focusllm_token_logprob};
use super::handles;
use super::session::{CallCancel, focusllm_session};
use super::sized::{self, versioned};
use super::status::{Failure, focusllm_status};
use super::strings::str_arg;
use crate::focus::{Answer, Conversation, Session, Source};
use crate::generate::{Callbacks, FinishReason, Generation, Progress, Prompt, TokenLogprobs};
use crate::llama::{CancelHandle, ChatMessage, Token};
use crate::params::GenerateParams;

/// What to run. Zero-initialise it, set struct_size = sizeof(focusllm_job), then the fields.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct focusllm_job {
    /// sizeof(focusllm_job) as compiled into the program. See "Structs" at the top.
    pub struct_size: usize,
    /// The document, `document_len` bytes of UTF-8 (no NUL needed), of any length: when it
    /// does not fit the model's window it is read in chunks (FocusLLM). `document_len == 0`
    /// (document may then be NULL) means no document: `prompt` runs as a plain prompt.
    pub document: *const c_char,
    pub document_len: usize,
    /// The question about the document, or the plain prompt: `prompt_len` bytes of UTF-8.
    pub prompt: *const c_char,
    pub prompt_len: usize,
    /// Plain prompts only: wrap the prompt as one user message in the model's chat template
    /// (true), or feed it as raw text with control tokens parsed (false). Document jobs follow
    /// the session's use_chat_template.
    pub chat: bool,
}

versioned!(
    focusllm_job,
    focusllm_job {
        struct_size: size_of::<focusllm_job>(),
        document: std::ptr::null(),
        document_len: 0,
        prompt: std::ptr::null(),
        prompt_len: 0,
        chat: false,
    },
    versions = &[5],
    [document, document_len, prompt, prompt_len, chat]
);

/// Why generation ended.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum focusllm_finish_reason {
    /// The model produced an end-of-generation token.
    EndOfGeneration = 1,
    /// max_tokens tokens were generated.
    MaxTokens = 2,
    /// A stop string appeared (it is not part of the streamed text).
    StopString = 3,
    /// The context has no room for another token.
    ContextFull = 4,
    /// The piece callback returned false.
    CallerStopped = 5,
}

impl From<FinishReason> for focusllm_finish_reason {
    fn from(reason: FinishReason) -> Self {
        match reason {
            FinishReason::EndOfGeneration => Self::EndOfGeneration,
            FinishReason::MaxTokens => Self::MaxTokens,
            FinishReason::StopString => Self::StopString,
            FinishReason::ContextFull => Self::ContextFull,
            FinishReason::CallerStopped => Self::CallerStopped,
        }
    }
}

/// What a finished run reports besides the streamed text. The caller sets struct_size =
/// sizeof(focusllm_result); the library writes only that many bytes, on success only.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct focusllm_result {
    /// sizeof(focusllm_result) as compiled into the program, set by the caller.
    pub struct_size: usize,
    /// A focusllm_finish_reason value.
    pub finish_reason: focusllm_finish_reason,
    /// True when the input fit the model's window and ran without chunking.
    pub direct: bool,
    /// Tokens generated (an end-of-generation token is not counted).
    pub n_tokens: usize,
    /// Tokens of the whole input (chat wrapping, document and prompt).
    pub n_prompt_tokens: usize,
    /// Chunks and waves of a long document (0 when direct).
    pub n_chunks: usize,
    pub n_waves: usize,
    /// Wall time until the first token could be sampled, and of generation, in seconds.
    pub prefill_seconds: f64,
    pub generate_seconds: f64,
    /// Tokens of the input that a conversation kept from its previous turn instead of
    /// decoding them again (0 for other calls).
    pub n_cached_tokens: usize,
    /// Passages the answer read, to get with focusllm_session_get_source() or
    /// focusllm_conversation_get_source() (0 when direct).
    pub n_sources: usize,
}

// The library only writes focusllm_result (never reads it back), so its Rust enum field is
// sound whatever the caller's memory held.
versioned!(
    focusllm_result,
    focusllm_result {
        struct_size: size_of::<focusllm_result>(),
        finish_reason: focusllm_finish_reason::EndOfGeneration,
        direct: true,
        n_tokens: 0,
        n_prompt_tokens: 0,
        n_chunks: 0,
        n_waves: 0,
        prefill_seconds: 0.0,
        generate_seconds: 0.0,
        n_cached_tokens: 0,
        n_sources: 0,
    },
    versions = &[8, 10],
    [
        finish_reason,
        direct,
        n_tokens,
        n_prompt_tokens,
        n_chunks,
        n_waves,
        prefill_seconds,
        generate_seconds,
        n_cached_tokens,
        n_sources,
    ]
);

impl focusllm_result {
    pub(crate) fn from_answer(answer: &Answer) -> Self {
        let g = &answer.generation;
        focusllm_result {
            struct_size: size_of::<Self>(),
            finish_reason: g.finish.into(),
            direct: answer.stats.direct,
            n_tokens: g.tokens.len(),
            n_prompt_tokens: answer.stats.input_tokens,
            n_chunks: answer.stats.chunks,
            n_waves: answer.stats.waves,
            prefill_seconds: answer.stats.prefill_seconds,
            generate_seconds: g.generate_seconds,
            n_cached_tokens: answer.stats.cached_tokens,
            n_sources: answer.sources.len(),
        }
    }

    fn from_generation(g: &Generation) -> Self {
        focusllm_result {
            struct_size: size_of::<Self>(),
            finish_reason: g.finish.into(),
            direct: true,
            n_tokens: g.tokens.len(),
            n_prompt_tokens: g.prompt_tokens,
            n_chunks: 0,
            n_waves: 0,
            prefill_seconds: g.prompt_seconds,
            generate_seconds: g.generate_seconds,
            n_cached_tokens: 0,
            n_sources: 0,
        }
    }
}

/// Receives each streamed piece of text: `len` bytes of whole UTF-8 characters at `text`
/// (also NUL-terminated, for convenience) and the `n_tokens` token ids that produced them
/// (may be 0 when a token completes no character yet). Both pointers are valid only during
/// the callback. Called on the thread running the job. Return false to stop generating: the
/// run then succeeds with FOCUSLLM_FINISH_REASON_CALLER_STOPPED.
pub type focusllm_piece_fn = Option<
    unsafe extern "C" fn(
        text: *const c_char,
        len: usize,
        tokens: *const i32,
        n_tokens: usize,
        user_data: *mut c_void,
    ) -> bool,
>;

/// Reports prefill progress: `done` of `total` tokens decoded (the input, plus for a long
/// document the question's tail read with every chunk). Called on the thread running the
/// job, after each decoded batch; `done` grows to `total` exactly, reached once. Return
/// false to cancel: the run then returns FOCUSLLM_STATUS_CANCELLED.
pub type focusllm_progress_fn = Option<unsafe extern "C" fn(done: usize, total: usize, user_data: *mut c_void) -> bool>;

const JOB_HINT: &str = "zero-initialise it and set struct_size = sizeof(focusllm_job)";
const RESULT_HINT: &str = "set out_result->struct_size = sizeof(focusllm_result) before the call";

/// Runs one job on `session`: plain generation from a prompt, or a question about a document
/// of any length. Streams the answer to `on_piece` and prefill progress to `on_progress`
/// (either may be NULL; both get `user_data`). `session`, `job` and `params` must not be
/// NULL; `out_result` may be NULL when the summary is not wanted, otherwise its struct_size
/// must be set. On success (which includes a stop by the piece callback) writes
/// `*out_result`. Blocks until the job ends. The session runs one call at a time: a call
/// while another runs on it, including from inside these callbacks, returns
/// FOCUSLLM_STATUS_BUSY. Other sessions may be used from inside the callbacks.
/// Cancelling: focusllm_session_cancel(), or the token in params->cancel, stops the call
/// whenever it comes, even before the call starts (then it returns
/// FOCUSLLM_STATUS_CANCELLED at once); a cancel that comes after the call finished its work
/// but before it returned still makes it return FOCUSLLM_STATUS_CANCELLED (no output
/// written).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn focusllm_session_run(
    session: *mut focusllm_session,
    job: *const focusllm_job,
    params: *const focusllm_generate_params,
    on_piece: focusllm_piece_fn,
    on_progress: focusllm_progress_fn,
    user_data: *mut c_void,
    out_result: *mut focusllm_result,
) -> focusllm_status {
    boundary::status("focusllm_session_run", || {
        // SAFETY: a live session handle or NULL (rejected). Only shared references are made.
        let handle = unsafe { handles::borrow(session.cast_const(), "session") }?;
        // SAFETY: the caller's job struct and the strings it points to are readable for the call.
        let job = unsafe { sized::read(job, "job", JOB_HINT) }?;
        // SAFETY: same, for the document and the prompt.
        let document = unsafe { str_arg(job.document, job.document_len, "job.document") }?;
        // SAFETY: as above.
        let prompt = unsafe { str_arg(job.prompt, job.prompt_len, "job.prompt") }?;
        if prompt.is_empty() && document.is_empty() {
            return Err(Failure::new(focusllm_status::InvalidInput, "job.prompt is empty and there is no document"));
        }
        let target = (&handle.session, &handle.calls, &handle.sources);
        // SAFETY: the caller's params struct (and its stop strings) and out_result are valid
        // for the call.
        unsafe {
            run_answer(target, params, (on_piece, on_progress, user_data), out_result, |session, params, observer| {
                Ok(if document.is_empty() {
                    let prompt = if job.chat {
                        Prompt::Chat(vec![ChatMessage::new("user", prompt)])
                    } else {
                        Prompt::Text(prompt.to_owned())
                    };
                    (focusllm_result::from_generation(&session.generate(&prompt, params, observer)?), Vec::new())
                } else {
                    let answer = session.ask(document, prompt, params, observer)?;
                    (focusllm_result::from_answer(&answer), answer.sources)
                })
            })
        }
    })
}

/// The C callbacks of a call and their user data, as the export takes them.
pub(crate) type CallbackArgs = (focusllm_piece_fn, focusllm_progress_fn, *mut c_void);

/// What every export that streams an answer does around its own work: reads `params` (its
/// cancel token and log-probabilities callback) and checks `out_result`, runs `body` on the
/// locked object of `target` (see [`with_locked`]), keeps the answer's sources for the
/// handle's get_source function and writes the result.
///
/// # Safety
/// `params` as for [`focusllm_generate_params::read`]; `out_result` NULL or a result struct
/// whose struct_size is readable and whose bytes are writable.
pub(crate) unsafe fn run_answer<R: Runs>(
    (lock, calls, sources): (&Mutex<R>, &CallCancel, &Mutex<Vec<Source>>),
    params: *const focusllm_generate_params,
    (on_piece, on_progress, user_data): CallbackArgs,
    out_result: *mut focusllm_result,
    body: impl FnOnce(&mut R, &GenerateParams, Callbacks<'_>) -> Result<(focusllm_result, Vec<Source>), Failure>,
) -> Result<(), Failure> {
    // SAFETY: forwarded contract.
    let run = unsafe { focusllm_generate_params::read(params) }?;
    let size = result_size(out_result)?;
    let callbacks = CCallbacks { on_piece, on_progress, on_logprobs: run.on_logprobs, user_data };
    let generate = run.params;
    let (result, found) =
        with_locked(lock, calls, run.cancel, callbacks, |object, observer| body(object, &generate, observer))?;
    *sources.lock().unwrap_or_else(PoisonError::into_inner) = found;
    write_result(out_result, size, &result);
    Ok(())
}

/// The C callbacks of one call and the user data they all get.
pub(crate) struct CCallbacks {
    pub on_piece: focusllm_piece_fn,
    pub on_progress: focusllm_progress_fn,
    pub on_logprobs: focusllm_logprobs_fn,
    pub user_data: *mut c_void,
}

impl CCallbacks {
    /// Progress only (processing a document).
    pub fn progress(on_progress: focusllm_progress_fn, user_data: *mut c_void) -> Self {
        CCallbacks { on_piece: None, on_progress, on_logprobs: None, user_data }
    }
}

/// An object a C call runs on, one call at a time.
pub(crate) trait Runs {
    /// How the object is named in the BUSY message.
    const NAME: &'static str;
    fn set_cancel_handle(&mut self, cancel: CancelHandle);
}

impl Runs for Session {
    const NAME: &'static str = "session";
    fn set_cancel_handle(&mut self, cancel: CancelHandle) {
        Session::set_cancel_handle(self, cancel);
    }
}

impl Runs for Conversation {
    const NAME: &'static str = "conversation";
    fn set_cancel_handle(&mut self, cancel: CancelHandle) {
        Conversation::set_cancel_handle(self, cancel);
    }
}

/// Runs `body` on the session, with the caller's callbacks wrapped as [`Callbacks`] (see
/// [`with_locked`]).
pub(crate) fn with_session<T>(
    handle: &focusllm_session,
    cancel: Option<CancelHandle>,
    callbacks: CCallbacks,
    body: impl FnOnce(&mut Session, Callbacks<'_>) -> Result<T, Failure>,
) -> Result<T, Failure> {
    with_locked(&handle.session, &handle.calls, cancel, callbacks, body)
}

/// Runs `body` on the object behind `lock`, with the caller's callbacks wrapped as
/// [`Callbacks`]. Holds the lock for the call (a second call meanwhile gets
/// FOCUSLLM_STATUS_BUSY). The call stops on `cancel` (the caller's token) or a fresh token,
/// either of which the handle's cancel function reaches while the call runs; a cancel pending
/// on the handle cancels it from the start, and a cancel seen when it ends turns a success
/// into FOCUSLLM_STATUS_CANCELLED.
pub(crate) fn with_locked<R: Runs, T>(
    lock: &Mutex<R>,
    calls: &CallCancel,
    cancel: Option<CancelHandle>,
    callbacks: CCallbacks,
    body: impl FnOnce(&mut R, Callbacks<'_>) -> Result<T, Failure>,
) -> Result<T, Failure> {
    let CCallbacks { on_piece, on_progress, on_logprobs, user_data } = callbacks;
    let name = R::NAME;
    let mut object = match lock.try_lock() {
        Ok(guard) => guard,
        // A panic in an earlier call poisoned the lock. A session keeps no state between
        // calls; a conversation's history changes only once a turn succeeded, and its KV is
        // dropped on the way out of a failed turn: both are safe to go on with.
        Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
        Err(TryLockError::WouldBlock) => {
            return Err(Failure::new(
                focusllm_status::Busy,
                format!(
                    "the {name} is already running a call (from another thread, or this is a call from \
                     inside one of its callbacks); a {name} runs one call at a time"
                ),
            ));
        }
    };
    let token = cancel.unwrap_or_default();
    calls.begin_call(&token);
    object.set_cancel_handle(token.clone());
    let mut piece_text = Vec::new();
    let mut piece = |text: &str, tokens: &[Token]| match on_piece {
        None => true,
        Some(callback) => {
            piece_text.clear();
            piece_text.extend_from_slice(text.as_bytes());
            piece_text.push(0);
            // SAFETY: the caller's callback; the text (NUL-terminated) and token buffers stay
            // valid for the duration of the call; a Token is an i32 (repr(transparent)).
            unsafe { callback(piece_text.as_ptr().cast(), text.len(), tokens.as_ptr().cast(), tokens.len(), user_data) }
        }
    };
    let mut progress = |p: Progress| match on_progress {
        None => true,
        // SAFETY: the caller's callback, called on this thread during the call.
        Some(callback) => unsafe { callback(p.done, p.total, user_data) },
    };
    let mut top: Vec<focusllm_token_logprob> = Vec::new();
    let mut logprobs = |entry: &TokenLogprobs| match on_logprobs {
        None => true,
        Some(callback) => {
            top.clear();
            top.extend(entry.top.iter().map(|t| focusllm_token_logprob { token: t.token.0, logprob: t.logprob }));
            // SAFETY: the caller's callback, called on this thread during the call; `top` stays
            // valid (and unchanged) for the duration of the callback.
            unsafe { callback(entry.token.0, entry.logprob, top.as_ptr(), top.len(), user_data) }
        }
    };
    let callbacks = Callbacks {
        on_piece: &mut piece,
        on_progress: &mut progress,
        on_logprobs: on_logprobs.is_some().then_some(&mut logprobs as &mut dyn FnMut(&TokenLogprobs) -> bool),
    };
    let result = body(&mut object, callbacks);
    let cancelled = calls.end_call(&token);
    match result {
        Ok(_) if cancelled => Err(Failure::from(crate::Error::Cancelled)),
        result => result,
    }
}

/// Checks an optional out_result up front; its size when present.
pub(crate) fn result_size(out_result: *mut focusllm_result) -> Result<Option<usize>, Failure> {
    if out_result.is_null() {
        return Ok(None);
    }
    // SAFETY: the caller's result struct starts with a readable struct_size.
    Ok(Some(unsafe { sized::output_size(out_result, "out_result", RESULT_HINT) }?))
}

/// Writes the summary of a successful call when the caller asked for it.
pub(crate) fn write_result(out_result: *mut focusllm_result, size: Option<usize>, result: &focusllm_result) {
    if let Some(size) = size {
        // SAFETY: out_result is non-null, aligned, and has `size` writable bytes (checked by
        // `result_size`).
        unsafe { sized::write(out_result, size, result) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_are_complete_and_pinned() {
        sized::assert_layout::<focusllm_job>();
        sized::assert_layout::<focusllm_result>();
        assert_eq!(size_of::<focusllm_job>(), 48);
        assert_eq!(size_of::<focusllm_result>(), 80);
    }
}
