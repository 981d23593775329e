//! Penalties, logit bias and log-probabilities against the real default model: llama.cpp's
//! sampler chain configured from `SamplerParams`, greedy staying the default.

use crate::common;

use std::sync::Arc;

use focusllm::{
    ChatMessage, Context, ContextParams, GenerateParams, Generation, LogitBias, Model, ModelParams, Observer, Prompt,
    SamplerParams, TokenLogprobs, generate,
};

fn model() -> Arc<Model> {
    Model::load(&common::default_model(), &ModelParams::default()).expect("default model loads")
}

fn context(model: &Arc<Model>) -> Context {
    Context::new(model.clone(), &ContextParams { n_ctx: 512, n_threads: 2, ..ContextParams::default() })
        .expect("context")
}

/// A prompt the small model answers by repeating itself.
fn repetitive() -> Prompt {
    Prompt::Text("one two three one two three one two three one two".into())
}

fn run(model: &Arc<Model>, prompt: &Prompt, params: &GenerateParams) -> Generation {
    let mut ctx = context(model);
    generate(&mut ctx, prompt, params, Observer { on_piece: &mut |_, _| true, on_progress: &mut |_| true })
        .expect("generation")
}

fn params(max_tokens: u32, sampler: SamplerParams) -> GenerateParams {
    GenerateParams { max_tokens, sampler, ..GenerateParams::default() }
}

/// How many generated tokens repeat one generated before.
fn repeats(tokens: &[focusllm::Token]) -> usize {
    let mut seen = std::collections::HashSet::new();
    tokens.iter().filter(|t| !seen.insert(**t)).count()
}

#[test]
fn penalties_change_greedy_output_and_stay_reproducible() {
    let model = model();
    let plain = run(&model, &repetitive(), &params(40, SamplerParams::default()));
    assert!(repeats(&plain.tokens) > 8, "the prompt should make the model repeat: {:?}", plain.text);
    for sampler in [
        SamplerParams { frequency_penalty: 1.0, ..SamplerParams::default() },
        SamplerParams { presence_penalty: 1.5, ..SamplerParams::default() },
        SamplerParams { repeat_penalty: 1.5, ..SamplerParams::default() },
    ] {
        let penalized = run(&model, &repetitive(), &params(40, sampler.clone()));
        assert_ne!(penalized.tokens, plain.tokens, "{sampler:?} changed nothing");
        assert!(
            repeats(&penalized.tokens) < repeats(&plain.tokens),
            "{sampler:?}: {} repeats vs {} without: {:?}",
            repeats(&penalized.tokens),
            repeats(&plain.tokens),
            penalized.text
        );
        // Greedy with penalties is still deterministic.
        assert_eq!(run(&model, &repetitive(), &params(40, sampler)).tokens, penalized.tokens);
    }
    // Zero penalties are the default chain: the same tokens.
    let zero = SamplerParams { frequency_penalty: 0.0, presence_penalty: 0.0, ..SamplerParams::default() };
    assert_eq!(run(&model, &repetitive(), &params(40, zero)).tokens, plain.tokens);
}

#[test]
fn penalties_count_the_prompt_only_when_asked() {
    let model = model();
    let plain = run(&model, &repetitive(), &params(4, SamplerParams::default()));
    let strong = |penalize_prompt| SamplerParams { repeat_penalty: 10.0, penalize_prompt, ..SamplerParams::default() };
    // The first generated token repeats the prompt: counted only with penalize_prompt.
    assert!(repetitive().tokenize(&model).unwrap().contains(&plain.tokens[0]));
    let generated_only = run(&model, &repetitive(), &params(4, strong(false)));
    assert_eq!(generated_only.tokens[0], plain.tokens[0], "nothing was generated before the first token");
    let with_prompt = run(&model, &repetitive(), &params(4, strong(true)));
    assert_ne!(with_prompt.tokens[0], plain.tokens[0], "the prompt's tokens are penalized");
}

#[test]
fn the_chat_preset_is_greedy_with_a_mild_penalty_on_generated_tokens() {
    let chat = SamplerParams::chat();
    assert_eq!(chat.temperature, 0.0);
    assert_eq!(chat.repeat_penalty, focusllm::params::CHAT_REPEAT_PENALTY);
    assert!(!chat.penalize_prompt);
    chat.validate().unwrap();
}

