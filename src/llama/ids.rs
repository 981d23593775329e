//! Tokens, sequence ids and positions as their own types: llama.cpp takes all three as
//! `int32_t`, with -1 meaning "all" in its KV calls; here a token, a sequence id, a position
//! and a count cannot be mixed up, and a range of positions is a Rust range.

use std::fmt;
use std::ops::{Bound, RangeBounds};

use llama_cpp_sys_2 as sys;

use super::MAX_SEQUENCES;
use crate::error::{Error, Result};

/// A token id of the model's vocabulary (llama.cpp's `llama_token`; the C ABI's `int32_t`).
#[repr(transparent)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Token(pub i32);

impl Token {
    /// The token's index into a row of logits, None for a negative id (not a token).
    pub fn index(self) -> Option<usize> {
        usize::try_from(self.0).ok()
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A sequence id inside one context (`0 .. n_seq_max`): which of the parallel sequences a
/// batch row or a KV call is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct SeqId(pub usize);

impl SeqId {
    /// The id `n` places after this one.
    pub(crate) fn offset(self, n: usize) -> SeqId {
        SeqId(self.0 + n)
    }

    /// llama.cpp's id; an error past llama.cpp's most sequences (a caller bug).
    pub(super) fn raw(self) -> Result<sys::llama_seq_id> {
        match sys::llama_seq_id::try_from(self.0) {
            Ok(id) if self.0 < MAX_SEQUENCES as usize => Ok(id),
            _ => Err(Error::Internal(format!("sequence id {self} outside 0..{MAX_SEQUENCES}"))),
        }
    }
}

impl fmt::Display for SeqId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A position inside a sequence (a cell's place in its sequence, as RoPE sees it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Pos(pub usize);

impl Pos {
    /// llama.cpp's position; an error past `i32::MAX`.
    pub(super) fn raw(self) -> Result<sys::llama_pos> {
        sys::llama_pos::try_from(self.0).map_err(|_| Error::TooLong(format!("position {} of a sequence", self.0)))
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A range of positions as llama.cpp's KV calls take it: `[p0, p1)`, with -1 for an open
/// start or end.
pub(super) fn raw_range(range: &impl RangeBounds<Pos>) -> Result<(sys::llama_pos, sys::llama_pos)> {
    let p0 = match range.start_bound() {
        Bound::Unbounded => -1,
        Bound::Included(p) => p.raw()?,
        Bound::Excluded(p) => Pos(p.0 + 1).raw()?,
    };
    let p1 = match range.end_bound() {
        Bound::Unbounded => -1,
        Bound::Excluded(p) => p.raw()?,
        Bound::Included(p) => Pos(p.0 + 1).raw()?,
    };
    Ok((p0, p1))
}

/// Whether `range` covers every position.
pub(super) fn is_whole(range: &impl RangeBounds<Pos>) -> bool {
    let open_start = matches!(range.start_bound(), Bound::Unbounded | Bound::Included(Pos(0)));
    open_start && matches!(range.end_bound(), Bound::Unbounded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_become_llama_cpp_bounds() {
        assert_eq!(raw_range(&(..)).unwrap(), (-1, -1));
        assert_eq!(raw_range(&(Pos(5)..)).unwrap(), (5, -1));
        assert_eq!(raw_range(&(Pos(0)..Pos(7))).unwrap(), (0, 7));
        assert_eq!(raw_range(&(Pos(2)..=Pos(7))).unwrap(), (2, 8));
        assert!(raw_range(&(Pos(usize::MAX - 1)..)).is_err());
        assert!(is_whole(&(..)) && is_whole(&(Pos(0)..)));
        assert!(!is_whole(&(Pos(1)..)) && !is_whole(&(..Pos(9))));
    }

    #[test]
    fn sequence_ids_stop_at_llama_cpp_s_most() {
        assert_eq!(SeqId(255).raw().unwrap(), 255);
        assert!(SeqId(256).raw().is_err());
        assert_eq!(SeqId(3).offset(2), SeqId(5));
    }
}
