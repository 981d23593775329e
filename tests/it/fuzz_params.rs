//! Fuzzing the C API's parameter readers with the real default model: random `struct_size`
//! values and field values (extremes, NaN and infinities, out-of-range enum values, stop
//! strings and spill directories that are empty, invalid UTF-8, NULL with a length, missing
//! or a regular file) through the entry points that read each struct:
//! `focusllm_model_estimate_memory` and `focusllm_session_new` (session params),
//! `focusllm_session_run` (generate params), `focusllm_document_ingest` (document params)
//! and `focusllm_model_load` (model params). Every call must return a status that is not
//! FOCUSLLM_STATUS_PANIC, with a message when it fails; none may crash.
//!
//! Pointers are always valid or NULL (a dangling pointer is the caller's breach of the
//! contract, not input). Bounded: `FOCUSLLM_FUZZ_CASES` cases per reader (default 48).
//! A failing case is printed by proptest in its smallest form and its seed is recorded in
//! `tests/it/fuzz_params.proptest-regressions` (replayed first on every run; commit it); the
//! printed case becomes a row of the bad-input matrix (`tests/it/bad_input.rs`) with the fix,
//! where it stays readable when the strategies change. None has failed so far.

use crate::common;

use std::ffi::c_void;
use std::os::raw::c_char;
use std::ptr;
use std::sync::OnceLock;

use focusllm::capi::document::{focusllm_document_free, focusllm_document_ingest, focusllm_document_params};
use focusllm::capi::generate_params::{focusllm_generate_default_params, focusllm_generate_params, focusllm_str};
use focusllm::capi::last_error::focusllm_last_error_message;
use focusllm::capi::model::{
    focusllm_model, focusllm_model_default_params, focusllm_model_estimate_memory, focusllm_model_free,
    focusllm_model_load, focusllm_model_params,
};
use focusllm::capi::run::{focusllm_job, focusllm_session_run};
use focusllm::capi::session::{
    focusllm_session, focusllm_session_default_params, focusllm_session_free, focusllm_session_new,
    focusllm_session_params,
};
use focusllm::capi::status::focusllm_status;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// The loaded default model and a small session on it, shared by the cases.
struct Shared {
    model: *mut focusllm_model,
    session: *mut focusllm_session,
}

// SAFETY: the handles are only used through the C API, which allows any thread; the tests
// that use the session run their cases one after another under `LOCK`.
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let path = common::default_model().to_string_lossy().into_owned();
        let mut model = ptr::null_mut();
        let mut session = ptr::null_mut();
        // SAFETY: valid pointers to locals and structs filled by the library's defaults.
        unsafe {
            let mut mp: focusllm_model_params = std::mem::zeroed();
            assert_eq!(focusllm_model_default_params(&mut mp, size_of::<focusllm_model_params>()), focusllm_status::Ok);
            assert_eq!(
                focusllm_model_load(path.as_ptr().cast(), path.len(), &mp, None, ptr::null_mut(), &mut model),
                focusllm_status::Ok
            );
            let mut sp: focusllm_session_params = std::mem::zeroed();
            focusllm_session_default_params(&mut sp, size_of::<focusllm_session_params>());
            (sp.n_ctx, sp.n_threads, sp.window) = (64, 1, 256);
            assert_eq!(focusllm_session_new(model, &sp, &mut session), focusllm_status::Ok);
        }
        Shared { model, session }
    })
}

/// The last error message of this thread.
fn last_error() -> String {
    let mut buffer = vec![0u8; 1024];
    // SAFETY: a writable buffer of its own length.
    let n = unsafe { focusllm_last_error_message(buffer.as_mut_ptr().cast(), buffer.len()) };
    buffer.truncate(n.min(buffer.len()));
    String::from_utf8_lossy(&buffer).trim_end_matches('\0').to_string()
}

