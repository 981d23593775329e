//! Moving a sequence's KV state between KV layouts.
//!
//! llama.cpp serializes one sequence's state (`llama_state_seq_get_data`) as: a magic and
//! the sequence id, then for each KV cache of the model (one, or two for interleaved
//! sliding-window models) the number of streams and, per stream, a cell count followed,
//! when non-zero, by the cells' metadata and K/V rows. A split-KV context (one stream per
//! sequence) writes `n_seq_max` streams, all empty but the sequence's own; a unified-KV
//! context has one stream, and llama.cpp refuses to load a state whose stream count differs
//! ("n_stream mismatch"). [`single_stream`] rewrites the first kind into the second by
//! dropping the empty streams, so a chunk decoded in a split-KV scan can be attended to in a
//! unified-KV answer context without being decoded again.
//!
//! The walk follows the llama.cpp pinned in Cargo.toml (`llama_kv_cache::state_write`) and
//! checks every length against the bytes left; anything unexpected (cells of several
//! sequences, per-cell extensions of M-RoPE models, layers without V) gives `None`, and the
//! caller decodes the chunk instead. Safe code: it only moves bytes, and llama.cpp re-checks
//! layer counts, types and row sizes when loading.

/// Bytes of one cell's metadata in a single-sequence state: position, a sequence count
/// (always 1) and the sequence id.
const CELL_META_BYTES: usize = 12;
/// More layers than any model has: a guard against reading garbage as a count.
const MAX_LAYERS: u32 = 4096;

/// The same state with only its non-empty stream per KV cache, as a unified-KV context
/// writes it; `None` when `state` does not have the expected shape. The bytes are moved in
/// place (a state is tens of megabytes; no second copy is made).
pub fn single_stream(mut state: Vec<u8>) -> Option<Vec<u8>> {
    let pieces = plan(&state)?;
    let mut write = 0;
    for piece in pieces {
        match piece {
            Piece::Keep(range) => {
                let len = range.len();
                state.copy_within(range, write);
                write += len;
            }
            Piece::Count(value) => {
                state[write..write + 4].copy_from_slice(&value.to_le_bytes());
                write += 4;
            }
        }
    }
    state.truncate(write);
    Some(state)
}

/// What the output is made of, in order. Every piece's bytes start at or after where they
/// are written (the output never runs ahead of the input), so the moves are in place.
enum Piece {
    Keep(std::ops::Range<usize>),
    Count(u32),
}

fn plan(state: &[u8]) -> Option<Vec<Piece>> {
    let mut walk = Walk { bytes: state, at: 0 };
    let mut pieces = vec![Piece::Keep(0..8)]; // magic, sequence id
    walk.take(8)?;
    while walk.at < state.len() {
        let n_stream = walk.u32()?;
        if n_stream == 0 || n_stream > 256 {
            return None;
        }
        pieces.push(Piece::Count(1));
        let mut kept = false;
        for _ in 0..n_stream {
            let start = walk.at;
            let cell_count = walk.u32()?;
            if cell_count == 0 {
                continue;
            }
            if kept {
                return None; // the sequence spans two streams: not a split-KV state
            }
            kept = true;
            walk.cells(cell_count)?;
            walk.rows(cell_count)?;
            pieces.push(Piece::Keep(start..walk.at));
        }
        if !kept {
            pieces.push(Piece::Count(0));
        }
    }
    Some(pieces)
}

