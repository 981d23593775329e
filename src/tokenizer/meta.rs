//! The `tokenizer.ggml.*` entries of a GGUF file, as llama.cpp's own GGUF reader returns them,
//! with typed look-ups whose errors name the file, the key and what it holds.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::llama::{MetaValue, read_gguf_entries};

/// The vocabulary's metadata (every key under `tokenizer.ggml.`).
pub(super) struct VocabMeta {
    path: PathBuf,
    entries: HashMap<String, MetaValue>,
}

impl VocabMeta {
    pub fn read(path: &Path) -> Result<VocabMeta> {
        Ok(VocabMeta { path: path.to_path_buf(), entries: read_gguf_entries(path, "tokenizer.ggml.")? })
    }

    /// Metadata from pairs, for unit tests.
    #[cfg(test)]
    pub fn from_pairs(path: &Path, pairs: Vec<(String, MetaValue)>) -> VocabMeta {
        VocabMeta { path: path.to_path_buf(), entries: pairs.into_iter().collect() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// An error about this file.
    pub fn error(&self, reason: impl Into<String>) -> Error {
        Error::Gguf { path: self.path.clone(), reason: reason.into() }
    }

    pub fn str_opt(&self, key: &str) -> Result<Option<&str>> {
        self.typed(key, "a string", |v| if let MetaValue::Str(s) = v { Some(s.as_str()) } else { None })
    }

    pub fn str(&self, key: &str) -> Result<&str> {
        self.require(key, self.str_opt(key)?)
    }

    pub fn strings(&self, key: &str) -> Result<&[String]> {
        let strings = self.typed(key, "an array of strings", |v| match v {
            MetaValue::Strs(s) => Some(s.as_slice()),
            _ => None,
        })?;
        self.require(key, strings)
    }

    /// An array of UINT32, INT32 or BOOL elements (token types).
    pub fn integers_opt(&self, key: &str) -> Result<Option<&[u32]>> {
        self.typed(key, "an array of integers", |v| if let MetaValue::U32s(n) = v { Some(n.as_slice()) } else { None })
    }

    /// A UINT32 scalar (token ids), the one type llama.cpp's loader reads them as.
    pub fn u32_opt(&self, key: &str) -> Result<Option<u32>> {
        self.typed(key, "a UINT32", |v| if let MetaValue::U32(n) = v { Some(*n) } else { None })
    }

    pub fn bool_opt(&self, key: &str) -> Result<Option<bool>> {
        self.typed(key, "a bool", |v| if let MetaValue::Bool(b) = v { Some(*b) } else { None })
    }

    fn typed<'a, T>(
        &'a self,
        key: &str,
        expected: &str,
        convert: impl FnOnce(&'a MetaValue) -> Option<T>,
    ) -> Result<Option<T>> {
        let Some(value) = self.entries.get(key) else {
            return Ok(None);
        };
        convert(value)
            .map(Some)
            .ok_or_else(|| self.error(format!("key '{key}' holds {}, expected {expected}", describe(value))))
    }

    fn require<T>(&self, key: &str, value: Option<T>) -> Result<T> {
        value.ok_or_else(|| self.error(format!("missing key '{key}'")))
    }
}

/// A short rendering of a value for error messages.
fn describe(value: &MetaValue) -> String {
    match value {
        MetaValue::U32(n) => format!("the UINT32 {n}"),
        MetaValue::Float(x) => format!("the float {x}"),
        MetaValue::Bool(b) => format!("the bool {b}"),
        MetaValue::Str(s) if s.chars().count() > 40 => {
            format!("the string {:?}...", s.chars().take(40).collect::<String>())
        }
        MetaValue::Str(s) => format!("the string {s:?}"),
        MetaValue::U32s(n) => format!("an array of {} integers", n.len()),
        MetaValue::Floats(x) => format!("an array of {} floats", x.len()),
        MetaValue::Strs(s) => format!("an array of {} strings", s.len()),
        MetaValue::Other => "a value of another GGUF type".into(),
    }
}
