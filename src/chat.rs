//! Chat prompts in which only the template's own text can become control tokens.
//!
//! A message is data: a document or a user's text containing `<|im_end|><|im_start|>assistant`
//! must reach the model as those characters, not as the control tokens that end the user's
//! turn. So the template is rendered with a marker in place of each message, which splits
//! its output into the template's own pieces and the messages' places; each message's text
//! as the template renders it (some templates trim it) is then found by rendering it alone
//! among the markers. The template's pieces are tokenized with special-token parsing on,
//! the messages' text with it off.

use crate::error::{Error, Result};
use crate::llama::{ChatMessage, Model, Token};

/// One piece of a rendered chat, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Text the template wrote (role headers, turn separators).
    Template(String),
    /// The text of message `message`, as the template rendered it.
    Message { message: usize, text: String },
}

/// The tokens of `messages` formatted by the model's chat template (ending with the
/// assistant's turn when `add_assistant`), with control tokens parsed in the template's
/// pieces only. The model's BOS is added as plain tokenization adds it.
pub(crate) fn chat_tokens(model: &Model, messages: &[ChatMessage], add_assistant: bool) -> Result<Vec<Token>> {
    let pieces = render(model, messages, add_assistant)?;
    let mut tokens = Vec::new();
    for (i, piece) in pieces.iter().enumerate() {
        let first = i == 0;
        tokens.extend(match piece {
            Piece::Template(text) => model.tokenize(text, first, true)?,
            Piece::Message { text, .. } => model.tokenize(text, first, false)?,
        });
    }
    Ok(tokens)
}

/// The rendered chat as template pieces and message texts, in output order (empty pieces
/// left out). Errors when the template renders a message more than once, or renders the
/// text around a message differently once the message's text is in place.
pub(crate) fn render(model: &Model, messages: &[ChatMessage], add_assistant: bool) -> Result<Vec<Piece>> {
    let template = model.chat_template().unwrap_or_default();
    let markers = Markers::new(messages, &template);
    let masked: Vec<ChatMessage> =
        messages.iter().enumerate().map(|(i, m)| ChatMessage::new(m.role.clone(), markers.get(i))).collect();
    let skeleton = model.apply_chat_template(&masked, add_assistant)?;
    // Where each message's marker sits in the skeleton, in output order.
    let mut places: Vec<(usize, usize)> = Vec::new();
    for i in 0..messages.len() {
        let marker = markers.get(i);
        let mut found = skeleton.match_indices(&marker).map(|(at, _)| at);
        if let Some(at) = found.next() {
            if found.next().is_some() {
                return Err(Error::ChatTemplate(format!("the chat template writes message {i} more than once")));
            }
            places.push((at, i));
        }
    }
    places.sort_unstable();
    let mut pieces = Vec::new();
    let mut done = 0;
    for &(at, i) in &places {
        push_template(&mut pieces, &skeleton[done..at]);
        let text = rendered_text(model, &masked, messages, i, &skeleton, at, add_assistant)?;
        if !text.is_empty() {
            pieces.push(Piece::Message { message: i, text });
        }
        done = at + markers.get(i).len();
    }
    push_template(&mut pieces, &skeleton[done..]);
    Ok(pieces)
}

fn push_template(pieces: &mut Vec<Piece>, text: &str) {
    if !text.is_empty() {
        pieces.push(Piece::Template(text.to_string()));
    }
}

/// Message `i`'s text as the template renders it: the chat rendered with that message's real
/// text among the markers, less the skeleton's text before and after its marker.
fn rendered_text(
    model: &Model,
    masked: &[ChatMessage],
    messages: &[ChatMessage],
    i: usize,
    skeleton: &str,
    at: usize,
    add_assistant: bool,
) -> Result<String> {
    let mut probe = masked.to_vec();
    probe[i].content.clone_from(&messages[i].content);
    let rendered = model.apply_chat_template(&probe, add_assistant)?;
    let before = &skeleton[..at];
    let after = &skeleton[at + masked[i].content.len()..];
    let fits =
        rendered.len() >= before.len() + after.len() && rendered.starts_with(before) && rendered.ends_with(after);
    if !fits {
        return Err(Error::ChatTemplate(format!(
            "the chat template writes the text around message {i} differently once its content is in place"
        )));
    }
    Ok(rendered[before.len()..rendered.len() - after.len()].to_string())
}

/// Placeholders for the messages: text found in no message and not in the template source,
/// with no whitespace (templates trim messages) and no characters templates treat specially.
struct Markers {
    stem: String,
}

impl Markers {
    fn new(messages: &[ChatMessage], template: &str) -> Markers {
        let clashes = |stem: &str| {
            template.contains(stem) || messages.iter().any(|m| m.content.contains(stem) || m.role.contains(stem))
        };
        let stem =
            (0u64..).map(|n| format!("\u{E000}focusllm-message-{n}-")).find(|stem| !clashes(stem)).unwrap_or_default();
        Markers { stem }
    }

    fn get(&self, i: usize) -> String {
        format!("{}{i}\u{E001}", self.stem)
    }
}
