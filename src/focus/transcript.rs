//! A conversation's tokens: the system prompt and the turns rendered by the model's chat
//! template, laid out as the engine reads them (a prefix every sequence starts with, then the
//! body), with where each turn starts and where each message's text lies (for citations).
//!
//! Only the template's own text becomes control tokens; the messages (and a document in the
//! first user message) are tokenized as text, as every other path does.

use super::input::FocusInput;
use super::sources::{Segment, SourceText};
use crate::chat::{self, Piece};
use crate::error::{Error, Result};
use crate::llama::{ChatMessage, Model, Token};

/// The rendered conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Transcript {
    /// BOS and the template's text before the first turn (with the system prompt).
    pub prefix: Vec<Token>,
    /// The turns and the template's text between them, ending with the assistant's header.
    pub body: Vec<Token>,
    /// Where each turn starts in `body`: at the template text that opens it.
    pub turn_starts: Vec<usize>,
    /// Tokens of the document at the start of the body (0 without one).
    pub document_tokens: usize,
    pub segments: Vec<Segment>,
}

impl Transcript {
    /// Renders `turns` (user and assistant messages, the last one the user's) after an optional
    /// system prompt; with a `document`, it opens the first user message as
    /// `document + "\n\n" + message`, exactly as [`FocusInput`] lays out a document and its
    /// question, so that a processed document's chunks are the transcript's first ones.
    pub fn render(model: &Model, system: Option<&str>, document: Option<&str>, turns: &[ChatMessage]) -> Result<Self> {
        let first_turn = usize::from(system.is_some());
        let mut messages: Vec<ChatMessage> = system.map(|s| ChatMessage::new("system", s)).into_iter().collect();
        messages.extend(turns.iter().cloned());
        let joined = document.zip(turns.first()).map(|(doc, first)| format!("{doc}\n\n{}", first.content));
        if let Some(content) = &joined {
            messages[first_turn].content.clone_from(content);
        }
        let pieces = chat::render(model, &messages, true)?;
        let at = pieces
            .iter()
            .position(|p| matches!(p, Piece::Message { message, .. } if *message >= first_turn))
            .ok_or_else(|| Error::ChatTemplate("the chat template leaves the conversation's turns out".into()))?;
        let mut prefix = Vec::new();
        for (i, piece) in pieces[..at].iter().enumerate() {
            prefix.extend(tokenize_piece(model, piece, i == 0)?);
        }
        let mut out = Transcript {
            prefix,
            body: Vec::new(),
            turn_starts: vec![usize::MAX; turns.len()],
            document_tokens: 0,
            segments: Vec::new(),
        };
        for (i, piece) in pieces[at..].iter().enumerate() {
            let turn_after = match pieces.get(at + i + 1) {
                Some(Piece::Message { message, .. }) if *message >= first_turn => Some(message - first_turn),
                _ => None,
            };
            match piece {
                Piece::Template(_) => {
                    if let Some(turn) = turn_after {
                        out.turn_starts[turn] = out.body.len();
                    }
                    out.body.extend(tokenize_piece(model, piece, at + i == 0)?);
                }
                Piece::Message { message, text } if *message >= first_turn => {
                    let turn = message - first_turn;
                    if out.turn_starts[turn] == usize::MAX {
                        out.turn_starts[turn] = out.body.len();
                    }
                    match (turn, document, &joined) {
                        (0, Some(doc), Some(content)) => out.push_document_turn(model, content, text, doc.len())?,
                        _ => out.push_message(model, turn, &turns[turn].content, text)?,
                    }
                }
                Piece::Message { .. } => {
                    return Err(Error::ChatTemplate("the chat template moves the system prompt after a turn".into()));
                }
            }
        }
        // A turn the template left out starts where the next one does.
        let mut next = out.body.len();
        for start in out.turn_starts.iter_mut().rev() {
            if *start == usize::MAX {
                *start = next;
            }
            next = *start;
        }
        Ok(out)
    }

    /// The first user message over a document: the document's tokens, then the joiner and the
    /// message, tokenized apart (as [`FocusInput`] does).
    fn push_document_turn(&mut self, model: &Model, content: &str, rendered: &str, doc_len: usize) -> Result<()> {
        let (offset, document, question) =
            super::input::split_rendered(content, rendered, doc_len).ok_or_else(|| {
                Error::ChatTemplate("the chat template changed the first message around the document".into())
            })?;
        let tokens = model.tokenize(document, false, false)?;
        self.segments.push(Segment {
            tokens: 0..tokens.len(),
            origin: SourceText::Document,
            text: document.to_string(),
            skip: 0,
            offset,
        });
        self.body.extend(tokens);
        self.document_tokens = self.body.len();
        let skip = "\n\n".len();
        self.push_text(model, SourceText::Message(0), question, skip, 0)
    }

    /// A message's text as the template rendered it (some templates trim it): found in the
    /// message's content to place it.
    fn push_message(&mut self, model: &Model, turn: usize, content: &str, rendered: &str) -> Result<()> {
        let offset = content.find(rendered).unwrap_or(0);
        self.push_text(model, SourceText::Message(turn), rendered, 0, offset)
    }

    fn push_text(&mut self, model: &Model, origin: SourceText, text: &str, skip: usize, offset: usize) -> Result<()> {
        let tokens = model.tokenize(text, self.body.is_empty() && self.prefix.is_empty(), false)?;
        let start = self.body.len();
        self.body.extend(tokens);
        self.segments.push(Segment { tokens: start..self.body.len(), origin, text: text.to_string(), skip, offset });
        Ok(())
    }

    /// Every token, as one plain prompt would hold them.
    pub fn tokens(&self) -> Vec<Token> {
        [self.prefix.as_slice(), self.body.as_slice()].concat()
    }

    /// The engine's input for reading past the window: the local context is the latest turns
    /// that fit `local_len` tokens, starting at a user turn (`is_user`) after the document;
    /// everything before it is read in chunks.
    pub fn focus_input(self, local_len: usize, is_user: impl Fn(usize) -> bool) -> Result<FocusInput> {
        let total = self.body.len();
        // The first user turn over a document starts, as a question does, after the document.
        let turn_start =
            |t: usize| if t == 0 { self.turn_starts[0].max(self.document_tokens) } else { self.turn_starts[t] };
        let last_user = (0..self.turn_starts.len()).rev().find(|&t| is_user(t));
        let start = (0..self.turn_starts.len())
            .filter(|&t| is_user(t))
            .map(turn_start)
            .find(|&s| s >= self.document_tokens && total - s <= local_len);
        let Some(start) = start else {
            let last = last_user.map_or(total, |t| total - turn_start(t));
            return Err(Error::TooLong(format!(
                "the latest message (with the chat template's text around it) has {last} tokens; local_len \
                 allows at most {local_len}"
            )));
        };
        let latest = last_user.map_or(start, turn_start);
        let mut input = FocusInput::new(self.prefix, self.body, start, self.segments);
        input.prompt_start = latest;
        Ok(input)
    }
}

/// Tokens of one rendered piece: the template's text with control tokens parsed, a message's
/// as text; BOS before the first.
fn tokenize_piece(model: &Model, piece: &Piece, first: bool) -> Result<Vec<Token>> {
    match piece {
        Piece::Template(text) => model.tokenize(text, first, true),
        Piece::Message { text, .. } => model.tokenize(text, first, false),
    }
}
