//! No llama.cpp abort through a KV call: every strategy (focus, fusion, candidate) on both
//! default models (SmolLM2; Gemma 3, whose sliding-window layers have their own KV cache) and
//! on a model whose KV memory cannot shift positions (the default model presented as a
//! multi-position-RoPE architecture, Qwen2-VL, a crafted copy) either answers or returns a
//! clean named error. The candidate strategy moves KV cells, so on the model that cannot
//! shift it must be refused as unsupported (llama.cpp asserts in `seq_add` otherwise).
//!
//! Each case runs in a child process (`common::child`): an abort is a failed case, not the
//! end of the test run.

use crate::common;

use std::sync::Arc;

use common::child;
use common::crafted_gguf::{CraftedGguf, GgufValue, scratch_dir};
use focusllm::capi::status::{Failure, focusllm_status};
use focusllm::{FocusParams, GenerateParams, Model, ModelParams, Observer, Session, SessionParams, Strategy};

const CHILD_MODEL: &str = "FOCUSLLM_TEST_CHILD_MODEL";
const CHILD_STRATEGY: &str = "FOCUSLLM_TEST_CHILD_STRATEGY";
const STRATEGIES: [(&str, Strategy); 3] =
    [("focus", Strategy::Focus), ("fusion", Strategy::LogitFusion), ("candidate", Strategy::Candidate)];

/// Asks a question about a document longer than the window in the model and with the strategy
/// the parent names, and reports the outcome. Run only as a child of
/// `every_strategy_answers_or_fails_cleanly_on_every_kv_memory`.
#[test]
#[ignore = "the child process of every_strategy_answers_or_fails_cleanly_on_every_kv_memory"]
fn child_ask() {
    let model = Model::load(std::path::Path::new(&child::input(CHILD_MODEL)), &ModelParams::default());
    let model: Arc<Model> = model.expect("the model loads");
    let name = child::input(CHILD_STRATEGY);
    let strategy = STRATEGIES.iter().find(|(n, _)| *n == name).expect("a known strategy").1;
    let focus = FocusParams { strategy, window: 256, ..Default::default() };
    let mut session = Session::new(model, SessionParams { context: common::test_context_params(), focus }).unwrap();
    let document = format!("{}The passkey is 7291. {}", "The sky is blue. ".repeat(30), "Grass is green. ".repeat(30));
    let params = GenerateParams { max_tokens: 3, ..Default::default() };
    let observer = Observer { on_piece: &mut |_, _| true, on_progress: &mut |_| true };
    match session.ask(&document, "What is the passkey?", &params, observer) {
        Ok(answer) => {
            child::report("outcome", "answer");
            child::report("chunks", answer.stats.chunks);
            child::report("text", &answer.generation.text);
        }
        Err(error) => {
            let failure = Failure::from(error);
            child::report("outcome", "error");
            child::report("status", failure.status as i32);
            child::report("message", &failure.message);
        }
    }
}

/// The default model presented as Qwen2-VL: the same weights and vocabulary under an
/// architecture with multi-position RoPE (four positions per token), whose KV cache cannot
/// shift positions.
fn multi_position_rope_model() -> CraftedGguf {
    let mut crafted = CraftedGguf::read(&common::default_model());
    crafted.rename_prefix("llama.", "qwen2vl.");
    crafted.set("general.architecture", GgufValue::Str("qwen2vl".into()));
    crafted.set_i32_array("qwen2vl.rope.dimension_sections", &[16, 8, 8, 0]);
    crafted
}

#[test]
fn every_strategy_answers_or_fails_cleanly_on_every_kv_memory() {
    let dir = scratch_dir("kv-strategies");
    let mrope = multi_position_rope_model().write(&dir, "qwen2vl-from-smollm2.gguf");
    let models = [
        ("SmolLM2", common::default_model(), true),
        ("Gemma 3", common::model_path(common::GEMMA_MODEL), true),
        ("M-RoPE (cannot shift)", mrope, false),
    ];
    let mut failures = Vec::new();
    let mut cases = 0;
    for (model, path, can_shift) in &models {
        for (strategy, _) in STRATEGIES {
            cases += 1;
            let outcome = child::run(
                "kv_strategies::child_ask",
                &[(CHILD_MODEL, &path.to_string_lossy()), (CHILD_STRATEGY, strategy)],
            );
            println!("{model} / {strategy}: {outcome:?}");
            let get = |key: &str| outcome.as_ref().ok().and_then(|r| r.get(key)).map(String::as_str);
            let ok = match (get("outcome"), *can_shift, strategy) {
                // A memory that cannot shift: the candidate strategy is refused, by name.
                (Some("error"), false, "candidate") => {
                    get("status") == Some(&(focusllm_status::Unsupported as i32).to_string())
                        && get("message").is_some_and(|m| m.contains("cannot move cells"))
                }
                // Everything else answers from chunks.
                (Some("answer"), _, _) => get("chunks").is_some_and(|n| n != "0"),
                _ => false,
            };
            if !ok {
                failures.push(format!("{model} / {strategy}: {outcome:?}"));
            }
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    assert!(failures.is_empty(), "{} of {cases} cases failed:\n{}", failures.len(), failures.join("\n"));
}
