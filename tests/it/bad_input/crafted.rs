//! The crafted files of the bad-input matrix. Models: the default model with one metadata
//! value patched (hyperparameters llama.cpp would abort on, numbers that are not finite, see
//! `common::crafted_gguf`). Documents: a small document saved through the C API with one field
//! changed and every checksum recomputed (chunk lengths that wrap, KV cells outside their
//! chunk, states swapped, see `fllm`), so that the change reaches the loader's checks. Each
//! set has one control file that must load: the crafting itself breaks nothing.
//!
//! The files are written once per test binary and shared by the C and command-line tests;
//! the directory goes when the last test holding [`CraftedInputs`] is done (or, when a run is
//! killed, with the next run an hour later).

use std::path::{Path, PathBuf};
use std::ptr::null_mut;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use crate::common::crafted_gguf::{CraftedGguf, GgufValue};
use crate::fllm::{REC_CHECK, REC_LEN, first_cell, layout, put_u32, put_u64, reseal, reseal_header, u32_at};
use focusllm::capi::document::*;
use focusllm::capi::model::*;
use focusllm::capi::session::*;
use focusllm::capi::status::focusllm_status as S;

/// What the library must make of a crafted file. A message is matched as in the matrix: the
/// pieces between `…` in order, so that counts that depend on chunking are left out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Expect {
    /// It loads (the control file).
    Loads,
    /// Refused when it is loaded (MODEL_LOAD for a model, DOCUMENT_FILE for a document), with
    /// a message containing this.
    Refused(&'static str),
    /// A document that loads (only llama.cpp can tell), refused as DOCUMENT_FILE when a
    /// question reads the damaged state, with a message containing this.
    RefusedWhenAsked(&'static str),
}

/// One crafted file.
#[derive(Debug)]
pub struct Crafted {
    pub what: &'static str,
    pub path: PathBuf,
    pub expect: Expect,
}

impl Crafted {
    pub fn path_str(&self) -> &str {
        self.path.to_str().expect("a UTF-8 scratch path")
    }
}

/// The crafted models and documents, on disk while held.
pub struct CraftedInputs {
    pub dir: PathBuf,
    pub models: Vec<Crafted>,
    pub documents: Vec<Crafted>,
}

impl Drop for CraftedInputs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The crafted files, written by the first test that asks and shared while any test holds them.
pub fn inputs() -> Arc<CraftedInputs> {
    static SHARED: Mutex<Weak<CraftedInputs>> = Mutex::new(Weak::new());
    let mut shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(inputs) = shared.upgrade() {
        return inputs;
    }
    let dir = super::scratch("crafted");
    remove_stale_beside(&dir);
    // Writing the models is mostly the kernel's work, ingesting the document the CPU's.
    let (models, documents) = std::thread::scope(|scope| {
        let models = scope.spawn(|| models(&dir));
        let documents = documents(&dir);
        (models.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)), documents)
    });
    let inputs = Arc::new(CraftedInputs { models, documents, dir });
    *shared = Arc::downgrade(&inputs);
    inputs
}

type CraftModel = fn(&mut CraftedGguf);

