//! The `.fllm` file of a processed document.
//!
//! ```text
//! offset 0   magic "FOCUSDOC" (8 bytes)
//!        8   format version, u32 (this build writes and reads 2)
//!       12   header length H, u32
//!       16   header (H bytes):
//!              key: u32 count, then (name, value) strings   (model identity, settings,
//!                   the KV cache types `kv_type_k` and `kv_type_v`; a file without them
//!                   was made before they were recorded, with f16, and loads as f16)
//!              text: u64 length + UTF-8 bytes
//!              prefix: u32 count + i32 tokens
//!              document tokens: u64
//!              chunks: u32 count, then per chunk a record of 36 bytes:
//!                u32 index, u64 start, u64 end (token range in the document),
//!                u32 CRC-32 of the chunk's tokens (i32 little-endian),
//!                u64 state length (0 = not stored),
//!                u32 state check: CRC-32 of the record's first 24 bytes, then the state
//!   16 + H   CRC-32 of bytes 0 .. 16 + H, u32
//!   20 + H   the chunk states, back to back, in chunk order
//! ```
//! Strings are a u32 length and UTF-8 bytes; all integers are little-endian.
//!
//! Loading checks, in order: the magic, the version, the header's bounds and CRC, the key
//! against the session (another model or settings is refused with the differences), the
//! file's exact length (every length and offset in checked arithmetic, so no length can
//! wrap or claim more than the file holds), the text against the records (it must tokenize
//! to the document's tokens, each chunk's to its record's CRC), then each state: its check
//! (which binds it to its record's index, range and tokens: a state moved to another chunk
//! fails it) and its meaning (a state of one sequence whose cells sit exactly at the chunk's
//! positions; see `state_layout::check_chunk_state`). Any failure is a damaged file
//! ([`Error::DocumentFile`]). A state is checked again each time it is read back, so a file
//! changed after loading gives an error, not a crash.
//!
//! The checksums find damage and misplacement, not forgery: a file written to lie, with
//! every check recomputed, can hold any KV values, and only decoding the chunks again
//! could tell. What no file can do is abort the host or give llama.cpp cells outside their
//! chunk's positions and sequence.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::ops::Range;
use std::path::Path;

use super::Session;
use super::document::{Document, DocumentKey};
use super::input::FocusInput;
use super::store::{BlobFile, ChunkStore, Held, StoredChunk, tokens_crc};
use crate::error::{Error, Result};
use crate::llama::Token;
use crate::llama::state_layout::check_chunk_state;

mod partial;
mod stream;

pub(crate) use stream::{StreamedFile, StreamedParts};

/// The first bytes of a processed-document file.
pub const MAGIC: &[u8; 8] = b"FOCUSDOC";
/// The format this build writes; it reads this one only.
pub const FORMAT_VERSION: u32 = 2;
const FIXED: usize = 16;
/// Bytes of a chunk record, and of its part the state check covers.
const RECORD_LEN: usize = 36;
const RECORD_BOUND: usize = 24;

