//! Conversations (a system prompt, then turns, over an optional processed document) and the
//! passages an answer read (`focusllm_source`), for sessions and conversations alike.

use std::ffi::{c_char, c_void};
use std::sync::{Mutex, PoisonError};

use super::boundary;
use super::document::focusllm_document;
use super::generate_params::focusllm_generate_params;
use super::handles;
use super::run::{
    CCallbacks, focusllm_piece_fn, focusllm_progress_fn, focusllm_result, run_answer, with_locked, with_session,
};
use super::session::{CallCancel, focusllm_session};
use super::sized::{self, versioned};
use super::status::{Failure, focusllm_status};
use super::strings::{copy_to_buffer, str_arg};
use super::vocab::check_out_len;
use crate::focus::{Conversation, Source, SourceText};

/// A conversation: a system prompt, then user and assistant turns in the model's chat
/// template, over an optional processed document. Made by focusllm_conversation_new() or
/// focusllm_conversation_new_over_document(), freed with focusllm_conversation_free(). It
/// has its own copy of the session's model and settings (the session may be freed first) and
/// keeps the KV of its turns between calls. Used by one thread at a time: a second call
/// while one runs returns FOCUSLLM_STATUS_BUSY. focusllm_conversation_cancel() may be called
/// from any thread at any time.
pub struct focusllm_conversation {
    conversation: Mutex<Conversation>,
    calls: CallCancel,
    sources: Mutex<Vec<Source>>,
}

impl focusllm_conversation {
    fn new(conversation: Conversation) -> Self {
        focusllm_conversation {
            conversation: Mutex::new(conversation),
            calls: CallCancel::default(),
            sources: Mutex::default(),
        }
    }
}

/// Who wrote a message.
pub type focusllm_role = i32;
pub const FOCUSLLM_ROLE_USER: focusllm_role = 0;
pub const FOCUSLLM_ROLE_ASSISTANT: focusllm_role = 1;

/// Which of the caller's texts a source lies in.
pub type focusllm_source_text = i32;
/// The document (of focusllm_session_run(), or the processed document's text).
pub const FOCUSLLM_SOURCE_TEXT_DOCUMENT: focusllm_source_text = 0;
/// A message of the conversation's history (focusllm_source.message is its index).
pub const FOCUSLLM_SOURCE_TEXT_MESSAGE: focusllm_source_text = 1;

/// A passage an answer read: a byte range of the caller's text. The caller sets
/// struct_size = sizeof(focusllm_source); the library writes only that many bytes.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct focusllm_source {
    /// sizeof(focusllm_source) as compiled into the program, set by the caller.
    pub struct_size: usize,
    /// The chunk the passage belongs to (chunks count from 0 at the start of the text read
    /// in chunks).
    pub chunk: usize,
    /// That chunk's score: lower is more relevant (the question's mean negative
    /// log-likelihood after the chunk).
    pub score: f32,
    /// A FOCUSLLM_SOURCE_TEXT_* value.
    pub text: focusllm_source_text,
    /// The message's index for FOCUSLLM_SOURCE_TEXT_MESSAGE (as in
    /// focusllm_conversation_get_message()), else 0.
    pub message: usize,
    /// Bytes [byte_start, byte_end) of that text, on UTF-8 character boundaries.
    pub byte_start: usize,
    pub byte_end: usize,
}

versioned!(
    focusllm_source,
    focusllm_source {
        struct_size: size_of::<focusllm_source>(),
        chunk: 0,
        score: 0.0,
        text: FOCUSLLM_SOURCE_TEXT_DOCUMENT,
        message: 0,
        byte_start: 0,
        byte_end: 0,
    },
    versions = &[6],
    [chunk, score, text, message, byte_start, byte_end]
);

impl focusllm_source {
    fn from_rust(source: &Source) -> Self {
        let (text, message) = match source.text {
            SourceText::Document => (FOCUSLLM_SOURCE_TEXT_DOCUMENT, 0),
            SourceText::Message(i) => (FOCUSLLM_SOURCE_TEXT_MESSAGE, i),
        };
        focusllm_source {
            struct_size: size_of::<Self>(),
            chunk: source.chunk,
            score: source.score,
            text,
            message,
            byte_start: source.bytes.start,
            byte_end: source.bytes.end,
        }
    }
}

