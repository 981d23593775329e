//! Where a processed document keeps each chunk's KV state: in memory up to the user's
//! budget, then in a spill file, or nowhere (the chunk is decoded again when a question
//! needs it), whichever the measured costs favour. A document loaded from a `.fllm` file
//! reads its states from that file, one wave at a time.
//!
//! Every state read back from a file is checked against its CRC-32, and for its meaning
//! (one sequence, cells exactly at the chunk's positions), before llama.cpp sees it:
//! llama.cpp checks a state's layout but not its positions.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use super::scan::ChunkMemory;
use crate::error::{Error, Result};
use crate::llama::state_layout::check_chunk_state;
use crate::llama::{Context, SeqId, Token};

/// Where one chunk's state is.
#[derive(Debug)]
pub(crate) enum Held {
    Memory(Vec<u8>),
    /// In the spill file or the loaded document file, `len` bytes at `offset`.
    InFile {
        offset: u64,
        len: u64,
        crc: u32,
    },
    /// Not kept: decoded again when needed.
    Absent,
}

impl Held {
    /// The state's length and CRC-32; (0, 0) when absent.
    pub fn len_and_crc(&self) -> (u64, u32) {
        match self {
            Held::Memory(bytes) => (bytes.len() as u64, crc32fast::hash(bytes)),
            Held::InFile { len, crc, .. } => (*len, *crc),
            Held::Absent => (0, 0),
        }
    }
}

/// One chunk: its token range in the document body, the CRC-32 of its tokens (what a
/// saved state is bound to) and its state.
#[derive(Debug)]
pub(crate) struct StoredChunk {
    pub range: Range<usize>,
    pub tokens_crc: u32,
    pub held: Held,
}

/// CRC-32 of tokens as little-endian i32s.
pub(crate) fn tokens_crc(tokens: &[Token]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    for token in tokens {
        hasher.update(&token.0.to_le_bytes());
    }
    hasher.finalize()
}

/// A file of states, read (and for a spill file, appended to) under a lock.
#[derive(Debug)]
pub(crate) struct BlobFile {
    /// Shown in errors (the spill directory for an unlinked spill file).
    pub path: PathBuf,
    file: Mutex<File>,
    end: u64,
}

impl BlobFile {
    pub fn new(path: PathBuf, file: File, end: u64) -> Self {
        BlobFile { path, file: Mutex::new(file), end }
    }

    fn io_error(&self, source: std::io::Error) -> Error {
        Error::Io { path: self.path.clone(), source }
    }

    /// Reads `len` bytes at `offset` and checks their CRC.
    pub fn read(&self, offset: u64, len: u64, crc: u32) -> Result<Vec<u8>> {
        let past_end = offset.checked_add(len).is_none_or(|end| end > self.end);
        let len_usize = usize::try_from(len)
            .ok()
            .filter(|_| !past_end)
            .ok_or_else(|| Error::Internal(format!("a state of {len} bytes at offset {offset}, past {}", self.end)))?;
        let mut bytes = vec![0u8; len_usize];
        {
            let mut file = self.file.lock().map_err(|_| Error::Internal("a state file lock was poisoned".into()))?;
            file.seek(SeekFrom::Start(offset)).map_err(|e| self.io_error(e))?;
            file.read_exact(&mut bytes).map_err(|e| match e.kind() {
                std::io::ErrorKind::UnexpectedEof => Error::DocumentFile {
                    path: self.path.clone(),
                    reason: format!("truncated: a chunk's KV ends past the end of the file (offset {offset})"),
                },
                _ => self.io_error(e),
            })?;
        }
        let found = crc32fast::hash(&bytes);
        if found != crc {
            return Err(Error::DocumentFile {
                path: self.path.clone(),
                reason: format!(
                    "damaged: the chunk KV at offset {offset} has checksum {found:08x}, expected {crc:08x}"
                ),
            });
        }
        Ok(bytes)
    }

