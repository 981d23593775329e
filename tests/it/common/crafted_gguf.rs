//! Hostile model files made from a real one: a GGUF is split into its metadata entries (kept
//! as raw bytes) and the rest (tensor descriptions and data, kept verbatim), an entry is
//! patched, added or removed, and the file is written back. A value patched with one of the
//! same size leaves every other byte where it was; a longer or new entry moves the tensor
//! descriptions, and the data section is re-padded to the file's alignment, so the result is
//! a well-formed GGUF whose only flaw is the crafted value.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const TYPE_UINT8: u32 = 0;
const TYPE_INT8: u32 = 1;
const TYPE_UINT16: u32 = 2;
const TYPE_INT16: u32 = 3;
const TYPE_UINT32: u32 = 4;
const TYPE_INT32: u32 = 5;
const TYPE_FLOAT32: u32 = 6;
const TYPE_BOOL: u32 = 7;
const TYPE_STRING: u32 = 8;
const TYPE_ARRAY: u32 = 9;
const TYPE_UINT64: u32 = 10;
const TYPE_INT64: u32 = 11;
const TYPE_FLOAT64: u32 = 12;

/// A metadata value to write.
#[derive(Debug, Clone, PartialEq)]
pub enum GgufValue {
    U32(u32),
    I32(i32),
    F32(f32),
    Str(String),
}

impl GgufValue {
    /// The GGUF type number and the value's bytes.
    fn encode(&self) -> (u32, Vec<u8>) {
        match self {
            GgufValue::U32(v) => (TYPE_UINT32, v.to_le_bytes().to_vec()),
            GgufValue::I32(v) => (TYPE_INT32, v.to_le_bytes().to_vec()),
            GgufValue::F32(v) => (TYPE_FLOAT32, v.to_le_bytes().to_vec()),
            GgufValue::Str(s) => {
                let mut bytes = (s.len() as u64).to_le_bytes().to_vec();
                bytes.extend_from_slice(s.as_bytes());
                (TYPE_STRING, bytes)
            }
        }
    }
}

/// One metadata entry: its key, GGUF type and the value's raw bytes.
#[derive(Debug, Clone)]
struct Entry {
    key: String,
    kind: u32,
    value: Vec<u8>,
}

/// A GGUF file taken apart for crafting.
#[derive(Debug, Clone)]
pub struct CraftedGguf {
    version: u32,
    n_tensors: u64,
    entries: Vec<Entry>,
    /// The tensor descriptions, verbatim.
    tensor_infos: Vec<u8>,
    /// The data section, from its (aligned) start to the end of the file; shared by clones
    /// (a model's worth of bytes, never changed).
    data: Arc<[u8]>,
}

impl CraftedGguf {
    /// Reads and takes apart the GGUF file at `path` (panics on a file it cannot parse: the
    /// source is always a real model).
    pub fn read(path: &Path) -> CraftedGguf {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let mut r = Reader { bytes: &bytes, at: 0 };
        assert_eq!(r.take(4), b"GGUF", "{} is not a GGUF file", path.display());
        let version = r.u32();
        let n_tensors = r.u64();
        let n_kv = r.u64();
        let entries = (0..n_kv)
            .map(|_| {
                let key = r.string();
                let kind = r.u32();
                let start = r.at;
                r.skip_value(kind);
                Entry { key, kind, value: bytes[start..r.at].to_vec() }
            })
            .collect();
        let infos_start = r.at;
        for _ in 0..n_tensors {
            r.string();
            let n_dims = r.u32() as usize;
            r.skip(8 * n_dims + 4 + 8);
        }
        let tensor_infos = bytes[infos_start..r.at].to_vec();
        let mut crafted = CraftedGguf { version, n_tensors, entries, tensor_infos, data: Arc::from([]) };
        let data_start = r.at.next_multiple_of(crafted.alignment());
        crafted.data = Arc::from(&bytes[data_start..]);
        crafted
    }

    /// `general.alignment`, default 32.
    fn alignment(&self) -> usize {
        self.entries
            .iter()
            .find(|e| e.key == "general.alignment" && e.kind == TYPE_UINT32)
            .map_or(32, |e| u32::from_le_bytes(e.value[..4].try_into().unwrap()) as usize)
    }

    /// Whether the file has `key`.
    pub fn has(&self, key: &str) -> bool {
        self.entries.iter().any(|e| e.key == key)
    }

