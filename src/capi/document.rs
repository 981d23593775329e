//! Processed documents: ingest a long text once, ask many questions, save and load `.fllm`
//! files.

use std::ffi::{c_char, c_void};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::boundary;
use super::cancel::{focusllm_cancel_token, token_arg};
use super::generate_params::focusllm_generate_params;
use super::handles;
use super::run::{CCallbacks, focusllm_piece_fn, focusllm_progress_fn, focusllm_result, run_answer, with_session};
use super::session::focusllm_session;
use super::sized::{self, versioned};
use super::status::{Failure, focusllm_status};
use super::strings::str_arg;
use crate::focus::{Document, DocumentParams};
use crate::llama::CancelHandle;

/// A processed document: the chunks' KV of a long text, computed once. Made by
/// focusllm_document_ingest() or focusllm_document_load(), freed with
/// focusllm_document_free(). Usable with any session on the same model and settings;
/// several sessions may ask about one document at the same time. Holds no pointer to the
/// session that made it.
pub struct focusllm_document {
    pub(crate) document: Arc<Document>,
}

/// How a document keeps its chunks' KV. Fill it with focusllm_document_default_params().
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct focusllm_document_params {
    /// sizeof(focusllm_document_params) as compiled into the program. See "Structs".
    pub struct_size: usize,
    /// Most bytes of chunk KV held in memory (default 1 GiB; 0 = no limit). Beyond it each
    /// chunk's KV goes to an unlinked spill file, or is dropped and decoded again by each
    /// question when that was measured to be faster.
    pub memory_budget_bytes: u64,
    /// Directory of the spill file, `spill_dir_len` bytes of UTF-8; length 0 (pointer may
    /// be NULL) = the system's temporary directory. It must exist.
    pub spill_dir: *const c_char,
    pub spill_dir_len: usize,
    /// A token that cancels the ingest (see focusllm_cancel_token), or NULL (the default).
    pub cancel: *const focusllm_cancel_token,
    /// Where focusllm_document_ingest() writes the document as a `.fllm` file while it
    /// processes it, `save_path_len` bytes of UTF-8; length 0 (pointer may be NULL, the
    /// default) = keep the KV as memory_budget_bytes says. When set, each chunk's KV goes to
    /// the file as soon as it is decoded (processing then needs no more memory than a
    /// question; memory_budget_bytes and spill_dir do not apply), the file appears under this
    /// name only once complete, and the document reads its KV from it, as a document opened
    /// with focusllm_document_load() does.
    pub save_path: *const c_char,
    pub save_path_len: usize,
}

versioned!(
    focusllm_document_params,
    focusllm_document_params::from_rust(&DocumentParams::default()),
    versions = &[3, 4, 6],
    [memory_budget_bytes, spill_dir, spill_dir_len, cancel, save_path, save_path_len]
);

impl focusllm_document_params {
    fn from_rust(p: &DocumentParams) -> Self {
        focusllm_document_params {
            struct_size: size_of::<Self>(),
            memory_budget_bytes: p.memory_budget_bytes,
            spill_dir: std::ptr::null(),
            spill_dir_len: 0,
            cancel: std::ptr::null(),
            save_path: std::ptr::null(),
            save_path_len: 0,
        }
    }

    /// The Rust parameters, and the call's cancel token when it gives one.
    ///
    /// # Safety
    /// Unless NULL, `ptr` must point to a params struct whose spill_dir and save_path are
    /// readable and whose cancel is NULL or a live token.
    unsafe fn read(ptr: *const Self) -> Result<(DocumentParams, Option<CancelHandle>), Failure> {
        if ptr.is_null() {
            return Ok((DocumentParams::default(), None));
        }
        // SAFETY: the caller's struct is readable for its struct_size.
        let p = unsafe { sized::read(ptr, "params", PARAMS_HINT) }?;
        // SAFETY: the caller's (spill_dir, spill_dir_len) is readable for this call.
        let dir = unsafe { str_arg(p.spill_dir, p.spill_dir_len, "params.spill_dir") }?;
        // SAFETY: the caller's (save_path, save_path_len) is readable for this call.
        let save_path = unsafe { str_arg(p.save_path, p.save_path_len, "params.save_path") }?;
        let params = DocumentParams {
            memory_budget_bytes: p.memory_budget_bytes,
            spill_dir: (!dir.is_empty()).then(|| PathBuf::from(dir)),
            save_path: (!save_path.is_empty()).then(|| PathBuf::from(save_path)),
        };
        // SAFETY: NULL or a live token (forwarded contract).
        Ok((params, unsafe { token_arg(p.cancel) }))
    }
}

const PARAMS_HINT: &str = "fill it with focusllm_document_default_params()";

