//! Cancellation from another thread, between tokens and inside a long decode, and progress
//! reporting during prompt processing.

mod common;

use std::sync::mpsc;
use std::time::Duration;

use focusllm::{Context, ContextParams, Error, GenerateParams, Model, ModelParams, Observer, Prompt};

fn context(n_batch: u32) -> Context {
    let model = Model::load(&common::default_model(), &ModelParams::default()).unwrap();
    Context::new(
        model,
        &ContextParams { n_ctx: 4096, n_batch, n_ubatch: n_batch.min(512), n_threads: 1, ..Default::default() },
    )
    .unwrap()
}

#[test]
fn cancel_between_tokens_then_the_context_works_again() {
    let mut ctx = context(512);
    let handle = ctx.cancel_handle();
    let (first_piece_tx, first_piece_rx) = mpsc::channel::<()>();
    let canceller = std::thread::spawn(move || {
        first_piece_rx.recv().unwrap();
        handle.cancel();
    });
    let prompt = Prompt::Text("Count: 1, 2, 3, 4, 5, 6,".into());
    let params = GenerateParams { max_tokens: 400, ..Default::default() };
    let mut pieces = 0;
    let mut on_piece = |_: &str, _: &[i32]| {
        pieces += 1;
        let _ = first_piece_tx.send(());
        true
    };
    let result = focusllm::generate(
        &mut ctx,
        &prompt,
        &params,
        Observer { on_piece: &mut on_piece, on_progress: &mut |_| true },
    );
    canceller.join().unwrap();
    assert!(matches!(result, Err(Error::Cancelled)), "{result:?}");
    assert!((1..400).contains(&pieces), "{pieces} pieces");
    // The next job starts afresh.
    let again = focusllm::generate(
        &mut ctx,
        &prompt,
        &GenerateParams { max_tokens: 3, ..Default::default() },
        Observer { on_piece: &mut |_, _| true, on_progress: &mut |_| true },
    );
    assert_eq!(again.unwrap().tokens.len(), 3);
}

#[test]
fn cancel_inside_one_long_decode() {
    // One batch of ~3000 tokens: the cancel must land inside that single llama_decode, so no
    // progress report (made after each batch) is ever seen.
    let mut ctx = context(4096);
    let handle = ctx.cancel_handle();
    let text = "The grass is green. The sky is blue. The sun is yellow. ".repeat(230);
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        handle.cancel();
    });
    let mut progress_calls = 0;
    let mut on_progress = |_| {
        progress_calls += 1;
        true
    };
    let result = focusllm::generate(
        &mut ctx,
        &Prompt::Text(text),
        &GenerateParams { max_tokens: 1, ..Default::default() },
        Observer { on_piece: &mut |_, _| true, on_progress: &mut on_progress },
    );
    canceller.join().unwrap();
    assert!(matches!(result, Err(Error::Cancelled)), "{result:?}");
    assert_eq!(progress_calls, 0, "the decode was not interrupted");
}

#[test]
fn progress_is_reported_per_batch_and_false_cancels() {
    let mut ctx = context(64);
    let text = "The grass is green. ".repeat(40);
    let mut reports = Vec::new();
    let generation = focusllm::generate(
        &mut ctx,
        &Prompt::Text(text.clone()),
        &GenerateParams { max_tokens: 1, ..Default::default() },
        Observer {
            on_piece: &mut |_, _| true,
            on_progress: &mut |p| {
                reports.push(p);
                true
            },
        },
    )
    .unwrap();
    let total = generation.prompt_tokens;
    assert_eq!(reports.len(), total.div_ceil(64));
    assert!(reports.iter().all(|p| p.total == total));
    assert_eq!(reports.last().unwrap().done, total);
    let stopped = focusllm::generate(
        &mut ctx,
        &Prompt::Text(text),
        &GenerateParams { max_tokens: 1, ..Default::default() },
        Observer { on_piece: &mut |_, _| true, on_progress: &mut |_| false },
    );
    assert!(matches!(stopped, Err(Error::Cancelled)));
}
