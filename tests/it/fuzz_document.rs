//! Fuzzing the `.fllm` reader: mutations of a real small saved document (bit flips,
//! truncations, splices, header fields and the chunk states' own fields set to extreme
//! values), with the checksums recomputed where the mutation says so, so that it reaches
//! the parser and the state checks instead of stopping at a checksum. Every file must be
//! refused as a damaged file (or as another model's, when the key was changed), or load and
//! answer a question; never panic, abort or be refused by llama.cpp as a mismatch.
//!
//! Runs `FOCUSLLM_FUZZ_CASES` random cases (default 48, a few seconds), and the regression
//! cases in [`regressions`], always. When a case fails, proptest prints the smallest mutation
//! that fails and records its seed in `tests/it/fuzz_document.proptest-regressions` (replayed
//! first on every run; commit it); add the printed mutation to [`regressions`] with the fix,
//! where it stays readable when the strategies change. The crafted files are rows of
//! the bad-input matrix (`tests/it/bad_input.rs`), not repeated here.

use crate::common;
use crate::fllm;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use fllm::{layout, put_u32, put_u64, reseal, reseal_header, u32_at};
use focusllm::{DocumentParams, Error, FocusParams, GenerateParams, Model, ModelParams, Observer};
use focusllm::{Session, SessionParams, Strategy as EngineStrategy};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// A header field (file offsets from the saved document's layout).
#[derive(Debug, Clone, Copy)]
enum Field {
    Version,
    HeaderLen,
    KeyCount,
    TextLen,
    PrefixCount,
    DocumentTokens,
    ChunkCount,
    /// Part `part` of chunk record `chunk`: 0 index, 1 start, 2 end, 3 tokens CRC,
    /// 4 state length, 5 state check.
    Record {
        chunk: usize,
        part: usize,
    },
}

/// A word of a chunk's llama.cpp state.
#[derive(Debug, Clone, Copy)]
enum StateWord {
    Magic,
    Sequence,
    Streams,
    /// The cell count of the sequence's own stream.
    Cells,
    /// Word `word` (0 position, 1 sequence count, 2 sequence id) of cell `cell`.
    Cell {
        cell: usize,
        word: usize,
    },
    VTrans,
    Layers,
    KType,
    KRowLow,
    KRowHigh,
}

#[derive(Debug, Clone, Copy)]
enum Value {
    Exact(u64),
    /// The field's value plus this.
    Delta(i64),
}

#[derive(Debug, Clone)]
enum Mutation {
    /// Flips `bit` of the byte at `at` (modulo the header or state region chosen).
    Flip { in_header: bool, at: usize, bit: u8, reseal: bool },
    /// Keeps the first `len` bytes (modulo the file's length).
    Truncate { len: usize },
    /// Removes `remove` bytes at `at` (modulo the header) and inserts `insert`; the header
    /// CRC is recomputed.
    Splice { at: usize, remove: usize, insert: Vec<u8> },
    /// Sets a header field, every checksum recomputed.
    Field { field: Field, value: Value },
    /// Sets a word of chunk `chunk`'s state, every checksum recomputed.
    State { chunk: usize, word: StateWord, value: Value },
    /// Several mutations in turn.
    All(Vec<Mutation>),
}

