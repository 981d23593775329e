//! The FocusLLM engine against the real default model: retrieval through chunks, parity with
//! plain generation below the window, every strategy, bad input, cancellation.

use crate::common;

use std::sync::Arc;

use crate::tasks;
use focusllm::{
    Answer, ChatMessage, Context, DirectWhenFits, Error, FocusParams, GenerateParams, Model, ModelParams, Observer,
    Prompt, Session, SessionParams, Strategy,
};

fn model() -> Arc<Model> {
    Model::load(&common::default_model(), &ModelParams::default()).expect("default model loads")
}

/// A session that plans for a 1024-token window, so short tests exercise chunking.
fn session(model: Arc<Model>, strategy: Strategy, use_chat_template: bool) -> Session {
    let context = common::test_context_params();
    let focus = FocusParams { strategy, window: 1024, use_chat_template, ..Default::default() };
    Session::new(model, SessionParams { context, focus }).unwrap()
}

fn ask(session: &mut Session, document: &str, question: &str, max_tokens: u32) -> focusllm::Result<Answer> {
    let params = GenerateParams { max_tokens, ..Default::default() };
    session.ask(document, question, &params, Observer { on_piece: &mut |_, _| true, on_progress: &mut |_| true })
}

fn passkey_case(model: &Model, tokens: usize, depth: f64, key: u32) -> tasks::Case {
    let count = |text: &str| model.tokenize(text, false, false).map(|t| t.len());
    tasks::passkey(tokens, depth, key, &count).unwrap()
}

#[test]
fn focus_retrieves_a_passkey_from_chunks_beyond_the_window() {
    let model = model();
    let case = passkey_case(&model, 2500, 0.3, 73915);
    // Chunks of 256 tokens (window 1024, two kept chunks: 1024 / 4); the key line's two
    // mentions of the key lie in these chunks.
    let count = |text: &str| model.tokenize(text, false, false).unwrap().len();
    let key_chunks: Vec<usize> =
        case.document.match_indices(&case.expected).map(|(at, _)| count(&case.document[..at]) / 256).collect();
    let mut session = session(model, Strategy::Focus, false);
    let mut progress = Vec::new();
    let mut streamed = String::new();
    let answer = session
        .ask(
            &case.document,
            &case.question,
            &GenerateParams { max_tokens: 6, ..Default::default() },
            Observer {
                on_piece: &mut |text, _| {
                    streamed.push_str(text);
                    true
                },
                on_progress: &mut |p| {
                    progress.push(p);
                    true
                },
            },
        )
        .unwrap();
    assert!(!answer.stats.direct);
    assert!(answer.stats.chunks >= 4, "{:?}", answer.stats);
    assert!(case.is_correct(&answer.generation.text), "answer {:?}, stats {:?}", answer.generation.text, answer.stats);
    assert_eq!(streamed, answer.generation.text);
    // The best-scoring passage, read last, holds the key (at 30% of the document). A passage is
    // a run of neighbouring chunks, read in document order, so it is the trailing run of `kept`.
    let kept = &answer.stats.selected_chunks;
    let mut first = kept.len().saturating_sub(1);
    while first > 0 && kept[first - 1] + 1 == kept[first] {
        first -= 1;
    }
    assert!(kept[first..].iter().any(|c| key_chunks.contains(c)), "kept {:?}, key in {key_chunks:?}", answer.stats);
    let last = progress.last().unwrap();
    assert_eq!(last.done, last.total, "progress reaches the end");
    assert!(progress.windows(2).all(|w| w[0].done <= w[1].done));
}

#[test]
fn every_strategy_runs_chunked_and_answers() {
    let model = model();
    let case = passkey_case(&model, 1800, 0.5, 40213);
    for strategy in [Strategy::LogitFusion, Strategy::Candidate] {
        let mut session = session(model.clone(), strategy, false);
        let answer = ask(&mut session, &case.document, &case.question, 4).unwrap();
        assert!(!answer.stats.direct);
        assert_eq!(answer.generation.tokens.len(), 4, "{strategy:?}: {:?}", answer.generation);
    }
}

#[test]
fn direct_when_fits_chooses_plain_generation_or_chunks() {
    let model = model();
    // About 700 tokens: fits the 1024-token window with the answer, and far below the
    // threshold of auto, which so runs it as plain generation.
    let case = passkey_case(&model, 700, 0.6, 51730);
    for (mode, direct) in [(DirectWhenFits::Always, true), (DirectWhenFits::Auto, true), (DirectWhenFits::Never, false)]
    {
        let focus =
            FocusParams { window: 1024, use_chat_template: false, direct_when_fits: mode, ..Default::default() };
        let mut session =
            Session::new(model.clone(), SessionParams { context: common::test_context_params(), focus }).unwrap();
        let answer = ask(&mut session, &case.document, &case.question, 6).unwrap();
        assert_eq!(answer.stats.direct, direct, "{mode:?}: {:?}", answer.stats);
        assert_eq!(answer.stats.chunks > 0, !direct, "{mode:?}: {:?}", answer.stats);
        assert!(case.is_correct(&answer.generation.text), "{mode:?}: {:?}", answer.generation.text);
    }
}