    /// Sets `key` to `value`: replaces the entry in place, or appends a new one.
    pub fn set(&mut self, key: &str, value: GgufValue) {
        let (kind, value) = value.encode();
        match self.entries.iter_mut().find(|e| e.key == key) {
            Some(entry) => (entry.kind, entry.value) = (kind, value),
            None => self.entries.push(Entry { key: key.to_string(), kind, value }),
        }
    }

    /// Sets `key` to an array of u32 (a per-layer value).
    pub fn set_u32_array(&mut self, key: &str, values: &[u32]) {
        let elements: Vec<[u8; 4]> = values.iter().map(|v| v.to_le_bytes()).collect();
        self.set_array(key, TYPE_UINT32, &elements);
    }

    /// Sets `key` to an array of i32.
    pub fn set_i32_array(&mut self, key: &str, values: &[i32]) {
        let elements: Vec<[u8; 4]> = values.iter().map(|v| v.to_le_bytes()).collect();
        self.set_array(key, TYPE_INT32, &elements);
    }

    fn set_array(&mut self, key: &str, element: u32, values: &[[u8; 4]]) {
        let mut bytes = element.to_le_bytes().to_vec();
        bytes.extend((values.len() as u64).to_le_bytes());
        values.iter().for_each(|v| bytes.extend(v));
        self.entries.retain(|e| e.key != key);
        self.entries.push(Entry { key: key.to_string(), kind: TYPE_ARRAY, value: bytes });
    }

    /// Renames every key starting with `from` to start with `to` instead (to present a
    /// model's hyperparameters under another architecture's name).
    pub fn rename_prefix(&mut self, from: &str, to: &str) {
        for entry in &mut self.entries {
            if let Some(rest) = entry.key.strip_prefix(from) {
                entry.key = format!("{to}{rest}");
            }
        }
    }

    /// Removes `key` if present.
    pub fn remove(&mut self, key: &str) {
        self.entries.retain(|e| e.key != key);
    }

    /// The file's bytes up to the data section.
    fn head(&self) -> Vec<u8> {
        let mut out = b"GGUF".to_vec();
        out.extend(self.version.to_le_bytes());
        out.extend(self.n_tensors.to_le_bytes());
        out.extend((self.entries.len() as u64).to_le_bytes());
        for entry in &self.entries {
            out.extend((entry.key.len() as u64).to_le_bytes());
            out.extend(entry.key.as_bytes());
            out.extend(entry.kind.to_le_bytes());
            out.extend(&entry.value);
        }
        out.extend(&self.tensor_infos);
        out.resize(out.len().next_multiple_of(self.alignment()), 0);
        out
    }

    /// Writes the file to `dir/name` and returns its path.
    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let path = dir.join(name);
        std::fs::File::create(&path)
            .and_then(|mut file| file.write_all(&self.head()).and_then(|()| file.write_all(&self.data)))
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        path
    }
}

/// A cursor over a GGUF file's bytes (panics past the end: the source is a real model).
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> &[u8] {
        let slice = &self.bytes[self.at..self.at + n];
        self.at += n;
        slice
    }

    fn skip(&mut self, n: usize) {
        self.take(n);
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take(4).try_into().unwrap())
    }

    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take(8).try_into().unwrap())
    }

    fn string(&mut self) -> String {
        let len = self.u64() as usize;
        String::from_utf8_lossy(self.take(len)).into_owned()
    }

    fn skip_value(&mut self, kind: u32) {
        match kind {
            TYPE_UINT8 | TYPE_INT8 | TYPE_BOOL => self.skip(1),
            TYPE_UINT16 | TYPE_INT16 => self.skip(2),
            TYPE_UINT32 | TYPE_INT32 | TYPE_FLOAT32 => self.skip(4),
            TYPE_UINT64 | TYPE_INT64 | TYPE_FLOAT64 => self.skip(8),
            TYPE_STRING => {
                let len = self.u64() as usize;
                self.skip(len);
            }
            TYPE_ARRAY => {
                let element = self.u32();
                let n = self.u64();
                (0..n).for_each(|_| self.skip_value(element));
            }
            other => panic!("unknown GGUF type {other} at byte {}", self.at),
        }
    }
}

/// A scratch directory for crafted files, unique to this process and `name`.
pub fn scratch_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("focusllm-crafted-{}-{name}", std::process::id()))
}