const SOURCE_HINT: &str = "set out_source->struct_size = sizeof(focusllm_source) before the call";

/// Writes source `index` of the handle's last successful call to `out_source`.
fn get_source(sources: &Mutex<Vec<Source>>, index: usize, out_source: *mut focusllm_source) -> Result<(), Failure> {
    // SAFETY: the caller's struct starts with a readable struct_size (or is NULL, rejected).
    let size = unsafe { sized::output_size(out_source, "out_source", SOURCE_HINT) }?;
    let sources = sources.lock().unwrap_or_else(PoisonError::into_inner);
    let source = sources.get(index).ok_or_else(|| {
        Failure::argument(format!(
            "index {index} is past the last call's sources ({} of them: focusllm_result.n_sources)",
            sources.len()
        ))
    })?;
    // SAFETY: out_source is non-null, aligned, with `size` writable bytes (checked).
    unsafe { sized::write(out_source, size, &focusllm_source::from_rust(source)) };
    Ok(())
}

/// Writes passage `index` (0 <= index < focusllm_result.n_sources) that the last successful
/// call on `session` read (focusllm_session_run(), focusllm_document_ask()), in the order
/// read, to `*out_source` (its struct_size set by the caller). Byte ranges refer to that
/// call's document. An index out of range is FOCUSLLM_STATUS_INVALID_ARGUMENT.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn focusllm_session_get_source(
    session: *const focusllm_session,
    index: usize,
    out_source: *mut focusllm_source,
) -> focusllm_status {
    boundary::status("focusllm_session_get_source", || {
        // SAFETY: a live session handle or NULL (rejected).
        let handle = unsafe { handles::borrow(session, "session") }?;
        get_source(&handle.sources, index, out_source)
    })
}

/// Starts a conversation with `session`'s model and settings, opened by the system prompt
/// (`system_len` bytes of UTF-8; NULL and 0 for none, when the chat template decides). The
/// model must have a chat template and the session's use_chat_template be on
/// (FOCUSLLM_STATUS_UNSUPPORTED otherwise). On success writes `*out_conversation`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn focusllm_conversation_new(
    session: *mut focusllm_session,
    system: *const c_char,
    system_len: usize,
    out_conversation: *mut *mut focusllm_conversation,
) -> focusllm_status {
    boundary::status("focusllm_conversation_new", || {
        // SAFETY: a live session handle or NULL (rejected).
        let handle = unsafe { handles::borrow(session.cast_const(), "session") }?;
        // SAFETY: the caller's (system, system_len) is readable for this call.
        let system = unsafe { str_arg(system, system_len, "system") }?;
        handles::check_out(out_conversation, "out_conversation")?;
        let system = (!system.is_empty()).then_some(system);
        let conversation = with_session(handle, None, idle(), |session, _| Ok(session.conversation(system)?))?;
        // SAFETY: out_conversation was checked non-null and aligned.
        unsafe { handles::put(out_conversation, focusllm_conversation::new(conversation)) };
        Ok(())
    })
}

/// Starts a conversation about a processed document: the document opens the first user
/// message, every turn reuses its chunks' KV and sees the earlier turns. The conversation
/// keeps the document alive (it may be freed first). A document made with another model or
/// settings is FOCUSLLM_STATUS_DOCUMENT_MISMATCH. On success writes `*out_conversation`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn focusllm_conversation_new_over_document(
    session: *mut focusllm_session,
    document: *const focusllm_document,
    out_conversation: *mut *mut focusllm_conversation,
) -> focusllm_status {
    boundary::status("focusllm_conversation_new_over_document", || {
        // SAFETY: live handles or NULL (rejected).
        let handle = unsafe { handles::borrow(session.cast_const(), "session") }?;
        // SAFETY: as above.
        let document = unsafe { handles::borrow(document, "document") }?.document.clone();
        handles::check_out(out_conversation, "out_conversation")?;
        let conversation = with_session(handle, None, idle(), |session, _| Ok(session.conversation_over(document)?))?;
        // SAFETY: out_conversation was checked non-null and aligned.
        unsafe { handles::put(out_conversation, focusllm_conversation::new(conversation)) };
        Ok(())
    })
}