impl Document {
    /// Writes the document to `path` (through a temporary file in the same directory,
    /// renamed at the end: an interrupted save leaves no half-written `path`, and the
    /// temporary files of saves that were killed are removed first).
    pub fn save(&self, path: &Path) -> Result<()> {
        let io = |source: std::io::Error| Error::Io { path: path.to_path_buf(), source };
        partial::remove_stale(path);
        let temp = partial::partial_path(path);
        let result = (|| {
            let head = head(&self.header()?)?;
            let mut out = BufWriter::new(File::create(&temp).map_err(io)?);
            out.write_all(&head).map_err(io)?;
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

    fn header(&self) -> Result<Vec<u8>> {
        header(&self.key, &self.text, &self.prefix, self.n_tokens, &self.store.chunks)
    }
}

/// The bytes before the states: magic, version, header length, `header`, and their CRC-32.
fn head(header: &[u8]) -> Result<Vec<u8>> {
    let header_len = u32::try_from(header.len())
        .map_err(|_| Error::TooLong(format!("a document header of {} bytes", header.len())))?;
    let mut head = Vec::with_capacity(FIXED + header.len() + 4);
    head.extend_from_slice(MAGIC);
    head.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    head.extend_from_slice(&header_len.to_le_bytes());
    head.extend_from_slice(header);
    let crc = crc32fast::hash(&head);
    head.extend_from_slice(&crc.to_le_bytes());
    Ok(head)
}

/// The header of a document with these parts. Its length depends only on the key, the text,
/// the prefix and the number of chunks, not on what the chunk records hold.
fn header(key: &DocumentKey, text: &str, prefix: &[Token], n_tokens: usize, chunks: &[StoredChunk]) -> Result<Vec<u8>> {
    let count =
        |what: &str, n: usize| u32::try_from(n).map_err(|_| Error::TooLong(format!("a document of {n} {what}")));
    let mut h = Writer(Vec::new());
    h.u32(count("settings", key.0.len())?);
    for (name, value) in &key.0 {
        h.str(name)?;
        h.str(value)?;
    }
    h.u64(text.len() as u64);
    h.0.extend_from_slice(text.as_bytes());
    h.u32(count("prefix tokens", prefix.len())?);
    for &token in prefix {
        h.0.extend_from_slice(&token.0.to_le_bytes());
    }
    h.u64(n_tokens as u64);
    h.u32(count("chunks", chunks.len())?);
    for (index, chunk) in chunks.iter().enumerate() {
        let at = h.0.len();
        h.u32(index as u32);
        h.u64(chunk.range.start as u64);
        h.u64(chunk.range.end as u64);
        h.u32(chunk.tokens_crc);
        let (len, crc) = chunk.held.len_and_crc();
        h.u64(len);
        let check = state_check(&h.0[at..at + RECORD_BOUND], len, crc);
        h.u32(check);
    }
    Ok(h.0)
}

/// A record's state check: the CRC-32 of its bound part followed by the state, from the
/// state's own CRC-32 and length (the state is not read again).
fn state_check(bound: &[u8], state_len: u64, state_crc: u32) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(bound);
    hasher.combine(&crc32fast::Hasher::new_with_initial_len(state_crc, state_len));
    hasher.finalize()
}

impl Session {
    /// Opens a document saved by [`Document::save`] for this session. Refuses a file of
    /// another model or settings ([`Error::DocumentMismatch`]), and a file of another
    /// format, truncated, damaged or inconsistent ([`Error::DocumentFile`]), with the reason.
    /// The states stay in the file and are read per wave.
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
            return Err(bad(version_refusal(version)));
        }
        let header_len = u64::from(u32::from_le_bytes([fixed[12], fixed[13], fixed[14], fixed[15]]));
        let states_start = FIXED as u64 + header_len + 4;
        if states_start > file_len {
            return Err(bad(format!("truncated: the header needs {states_start} bytes, the file has {file_len}")));
        }
        // Bounded by the file's size (checked just above).
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
        let expected_len = parsed
            .chunks
            .iter()
            .try_fold(states_start, |end, chunk| end.checked_add(chunk.state_len))
            .ok_or_else(|| bad("damaged: the chunks' KV lengths add up past 2^64 bytes".into()))?;
        if file_len != expected_len {
            let what = if file_len < expected_len { "truncated" } else { "damaged" };
            return Err(bad(format!("{what}: the file has {file_len} bytes, its header describes {expected_len}")));
        }
        let chunk_tokens = self.check_text(&parsed).map_err(bad)?;
        let mut stored = Vec::with_capacity(parsed.chunks.len());
        let mut offset = states_start;
        let mut state = Vec::new();
        for (index, chunk) in parsed.chunks.into_iter().enumerate() {
            let len = chunk.state_len;
            let held = if len == 0 {
                Held::Absent
            } else {
                // Every length is at most the file's (their checked sum is its size).
                let len_usize = usize::try_from(len)
                    .map_err(|_| bad(format!("damaged: chunk {index}'s KV length {len} does not fit in memory")))?;
                state.resize(len_usize, 0);
                read_exact(&mut reader, &mut state, path, "truncated chunk KV")?;
                let crc = crc32fast::hash(&state);
                if state_check(&chunk.bound, len, crc) != chunk.check {
                    return Err(bad(format!(
                        "damaged: chunk {index}'s KV (offset {offset}) fails its check (damaged, or moved from \
                         another chunk)"
                    )));
                }
                let positions = parsed.prefix.len() + chunk.range.len();
                check_chunk_state(&state, positions)
                    .map_err(|why| bad(format!("damaged: chunk {index}'s KV: {why}")))?;
                Held::InFile { offset, len, crc }
            };
            stored.push(StoredChunk { range: chunk.range, tokens_crc: chunk_tokens[index], held });
            offset += len;
        }
        let file = reader.into_inner();
        let store =
            ChunkStore::from_file(stored, BlobFile::new(path.to_path_buf(), file, file_len), parsed.prefix.len());
        Ok(Document {
            text: parsed.text,
            prefix: parsed.prefix,
            n_tokens: parsed.n_tokens,
            key: parsed.key,
            store: Box::new(store),
            ingest_seconds: 0.0,
        })
    }

