//! The `.fllm` file of a processed document.
//!
//! ```text
//! offset 0   magic "FOCUSDOC" (8 bytes)
//!        8   format version, u32 (this build writes and reads 1)
//!       12   header length H, u32
//!       16   header (H bytes):
//!              key: u32 count, then (name, value) strings   (model identity, settings)
//!              text: u64 length + UTF-8 bytes
//!              prefix: u32 count + i32 tokens
//!              document tokens: u64
//!              chunks: u32 count, then per chunk u64 start, u64 end, u64 state length
//!                      (0 = not stored), u32 state CRC-32
//!   16 + H   CRC-32 of bytes 0 .. 16 + H, u32
//!   20 + H   the chunk states, back to back, in chunk order
//! ```
//! Strings are a u32 length and UTF-8 bytes; all integers are little-endian.
//!
//! Loading checks, in order: the magic, the version, the header's bounds and CRC, the
//! key against the session (another model or settings is refused with the differences), the
//! file's exact length (truncation), and every state's CRC. A state is checked again each
//! time it is read back, so a file changed after loading gives an error, not a crash.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::Session;
use super::document::{Document, DocumentKey};
use super::store::{BlobFile, ChunkStore, Held, StoredChunk};
use crate::error::{Error, Result};
use crate::llama::Token;

/// The first bytes of a processed-document file.
pub const MAGIC: &[u8; 8] = b"FOCUSDOC";
/// The format this build writes; it reads this one only.
pub const FORMAT_VERSION: u32 = 1;
const FIXED: usize = 16;

impl Document {
    /// Writes the document to `path` (through a temporary file in the same directory,
    /// renamed at the end: an interrupted save leaves no half-written `path`).
    pub fn save(&self, path: &Path) -> Result<()> {
        let io = |source: std::io::Error| Error::Io { path: path.to_path_buf(), source };
        let temp = temp_path(path);
        let result = (|| {
            let mut out = BufWriter::new(File::create(&temp).map_err(io)?);
            let states: Vec<(u64, u32)> = self.store.chunks.iter().map(|c| c.held.len_and_crc()).collect();
            let header = self.header(&states);
            let header_len = u32::try_from(header.len())
                .map_err(|_| Error::TooLong(format!("a document header of {} bytes", header.len())))?;
            let mut head = Vec::with_capacity(FIXED + header.len());
            head.extend_from_slice(MAGIC);
            head.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
            head.extend_from_slice(&header_len.to_le_bytes());
            head.extend_from_slice(&header);
            out.write_all(&head).map_err(io)?;
            out.write_all(&crc32fast::hash(&head).to_le_bytes()).map_err(io)?;
            for chunk in &self.store.chunks {
                self.store.with_state(&chunk.held, |s| out.write_all(s).map_err(io))?;
            }
            out.into_inner().map_err(|e| io(e.into_error()))?.sync_all().map_err(io)?;
            std::fs::rename(&temp, path).map_err(io)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        result
    }

    fn header(&self, states: &[(u64, u32)]) -> Vec<u8> {
        let mut h = Writer(Vec::new());
        h.u32(self.key.0.len() as u32);
        for (name, value) in &self.key.0 {
            h.str(name);
            h.str(value);
        }
        h.u64(self.text.len() as u64);
        h.0.extend_from_slice(self.text.as_bytes());
        h.u32(self.prefix.len() as u32);
        for &token in &self.prefix {
            h.0.extend_from_slice(&token.to_le_bytes());
        }
        h.u64(self.n_tokens as u64);
        h.u32(self.store.chunks.len() as u32);
        for (chunk, &(len, crc)) in self.store.chunks.iter().zip(states) {
            h.u64(chunk.range.start as u64);
            h.u64(chunk.range.end as u64);
            h.u64(len);
            h.u32(crc);
        }
        h.0
    }
}

impl Session {
    /// Opens a document saved by [`Document::save`] for this session. Refuses a file of
    /// another model or settings, a newer format, a truncated or damaged file, with the
    /// reason. The states stay in the file and are read per wave.
    pub fn load_document(&mut self, path: &Path) -> Result<Document> {
        let bad = |reason: String| Error::DocumentFile { path: path.to_path_buf(), reason };
        let io = |source: std::io::Error| Error::Io { path: path.to_path_buf(), source };
        let file = File::open(path).map_err(io)?;
        let file_len = file.metadata().map_err(io)?.len();
        let mut reader = BufReader::new(file);
        let mut fixed = [0u8; FIXED];
        read_exact(&mut reader, &mut fixed, path, "the file is shorter than a document header")?;
        if &fixed[..8] != MAGIC {
            return Err(bad("not a focusllm document file (no FOCUSDOC magic)".into()));
        }
        let version = u32::from_le_bytes([fixed[8], fixed[9], fixed[10], fixed[11]]);
        if version != FORMAT_VERSION {
            let reason = if version > FORMAT_VERSION {
                format!(
                    "format version {version} is newer than this focusllm reads ({FORMAT_VERSION}); upgrade focusllm"
                )
            } else {
                format!("unknown format version {version}")
            };
            return Err(bad(reason));
        }
        let header_len = u64::from(u32::from_le_bytes([fixed[12], fixed[13], fixed[14], fixed[15]]));
        let states_start = FIXED as u64 + header_len + 4;
        if states_start > file_len {
            return Err(bad(format!("truncated: the header needs {states_start} bytes, the file has {file_len}")));
        }
        let mut header = vec![0u8; header_len as usize];
        read_exact(&mut reader, &mut header, path, "truncated header")?;
        let mut crc = [0u8; 4];
        read_exact(&mut reader, &mut crc, path, "truncated header")?;
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&fixed);
        hasher.update(&header);
        if hasher.finalize() != u32::from_le_bytes(crc) {
            return Err(bad("damaged: the header checksum does not match".into()));
        }
        let parsed = parse_header(&header).map_err(|why| bad(format!("damaged header: {why}")))?;
        if let Some(diff) = parsed.key.mismatch(&self.document_key()?) {
            return Err(Error::DocumentMismatch(format!("{}: {diff}", path.display())));
        }
        let expected_len = states_start + parsed.chunks.iter().map(|c| c.1).sum::<u64>();
        if file_len != expected_len {
            let what = if file_len < expected_len { "truncated" } else { "damaged" };
            return Err(bad(format!("{what}: the file has {file_len} bytes, its header describes {expected_len}")));
        }
        let mut stored = Vec::with_capacity(parsed.chunks.len());
        let mut offset = states_start;
        let mut buffer = Vec::new();
        for (index, (range, len, crc)) in parsed.chunks.into_iter().enumerate() {
            let held = if len == 0 {
                Held::Absent
            } else {
                buffer.resize(len as usize, 0);
                read_exact(&mut reader, &mut buffer, path, "truncated chunk KV")?;
                if crc32fast::hash(&buffer) != crc {
                    return Err(bad(format!("damaged: chunk {index}'s KV (offset {offset}) fails its checksum")));
                }
                Held::InFile { offset, len, crc }
            };
            stored.push(StoredChunk { range, held });
            offset += len;
        }
        let file = reader.into_inner();
        Ok(Document {
            text: parsed.text,
            prefix: parsed.prefix,
            n_tokens: parsed.n_tokens,
            key: parsed.key,
            store: ChunkStore::from_file(stored, BlobFile::new(path.to_path_buf(), file, file_len)),
            ingest_seconds: 0.0,
        })
    }
}

fn read_exact(reader: &mut impl Read, buf: &mut [u8], path: &Path, what: &str) -> Result<()> {
    reader.read_exact(buf).map_err(|source| match source.kind() {
        std::io::ErrorKind::UnexpectedEof => Error::DocumentFile { path: path.to_path_buf(), reason: what.into() },
        _ => Error::Io { path: path.to_path_buf(), source },
    })
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".{}.partial", std::process::id()));
    path.with_file_name(name)
}