/// Sends a user message (`text_len` bytes of UTF-8, not empty) and streams the assistant's
/// reply, which joins the history. While the conversation fits the window only what is new
/// since the last turn is decoded (focusllm_result.n_cached_tokens says how much was kept);
/// past it, the oldest turns (and the document) are read in chunks, and the reply's sources
/// can be got with focusllm_conversation_get_source(). Callbacks, cancellation, BUSY and
/// `out_result` (may be NULL) work as in focusllm_session_run(). On a failure (a cancel
/// included) the history is as it was before the call; a reply the piece callback stopped
/// is kept as far as it was streamed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn focusllm_conversation_send(
    conversation: *mut focusllm_conversation,
    text: *const c_char,
    text_len: usize,
    params: *const focusllm_generate_params,
    on_piece: focusllm_piece_fn,
    on_progress: focusllm_progress_fn,
    user_data: *mut c_void,
    out_result: *mut focusllm_result,
) -> focusllm_status {
    boundary::status("focusllm_conversation_send", || {
        // SAFETY: a live conversation handle or NULL (rejected).
        let handle = unsafe { handles::borrow(conversation.cast_const(), "conversation") }?;
        // SAFETY: the caller's (text, text_len) is readable for this call.
        let text = unsafe { str_arg(text, text_len, "text") }?;
        let target = (&handle.conversation, &handle.calls, &handle.sources);
        // SAFETY: the caller's params struct (and its stop strings) and out_result are valid
        // for the call.
        unsafe {
            run_answer(
                target,
                params,
                (on_piece, on_progress, user_data),
                out_result,
                |conversation, params, observer| {
                    let answer = conversation.send(text, params, observer)?;
                    Ok((focusllm_result::from_answer(&answer), answer.sources))
                },
            )
        }
    })
}

/// Adds a message without generating (a saved conversation restored, or a reply the
/// application wrote): `role` a FOCUSLLM_ROLE_* value, turns alternating from USER; a user
/// message must not be empty. Returns FOCUSLLM_STATUS_INVALID_INPUT for a turn out of order.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn focusllm_conversation_push(
    conversation: *mut focusllm_conversation,
    role: focusllm_role,
    text: *const c_char,
    text_len: usize,
) -> focusllm_status {
    boundary::status("focusllm_conversation_push", || {
        // SAFETY: a live conversation handle or NULL (rejected).
        let handle = unsafe { handles::borrow(conversation.cast_const(), "conversation") }?;
        // SAFETY: the caller's (text, text_len) is readable for this call.
        let text = unsafe { str_arg(text, text_len, "text") }?;
        let role = match role {
            FOCUSLLM_ROLE_USER => "user",
            FOCUSLLM_ROLE_ASSISTANT => "assistant",
            other => {
                return Err(Failure::argument(format!("role must be 0 or 1 (FOCUSLLM_ROLE_*), got {other}")));
            }
        };
        with_locked(&handle.conversation, &handle.calls, None, idle(), |c, _| Ok(c.push(role, text)?))
    })
}

/// Writes the number of messages in the history (user and assistant turns; the system
/// prompt is not counted) to `*out_count`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn focusllm_conversation_message_count(
    conversation: *mut focusllm_conversation,
    out_count: *mut usize,
) -> focusllm_status {
    boundary::status("focusllm_conversation_message_count", || {
        // SAFETY: a live conversation handle or NULL (rejected).
        let handle = unsafe { handles::borrow(conversation.cast_const(), "conversation") }?;
        if out_count.is_null() || !out_count.is_aligned() {
            return Err(Failure::argument("out_count is NULL or not aligned"));
        }
        let count = with_locked(&handle.conversation, &handle.calls, None, idle(), |c, _| Ok(c.messages().len()))?;
        // SAFETY: checked non-null and aligned.
        unsafe { out_count.write(count) };
        Ok(())
    })
}