/// What a document holds. The caller sets struct_size = sizeof(focusllm_document_info).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct focusllm_document_info {
    /// sizeof(focusllm_document_info) as compiled into the program, set by the caller.
    pub struct_size: usize,
    /// Tokens of the document's text.
    pub n_tokens: usize,
    /// Chunks (0 when the text is read as one plain prompt, see direct_when_fits: questions
    /// then run without chunking).
    pub n_chunks: usize,
    /// Chunks whose KV is in memory, in a file (spill or loaded document), or not kept
    /// (decoded again by each question).
    pub n_in_memory: usize,
    pub n_in_file: usize,
    pub n_not_kept: usize,
    /// Bytes of chunk KV in memory and in the file.
    pub memory_bytes: u64,
    pub file_bytes: u64,
    /// Wall time of focusllm_document_ingest() (0 for a loaded document), in seconds.
    pub ingest_seconds: f64,
}

versioned!(
    focusllm_document_info,
    focusllm_document_info {
        struct_size: size_of::<focusllm_document_info>(),
        n_tokens: 0,
        n_chunks: 0,
        n_in_memory: 0,
        n_in_file: 0,
        n_not_kept: 0,
        memory_bytes: 0,
        file_bytes: 0,
        ingest_seconds: 0.0,
    },
    versions = &[8],
    [n_tokens, n_chunks, n_in_memory, n_in_file, n_not_kept, memory_bytes, file_bytes, ingest_seconds]
);

/// Writes the default document parameters into `params` (`struct_size` bytes of it; pass
/// sizeof(focusllm_document_params)).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn focusllm_document_default_params(
    params: *mut focusllm_document_params,
    struct_size: usize,
) -> focusllm_status {
    // SAFETY: the caller provides `struct_size` writable bytes at params (or NULL).
    boundary::status("focusllm_document_default_params", || unsafe { sized::write_defaults(params, struct_size) })
}

/// Processes `text` (`text_len` bytes of UTF-8) on `session` for later questions: the text
/// is cut into chunks and their KV is computed in parallel batches, once. `params` may be
/// NULL (defaults). `on_progress` (may be NULL) counts decoded tokens; returning false
/// cancels (FOCUSLLM_STATUS_CANCELLED), as do focusllm_session_cancel() and params->cancel
/// (see focusllm_session_run() for when a cancel counts). On success writes
/// the new document to `*out_document`. Not available with FOCUSLLM_STRATEGY_CANDIDATE
/// (FOCUSLLM_STATUS_UNSUPPORTED).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn focusllm_document_ingest(
    session: *mut focusllm_session,
    text: *const c_char,
    text_len: usize,
    params: *const focusllm_document_params,
    on_progress: focusllm_progress_fn,
    user_data: *mut c_void,
    out_document: *mut *mut focusllm_document,
) -> focusllm_status {
    boundary::status("focusllm_document_ingest", || {
        // SAFETY: a live session handle or NULL (rejected).
        let handle = unsafe { handles::borrow(session.cast_const(), "session") }?;
        // SAFETY: the caller's (text, text_len) is readable for this call.
        let text = unsafe { str_arg(text, text_len, "text") }?;
        // SAFETY: the caller's params struct (or NULL) and its strings are readable.
        let (params, cancel) = unsafe { focusllm_document_params::read(params) }?;
        handles::check_out(out_document, "out_document")?;
        let document =
            with_session(handle, cancel, CCallbacks::progress(on_progress, user_data), |session, observer| {
                Ok(session.ingest(text, &params, observer.on_progress)?)
            })?;
        // SAFETY: out_document was checked non-null and aligned.
        unsafe { handles::put(out_document, focusllm_document { document: Arc::new(document) }) };
        Ok(())
    })
}

/// Answers `question` (`question_len` bytes of UTF-8) about `document` on `session`: only
/// the question's prompts, the kept chunks and the answer are decoded. The answer is the one
/// focusllm_session_run() gives for the document's text and this question. Callbacks,
/// cancellation, BUSY and `out_result` (may be NULL) work as in focusllm_session_run().
/// A document made with another model or settings is refused
/// (FOCUSLLM_STATUS_DOCUMENT_MISMATCH, the message names the differences).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn focusllm_document_ask(
    session: *mut focusllm_session,
    document: *const focusllm_document,
    question: *const c_char,
    question_len: usize,
    params: *const focusllm_generate_params,
    on_piece: focusllm_piece_fn,
    on_progress: focusllm_progress_fn,
    user_data: *mut c_void,
    out_result: *mut focusllm_result,
) -> focusllm_status {
    boundary::status("focusllm_document_ask", || {
        // SAFETY: live handles or NULL (rejected).
        let handle = unsafe { handles::borrow(session.cast_const(), "session") }?;
        // SAFETY: as above.
        let document = &unsafe { handles::borrow(document, "document") }?.document;
        // SAFETY: the caller's (question, question_len) is readable for this call.
        let question = unsafe { str_arg(question, question_len, "question") }?;
        let target = (&handle.session, &handle.calls, &handle.sources);
        // SAFETY: the caller's params struct (and its stop strings) and out_result are valid
        // for the call.
        unsafe {
            run_answer(target, params, (on_piece, on_progress, user_data), out_result, |session, params, observer| {
                let answer = session.ask_document(document, question, params, observer)?;
                Ok((focusllm_result::from_answer(&answer), answer.sources))
            })
        }
    })
}