/// Checks a status: never a panic; a failure names what was wrong.
fn checked(status: focusllm_status, what: &str) -> Result<bool, TestCaseError> {
    eprintln!("status {what}: {status:?}");
    prop_assert_ne!(status, focusllm_status::Panic, "{}: {}", what, last_error());
    if status != focusllm_status::Ok {
        prop_assert!(!last_error().is_empty(), "{}: {:?} without a message", what, status);
    }
    Ok(status == focusllm_status::Ok)
}

/// A `struct_size`: mostly the right one, sometimes a size the library must refuse or an
/// older version's (a prefix ending on a field boundary).
fn struct_size(full: usize) -> impl Strategy<Value = usize> {
    prop_oneof![
        6 => Just(full),
        1 => prop::sample::select(vec![0, 1, 7, 8, 9, full - 1, full + 1, full + 8, usize::MAX]),
        1 => 8..full,
    ]
}

fn u32_value() -> impl Strategy<Value = u32> {
    prop_oneof![
        any::<u32>(),
        prop::sample::select(vec![0, 1, 2, 7, 8, 63, 64, 255, 256, 1024, 1025, i32::MAX as u32, u32::MAX])
    ]
}

fn i32_value() -> impl Strategy<Value = i32> {
    prop_oneof![any::<i32>(), prop::sample::select(vec![i32::MIN, -2, -1, 0, 1, 2, 3, 4, i32::MAX])]
}

fn f32_value() -> impl Strategy<Value = f32> {
    prop_oneof![
        any::<f32>(),
        prop::sample::select(vec![
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            -0.0,
            0.0,
            1e-30,
            0.5,
            1.0,
            4.0,
            4.01,
            f32::MAX
        ])
    ]
}

/// Byte strings for stop strings and directories.
fn text_value() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        Just(None),
        Just(Some(Vec::new())),
        Just(Some(b"/nonexistent/dir".to_vec())),
        Just(Some(b"/etc/hostname".to_vec())),
        Just(Some(b"\xff\xfe not UTF-8".to_vec())),
        Just(Some(std::env::temp_dir().to_string_lossy().into_owned().into_bytes())),
        prop::collection::vec(any::<u8>(), 0..12).prop_map(Some),
    ]
}

/// A pointer and length for `bytes`; None gives NULL with `null_len`.
fn borrowed(bytes: &Option<Vec<u8>>, null_len: usize) -> (*const c_char, usize) {
    match bytes {
        Some(b) => (b.as_ptr().cast(), b.len()),
        None => (ptr::null(), null_len),
    }
}