/// Inputs that once failed, and each field at an extreme the random cases seldom reach, run
/// every time.
fn regressions() -> Vec<Mutation> {
    vec![
        // A state's stream count, cell count and the high word of its K row size at 2^32 - 1.
        Mutation::State { chunk: 0, word: StateWord::Streams, value: Value::Exact(u32::MAX as u64) },
        Mutation::State { chunk: 0, word: StateWord::Cells, value: Value::Exact(u32::MAX as u64) },
        Mutation::State { chunk: 0, word: StateWord::KRowHigh, value: Value::Exact(u32::MAX as u64) },
        // Header fields at their largest: header and text length, chunk count, a chunk's end.
        Mutation::Field { field: Field::HeaderLen, value: Value::Exact(u32::MAX as u64) },
        Mutation::Field { field: Field::TextLen, value: Value::Exact(u64::MAX) },
        Mutation::Field { field: Field::ChunkCount, value: Value::Exact(u32::MAX as u64) },
        Mutation::Field { field: Field::Record { chunk: 0, part: 2 }, value: Value::Exact(u64::MAX) },
        // Found by the fuzzer (a harness bug then: fields written past a cut file).
        Mutation::All(vec![
            Mutation::Truncate { len: 1559511619601937 },
            Mutation::Field { field: Field::Version, value: Value::Exact(78585824) },
        ]),
    ]
}

/// The saved document, its file offsets, and the session that loads it.
struct Fixture {
    session: Session,
    good: Vec<u8>,
    dir: tempfile::TempDir,
    /// Field -> (file offset, width in bytes).
    header: Vec<(usize, usize)>,
    /// Per chunk: the state's start in the file and the offsets of its words.
    states: Vec<(usize, StateOffsets)>,
}

#[derive(Debug, Clone, Copy)]
struct StateOffsets {
    streams: usize,
    cells: usize,
    first_cell: usize,
    n_cells: usize,
    v_trans: usize,
}

fn fixture() -> &'static Mutex<Fixture> {
    static FIXTURE: OnceLock<Mutex<Fixture>> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let model: Arc<Model> = Model::load(&common::default_model(), &ModelParams::default()).unwrap();
        let focus = FocusParams {
            strategy: EngineStrategy::Focus,
            window: 256,
            use_chat_template: false,
            ..Default::default()
        };
        let mut session = Session::new(model, SessionParams { context: common::test_context_params(), focus }).unwrap();
        let text = "The grass is green and the sky is blue. ".repeat(25) + "The keeper is Tobias Wren. ";
        let document = session.ingest(&text, &DocumentParams::default(), &mut |_| true).unwrap();
        assert!(document.info().chunks >= 3, "{:?}", document.info());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("good.fllm");
        document.save(&path).unwrap();
        let good = std::fs::read(&path).unwrap();
        let table = layout(&good);
        let key_end = {
            let mut at = 20;
            for _ in 0..2 * u32_at(&good, 16) {
                at += 4 + u32_at(&good, at) as usize;
            }
            at
        };
        let prefix_at = table.text.end;
        let tokens_at = prefix_at + 4 + 4 * u32_at(&good, prefix_at) as usize;
        let header = vec![(8, 4), (12, 4), (16, 4), (key_end, 8), (prefix_at, 4), (tokens_at, 8), (tokens_at + 8, 4)];
        let states = (0..table.records.len())
            .map(|i| {
                let range = table.state(i).unwrap();
                let state = &good[range.clone()];
                let first_cell = fllm::first_cell(state);
                let n_cells = u32_at(state, first_cell - 4) as usize;
                let offsets = StateOffsets {
                    streams: 8,
                    cells: first_cell - 4,
                    first_cell,
                    n_cells,
                    v_trans: first_cell + 12 * n_cells,
                };
                (range.start, offsets)
            })
            .collect();
        Mutex::new(Fixture { session, good, dir, header, states })
    })
}

