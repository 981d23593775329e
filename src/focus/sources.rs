//! Citations: which passages of the caller's text an answer read, as byte ranges.
//!
//! The engine reads token ranges of the body; the body is made of segments of the caller's
//! texts (the document, the messages of a conversation) between the chat template's own
//! tokens. A segment records where its text came from, so a token range maps back to byte
//! ranges of the caller's strings, one per segment it crosses.

use std::ops::Range;

use super::input::FocusInput;
use super::{Reading, plan};
use crate::llama::{Model, Token};

/// Which of the caller's texts a source lies in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceText {
    /// The document (the `document` of [`Session::ask`](crate::Session::ask), or
    /// [`Document::text`](crate::Document::text)).
    Document,
    /// Message `i` of a conversation's history ([`Conversation::messages`](crate::Conversation::messages)).
    Message(usize),
}

/// A passage an answer read: a byte range of one of the caller's texts, the chunk it belongs
/// to and that chunk's score (lower is more relevant; see [`AskStats::chunk_scores`](crate::AskStats)).
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub chunk: usize,
    pub score: f32,
    pub text: SourceText,
    /// Byte range in that text, on character boundaries.
    pub bytes: Range<usize>,
}

/// A run of body tokens that tokenize a piece of the caller's text: `text` is exactly what
/// was tokenized; its first `skip` bytes are not the caller's (a joiner such as the `"\n\n"`
/// between a document and its question), the rest starts at byte `offset` of `origin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub tokens: Range<usize>,
    pub origin: SourceText,
    pub text: String,
    pub skip: usize,
    pub offset: usize,
}

/// The sources of a chunked answer: each range it read, as byte ranges of the caller's text.
/// A range that continues the one before it from a chunk the strategy did not select (the
/// rest of a sentence the passage's end cut) joins that passage's source.
pub(crate) fn sources(model: &Model, input: &FocusInput, plan: &plan::ChunkPlan, reading: &Reading) -> Vec<Source> {
    let chunk_of = |token: usize| plan.chunks.partition_point(|c| c.end <= token);
    let mut passages: Vec<(usize, Range<usize>)> = Vec::with_capacity(reading.read.len());
    for range in &reading.read {
        let chunk = chunk_of(range.start);
        match passages.last_mut() {
            Some((_, last)) if last.end == range.start && !reading.selected.contains(&chunk) => last.end = range.end,
            _ => passages.push((chunk, range.clone())),
        }
    }
    let mut sources = Vec::new();
    for (chunk, range) in passages {
        let score = reading.scores.get(chunk).copied().unwrap_or(f32::NAN);
        for (text, bytes) in cite(model, &input.body, &input.segments, &range) {
            sources.push(Source { chunk, score, text, bytes });
        }
    }
    sources
}

/// The byte ranges of the caller's texts that body tokens `read` cover, one per segment the
/// range crosses (template tokens between segments cover nothing).
pub(crate) fn cite(
    model: &Model,
    body: &[Token],
    segments: &[Segment],
    read: &Range<usize>,
) -> Vec<(SourceText, Range<usize>)> {
    let mut out = Vec::new();
    for segment in segments {
        let start = read.start.max(segment.tokens.start);
        let end = read.end.min(segment.tokens.end);
        if start >= end {
            continue;
        }
        // Only the tokens up to the range's end are needed to place it.
        let tokens = &body[segment.tokens.start..end];
        let ends = byte_ends(model, &segment.text, tokens);
        let end_of = |i: usize| if i == 0 { 0 } else { ends[i - 1] };
        let text = &segment.text;
        let from = floor_char(text, end_of(start - segment.tokens.start).max(segment.skip));
        let to = ceil_char(text, end_of(end - segment.tokens.start).max(from));
        let to_origin = |at: usize| at - segment.skip + segment.offset;
        if from < to {
            out.push((segment.origin, to_origin(from)..to_origin(to)));
        }
    }
    out
}

/// The end byte of each token in `text`: each token's piece is matched at the cursor (a
/// piece that the tokenizer prefixed with a space, as SentencePiece does, may match without
/// it); a piece that does not match moves the cursor by its length, so later ends stay close.
pub(crate) fn byte_ends(model: &Model, text: &str, tokens: &[Token]) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut cursor = 0;
    let mut ends = Vec::with_capacity(tokens.len());
    for &token in tokens {
        let piece = model.token_to_piece(token, false).unwrap_or_default();
        let rest = &bytes[cursor..];
        let step = if rest.starts_with(&piece) {
            piece.len()
        } else if piece.first() == Some(&b' ') && rest.starts_with(&piece[1..]) {
            piece.len() - 1
        } else {
            piece.len().min(rest.len())
        };
        cursor += step;
        ends.push(cursor);
    }
    ends
}

fn floor_char(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn ceil_char(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at += 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::{ceil_char, floor_char};

    #[test]
    fn ranges_snap_to_character_boundaries() {
        let text = "aé€b"; // a(1) é(2) €(3) b(1)
        assert_eq!(floor_char(text, 2), 1);
        assert_eq!(ceil_char(text, 2), 3);
        assert_eq!(ceil_char(text, 4), 6);
        assert_eq!(floor_char(text, 99), text.len());
    }
}