    /// Writes `bytes` at `offset` (a streamed document's header, once its states are in).
    pub fn write_at(&mut self, offset: u64, bytes: &[u8]) -> Result<()> {
        let file = self.file.get_mut().map_err(|_| Error::Internal("a state file lock was poisoned".into()))?;
        file.seek(SeekFrom::Start(offset)).map_err(|e| Error::Io { path: self.path.clone(), source: e })?;
        file.write_all(bytes).map_err(|e| Error::Io { path: self.path.clone(), source: e })
    }

    /// Flushes the file to its storage.
    pub fn sync(&mut self) -> Result<()> {
        let file = self.file.get_mut().map_err(|_| Error::Internal("a state file lock was poisoned".into()))?;
        file.sync_all().map_err(|e| Error::Io { path: self.path.clone(), source: e })
    }

    /// Appends `bytes`; returns their offset.
    fn append(&mut self, bytes: &[u8]) -> Result<u64> {
        let offset = self.end;
        self.write_at(offset, bytes)?;
        self.end = offset
            .checked_add(bytes.len() as u64)
            .ok_or_else(|| Error::Internal(format!("a spill file past 2^64 bytes ({})", self.path.display())))?;
        Ok(offset)
    }
}

/// How many chunks sit where, and the bytes they take.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreCounts {
    pub in_memory: usize,
    pub in_file: usize,
    pub absent: usize,
    pub memory_bytes: u64,
    pub file_bytes: u64,
}

/// The chunk states of one document.
#[derive(Debug)]
pub(crate) struct ChunkStore {
    pub chunks: Vec<StoredChunk>,
    /// The spill file (made on the first spill) or the loaded document file.
    pub file: Option<BlobFile>,
    /// Tokens before every chunk's own (BOS, chat header): a state holds positions
    /// `0..prefix_len + chunk length`.
    prefix_len: usize,
    /// The states come from a `.fllm` file (loaded, or written as the document was
    /// processed), whose damage is the file's fault.
    from_document: bool,
    /// Every state decoded goes to `file` (a `.fllm` being written), none is kept in memory.
    all_to_file: bool,
    budget: u64,
    spill_dir: Option<PathBuf>,
    in_memory: u64,
    /// Measured spill throughput (bytes/s), once a state was spilled.
    spill_rate: Option<f64>,
}

impl ChunkStore {
    /// An empty store keeping up to `budget` bytes in memory (0: no limit), for chunks after
    /// `prefix_len` tokens.
    pub fn new(budget: u64, spill_dir: Option<PathBuf>, prefix_len: usize) -> Self {
        ChunkStore {
            chunks: Vec::new(),
            file: None,
            prefix_len,
            from_document: false,
            all_to_file: false,
            budget,
            spill_dir,
            in_memory: 0,
            spill_rate: None,
        }
    }

    /// A store over a document file whose states were all checked.
    pub fn from_file(chunks: Vec<StoredChunk>, file: BlobFile, prefix_len: usize) -> Self {
        ChunkStore {
            chunks,
            file: Some(file),
            prefix_len,
            from_document: true,
            all_to_file: false,
            budget: 0,
            spill_dir: None,
            in_memory: 0,
            spill_rate: None,
        }
    }

    /// An empty store that appends every state to `file` (a `.fllm` file being written,
    /// whose states start at `file`'s end) as soon as it is decoded.
    pub fn streaming(file: BlobFile, prefix_len: usize) -> Self {
        ChunkStore { file: Some(file), all_to_file: true, ..ChunkStore::new(0, None, prefix_len) }
    }

    /// The streamed file is complete under its final name `path`: its states are now a
    /// document file's.
    pub fn file_completed(&mut self, path: PathBuf) {
        if let Some(file) = &mut self.file {
            file.path = path;
        }
        self.all_to_file = false;
        self.from_document = true;
    }

