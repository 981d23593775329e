//! Tokens of the real vocabulary split emoji and CJK characters across byte pieces; the
//! streaming assembler must still only release whole characters and lose nothing.

use crate::common;

use focusllm::Utf8Assembler;
use focusllm::{Model, ModelParams};

#[test]
fn pieces_of_real_tokens_reassemble_into_whole_characters() {
    let model = Model::load(&common::default_model(), &ModelParams { vocab_only: true, ..Default::default() }).unwrap();
    let text = "Cats 🐈 and 🧑‍💻 coders: 猫は可愛い。中文字符 — naïve café ✓";
    let tokens = model.tokenize(text, false, false).unwrap();
    let pieces: Vec<Vec<u8>> = tokens.iter().map(|&t| model.token_to_piece(t, false).unwrap()).collect();
    let partial = pieces.iter().filter(|p| std::str::from_utf8(p).is_err()).count();
    assert!(partial > 0, "the corpus must contain tokens that split a character");
    let mut asm = Utf8Assembler::new();
    let mut out = String::new();
    for piece in &pieces {
        let released = asm.push(piece);
        assert!(!released.contains(char::REPLACEMENT_CHARACTER), "partial character released: {released:?}");
        out.push_str(&released);
    }
    out.push_str(&asm.finish());
    assert_eq!(out, text);
}