struct Walk<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Walk<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let out = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(out)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Option<u64> {
        self.take(8).map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
    }

    /// Cell metadata: (position, 1, sequence id) per cell.
    fn cells(&mut self, cell_count: u32) -> Option<()> {
        for _ in 0..cell_count {
            let meta = self.take(CELL_META_BYTES)?;
            if u32::from_le_bytes([meta[4], meta[5], meta[6], meta[7]]) != 1 {
                return None;
            }
        }
        Some(())
    }

    /// K rows of every layer, then V rows (row-major, or transposed without flash attention).
    fn rows(&mut self, cell_count: u32) -> Option<()> {
        let v_trans = self.u32()?;
        let n_layer = self.u32()?;
        let _n_rot = (self.u32()?, self.u32()?);
        if v_trans > 1 || n_layer == 0 || n_layer > MAX_LAYERS {
            return None;
        }
        let cells = u64::from(cell_count);
        for _ in 0..n_layer {
            let _type = self.u32()?;
            let row = self.u64()?;
            self.take(usize::try_from(row.checked_mul(cells)?).ok()?)?;
        }
        for _ in 0..n_layer {
            let _type = self.u32()?;
            let bytes = if v_trans == 0 {
                self.u64()?.checked_mul(cells)?
            } else {
                let element = u64::from(self.u32()?);
                let n_embd = u64::from(self.u32()?);
                element.checked_mul(n_embd)?.checked_mul(cells)?
            };
            self.take(usize::try_from(bytes).ok()?)?;
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A split-KV state of `cells` cells in stream `own` of `n_stream`, `caches` times.
    fn split_state(n_stream: u32, own: u32, cells: u32, caches: usize, v_trans: bool) -> Vec<u8> {
        let mut s = vec![0xAB; 4];
        s.extend_from_slice(&7i32.to_le_bytes());
        for _ in 0..caches {
            s.extend_from_slice(&n_stream.to_le_bytes());
            for stream in 0..n_stream {
                if stream != own {
                    s.extend_from_slice(&0u32.to_le_bytes());
                    continue;
                }
                s.extend_from_slice(&cells.to_le_bytes());
                s.extend(section(cells, v_trans));
            }
        }
        s
    }

    fn section(cells: u32, v_trans: bool) -> Vec<u8> {
        let mut s = Vec::new();
        for pos in 0..cells {
            s.extend_from_slice(&(pos as i32).to_le_bytes());
            s.extend_from_slice(&1u32.to_le_bytes());
            s.extend_from_slice(&7i32.to_le_bytes());
        }
        for v in [u32::from(v_trans), 2, 64, 64] {
            s.extend_from_slice(&v.to_le_bytes());
        }
        for layer in 0..2u8 {
            s.extend_from_slice(&1u32.to_le_bytes());
            s.extend_from_slice(&6u64.to_le_bytes());
            s.extend(std::iter::repeat_n(layer, 6 * cells as usize));
        }
        for layer in 0..2u8 {
            s.extend_from_slice(&1u32.to_le_bytes());
            if v_trans {
                s.extend_from_slice(&2u32.to_le_bytes());
                s.extend_from_slice(&3u32.to_le_bytes());
            } else {
                s.extend_from_slice(&6u64.to_le_bytes());
            }
            s.extend(std::iter::repeat_n(10 + layer, 6 * cells as usize));
        }
        s
    }

    fn unified_state(cells: u32, caches: usize, v_trans: bool) -> Vec<u8> {
        split_state(1, 0, cells, caches, v_trans)
    }

    #[test]
    fn empty_streams_are_dropped_for_one_and_two_caches() {
        for (caches, v_trans) in [(1, false), (2, false), (1, true), (2, true)] {
            for own in [0, 2, 3] {
                let split = split_state(4, own, 5, caches, v_trans);
                assert_eq!(single_stream(split), Some(unified_state(5, caches, v_trans)), "{caches} {own}");
            }
        }
    }

    #[test]
    fn unexpected_shapes_are_refused() {
        let good = split_state(4, 1, 3, 1, false);
        for cut in [0, 7, 9, 20, good.len() - 1] {
            assert_eq!(single_stream(good[..cut].to_vec()), None, "cut at {cut}");
        }
        let mut two_seqs = good.clone();
        two_seqs[8 + 4 + 4 + 4 + 4] = 2; // the first cell claims two sequences
        assert_eq!(single_stream(two_seqs), None);
        let mut longer = good.clone();
        longer.push(0);
        assert_eq!(single_stream(longer), None);
        let mut two_streams = good[..8].to_vec();
        two_streams.extend_from_slice(&2u32.to_le_bytes());
        for _ in 0..2 {
            two_streams.extend_from_slice(&1u32.to_le_bytes());
            two_streams.extend(section(1, false));
        }
        assert_eq!(single_stream(two_streams), None);
    }
}
