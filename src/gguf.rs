//! A small, safe reader for the metadata of a GGUF file.
//!
//! It reads the header (magic `GGUF`, version 2 or 3, tensor count, key/value count) and every
//! metadata key/value pair, then stops: tensor descriptions and tensor data are never read, so
//! inspecting a multi-gigabyte model costs a few milliseconds and a few megabytes (the vocabulary).
//!
//! Every length read from the file is checked against the bytes that remain before anything is
//! allocated, so a truncated or corrupt file gives an [`Error::Gguf`] naming the byte offset and
//! what was being read, never a huge allocation or a panic.
//!
//! ```no_run
//! # fn main() -> focusllm::Result<()> {
//! let meta = focusllm::gguf::GgufMetadata::read("models/SmolLM2-135M-Instruct.Q4_1.gguf")?;
//! assert_eq!(meta.get_str("general.architecture")?, "llama");
//! let tokens = meta.get_string_array("tokenizer.ggml.tokens")?;
//! println!("{} tokens", tokens.len());
//! # Ok(())
//! # }
//! ```

mod reader;
mod value;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub use value::{Array, Value, ValueType};

/// The metadata of one GGUF file: header fields and all key/value pairs, in file order.
#[derive(Debug, Clone)]
pub struct GgufMetadata {
    path: PathBuf,
    version: u32,
    tensor_count: u64,
    metadata_end: u64,
    entries: Vec<(String, Value)>,
    index: HashMap<String, usize>,
}

