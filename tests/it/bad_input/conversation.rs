//! The conversation and source rows of the matrix: `focusllm_conversation_*`,
//! `focusllm_session_get_source`.

use std::ptr::{null, null_mut};

use focusllm::capi::conversation::*;
use focusllm::capi::document::focusllm_document;
use focusllm::capi::generate_params::focusllm_generate_params;
use focusllm::capi::model::focusllm_model;
use focusllm::capi::run::focusllm_result;
use focusllm::capi::session::*;

use super::{BAD_UTF8, Matrix, Patterned, S, bad_sizes, sentinel};

/// The rows; `session` runs with the matrix's parameters and `document` was processed on it.
pub(super) fn rows(
    m: &mut Matrix,
    model: *mut focusllm_model,
    session: *mut focusllm_session,
    sp: &focusllm_session_params,
    document: *const focusllm_document,
    gp: &focusllm_generate_params,
    bad_params: &[(focusllm_generate_params, &str)],
) {
    let f = "focusllm_conversation_new";
    let new = |session: *mut focusllm_session, system: &[u8], out: *mut *mut focusllm_conversation| {
        // SAFETY: a live session or NULL; the text is valid for the call.
        unsafe { focusllm_conversation_new(session, system.as_ptr().cast(), system.len(), out) }
    };
    let mut out = sentinel::<focusllm_conversation>();
    m.fails(f, new(null_mut(), b"", &mut out), S::InvalidArgument, "session is NULL");
    m.fails(f, new(session, b"", null_mut()), S::InvalidArgument, "out_conversation is NULL");
    m.fails(f, new(session, BAD_UTF8, &mut out), S::InvalidArgument, "system is not valid UTF-8");
    m.fails(f, new(session, b"  \n", &mut out), S::InvalidInput, "the system prompt is empty");
    // SAFETY: a NULL text with a length is refused before any read.
    let status = unsafe { focusllm_conversation_new(session, null(), 5, &mut out) };
    m.fails(f, status, S::InvalidArgument, "system is NULL but its length is 5");
    let mut plain = null_mut();
    let pp = focusllm_session_params { use_chat_template: false, ..*sp };
    // SAFETY: live model, filled params, an out-param.
    assert_eq!(unsafe { focusllm_session_new(model, &pp, &mut plain) }, S::Ok);
    m.fails(f, new(plain, b"", &mut out), S::Unsupported, "chat template");
    assert_eq!(out, sentinel(), "{f} wrote out_conversation");

    let f = "focusllm_conversation_new_over_document";
    let over = |session: *mut focusllm_session, document: *const focusllm_document, out| {
        // SAFETY: live handles or NULL.
        unsafe { focusllm_conversation_new_over_document(session, document, out) }
    };
    m.fails(f, over(null_mut(), document, &mut out), S::InvalidArgument, "session is NULL");
    m.fails(f, over(session, null(), &mut out), S::InvalidArgument, "document is NULL");
    m.fails(f, over(session, document, null_mut()), S::InvalidArgument, "out_conversation is NULL");
    m.fails(f, over(plain, document, &mut out), S::DocumentMismatch, "chat");
    assert_eq!(out, sentinel(), "{f} wrote out_conversation");
    // SAFETY: made above, no call runs.
    unsafe { focusllm_session_free(plain) };

    let mut chat = null_mut();
    assert_eq!(new(session, b"You are terse.", &mut chat), S::Ok);

    let f = "focusllm_conversation_send";
    let send = |chat: *mut focusllm_conversation,
                text: *const u8,
                len: usize,
                params: *const focusllm_generate_params,
                out: *mut focusllm_result| {
        // SAFETY: every pointer is valid for what it claims, or NULL.
        unsafe { focusllm_conversation_send(chat, text.cast(), len, params, None, None, null_mut(), out) }
    };
    let mut result = Patterned::with_size(size_of::<focusllm_result>());
    let result_before = result.clone();
    let out_result = result.ptr::<focusllm_result>();
    let hi = b"Hi there";
    m.fails(f, send(null_mut(), hi.as_ptr(), hi.len(), gp, out_result), S::InvalidArgument, "conversation is NULL");
    m.fails(f, send(chat, null(), 4, gp, out_result), S::InvalidArgument, "text is NULL but its length is 4");
    m.fails(f, send(chat, BAD_UTF8.as_ptr(), BAD_UTF8.len(), gp, out_result), S::InvalidArgument, "not valid UTF-8");
    m.fails(f, send(chat, hi.as_ptr(), 0, gp, out_result), S::InvalidInput, "the user message is empty");
    m.fails(f, send(chat, hi.as_ptr(), hi.len(), null(), out_result), S::InvalidArgument, "params is NULL");
    for (p, needle) in bad_params.iter().take(3) {
        m.fails(f, send(chat, hi.as_ptr(), hi.len(), p, out_result), S::InvalidParam, needle);
    }
    for (bad, needle) in bad_sizes(size_of::<focusllm_result>(), 10) {
        let mut r = Patterned::with_size(bad);
        let before = r.clone();
        m.fails(f, send(chat, hi.as_ptr(), hi.len(), gp, r.ptr()), S::StructSize, needle);
        assert_eq!(r, before, "{f} wrote out_result with struct_size {bad}");
    }
    assert_eq!(result, result_before, "{f} wrote out_result on a failure");

    let f = "focusllm_conversation_push";
    let push = |chat: *mut focusllm_conversation, role: focusllm_role, text: &[u8]| {
        // SAFETY: a live conversation or NULL; the text is valid for the call.
        unsafe { focusllm_conversation_push(chat, role, text.as_ptr().cast(), text.len()) }
    };
    m.fails(f, push(null_mut(), FOCUSLLM_ROLE_USER, hi), S::InvalidArgument, "conversation is NULL");
    m.fails(f, push(chat, 2, hi), S::InvalidArgument, "role must be 0 or 1 (FOCUSLLM_ROLE_*), got 2");
    m.fails(f, push(chat, FOCUSLLM_ROLE_USER, BAD_UTF8), S::InvalidArgument, "text is not valid UTF-8");
    m.fails(f, push(chat, FOCUSLLM_ROLE_USER, b" "), S::InvalidInput, "the user message is empty");
    m.fails(f, push(chat, FOCUSLLM_ROLE_ASSISTANT, hi), S::InvalidInput, "must have the role \"user\"");
    // SAFETY: a NULL text with a length is refused before any read.
    let status = unsafe { focusllm_conversation_push(chat, FOCUSLLM_ROLE_USER, null(), 3) };
    m.fails(f, status, S::InvalidArgument, "text is NULL but its length is 3");

    let f = "focusllm_conversation_message_count";
    let mut count = 7usize;
    // SAFETY (this block): a live conversation or NULL; out-params on the stack or NULL.
    unsafe {
        m.fails(f, focusllm_conversation_message_count(null_mut(), &mut count), S::InvalidArgument, "conversation");
        m.fails(f, focusllm_conversation_message_count(chat, null_mut()), S::InvalidArgument, "out_count is NULL");
        assert_eq!(focusllm_conversation_message_count(chat, &mut count), S::Ok);
    }
    assert_eq!(count, 0, "the refused turns left no message");

    let f = "focusllm_conversation_get_message";
    let (mut len, mut role) = (9usize, 9);
    let mut buffer = [0x5Au8; 8];
    let (buffer_ptr, role_ptr): (*mut u8, *mut focusllm_role) = (buffer.as_mut_ptr(), &mut role);
    // SAFETY (this block): a live conversation or NULL; buffers on the stack or NULL.
    unsafe {
        let get = |chat, index, out_len: *mut usize| {
            focusllm_conversation_get_message(chat, index, buffer_ptr.cast(), 8, out_len, role_ptr)
        };
        m.fails(f, get(null_mut(), 0, &mut len), S::InvalidArgument, "conversation is NULL");
        m.fails(f, get(chat, 0, null_mut()), S::InvalidArgument, "out_len");
        m.fails(f, get(chat, 0, &mut len), S::InvalidArgument, "index 0 is past the history (0 messages)");
    }
    assert_eq!((len, role, buffer), (9, 9, [0x5A; 8]), "{f} wrote on a failure");

    let source_rows = |m: &mut Matrix, f: &'static str, call: &dyn Fn(usize, *mut focusllm_source) -> S| {
        let mut source = Patterned::with_size(size_of::<focusllm_source>());
        let before = source.clone();
        m.fails(f, call(0, null_mut()), S::InvalidArgument, "out_source is NULL");
        m.fails(f, call(0, source.ptr()), S::InvalidArgument, "index 0 is past the last call's sources (0 of them");
        for (bad, needle) in bad_sizes(size_of::<focusllm_source>(), 10) {
            let mut s = Patterned::with_size(bad);
            let s_before = s.clone();
            m.fails(f, call(0, s.ptr()), S::StructSize, needle);
            assert_eq!(s, s_before, "{f} wrote out_source with struct_size {bad}");
        }
        assert_eq!(source, before, "{f} wrote out_source on a failure");
    };
    let f = "focusllm_conversation_get_source";
    // SAFETY (these calls): a live handle or NULL; out-params on the stack or NULL.
    let mut probe = Patterned::with_size(size_of::<focusllm_source>());
    m.fails(f, unsafe { focusllm_conversation_get_source(null(), 0, probe.ptr()) }, S::InvalidArgument, "NULL");
    source_rows(m, f, &|i, out| unsafe { focusllm_conversation_get_source(chat, i, out) });
    let f = "focusllm_session_get_source";
    m.fails(f, unsafe { focusllm_session_get_source(null(), 0, probe.ptr()) }, S::InvalidArgument, "session is NULL");
    source_rows(m, f, &|i, out| unsafe { focusllm_session_get_source(session, i, out) });

    let f = "focusllm_conversation_cancel";
    // SAFETY (this block): NULL is refused; `chat` is live until freed here.
    unsafe {
        m.fails(f, focusllm_conversation_cancel(null()), S::InvalidArgument, "conversation is NULL");
        focusllm_conversation_free(null_mut());
        m.count("focusllm_conversation_free");
        focusllm_conversation_free(chat);
    }
}