/// Saves `document` to the file `path` (`path_len` bytes of UTF-8), replacing it: a
/// versioned header (format, model identity, settings, checksums) and the chunks' KV. The
/// file is written under a temporary name and renamed, so a failed save leaves no partial
/// file at `path`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn focusllm_document_save(
    document: *const focusllm_document,
    path: *const c_char,
    path_len: usize,
) -> focusllm_status {
    boundary::status("focusllm_document_save", || {
        // SAFETY: a live document handle or NULL (rejected).
        let document = &unsafe { handles::borrow(document, "document") }?.document;
        // SAFETY: the caller's (path, path_len) is readable for this call.
        let path = unsafe { str_arg(path, path_len, "path") }?;
        if path.is_empty() {
            return Err(Failure::argument("path is empty"));
        }
        Ok(document.save(Path::new(path))?)
    })
}

/// Opens a document saved by focusllm_document_save() for use with `session`. Every
/// checksum is verified now: a file that is not a document, from a newer format, truncated
/// or damaged is FOCUSLLM_STATUS_DOCUMENT_FILE; one from another model or settings is
/// FOCUSLLM_STATUS_DOCUMENT_MISMATCH. The chunks' KV stays in the file and is read (and
/// checked again) per question. On success writes `*out_document`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn focusllm_document_load(
    session: *mut focusllm_session,
    path: *const c_char,
    path_len: usize,
    out_document: *mut *mut focusllm_document,
) -> focusllm_status {
    boundary::status("focusllm_document_load", || {
        // SAFETY: a live session handle or NULL (rejected).
        let handle = unsafe { handles::borrow(session.cast_const(), "session") }?;
        // SAFETY: the caller's (path, path_len) is readable for this call.
        let path = unsafe { str_arg(path, path_len, "path") }?;
        if path.is_empty() {
            return Err(Failure::argument("path is empty"));
        }
        handles::check_out(out_document, "out_document")?;
        let document = with_session(handle, None, CCallbacks::progress(None, std::ptr::null_mut()), |session, _| {
            Ok(session.load_document(Path::new(path))?)
        })?;
        // SAFETY: out_document was checked non-null and aligned.
        unsafe { handles::put(out_document, focusllm_document { document: Arc::new(document) }) };
        Ok(())
    })
}

/// Writes what `document` holds to `*out_info` (its struct_size set by the caller).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn focusllm_document_get_info(
    document: *const focusllm_document,
    out_info: *mut focusllm_document_info,
) -> focusllm_status {
    boundary::status("focusllm_document_get_info", || {
        // SAFETY: a live document handle or NULL (rejected).
        let document = &unsafe { handles::borrow(document, "document") }?.document;
        // SAFETY: the caller's info struct starts with a readable struct_size (or is NULL).
        let size = unsafe { sized::output_size(out_info, "out_info", INFO_HINT) }?;
        let info = document.info();
        let value = focusllm_document_info {
            struct_size: size_of::<focusllm_document_info>(),
            n_tokens: info.tokens,
            n_chunks: info.chunks,
            n_in_memory: info.store.in_memory,
            n_in_file: info.store.in_file,
            n_not_kept: info.store.absent,
            memory_bytes: info.store.memory_bytes,
            file_bytes: info.store.file_bytes,
            ingest_seconds: info.ingest_seconds,
        };
        // SAFETY: out_info is non-null, aligned, with `size` writable bytes (checked).
        unsafe { sized::write(out_info, size, &value) };
        Ok(())
    })
}

const INFO_HINT: &str = "set out_info->struct_size = sizeof(focusllm_document_info) before the call";

/// Frees a document (and closes its files). NULL is a no-op. It must not be in use by a
/// call (focusllm_document_ask) on any thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn focusllm_document_free(document: *mut focusllm_document) {
    boundary::value("focusllm_document_free", (), || {
        // SAFETY: a live document handle or NULL (caller's contract).
        unsafe { handles::free(document) };
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_are_complete_and_pinned() {
        sized::assert_layout::<focusllm_document_params>();
        sized::assert_layout::<focusllm_document_info>();
        assert_eq!(size_of::<focusllm_document_params>(), 56);
        assert_eq!(size_of::<focusllm_document_info>(), 72);
    }
}