    /// Records each chunk's tokens CRC (`body` is the document's tokens, as the chunk
    /// ranges index them).
    pub fn bind_tokens(&mut self, body: &[Token]) -> Result<()> {
        for chunk in &mut self.chunks {
            let tokens = body.get(chunk.range.clone()).ok_or_else(|| {
                Error::Internal(format!("chunk {:?} is outside the {} tokens", chunk.range, body.len()))
            })?;
            chunk.tokens_crc = tokens_crc(tokens);
        }
        Ok(())
    }

    pub fn counts(&self) -> StoreCounts {
        let mut counts = StoreCounts::default();
        for chunk in &self.chunks {
            match &chunk.held {
                Held::Memory(bytes) => {
                    counts.in_memory += 1;
                    counts.memory_bytes += bytes.len() as u64;
                }
                Held::InFile { len, .. } => {
                    counts.in_file += 1;
                    counts.file_bytes += len;
                }
                Held::Absent => counts.absent += 1,
            }
        }
        counts
    }

    /// Runs `use_state` on a chunk's state (checked when read from a file); None when the
    /// chunk is not held.
    pub fn with_state<R>(&self, held: &Held, use_state: impl FnOnce(&[u8]) -> Result<R>) -> Result<Option<R>> {
        match held {
            Held::Memory(bytes) => use_state(bytes).map(Some),
            Held::InFile { offset, len, crc } => use_state(&self.blob_file()?.read(*offset, *len, *crc)?).map(Some),
            Held::Absent => Ok(None),
        }
    }

    fn blob_file(&self) -> Result<&BlobFile> {
        self.file.as_ref().ok_or_else(|| Error::Internal("a chunk is in a file the document does not have".into()))
    }

    /// Puts a state beyond the memory budget in the spill file, or drops it when decoding
    /// the chunk again is expected to be faster than reading it back (`decode_seconds`
    /// against the measured spill throughput; reading is assumed no slower than writing).
    fn spill_or_drop(&mut self, state: &[u8], decode_seconds: f64) -> Result<Held> {
        if let Some(rate) = self.spill_rate {
            if state.len() as f64 / rate > decode_seconds {
                return Ok(Held::Absent);
            }
        }
        if self.file.is_none() {
            let dir = self.spill_dir.clone().unwrap_or_else(std::env::temp_dir);
            let file = tempfile::tempfile_in(&dir).map_err(|source| Error::Io { path: dir.clone(), source })?;
            self.file = Some(BlobFile::new(dir, file, 0));
        }
        let started = Instant::now();
        let held = self.append_state(state)?;
        let seconds = started.elapsed().as_secs_f64().max(1e-6);
        let rate = state.len() as f64 / seconds;
        self.spill_rate = Some(self.spill_rate.map_or(rate, |old| 0.5 * (old + rate)));
        Ok(held)
    }

    /// Appends a state to the file.
    fn append_state(&mut self, state: &[u8]) -> Result<Held> {
        let file = self.file.as_mut().ok_or_else(|| Error::Internal("no state file to write to".into()))?;
        let offset = file.append(state)?;
        Ok(Held::InFile { offset, len: state.len() as u64, crc: crc32fast::hash(state) })
    }

    /// Loads the state of the chunk at `range` whose tokens have CRC `tokens_crc` into `seq`;
    /// false when none is held (a conversation's history chunks: the same range may hold
    /// other tokens once the history changes).
    pub fn restore_bound(&self, ctx: &mut Context, range: &Range<usize>, tokens_crc: u32, seq: SeqId) -> Result<bool> {
        match self.chunks.iter().enumerate().find(|(_, c)| c.range == *range && c.tokens_crc == tokens_crc) {
            Some((index, chunk)) => self.load(ctx, index, chunk, seq),
            None => Ok(false),
        }
    }

    /// Keeps the state of the chunk at `range` (tokens CRC `tokens_crc`) just decoded in `seq`.
    pub fn keep_bound(
        &mut self,
        ctx: &Context,
        range: &Range<usize>,
        tokens_crc: u32,
        seq: SeqId,
        seconds: f64,
    ) -> Result<()> {
        self.decoded(ctx, range, seq, seconds)?;
        if let Some(chunk) = self.chunks.last_mut() {
            chunk.tokens_crc = tokens_crc;
        }
        Ok(())
    }

