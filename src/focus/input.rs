//! Turns (document, question) into the engine's token layout: a prefix every sequence starts
//! with (BOS, chat header), the body the plan cuts (document, then question and chat tail),
//! and the equivalent plain prompt for inputs that fit the window.

use super::sources::{Segment, SourceText};
use crate::chat::{self, Piece};
use crate::error::{Error, Result};
use crate::generate::Prompt;
use crate::llama::{ChatMessage, Model, Token};

/// The tokens of one `ask`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FocusInput {
    /// Tokens every sequence starts with (BOS, the chat template's header).
    pub prefix: Vec<Token>,
    /// The document's tokens followed by the question's (and the chat template's tail).
    pub body: Vec<Token>,
    /// Where the question starts in `body`.
    pub question_start: usize,
    /// Where the dynamic prompt (the question's tail appended to each chunk to score it) may
    /// start at the earliest: the question, or in a conversation the latest user turn, so
    /// that earlier turns in the local context do not score the chunks that resemble them.
    pub prompt_start: usize,
    /// The same input as one plain prompt (`prefix` then `body`), used when it fits the window.
    pub direct_prompt: Prompt,
    /// Where the body's tokens come from in the caller's texts (for citations).
    pub segments: Vec<Segment>,
}

impl FocusInput {
    /// Builds the layout. With `use_chat_template` and a model that has a template, the
    /// document and question form one user message: `document + "\n\n" + question`.
    /// Otherwise the text is raw: `document + question`, exactly as given.
    pub fn build(model: &Model, document: &str, question: &str, use_chat_template: bool) -> Result<FocusInput> {
        if document.is_empty() {
            return Err(Error::InvalidInput("the document is empty".into()));
        }
        if document.trim().is_empty() {
            return Err(Error::InvalidInput(format!("the document is only whitespace ({} bytes)", document.len())));
        }
        if question.trim().is_empty() {
            return Err(Error::InvalidInput("the question is empty".into()));
        }
        if use_chat_template && model.chat_template().is_some() {
            Self::chat(model, document, question)
        } else {
            Self::raw(model, document, question)
        }
    }

    fn raw(model: &Model, document: &str, question: &str) -> Result<FocusInput> {
        let prefix = model.tokenize("", true, false)?;
        let mut body = model.tokenize(document, false, false)?;
        let question_start = body.len();
        body.extend(model.tokenize(question, false, false)?);
        Ok(FocusInput::new(prefix, body, question_start, vec![document_segment(document, 0, question_start)]))
    }

    fn chat(model: &Model, document: &str, question: &str) -> Result<FocusInput> {
        let content = format!("{document}\n\n{question}");
        let pieces = chat::render(model, &[ChatMessage::new("user", content.clone())], true)?;
        let at = pieces
            .iter()
            .position(|p| matches!(p, Piece::Message { .. }))
            .ok_or_else(|| Error::ChatTemplate("the chat template leaves the message out; use raw mode".into()))?;
        let template_text = |pieces: &[Piece]| -> String {
            pieces.iter().map(|p| if let Piece::Template(t) = p { t.as_str() } else { "" }).collect()
        };
        let (head, tail) = (template_text(&pieces[..at]), template_text(&pieces[at + 1..]));
        let Piece::Message { text: rendered, .. } = &pieces[at] else {
            return Err(Error::Internal("the message piece moved".into()));
        };
        // Templates may trim the message (Gemma's does); the document and the question are
        // what is left of each.
        let (offset, document, question) = split_rendered(&content, rendered, document.len())
            .ok_or_else(|| Error::ChatTemplate("the chat template changed the message text; use raw mode".into()))?;
        let prefix = model.tokenize(&head, true, true)?;
        // The document and the question are data: text that looks like a control token stays text.
        let mut body = model.tokenize(document, false, false)?;
        let question_start = body.len();
        body.extend(model.tokenize(question, false, false)?);
        body.extend(model.tokenize(&tail, false, true)?);
        Ok(FocusInput::new(prefix, body, question_start, vec![document_segment(document, offset, question_start)]))
    }

    /// The input; its plain prompt is exactly the tokens the chunked path reads, so an input
    /// just under the window and one just over it get the same treatment.
    pub(crate) fn new(
        prefix: Vec<Token>,
        body: Vec<Token>,
        question_start: usize,
        segments: Vec<Segment>,
    ) -> FocusInput {
        let direct_prompt = Prompt::Tokens([prefix.as_slice(), body.as_slice()].concat());
        FocusInput { prefix, body, question_start, prompt_start: question_start, direct_prompt, segments }
    }
}

/// The segment of a document's tokens: `text` (what was tokenized) starts at byte `offset`
/// of the caller's document.
fn document_segment(text: &str, offset: usize, n_tokens: usize) -> Segment {
    Segment { tokens: 0..n_tokens, origin: SourceText::Document, text: text.to_string(), skip: 0, offset }
}

/// Splits the template's rendering of `content` (`document + "\n\n" + question`, the
/// document `document_len` bytes) into what it kept of the document and of the question
/// (which keeps its leading `"\n\n"`). None when the rendering is not a part of the content
/// that holds the boundary between the two. The first value is where the kept document
/// starts in the document.
pub(super) fn split_rendered<'a>(
    content: &'a str,
    rendered: &str,
    document_len: usize,
) -> Option<(usize, &'a str, &'a str)> {
    let start = content.find(rendered)?;
    let end = start + rendered.len();
    (start < document_len && end > document_len + 2)
        .then(|| (start, &content[start..document_len], &content[document_len..end]))
}

#[cfg(test)]
mod tests {
    use super::split_rendered;

    #[test]
    fn a_trimmed_rendering_splits_at_the_document_end() {
        let content = "  doc\n\nquestion? \n";
        assert_eq!(split_rendered(content, content, 5), Some((0, "  doc", "\n\nquestion? \n")));
        assert_eq!(split_rendered(content, content.trim(), 5), Some((2, "doc", "\n\nquestion?")));
        assert_eq!(split_rendered(content, "something else", 5), None);
        assert_eq!(split_rendered(content, "question?", 5), None);
    }
}