    /// Checks that the text tokenizes (with this session, whose key matched the file's) to
    /// the document's tokens, and each chunk's tokens to its record's CRC; returns those
    /// CRCs. The error says what differs.
    fn check_text(&self, parsed: &Parsed) -> std::result::Result<Vec<u32>, String> {
        let input = FocusInput::build(&self.model, &parsed.text, "?", self.params.focus.use_chat_template)
            .map_err(|e| format!("damaged: the text is unusable: {e}"))?;
        if input.prefix != parsed.prefix || input.question_start != parsed.n_tokens {
            return Err(format!(
                "damaged: the text is {} tokens after a prefix of {}, the header says {} after {}",
                input.question_start,
                input.prefix.len(),
                parsed.n_tokens,
                parsed.prefix.len()
            ));
        }
        let mut crcs = Vec::with_capacity(parsed.chunks.len());
        for (index, chunk) in parsed.chunks.iter().enumerate() {
            let found = input.body.get(chunk.range.clone()).map(tokens_crc);
            if found != Some(chunk.tokens_crc) {
                return Err(format!(
                    "damaged: chunk {index}'s tokens ({}..{}) are not the text's (CRC {:08x} recorded, {:08x} found)",
                    chunk.range.start,
                    chunk.range.end,
                    chunk.tokens_crc,
                    found.unwrap_or(0)
                ));
            }
            crcs.push(chunk.tokens_crc);
        }
        Ok(crcs)
    }
}

/// Why a file of another format version is refused.
fn version_refusal(version: u32) -> String {
    match version {
        1 => "format version 1 was written by an earlier focusllm and does not bind each chunk's KV to its \
              place and text; process the document again (`focusllm ingest`)"
            .into(),
        v if v > FORMAT_VERSION => {
            format!("format version {v} is newer than this focusllm reads ({FORMAT_VERSION}); upgrade focusllm")
        }
        v => format!("unknown format version {v}"),
    }
}

fn read_exact(reader: &mut impl Read, buf: &mut [u8], path: &Path, what: &str) -> Result<()> {
    reader.read_exact(buf).map_err(|source| match source.kind() {
        std::io::ErrorKind::UnexpectedEof => Error::DocumentFile { path: path.to_path_buf(), reason: what.into() },
        _ => Error::Io { path: path.to_path_buf(), source },
    })
}

struct Writer(Vec<u8>);

impl Writer {
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn str(&mut self, s: &str) -> Result<()> {
        let len = u32::try_from(s.len()).map_err(|_| Error::TooLong(format!("a setting of {} bytes", s.len())))?;
        self.u32(len);
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// One chunk record as read.
struct Record {
    range: Range<usize>,
    tokens_crc: u32,
    state_len: u64,
    check: u32,
    /// The record's bytes the state check covers.
    bound: [u8; RECORD_BOUND],
}

struct Parsed {
    key: DocumentKey,
    text: String,
    prefix: Vec<Token>,
    n_tokens: usize,
    chunks: Vec<Record>,
}

/// Reads the header with every length bounded by what is left (a damaged length is an
/// error, never a huge allocation) and checks that the records are numbered in order and
/// their chunks follow each other inside the document.
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
        prefix.push(Token(r.i32()?));
    }
    let n_tokens = usize::try_from(r.u64()?).map_err(|_| "token count too large".to_string())?;
    let n_chunks = r.u32()?;
    let mut chunks = Vec::new();
    let mut previous_end = 0;
    for expected in 0..n_chunks {
        let record = r.take(RECORD_LEN as u64)?;
        let mut fields = Reader { bytes: record, at: 0 };
        let index = fields.u32()?;
        let (start, end) = (fields.u64()?, fields.u64()?);
        let tokens_crc = fields.u32()?;
        let (state_len, check) = (fields.u64()?, fields.u32()?);
        if index != expected {
            return Err(format!("record {expected} is numbered {index}"));
        }
        let (Ok(start), Ok(end)) = (usize::try_from(start), usize::try_from(end)) else {
            return Err(format!("chunk {index} ({start}..{end}) is past any document"));
        };
        if start != previous_end || end <= start || end > n_tokens {
            return Err(format!(
                "chunk {index} ({start}..{end}) does not follow the previous one within {n_tokens} tokens"
            ));
        }
        previous_end = end;
        let mut bound = [0u8; RECORD_BOUND];
        bound.copy_from_slice(&record[..RECORD_BOUND]);
        chunks.push(Record { range: start..end, tokens_crc, state_len, check, bound });
    }
    if r.at != bytes.len() {
        return Err(format!("{} stray bytes after the chunk table", bytes.len() - r.at));
    }
    Ok(Parsed { key: DocumentKey::from_file(key), text, prefix, n_tokens, chunks })
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: u64) -> std::result::Result<&'a [u8], String> {
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
