//! Moving a sequence's KV between llama.cpp's KV layouts, against the real model: a state
//! saved from a split-KV context (one stream per sequence) does not load into a
//! single-stream context as is, and does once rewritten by `single_stream`, continuing
//! exactly as if the tokens had been decoded there.

mod common;

use focusllm::llama::Batch;
use focusllm::llama::state_layout::single_stream;
use focusllm::{Context, ContextParams, Model, ModelParams};

fn decode(ctx: &mut Context, tokens: &[i32], seq: i32, start: usize) -> usize {
    let mut batch = Batch::new(tokens.len(), 1).unwrap();
    let mut row = 0;
    for (i, &token) in tokens.iter().enumerate() {
        row = batch.push(token, (start + i) as i32, &[seq], i + 1 == tokens.len()).unwrap();
    }
    ctx.decode(&batch).unwrap();
    row
}

#[test]
fn a_split_kv_state_moves_into_a_single_stream_context() {
    let model = Model::load(&common::default_model(), &ModelParams::default()).unwrap();
    let tokens = model.tokenize("The quick brown fox jumps over the lazy dog while the cat", true, false).unwrap();
    let (head, last) = tokens.split_at(tokens.len() - 1);
    let base = ContextParams { n_ctx: 256, n_threads: 1, ..Default::default() };

    let mut split = Context::new(model.clone(), &ContextParams { n_ctx: 768, n_seq_max: 3, ..base.clone() }).unwrap();
    decode(&mut split, head, 2, 0);
    let state = split.seq_state(2).unwrap();

    let mut reference = Context::new(model.clone(), &base).unwrap();
    let row = decode(&mut reference, &tokens, 0, 0);
    let expected = reference.logits(row).unwrap().to_vec();

    let mut single = Context::new(model.clone(), &base).unwrap();
    let refused = single.load_seq_state(0, &state);
    assert!(refused.is_err(), "llama.cpp loads a 3-stream state into 1 stream");
    let moved = single_stream(state.clone()).expect("a split-KV state of this llama.cpp");
    assert!(moved.len() < state.len());
    single.load_seq_state(0, &moved).unwrap();
    assert_eq!(single.seq_pos_max(0).unwrap(), Some(head.len() as i32 - 1));
    let row = decode(&mut single, last, 0, head.len());
    let got = single.logits(row).unwrap();
    let worst = got.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst < 1e-3, "logits differ by up to {worst}");
}
