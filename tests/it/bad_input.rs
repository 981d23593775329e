//! The bad-input matrix (issue 15): every exported `focusllm_*` function and the command-line
//! program fed what a hostile or careless caller gives them: NULL handles and out-params,
//! NULL strings with a length, impossible lengths, invalid UTF-8, `struct_size` 0, too big or
//! ending inside a field, out-of-range parameters, files that are not what they should be,
//! among them crafted models (hyperparameters llama.cpp would abort on) and crafted `.fllm`
//! documents (valid checksums, lying fields), see [`crafted`]. Every case asserts a clear
//! status (or exit code) and message, no crash, and nothing written: out-params and output
//! structs untouched, no file created.
//!
//! The crafted files are loaded through the C API in a child process ([`child_loads`]): before
//! the fixes llama.cpp ended the process on some of them, and a death must be a failed row,
//! not the end of the test run.
//!
//! The matrix knows every function the header declares: a new entry point without rows here
//! fails [`c_entry_points`].

use crate::common;

mod conversation;
mod crafted;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{CStr, c_char, c_void};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::ptr::{NonNull, null, null_mut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use common::child;
use crafted::{Crafted, CraftedInputs, Expect};

use focusllm::capi::cancel::*;
use focusllm::capi::document::*;
use focusllm::capi::generate_params::*;
use focusllm::capi::last_error::focusllm_last_error_message;
use focusllm::capi::log::focusllm_set_log_callback;
use focusllm::capi::model::*;
use focusllm::capi::run::*;
use focusllm::capi::session::*;
use focusllm::capi::status::{focusllm_status, focusllm_status_string};
use focusllm::capi::version::{focusllm_abi_version, focusllm_version_string};
use focusllm::capi::vocab::*;

use focusllm_status as S;

const BAD_UTF8: &[u8] = b"caf\xe9 au lait";

/// The message of the last failure on this thread.
fn last_error() -> String {
    // SAFETY: a size query writes nothing.
    let len = unsafe { focusllm_last_error_message(null_mut(), 0) };
    let mut buffer = vec![0u8; len + 1];
    // SAFETY: the buffer has len + 1 writable bytes.
    unsafe { focusllm_last_error_message(buffer.as_mut_ptr().cast(), buffer.len()) };
    String::from_utf8_lossy(&buffer[..len]).into_owned()
}

/// Counts the cases per entry point and checks each outcome.
#[derive(Default)]
struct Matrix {
    cases: BTreeMap<&'static str, usize>,
}

impl Matrix {
    /// A failing call: its status, and a last error that names the function and the problem.
    fn fails(&mut self, function: &'static str, got: focusllm_status, want: focusllm_status, needle: &str) {
        if let Err(why) = self.check(function, got as i32, want, &last_error(), needle) {
            panic!("{why}");
        }
    }

    /// A failed call's status and message (from this thread or a child process), counted
    /// when they are `want` and a message that names the function and says `needle`.
    fn check(
        &mut self,
        function: &'static str,
        got: i32,
        want: focusllm_status,
        message: &str,
        needle: &str,
    ) -> Result<(), String> {
        if got != want as i32 {
            // SAFETY: always a static NUL-terminated string.
            let name = |s: i32| unsafe { CStr::from_ptr(focusllm_status_string(s)) }.to_string_lossy();
            return Err(format!("{function} ({needle}): {} ({got}), not {}: {message}", name(got), name(want as i32)));
        }
        if !message.starts_with(&format!("{function}: ")) || !says(message, needle) {
            return Err(format!("{function}: the message {message:?} does not say {needle:?}"));
        }
        self.count(function);
        Ok(())
    }

    /// A call with no failure to report (NULL frees, getters of static values, ...).
    fn count(&mut self, function: &'static str) {
        *self.cases.entry(function).or_default() += 1;
    }
}

/// Whether `message` says `needle`: its pieces between `…` (any text), in order.
fn says(message: &str, needle: &str) -> bool {
    let mut rest = message;
    needle.split('…').all(|piece| match rest.find(piece) {
        Some(at) => {
            rest = &rest[at + piece.len()..];
            true
        }
        None => false,
    })
}

/// An out-param value that is not NULL and must still be there after a failed call.
fn sentinel<T>() -> *mut T {
    NonNull::dangling().as_ptr()
}

/// A struct's worth of patterned bytes (aligned for every struct here) whose first field is
/// `struct_size`; after a failed call every byte must be as it was.
#[derive(Clone, PartialEq, Debug)]
struct Patterned([u64; 32]);

impl Patterned {
    fn with_size(size: usize) -> Self {
        let mut words = [0xA5A5_A5A5_A5A5_A5A5u64; 32];
        words[0] = size as u64;
        Patterned(words)
    }

    fn ptr<T>(&mut self) -> *mut T {
        self.0.as_mut_ptr().cast()
    }
}

/// Struct sizes every versioned struct refuses, with the message's words: 0, smaller than
/// struct_size itself, larger than the library's struct, and one ending inside a field.
fn bad_sizes(size: usize, inside_field: usize) -> [(usize, &'static str); 4] {
    [
        (0, "struct_size is 0"),
        (4, "smaller than struct_size itself"),
        (size + 8, "is larger than this library's"),
        (inside_field, "ends inside field"),
    ]
}

/// Every file under `dir` (for "no file created").
fn listing(dir: &Path) -> BTreeSet<PathBuf> {
    let mut found = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path.clone());
            }
            found.insert(path);
        }
    }
    found
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("focusllm-bad-input-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The functions include/focusllm.h declares.
fn header_functions() -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("include/focusllm.h");
    let header = std::fs::read_to_string(&path).unwrap();
    header
        .lines()
        .filter(|line| !line.starts_with(|c: char| c.is_whitespace() || c == '#' || c == '/' || c == '*'))
        .filter(|line| !line.starts_with("typedef"))
        .filter_map(|line| {
            let open = line.find('(')?;
            let start = line[..open].rfind(|c: char| !(c.is_alphanumeric() || c == '_')).map_or(0, |i| i + 1);
            Some(line[start..open].to_string()).filter(|name| name.starts_with("focusllm_"))
        })
        .collect()
}

fn model_params() -> focusllm_model_params {
    let mut p = Patterned::with_size(0);
    // SAFETY: the buffer holds a whole focusllm_model_params.
    let status = unsafe { focusllm_model_default_params(p.ptr(), size_of::<focusllm_model_params>()) };
    assert_eq!(status, S::Ok);
    // SAFETY: initialised above.
    unsafe { *p.ptr::<focusllm_model_params>() }
}

fn session_params() -> focusllm_session_params {
    let mut p = Patterned::with_size(0);
    // SAFETY: the buffer holds a whole focusllm_session_params.
    let status = unsafe { focusllm_session_default_params(p.ptr(), size_of::<focusllm_session_params>()) };
    assert_eq!(status, S::Ok);
    // SAFETY: initialised above.
    let mut params = unsafe { *p.ptr::<focusllm_session_params>() };
    (params.n_threads, params.window) = (1, 256);
    params
}

fn generate_params() -> focusllm_generate_params {
    let mut p = Patterned::with_size(0);
    // SAFETY: the buffer holds a whole focusllm_generate_params.
    let status = unsafe { focusllm_generate_default_params(p.ptr(), size_of::<focusllm_generate_params>()) };
    assert_eq!(status, S::Ok);
    // SAFETY: initialised above.
    let mut params = unsafe { *p.ptr::<focusllm_generate_params>() };
    params.max_tokens = 2;
    params
}

fn document_params() -> focusllm_document_params {
    let mut p = Patterned::with_size(0);
    // SAFETY: the buffer holds a whole focusllm_document_params.
    let status = unsafe { focusllm_document_default_params(p.ptr(), size_of::<focusllm_document_params>()) };
    assert_eq!(status, S::Ok);
    // SAFETY: initialised above.
    unsafe { *p.ptr::<focusllm_document_params>() }
}

fn job(document: &[u8], prompt: &[u8]) -> focusllm_job {
    focusllm_job {
        struct_size: size_of::<focusllm_job>(),
        document: if document.is_empty() { null() } else { document.as_ptr().cast() },
        document_len: document.len(),
        prompt: prompt.as_ptr().cast(),
        prompt_len: prompt.len(),
        chat: false,
    }
}