struct Writer(Vec<u8>);

impl Writer {
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.0.extend_from_slice(s.as_bytes());
    }
}

struct Parsed {
    key: DocumentKey,
    text: String,
    prefix: Vec<Token>,
    n_tokens: usize,
    chunks: Vec<(Range<usize>, u64, u32)>,
}

/// Reads the header with every length bounded by what is left (a damaged length is an
/// error, never a huge allocation) and checks that the chunks are ordered and inside the
/// document.
fn parse_header(bytes: &[u8]) -> std::result::Result<Parsed, String> {
    let mut r = Reader { bytes, at: 0 };
    let pairs = r.u32()?;
    let mut key = Vec::new();
    for _ in 0..pairs {
        key.push((r.str()?, r.str()?));
    }
    let text_len = r.u64()?;
    let text = String::from_utf8(r.take(text_len)?.to_vec()).map_err(|_| "the text is not UTF-8".to_string())?;
    let n_prefix = r.u32()?;
    let mut prefix = Vec::new();
    for _ in 0..n_prefix {
        prefix.push(r.i32()?);
    }
    let n_tokens = usize::try_from(r.u64()?).map_err(|_| "token count too large".to_string())?;
    let n_chunks = r.u32()?;
    let mut chunks = Vec::new();
    let mut previous_end = 0;
    for index in 0..n_chunks {
        let (start, end) = (r.u64()?, r.u64()?);
        let (len, crc) = (r.u64()?, r.u32()?);
        let (start, end) = (start as usize, end as usize);
        if start != previous_end || end <= start || end > n_tokens {
            return Err(format!(
                "chunk {index} ({start}..{end}) does not follow the previous one within {n_tokens} tokens"
            ));
        }
        previous_end = end;
        chunks.push((start..end, len, crc));
    }
    if r.at != bytes.len() {
        return Err(format!("{} stray bytes after the chunk table", bytes.len() - r.at));
    }
    Ok(Parsed { key: DocumentKey(key), text, prefix, n_tokens, chunks })
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: u64) -> std::result::Result<&[u8], String> {
        let left = self.bytes.len() - self.at;
        let n = usize::try_from(n)
            .ok()
            .filter(|&n| n <= left)
            .ok_or_else(|| format!("a length of {n} bytes runs past the header ({left} left)"))?;
        let out = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(out)
    }
    fn u32(&mut self) -> std::result::Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn i32(&mut self) -> std::result::Result<i32, String> {
        Ok(self.u32()? as i32)
    }
    fn u64(&mut self) -> std::result::Result<u64, String> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
    }
    fn str(&mut self) -> std::result::Result<String, String> {
        let n = self.u32()?;
        String::from_utf8(self.take(u64::from(n))?.to_vec()).map_err(|_| "a key string is not UTF-8".to_string())
    }
}
