//! A model file's metadata as llama.cpp's own GGUF reader sees it: the architecture keys,
//! read before the model is loaded so that [`super::hparams`] can refuse values llama.cpp would
//! abort on, and (feature `hf-tokenizer`) the `tokenizer.ggml.*` keys the pure-Rust tokenizer
//! is rebuilt from.
//!
//! Reading through llama.cpp's `gguf_*` functions (the crate has no GGUF parser of its own)
//! means the values seen are exactly the values the loader will get, type rules included.

use std::collections::HashMap;
use std::ffi::{CStr, CString, c_char};
use std::ptr::NonNull;

use llama_cpp_sys_2 as sys;

/// One metadata value, in the shapes llama.cpp's loader reads hyperparameters in.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum MetaValue {
    /// A scalar of GGUF type UINT32 (the only type the loader accepts for a `uint32_t` key).
    U32(u32),
    /// A scalar FLOAT32 or FLOAT64.
    Float(f64),
    /// A scalar BOOL.
    Bool(bool),
    Str(String),
    /// An array the loader reads per layer as `uint32_t`: UINT32, INT32 (reinterpreted, as the
    /// loader copies it) or BOOL elements.
    U32s(Vec<u32>),
    /// An array of FLOAT32 or FLOAT64.
    Floats(Vec<f64>),
    /// An array of STRING (a vocabulary, its merges).
    Strs(Vec<String>),
    /// Any other type (the loader rejects it with an error where it expects a number).
    Other,
}

/// `general.architecture` and every `<arch>.*` key of a model file.
#[derive(Debug, Clone, Default)]
pub(crate) struct ModelMeta {
    pub arch: String,
    entries: HashMap<String, MetaValue>,
}

impl ModelMeta {
    /// Reads the metadata of the GGUF file at `path`. None when llama.cpp's reader refuses the
    /// file or it names no architecture: the load then fails with llama.cpp's own reason.
    pub fn read(path: &CStr) -> Option<ModelMeta> {
        let file = GgufFile::open(path)?;
        let arch = match file.value(file.find("general.architecture")?) {
            MetaValue::Str(arch) => arch,
            _ => return None,
        };
        let entries = file.entries(&format!("{arch}."));
        Some(ModelMeta { arch, entries })
    }

    /// Metadata from pairs, for unit tests of the rules.
    #[cfg(test)]
    pub fn from_pairs(arch: &str, pairs: &[(&str, MetaValue)]) -> ModelMeta {
        let entries = pairs.iter().map(|(k, v)| (format!("{arch}.{k}"), v.clone())).collect();
        ModelMeta { arch: arch.to_string(), entries }
    }

    /// The full key of an architecture key: `block_count` -> `llama.block_count`.
    pub fn key(&self, name: &str) -> String {
        format!("{}.{name}", self.arch)
    }

    /// The value of `<arch>.<name>`.
    pub fn get(&self, name: &str) -> Option<&MetaValue> {
        self.entries.get(&self.key(name))
    }

    /// Every `<arch>.*` entry.
    pub fn entries(&self) -> impl Iterator<Item = (&String, &MetaValue)> {
        self.entries.iter()
    }
}

/// Every entry of the GGUF file at `path` whose key starts with `prefix` (`tokenizer.ggml.`),
/// or [`crate::Error::Gguf`] with llama.cpp's reason when its reader refuses the file.
#[cfg(feature = "hf-tokenizer")]
pub(crate) fn read_entries(path: &std::path::Path, prefix: &str) -> crate::Result<HashMap<String, MetaValue>> {
    let c_path = super::model::path_to_cstring(path)?;
    super::backend::ensure_backend(); // routes the reader's log, which says why it refuses a file
    super::log_bridge::clear_recent_errors();
    let file = GgufFile::open(&c_path).ok_or_else(|| crate::Error::Gguf {
        path: path.to_path_buf(),
        reason: super::log_bridge::recent_errors().unwrap_or_else(|| "llama.cpp's GGUF reader refuses the file".into()),
    })?;
    Ok(file.entries(prefix))
}

/// A `gguf_context` holding a file's metadata only (no tensor data), freed on drop.
struct GgufFile(NonNull<sys::gguf_context>);

impl Drop for GgufFile {
    fn drop(&mut self) {
        // SAFETY: the context came from gguf_init_from_file and is freed once, here.
        unsafe { sys::gguf_free(self.0.as_ptr()) };
    }
}

impl GgufFile {
    fn open(path: &CStr) -> Option<GgufFile> {
        let params = sys::gguf_init_params { no_alloc: true, ctx: std::ptr::null_mut() };
        // SAFETY: path is NUL-terminated; with no_alloc and a null ctx llama.cpp reads the
        // metadata and tensor descriptions only and allocates no tensor data.
        NonNull::new(unsafe { sys::gguf_init_from_file(path.as_ptr(), params) }).map(GgufFile)
    }