/// The `*_default_params` rows: NULL, misaligned, and every bad struct_size; nothing written.
fn default_params_rows(
    m: &mut Matrix,
    function: &'static str,
    size: usize,
    inside_field: usize,
    call: unsafe extern "C" fn(*mut c_void, usize) -> focusllm_status,
) {
    // SAFETY: NULL is rejected before any access.
    m.fails(function, unsafe { call(null_mut(), size) }, S::InvalidArgument, "params is NULL");
    let mut buffer = Patterned::with_size(0);
    let misaligned = buffer.ptr::<u8>().wrapping_add(1).cast::<c_void>();
    // SAFETY: a misaligned pointer is rejected before any access.
    m.fails(function, unsafe { call(misaligned, size) }, S::InvalidArgument, "not aligned");
    for (bad, needle) in bad_sizes(size, inside_field) {
        let mut buffer = Patterned::with_size(0xFEED);
        let before = buffer.clone();
        // SAFETY: the buffer has 256 writable bytes; the size is refused before any write.
        m.fails(function, unsafe { call(buffer.ptr(), bad) }, S::StructSize, needle);
        assert_eq!(buffer, before, "{function} wrote into the struct with struct_size {bad}");
    }
}

/// `call` reinterpreted with an untyped params pointer (same ABI: a pointer and a size_t).
macro_rules! untyped {
    ($f:path, $t:ty) => {{
        // SAFETY: only the pointer's type differs; the ABI is the same.
        unsafe {
            std::mem::transmute::<
                unsafe extern "C" fn(*mut $t, usize) -> focusllm_status,
                unsafe extern "C" fn(*mut c_void, usize) -> focusllm_status,
            >($f)
        }
    }};
}

/// The default model and a session with [`session_params`], through the C API.
fn default_session() -> (*mut focusllm_model, *mut focusllm_session) {
    let path = common::default_model();
    let path = path.to_str().expect("a UTF-8 model path");
    let (mut model, mut session) = (null_mut(), null_mut());
    // SAFETY: the path is valid for its length, params are filled, the out-params are locals.
    unsafe {
        let status =
            focusllm_model_load(path.as_ptr().cast(), path.len(), &model_params(), None, null_mut(), &mut model);
        assert_eq!(status, S::Ok, "the default model loads: {}", last_error());
        let status = focusllm_session_new(model, &session_params(), &mut session);
        assert_eq!(status, S::Ok, "a session on the default model: {}", last_error());
    }
    (model, session)
}

/// Tell [`child_loads`] what to load: "model" or "document", and the files, one a line.
const CHILD_KIND: &str = "FOCUSLLM_TEST_CHILD_KIND";
const CHILD_FILES: &str = "FOCUSLLM_TEST_CHILD_FILES";

/// Loads each file in `$FOCUSLLM_TEST_CHILD_FILES` through the C API (`focusllm_model_load`,
/// or `focusllm_document_load` on a session with the matrix's parameters) and reports, per
/// file, the status, the message and whether the out-param stayed untouched. Run only as
/// the child process of [`c_entry_points`].
#[test]
#[ignore = "the child process of c_entry_points"]
fn child_loads() {
    let files = child::input(CHILD_FILES);
    let documents = match child::input(CHILD_KIND).as_str() {
        "model" => None,
        "document" => Some(default_session()),
        other => panic!("{CHILD_KIND} is {other:?}, not model or document"),
    };
    for (i, path) in files.lines().enumerate() {
        let (status, untouched) = match documents {
            None => {
                let mut out = sentinel::<focusllm_model>();
                // SAFETY: the path is valid for its length, params are filled, out is a local.
                let status = unsafe {
                    focusllm_model_load(path.as_ptr().cast(), path.len(), &model_params(), None, null_mut(), &mut out)
                };
                if status == S::Ok {
                    // SAFETY: loaded just now.
                    unsafe { focusllm_model_free(out) };
                }
                (status, out == sentinel())
            }
            Some((_, session)) => {
                let mut out = sentinel::<focusllm_document>();
                // SAFETY: a live session; the path is valid for its length; out is a local.
                let status = unsafe { focusllm_document_load(session, path.as_ptr().cast(), path.len(), &mut out) };
                if status == S::Ok {
                    // SAFETY: loaded just now.
                    unsafe { focusllm_document_free(out) };
                }
                (status, out == sentinel())
            }
        };
        child::report(&format!("{i}.message"), if status == S::Ok { String::new() } else { last_error() });
        child::report(&format!("{i}.untouched"), untouched);
        child::report(&format!("{i}.status"), status as i32);
    }
    if let Some((model, session)) = documents {
        // SAFETY: made by default_session, no call runs.
        unsafe {
            focusllm_session_free(session);
            focusllm_model_free(model);
        }
    }
}

/// What a child made of one crafted file.
#[derive(Debug)]
struct ChildLoad {
    status: i32,
    message: String,
    untouched: bool,
}

/// Loads `files` in child processes ([`child_loads`]): one for all of them, and after a death
/// a new one for the files after the one it died on. Per file, the outcome or how the child
/// died on it.
fn load_in_children(kind: &str, files: &[&Crafted]) -> Vec<Result<ChildLoad, String>> {
    let mut outcomes: Vec<Result<ChildLoad, String>> = Vec::new();
    while outcomes.len() < files.len() {
        let rest = &files[outcomes.len()..];
        let list: Vec<&str> = rest.iter().map(|file| file.path_str()).collect();
        let (reports, finished) = child::run_keeping_reports(
            "bad_input::child_loads",
            &[(CHILD_KIND, kind), (CHILD_FILES, &list.join("\n"))],
        );
        for i in 0..rest.len() {
            // `status` is reported last: a file with a status has all three.
            let Some(status) = reports.get(&format!("{i}.status")).and_then(|s| s.parse().ok()) else {
                let why = finished.clone().err().unwrap_or_else(|| "the child reported nothing on it".to_string());
                outcomes.push(Err(why));
                break;
            };
            outcomes.push(Ok(ChildLoad {
                status,
                message: reports.get(&format!("{i}.message")).cloned().unwrap_or_default(),
                untouched: reports.get(&format!("{i}.untouched")).is_some_and(|u| u == "true"),
            }));
        }
    }
    outcomes
}

/// The crafted files' rows of `function` ("model" or "document" files), each loaded in a
/// child: the control loads; every other file is `refused` with a message that names the
/// flaw, and the out-param stays untouched. Files refused only when asked are loaded here as
/// well (their row is `focusllm_document_ask`'s).
fn crafted_rows(m: &mut Matrix, function: &'static str, kind: &str, files: &[Crafted], refused: focusllm_status) {
    let files: Vec<&Crafted> = files.iter().collect();
    let mut failures = Vec::new();
    for (file, outcome) in files.iter().zip(load_in_children(kind, &files)) {
        let checked = outcome.and_then(|load| match file.expect {
            Expect::Loads | Expect::RefusedWhenAsked(_) if load.status == S::Ok as i32 => Ok(()),
            Expect::Loads | Expect::RefusedWhenAsked(_) => Err(format!("refused: {}", load.message)),
            Expect::Refused(_) if !load.untouched => Err("wrote the out-param".to_string()),
            Expect::Refused(needle) => m.check(function, load.status, refused, &load.message, needle),
        });
        if let Err(why) = checked {
            failures.push(format!("{} ({}): {why}", file.what, file.path.display()));
        }
    }
    assert!(failures.is_empty(), "{function}, crafted {kind} files:\n{}", failures.join("\n"));
}