impl GgufMetadata {
    /// Reads the header and metadata of the GGUF file at `path`.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let io_err = |source| Error::Io { path: path.to_owned(), source };
        let file = File::open(path).map_err(io_err)?;
        let len = file.metadata().map_err(io_err)?.len();
        Self::from_reader(BufReader::new(file), len, path)
    }

    /// Reads the header and metadata from `reader`, a GGUF file of `len` bytes in all.
    ///
    /// `path` is used only in error messages. `len` bounds every length read from the data.
    pub fn from_reader(reader: impl Read, len: u64, path: &Path) -> Result<Self> {
        let parsed = reader::parse(reader, len, path)?;
        let mut index = HashMap::with_capacity(parsed.entries.len());
        for (i, (key, _)) in parsed.entries.iter().enumerate() {
            index.insert(key.clone(), i);
        }
        Ok(Self {
            path: path.to_owned(),
            version: parsed.version,
            tensor_count: parsed.tensor_count,
            metadata_end: parsed.metadata_end,
            entries: parsed.entries,
            index,
        })
    }

    /// Metadata built directly from pairs, for the tokenizer's unit tests.
    #[cfg(all(test, feature = "hf-tokenizer"))]
    pub(crate) fn from_pairs(path: &Path, pairs: Vec<(String, Value)>) -> Self {
        let index = pairs.iter().enumerate().map(|(i, (k, _))| (k.clone(), i)).collect();
        Self { path: path.to_owned(), version: 3, tensor_count: 0, metadata_end: 0, entries: pairs, index }
    }

    /// The file this metadata was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The GGUF format version (2 or 3).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The number of tensors the header announces (their descriptions are not read).
    pub fn tensor_count(&self) -> u64 {
        self.tensor_count
    }

    /// The byte offset where the metadata ends (and the tensor descriptions begin).
    pub fn metadata_end(&self) -> u64 {
        self.metadata_end
    }

    /// The number of key/value pairs.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the file has no metadata at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// All key/value pairs in file order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.index.get(key).map(|&i| &self.entries[i].1)
    }

    /// The string value of `key`; an error if it is missing or not a string.
    pub fn get_str(&self, key: &str) -> Result<&str> {
        self.require(key, self.get_str_opt(key)?)
    }

    /// The string value of `key`, `None` if missing; an error if it is not a string.
    pub fn get_str_opt(&self, key: &str) -> Result<Option<&str>> {
        self.typed(key, "a string", |v| match v {
            Value::String(s) => Some(s.as_str()),
            _ => None,
        })
    }

    /// The value of `key` as a `u32`: any integer type whose value fits is accepted.
    pub fn get_u32(&self, key: &str) -> Result<u32> {
        self.require(key, self.get_u32_opt(key)?)
    }

    /// Like [`get_u32`](Self::get_u32), `None` if the key is missing.
    pub fn get_u32_opt(&self, key: &str) -> Result<Option<u32>> {
        self.typed(key, "an integer in 0..=4294967295", |v| integer(v).and_then(|i| u32::try_from(i).ok()))
    }

    /// The value of `key` as a `u64`: any non-negative integer value is accepted.
    pub fn get_u64(&self, key: &str) -> Result<u64> {
        self.require(key, self.get_u64_opt(key)?)
    }

    /// Like [`get_u64`](Self::get_u64), `None` if the key is missing.
    pub fn get_u64_opt(&self, key: &str) -> Result<Option<u64>> {
        self.typed(key, "a non-negative integer", |v| integer(v).and_then(|i| u64::try_from(i).ok()))
    }

    /// The value of `key` as an `f32` (an `f64` value is narrowed).
    pub fn get_f32(&self, key: &str) -> Result<f32> {
        self.require(key, self.get_f32_opt(key)?)
    }

    /// Like [`get_f32`](Self::get_f32), `None` if the key is missing.
    pub fn get_f32_opt(&self, key: &str) -> Result<Option<f32>> {
        self.typed(key, "a float", |v| match *v {
            Value::F32(f) => Some(f),
            Value::F64(f) => Some(f as f32),
            _ => None,
        })
    }

    /// The boolean value of `key`; an error if it is missing or not a bool.
    pub fn get_bool(&self, key: &str) -> Result<bool> {
        self.require(key, self.get_bool_opt(key)?)
    }

    /// The boolean value of `key`, `None` if missing; an error if it is not a bool.
    pub fn get_bool_opt(&self, key: &str) -> Result<Option<bool>> {
        self.typed(key, "a bool", |v| match *v {
            Value::Bool(b) => Some(b),
            _ => None,
        })
    }

    /// The array of strings stored under `key` (for example `tokenizer.ggml.tokens`).
    pub fn get_string_array(&self, key: &str) -> Result<&[String]> {
        self.require(key, self.get_string_array_opt(key)?)
    }

    /// Like [`get_string_array`](Self::get_string_array), `None` if the key is missing.
    pub fn get_string_array_opt(&self, key: &str) -> Result<Option<&[String]>> {
        self.typed(key, "an array of strings", |v| match v {
            Value::Array(Array::String(a)) => Some(a.as_slice()),
            _ => None,
        })
    }

    /// The array of `i32` stored under `key` (for example `tokenizer.ggml.token_type`).
    pub fn get_i32_array(&self, key: &str) -> Result<&[i32]> {
        self.require(key, self.get_i32_array_opt(key)?)
    }

    /// Like [`get_i32_array`](Self::get_i32_array), `None` if the key is missing.
    pub fn get_i32_array_opt(&self, key: &str) -> Result<Option<&[i32]>> {
        self.typed(key, "an array of i32", |v| match v {
            Value::Array(Array::I32(a)) => Some(a.as_slice()),
            _ => None,
        })
    }

    /// The array of `f32` stored under `key` (for example `tokenizer.ggml.scores`).
    pub fn get_f32_array(&self, key: &str) -> Result<&[f32]> {
        self.require(key, self.get_f32_array_opt(key)?)
    }

    /// Like [`get_f32_array`](Self::get_f32_array), `None` if the key is missing.
    pub fn get_f32_array_opt(&self, key: &str) -> Result<Option<&[f32]>> {
        self.typed(key, "an array of f32", |v| match v {
            Value::Array(Array::F32(a)) => Some(a.as_slice()),
            _ => None,
        })
    }

    /// An error about this file, for callers that find the metadata wanting.
    pub fn error(&self, reason: impl Into<String>) -> Error {
        Error::Gguf { path: self.path.clone(), reason: reason.into() }
    }

    fn typed<'a, T>(
        &'a self,
        key: &str,
        expected: &str,
        convert: impl FnOnce(&'a Value) -> Option<T>,
    ) -> Result<Option<T>> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        match convert(value) {
            Some(t) => Ok(Some(t)),
            None => Err(self.error(format!(
                "key '{key}' holds {} ({}), expected {expected}",
                value.describe(),
                preview(value)
            ))),
        }
    }

    fn require<T>(&self, key: &str, value: Option<T>) -> Result<T> {
        value.ok_or_else(|| self.error(format!("missing key '{key}'")))
    }
}

/// Any integer value widened to i128; `None` for non-integers.
fn integer(v: &Value) -> Option<i128> {
    Some(match *v {
        Value::U8(x) => x.into(),
        Value::I8(x) => x.into(),
        Value::U16(x) => x.into(),
        Value::I16(x) => x.into(),
        Value::U32(x) => x.into(),
        Value::I32(x) => x.into(),
        Value::U64(x) => x.into(),
        Value::I64(x) => x.into(),
        _ => return None,
    })
}

/// A short rendering of a value for error messages.
fn preview(v: &Value) -> String {
    match v {
        Value::String(s) if s.chars().count() > 40 => {
            let head: String = s.chars().take(40).collect();
            format!("{head:?}...")
        }
        Value::String(s) => format!("{s:?}"),
        Value::Array(a) => format!("{} elements", a.len()),
        other => match integer(other) {
            Some(i) => i.to_string(),
            None => format!("{other:?}"),
        },
    }
}
