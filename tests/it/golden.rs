//! Correctness against llama.cpp's own program: greedy output of the crate must equal, byte for
//! byte and token count for token count, what `llama-simple` (compiled against the same
//! llama.cpp libraries) produced. See tests/golden/README.md for the format and the setup.

use crate::common;

use std::collections::HashMap;
use std::path::Path;

use focusllm::{Context, ContextParams, FinishReason, GenerateParams, Model, ModelParams, Observer, Prompt};

struct Golden {
    name: String,
    fields: HashMap<String, String>,
    prompt: String,
    output: Vec<u8>,
}

fn parse(path: &Path) -> Golden {
    let bytes = std::fs::read(path).unwrap();
    let split = bytes.windows(2).position(|w| w == b"\n\n").expect("header ends with an empty line");
    let header = std::str::from_utf8(&bytes[..split]).unwrap();
    let body = &bytes[split + 2..];
    let fields: HashMap<String, String> =
        header.lines().filter_map(|l| l.split_once(": ")).map(|(k, v)| (k.to_string(), v.to_string())).collect();
    assert_eq!(fields["focusllm-golden"], "1", "{}", path.display());
    let prompt_len: usize = fields["prompt_bytes"].parse().unwrap();
    let output_len: usize = fields["output_bytes"].parse().unwrap();
    assert_eq!(body.len(), prompt_len + output_len, "{}: body size", path.display());
    Golden {
        name: fields["name"].clone(),
        prompt: String::from_utf8(body[..prompt_len].to_vec()).unwrap(),
        output: body[prompt_len..].to_vec(),
        fields,
    }
}

#[test]
fn greedy_output_matches_llama_simple() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut goldens: Vec<Golden> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "golden"))
        .map(|p| parse(&p))
        .collect();
    goldens.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(goldens.len() >= 3, "at least 3 golden prompts, found {}", goldens.len());
    let model = Model::load(&common::default_model(), &ModelParams::default()).unwrap();
    for golden in &goldens {
        assert_eq!(golden.fields["model"], common::DEFAULT_MODEL);
        let n_prompt: u32 = golden.fields["n_prompt_tokens"].parse().unwrap();
        let n_predict: u32 = golden.fields["n_predict"].parse().unwrap();
        // llama-simple's context: n_prompt + n_predict - 1 cells, the prompt in one batch.
        let params = ContextParams {
            n_ctx: n_prompt + n_predict - 1,
            n_batch: 512,
            n_ubatch: 512,
            n_threads: 1,
            ..Default::default()
        };
        let mut ctx = Context::new(model.clone(), &params).unwrap();
        let generate = GenerateParams { max_tokens: n_predict, render_special: true, ..Default::default() };
        let mut bytes = Vec::new();
        let generation = focusllm::generate(
            &mut ctx,
            &Prompt::Text(golden.prompt.clone()),
            &generate,
            Observer {
                on_piece: &mut |text, _| {
                    bytes.extend_from_slice(text.as_bytes());
                    true
                },
                on_progress: &mut |_| true,
            },
        )
        .unwrap();
        assert_eq!(generation.prompt_tokens, n_prompt as usize, "{}: prompt tokens", golden.name);
        // Token for token: the raw pieces of our tokens are llama-simple's bytes exactly.
        let raw: Vec<u8> = generation.tokens.iter().flat_map(|&t| model.token_to_piece(t, true).unwrap()).collect();
        assert_eq!(raw, golden.output, "{}: generated tokens differ from llama-simple", golden.name);
        // The stream carries whole characters only: the same text, with a character cut by
        // n_predict shown as U+FFFD instead of a partial byte sequence.
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            String::from_utf8_lossy(&golden.output),
            "{}: streamed text",
            golden.name
        );
        assert_eq!(
            generation.tokens.len().to_string(),
            golden.fields["n_generated_tokens"],
            "{}: generated token count",
            golden.name
        );
        let stop = match generation.finish {
            FinishReason::EndOfGeneration => "eog",
            FinishReason::MaxTokens => "n_predict",
            other => panic!("{}: unexpected finish {other:?}", golden.name),
        };
        assert_eq!(stop, golden.fields["stop"], "{}: stop reason", golden.name);
    }
}