#[test]
fn c_entry_points() {
    let mut m = Matrix::default();
    let crafted = crafted::inputs();
    let crafted_before = listing(&crafted.dir);
    let dir = scratch("capi");
    let files_before = listing(&dir);

    // --- errors, versions, log
    for status in [-1, 22, 9999, i32::MIN, i32::MAX] {
        // SAFETY: always a static NUL-terminated string.
        let text = unsafe { CStr::from_ptr(focusllm_status_string(status)) };
        assert_eq!(text.to_str(), Ok("unknown status"));
        m.count("focusllm_status_string");
    }
    m.fails(
        "focusllm_session_cancel",
        unsafe { focusllm_session_cancel(null()) },
        S::InvalidArgument,
        "session is NULL",
    );
    let full = last_error();
    let mut tiny = [0x5Au8; 4];
    // SAFETY: NULL with a length: a size query; a length of 0 writes nothing; 1 writes a NUL.
    unsafe {
        assert_eq!(focusllm_last_error_message(null_mut(), 100), full.len());
        assert_eq!(focusllm_last_error_message(tiny.as_mut_ptr().cast(), 0), full.len());
        assert_eq!(tiny, [0x5A; 4]);
        assert_eq!(focusllm_last_error_message(tiny.as_mut_ptr().cast(), 1), full.len());
        assert_eq!(tiny, [0, 0x5A, 0x5A, 0x5A]);
    }
    m.count("focusllm_last_error_message");
    assert_eq!(focusllm_abi_version(), focusllm::capi::version::FOCUSLLM_ABI_VERSION);
    m.count("focusllm_abi_version"); // no input
    // SAFETY: a static NUL-terminated string.
    assert!(unsafe { CStr::from_ptr(focusllm_version_string()) }.to_str().unwrap().starts_with("focusllm "));
    m.count("focusllm_version_string"); // no input
    let only_sink = common::LOG_SINK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    // SAFETY: NULL restores the default sink; user data is then ignored.
    assert_eq!(unsafe { focusllm_set_log_callback(None, sentinel()) }, S::Ok);
    drop(only_sink);
    m.count("focusllm_set_log_callback"); // every input is valid

    // --- default params
    default_params_rows(
        &mut m,
        "focusllm_model_default_params",
        size_of::<focusllm_model_params>(),
        10,
        untyped!(focusllm_model_default_params, focusllm_model_params),
    );
    default_params_rows(
        &mut m,
        "focusllm_session_default_params",
        size_of::<focusllm_session_params>(),
        10,
        untyped!(focusllm_session_default_params, focusllm_session_params),
    );
    default_params_rows(
        &mut m,
        "focusllm_generate_default_params",
        size_of::<focusllm_generate_params>(),
        10,
        untyped!(focusllm_generate_default_params, focusllm_generate_params),
    );
    default_params_rows(
        &mut m,
        "focusllm_document_default_params",
        size_of::<focusllm_document_params>(),
        12,
        untyped!(focusllm_document_default_params, focusllm_document_params),
    );

    // --- model_load
    let f = "focusllm_model_load";
    let real = common::default_model();
    let real = real.to_str().unwrap();
    let mp = model_params();
    let load =
        |path: *const c_char, len: usize, params: *const focusllm_model_params, out: *mut *mut focusllm_model| {
            // SAFETY: every pointer is valid for what it claims, or NULL.
            unsafe { focusllm_model_load(path, len, params, None, null_mut(), out) }
        };
    let not_gguf = dir.join("plain.gguf");
    std::fs::write(&not_gguf, b"plain text, not a model").unwrap();
    let empty = dir.join("empty.gguf");
    std::fs::write(&empty, b"").unwrap();
    let files_before = {
        let mut f = files_before;
        f.extend(listing(&dir));
        f
    };
    let missing = dir.join("missing.gguf");
    let dir_str = dir.to_str().unwrap().to_string();
    let paths: Vec<(Vec<u8>, S, &str)> = vec![
        (b"".to_vec(), S::InvalidArgument, "path is empty"),
        (BAD_UTF8.to_vec(), S::InvalidArgument, "path is not valid UTF-8 (invalid byte at offset 3"),
        (missing.to_str().unwrap().as_bytes().to_vec(), S::ModelFile, "missing.gguf"),
        (dir_str.as_bytes().to_vec(), S::ModelFile, &dir_str),
        (not_gguf.to_str().unwrap().as_bytes().to_vec(), S::ModelLoad, "plain.gguf"),
        (empty.to_str().unwrap().as_bytes().to_vec(), S::ModelFile, "empty.gguf"),
        (b"/dev/null".to_vec(), S::ModelFile, "/dev/null"),
    ];
    for (path, want, needle) in &paths {
        let mut out = sentinel::<focusllm_model>();
        m.fails(f, load(path.as_ptr().cast(), path.len(), &mp, &mut out), *want, needle);
        assert_eq!(out, sentinel(), "{f} wrote out_model");
    }
    let mut out = sentinel::<focusllm_model>();
    m.fails(f, load(null(), 5, &mp, &mut out), S::InvalidArgument, "path is NULL but its length is 5");
    m.fails(f, load(real.as_ptr().cast(), usize::MAX, &mp, &mut out), S::InvalidArgument, "larger than any buffer");
    m.fails(f, load(real.as_ptr().cast(), real.len(), null(), &mut out), S::InvalidArgument, "params is NULL");
    m.fails(f, load(real.as_ptr().cast(), real.len(), &mp, null_mut()), S::InvalidArgument, "out_model is NULL");
    let misaligned_out = (&raw mut out).cast::<u8>().wrapping_add(1).cast::<*mut focusllm_model>();
    m.fails(
        f,
        load(real.as_ptr().cast(), real.len(), &mp, misaligned_out),
        S::InvalidArgument,
        "out_model is not aligned",
    );
    for (bad, needle) in bad_sizes(size_of::<focusllm_model_params>(), 10) {
        let bad_params = focusllm_model_params { struct_size: bad, ..mp };
        m.fails(f, load(real.as_ptr().cast(), real.len(), &bad_params, &mut out), S::StructSize, needle);
    }
    let negative = focusllm_model_params { n_gpu_layers: -1, ..mp };
    m.fails(
        f,
        load(real.as_ptr().cast(), real.len(), &negative, &mut out),
        S::InvalidParam,
        "n_gpu_layers must be >= 0, got -1",
    );
    assert_eq!(out, sentinel(), "{f} wrote out_model");
    crafted_rows(&mut m, f, "model", &crafted.models, S::ModelLoad);

    let mut model = null_mut();
    assert_eq!(load(real.as_ptr().cast(), real.len(), &mp, &mut model), S::Ok);

    // --- model getters and free
    // SAFETY: NULL is refused (0 and the last error) or a no-op.
    unsafe {
        assert_eq!(focusllm_model_n_ctx_train(null()), 0);
        m.fails("focusllm_model_n_ctx_train", S::InvalidArgument, S::InvalidArgument, "model is NULL");
        assert_eq!(focusllm_model_n_vocab(null()), 0);
        m.fails("focusllm_model_n_vocab", S::InvalidArgument, S::InvalidArgument, "model is NULL");
        assert_eq!(focusllm_model_size_bytes(null()), 0);
        m.fails("focusllm_model_size_bytes", S::InvalidArgument, S::InvalidArgument, "model is NULL");
        let mut text = [0x5Au8; 8];
        assert_eq!(focusllm_model_description(null(), text.as_mut_ptr().cast(), text.len()), 0);
        m.fails("focusllm_model_description", S::InvalidArgument, S::InvalidArgument, "model is NULL");
        assert_eq!(text, [0x5A; 8]);
        let full = focusllm_model_description(model, null_mut(), 100);
        assert!(full > 0);
        assert_eq!(focusllm_model_description(model, text.as_mut_ptr().cast(), 0), full);
        assert_eq!(text, [0x5A; 8], "a buffer of length 0 was written");
        m.count("focusllm_model_description");
        focusllm_model_free(null_mut());
        m.count("focusllm_model_free");
    }

    // --- tokens, templates and metadata: NULL handles and outputs, bad text, bad ids, sizes
    // SAFETY (this block): a live model or NULL; every buffer lives on the stack for the call.
    unsafe {
        let mut len = usize::MAX;
        let mut tokens = [7i32; 4];
        let text = b"hello";
        let f = "focusllm_model_tokenize";
        let tokenize = |model, text: *const c_char, text_len, out: *mut i32, cap, n: *mut usize| {
            focusllm_model_tokenize(model, text, text_len, false, false, out, cap, n)
        };
        m.fails(
            f,
            tokenize(null(), text.as_ptr().cast(), 5, tokens.as_mut_ptr(), 4, &mut len),
            S::InvalidArgument,
            "model is NULL",
        );
        m.fails(
            f,
            tokenize(model, null(), 5, tokens.as_mut_ptr(), 4, &mut len),
            S::InvalidArgument,
            "text is NULL but its length is 5",
        );
        m.fails(
            f,
            tokenize(model, BAD_UTF8.as_ptr().cast(), BAD_UTF8.len(), tokens.as_mut_ptr(), 4, &mut len),
            S::InvalidArgument,
            "not valid UTF-8",
        );
        m.fails(
            f,
            tokenize(model, text.as_ptr().cast(), 5, null_mut(), 4, &mut len),
            S::InvalidArgument,
            "out_tokens is NULL",
        );
        m.fails(
            f,
            tokenize(model, text.as_ptr().cast(), 5, tokens.as_mut_ptr(), 4, null_mut()),
            S::InvalidArgument,
            "NULL",
        );
        assert_eq!(tokens, [7; 4], "{f} wrote out_tokens on a failure");

        let f = "focusllm_model_count_tokens";
        m.fails(
            f,
            focusllm_model_count_tokens(null(), text.as_ptr().cast(), 5, false, false, &mut len),
            S::InvalidArgument,
            "model is NULL",
        );
        m.fails(
            f,
            focusllm_model_count_tokens(model, BAD_UTF8.as_ptr().cast(), BAD_UTF8.len(), false, false, &mut len),
            S::InvalidArgument,
            "not valid UTF-8",
        );
        m.fails(
            f,
            focusllm_model_count_tokens(model, text.as_ptr().cast(), 5, false, false, null_mut()),
            S::InvalidArgument,
            "NULL",
        );

        let mut buffer = [0x5Au8; 8];
        let f = "focusllm_model_detokenize";
        let ids = [1i32, -3];
        m.fails(
            f,
            focusllm_model_detokenize(null(), ids.as_ptr(), 1, false, buffer.as_mut_ptr().cast(), 8, &mut len),
            S::InvalidArgument,
            "model is NULL",
        );
        m.fails(
            f,
            focusllm_model_detokenize(model, null(), 2, false, buffer.as_mut_ptr().cast(), 8, &mut len),
            S::InvalidArgument,
            "tokens is NULL but its length is 2",
        );
        m.fails(
            f,
            focusllm_model_detokenize(model, ids.as_ptr(), 2, false, buffer.as_mut_ptr().cast(), 8, &mut len),
            S::InvalidInput,
            "token -3 (at index 1) is outside",
        );
        m.fails(
            f,
            focusllm_model_detokenize(model, ids.as_ptr(), 1, false, buffer.as_mut_ptr().cast(), 8, null_mut()),
            S::InvalidArgument,
            "NULL",
        );

        let f = "focusllm_model_apply_chat_template";
        m.fails(
            f,
            focusllm_model_apply_chat_template(null(), null(), 0, true, buffer.as_mut_ptr().cast(), 8, &mut len),
            S::InvalidArgument,
            "model is NULL",
        );
        m.fails(
            f,
            focusllm_model_apply_chat_template(model, null(), 2, true, buffer.as_mut_ptr().cast(), 8, &mut len),
            S::InvalidArgument,
            "messages is NULL but its length is 2",
        );

        for f in ["focusllm_model_architecture", "focusllm_model_chat_template"] {
            let mut call = |model, out: *mut usize| match f {
                "focusllm_model_architecture" => focusllm_model_architecture(model, buffer.as_mut_ptr().cast(), 0, out),
                _ => focusllm_model_chat_template(model, buffer.as_mut_ptr().cast(), 0, out),
            };
            m.fails(f, call(null(), &mut len), S::InvalidArgument, "model is NULL");
            m.fails(f, call(model, null_mut()), S::InvalidArgument, "NULL");
        }
        assert_eq!(buffer, [0x5A; 8], "a failed call wrote the caller's buffer");

        let f = "focusllm_model_get_info";
        let mut info = Patterned::with_size(size_of::<focusllm_model_info>());
        let before = info.clone();
        m.fails(f, focusllm_model_get_info(null(), info.ptr()), S::InvalidArgument, "model is NULL");
        m.fails(f, focusllm_model_get_info(model, null_mut()), S::InvalidArgument, "out_info is NULL");
        assert_eq!(info, before);
        for (bad, needle) in bad_sizes(size_of::<focusllm_model_info>(), 10) {
            let mut info = Patterned::with_size(bad);
            let before = info.clone();
            m.fails(f, focusllm_model_get_info(model, info.ptr()), S::StructSize, needle);
            assert_eq!(info, before, "{f} wrote out_info with struct_size {bad}");
        }
    }

    // --- estimate_memory and session_new share the session params rows
    let sp = session_params();
    let bad_session: Vec<(focusllm_session_params, &str)> = vec![
        (focusllm_session_params { n_threads: 0, ..sp }, "n_threads must be in 1..=1024, got 0"),
        (focusllm_session_params { n_threads: 5000, ..sp }, "got 5000"),
        (focusllm_session_params { n_batch: 0, ..sp }, "n_batch must be in 1..="),
        (focusllm_session_params { n_batch: u32::MAX, n_ubatch: 512, ..sp }, "n_batch must be in 1..="),
        (focusllm_session_params { n_batch: 64, n_ubatch: 128, ..sp }, "n_ubatch 128 must not exceed n_batch 64"),
        (focusllm_session_params { n_ctx: 3, ..sp }, "n_ctx must be 0"),
        (focusllm_session_params { n_ctx: u32::MAX, ..sp }, "n_ctx must be 0"),
        (focusllm_session_params { flash_attention: 7, ..sp }, "flash_attention must be 0, 1 or 2"),
        (focusllm_session_params { strategy: -1, ..sp }, "strategy must be 0, 1 or 2"),
        (focusllm_session_params { type_k: 3, ..sp }, "type_k must be 0 (f16), 1 (q8_0) or 2 (q4_0)"),
        (
            focusllm_session_params { type_k: -1, ..sp },
            "type_k must be 0 (f16), 1 (q8_0) or 2 (q4_0) (FOCUSLLM_KV_TYPE_*), got -1",
        ),
        (focusllm_session_params { type_v: i32::MAX, ..sp }, "type_v must be 0 (f16), 1 (q8_0) or 2 (q4_0)"),
        (focusllm_session_params { type_v: 8, ..sp }, "got 8"),
        (
            focusllm_session_params {
                type_v: FOCUSLLM_KV_TYPE_Q8_0,
                flash_attention: FOCUSLLM_FLASH_ATTENTION_DISABLED,
                ..sp
            },
            "type_v q8_0 (a quantized V cache) needs flash attention, but flash_attention is disabled",
        ),
        (
            focusllm_session_params {
                type_k: FOCUSLLM_KV_TYPE_Q4_0,
                type_v: FOCUSLLM_KV_TYPE_Q4_0,
                flash_attention: FOCUSLLM_FLASH_ATTENTION_DISABLED,
                ..sp
            },
            "type_v q4_0 (a quantized V cache) needs flash attention",
        ),
        (focusllm_session_params { window: 10, ..sp }, "window must be 0"),
        (focusllm_session_params { window: u32::MAX, ..sp }, "window must be 0"),
        (focusllm_session_params { chunk_len: 1, ..sp }, "chunk_len must be 0 (derived from the window) or in 64..="),
        (focusllm_session_params { local_len: u32::MAX, ..sp }, "local_len must be 0"),
        (focusllm_session_params { prompt_len: u32::MAX, ..sp }, "prompt_len must be 0"),
        (focusllm_session_params { read_gap: f32::NAN, ..sp }, "read_gap must be a number of nats >= 0"),
        (
            focusllm_session_params { read_gap: -1.0, ..sp },
            "read_gap must be a number of nats >= 0 (or infinity), got -1",
        ),
        (
            focusllm_session_params { direct_when_fits: 3, ..sp },
            "direct_when_fits must be 0 (auto), 1 (always) or 2 (never)",
        ),
        (focusllm_session_params { direct_when_fits: -1, ..sp }, "got -1"),
        (focusllm_session_params { top_chunks: 0, ..sp }, "top_chunks must be in 1..=64, got 0"),
        (focusllm_session_params { top_chunks: 65, ..sp }, "got 65"),
        (focusllm_session_params { wave_size: 0, ..sp }, "wave_size must be in 1..=254, got 0"),
        (focusllm_session_params { wave_size: 255, ..sp }, "got 255"),
        (focusllm_session_params { fusion_beta: f32::NAN, ..sp }, "fusion_beta must be in [0, 4]"),
        (focusllm_session_params { fusion_beta: 5.0, ..sp }, "fusion_beta must be in [0, 4], got 5"),
        (focusllm_session_params { candidate_cells: 0, ..sp }, "candidate_cells must be in 1..=1024, got 0"),
        (focusllm_session_params { candidate_cells: u32::MAX, ..sp }, "candidate_cells must be in 1..=1024"),
    ];
    let f = "focusllm_model_estimate_memory";
    // SAFETY (this block): live model or NULL, params structs on the stack, out on the stack.
    unsafe {
        let mut bytes = 0xDEAD_BEEFu64;
        m.fails(f, focusllm_model_estimate_memory(null(), &sp, 16, &mut bytes), S::InvalidArgument, "model is NULL");
        m.fails(f, focusllm_model_estimate_memory(model, null(), 16, &mut bytes), S::InvalidArgument, "params is NULL");
        m.fails(f, focusllm_model_estimate_memory(model, &sp, 16, null_mut()), S::InvalidArgument, "out_bytes is NULL");
        m.fails(f, focusllm_model_estimate_memory(model, &sp, 0, &mut bytes), S::InvalidParam, "max_tokens");
        for (bad, needle) in bad_sizes(size_of::<focusllm_session_params>(), 10) {
            let p = focusllm_session_params { struct_size: bad, ..sp };
            m.fails(f, focusllm_model_estimate_memory(model, &p, 16, &mut bytes), S::StructSize, needle);
        }
        for (p, needle) in &bad_session {
            m.fails(f, focusllm_model_estimate_memory(model, p, 16, &mut bytes), S::InvalidParam, needle);
        }
        assert_eq!(bytes, 0xDEAD_BEEF, "{f} wrote out_bytes");
    }
    let f = "focusllm_session_new";
    // SAFETY (this block): as above.
    unsafe {
        let mut out = sentinel::<focusllm_session>();
        m.fails(f, focusllm_session_new(null(), &sp, &mut out), S::InvalidArgument, "model is NULL");
        m.fails(f, focusllm_session_new(model, null(), &mut out), S::InvalidArgument, "params is NULL");
        m.fails(f, focusllm_session_new(model, &sp, null_mut()), S::InvalidArgument, "out_session is NULL");
        for (bad, needle) in bad_sizes(size_of::<focusllm_session_params>(), 10) {
            let p = focusllm_session_params { struct_size: bad, ..sp };
            m.fails(f, focusllm_session_new(model, &p, &mut out), S::StructSize, needle);
        }
        for (p, needle) in &bad_session {
            m.fails(f, focusllm_session_new(model, p, &mut out), S::InvalidParam, needle);
        }
        assert_eq!(out, sentinel(), "{f} wrote out_session");
        focusllm_session_free(null_mut());
        m.count("focusllm_session_free");
    }
    let mut session = null_mut();
    // SAFETY: live model, filled params, an out-param.
    assert_eq!(unsafe { focusllm_session_new(model, &sp, &mut session) }, S::Ok);

    // --- cancel tokens
    // SAFETY (this block): NULL is refused or a no-op.
    unsafe {
        m.fails(
            "focusllm_cancel_token_new",
            focusllm_cancel_token_new(null_mut()),
            S::InvalidArgument,
            "out_token is NULL",
        );
        let mut word = [0u64; 2];
        let misaligned = word.as_mut_ptr().cast::<u8>().wrapping_add(1).cast();
        m.fails("focusllm_cancel_token_new", focusllm_cancel_token_new(misaligned), S::InvalidArgument, "not aligned");
        assert_eq!(word, [0, 0], "focusllm_cancel_token_new wrote through a misaligned out_token");
        m.fails(
            "focusllm_cancel_token_cancel",
            focusllm_cancel_token_cancel(null()),
            S::InvalidArgument,
            "token is NULL",
        );
        assert!(!focusllm_cancel_token_is_cancelled(null()));
        m.fails("focusllm_cancel_token_is_cancelled", S::InvalidArgument, S::InvalidArgument, "token is NULL");
        focusllm_cancel_token_free(null_mut());
        m.count("focusllm_cancel_token_free");
    }

    // --- session_run
    let f = "focusllm_session_run";
    let gp = generate_params();
    let good_job = job(b"", b"Hi");
    let run = |session: *mut focusllm_session,
               job: *const focusllm_job,
               params: *const focusllm_generate_params,
               out: *mut focusllm_result| {
        // SAFETY: every pointer is valid for what it claims, or NULL.
        unsafe { focusllm_session_run(session, job, params, None, None, null_mut(), out) }
    };
    let mut result = Patterned::with_size(size_of::<focusllm_result>());
    let result_before = result.clone();
    let out_result = result.ptr::<focusllm_result>();
    m.fails(f, run(null_mut(), &good_job, &gp, out_result), S::InvalidArgument, "session is NULL");
    m.fails(f, run(session, null(), &gp, out_result), S::InvalidArgument, "job is NULL");
    m.fails(f, run(session, &good_job, null(), out_result), S::InvalidArgument, "params is NULL");
    for (bad, needle) in bad_sizes(size_of::<focusllm_job>(), 12) {
        let j = focusllm_job { struct_size: bad, ..good_job };
        m.fails(f, run(session, &j, &gp, out_result), S::StructSize, needle);
    }
    for (bad, needle) in bad_sizes(size_of::<focusllm_generate_params>(), 10) {
        let p = focusllm_generate_params { struct_size: bad, ..gp };
        m.fails(f, run(session, &good_job, &p, out_result), S::StructSize, needle);
    }
    let jobs: Vec<(focusllm_job, S, &str)> = vec![
        (
            focusllm_job { document: null(), document_len: 3, ..good_job },
            S::InvalidArgument,
            "job.document is NULL but its length is 3",
        ),
        (
            focusllm_job { prompt: null(), prompt_len: 2, ..good_job },
            S::InvalidArgument,
            "job.prompt is NULL but its length is 2",
        ),
        (job(BAD_UTF8, b"Why?"), S::InvalidArgument, "job.document is not valid UTF-8 (invalid byte at offset 3"),
        (job(b"", BAD_UTF8), S::InvalidArgument, "job.prompt is not valid UTF-8"),
        (focusllm_job { prompt_len: usize::MAX, ..good_job }, S::InvalidArgument, "larger than any buffer"),
        (job(b"", b""), S::InvalidInput, "job.prompt is empty and there is no document"),
    ];
    for (j, want, needle) in &jobs {
        m.fails(f, run(session, j, &gp, out_result), *want, needle);
    }
    let empty_stop = [focusllm_str { ptr: null(), len: 0 }];
    let bad_stop = [focusllm_str { ptr: BAD_UTF8.as_ptr().cast(), len: BAD_UTF8.len() }];
    let null_stop = [focusllm_str { ptr: null(), len: 4 }];
    let params: Vec<(focusllm_generate_params, &str)> = vec![
        (focusllm_generate_params { max_tokens: 0, ..gp }, "max_tokens must be at least 1, got 0"),
        (focusllm_generate_params { temperature: f32::NAN, ..gp }, "temperature must be a finite number"),
        (focusllm_generate_params { temperature: f32::INFINITY, ..gp }, "temperature must be a finite number"),
        (focusllm_generate_params { top_k: -1, ..gp }, "top_k must be >= 0, got -1"),
        (focusllm_generate_params { top_p: 0.0, ..gp }, "top_p must be in (0, 1], got 0"),
        (focusllm_generate_params { top_p: 1.5, ..gp }, "top_p must be in (0, 1], got 1.5"),
        (focusllm_generate_params { min_p: -0.1, ..gp }, "min_p must be in [0, 1]"),
        (focusllm_generate_params { repeat_penalty: 0.0, ..gp }, "repeat_penalty must be > 0"),
        (focusllm_generate_params { repeat_last_n: -2, ..gp }, "repeat_last_n must be >= -1, got -2"),
        (focusllm_generate_params { n_stop: 65, stop: empty_stop.as_ptr(), ..gp }, "n_stop must be at most 64, got 65"),
        (focusllm_generate_params { n_stop: 2, stop: null(), ..gp }, "params.stop is NULL but its length is 2"),
        (focusllm_generate_params { n_stop: 1, stop: empty_stop.as_ptr(), ..gp }, "a stop string must not be empty"),
        (focusllm_generate_params { n_stop: 1, stop: bad_stop.as_ptr(), ..gp }, "params.stop[0] is not valid UTF-8"),
        (
            focusllm_generate_params { n_stop: 1, stop: null_stop.as_ptr(), ..gp },
            "params.stop[0] is NULL but its length is 4",
        ),
    ];
    for (p, needle) in &params {
        let want =
            if needle.contains("NULL") || needle.contains("UTF-8") { S::InvalidArgument } else { S::InvalidParam };
        m.fails(f, run(session, &good_job, p, out_result), want, needle);
    }
    for (bad, needle) in bad_sizes(size_of::<focusllm_result>(), 10) {
        let mut r = Patterned::with_size(bad);
        let before = r.clone();
        m.fails(f, run(session, &good_job, &gp, r.ptr()), S::StructSize, needle);
        assert_eq!(r, before, "{f} wrote out_result with struct_size {bad}");
    }
    let long_prompt = "word ".repeat(10_000); // beyond the model's 8,192-token window
    m.fails(f, run(session, &job(b"", long_prompt.as_bytes()), &gp, out_result), S::TooLong, "the prompt has");
    assert_eq!(result, result_before, "{f} wrote out_result on a failure");

    // --- documents
    let dp = document_params();
    let text = b"The harbour master's cat is called Pepper.";
    let f = "focusllm_document_ingest";
    let ingest = |session: *mut focusllm_session,
                  text: *const u8,
                  len: usize,
                  params: *const focusllm_document_params,
                  out: *mut *mut focusllm_document| {
        // SAFETY: every pointer is valid for what it claims, or NULL.
        unsafe { focusllm_document_ingest(session, text.cast(), len, params, None, null_mut(), out) }
    };
    let mut out_doc = sentinel::<focusllm_document>();
    m.fails(f, ingest(null_mut(), text.as_ptr(), text.len(), &dp, &mut out_doc), S::InvalidArgument, "session is NULL");
    m.fails(f, ingest(session, null(), 7, &dp, &mut out_doc), S::InvalidArgument, "text is NULL but its length is 7");
    m.fails(
        f,
        ingest(session, BAD_UTF8.as_ptr(), BAD_UTF8.len(), &dp, &mut out_doc),
        S::InvalidArgument,
        "text is not valid UTF-8",
    );
    m.fails(f, ingest(session, text.as_ptr(), text.len(), &dp, null_mut()), S::InvalidArgument, "out_document is NULL");
    m.fails(f, ingest(session, text.as_ptr(), 0, &dp, &mut out_doc), S::InvalidInput, "empty");
    for (bad, needle) in bad_sizes(size_of::<focusllm_document_params>(), 12) {
        let p = focusllm_document_params { struct_size: bad, ..dp };
        m.fails(f, ingest(session, text.as_ptr(), text.len(), &p, &mut out_doc), S::StructSize, needle);
    }
    let a_file = dir.join("plain.gguf");
    let a_file = a_file.to_str().unwrap();
    let nowhere = dir.join("no-such-dir");
    let nowhere = nowhere.to_str().unwrap();
    let spill_dirs: Vec<(&[u8], S, &str)> = vec![
        (BAD_UTF8, S::InvalidArgument, "params.spill_dir is not valid UTF-8"),
        (nowhere.as_bytes(), S::Io, "does not exist"),
        (a_file.as_bytes(), S::Io, "not a directory"),
    ];
    for (spill, want, needle) in &spill_dirs {
        let p = focusllm_document_params { spill_dir: spill.as_ptr().cast(), spill_dir_len: spill.len(), ..dp };
        m.fails(f, ingest(session, text.as_ptr(), text.len(), &p, &mut out_doc), *want, needle);
    }
    let p = focusllm_document_params { spill_dir: null(), spill_dir_len: 9, ..dp };
    m.fails(
        f,
        ingest(session, text.as_ptr(), text.len(), &p, &mut out_doc),
        S::InvalidArgument,
        "params.spill_dir is NULL",
    );
    let under_nowhere = format!("{nowhere}/doc.fllm");
    let under_a_file = format!("{a_file}/doc.fllm");
    let dir_itself = dir.to_str().unwrap();
    let save_paths: Vec<(&[u8], S, &str)> = vec![
        (BAD_UTF8, S::InvalidArgument, "params.save_path is not valid UTF-8"),
        (under_nowhere.as_bytes(), S::Io, "no-such-dir"),
        (under_a_file.as_bytes(), S::Io, "plain.gguf/doc.fllm"),
        (dir_itself.as_bytes(), S::Io, dir_itself),
    ];
    for (save, want, needle) in &save_paths {
        let p = focusllm_document_params { save_path: save.as_ptr().cast(), save_path_len: save.len(), ..dp };
        m.fails(f, ingest(session, text.as_ptr(), text.len(), &p, &mut out_doc), *want, needle);
    }
    let p = focusllm_document_params { save_path: null(), save_path_len: 9, ..dp };
    m.fails(
        f,
        ingest(session, text.as_ptr(), text.len(), &p, &mut out_doc),
        S::InvalidArgument,
        "params.save_path is NULL",
    );
    assert_eq!(out_doc, sentinel(), "{f} wrote out_document");
    let mut candidate = null_mut();
    let cp = focusllm_session_params { strategy: 2, ..sp };
    // SAFETY: live model, filled params, an out-param.
    assert_eq!(unsafe { focusllm_session_new(model, &cp, &mut candidate) }, S::Ok);
    m.fails(f, ingest(candidate, text.as_ptr(), text.len(), &dp, &mut out_doc), S::Unsupported, "candidate");
    // SAFETY: made above, no call runs.
    unsafe { focusllm_session_free(candidate) };

    let mut document = null_mut();
    assert_eq!(ingest(session, text.as_ptr(), text.len(), &dp, &mut document), S::Ok);

    let f = "focusllm_document_ask";
    let ask = |session: *mut focusllm_session,
               document: *const focusllm_document,
               q: *const u8,
               len: usize,
               params: *const focusllm_generate_params,
               out: *mut focusllm_result| {
        // SAFETY: every pointer is valid for what it claims, or NULL.
        unsafe { focusllm_document_ask(session, document, q.cast(), len, params, None, None, null_mut(), out) }
    };
    let q = b"What is the cat called?";
    m.fails(f, ask(null_mut(), document, q.as_ptr(), q.len(), &gp, out_result), S::InvalidArgument, "session is NULL");
    m.fails(f, ask(session, null(), q.as_ptr(), q.len(), &gp, out_result), S::InvalidArgument, "document is NULL");
    m.fails(
        f,
        ask(session, document, null(), 4, &gp, out_result),
        S::InvalidArgument,
        "question is NULL but its length is 4",
    );
    m.fails(
        f,
        ask(session, document, BAD_UTF8.as_ptr(), BAD_UTF8.len(), &gp, out_result),
        S::InvalidArgument,
        "question is not valid UTF-8",
    );
    m.fails(f, ask(session, document, q.as_ptr(), q.len(), null(), out_result), S::InvalidArgument, "params is NULL");
    for (p, needle) in params.iter().take(3) {
        m.fails(f, ask(session, document, q.as_ptr(), q.len(), p, out_result), S::InvalidParam, needle);
    }
    for (bad, needle) in bad_sizes(size_of::<focusllm_result>(), 10) {
        let mut r = Patterned::with_size(bad);
        let before = r.clone();
        m.fails(f, ask(session, document, q.as_ptr(), q.len(), &gp, r.ptr()), S::StructSize, needle);
        assert_eq!(r, before, "{f} wrote out_result with struct_size {bad}");
    }
    let mut other = null_mut();
    let op = focusllm_session_params { window: 512, ..sp };
    // SAFETY: live model, filled params, an out-param.
    assert_eq!(unsafe { focusllm_session_new(model, &op, &mut other) }, S::Ok);
    m.fails(f, ask(other, document, q.as_ptr(), q.len(), &gp, out_result), S::DocumentMismatch, "window");
    // SAFETY: made above, no call runs.
    unsafe { focusllm_session_free(other) };
    asked_when_damaged_rows(&mut m, session, &crafted, &gp, out_result);
    assert_eq!(result, result_before, "{f} wrote out_result on a failure");

    conversation::rows(&mut m, model, session, &sp, document, &gp, &params);

    let f = "focusllm_document_save";
    let save = |document: *const focusllm_document, path: &[u8]| {
        // SAFETY: a live document or NULL; the path is valid for the call.
        unsafe { focusllm_document_save(document, path.as_ptr().cast(), path.len()) }
    };
    let target = dir.join("saved.fllm");
    let target_bytes = target.to_str().unwrap().as_bytes();
    m.fails(f, save(null(), target_bytes), S::InvalidArgument, "document is NULL");
    m.fails(f, save(document, b""), S::InvalidArgument, "path is empty");
    m.fails(f, save(document, BAD_UTF8), S::InvalidArgument, "path is not valid UTF-8");
    // SAFETY: a NULL path with a length is refused before any read.
    m.fails(
        f,
        unsafe { focusllm_document_save(document, null(), 9) },
        S::InvalidArgument,
        "path is NULL but its length is 9",
    );
    let in_missing_dir = dir.join("no-such-dir/saved.fllm");
    m.fails(f, save(document, in_missing_dir.to_str().unwrap().as_bytes()), S::Io, "no-such-dir");
    m.fails(f, save(document, dir.to_str().unwrap().as_bytes()), S::Io, &dir_str);

    let f = "focusllm_document_load";
    let load_doc = |session: *mut focusllm_session, path: &[u8], out: *mut *mut focusllm_document| {
        // SAFETY: a live session or NULL; the path is valid for the call.
        unsafe { focusllm_document_load(session, path.as_ptr().cast(), path.len(), out) }
    };
    let mut out_doc = sentinel::<focusllm_document>();
    let not_a_document = dir.join("plain.gguf");
    let loads: Vec<(*mut focusllm_session, Vec<u8>, S, &str)> = vec![
        (null_mut(), target_bytes.to_vec(), S::InvalidArgument, "session is NULL"),
        (session, b"".to_vec(), S::InvalidArgument, "path is empty"),
        (session, BAD_UTF8.to_vec(), S::InvalidArgument, "path is not valid UTF-8"),
        (session, target_bytes.to_vec(), S::Io, "saved.fllm"),
        (session, dir_str.as_bytes().to_vec(), S::Io, &dir_str),
        (session, not_a_document.to_str().unwrap().as_bytes().to_vec(), S::DocumentFile, "plain.gguf"),
        (session, empty.to_str().unwrap().as_bytes().to_vec(), S::DocumentFile, "empty.gguf"),
    ];
    for (s, path, want, needle) in &loads {
        m.fails(f, load_doc(*s, path, &mut out_doc), *want, needle);
    }
    m.fails(f, load_doc(session, target_bytes, null_mut()), S::InvalidArgument, "out_document is NULL");
    assert_eq!(out_doc, sentinel(), "{f} wrote out_document");
    crafted_rows(&mut m, f, "document", &crafted.documents, S::DocumentFile);

    let f = "focusllm_document_get_info";
    // SAFETY (this block): a live document or NULL; info buffers on the stack.
    unsafe {
        let mut info = Patterned::with_size(size_of::<focusllm_document_info>());
        let before = info.clone();
        m.fails(f, focusllm_document_get_info(null(), info.ptr()), S::InvalidArgument, "document is NULL");
        m.fails(f, focusllm_document_get_info(document, null_mut()), S::InvalidArgument, "out_info is NULL");
        assert_eq!(info, before);
        for (bad, needle) in bad_sizes(size_of::<focusllm_document_info>(), 12) {
            let mut info = Patterned::with_size(bad);
            let before = info.clone();
            m.fails(f, focusllm_document_get_info(document, info.ptr()), S::StructSize, needle);
            assert_eq!(info, before, "{f} wrote out_info with struct_size {bad}");
        }
        focusllm_document_free(null_mut());
        m.count("focusllm_document_free");
        focusllm_document_free(document);
        focusllm_session_free(session);
        focusllm_model_free(model);
    }

    // Nothing written: the scratch directory holds exactly the files the test made.
    assert_eq!(listing(&dir), files_before, "a failed call created a file");
    assert_eq!(listing(&crafted.dir), crafted_before, "a failed call created a file beside the crafted ones");
    let _ = std::fs::remove_dir_all(&dir);

    let declared = header_functions();
    let covered: BTreeSet<String> = m.cases.keys().map(|name| name.to_string()).collect();
    let missing: Vec<&String> = declared.difference(&covered).collect();
    assert!(missing.is_empty(), "entry points without bad-input rows: {missing:?}");
    let total: usize = m.cases.values().sum();
    println!("C entry points: {} functions, {total} bad-input cases, all a clear status and message:", m.cases.len());
    let refused = |files: &[Crafted]| files.iter().filter(|file| file.expect != Expect::Loads).count();
    println!(
        "  among them crafted files: {} models (focusllm_model_load), {} documents (focusllm_document_load, _ask)",
        refused(&crafted.models),
        refused(&crafted.documents)
    );
    for (function, n) in &m.cases {
        println!("  {function}: {n}");
    }
}