/// The models: the hyperparameters llama.cpp asserts on (found in its model loader) and
/// non-finite numbers, refused by focusllm before llama.cpp reads them, and two flaws
/// llama.cpp reports itself.
const MODELS: &[(&str, CraftModel, Expect)] = &[
    ("unchanged (the control)", |g| g.set("llama.block_count", GgufValue::U32(30)), Expect::Loads),
    (
        "block_count 0",
        |g| g.set("llama.block_count", GgufValue::U32(0)),
        Expect::Refused("llama.block_count is 0; llama.cpp accepts 1..=512"),
    ),
    (
        "block_count 1000",
        |g| g.set("llama.block_count", GgufValue::U32(1000)),
        Expect::Refused("llama.block_count is 1000; llama.cpp accepts 1..=512"),
    ),
    (
        "block_count 31 (in range; one layer's tensors missing, llama.cpp's own error)",
        |g| g.set("llama.block_count", GgufValue::U32(31)),
        Expect::Refused("tensor 'blk.30."),
    ),
    (
        "block_count of another type (llama.cpp's own error)",
        |g| g.set("llama.block_count", GgufValue::I32(0)),
        Expect::Refused("llama.block_count has wrong type i32"),
    ),
    (
        "rope.freq_base NaN",
        |g| g.set("llama.rope.freq_base", GgufValue::F32(f32::NAN)),
        Expect::Refused("llama.rope.freq_base is NaN; hyperparameters must be finite numbers"),
    ),
    (
        "rope.freq_base +inf",
        |g| g.set("llama.rope.freq_base", GgufValue::F32(f32::INFINITY)),
        Expect::Refused("llama.rope.freq_base is inf; hyperparameters must be finite numbers"),
    ),
    (
        "rope.freq_base 0",
        |g| g.set("llama.rope.freq_base", GgufValue::F32(0.0)),
        Expect::Refused("llama.rope.freq_base is 0; a RoPE base must be positive"),
    ),
    (
        "layer_norm_rms_epsilon NaN",
        |g| g.set("llama.attention.layer_norm_rms_epsilon", GgufValue::F32(f32::NAN)),
        Expect::Refused("llama.attention.layer_norm_rms_epsilon is NaN; hyperparameters must be finite numbers"),
    ),
    (
        "nextn_predict_layers 31 (more than block_count)",
        |g| g.set("llama.nextn_predict_layers", GgufValue::U32(31)),
        Expect::Refused("llama.nextn_predict_layers is 31; llama.cpp accepts 0..=30"),
    ),
    (
        "expert_count 2000",
        |g| g.set("llama.expert_count", GgufValue::U32(2000)),
        Expect::Refused("llama.expert_count is 2000; llama.cpp accepts 0..=1024"),
    ),
    (
        "expert_used_count 2 without experts",
        |g| g.set("llama.expert_used_count", GgufValue::U32(2)),
        Expect::Refused("llama.expert_used_count is 2; llama.cpp accepts 0..=0"),
    ),
    (
        "expert_used_count per layer, one above expert_count",
        |g| {
            g.set("llama.expert_count", GgufValue::U32(4));
            let mut per_layer = vec![2; 30];
            per_layer[29] = 5;
            g.set_u32_array("llama.expert_used_count", &per_layer);
        },
        Expect::Refused("llama.expert_used_count is 5; llama.cpp accepts 1..=4"),
    ),
    (
        "rope.scaling.type unknown",
        |g| g.set("llama.rope.scaling.type", GgufValue::Str("bogus".into())),
        Expect::Refused("llama.rope.scaling.type is \"bogus\"; llama.cpp knows"),
    ),
];

