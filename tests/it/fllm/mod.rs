//! Reading and re-sealing `.fllm` bytes in tests: where each field is, so a test can change
//! one and recompute every checksum, as a crafted file would (the change then reaches the
//! loader's checks instead of stopping at a checksum).
#![allow(dead_code)]

use std::ops::Range;

/// One chunk record of the header, with the file offsets of its fields.
#[derive(Debug, Clone)]
pub struct Record {
    /// Where the record starts in the file.
    pub at: usize,
    pub start: u64,
    pub end: u64,
    /// The state's length as the record says (maybe crafted).
    pub len: u64,
}

/// Where things are in a `.fllm` file.
#[derive(Debug, Clone)]
pub struct Layout {
    pub header_len: usize,
    /// File offsets of the text's bytes.
    pub text: Range<usize>,
    pub records: Vec<Record>,
    /// Where the chunk states start.
    pub states_start: usize,
}

/// Bytes of one chunk record: u32 index, u64 start, u64 end, u32 tokens CRC, u64 state
/// length, u32 state check.
pub const RECORD_LEN: usize = 4 + 8 + 8 + 4 + 8 + 4;
/// Offsets inside a record.
pub const REC_INDEX: usize = 0;
pub const REC_START: usize = 4;
pub const REC_END: usize = 12;
pub const REC_TOKENS: usize = 20;
pub const REC_LEN: usize = 24;
pub const REC_CHECK: usize = 32;

pub fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

pub fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

pub fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

pub fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// The layout of a well-formed header (record lengths may be crafted; nothing is checked
/// against the file's size).
pub fn layout(b: &[u8]) -> Layout {
    try_layout(b).expect("a well-formed header")
}

/// The layout, or None where a field runs past the bytes or the table does not end the
/// header.
pub fn try_layout(b: &[u8]) -> Option<Layout> {
    let word = |at: usize| b.get(at..at.checked_add(4)?).map(|w| u32::from_le_bytes(w.try_into().unwrap()));
    let long = |at: usize| b.get(at..at.checked_add(8)?).map(|w| u64::from_le_bytes(w.try_into().unwrap()));
    let header_len = word(12)? as usize;
    let mut at = 16usize;
    let pairs = word(at)?;
    at += 4;
    for _ in 0..2 * u64::from(pairs) {
        at = at.checked_add(4)?.checked_add(word(at)? as usize)?;
        if at > b.len() {
            return None;
        }
    }
    let text_len = usize::try_from(long(at)?).ok()?;
    let text = at + 8..(at + 8).checked_add(text_len)?;
    at = text.end;
    at = at.checked_add(4)?.checked_add(4usize.checked_mul(word(at)? as usize)?)?; // prefix
    at = at.checked_add(8)?; // document tokens
    let n_chunks = word(at)?;
    at += 4;
    let mut records = Vec::new();
    for _ in 0..n_chunks {
        records.push(Record { at, start: long(at + REC_START)?, end: long(at + REC_END)?, len: long(at + REC_LEN)? });
        at = at.checked_add(RECORD_LEN)?;
        if at > b.len() {
            return None;
        }
    }
    (at == 16 + header_len).then_some(Layout { header_len, text, records, states_start: 16 + header_len + 4 })
}

impl Layout {
    /// File offsets of chunk `index`'s state, as the (maybe crafted) lengths place it; None
    /// when they overflow.
    pub fn state(&self, index: usize) -> Option<Range<usize>> {
        let mut offset = self.states_start as u64;
        for record in &self.records[..index] {
            offset = offset.checked_add(record.len)?;
        }
        let end = offset.checked_add(self.records[index].len)?;
        Some(usize::try_from(offset).ok()?..usize::try_from(end).ok()?)
    }
}

/// The check a record carries for its state: CRC-32 of the record's index, range and tokens
/// CRC, then the state's bytes.
pub fn state_check(b: &[u8], record: &Record, state: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&b[record.at + REC_INDEX..record.at + REC_LEN]);
    h.update(state);
    h.finalize()
}

/// Recomputes every checksum a crafted file needs to pass them: each state's check (where
/// the lengths place the state inside the file) and the header's CRC.
pub fn reseal(b: &mut [u8]) {
    let Some(layout) = try_layout(b) else { return reseal_header(b) };
    for (index, record) in layout.records.iter().enumerate() {
        if let Some(range) = layout.state(index).filter(|r| r.end <= b.len()) {
            let check = state_check(b, record, &b[range]);
            put_u32(b, record.at + REC_CHECK, check);
        }
    }
    reseal_header(b);
}

/// Recomputes the header's CRC only (what a file edited by hand in its header needs).
pub fn reseal_header(b: &mut [u8]) {
    if b.len() < 16 {
        return;
    }
    let end = 16 + u32_at(b, 12) as usize;
    if end + 4 <= b.len() {
        let crc = crc32fast::hash(&b[..end]);
        put_u32(b, end, crc);
    }
}

/// In a llama.cpp sequence state: the offset of the first cell's metadata (position i32,
/// sequence count u32, sequence id i32) of the first non-empty stream.
pub fn first_cell(state: &[u8]) -> usize {
    let mut at = 8; // magic, sequence id
    let n_stream = u32_at(state, at);
    at += 4;
    for _ in 0..n_stream {
        let cells = u32_at(state, at);
        at += 4;
        if cells > 0 {
            return at;
        }
    }
    panic!("the state's first cache has no cells");
}

/// The cell count of each KV cache in a well-formed llama.cpp sequence state.
pub fn cache_cells(state: &[u8]) -> Vec<u32> {
    let mut counts = Vec::new();
    let mut at = 8;
    while at < state.len() {
        let n_stream = u32_at(state, at);
        at += 4;
        let mut cache = 0;
        for _ in 0..n_stream {
            let cells = u32_at(state, at);
            at += 4;
            if cells == 0 {
                continue;
            }
            cache += cells;
            let n = cells as usize;
            at += 12 * n;
            let (v_trans, n_layer) = (u32_at(state, at), u32_at(state, at + 4));
            at += 16;
            for _ in 0..n_layer {
                at += 12 + u64_at(state, at + 4) as usize * n;
            }
            for _ in 0..n_layer {
                at += if v_trans == 0 {
                    12 + u64_at(state, at + 4) as usize * n
                } else {
                    12 + (u32_at(state, at + 4) * u32_at(state, at + 8)) as usize * n
                };
            }
        }
        counts.push(cache);
    }
    counts
}