/// The `focusllm_document_ask` rows of the crafted documents that load (only llama.cpp can
/// tell their state is damaged): DOCUMENT_FILE when the question reads it.
fn asked_when_damaged_rows(
    m: &mut Matrix,
    session: *mut focusllm_session,
    crafted: &CraftedInputs,
    params: &focusllm_generate_params,
    out_result: *mut focusllm_result,
) {
    let f = "focusllm_document_ask";
    let q = b"Who is the keeper of the lighthouse?";
    for file in &crafted.documents {
        let Expect::RefusedWhenAsked(needle) = file.expect else { continue };
        let path = file.path_str();
        let mut document = null_mut();
        // SAFETY (this block): a live session, the path valid for its length, the document
        // freed once; out_result is the caller's patterned buffer.
        unsafe {
            let status = focusllm_document_load(session, path.as_ptr().cast(), path.len(), &mut document);
            assert_eq!(status, S::Ok, "{} loads: {}", file.what, last_error());
            let status = focusllm_document_ask(
                session,
                document,
                q.as_ptr().cast(),
                q.len(),
                params,
                None,
                None,
                null_mut(),
                out_result,
            );
            m.fails(f, status, S::DocumentFile, needle);
            focusllm_document_free(document);
        }
    }
}

/// One CLI case: arguments, standard input, the exit code and a phrase of standard error.
struct CliCase {
    args: Vec<String>,
    stdin: &'static [u8],
    code: i32,
    needle: String,
}