#[test]
fn logit_bias_bans_and_forces_tokens() {
    let model = model();
    let prompt = Prompt::Chat(vec![ChatMessage::new("user", "What is the capital of France?")]);
    let plain = run(&model, &prompt, &params(6, SamplerParams::default()));
    let first = plain.tokens[0];
    let ban = SamplerParams {
        logit_bias: vec![LogitBias { token: first, bias: f32::NEG_INFINITY }],
        ..SamplerParams::default()
    };
    let banned = run(&model, &prompt, &params(6, ban));
    assert_ne!(banned.tokens[0], first);
    assert!(!banned.tokens.contains(&first), "a banned token never appears: {:?}", banned.tokens);
    let forced_token = model.tokenize(" banana", false, false).unwrap()[0];
    let force =
        SamplerParams { logit_bias: vec![LogitBias { token: forced_token, bias: 100.0 }], ..SamplerParams::default() };
    let forced = run(&model, &prompt, &params(3, force));
    assert_eq!(forced.tokens, vec![forced_token; 3]);
}

#[test]
fn a_bias_for_a_token_outside_the_vocabulary_is_refused_with_its_value() {
    let model = model();
    let bad = SamplerParams {
        logit_bias: vec![LogitBias { token: focusllm::Token(49152), bias: 1.0 }],
        ..SamplerParams::default()
    };
    let mut ctx = context(&model);
    let err = generate(
        &mut ctx,
        &repetitive(),
        &params(4, bad),
        Observer { on_piece: &mut |_, _| true, on_progress: &mut |_| true },
    )
    .unwrap_err();
    assert!(matches!(err, focusllm::Error::InvalidParam(_)), "{err:?}");
    assert!(
        err.to_string().contains("logit_bias[0] names token 49152, outside the model's vocabulary 0..49152"),
        "{err}"
    );
}

#[test]
fn logprobs_are_sorted_normalised_and_name_the_chosen_token() {
    let model = model();
    let prompt = Prompt::Chat(vec![ChatMessage::new("user", "What is the capital of France?")]);
    let wanted = GenerateParams { top_logprobs: 5, ..params(8, SamplerParams::default()) };
    let mut streamed: Vec<TokenLogprobs> = Vec::new();
    let mut order: Vec<String> = Vec::new();
    let generation = {
        let mut ctx = context(&model);
        let mut on_piece = |_: &str, tokens: &[focusllm::Token]| {
            order.push(format!("piece {tokens:?}"));
            true
        };
        let mut on_logprobs = |entry: &TokenLogprobs| {
            streamed.push(entry.clone());
            true
        };
        let mut on_progress = |_| true;
        let observer = Observer { on_piece: &mut on_piece, on_progress: &mut on_progress };
        generate(&mut ctx, &prompt, &wanted, observer.with_logprobs(&mut on_logprobs)).unwrap()
    };
    assert_eq!(generation.logprobs.len(), generation.tokens.len());
    assert_eq!(streamed, generation.logprobs, "the callback sees what the result holds");
    for (entry, &token) in generation.logprobs.iter().zip(&generation.tokens) {
        assert_eq!(entry.token, token);
        assert_eq!(entry.top.len(), 5);
        assert!(entry.top.windows(2).all(|w| w[0].logprob >= w[1].logprob), "{entry:?}");
        assert!(entry.logprob <= 0.0 && entry.top.iter().all(|t| t.logprob <= 0.0), "{entry:?}");
        // Greedy without penalties picks the most likely token.
        assert_eq!(entry.top[0].token, token, "{entry:?}");
        assert_eq!(entry.top[0].logprob, entry.logprob);
        let mass: f32 = entry.top.iter().map(|t| t.logprob.exp()).sum();
        assert!(mass <= 1.0 + 1e-4, "{entry:?}");
    }
    // Same tokens as without log-probabilities: asking for them changes nothing.
    assert_eq!(run(&model, &prompt, &params(8, SamplerParams::default())).tokens, generation.tokens);
    assert!(run(&model, &prompt, &params(8, SamplerParams::default())).logprobs.is_empty());
}

#[test]
fn the_logprobs_callback_can_stop_generation() {
    let model = model();
    let prompt = Prompt::Chat(vec![ChatMessage::new("user", "Count from one to twenty.")]);
    let wanted = GenerateParams { top_logprobs: 1, ..params(20, SamplerParams::default()) };
    let mut ctx = context(&model);
    let mut calls = 0;
    let mut on_logprobs = |_: &TokenLogprobs| {
        calls += 1;
        calls < 3
    };
    let (mut on_piece, mut on_progress) = (|_: &str, _: &[focusllm::Token]| true, |_| true);
    let observer = Observer { on_piece: &mut on_piece, on_progress: &mut on_progress };
    let generation = generate(&mut ctx, &prompt, &wanted, observer.with_logprobs(&mut on_logprobs)).unwrap();
    assert_eq!(generation.finish, focusllm::FinishReason::CallerStopped);
    assert_eq!(generation.tokens.len(), 3);
}