    fn find(&self, range: &Range<usize>) -> Option<(usize, &StoredChunk)> {
        self.chunks.iter().enumerate().find(|(_, c)| c.range == *range)
    }

    /// Loads chunk `index`'s state into `seq`. A state read from a file is checked for its
    /// meaning first; one from a loaded document that llama.cpp refuses is a damaged file.
    fn load(&self, ctx: &mut Context, index: usize, chunk: &StoredChunk, seq: SeqId) -> Result<bool> {
        let damaged = |why: String| match &self.file {
            Some(file) if self.from_document => {
                Error::DocumentFile { path: file.path.clone(), reason: format!("damaged: chunk {index}'s KV: {why}") }
            }
            _ => Error::Internal(format!("chunk {index}'s KV in the spill file: {why}")),
        };
        let loaded = self.with_state(&chunk.held, |state| {
            if matches!(chunk.held, Held::InFile { .. }) {
                check_chunk_state(state, self.prefix_len + chunk.range.len()).map_err(damaged)?;
            }
            ctx.load_seq_state(seq, state).map_err(|e| match e {
                Error::DocumentMismatch(why) if self.from_document => damaged(why),
                other => other,
            })
        })?;
        Ok(loaded.is_some())
    }
}

/// Ingest: every decoded chunk's state is kept (memory, spill, or dropped).
impl ChunkMemory for ChunkStore {
    fn restore(&mut self, ctx: &mut Context, range: &Range<usize>, seq: SeqId) -> Result<bool> {
        StoreReader(self).restore(ctx, range, seq)
    }

    fn decoded(&mut self, ctx: &Context, range: &Range<usize>, seq: SeqId, seconds: f64) -> Result<()> {
        let state = ctx.seq_state(seq)?;
        let fits = self.budget == 0 || self.in_memory + state.len() as u64 <= self.budget;
        let held = if self.all_to_file {
            self.append_state(&state)?
        } else if fits {
            self.in_memory += state.len() as u64;
            Held::Memory(state)
        } else {
            self.spill_or_drop(&state, seconds)?
        };
        // A chunk at the same range is replaced (a conversation's history changed there).
        if let Some(at) = self.chunks.iter().position(|c| c.range == *range) {
            if let Held::Memory(old) = &self.chunks.remove(at).held {
                self.in_memory -= old.len() as u64;
            }
        }
        self.chunks.push(StoredChunk { range: range.clone(), tokens_crc: 0, held });
        Ok(())
    }
}

/// Questions: states are loaded, chunks the store lacks are decoded and not kept.
pub(crate) struct StoreReader<'a>(pub &'a ChunkStore);

impl ChunkMemory for StoreReader<'_> {
    fn restore(&mut self, ctx: &mut Context, range: &Range<usize>, seq: SeqId) -> Result<bool> {
        let Some((index, chunk)) = self.0.find(range) else { return Ok(false) };
        self.0.load(ctx, index, chunk, seq)
    }

    fn decoded(&mut self, _: &Context, _: &Range<usize>, _: SeqId, _: f64) -> Result<()> {
        Ok(())
    }
}

/// The spill directory the user named must exist.
pub(crate) fn check_spill_dir(dir: Option<&Path>) -> Result<()> {
    let Some(dir) = dir else { return Ok(()) };
    let problem = match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => return Ok(()),
        Ok(_) => std::io::Error::new(
            std::io::ErrorKind::NotADirectory,
            "the spill directory is not a directory (it names a file)",
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::io::Error::new(std::io::ErrorKind::NotFound, "the spill directory does not exist")
        }
        Err(e) => e,
    };
    Err(Error::Io { path: dir.to_path_buf(), source: problem })
}
