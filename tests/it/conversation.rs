//! Conversations on the default model: turns that decode only what is new while they fit,
//! history past the window read through chunks, conversations over a processed document,
//! and bad turns refused.

use crate::common;
use crate::tasks;

use std::sync::Arc;

use focusllm::{
    Answer, Conversation, DocumentParams, Error, FocusParams, GenerateParams, Model, ModelParams, Observer, Progress,
    Session, SessionParams, SourceText,
};

fn model() -> Arc<Model> {
    Model::load(&common::default_model(), &ModelParams::default()).expect("default model loads")
}

/// A session that plans for `window` tokens, so short tests pass the window.
fn session(model: Arc<Model>, window: usize) -> Session {
    let context = common::test_context_params();
    let focus = FocusParams { window: window as u32, ..Default::default() };
    Session::new(model, SessionParams { context, focus }).unwrap()
}

/// Sends `text`; returns the answer and the prompt progress reports.
fn send(conversation: &mut Conversation, text: &str, max_tokens: u32) -> (Answer, Vec<Progress>) {
    let params = GenerateParams { max_tokens, ..Default::default() };
    let mut progress = Vec::new();
    let answer = conversation
        .send(
            text,
            &params,
            Observer {
                on_piece: &mut |_, _| true,
                on_progress: &mut |p| {
                    progress.push(p);
                    true
                },
            },
        )
        .unwrap_or_else(|e| panic!("send {text:?}: {e}"));
    (answer, progress)
}

#[test]
fn a_second_turn_decodes_only_its_new_tokens_and_replies_as_a_fresh_conversation_would() {
    let model = model();
    let session = session(model, 2048);
    let mut chat = session.conversation(Some("You are a helpful assistant.")).unwrap();
    let (first, _) = send(&mut chat, "My name is Alice and I live in Lisbon.", 12);
    assert_eq!(first.stats.cached_tokens, 0, "the first turn has nothing to reuse");
    assert!(first.stats.direct);
    let (second, progress) = send(&mut chat, "Where do I live?", 12);
    let last = progress.last().expect("progress is reported");
    assert!(second.stats.cached_tokens > first.stats.input_tokens, "turn 1 is reused: {:?}", second.stats);
    assert_eq!(last.total, second.stats.input_tokens - second.stats.cached_tokens, "only new tokens are decoded");
    assert!(last.total < 40, "turn 2 decodes the reply's last token and the new message: {}", last.total);
    assert_eq!(chat.messages().len(), 4);
    assert_eq!(chat.messages()[3].content, second.generation.text);

    // The same history pushed into a fresh conversation gives the same greedy reply.
    let mut fresh = session.conversation(Some("You are a helpful assistant.")).unwrap();
    fresh.push("user", &chat.messages()[0].content).unwrap();
    fresh.push("assistant", &chat.messages()[1].content).unwrap();
    let (again, _) = send(&mut fresh, "Where do I live?", 12);
    assert_eq!(again.stats.cached_tokens, 0);
    assert_eq!(again.stats.input_tokens, second.stats.input_tokens);
    assert_eq!(again.generation.text, second.generation.text);
}

/// The history as a conversation holds it: `fact` in turn 1, then filler turns until the
/// rendered history passes `min_tokens`.
fn long_history(chat: &mut Conversation, model: &Model, fact: &str, min_tokens: usize) -> usize {
    chat.push("user", fact).unwrap();
    chat.push("assistant", tasks::CHAT_FACT_REPLY).unwrap();
    let mut tokens = 0;
    let mut i = 1;
    while tokens < min_tokens {
        let (user, reply) = tasks::chat_filler(i);
        chat.push("user", &user).unwrap();
        chat.push("assistant", &reply).unwrap();
        tokens +=
            model.tokenize(&user, false, false).unwrap().len() + model.tokenize(&reply, false, false).unwrap().len();
        i += 1;
    }
    tokens
}

use tasks::{CHAT_EXPECTED as CODE, CHAT_FACT as FACT, CHAT_QUESTION as QUESTION};

