//! Processed documents against the real default model: the same answers as a plain `ask`
//! (in memory, spilled, saved and loaded), and clear errors for files that must be refused.

use crate::common;

use std::path::Path;
use std::sync::Arc;

use crate::tasks;
use focusllm::{
    Answer, DirectWhenFits, Document, DocumentParams, Error, FocusParams, GenerateParams, Model, ModelParams, Observer,
};
use focusllm::{Session, SessionParams, Strategy};

fn model() -> Arc<Model> {
    Model::load(&common::default_model(), &ModelParams::default()).expect("default model loads")
}

/// A session that plans for a small window, so short documents are chunked.
fn session(model: Arc<Model>, strategy: Strategy, window: u32) -> Session {
    let focus = FocusParams { strategy, window, use_chat_template: false, ..Default::default() };
    Session::new(model, SessionParams { context: common::test_context_params(), focus }).unwrap()
}

fn params() -> GenerateParams {
    GenerateParams { max_tokens: 6, ..Default::default() }
}

fn quiet() -> Observer<'static> {
    Observer {
        on_piece: Box::leak(Box::new(|_: &str, _: &[focusllm::Token]| true)),
        on_progress: Box::leak(Box::new(|_| true)),
    }
}

fn ingest(session: &mut Session, text: &str, budget: u64) -> Document {
    let params = DocumentParams { memory_budget_bytes: budget, ..DocumentParams::default() };
    session.ingest(text, &params, &mut |_| true).expect("ingest")
}

fn passkey(model: &Model, tokens: usize, depth: f64, key: u32) -> tasks::Case {
    let count = |text: &str| model.tokenize(text, false, false).map(|t| t.len());
    tasks::passkey(tokens, depth, key, &count).unwrap()
}

fn ask_doc(session: &mut Session, document: &Document, question: &str) -> Answer {
    session.ask_document(document, question, &params(), quiet()).expect("ask_document")
}

#[test]
fn a_document_gives_the_plain_answer_in_memory_spilled_and_from_a_file() {
    let model = model();
    let case = passkey(&model, 2200, 0.6, 52817);
    for strategy in [Strategy::Focus, Strategy::LogitFusion] {
        let mut session = session(model.clone(), strategy, 1024);
        let plain = session.ask(&case.document, &case.question, &params(), quiet()).unwrap();
        assert!(!plain.stats.direct && plain.stats.chunks >= 3, "{:?}", plain.stats);

        let mut progress = Vec::new();
        let document = session
            .ingest(&case.document, &DocumentParams::default(), &mut |p| {
                progress.push(p);
                true
            })
            .unwrap();
        let info = document.info();
        assert_eq!((info.chunks, info.store.in_memory), (plain.stats.chunks, plain.stats.chunks), "{info:?}");
        assert!(progress.last().is_some_and(|p| p.done == p.total && p.total > 2000), "{progress:?}");

        let cached = ask_doc(&mut session, &document, &case.question);
        assert_eq!(cached.generation.tokens, plain.generation.tokens, "{strategy:?}: cached vs plain");
        // The steps: a plain ask decodes every chunk, a question on the document loads them.
        let step = |answer: &Answer, name: &str| answer.stats.phases.iter().find(|p| p.name == name).cloned();
        let decoded = step(&plain, "decode chunks").expect("a plain ask decodes its chunks");
        assert!(decoded.tokens > 2000 && decoded.seconds > 0.0, "{:?}", plain.stats.phases);
        assert!(step(&plain, "load chunk KV").is_none(), "{:?}", plain.stats.phases);
        let loaded = step(&cached, "load chunk KV").expect("a document's question loads its chunks");
        assert_eq!(loaded.tokens, decoded.tokens, "{:?}", cached.stats.phases);
        assert_eq!(step(&cached, "decode chunks").map(|p| p.tokens), Some(0), "{:?}", cached.stats.phases);
        let scoring = step(&cached, "question after each chunk").expect("the scoring pass");
        assert_eq!(scoring.tokens % plain.stats.chunks, 0, "{:?}", cached.stats.phases);
        let total: f64 = cached.stats.phases.iter().map(|p| p.seconds).sum();
        assert!(total <= cached.stats.prefill_seconds, "{:?} vs {}", cached.stats.phases, cached.stats.prefill_seconds);
        if strategy == Strategy::Focus {
            let names: Vec<&str> = plain.stats.phases.iter().map(|p| p.name).collect();
            assert_eq!(names.last(), Some(&"read kept chunks"), "{names:?}");
        }
        assert_eq!(cached.stats.selected_chunks, plain.stats.selected_chunks);
        // A second question on the same document, then the first again: nothing is used up.
        let other = ask_doc(&mut session, &document, "What is the grass?");
        assert!(!other.generation.tokens.is_empty());
        assert_eq!(ask_doc(&mut session, &document, &case.question).generation.tokens, plain.generation.tokens);

        // A budget of one byte: every state goes to the spill file.
        let spilled = ingest(&mut session, &case.document, 1);
        let counts = spilled.info().store;
        assert_eq!((counts.in_memory, counts.in_file), (0, plain.stats.chunks), "{counts:?}");
        assert_eq!(ask_doc(&mut session, &spilled, &case.question).generation.tokens, plain.generation.tokens);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("doc.fllm");
        spilled.save(&path).unwrap();
        let loaded = session.load_document(&path).unwrap();
        assert_eq!(loaded.info().store.in_file, plain.stats.chunks);
        assert_eq!(loaded.text(), case.document);
        assert_eq!(ask_doc(&mut session, &loaded, &case.question).generation.tokens, plain.generation.tokens);
        if strategy == Strategy::Focus {
            assert!(case.is_correct(&plain.generation.text), "{:?}", plain.generation.text);
        }
    }
}

