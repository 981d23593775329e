//! The byte-level GGUF header and metadata parser behind [`GgufMetadata`](super::GgufMetadata).
//!
//! Layout (little-endian): magic `GGUF`, `u32` version, `u64` tensor count, `u64` key/value count,
//! then per pair a string key, a `u32` type tag and the value. A string is a `u64` byte length and
//! UTF-8 bytes; an array is a `u32` element type, a `u64` count and the elements.

use std::collections::HashSet;
use std::io::{self, Read};
use std::path::Path;

use super::value::{Array, Value, ValueType};
use crate::error::{Error, Result};

/// GGUF versions this reader understands. Version 1 used 32-bit lengths and is refused, as
/// llama.cpp refuses it.
const SUPPORTED_VERSIONS: [u32; 2] = [2, 3];

/// The longest string accepted. Real values (chat templates, licenses) are kilobytes; the cap
/// keeps a corrupt length inside a large model file from allocating gigabytes.
const MAX_STRING_LEN: u64 = 64 << 20;

/// Elements reserved up front for an array; the vector grows only as data is actually read.
const MAX_PREALLOC: usize = 1 << 16;

/// The fewest bytes a key/value pair occupies: key length, empty key, type tag, one value byte.
const MIN_KV_SIZE: u64 = 8 + 4 + 1;

/// What [`parse`] returns.
pub(super) struct Parsed {
    pub version: u32,
    pub tensor_count: u64,
    pub metadata_end: u64,
    pub entries: Vec<(String, Value)>,
}

/// Parses the header and all key/value pairs of a GGUF file of `len` bytes.
pub(super) fn parse(inner: impl Read, len: u64, path: &Path) -> Result<Parsed> {
    let mut r = Reader { inner, pos: 0, len, path };
    r.magic()?;
    let version = r.u32(&|| "the format version".into())?;
    check_version(&r, version)?;
    let tensor_count = r.u64(&|| "the tensor count".into())?;
    let kv_count = r.u64(&|| "the key/value count".into())?;
    if kv_count > r.remaining() / MIN_KV_SIZE {
        return Err(r.err(format!(
            "the header announces {kv_count} key/value pairs but only {} bytes follow \
             (at least {MIN_KV_SIZE} bytes each): truncated or corrupt",
            r.remaining()
        )));
    }
    let mut entries = Vec::with_capacity(capped(kv_count));
    let mut seen = HashSet::new();
    for i in 0..kv_count {
        let key_at = r.pos;
        let key = r.string(&|| format!("the key of pair #{i}"))?;
        if !seen.insert(key.clone()) {
            return Err(r.err(format!("duplicate key '{key}' at byte {key_at}")));
        }
        let tag_at = r.pos;
        let tag = r.u32(&|| format!("the type of key '{key}'"))?;
        let ty = ValueType::from_tag(tag)
            .ok_or_else(|| r.err(format!("key '{key}' has unknown value type {tag} at byte {tag_at}")))?;
        let value = r.value(ty, &key)?;
        entries.push((key, value));
    }
    Ok(Parsed { version, tensor_count, metadata_end: r.pos, entries })
}

fn check_version<R: Read>(r: &Reader<'_, R>, version: u32) -> Result<()> {
    if SUPPORTED_VERSIONS.contains(&version) {
        return Ok(());
    }
    let hint = if version == 1 {
        " (version 1 used 32-bit lengths; re-convert the model with a current llama.cpp)"
    } else if version.swap_bytes() <= 3 {
        " (it looks byte-swapped: big-endian GGUF files are not supported)"
    } else {
        ""
    };
    Err(r.err(format!("unsupported GGUF version {version}{hint}; supported versions are 2 and 3")))
}

fn capped(count: u64) -> usize {
    usize::try_from(count).map_or(MAX_PREALLOC, |c| c.min(MAX_PREALLOC))
}

/// A reader that knows its offset and how many bytes remain, and says so in its errors.
struct Reader<'p, R> {
    inner: R,
    pos: u64,
    len: u64,
    path: &'p Path,
}

