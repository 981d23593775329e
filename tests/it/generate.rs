//! Plain generation against the real default model.

use crate::common;

use std::sync::Arc;

use focusllm::{
    ChatMessage, Context, Error, FinishReason, GenerateParams, Model, ModelParams, Observer, Prompt, generate,
};

fn model() -> Arc<Model> {
    Model::load(&common::default_model(), &ModelParams::default()).expect("default model loads")
}

fn run(
    ctx: &mut Context,
    prompt: &Prompt,
    params: &GenerateParams,
) -> (focusllm::Result<focusllm::Generation>, Vec<String>) {
    let mut pieces = Vec::new();
    let mut on_piece = |text: &str, _tokens: &[focusllm::Token]| {
        pieces.push(text.to_string());
        true
    };
    let result = generate(ctx, prompt, params, Observer { on_piece: &mut on_piece, on_progress: &mut |_| true });
    (result, pieces)
}

#[test]
fn model_facts() {
    let model = model();
    assert_eq!(model.n_ctx_train(), 8192);
    assert_eq!(model.n_vocab(), 49152);
    assert_eq!(model.n_layer(), 30);
    assert!(model.size_bytes() > 50_000_000);
    assert!(model.chat_template().unwrap().contains("im_start"));
    assert!(model.description().contains("llama"), "{}", model.description());
}

#[test]
fn greedy_chat_answers_and_streams_whole_pieces() {
    let model = model();
    let mut ctx = Context::new(model, &common::test_context_params()).unwrap();
    let prompt = Prompt::Chat(vec![ChatMessage::new("user", "What is the capital of France?")]);
    let params = GenerateParams { max_tokens: 24, ..Default::default() };
    let (result, pieces) = run(&mut ctx, &prompt, &params);
    let generation = result.unwrap();
    assert!(generation.text.contains("Paris"), "{:?}", generation.text);
    assert_eq!(pieces.concat(), generation.text);
    // Greedy is deterministic: a second run gives the same tokens.
    let (again, _) = run(&mut ctx, &prompt, &params);
    assert_eq!(again.unwrap().tokens, generation.tokens);
}

#[test]
fn stops_on_max_tokens_and_stop_strings() {
    let model = model();
    let mut ctx = Context::new(model, &common::test_context_params()).unwrap();
    let prompt = Prompt::Text("1, 2, 3, 4, 5,".into());
    let (result, _) = run(&mut ctx, &prompt, &GenerateParams { max_tokens: 5, ..Default::default() });
    let generation = result.unwrap();
    assert_eq!(generation.finish, FinishReason::MaxTokens);
    assert_eq!(generation.tokens.len(), 5);
    let params = GenerateParams { max_tokens: 40, stop: vec!["9".into()], ..Default::default() };
    let (result, pieces) = run(&mut ctx, &prompt, &params);
    let generation = result.unwrap();
    assert_eq!(generation.finish, FinishReason::StopString, "{:?}", generation.text);
    assert!(!pieces.concat().contains('9'));
    assert!(generation.text.contains('8'), "{:?}", generation.text);
}

#[test]
fn bad_prompts_are_typed_errors() {
    let model = model();
    let mut ctx =
        Context::new(model.clone(), &focusllm::ContextParams { n_ctx: 256, n_threads: 1, ..Default::default() })
            .unwrap();
    let params = GenerateParams::default();
    assert!(matches!(run(&mut ctx, &Prompt::Text(String::new()), &params).0, Err(Error::InvalidInput(_))));
    assert!(matches!(run(&mut ctx, &Prompt::Tokens(vec![]), &params).0, Err(Error::InvalidInput(_))));
    assert!(matches!(
        run(&mut ctx, &Prompt::Tokens(vec![focusllm::Token(999_999)]), &params).0,
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(run(&mut ctx, &Prompt::Chat(vec![]), &params).0, Err(Error::InvalidInput(_))));
    let long = "The grass is green. ".repeat(200);
    match run(&mut ctx, &Prompt::Text(long), &params).0 {
        Err(Error::TooLong(msg)) => assert!(msg.contains("256"), "{msg}"),
        other => panic!("expected TooLong, got {other:?}"),
    }
    let bad = GenerateParams { max_tokens: 0, ..Default::default() };
    assert!(matches!(run(&mut ctx, &Prompt::Text("hi".into()), &bad).0, Err(Error::InvalidParam(_))));
}