impl Fixture {
    fn apply(&self, bytes: &mut Vec<u8>, mutation: &Mutation) {
        let header_end = 16 + u32_at(&self.good, 12) as usize;
        match mutation {
            Mutation::Flip { in_header, at, bit, reseal: again } => {
                let at = if *in_header {
                    at % header_end
                } else {
                    // The structural part of a state: its first words and cells.
                    let (start, offsets) = self.states[at % self.states.len()];
                    start + (at / self.states.len()) % (offsets.v_trans + 40)
                };
                if at < bytes.len() {
                    bytes[at] ^= 1 << (bit % 8);
                }
                if *again {
                    reseal(bytes);
                }
            }
            Mutation::Truncate { len } => bytes.truncate(len % self.good.len()),
            Mutation::Splice { at, remove, insert } => {
                let at = (at % header_end).min(bytes.len());
                let end = (at + remove).min(bytes.len());
                bytes.splice(at..end, insert.iter().copied());
                reseal_header(bytes);
            }
            Mutation::Field { field, value } => {
                let (at, width) = match *field {
                    Field::Version => self.header[0],
                    Field::HeaderLen => self.header[1],
                    Field::KeyCount => self.header[2],
                    Field::TextLen => self.header[3],
                    Field::PrefixCount => self.header[4],
                    Field::DocumentTokens => self.header[5],
                    Field::ChunkCount => self.header[6],
                    Field::Record { chunk, part } => {
                        let record = &layout(&self.good).records[chunk % self.states.len()];
                        let offset = [0, 4, 12, 20, 24, 32][part % 6];
                        (record.at + offset, if matches!(offset, 4 | 12 | 24) { 8 } else { 4 })
                    }
                };
                set(bytes, at, width, *value);
                reseal(bytes);
            }
            Mutation::State { chunk, word, value } => {
                let (start, o) = self.states[chunk % self.states.len()];
                let at = match *word {
                    StateWord::Magic => 0,
                    StateWord::Sequence => 4,
                    StateWord::Streams => o.streams,
                    StateWord::Cells => o.cells,
                    StateWord::Cell { cell, word } => o.first_cell + 12 * (cell % o.n_cells) + 4 * (word % 3),
                    StateWord::VTrans => o.v_trans,
                    StateWord::Layers => o.v_trans + 4,
                    StateWord::KType => o.v_trans + 16,
                    StateWord::KRowLow => o.v_trans + 20,
                    StateWord::KRowHigh => o.v_trans + 24,
                };
                set(bytes, start + at, 4, *value);
                reseal(bytes);
            }
            Mutation::All(mutations) => {
                for m in mutations {
                    self.apply(bytes, m);
                }
            }
        }
    }
}

/// Sets the field at `at` (nothing when an earlier mutation cut the file before it).
fn set(bytes: &mut [u8], at: usize, width: usize, value: Value) {
    if at + width > bytes.len() {
        return;
    }
    if width == 8 {
        let old = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
        let new = match value {
            Value::Exact(v) => v,
            Value::Delta(d) => old.wrapping_add(d as u64),
        };
        put_u64(bytes, at, new);
    } else {
        let old = u32_at(bytes, at);
        let new = match value {
            Value::Exact(v) => v as u32,
            Value::Delta(d) => old.wrapping_add(d as u32),
        };
        put_u32(bytes, at, new);
    }
}

/// What happened to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Refused,
    OtherModel,
    LoadedAndAnswered,
    LoadedThenRefused,
}

static COUNTS: [AtomicUsize; 4] = [const { AtomicUsize::new(0) }; 4];

