//! A `llama_batch` that holds rows of several sequences and remembers which rows want logits.

use llama_cpp_sys_2 as sys;

use super::{Pos, SeqId, Token};
use crate::error::{Error, Result};

/// Rows of (token, position, sequence ids, wants logits) for one `llama_decode`.
pub(crate) struct Batch {
    raw: sys::llama_batch,
    capacity: usize,
    max_ids_per_row: usize,
}

// SAFETY: the batch owns its buffers (allocated by llama_batch_init) and is only touched
// through &mut self; moving it to another thread moves that ownership.
unsafe impl Send for Batch {}

impl Drop for Batch {
    fn drop(&mut self) {
        // SAFETY: raw came from llama_batch_init and is freed once.
        unsafe { sys::llama_batch_free(self.raw) };
    }
}

impl Batch {
    /// A batch of at most `capacity` rows, each tagged with at most `max_ids_per_row`
    /// sequence ids.
    pub(crate) fn new(capacity: usize, max_ids_per_row: usize) -> Result<Batch> {
        if capacity == 0 || max_ids_per_row == 0 {
            return Err(Error::invalid_param(format!(
                "batch capacity {capacity} and ids per row {max_ids_per_row} must both be at least 1"
            )));
        }
        let cap = i32::try_from(capacity)
            .map_err(|_| Error::invalid_param(format!("batch capacity {capacity} too large")))?;
        let ids = i32::try_from(max_ids_per_row).map_err(|_| Error::invalid_param("too many ids per row"))?;
        // SAFETY: positive sizes; embd = 0 allocates token rows (not embeddings).
        let raw = unsafe { sys::llama_batch_init(cap, 0, ids) };
        if raw.token.is_null() || raw.pos.is_null() || raw.seq_id.is_null() || raw.logits.is_null() {
            return Err(Error::Internal("llama_batch_init returned null buffers".into()));
        }
        Ok(Batch { raw: sys::llama_batch { n_tokens: 0, ..raw }, capacity, max_ids_per_row })
    }

    /// Number of rows.
    pub(crate) fn len(&self) -> usize {
        self.raw.n_tokens as usize
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.raw.n_tokens == 0
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Removes all rows.
    pub(crate) fn clear(&mut self) {
        self.raw.n_tokens = 0;
    }

    /// Appends a row and returns its index (the index to read its logits with, when
    /// `want_logits`).
    pub(crate) fn push(&mut self, token: Token, pos: Pos, seq_ids: &[SeqId], want_logits: bool) -> Result<usize> {
        let row = self.len();
        if row == self.capacity {
            return Err(Error::Internal(format!("batch full ({} rows)", self.capacity)));
        }
        if seq_ids.is_empty() || seq_ids.len() > self.max_ids_per_row {
            return Err(Error::Internal(format!(
                "a batch row needs 1..={} sequence ids, got {}",
                self.max_ids_per_row,
                seq_ids.len()
            )));
        }
        let pos = pos.raw()?;
        let raw_ids = seq_ids.iter().map(|id| id.raw()).collect::<Result<Vec<_>>>()?;
        // SAFETY: row < capacity, so every per-row array (allocated with `capacity` entries)
        // has this index; seq_id[row] was allocated with max_ids_per_row entries and
        // raw_ids.len() <= that.
        unsafe {
            *self.raw.token.add(row) = token.0;
            *self.raw.pos.add(row) = pos;
            *self.raw.n_seq_id.add(row) = raw_ids.len() as i32;
            let ids = *self.raw.seq_id.add(row);
            std::ptr::copy_nonoverlapping(raw_ids.as_ptr(), ids, raw_ids.len());
            *self.raw.logits.add(row) = i8::from(want_logits);
        }
        self.raw.n_tokens += 1;
        Ok(row)
    }

    /// The sequence ids of row `row` (panics on an out-of-range row: a caller bug).
    pub(crate) fn seq_ids(&self, row: usize) -> Vec<SeqId> {
        assert!(row < self.len(), "row {row} out of range");
        // SAFETY: row < len(); n_seq_id[row] ids were written into seq_id[row] by push.
        let raw = unsafe {
            let n = *self.raw.n_seq_id.add(row) as usize;
            std::slice::from_raw_parts(*self.raw.seq_id.add(row), n)
        };
        // push wrote only ids in 0..MAX_SEQUENCES.
        raw.iter().map(|&id| SeqId(id as usize)).collect()
    }

    /// Whether row `row` asked for logits.
    pub(crate) fn wants_logits(&self, row: usize) -> bool {
        assert!(row < self.len(), "row {row} out of range");
        // SAFETY: row < len(), written by push.
        unsafe { *self.raw.logits.add(row) != 0 }
    }

    pub(crate) fn raw(&self) -> sys::llama_batch {
        self.raw
    }
}