fn cases(default: u32) -> u32 {
    std::env::var("FOCUSLLM_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn config(default_cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: cases(default_cases),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/it/fuzz_params.proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

#[derive(Debug, Clone)]
struct SessionCase {
    size: usize,
    ints: [u32; 11],
    enums: [i32; 4],
    fusion_beta: f32,
    use_chat_template: bool,
    max_tokens: u32,
}

fn session_case() -> impl Strategy<Value = SessionCase> {
    (
        struct_size(size_of::<focusllm_session_params>()),
        prop::array::uniform11(u32_value()),
        prop::array::uniform4(i32_value()),
        f32_value(),
        any::<bool>(),
        u32_value(),
    )
        .prop_map(|(size, ints, enums, fusion_beta, use_chat_template, max_tokens)| SessionCase {
            size,
            ints,
            enums,
            fusion_beta,
            use_chat_template,
            max_tokens,
        })
}

fn session_params(case: &SessionCase) -> focusllm_session_params {
    // SAFETY: filled by the library's defaults before the fields are set.
    let mut p: focusllm_session_params = unsafe { std::mem::zeroed() };
    // SAFETY: a writable struct of that size.
    unsafe { focusllm_session_default_params(&mut p, size_of::<focusllm_session_params>()) };
    let [n_ctx, n_batch, n_ubatch, n_threads, window, chunk_len, local_len, prompt_len, top_chunks, wave_size, cells] =
        case.ints;
    (p.n_ctx, p.n_batch, p.n_ubatch, p.n_threads, p.window) = (n_ctx, n_batch, n_ubatch, n_threads, window);
    (p.chunk_len, p.local_len, p.prompt_len, p.top_chunks) = (chunk_len, local_len, prompt_len, top_chunks);
    (p.wave_size, p.candidate_cells) = (wave_size, cells);
    (p.flash_attention, p.strategy, p.type_k, p.type_v) = (case.enums[0], case.enums[1], case.enums[2], case.enums[3]);
    (p.fusion_beta, p.use_chat_template) = (case.fusion_beta, case.use_chat_template);
    p.struct_size = case.size;
    p
}

fn session_params_case(case: &SessionCase) -> Result<(), TestCaseError> {
    let shared = shared();
    let params = session_params(case);
    let mut bytes = u64::MAX;
    // SAFETY: a live model, a readable params struct of size_of bytes (struct_size may lie:
    // the library must not read past what it accepts), a writable output.
    let status = unsafe { focusllm_model_estimate_memory(shared.model, &params, case.max_tokens, &mut bytes) };
    if checked(status, "estimate_memory")? {
        prop_assert!(bytes > 0 && bytes < u64::MAX, "estimate {}", bytes);
    }
    let mut session = ptr::null_mut();
    // SAFETY: as above.
    let status = unsafe { focusllm_session_new(shared.model, &params, &mut session) };
    if checked(status, "session_new")? {
        prop_assert!(!session.is_null());
        // SAFETY: a session this call made, freed once.
        unsafe { focusllm_session_free(session) };
    } else {
        prop_assert!(session.is_null(), "a failed session_new wrote its output");
    }
    Ok(())
}

#[derive(Debug, Clone)]
struct GenerateCase {
    size: usize,
    max_tokens: u32,
    floats: [f32; 4],
    top_k: i32,
    repeat_last_n: i32,
    seed: u32,
    stop: Vec<Option<Vec<u8>>>,
    null_stop: bool,
    render_special: bool,
}

fn generate_case() -> impl Strategy<Value = GenerateCase> {
    (
        struct_size(size_of::<focusllm_generate_params>()),
        u32_value(),
        prop::array::uniform4(f32_value()),
        (i32_value(), i32_value(), any::<u32>()),
        prop::collection::vec(text_value(), 0..4),
        (any::<bool>(), any::<bool>()),
    )
        .prop_map(|(size, max_tokens, floats, (top_k, repeat_last_n, seed), stop, (null_stop, render_special))| {
            GenerateCase { size, max_tokens, floats, top_k, repeat_last_n, seed, stop, null_stop, render_special }
        })
}

unsafe extern "C" fn stop_at_first_piece(_: *const c_char, _: usize, _: *const i32, _: usize, _: *mut c_void) -> bool {
    false
}

fn generate_params_case(case: &GenerateCase) -> Result<(), TestCaseError> {
    let shared = shared();
    let _one_at_a_time = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: filled by the library's defaults before the fields are set.
    let mut p: focusllm_generate_params = unsafe { std::mem::zeroed() };
    // SAFETY: a writable struct of that size.
    unsafe { focusllm_generate_default_params(&mut p, size_of::<focusllm_generate_params>()) };
    let stop: Vec<focusllm_str> = case
        .stop
        .iter()
        .map(|s| {
            let (ptr, len) = borrowed(s, 3);
            focusllm_str { ptr, len }
        })
        .collect();
    p.struct_size = case.size;
    p.max_tokens = case.max_tokens;
    (p.temperature, p.top_p, p.min_p, p.repeat_penalty) =
        (case.floats[0], case.floats[1], case.floats[2], case.floats[3]);
    (p.top_k, p.repeat_last_n, p.seed, p.render_special) =
        (case.top_k, case.repeat_last_n, case.seed, case.render_special);
    (p.stop, p.n_stop) = if case.null_stop { (ptr::null(), stop.len()) } else { (stop.as_ptr(), stop.len()) };
    let prompt = b"Hi";
    // SAFETY: zero-initialised as the header asks, then set.
    let mut job: focusllm_job = unsafe { std::mem::zeroed() };
    job.struct_size = size_of::<focusllm_job>();
    (job.prompt, job.prompt_len) = (prompt.as_ptr().cast(), prompt.len());
    // SAFETY: a live session used by one call at a time; every pointer is valid for the call;
    // the piece callback stops the run at its first piece, so any max_tokens is quick.
    let status = unsafe {
        focusllm_session_run(
            shared.session,
            &job,
            &p,
            Some(stop_at_first_piece),
            None,
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    checked(status, "session_run")?;
    Ok(())
}

#[derive(Debug, Clone)]
struct DocumentCase {
    size: usize,
    budget: u64,
    spill_dir: Option<Vec<u8>>,
    null_len: usize,
}

fn document_case() -> impl Strategy<Value = DocumentCase> {
    (
        struct_size(size_of::<focusllm_document_params>()),
        prop_oneof![any::<u64>(), prop::sample::select(vec![0, 1, u64::MAX])],
        text_value(),
        prop::sample::select(vec![0, 5, usize::MAX]),
    )
        .prop_map(|(size, budget, spill_dir, null_len)| DocumentCase { size, budget, spill_dir, null_len })
}

fn document_params_case(case: &DocumentCase) -> Result<(), TestCaseError> {
    let shared = shared();
    let _one_at_a_time = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let (spill_dir, spill_dir_len) = borrowed(&case.spill_dir, case.null_len);
    let params = focusllm_document_params {
        struct_size: case.size,
        memory_budget_bytes: case.budget,
        spill_dir,
        spill_dir_len,
        cancel: ptr::null(),
        // Not fuzzed: a valid path would write a file wherever the text names (its bad values
        // are rows of the bad-input matrix).
        save_path: ptr::null(),
        save_path_len: 0,
    };
    let text = b"The cat is called Mira.";
    let mut document = ptr::null_mut();
    // SAFETY: a live session, one call at a time; valid pointers (the spill directory's is
    // NULL only with the length the case gives, which the library must refuse when > 0).
    let status = unsafe {
        focusllm_document_ingest(
            shared.session,
            text.as_ptr().cast(),
            text.len(),
            &params,
            None,
            ptr::null_mut(),
            &mut document,
        )
    };
    if checked(status, "document_ingest")? {
        prop_assert!(!document.is_null());
        // SAFETY: a document this call made, freed once.
        unsafe { focusllm_document_free(document) };
    }
    Ok(())
}

fn model_params_case(size: usize, n_gpu_layers: i32, use_mmap: bool, vocab_only: bool) -> Result<(), TestCaseError> {
    let path = common::default_model().to_string_lossy().into_owned();
    let params = focusllm_model_params { struct_size: size, n_gpu_layers, use_mmap, vocab_only };
    let mut model = ptr::null_mut();
    // SAFETY: valid pointers; the params struct has size_of bytes whatever struct_size says.
    let status =
        unsafe { focusllm_model_load(path.as_ptr().cast(), path.len(), &params, None, ptr::null_mut(), &mut model) };
    if checked(status, "model_load")? {
        // SAFETY: a model this call made, freed once.
        unsafe { focusllm_model_free(model) };
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn session_params_are_read_and_checked(case in session_case()) {
        session_params_case(&case)?;
    }

    #[test]
    fn generate_params_are_read_and_checked(case in generate_case()) {
        generate_params_case(&case)?;
    }

    #[test]
    fn document_params_are_read_and_checked(case in document_case()) {
        document_params_case(&case)?;
    }
}

proptest! {
    #![proptest_config(config(8))]

    #[test]
    fn model_params_are_read_and_checked(
        size in struct_size(size_of::<focusllm_model_params>()),
        n_gpu_layers in i32_value(),
        use_mmap in any::<bool>(),
        vocab_only in any::<bool>(),
    ) {
        model_params_case(size, n_gpu_layers, use_mmap, vocab_only)?;
    }
}