/// A lazily built description of what is being read, for error messages only.
type What<'a> = &'a dyn Fn() -> String;

impl<R: Read> Reader<'_, R> {
    fn err(&self, reason: String) -> Error {
        Error::Gguf { path: self.path.to_owned(), reason }
    }

    fn remaining(&self) -> u64 {
        self.len.saturating_sub(self.pos)
    }

    fn truncated(&self, need: u64, what: What<'_>) -> Error {
        self.err(format!(
            "truncated at byte {} while reading {}: needs {need} bytes, {} left in a {}-byte file",
            self.pos,
            what(),
            self.remaining(),
            self.len
        ))
    }

    fn fill(&mut self, buf: &mut [u8], what: What<'_>) -> Result<()> {
        let need = buf.len() as u64;
        if need > self.remaining() {
            return Err(self.truncated(need, what));
        }
        match self.inner.read_exact(buf) {
            Ok(()) => {
                self.pos += need;
                Ok(())
            }
            // The file is shorter than its reported length (it shrank while being read).
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(self.truncated(need, what)),
            Err(source) => Err(Error::Io { path: self.path.to_owned(), source }),
        }
    }

    fn array<const N: usize>(&mut self, what: What<'_>) -> Result<[u8; N]> {
        let mut buf = [0u8; N];
        self.fill(&mut buf, what)?;
        Ok(buf)
    }

    fn magic(&mut self) -> Result<()> {
        let n = self.len.min(4) as usize;
        let mut head = [0u8; 4];
        self.fill(&mut head[..n], &|| "the magic number".into())?;
        if &head[..n] == b"GGUF" {
            return Ok(());
        }
        let shown = &head[..n];
        let hex: Vec<String> = shown.iter().map(|b| format!("{b:02x}")).collect();
        let text = String::from_utf8_lossy(shown);
        Err(self.err(format!(
            "not a GGUF file: it starts with {} ({text:?}), expected \"GGUF\" (47 47 55 46){}",
            if hex.is_empty() { "nothing".to_owned() } else { hex.join(" ") },
            if n < 4 { format!("; the file is only {n} bytes long") } else { String::new() }
        )))
    }

    fn u32(&mut self, what: What<'_>) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: What<'_>) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    fn string(&mut self, what: What<'_>) -> Result<String> {
        let at = self.pos;
        let len = self.u64(&|| format!("the length of {}", what()))?;
        if len > self.remaining() || len > MAX_STRING_LEN {
            return Err(self.err(format!(
                "{} at byte {at} claims a length of {len} bytes but {} bytes are left \
                 (limit {MAX_STRING_LEN}): truncated or corrupt",
                what(),
                self.remaining()
            )));
        }
        // `len` is bounded by MAX_STRING_LEN, so it fits in usize.
        let mut buf = vec![0u8; len as usize];
        self.fill(&mut buf, what)?;
        String::from_utf8(buf).map_err(|e| {
            self.err(format!(
                "{} at byte {at} is not valid UTF-8 (invalid byte at string offset {})",
                what(),
                e.utf8_error().valid_up_to()
            ))
        })
    }

    fn bool(&mut self, what: What<'_>) -> Result<bool> {
        let at = self.pos;
        match self.array::<1>(what)? {
            [0] => Ok(false),
            [1] => Ok(true),
            [b] => Err(self.err(format!("{} at byte {at} is a bool with byte value {b}, expected 0 or 1", what()))),
        }
    }

    fn value(&mut self, ty: ValueType, key: &str) -> Result<Value> {
        let what = || format!("the value of key '{key}'");
        Ok(match ty {
            ValueType::U8 => Value::U8(u8::from_le_bytes(self.array(&what)?)),
            ValueType::I8 => Value::I8(i8::from_le_bytes(self.array(&what)?)),
            ValueType::U16 => Value::U16(u16::from_le_bytes(self.array(&what)?)),
            ValueType::I16 => Value::I16(i16::from_le_bytes(self.array(&what)?)),
            ValueType::U32 => Value::U32(u32::from_le_bytes(self.array(&what)?)),
            ValueType::I32 => Value::I32(i32::from_le_bytes(self.array(&what)?)),
            ValueType::F32 => Value::F32(f32::from_le_bytes(self.array(&what)?)),
            ValueType::U64 => Value::U64(u64::from_le_bytes(self.array(&what)?)),
            ValueType::I64 => Value::I64(i64::from_le_bytes(self.array(&what)?)),
            ValueType::F64 => Value::F64(f64::from_le_bytes(self.array(&what)?)),
            ValueType::Bool => Value::Bool(self.bool(&what)?),
            ValueType::String => Value::String(self.string(&what)?),
            ValueType::Array => Value::Array(self.array_value(key)?),
        })
    }

    fn array_value(&mut self, key: &str) -> Result<Array> {
        let tag_at = self.pos;
        let tag = self.u32(&|| format!("the element type of array '{key}'"))?;
        let ty = ValueType::from_tag(tag)
            .ok_or_else(|| self.err(format!("array '{key}' has unknown element type {tag} at byte {tag_at}")))?;
        let count_at = self.pos;
        let n = self.u64(&|| format!("the length of array '{key}'"))?;
        if n > self.remaining() / ty.min_size() {
            return Err(self.err(format!(
                "array '{key}' at byte {count_at} claims {n} elements of type {ty} \
                 (at least {} bytes each) but only {} bytes are left: truncated or corrupt",
                ty.min_size(),
                self.remaining()
            )));
        }
        type W<'a> = What<'a>;
        Ok(match ty {
            ValueType::U8 => Array::U8(self.elems(n, key, |r, w: W| r.array(w).map(u8::from_le_bytes))?),
            ValueType::I8 => Array::I8(self.elems(n, key, |r, w: W| r.array(w).map(i8::from_le_bytes))?),
            ValueType::U16 => Array::U16(self.elems(n, key, |r, w: W| r.array(w).map(u16::from_le_bytes))?),
            ValueType::I16 => Array::I16(self.elems(n, key, |r, w: W| r.array(w).map(i16::from_le_bytes))?),
            ValueType::U32 => Array::U32(self.elems(n, key, |r, w: W| r.array(w).map(u32::from_le_bytes))?),
            ValueType::I32 => Array::I32(self.elems(n, key, |r, w: W| r.array(w).map(i32::from_le_bytes))?),
            ValueType::F32 => Array::F32(self.elems(n, key, |r, w: W| r.array(w).map(f32::from_le_bytes))?),
            ValueType::U64 => Array::U64(self.elems(n, key, |r, w: W| r.array(w).map(u64::from_le_bytes))?),
            ValueType::I64 => Array::I64(self.elems(n, key, |r, w: W| r.array(w).map(i64::from_le_bytes))?),
            ValueType::F64 => Array::F64(self.elems(n, key, |r, w: W| r.array(w).map(f64::from_le_bytes))?),
            ValueType::Bool => Array::Bool(self.elems(n, key, |r, w: W| r.bool(w))?),
            ValueType::String => Array::String(self.elems(n, key, |r, w: W| r.string(w))?),
            ValueType::Array => {
                return Err(self.err(format!(
                    "array '{key}' at byte {tag_at} holds arrays; nested arrays are not \
                     supported (llama.cpp refuses them too)"
                )));
            }
        })
    }

    /// Reads `n` array elements with `read`; the vector grows only as elements are read.
    fn elems<T>(&mut self, n: u64, key: &str, read: impl Fn(&mut Self, What<'_>) -> Result<T>) -> Result<Vec<T>> {
        let mut v = Vec::with_capacity(capped(n));
        for i in 0..n {
            v.push(read(self, &|| format!("element {i} of array '{key}'"))?);
        }
        Ok(v)
    }
}