#[test]
fn a_short_document_is_answered_directly() {
    let model = model();
    let mut session = session(model, Strategy::Focus, 1024);
    let text = "The cat is called Mira. ";
    let document = ingest(&mut session, text, 0);
    assert_eq!(document.info().chunks, 0);
    let question = "What is the cat called?";
    let plain = session.ask(text, question, &params(), quiet()).unwrap();
    let cached = ask_doc(&mut session, &document, question);
    assert!(cached.stats.direct);
    assert_eq!(cached.generation.tokens, plain.generation.tokens);
}

#[test]
fn direct_when_fits_never_reads_a_short_document_in_chunks_from_memory_too() {
    let model = model();
    // About 600 tokens: well within the 1024-token window, longer than the question.
    let case = passkey(&model, 600, 0.5, 48213);
    let focus = FocusParams {
        window: 1024,
        use_chat_template: false,
        direct_when_fits: DirectWhenFits::Never,
        ..Default::default()
    };
    let mut session = Session::new(model, SessionParams { context: common::test_context_params(), focus }).unwrap();
    let document = ingest(&mut session, &case.document, 0);
    assert!(document.info().chunks >= 2, "{:?}", document.info());
    let plain = session.ask(&case.document, &case.question, &params(), quiet()).unwrap();
    let cached = ask_doc(&mut session, &document, &case.question);
    assert!(!plain.stats.direct && plain.stats.chunks == document.info().chunks, "{:?}", plain.stats);
    assert_eq!(cached.generation.tokens, plain.generation.tokens);
    assert!(case.is_correct(&plain.generation.text), "{:?}", plain.generation.text);
}