/// Loads the mutated file and, when it loads, asks a one-token question.
fn run(mutation: &Mutation) -> Result<Outcome, String> {
    let mut fixture = fixture().lock().unwrap_or_else(|e| e.into_inner());
    let mut bytes = fixture.good.clone();
    fixture.apply(&mut bytes, mutation);
    let path: PathBuf = fixture.dir.path().join("fuzzed.fllm");
    std::fs::write(&path, &bytes).unwrap();
    let started = std::time::Instant::now();
    let outcome = match fixture.session.load_document(&path) {
        Err(Error::DocumentFile { .. }) => Outcome::Refused,
        Err(Error::DocumentMismatch(m)) if !m.contains("loading the KV") => Outcome::OtherModel,
        Err(other) => return Err(format!("refused as {other:?}, not as a damaged file")),
        Ok(document) => {
            let params = GenerateParams { max_tokens: 1, ..Default::default() };
            let quiet = Observer { on_piece: &mut |_: &str, _: &[focusllm::Token]| true, on_progress: &mut |_| true };
            match fixture.session.ask_document(&document, "Who is the keeper?", &params, quiet) {
                Ok(_) => Outcome::LoadedAndAnswered,
                Err(Error::DocumentFile { .. }) => Outcome::LoadedThenRefused,
                Err(other) => return Err(format!("loaded, then a question gave {other:?}")),
            }
        }
    };
    COUNTS[outcome as usize].fetch_add(1, Ordering::Relaxed);
    let shown = format!("{mutation:?}");
    let ms = started.elapsed().as_millis();
    eprintln!("case: {outcome:?} ({ms} ms): {}", &shown[..shown.len().min(160)]);
    Ok(outcome)
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(vec![0, 1, 2, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 1 << 32, 1 << 40, 1 << 63, u64::MAX])
            .prop_map(Value::Exact),
        any::<u64>().prop_map(Value::Exact),
        (-16i64..16).prop_map(Value::Delta),
        prop::sample::select(vec![1 << 40, -(1 << 40), i64::MAX, i64::MIN]).prop_map(Value::Delta),
    ]
}

fn field() -> impl Strategy<Value = Field> {
    prop_oneof![
        prop::sample::select(vec![
            Field::Version,
            Field::HeaderLen,
            Field::KeyCount,
            Field::TextLen,
            Field::PrefixCount,
            Field::DocumentTokens,
            Field::ChunkCount
        ]),
        (0..8usize, 0..6usize).prop_map(|(chunk, part)| Field::Record { chunk, part }),
    ]
}

fn state_word() -> impl Strategy<Value = StateWord> {
    prop_oneof![
        prop::sample::select(vec![
            StateWord::Magic,
            StateWord::Sequence,
            StateWord::Streams,
            StateWord::Cells,
            StateWord::VTrans,
            StateWord::Layers,
            StateWord::KType,
            StateWord::KRowLow,
            StateWord::KRowHigh
        ]),
        (0..1000usize, 0..3usize).prop_map(|(cell, word)| StateWord::Cell { cell, word }),
    ]
}

fn single() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<bool>(), any::<usize>(), any::<u8>(), any::<bool>())
            .prop_map(|(in_header, at, bit, reseal)| Mutation::Flip { in_header, at, bit, reseal }),
        any::<usize>().prop_map(|len| Mutation::Truncate { len }),
        (any::<usize>(), 0..16usize, prop::collection::vec(any::<u8>(), 0..16))
            .prop_map(|(at, remove, insert)| Mutation::Splice { at, remove, insert }),
        (field(), value()).prop_map(|(field, value)| Mutation::Field { field, value }),
        (0..8usize, state_word(), value()).prop_map(|(chunk, word, value)| Mutation::State { chunk, word, value }),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![4 => single(), 1 => prop::collection::vec(single(), 2..4).prop_map(Mutation::All)]
}

fn cases() -> u32 {
    std::env::var("FOCUSLLM_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        max_shrink_iters: 200,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("tests/it/fuzz_document.proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_documents_are_refused_or_answer(m in mutation()) {
        let outcome = run(&m);
        prop_assert!(outcome.is_ok(), "{m:?}: {}", outcome.unwrap_err());
    }
}

#[test]
fn regression_cases_are_refused() {
    for m in regressions() {
        assert_eq!(run(&m), Ok(Outcome::Refused), "{m:?}");
    }
    // The unchanged file loads and answers: the harness itself does not refuse everything.
    assert_eq!(run(&Mutation::All(vec![])), Ok(Outcome::LoadedAndAnswered));
    let [refused, other, answered, late] = COUNTS.each_ref().map(|c| c.load(Ordering::Relaxed));
    eprintln!(
        "outcomes so far: {refused} refused, {other} another model's, {answered} answered, {late} refused when asked"
    );
}