    /// Every entry whose key starts with `prefix`.
    fn entries(&self, prefix: &str) -> HashMap<String, MetaValue> {
        (0..self.n_kv())
            .filter_map(|id| {
                let key = self.key(id);
                key.starts_with(prefix).then(|| (key, self.value(id)))
            })
            .collect()
    }

    fn raw(&self) -> *const sys::gguf_context {
        self.0.as_ptr()
    }

    fn n_kv(&self) -> i64 {
        // SAFETY: valid context.
        unsafe { sys::gguf_get_n_kv(self.raw()) }
    }

    fn find(&self, key: &str) -> Option<i64> {
        let key = CString::new(key).ok()?;
        // SAFETY: valid context, NUL-terminated key.
        let id = unsafe { sys::gguf_find_key(self.raw(), key.as_ptr()) };
        (id >= 0).then_some(id)
    }

    /// The key of entry `id` (0 <= id < n_kv).
    fn key(&self, id: i64) -> String {
        // SAFETY: id is in range (callers iterate 0..n_kv or use find); the string belongs to
        // the context and is copied at once.
        text(unsafe { sys::gguf_get_key(self.raw(), id) })
    }

    /// The value of entry `id`. Each getter is called only for the type it asserts on.
    fn value(&self, id: i64) -> MetaValue {
        // SAFETY (every block below): valid context, id in range, and the getter matches the
        // entry's type, which llama.cpp asserts.
        match unsafe { sys::gguf_get_kv_type(self.raw(), id) } {
            sys::GGUF_TYPE_UINT32 => MetaValue::U32(unsafe { sys::gguf_get_val_u32(self.raw(), id) }),
            sys::GGUF_TYPE_FLOAT32 => MetaValue::Float(f64::from(unsafe { sys::gguf_get_val_f32(self.raw(), id) })),
            sys::GGUF_TYPE_FLOAT64 => MetaValue::Float(unsafe { sys::gguf_get_val_f64(self.raw(), id) }),
            sys::GGUF_TYPE_BOOL => MetaValue::Bool(unsafe { sys::gguf_get_val_bool(self.raw(), id) }),
            sys::GGUF_TYPE_STRING => MetaValue::Str(text(unsafe { sys::gguf_get_val_str(self.raw(), id) })),
            sys::GGUF_TYPE_ARRAY => self.array(id),
            _ => MetaValue::Other,
        }
    }

    fn array(&self, id: i64) -> MetaValue {
        // SAFETY: valid context; entry `id` is an array (checked by the caller).
        let element = unsafe { sys::gguf_get_arr_type(self.raw(), id) };
        if element == sys::GGUF_TYPE_STRING {
            // SAFETY: valid context; entry `id` is an array (checked by the caller).
            let n = unsafe { sys::gguf_get_arr_n(self.raw(), id) };
            let item = |i| {
                // SAFETY: i < n in a string array; the string belongs to the context and is
                // copied at once.
                text(unsafe { sys::gguf_get_arr_str(self.raw(), id, i) })
            };
            return MetaValue::Strs((0..n).map(item).collect());
        }
        // SAFETY: as above; for a non-string array llama.cpp returns its element count and a
        // pointer to count * element-size bytes owned by the context.
        let (n, data) = unsafe { (sys::gguf_get_arr_n(self.raw(), id), sys::gguf_get_arr_data(self.raw(), id)) };
        if data.is_null() {
            return MetaValue::Other;
        }
        let data = data as *const u8;
        // SAFETY: index < n elements of the named size inside the array's buffer; read
        // unaligned because nothing promises the buffer's alignment.
        let read = |size: usize, i: usize| unsafe { data.add(i * size) };
        match element {
            sys::GGUF_TYPE_UINT32 | sys::GGUF_TYPE_INT32 => MetaValue::U32s(
                // SAFETY: see `read`.
                (0..n).map(|i| unsafe { (read(4, i) as *const u32).read_unaligned() }).collect(),
            ),
            // SAFETY: see `read`.
            sys::GGUF_TYPE_BOOL => MetaValue::U32s((0..n).map(|i| u32::from(unsafe { *read(1, i) } != 0)).collect()),
            sys::GGUF_TYPE_FLOAT32 => MetaValue::Floats(
                // SAFETY: see `read`.
                (0..n).map(|i| f64::from(unsafe { (read(4, i) as *const f32).read_unaligned() })).collect(),
            ),
            sys::GGUF_TYPE_FLOAT64 => MetaValue::Floats(
                // SAFETY: see `read`.
                (0..n).map(|i| unsafe { (read(8, i) as *const f64).read_unaligned() }).collect(),
            ),
            _ => MetaValue::Other,
        }
    }
}

/// A NUL-terminated string owned by llama.cpp, copied (invalid UTF-8 replaced).
fn text(raw: *const c_char) -> String {
    if raw.is_null() {
        return String::new();
    }
    // SAFETY: non-null, NUL-terminated, alive while its context is (the caller holds it).
    unsafe { CStr::from_ptr(raw) }.to_string_lossy().into_owned()
}