#[test]
fn bad_documents_and_settings_are_refused() {
    let model = model();
    let mut session = session(model.clone(), Strategy::Focus, 512);
    let quiet_ingest = |s: &mut Session, text: &str| s.ingest(text, &DocumentParams::default(), &mut |_| true);
    assert!(matches!(quiet_ingest(&mut session, ""), Err(Error::InvalidInput(m)) if m.contains("empty")));
    assert!(matches!(quiet_ingest(&mut session, " \n "), Err(Error::InvalidInput(m)) if m.contains("whitespace")));
    let mut candidate = self::session(model.clone(), Strategy::Candidate, 512);
    assert!(matches!(quiet_ingest(&mut candidate, "text"), Err(Error::Unsupported(_))));
    let missing_dir =
        DocumentParams { memory_budget_bytes: 1, spill_dir: Some("/nonexistent/spill".into()), save_path: None };
    match session.ingest("text", &missing_dir, &mut |_| true) {
        Err(Error::Io { source, .. }) => assert!(source.to_string().contains("does not exist"), "{source}"),
        r => panic!("expected an I/O error, got {r:?}"),
    }
    let a_file = tempfile::NamedTempFile::new().unwrap();
    let file_as_dir = DocumentParams { spill_dir: Some(a_file.path().into()), ..DocumentParams::default() };
    match session.ingest("text", &file_as_dir, &mut |_| true) {
        Err(Error::Io { source, .. }) => assert!(source.to_string().contains("not a directory"), "{source}"),
        r => panic!("expected an I/O error, got {r:?}"),
    }

    let text = "The grass is green and the sky is blue. ".repeat(60);
    let document = ingest(&mut session, &text, 0);
    assert!(document.info().chunks >= 2);
    assert!(matches!(
        session.ask_document(&document, "   ", &params(), quiet()),
        Err(Error::InvalidInput(m)) if m.contains("question")
    ));
    // Another chunking: the document's KV does not fit this session, and the message says why.
    let mut other = self::session(model.clone(), Strategy::Focus, 1024);
    match other.ask_document(&document, "What color is the grass?", &params(), quiet()) {
        Err(Error::DocumentMismatch(m)) => assert!(m.contains("window") && m.contains("chunk_len"), "{m}"),
        r => panic!("expected a mismatch, got {r:?}"),
    }

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("doc.fllm");
    document.save(&path).unwrap();
    let good = std::fs::read(&path).unwrap();
    match other.load_document(&path) {
        Err(Error::DocumentMismatch(m)) => assert!(m.contains("chunk_len"), "{m}"),
        r => panic!("expected a mismatch, got {r:?}"),
    }
    let bad = dir.path().join("bad.fllm");
    let refused = |session: &mut Session, bytes: &[u8]| -> String {
        std::fs::write(&bad, bytes).unwrap();
        match session.load_document(&bad) {
            Err(Error::DocumentFile { reason, .. }) => reason,
            Err(Error::DocumentMismatch(m)) => m,
            r => panic!("a damaged file loaded: {r:?}"),
        }
    };
    // Another model: same layout, another identity (the header checksum made to match).
    let mut foreign = good.clone();
    let header_len = u32::from_le_bytes(foreign[12..16].try_into().unwrap()) as usize;
    let at = find(&foreign[..16 + header_len], b"vocab crc ").expect("the model identity is in the header");
    foreign[at + 10] = if foreign[at + 10] == b'0' { b'1' } else { b'0' };
    let crc = crc32fast::hash(&foreign[..16 + header_len]);
    foreign[16 + header_len..20 + header_len].copy_from_slice(&crc.to_le_bytes());
    assert!(refused(&mut session, &foreign).contains("model"));
    // A future format version.
    let mut future = good.clone();
    future[8..12].copy_from_slice(&(focusllm::DOCUMENT_FORMAT_VERSION + 1).to_le_bytes());
    assert!(refused(&mut session, &future).contains("newer"));
    assert!(refused(&mut session, b"GGUF not a document").contains("not a focusllm document"));
    for len in [0, 7, 15, 19, 16 + header_len, 20 + header_len, good.len() / 2, good.len() - 1] {
        let reason = refused(&mut session, &good[..len]);
        assert!(reason.contains("truncated") || reason.contains("shorter"), "{len}: {reason}");
    }
    // Flipped bytes anywhere: always a clear refusal, never a crash or a loaded document.
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    for _ in 0..40 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut flipped = good.clone();
        let at = (seed % good.len() as u64) as usize;
        flipped[at] ^= 1 << (seed >> 61);
        let reason = refused(&mut session, &flipped);
        assert!(!reason.is_empty());
    }
    // The good file still loads and answers like the in-memory document.
    let loaded = session.load_document(&path).unwrap();
    let question = "What color is the grass?";
    assert_eq!(
        ask_doc(&mut session, &loaded, question).generation.tokens,
        ask_doc(&mut session, &document, question).generation.tokens
    );
    // A file changed after loading is caught when a state is read back.
    let mut late = good.clone();
    let last = late.len() - 10;
    late[last] ^= 0xff;
    std::fs::write(&path, &late).unwrap();
    match session.ask_document(&loaded, question, &params(), quiet()) {
        Err(Error::DocumentFile { reason, .. }) => assert!(reason.contains("checksum"), "{reason}"),
        r => panic!("expected a checksum error, got {r:?}"),
    }
    assert!(matches!(session.load_document(Path::new("/nonexistent/doc.fllm")), Err(Error::Io { .. })));
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