/// Copies message `index` of the history into `buffer`, snprintf style (at most
/// buffer_len - 1 bytes, cut at a character boundary, and a NUL; `buffer` may be NULL when
/// `buffer_len` is 0), writes its full length in bytes to `*out_len` and its
/// FOCUSLLM_ROLE_* value to `*out_role` (may be NULL). When *out_len >= buffer_len, call
/// again with *out_len + 1 bytes. An index past the history is FOCUSLLM_STATUS_INVALID_ARGUMENT.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn focusllm_conversation_get_message(
    conversation: *mut focusllm_conversation,
    index: usize,
    buffer: *mut c_char,
    buffer_len: usize,
    out_len: *mut usize,
    out_role: *mut focusllm_role,
) -> focusllm_status {
    boundary::status("focusllm_conversation_get_message", || {
        // SAFETY: a live conversation handle or NULL (rejected).
        let handle = unsafe { handles::borrow(conversation.cast_const(), "conversation") }?;
        check_out_len(out_len)?;
        if !out_role.is_null() && !out_role.is_aligned() {
            return Err(Failure::argument("out_role is not aligned"));
        }
        let (role, text) = with_locked(&handle.conversation, &handle.calls, None, idle(), |c, _| {
            let messages = c.messages();
            let message = messages.get(index).ok_or_else(|| {
                Failure::argument(format!("index {index} is past the history ({} messages)", messages.len()))
            })?;
            let role = if message.role == "user" { FOCUSLLM_ROLE_USER } else { FOCUSLLM_ROLE_ASSISTANT };
            Ok((role, message.content.clone()))
        })?;
        // SAFETY: the caller provides `buffer_len` writable bytes at buffer (or NULL).
        unsafe { copy_to_buffer(&text, buffer, buffer_len) };
        // SAFETY: checked non-null and aligned.
        unsafe { out_len.write(text.len()) };
        if !out_role.is_null() {
            // SAFETY: non-null (tested) and aligned (checked).
            unsafe { out_role.write(role) };
        }
        Ok(())
    })
}

/// Writes passage `index` (0 <= index < focusllm_result.n_sources) that the last successful
/// focusllm_conversation_send() read, in the order read, to `*out_source` (its struct_size
/// set by the caller): in the document, or in a message of the history. An index out of
/// range is FOCUSLLM_STATUS_INVALID_ARGUMENT.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn focusllm_conversation_get_source(
    conversation: *const focusllm_conversation,
    index: usize,
    out_source: *mut focusllm_source,
) -> focusllm_status {
    boundary::status("focusllm_conversation_get_source", || {
        // SAFETY: a live conversation handle or NULL (rejected).
        let handle = unsafe { handles::borrow(conversation, "conversation") }?;
        get_source(&handle.sources, index, out_source)
    })
}

/// Stops the call running on `conversation`, or the next one when none runs, exactly as
/// focusllm_session_cancel() does for a session. Any thread, any time while it exists.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn focusllm_conversation_cancel(conversation: *const focusllm_conversation) -> focusllm_status {
    boundary::status("focusllm_conversation_cancel", || {
        // SAFETY: a live conversation handle or NULL (rejected).
        unsafe { handles::borrow(conversation, "conversation") }?.calls.cancel();
        Ok(())
    })
}

/// Frees a conversation (its KV and history). NULL is a no-op. It must not be freed while a
/// call on it runs; from inside its own callback the request is refused (it stays, the last
/// error says so). Never free a conversation twice.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn focusllm_conversation_free(conversation: *mut focusllm_conversation) {
    boundary::value("focusllm_conversation_free", (), || {
        if conversation.is_null() {
            return Ok(());
        }
        // SAFETY: a live conversation handle (caller's contract).
        let handle = unsafe { handles::borrow(conversation.cast_const(), "conversation") }?;
        if let Err(std::sync::TryLockError::WouldBlock) = handle.conversation.try_lock() {
            return Err(Failure::new(
                focusllm_status::Busy,
                "the conversation is running a call (free it after focusllm_conversation_send returns); not freed",
            ));
        }
        // SAFETY: the handle came from focusllm_conversation_new* and no call is using it.
        unsafe { handles::free(conversation) };
        Ok(())
    })
}

/// No callbacks: for the calls that only read or change the history.
fn idle() -> CCallbacks {
    CCallbacks::progress(None, std::ptr::null_mut())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_complete_and_pinned() {
        sized::assert_layout::<focusllm_source>();
        assert_eq!(size_of::<focusllm_source>(), 48);
    }
}
