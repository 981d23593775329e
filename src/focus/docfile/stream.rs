//! A `.fllm` file written while its document is processed: each chunk's KV goes to the file
//! as soon as it is decoded, so processing holds one chunk's state at a time, not the
//! document's. The head (magic, header, CRC) has a length known before any state exists
//! (the header's size depends on the number of chunks, not on their records), so the file
//! starts with that much room, the states follow, and the head is written last. The file is
//! written under a partial name and renamed to its target only once complete and synced:
//! an interrupted ingest leaves no file that looks valid.

use std::fs::OpenOptions;
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::{head, header, partial};
use crate::error::{Error, Result};
use crate::focus::document::{Document, DocumentKey};
use crate::focus::store::{BlobFile, Held, StoredChunk};
use crate::llama::Token;

/// The partial file of a document being streamed to `target`; removed when dropped
/// unfinished (an error, a cancel).
pub(crate) struct StreamedFile {
    target: PathBuf,
    temp: PathBuf,
    head_len: usize,
    finished: bool,
}

/// What the header of the document to be streamed holds, besides its chunk records.
pub(crate) struct StreamedParts<'a> {
    pub key: &'a DocumentKey,
    pub text: &'a str,
    pub prefix: &'a [Token],
    pub n_tokens: usize,
    pub chunks: &'a [Range<usize>],
}

impl StreamedFile {
    /// Creates the partial file of `target` with room for the head of a document of `parts`;
    /// returns it and the file the chunk states are appended to (after that room).
    pub fn create(target: &Path, parts: StreamedParts<'_>) -> Result<(StreamedFile, BlobFile)> {
        let io = |source: std::io::Error| Error::Io { path: target.to_path_buf(), source };
        let placeholders: Vec<StoredChunk> = parts
            .chunks
            .iter()
            .map(|range| StoredChunk { range: range.clone(), tokens_crc: 0, held: Held::Absent })
            .collect();
        let head_len = head(&header(parts.key, parts.text, parts.prefix, parts.n_tokens, &placeholders)?)?.len();
        partial::remove_stale(target);
        let temp = partial::partial_path(target);
        let file = OpenOptions::new().read(true).write(true).create_new(true).open(&temp).map_err(io)?;
        let streamed = StreamedFile { target: target.to_path_buf(), temp: temp.clone(), head_len, finished: false };
        // Zeros until the head is written: a file cut short here has no magic.
        file.set_len(head_len as u64).map_err(io)?;
        Ok((streamed, BlobFile::new(temp, file, head_len as u64)))
    }

    /// Writes the head of `document` (whose store appended every state to this file), syncs
    /// the file and renames it to its target; the document then reads its states from it.
    pub fn finish(mut self, document: &mut Document) -> Result<()> {
        let head = head(&document.header()?)?;
        if head.len() != self.head_len {
            return Err(Error::Internal(format!(
                "a streamed document's head is {} bytes, {} were set aside",
                head.len(),
                self.head_len
            )));
        }
        let io = |source: std::io::Error| Error::Io { path: self.target.clone(), source };
        let store = &mut document.store;
        let file = store.file.as_mut().ok_or_else(|| Error::Internal("a streamed document has no file".into()))?;
        file.write_at(0, &head)?;
        file.sync()?;
        std::fs::rename(&self.temp, &self.target).map_err(io)?;
        self.finished = true;
        store.file_completed(self.target.clone());
        Ok(())
    }
}

impl Drop for StreamedFile {
    fn drop(&mut self) {
        if !self.finished {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}
