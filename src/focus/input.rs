//! Turns (document, question) into the engine's token layout: a prefix every sequence starts
//! with (BOS, chat header), the body the plan cuts (document, then question and chat tail),
//! and the equivalent plain prompt for inputs that fit the window.

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
    /// The same input as one plain prompt, used when it fits the window.
    pub direct_prompt: Prompt,
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
        Ok(FocusInput { prefix, body, question_start, direct_prompt: Prompt::Text(format!("{document}{question}")) })
    }

    fn chat(model: &Model, document: &str, question: &str) -> Result<FocusInput> {
        let content = format!("{document}\n\n{question}");
        let message = vec![ChatMessage::new("user", content.clone())];
        let formatted = model.apply_chat_template(&message, true)?;
        let at = formatted
            .find(&content)
            .ok_or_else(|| Error::ChatTemplate("the chat template changed the message text; use raw mode".into()))?;
        let (head, rest) = formatted.split_at(at);
        let tail = &rest[content.len()..];
        let prefix = model.tokenize(head, true, true)?;
        // The document is data: text that looks like a control token stays text.
        let mut body = model.tokenize(document, false, false)?;
        let question_start = body.len();
        body.extend(model.tokenize(&format!("\n\n{question}"), false, false)?);
        body.extend(model.tokenize(tail, false, true)?);
        Ok(FocusInput { prefix, body, question_start, direct_prompt: Prompt::Chat(message) })
    }
}
