//! Text assembly for streamed output: tokens arrive as byte pieces that may split a UTF-8
//! character (emoji, CJK); [`Utf8Assembler`] only ever releases whole characters, and
//! [`StopMatcher`] holds back text that could still become a stop string.

/// Turns a stream of byte pieces into whole UTF-8 characters.
#[derive(Debug, Default)]
pub struct Utf8Assembler {
    pending: Vec<u8>,
}

impl Utf8Assembler {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes and returns the text of every character now complete. Bytes that can never
    /// be valid UTF-8 become U+FFFD; an incomplete character at the end waits for more bytes.
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        let mut start = 0;
        while start < self.pending.len() {
            match std::str::from_utf8(&self.pending[start..]) {
                Ok(text) => {
                    out.push_str(text);
                    start = self.pending.len();
                }
                Err(e) => {
                    let valid_end = start + e.valid_up_to();
                    // The prefix up to valid_up_to was just checked to be UTF-8.
                    out.push_str(&String::from_utf8_lossy(&self.pending[start..valid_end]));
                    match e.error_len() {
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            start = valid_end + bad;
                        }
                        None => {
                            start = valid_end; // incomplete character: keep it for later
                            break;
                        }
                    }
                }
            }
        }
        self.pending.drain(..start);
        out
    }

    /// Releases whatever is left (an unfinished character becomes U+FFFD).
    pub fn finish(&mut self) -> String {
        let rest = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        rest
    }
}

/// Finds stop strings in streamed text, holding back any tail that may be the start of one.
#[derive(Debug, Default)]
pub struct StopMatcher {
    stops: Vec<String>,
    held: String,
}

/// What [`StopMatcher::push`] decided.
#[derive(Debug, PartialEq, Eq)]
pub struct StopOutcome {
    /// Text that is safe to emit now.
    pub emit: String,
    /// A stop string was found; `emit` ends right before it.
    pub stopped: bool,
}

impl StopMatcher {
    pub fn new(stops: &[String]) -> Self {
        StopMatcher { stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(), held: String::new() }
    }

    pub fn push(&mut self, text: &str) -> StopOutcome {
        self.held.push_str(text);
        if self.stops.is_empty() {
            return StopOutcome { emit: std::mem::take(&mut self.held), stopped: false };
        }
        if let Some(at) = self.stops.iter().filter_map(|s| self.held.find(s.as_str())).min() {
            let emit = self.held[..at].to_string();
            self.held.clear();
            return StopOutcome { emit, stopped: true };
        }
        let keep = self.longest_stop_prefix_suffix();
        let emit = self.held[..self.held.len() - keep].to_string();
        self.held.drain(..self.held.len() - keep);
        StopOutcome { emit, stopped: false }
    }

    /// Releases held text at the end of generation.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }

    /// Length in bytes of the longest suffix of `held` that is a proper prefix of a stop string.
    fn longest_stop_prefix_suffix(&self) -> usize {
        let held = self.held.as_str();
        let mut best = 0;
        for stop in &self.stops {
            for (start, _) in held.char_indices() {
                let tail = &held[start..];
                if tail.len() > best && tail.len() < stop.len() && stop.starts_with(tail) {
                    best = tail.len();
                    break; // longer tails come first in this loop
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_characters_only_across_splits() {
        let text = "a😀b日本🧑‍💻é";
        let bytes = text.as_bytes();
        // Every split of the byte string into single bytes must give back the exact text, with
        // no piece ever holding a partial character.
        let mut asm = Utf8Assembler::new();
        let mut out = String::new();
        for b in bytes {
            let piece = asm.push(&[*b]);
            assert!(!piece.contains(char::REPLACEMENT_CHARACTER));
            out.push_str(&piece);
        }
        out.push_str(&asm.finish());
        assert_eq!(out, text);
    }

    #[test]
    fn every_two_way_split_is_exact() {
        let text = "日本語 and emoji 🎉!";
        let bytes = text.as_bytes();
        for cut in 0..=bytes.len() {
            let mut asm = Utf8Assembler::new();
            let mut out = asm.push(&bytes[..cut]);
            out.push_str(&asm.push(&bytes[cut..]));
            out.push_str(&asm.finish());
            assert_eq!(out, text, "cut at {cut}");
        }
    }

    #[test]
    fn invalid_bytes_become_replacement_and_do_not_block() {
        let mut asm = Utf8Assembler::new();
        assert_eq!(asm.push(b"a\xffb"), "a\u{FFFD}b");
        assert_eq!(asm.push(&[0xE6, 0x97]), "");
        assert_eq!(asm.finish(), "\u{FFFD}");
    }

    #[test]
    fn stop_string_split_over_pieces_is_caught_and_not_emitted() {
        let mut m = StopMatcher::new(&["</end>".to_string()]);
        let mut out = String::new();
        for piece in ["Hello </", "en", "d> ignored"] {
            let o = m.push(piece);
            out.push_str(&o.emit);
            if o.stopped {
                assert_eq!(out, "Hello ");
                return;
            }
        }
        panic!("stop not found");
    }

    #[test]
    fn held_back_text_is_released_when_it_cannot_match() {
        let mut m = StopMatcher::new(&["STOP".to_string()]);
        assert_eq!(m.push("abc ST"), StopOutcome { emit: "abc ".into(), stopped: false });
        assert_eq!(m.push("ART"), StopOutcome { emit: "START".into(), stopped: false });
        assert_eq!(m.push("x S"), StopOutcome { emit: "x ".into(), stopped: false });
        assert_eq!(m.finish(), "S");
    }

    #[test]
    fn earliest_of_several_stops_wins() {
        let mut m = StopMatcher::new(&["b".to_string(), "a".to_string()]);
        assert_eq!(m.push("xxab"), StopOutcome { emit: "xx".into(), stopped: true });
    }
}
