//! The benchmark tasks, built reproducibly: passkey retrieval (the Landmark / FocusLLM /
//! llama.cpp `passkey` prompt) and a needle in real prose (text that ships with Debian's
//! base system). Pure: token counts come from a caller-supplied counter.

use std::path::{Path, PathBuf};

use focusllm::{Error, Result};

/// One retrieval case: ask `question` about `document`; correct when the answer contains
/// `expected`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    pub document: String,
    pub question: String,
    pub expected: String,
}

impl Case {
    /// Whether an answer retrieves the expected value: the first run of digits in the answer
    /// equals it exactly.
    pub fn is_correct(&self, answer: &str) -> bool {
        first_number(answer).is_some_and(|n| n == self.expected)
    }
}

/// The first maximal run of ASCII digits in `text`.
pub fn first_number(text: &str) -> Option<&str> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let rest = &text[start..];
    let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    Some(&rest[..end])
}

const PASSKEY_INTRO: &str = "There is an important info hidden inside a lot of irrelevant text. Find it and memorize it. \
                             I will quiz you about the important information there.";
const PASSKEY_FILLER: &str =
    " The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.";
const PASSKEY_QUESTION: &str = " What is the pass key? The pass key is";

/// Counts tokens of a text (the model's tokenizer, without special tokens).
pub type TokenCounter<'a> = dyn Fn(&str) -> Result<usize> + 'a;

/// A passkey case of about `target_tokens` tokens with the key at `depth` (0.0 = start,
/// 1.0 = end of the filler).
pub fn passkey(target_tokens: usize, depth: f64, key: u32, count: &TokenCounter<'_>) -> Result<Case> {
    check_depth(depth)?;
    let key_line = format!(" The pass key is {key}. Remember it. {key} is the pass key.");
    let fixed = count(PASSKEY_INTRO)? + count(&key_line)? + count(PASSKEY_QUESTION)?;
    let per_filler = count(&PASSKEY_FILLER.repeat(10))?.div_ceil(10).max(1);
    check_length("passkey", target_tokens, fixed + per_filler)?;
    let repeats = (target_tokens - fixed) / per_filler;
    let before = ((repeats as f64) * depth).round() as usize;
    let document = format!(
        "{PASSKEY_INTRO}{}{key_line}{}",
        PASSKEY_FILLER.repeat(before),
        PASSKEY_FILLER.repeat(repeats - before)
    );
    Ok(Case { document, question: PASSKEY_QUESTION.to_string(), expected: key.to_string() })
}

/// A case shorter than its fixed text would be labelled with a length it does not have.
fn check_length(task: &str, target_tokens: usize, minimum: usize) -> Result<()> {
    if target_tokens < minimum {
        return Err(Error::InvalidParam(format!(
            "a {task} case of {target_tokens} tokens is impossible: its fixed text takes {minimum}; ask for at \
             least {minimum} tokens"
        )));
    }
    Ok(())
}

fn check_depth(depth: f64) -> Result<()> {
    if (0.0..=1.0).contains(&depth) {
        Ok(())
    } else {
        Err(Error::InvalidParam(format!("depth must be in [0, 1], got {depth}")))
    }
}

/// Where the prose comes from: the license texts every Debian system ships.
pub const PROSE_DIR: &str = "/usr/share/common-licenses";

/// Reads the prose corpus: every distinct regular file of `dir` (symlinks to files already
/// read are skipped), in name order, paragraphs joined by blank lines.
pub fn load_prose(dir: &Path) -> Result<String> {
    let io = |path: &Path, source| Error::Io { path: path.to_path_buf(), source };
    let mut paths: Vec<PathBuf> =
        std::fs::read_dir(dir).map_err(|e| io(dir, e))?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    let mut seen = std::collections::HashSet::new();
    let mut text = String::new();
    for path in paths {
        let real = std::fs::canonicalize(&path).map_err(|e| io(&path, e))?;
        if !real.is_file() || !seen.insert(real.clone()) {
            continue;
        }
        let bytes = std::fs::read(&real).map_err(|e| io(&real, e))?;
        text.push_str(&String::from_utf8_lossy(&bytes));
        text.push_str("\n\n");
    }
    if text.trim().is_empty() {
        return Err(Error::InvalidInput(format!("no prose found in {}", dir.display())));
    }
    Ok(text)
}