fn cli(args: &[&str], code: i32, needle: &str) -> CliCase {
    CliCase { args: args.iter().map(|a| a.to_string()).collect(), stdin: b"", code, needle: needle.to_string() }
}

/// `generate -m MODEL` for each crafted model and `ask DOCUMENT` for each crafted document
/// but the controls: exit 1 and the library's message.
fn crafted_cli_rows(crafted: &CraftedInputs, window: &str) -> Vec<CliCase> {
    let models = crafted.models.iter().filter_map(|file| match file.expect {
        Expect::Refused(needle) => Some(cli(&["generate", "-t", "1", "-m", file.path_str(), "Hi"], 1, needle)),
        _ => None,
    });
    let documents = crafted.documents.iter().filter_map(|file| match file.expect {
        Expect::Refused(needle) | Expect::RefusedWhenAsked(needle) => Some(cli(
            &["ask", "-t", "1", "--max-tokens", "2", "--window", window, file.path_str(), "Who is the keeper?"],
            1,
            needle,
        )),
        Expect::Loads => None,
    });
    models.chain(documents).collect()
}

/// Runs the program on each case in `dir`, as many at a time as there are cores (most
/// cases only load the model and refuse); the outputs in the cases' order.
fn run_cases(cases: &[CliCase], dir: &Path) -> Vec<Output> {
    let next = AtomicUsize::new(0);
    let outputs: Vec<Mutex<Option<Output>>> = cases.iter().map(|_| Mutex::new(None)).collect();
    let workers = std::thread::available_parallelism().map_or(2, usize::from);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(case) = cases.get(index) else { break };
                    let mut child = Command::new(env!("CARGO_BIN_EXE_focusllm"))
                        .args(&case.args)
                        .current_dir(dir)
                        .env("FOCUSLLM_MODELS_DIR", common::models_dir())
                        .stdin(Stdio::piped())
                        .stdout(Stdio::piped())
                        .stderr(Stdio::piped())
                        .spawn()
                        .expect("the program runs");
                    let mut stdin = child.stdin.take().expect("piped stdin");
                    std::io::Write::write_all(&mut stdin, case.stdin).expect("write stdin");
                    drop(stdin);
                    let output = child.wait_with_output().expect("the program ends");
                    *outputs[index].lock().unwrap_or_else(PoisonError::into_inner) = Some(output);
                }
            });
        }
    });
    outputs.into_iter().map(|output| output.into_inner().ok().flatten().expect("every case ran")).collect()
}

