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

/// llama.cpp's magic at the start of a sequence state (`llama_context`'s `io_magic`).
const STATE_MAGIC: u32 = 0xaf14_3cd8;
/// llama.cpp's most sequences (`LLAMA_MAX_SEQ`), so the most streams a KV cache has.
const MAX_STREAMS: u32 = 256;

/// Checks what a chunk's saved state means before llama.cpp loads it (llama.cpp checks the
/// layout, not the positions): a state of one sequence, its cells in that sequence's own
/// stream, holding the positions `0..n_positions` the chunk was decoded at, each once, in
/// the first KV cache, and a run of them ending at the last position in any further cache
/// (a sliding-window cache keeps only the recent cells). Every length is checked against the
/// bytes left; nothing is allocated beyond one position per cell. The error says what is
/// wrong, with the values.
pub fn check_chunk_state(state: &[u8], n_positions: usize) -> Result<(), String> {
    let mut walk = Walk { bytes: state, at: 0 };
    let too_short = || format!("the state ends early ({} bytes)", state.len());
    let magic = walk.u32().ok_or_else(too_short)?;
    if magic != STATE_MAGIC {
        return Err(format!("not a llama.cpp sequence state (magic {magic:08x})"));
    }
    let seq = walk.u32().ok_or_else(too_short)?;
    if seq >= MAX_STREAMS {
        return Err(format!("sequence id {}", seq as i32));
    }
    let mut cache = 0;
    while walk.at < state.len() {
        let n_stream = walk.u32().ok_or_else(too_short)?;
        if n_stream == 0 || n_stream > MAX_STREAMS {
            return Err(format!("KV cache {cache} has {n_stream} streams"));
        }
        let mut positions = None;
        for stream in 0..n_stream {
            let cell_count = walk.u32().ok_or_else(too_short)?;
            if cell_count == 0 {
                continue;
            }
            if positions.is_some() || (n_stream > 1 && stream != seq) {
                return Err(format!("KV cache {cache} has cells in stream {stream}, not in sequence {seq}'s own"));
            }
            if cell_count as usize > n_positions {
                return Err(format!("KV cache {cache} has {cell_count} cells for {n_positions} positions"));
            }
            positions = Some(walk.positions(cell_count, seq).ok_or_else(too_short)??);
            walk.rows(cell_count).ok_or_else(|| format!("KV cache {cache}'s K/V rows do not fit the state"))?;
        }
        let mut positions = positions.ok_or_else(|| format!("KV cache {cache} holds no cells"))?;
        positions.sort_unstable();
        let (first, last) = (positions[0], positions[positions.len() - 1]);
        let distinct = positions.windows(2).all(|w| w[0] < w[1]);
        let ends_at_last = i64::from(last) + 1 == n_positions as i64;
        let complete = i64::from(first) == (n_positions - positions.len()) as i64 && (cache > 0 || first == 0);
        if !(distinct && ends_at_last && complete && first >= 0) {
            return Err(format!(
                "KV cache {cache} holds {} cells at positions {first}..={last}{}, the chunk has positions 0..{n_positions}",
                positions.len(),
                if distinct { "" } else { " (some twice)" }
            ));
        }
        cache += 1;
    }
    if cache == 0 {
        return Err("the state holds no KV cache".into());
    }
    Ok(())
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

    /// Cell metadata of a single-sequence state, each cell in sequence `seq`: the positions
    /// (None when the bytes run out; Err names a cell of another shape).
    fn positions(&mut self, cell_count: u32, seq: u32) -> Option<Result<Vec<i32>, String>> {
        let mut positions = Vec::new();
        for cell in 0..cell_count {
            let meta = self.take(CELL_META_BYTES)?;
            let word = |i: usize| u32::from_le_bytes([meta[i], meta[i + 1], meta[i + 2], meta[i + 3]]);
            let (n_seq, cell_seq) = (word(4), word(8));
            if n_seq != 1 || cell_seq != seq {
                return Some(Err(format!(
                    "cell {cell} belongs to {n_seq} sequence(s) (id {}), not to sequence {seq} alone",
                    cell_seq as i32
                )));
            }
            positions.push(word(0) as i32);
        }
        Some(Ok(positions))
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

    /// A chunk state of sequence `seq`, one KV cache per list of cell positions, in the
    /// sequence's own stream of `n_stream`.
    fn chunk_state(n_stream: u32, seq: u32, caches: &[&[i32]]) -> Vec<u8> {
        let mut s = STATE_MAGIC.to_le_bytes().to_vec();
        s.extend_from_slice(&seq.to_le_bytes());
        let own = if n_stream > 1 { seq } else { 0 };
        for positions in caches {
            s.extend_from_slice(&n_stream.to_le_bytes());
            for stream in 0..n_stream {
                if stream != own {
                    s.extend_from_slice(&0u32.to_le_bytes());
                    continue;
                }
                let cells = positions.len() as u32;
                s.extend_from_slice(&cells.to_le_bytes());
                if cells == 0 {
                    continue;
                }
                for pos in *positions {
                    s.extend_from_slice(&pos.to_le_bytes());
                    s.extend_from_slice(&1u32.to_le_bytes());
                    s.extend_from_slice(&seq.to_le_bytes());
                }
                s.extend_from_slice(&section(cells, false)[CELL_META_BYTES * cells as usize..]);
            }
        }
        s
    }

    #[test]
    fn a_chunk_state_is_checked_for_its_positions_and_sequence() {
        let all: &[i32] = &[0, 1, 2, 3, 4];
        assert_eq!(check_chunk_state(&chunk_state(4, 2, &[all]), 5), Ok(()));
        // Cells in any order; a sliding-window cache holds the last positions only.
        assert_eq!(check_chunk_state(&chunk_state(1, 0, &[&[3, 4, 0, 1, 2], &[4, 3]]), 5), Ok(()));
        let refused = |state: &[u8], n: usize, words: &str| {
            let why = check_chunk_state(state, n).expect_err(words);
            assert!(why.contains(words), "{words}: {why}");
        };
        let good = chunk_state(4, 2, &[all]);
        refused(&good, 6, "positions 0..=4, the chunk has positions 0..6");
        refused(&good, 4, "5 cells for 4 positions");
        refused(&chunk_state(4, 2, &[&[-7, 1, 2, 3, 4]]), 5, "-7");
        refused(&chunk_state(4, 2, &[&[1, 1, 2, 3, 4]]), 5, "some twice");
        refused(&chunk_state(1, 0, &[all, &[2, 4]]), 5, "KV cache 1 holds 2 cells at positions 2..=4");
        refused(&chunk_state(1, 0, &[&[1, 2, 3, 4]]), 5, "KV cache 0 holds 4 cells");
        refused(&chunk_state(1, 0, &[all, &[]]), 5, "KV cache 1 holds no cells");
        let cell = 8 + 4 + 4 * 3;
        let mut other_seq = good.clone();
        other_seq[cell + 8..cell + 12].copy_from_slice(&3i32.to_le_bytes());
        refused(&other_seq, 5, "not to sequence 2 alone");
        let mut other_stream = good.clone();
        other_stream[4..8].copy_from_slice(&1u32.to_le_bytes());
        refused(&other_stream, 5, "stream 2, not in sequence 1's own");
        let mut magic = good.clone();
        magic[0] ^= 1;
        refused(&magic, 5, "magic");
        refused(&good[..8], 5, "no KV cache");
        for cut in 0..good.len() {
            assert!(check_chunk_state(&good[..cut], 5).is_err(), "cut at {cut}");
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

    /// Against the real model: a state saved from a split-KV context (one stream per sequence)
    /// does not load into a single-stream context as is, and does once rewritten by
    /// `single_stream`, continuing exactly as if the tokens had been decoded there.
    #[test]
    fn a_split_kv_state_moves_into_a_single_stream_context() {
        use crate::llama::{Batch, Context, Model, Pos, SeqId, Token, test_model_path};
        use crate::params::{ContextParams, ModelParams};

        fn decode(ctx: &mut Context, tokens: &[Token], seq: usize, start: usize) -> usize {
            let mut batch = Batch::new(tokens.len(), 1).unwrap();
            let mut row = 0;
            for (i, &token) in tokens.iter().enumerate() {
                row = batch.push(token, Pos(start + i), &[SeqId(seq)], i + 1 == tokens.len()).unwrap();
            }
            ctx.decode(&batch).unwrap();
            row
        }

        let model = Model::load(&test_model_path(), &ModelParams::default()).unwrap();
        let tokens = model.tokenize("The quick brown fox jumps over the lazy dog while the cat", true, false).unwrap();
        let (head, last) = tokens.split_at(tokens.len() - 1);
        let base = ContextParams { n_ctx: 256, n_threads: 1, ..Default::default() };

        let mut split =
            Context::new(model.clone(), &ContextParams { n_ctx: 768, n_seq_max: 3, ..base.clone() }).unwrap();
        decode(&mut split, head, 2, 0);
        let state = split.seq_state(SeqId(2)).unwrap();

        let mut reference = Context::new(model.clone(), &base).unwrap();
        let row = decode(&mut reference, &tokens, 0, 0);
        let expected = reference.logits(row).unwrap().to_vec();

        let mut single = Context::new(model.clone(), &base).unwrap();
        let refused = single.load_seq_state(SeqId(0), &state);
        assert!(refused.is_err(), "llama.cpp loads a 3-stream state into 1 stream");
        let moved = single_stream(state.clone()).expect("a split-KV state of this llama.cpp");
        assert!(moved.len() < state.len());
        single.load_seq_state(SeqId(0), &moved).unwrap();
        let row = decode(&mut single, last, 0, head.len());
        let got = single.logits(row).unwrap();
        let worst = got.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(worst < 1e-3, "logits differ by up to {worst}");
    }
}