/// A needle-in-prose case of about `target_tokens` tokens: "The special magic number for
/// `<word>` is: `<7 digits>`." placed at `depth` inside `prose` (repeated when it is too short,
/// cut at a sentence end).
pub fn needle(
    prose: &str,
    target_tokens: usize,
    depth: f64,
    word: &str,
    number: u32,
    count: &TokenCounter<'_>,
) -> Result<Case> {
    check_depth(depth)?;
    let number = format!("{:07}", number % 10_000_000);
    let needle = format!(" The special magic number for {word} is: {number}. ");
    let question = format!("\n\nWhat is the special magic number for {word}? The special magic number for {word} is:");
    let fixed = count(&needle)? + count(&question)?;
    check_length("needle", target_tokens, fixed + 1)?;
    let budget = target_tokens - fixed;
    let sample = cut_at_sentence(prose, 20_000);
    let per_byte = count(sample)? as f64 / sample.len().max(1) as f64;
    let want_bytes = (budget as f64 / per_byte.max(1e-3)) as usize;
    let mut filler = String::with_capacity(want_bytes + prose.len());
    while filler.len() < want_bytes {
        filler.push_str(prose);
    }
    let filler = cut_at_sentence(&filler, want_bytes);
    let at = cut_at_sentence(filler, (filler.len() as f64 * depth) as usize).len();
    let document = format!("{}{needle}{}", &filler[..at], &filler[at..]);
    Ok(Case { document, question, expected: number })
}

/// The longest prefix of `text` not longer than `max` bytes that ends after a period (or
/// at a char boundary when there is none).
fn cut_at_sentence(text: &str, max: usize) -> &str {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    match text[..end].rfind(". ") {
        Some(i) if i + 2 >= end / 2 => &text[..i + 1],
        _ => &text[..end],
    }
}

/// The conversation tasks' fact: stated in turn 1, asked for after the history has grown.
pub const CHAT_FACT: &str = "Remember this: the secret code is 58291. Keep it safe.";
pub const CHAT_FACT_REPLY: &str = "Understood, I will remember it.";
pub const CHAT_QUESTION: &str = "What is the secret code? Answer with the number.";
pub const CHAT_EXPECTED: &str = "58291";

/// A user/assistant exchange of about 80 tokens that says nothing about codes (exchange `i`).
pub fn chat_filler(i: usize) -> (String, String) {
    let user = format!(
        "Tell me about garden number {i}. The grass is green. The sky is blue. The sun is yellow. \
         Here we go. There and back again. The grass is green. The sky is blue."
    );
    let reply = format!(
        "Garden number {i} has tall trees, a small pond and a path of grey stones. Birds sing there \
         in the morning and the wind is calm in the evening. People walk there after work."
    );
    (user, reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Result<usize> {
        Ok(text.split_whitespace().count())
    }

    #[test]
    fn passkey_has_the_key_at_the_depth_and_about_the_length() {
        for depth in [0.0, 0.5, 1.0] {
            let case = passkey(2000, depth, 12345, &words).unwrap();
            let n = words(&case.document).unwrap() + words(&case.question).unwrap();
            assert!((1900..=2000).contains(&n), "{n}");
            let at = case.document.find("12345").unwrap() as f64 / case.document.len() as f64;
            assert!((at - depth).abs() < 0.1, "key at {at}, depth {depth}");
        }
        assert!(passkey(100, 1.5, 1, &words).is_err());
        // Shorter than its fixed text: refused, not built at another length.
        let short = passkey(0, 0.5, 1, &words).unwrap_err().to_string();
        assert!(short.contains("a passkey case of 0 tokens is impossible") && short.contains("at least"), "{short}");
        assert!(needle("Alpha. ", 3, 0.5, "apple", 1, &words).is_err());
    }

    #[test]
    fn answers_are_judged_by_their_first_number() {
        let case = Case { document: String::new(), question: String::new(), expected: "12345".into() };
        assert!(case.is_correct(" 12345. Remember it."));
        assert!(!case.is_correct(" 123456"));
        assert!(!case.is_correct(" 54321 and 12345"));
        assert!(!case.is_correct("no digits"));
    }

    #[test]
    fn needle_sits_in_prose_at_the_depth() {
        let prose = "Alpha beta gamma. Delta epsilon zeta. ".repeat(50);
        let case = needle(&prose, 600, 0.5, "apple", 42, &words).unwrap();
        assert_eq!(case.expected, "0000042");
        let at = case.document.find("magic number for apple is: 0000042").unwrap() as f64 / case.document.len() as f64;
        assert!((at - 0.5).abs() < 0.1, "{at}");
        let n = words(&case.document).unwrap();
        assert!((450..=620).contains(&n), "{n}");
    }

    #[test]
    fn prose_corpus_loads_from_debian() {
        let text = load_prose(Path::new(PROSE_DIR)).unwrap();
        assert!(text.len() > 100_000, "{}", text.len());
        assert!(text.contains("GNU GENERAL PUBLIC LICENSE"));
    }
}