#[test]
fn command_line() {
    common::default_model();
    let crafted = crafted::inputs();
    let crafted_before = listing(&crafted.dir);
    let dir = scratch("cli");
    let doc = dir.join("doc.txt");
    std::fs::write(&doc, "The lighthouse keeper kept a grey cat named Ash. ".repeat(60)).unwrap();
    // A short one for the rows that process a whole document before they fail.
    let short = dir.join("short.txt");
    std::fs::write(&short, "The lighthouse keeper kept a grey cat named Ash.").unwrap();
    let bad = dir.join("bad.txt");
    std::fs::write(&bad, BAD_UTF8).unwrap();
    let plain = dir.join("plain.gguf");
    std::fs::write(&plain, b"not a model").unwrap();
    let (doc, short) = (doc.to_str().unwrap(), short.to_str().unwrap());
    let (bad, plain) = (bad.to_str().unwrap(), plain.to_str().unwrap());
    let out = dir.join("out.fllm");
    let out = out.to_str().unwrap();
    let missing_dir_out = dir.join("no-such-dir/out.fllm");
    let missing_dir_out = missing_dir_out.to_str().unwrap();
    let huge = "18446744073709551615";
    let range_cases = [
        ("--threads", "0", "not in 1..=1024"),
        ("--threads", "5000", "not in 1..=1024"),
        ("--gpu-layers", "-1", "not in 0..=100000"),
        ("--max-tokens", "0", "not in 1..=16777216"),
        ("--max-tokens", huge, "--max-tokens"),
        ("--temperature", "nan", "not in 0..=10"),
        ("--temperature", "-1", "not in 0..=10"),
        ("--window", "10", "neither 0 (the default) nor in 64..=16777216"),
        ("--chunk-len", "1", "neither 0 (the default) nor in 64..=16777216"),
        ("--local-len", "4294967295", "neither 0 (the default) nor in 16..=16777216"),
        ("--prompt-len", "99999999", "neither 0 (the default) nor in 1..=16777216"),
        ("--top-chunks", "0", "not in 1..=64"),
        ("--top-chunks", "65", "not in 1..=64"),
        ("--wave-size", "255", "not in 1..=254"),
        ("--strategy", "bogus", "invalid value 'bogus'"),
    ];
    let mut cases: Vec<CliCase> = range_cases
        .iter()
        .map(|(opt, v, needle)| {
            // `--option=value`: a value such as -1 would read as an option of its own.
            let option = format!("{opt}={v}");
            cli(&["ask", &option, doc, "Q?"], 2, needle)
        })
        .collect();
    cases.extend([
        cli(&["generate"], 2, "required"),
        cli(&["generate", "--ctx-size", "3", "hi"], 2, "neither 0 (the default) nor in 8..=16777216"),
        cli(&["generate", "--ctx-size", "4294967295", "hi"], 2, "neither 0"),
        cli(&["generate", "--stop", "", "hi"], 1, "a stop string must not be empty"),
        cli(&["generate", "-f", "/nonexistent/prompt.txt"], 1, "cannot read /nonexistent/prompt.txt"),
        cli(&["generate", "-f", bad], 1, "not valid UTF-8 (first bad byte at offset 3)"),
        cli(&["generate", "-m", "/nonexistent.gguf", "hi"], 1, "cannot read model file /nonexistent.gguf"),
        cli(&["generate", "-m", plain, "hi"], 1, "invalid magic"),
        cli(&["generate", "-m", "/dev/null", "hi"], 1, "/dev/null"),
        cli(&["ask", bad, "Q?"], 1, "not valid UTF-8"),
        cli(&["ask", doc, ""], 1, "empty"),
        cli(&["ask", "/nonexistent/doc.txt", "Q?"], 1, "cannot read /nonexistent/doc.txt"),
        cli(
            &["ask", "--strategy", "fusion", "--wave-size", "254", "--window", "256", "-t", "1", doc, "Q?"],
            1,
            "wave_size (max_seqs_per_wave) 254 + 4",
        ),
        cli(&["ingest", "--memory-budget-mib", "1", doc, "-o", out], 2, "unexpected argument '--memory-budget-mib'"),
        cli(&["ingest", "-t", "1", "--window", "256", short, "-o", missing_dir_out], 1, "no-such-dir"),
        cli(&["ingest", "-t", "1", "--strategy", "candidate", "--window", "256", doc, "-o", out], 1, "candidate"),
        cli(&["retrieval-bench", "--lengths", huge], 2, "not in 1..=16777216"),
        cli(&["retrieval-bench", "--lengths", "0"], 2, "not in 1..=16777216"),
        cli(
            &["retrieval-bench", "-t", "1", "--lengths", "5", "--depths", "1"],
            1,
            "a passkey case of 5 tokens is impossible",
        ),
        cli(
            &["retrieval-bench", "-t", "1", "--task", "needle", "--lengths", "5", "--depths", "1"],
            1,
            "a needle case of 5 tokens is impossible",
        ),
        cli(&["retrieval-bench", "--depths", "4294967295"], 2, "not in 1..=100"),
        cli(&["retrieval-bench", "--depths", "0"], 2, "not in 1..=100"),
        cli(&["retrieval-bench", "--depths", "2", "--only-depths", "2"], 1, "--only-depths 2 is not a depth index"),
        cli(&["document-bench", "--questions", "7"], 2, "not in 1..=6"),
        cli(&["document-bench", "--tokens", "0"], 2, "not in 1..=16777216"),
        cli(&["tokens", "--file", "/nonexistent.txt"], 1, "cannot read /nonexistent.txt"),
        CliCase { stdin: BAD_UTF8, ..cli(&["tokens", "-"], 1, "not valid UTF-8") },
        CliCase { stdin: BAD_UTF8, ..cli(&["ask", "-", "Q?"], 1, "not valid UTF-8") },
        cli(&["no-such-command"], 2, "unrecognized subcommand"),
    ]);
    // The crafted files: each model refused by `generate`, each document by `ask` with the
    // settings it was saved with (the C matrix's session).
    let window = session_params().window.to_string();
    let crafted_rows = crafted_cli_rows(&crafted, &window);
    let crafted_count = crafted_rows.len();
    cases.extend(crafted_rows);
    let before = listing(&dir);
    let mut codes: BTreeMap<i32, usize> = BTreeMap::new();
    for (case, output) in cases.iter().zip(run_cases(&cases, &dir)) {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let what = format!("focusllm {:?}", case.args);
        assert!(!stderr.contains("panicked"), "{what} panicked:\n{stderr}");
        assert_eq!(output.status.code(), Some(case.code), "{what}:\n{stderr}");
        assert!(says(&stderr, &case.needle), "{what}: stderr lacks {:?}:\n{stderr}", case.needle);
        assert!(output.stdout.is_empty(), "{what} printed to stdout: {}", String::from_utf8_lossy(&output.stdout));
        *codes.entry(case.code).or_default() += 1;
    }
    assert_eq!(listing(&dir), before, "a failed command created a file");
    assert_eq!(listing(&crafted.dir), crafted_before, "a failed command created a file beside the crafted ones");
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "command line: {} bad-input cases ({crafted_count} of them crafted files), exit codes {codes:?} \
         (2 = usage, 1 = refused input)",
        cases.len()
    );
}