#[test]
fn auto_reads_a_fitting_input_plainly_when_its_question_cannot_be_chunked() {
    let model = model();
    // About 2,200 tokens in a 4,096-token window: auto would chunk them, but the question is
    // longer than local_len (64), which chunks cannot hold; never says so.
    let case = passkey_case(&model, 2200, 0.5, 60418);
    let question = format!("{}{}", "Read the text above carefully, every line of it. ".repeat(8), case.question);
    for (mode, plain) in [(DirectWhenFits::Auto, true), (DirectWhenFits::Never, false)] {
        let focus = FocusParams {
            window: 4096,
            local_len: 64,
            use_chat_template: false,
            direct_when_fits: mode,
            ..Default::default()
        };
        let mut session =
            Session::new(model.clone(), SessionParams { context: common::test_context_params(), focus }).unwrap();
        match ask(&mut session, &case.document, &question, 6) {
            Ok(answer) if plain => assert!(answer.stats.direct, "{:?}", answer.stats),
            Err(Error::TooLong(message)) if !plain => assert!(message.contains("local_len"), "{message}"),
            other => panic!("{mode:?}: {:?}", other.map(|a| a.stats)),
        }
    }
}

#[test]
fn inputs_that_fit_the_window_are_plain_generation_token_for_token() {
    let model = model();
    let document = "Marie Curie was born in Warsaw in 1867. She won two Nobel Prizes.";
    let question = "Where was Marie Curie born?";
    let params = GenerateParams { max_tokens: 16, ..Default::default() };
    let mut session = session(model.clone(), Strategy::Focus, true);
    let answer = ask(&mut session, document, question, 16).unwrap();
    assert!(answer.stats.direct);
    let mut ctx = Context::new(model, &common::test_context_params()).unwrap();
    let prompt = Prompt::Chat(vec![ChatMessage::new("user", format!("{document}\n\n{question}"))]);
    let plain = focusllm::generate(
        &mut ctx,
        &prompt,
        &params,
        Observer { on_piece: &mut |_, _| true, on_progress: &mut |_| true },
    )
    .unwrap();
    assert_eq!(answer.generation.tokens, plain.tokens);
    assert!(answer.generation.text.contains("Warsaw"), "{:?}", answer.generation.text);
}

#[test]
fn bad_input_is_a_clear_error() {
    let model = model();
    let mut session = session(model.clone(), Strategy::Focus, true);
    let message = |r: focusllm::Result<Answer>| match r {
        Err(Error::InvalidInput(m)) => m,
        other => panic!("expected InvalidInput, got {other:?}"),
    };
    assert!(message(ask(&mut session, "", "question?", 4)).contains("empty"));
    assert!(message(ask(&mut session, " \n\t ", "question?", 4)).contains("whitespace"));
    assert!(message(ask(&mut session, "a document", "  ", 4)).contains("question"));
    // A chunk that cannot fit the window with its prompt and answer: the numbers are named.
    let focus = FocusParams {
        window: 1024,
        chunk_len: 1020,
        local_len: 400,
        prompt_len: 200,
        use_chat_template: false,
        ..Default::default()
    };
    let mut session =
        Session::new(model.clone(), SessionParams { context: common::test_context_params(), focus }).unwrap();
    let long = "The grass is green. ".repeat(400);
    match ask(&mut session, &long, "What color is the grass?", 8) {
        Err(Error::InvalidParam(m)) => assert!(m.contains("1020") && m.contains("1024"), "{m}"),
        other => panic!("expected InvalidParam, got {other:?}"),
    }
    let bad = FocusParams { top_chunks: 0, ..Default::default() };
    assert!(matches!(
        Session::new(model, SessionParams { context: common::test_context_params(), focus: bad }),
        Err(Error::InvalidParam(_))
    ));
}

#[test]
fn cancel_stops_a_chunked_ask() {
    let model = model();
    let case = passkey_case(&model, 3000, 0.5, 11111);
    let mut session = session(model, Strategy::Focus, false);
    let handle = session.cancel_handle();
    let mut calls = 0;
    let result = session.ask(
        &case.document,
        &case.question,
        &GenerateParams { max_tokens: 4, ..Default::default() },
        Observer {
            on_piece: &mut |_, _| true,
            on_progress: &mut |_| {
                calls += 1;
                if calls == 2 {
                    handle.cancel();
                }
                true
            },
        },
    );
    assert!(matches!(result, Err(Error::Cancelled)), "{result:?}");
    assert_eq!(calls, 2, "no batch is decoded after the cancel");
}