#[test]
fn a_fact_from_turn_one_is_recalled_after_the_history_passes_three_windows() {
    let model = model();
    let window = 1024;
    let session = session(model.clone(), window);
    let mut chat = session.conversation(None).unwrap();
    let history = long_history(&mut chat, &model, FACT, 3 * window + 200);
    let (answer, _) = send(&mut chat, QUESTION, 12);
    assert!(!answer.stats.direct, "the history is read in chunks");
    assert!(
        answer.stats.input_tokens > 3 * window,
        "{} tokens of history ({history} in messages)",
        answer.stats.input_tokens
    );
    assert!(answer.generation.text.contains(CODE), "recalled: {:?}", answer.generation.text);
    // The answer cites turn 1, where the fact is.
    let first = answer.sources.first().expect("a chunked answer has sources");
    let cites_fact = answer
        .sources
        .iter()
        .any(|s| s.text == SourceText::Message(0) && chat.messages()[0].content[s.bytes.clone()].contains(CODE));
    assert!(cites_fact, "sources {:?} (first {first:?})", answer.sources);

    // Truncation (the latest turns that fit the window) has lost the fact.
    let mut truncated = session.conversation(None).unwrap();
    let before_question = chat.messages().len() - 2;
    let exchanges = window / 2 / 120; // whole exchanges of ~120 tokens, under half the window
    for message in &chat.messages()[before_question - 2 * exchanges..before_question] {
        truncated.push(&message.role, &message.content).unwrap();
    }
    let (baseline, _) = send(&mut truncated, QUESTION, 12);
    assert!(baseline.stats.direct);
    assert!(!baseline.generation.text.contains(CODE), "truncation cannot know: {:?}", baseline.generation.text);

    // A later turn past the window reuses the history chunks' KV and still recalls.
    let (again, _) = send(&mut chat, "Say the secret code once more.", 12);
    assert!(again.generation.text.contains(CODE), "recalled again: {:?}", again.generation.text);
}

#[test]
fn a_conversation_over_a_processed_document_answers_follow_ups() {
    let model = model();
    let mut session = session(model.clone(), 1024);
    let count = |text: &str| model.tokenize(text, false, false).map(|t| t.len());
    let case = tasks::passkey(2500, 0.6, 40817, &count).unwrap();
    let document = Arc::new(session.ingest(&case.document, &DocumentParams::default(), &mut |_| true).unwrap());
    let question = "What is the pass key mentioned in the text? Answer with the number.";
    let mut chat = session.conversation_over(document.clone()).unwrap();
    let (answer, _) = send(&mut chat, question, 16);
    assert!(answer.generation.text.contains(&case.expected), "{:?}", answer.generation.text);
    // The first turn is the document question that ask_document runs.
    let params = GenerateParams { max_tokens: 16, ..Default::default() };
    let quiet = Observer { on_piece: &mut |_, _| true, on_progress: &mut |_| true };
    let asked = session.ask_document(&document, question, &params, quiet).unwrap();
    assert_eq!(asked.generation.text, answer.generation.text);
    assert_eq!(asked.sources, answer.sources);
    let cited = answer
        .sources
        .iter()
        .any(|s| s.text == SourceText::Document && document.text()[s.bytes.clone()].contains(&case.expected));
    assert!(cited, "the key's passage is cited: {:?}", answer.sources);
    let (follow_up, _) = send(&mut chat, "Say the pass key from the text once more, as a number.", 16);
    assert!(!follow_up.stats.direct, "the follow-up reads the document's chunks");
    assert!(follow_up.generation.text.contains(&case.expected), "{:?}", follow_up.generation.text);
    assert_eq!(chat.messages().len(), 4);
}

#[test]
fn bad_turns_are_refused_and_leave_the_history_as_it_was() {
    let model = model();
    let session = session(model, 2048);
    assert!(matches!(session.conversation(Some("  ")), Err(Error::InvalidInput(_))));
    let mut chat = session.conversation(None).unwrap();
    let params = GenerateParams { max_tokens: 4, ..Default::default() };
    let try_send = |chat: &mut Conversation, text: &str, go_on: bool| {
        chat.send(text, &params, Observer { on_piece: &mut |_, _| true, on_progress: &mut |_| go_on })
    };
    assert!(matches!(try_send(&mut chat, "", true), Err(Error::InvalidInput(_))));
    assert!(matches!(chat.push("assistant", "hi"), Err(Error::InvalidInput(_))));
    chat.push("user", "Hello").unwrap();
    let err = try_send(&mut chat, "Hello again", true);
    assert!(matches!(err, Err(Error::InvalidInput(_))), "a user turn waits for the reply: {err:?}");
    chat.push("assistant", "Hi!").unwrap();
    // A cancelled turn leaves the history unchanged.
    let cancelled = try_send(&mut chat, "Tell me a story.", false);
    assert!(matches!(cancelled, Err(Error::Cancelled)), "{cancelled:?}");
    assert_eq!(chat.messages().len(), 2);
}