/// Removes the crafted files (over a GB of models) that runs killed before their end left
/// beside `dir`: those over an hour old (a run takes seconds).
fn remove_stale_beside(dir: &Path) {
    let Some(parent) = dir.parent() else { return };
    for entry in std::fs::read_dir(parent).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let age = entry.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
        let stale = age.is_some_and(|age| age > Duration::from_secs(3600));
        if stale && name.starts_with("focusllm-bad-input-") && name.ends_with("-crafted") {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn models(dir: &Path) -> Vec<Crafted> {
    let source = CraftedGguf::read(&crate::common::default_model());
    MODELS
        .iter()
        .enumerate()
        .map(|(i, &(what, craft, expect))| {
            let mut crafted = source.clone();
            craft(&mut crafted);
            Crafted { what, path: crafted.write(dir, &format!("model-{i}.gguf")), expect }
        })
        .collect()
}

type CraftDocument = fn(&[u8]) -> Vec<u8>;

/// The documents: the files (valid checksums, lying lengths, positions, order or
/// text) and the other ways a state can lie.
const DOCUMENTS: &[(&str, CraftDocument, Expect)] = &[
    ("unchanged, every checksum recomputed (the control)", |good| with_state(good, 0, |_| {}), Expect::Loads),
    (
        "chunk lengths whose sum wraps to the file size (chunk 0 + 1 TiB)",
        |good| wrapping_lengths(good, 1 << 40),
        Expect::Refused("damaged: the chunks' KV lengths add up past 2^64 bytes"),
    ),
    (
        "chunk 0's length 1 MiB + 1 shorter, chunk 1's longer by as much (2^64 - 1 MiB added and taken)",
        |good| wrapping_lengths(good, u64::MAX - (1 << 20)),
        Expect::Refused("damaged: chunk 0's KV: KV cache 0's K/V rows do not fit the state"),
    ),
    (
        "chunk lengths whose sum wraps to the file size (chunk 0 + 2^63)",
        |good| wrapping_lengths(good, 1 << 63),
        Expect::Refused("damaged: the chunks' KV lengths add up past 2^64 bytes"),
    ),
    (
        "a chunk length of 2^64 - 1",
        |good| {
            let mut crafted = good.to_vec();
            put_u64(&mut crafted, layout(good).records[2].at + REC_LEN, u64::MAX);
            reseal(&mut crafted);
            crafted
        },
        Expect::Refused("damaged: the chunks' KV lengths add up past 2^64 bytes"),
    ),
    (
        "a KV cell at position -7",
        |good| with_state(good, 1, |s| put_u32(s, first_cell(s), (-7i32) as u32)),
        Expect::Refused(
            "damaged: chunk 1's KV: KV cache 0 holds … cells at positions -7..=…, the chunk has positions 0..",
        ),
    ),
    (
        "a KV cell past its chunk",
        |good| {
            let chunk = &layout(good).records[1];
            let past = (chunk.end - chunk.start) as u32 + 400;
            with_state(good, 1, |s| put_u32(s, first_cell(s), past))
        },
        Expect::Refused("damaged: chunk 1's KV: KV cache 0 holds … cells at positions …, the chunk has positions 0.."),
    ),
    (
        "a KV position twice",
        |good| with_state(good, 1, |s| put_u32(s, first_cell(s), 1)),
        Expect::Refused("damaged: chunk 1's KV: KV cache 0 holds … cells at positions … (some twice)"),
    ),
    (
        "a KV cell of another sequence",
        |good| with_state(good, 1, |s| put_u32(s, first_cell(s) + 8, u32_at(s, 4) + 1)),
        Expect::Refused("damaged: chunk 1's KV: cell 0 belongs to 1 sequence(s) (id 2), not to sequence 1 alone"),
    ),
    (
        "two chunks' states swapped",
        swapped_states,
        Expect::Refused("damaged: chunk 0's KV (offset …) fails its check (damaged, or moved from another chunk)"),
    ),
    (
        "the text changed under its states",
        |good| {
            let text = layout(good).text;
            let at = text.start + good[text].windows(6).position(|w| w == b"Tobias").expect("the name");
            let mut crafted = good.to_vec();
            crafted[at..at + 6].copy_from_slice(b"Marcus");
            reseal_header(&mut crafted);
            crafted
        },
        Expect::Refused("damaged: the text is … tokens after a prefix of …, the header says"),
    ),
    (
        "one more KV stream than the state has",
        |good| {
            with_state(good, 0, |s| {
                let streams = u32_at(s, 8);
                assert!(streams > 1, "a split-KV state has a stream per sequence");
                put_u32(s, 8, streams + 1);
            })
        },
        Expect::Refused("damaged: chunk 0's KV: the state ends early"),
    ),
    (
        "layer 0's K cells said to be f32, not f16 (same row size: only llama.cpp can tell)",
        |good| {
            with_state(good, 0, |s| {
                let cells = first_cell(s);
                let n_cells = u32_at(s, cells - 4) as usize;
                let k_type = cells + 12 * n_cells + 16;
                assert_eq!(u32_at(s, k_type), 1, "f16 K cells");
                put_u32(s, k_type, 0);
            })
        },
        Expect::RefusedWhenAsked("damaged: chunk 0's KV: loading the KV of sequence 0 failed"),
    ),
    (
        "format version 1",
        |good| {
            let mut old = good.to_vec();
            put_u32(&mut old, 8, 1);
            reseal_header(&mut old);
            old
        },
        Expect::Refused(
            "format version 1 was written by an earlier focusllm … process the document again (`focusllm ingest`)",
        ),
    ),
];

/// About 300 tokens: several chunks in the matrix's 256-token window, a name in the last.
fn document_text() -> String {
    "The grass is green and the sky is blue. ".repeat(24) + "The keeper of the lighthouse is Tobias Wren."
}

fn documents(dir: &Path) -> Vec<Crafted> {
    let good = saved_document(dir);
    let records = layout(&good).records;
    assert!(records.len() >= 3, "the crafted documents need three chunks, the saved one has {}", records.len());
    DOCUMENTS
        .iter()
        .enumerate()
        .map(|(i, &(what, craft, expect))| {
            let path = dir.join(format!("document-{i}.fllm"));
            std::fs::write(&path, craft(&good)).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
            Crafted { what, path, expect }
        })
        .collect()
}

/// [`document_text`] ingested and saved through the C API with the matrix's session
/// parameters (the command-line rows ask with the same settings: `-t 1 --window 256`).
fn saved_document(dir: &Path) -> Vec<u8> {
    let path = dir.join("good.fllm");
    let path_str = path.to_str().expect("a UTF-8 scratch path");
    let (model, session) = super::default_session();
    let text = document_text();
    let mut document = null_mut();
    // SAFETY: live handles, each freed once; the text and path are valid for their lengths.
    unsafe {
        let params = super::document_params();
        let status = focusllm_document_ingest(
            session,
            text.as_ptr().cast(),
            text.len(),
            &params,
            None,
            null_mut(),
            &mut document,
        );
        assert_eq!(status, S::Ok, "ingest: {}", super::last_error());
        let status = focusllm_document_save(document, path_str.as_ptr().cast(), path_str.len());
        assert_eq!(status, S::Ok, "save: {}", super::last_error());
        focusllm_document_free(document);
        focusllm_session_free(session);
        focusllm_model_free(model);
    }
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    std::fs::remove_file(&path).ok();
    bytes
}

/// Chunk 0's length plus `big`, chunk 1's minus `big`: the sum modulo 2^64, so the file's
/// length, is unchanged.
fn wrapping_lengths(good: &[u8], big: u64) -> Vec<u8> {
    let mut crafted = good.to_vec();
    let table = layout(good);
    let (first, second) = (&table.records[0], &table.records[1]);
    put_u64(&mut crafted, first.at + REC_LEN, first.len.wrapping_add(big));
    put_u64(&mut crafted, second.at + REC_LEN, second.len.wrapping_sub(big));
    reseal(&mut crafted);
    crafted
}

/// Chunk `index`'s state bytes changed by `change`, every checksum recomputed.
fn with_state(good: &[u8], index: usize, change: impl FnOnce(&mut [u8])) -> Vec<u8> {
    let mut crafted = good.to_vec();
    let range = layout(good).state(index).expect("a well-formed document");
    change(&mut crafted[range]);
    reseal(&mut crafted);
    crafted
}

/// Chunks 0 and 1 (both full, so their states have the same length) swapped with their
/// checks, as a tool that reorders the file would, and the header's CRC recomputed. (A forger
/// who also recomputes each record's check can swap them unseen: only decoding the chunks
/// again could tell their KV apart.)
fn swapped_states(good: &[u8]) -> Vec<u8> {
    let table = layout(good);
    let (a, b) = (table.state(0).expect("chunk 0"), table.state(1).expect("chunk 1"));
    assert_eq!(a.len(), b.len(), "two full chunks");
    let mut crafted = good.to_vec();
    crafted[a.clone()].copy_from_slice(&good[b.clone()]);
    crafted[b].copy_from_slice(&good[a]);
    let (first, second) = (table.records[0].at + REC_CHECK, table.records[1].at + REC_CHECK);
    crafted[first..first + 4].copy_from_slice(&good[second..second + 4]);
    crafted[second..second + 4].copy_from_slice(&good[first..first + 4]);
    reseal_header(&mut crafted);
    crafted
}
