//! The task families of RULER (Hsieh et al. 2024, "RULER: What's the Real Context Size of Your
//! Long-Context Language Models?"), rebuilt from their public definitions with fixed seeds:
//! needles (one, several keys, several values, several queries) in three haystacks, variable
//! tracking, common-words extraction, and a question over real text. Scored as RULER scores:
//! string-match recall of the expected strings in the answer.

use clap::ValueEnum;

use super::haystack::{self, Count, Kind};
use super::rng::Rng;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Family {
    /// One needle in repeated noise sentences.
    SingleNoise,
    /// One needle in Paul Graham's essays.
    SingleEssay,
    /// One needle among lines of random 7-digit numbers.
    SingleNumbers,
    /// One key asked among 4 needles of the same form (look-alikes), in essays.
    #[value(name = "multikey-4")]
    Multikey4,
    /// One key asked among 10 needles of the same form, in essays.
    #[value(name = "multikey-10")]
    Multikey10,
    /// All 4 values of one key, in essays.
    Multivalue,
    /// 4 keys asked at once, in essays.
    Multiquery,
    /// A chain of 5 variables assigned one value through 4 hops, in noise.
    VariableTracking,
    /// The 10 words that appear 30 times in a numbered list where the others appear 3 times.
    CommonWords,
    /// How a sentence quoted from the essays continues (question answering over real text).
    Qa,
}

impl Family {
    pub(crate) const ALL: [Family; 10] = [
        Family::SingleNoise,
        Family::SingleEssay,
        Family::SingleNumbers,
        Family::Multikey4,
        Family::Multikey10,
        Family::Multivalue,
        Family::Multiquery,
        Family::VariableTracking,
        Family::CommonWords,
        Family::Qa,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Family::SingleNoise => "single-noise",
            Family::SingleEssay => "single-essay",
            Family::SingleNumbers => "single-numbers",
            Family::Multikey4 => "multikey-4",
            Family::Multikey10 => "multikey-10",
            Family::Multivalue => "multivalue",
            Family::Multiquery => "multiquery",
            Family::VariableTracking => "variable-tracking",
            Family::CommonWords => "common-words",
            Family::Qa => "qa",
        }
    }

    /// Whether building it needs the essays.
    pub(crate) fn needs_essays(self) -> bool {
        !matches!(self, Family::SingleNoise | Family::SingleNumbers | Family::VariableTracking)
    }

    /// Answer tokens enough for every expected string.
    pub(crate) fn answer_tokens(self) -> u32 {
        match self {
            Family::Multivalue | Family::Multiquery => 48,
            Family::VariableTracking => 32,
            Family::CommonWords => 64,
            _ => 16,
        }
    }
}

/// One sample: ask `question` (it ends with the answer's opening words) about `document`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    pub document: String,
    pub question: String,
    /// Every string a complete answer holds.
    pub expected: Vec<String>,
}

/// RULER's string-match recall: the share of `expected` found in `answer`, compared
/// case-insensitively with punctuation and runs of spaces folded.
pub(crate) fn score(expected: &[String], answer: &str) -> f64 {
    if expected.is_empty() {
        return 0.0;
    }
    let answer = normalize(answer);
    let found = expected.iter().filter(|e| answer.contains(&normalize(e))).count();
    found as f64 / expected.len() as f64
}

fn normalize(text: &str) -> String {
    let mapped: String = text.chars().map(|c| if c.is_alphanumeric() { c.to_ascii_lowercase() } else { ' ' }).collect();
    format!(" {} ", mapped.split_whitespace().collect::<Vec<_>>().join(" "))
}

const ADJECTIVES: &[&str] = &[
    "amber", "bitter", "brave", "calm", "clever", "crimson", "curious", "daring", "dusty", "eager", "early", "faint",
    "fancy", "fierce", "gentle", "golden", "grumpy", "hollow", "humble", "icy", "jolly", "lazy", "lively", "lucky",
    "misty", "modern", "narrow", "noisy", "odd", "pale", "plain", "proud", "quick", "quiet", "rapid", "rusty", "shiny",
    "silent", "silver", "sleepy", "smooth", "solid", "steady", "stormy", "sturdy", "sunny", "swift", "tall", "tender",
    "tidy", "tiny", "vast", "velvet", "wild", "windy", "wise", "wooden", "young", "zesty", "hidden",
];
const NOUNS: &[&str] = &[
    "anchor", "apple", "badger", "banner", "basket", "beacon", "bridge", "candle", "canyon", "castle", "cellar",
    "comet", "copper", "crayon", "desert", "dragon", "falcon", "feather", "forest", "garden", "glacier", "hammer",
    "harbor", "helmet", "island", "jacket", "kettle", "ladder", "lantern", "lemon", "marble", "meadow", "mirror",
    "needle", "orchid", "otter", "palace", "pebble", "pepper", "pillow", "pirate", "planet", "pocket", "puzzle",
    "rabbit", "ribbon", "river", "rocket", "saddle", "salmon", "shadow", "spider", "statue", "teapot", "thunder",
    "tiger", "tunnel", "violin", "walrus", "window",
];

/// `n` distinct keys of the same form ("adjective-noun").
fn keys(rng: &mut Rng, n: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(n);
    while out.len() < n {
        let key = format!("{}-{}", ADJECTIVES[rng.below(ADJECTIVES.len())], NOUNS[rng.below(NOUNS.len())]);
        if !out.contains(&key) {
            out.push(key);
        }
    }
    out
}

/// `n` distinct 7-digit values.
fn values(rng: &mut Rng, n: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(n);
    while out.len() < n {
        let value = rng.seven_digits().to_string();
        if !out.contains(&value) {
            out.push(value);
        }
    }
    out
}

fn needle(key: &str, value: &str) -> String {
    format!("One of the special magic numbers for {key} is: {value}.")
}

const NIAH_INTRO: &str = "Some special magic numbers are hidden within the following text. Make sure to memorize \
                          it. I will quiz you about the numbers afterwards.\n";

fn ask_one(key: &str) -> String {
    format!(
        "\nWhat is the special magic number for {key} mentioned in the provided text? The special magic number for \
         {key} mentioned in the provided text is"
    )
}

/// What one build needs besides the family.
pub(crate) struct Spec<'a> {
    /// Target tokens of document and question together.
    pub length: usize,
    /// Sample index and count: single needles sit at the centre of slice `index` of `samples`.
    pub index: usize,
    pub samples: usize,
    pub seed: u64,
    /// The essays corpus (empty when the family does not need it).
    pub essays: &'a str,
}

/// Builds sample `spec.index` of `family`.
pub(crate) fn build(family: Family, spec: &Spec<'_>, count: &Count<'_>) -> Result<Sample, String> {
    let mut rng = Rng::new(
        spec.seed
            ^ (family as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407)
            ^ (spec.length as u64).wrapping_mul(0x9FB2_1C65_1E98_DF25)
            ^ (spec.index as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93),
    );
    let centre = (spec.index as f64 + 0.5) / spec.samples.max(1) as f64;
    match family {
        Family::SingleNoise => single(Kind::Noise, centre, spec, &mut rng, count),
        Family::SingleEssay => single(Kind::Essays, centre, spec, &mut rng, count),
        Family::SingleNumbers => single(Kind::Numbers, centre, spec, &mut rng, count),
        Family::Multikey4 => multikey(4, centre, spec, &mut rng, count),
        Family::Multikey10 => multikey(10, centre, spec, &mut rng, count),
        Family::Multivalue => multivalue(spec, &mut rng, count),
        Family::Multiquery => multiquery(spec, &mut rng, count),
        Family::VariableTracking => variable_tracking(spec, &mut rng, count),
        Family::CommonWords => common_words(spec, &mut rng, count),
        Family::Qa => qa(centre, spec, &mut rng, count),
    }
}

/// A haystack of `kind` with `facts` at their depths, sized so that document and question
/// come to about `spec.length` tokens.
fn niah_document(
    kind: Kind,
    facts: &[(f64, String)],
    question: &str,
    spec: &Spec<'_>,
    rng: &mut Rng,
    count: &Count<'_>,
) -> Result<String, String> {
    let fixed = count(NIAH_INTRO)? + count(question)? + facts.iter().map(|f| count(&f.1)).sum::<Result<usize, _>>()?;
    let budget = spec.length.checked_sub(fixed + facts.len()).filter(|&b| b >= 64).ok_or_else(|| {
        format!("--lengths {} is too short: the question and the facts alone take {fixed} tokens", spec.length)
    })?;
    let hay = haystack::build(kind, spec.essays, budget, rng, count)?;
    Ok(format!("{NIAH_INTRO}{}", haystack::insert_at_depths(&hay, facts)))
}

fn single(kind: Kind, depth: f64, spec: &Spec<'_>, rng: &mut Rng, count: &Count<'_>) -> Result<Sample, String> {
    let key = keys(rng, 1).remove(0);
    let value = values(rng, 1).remove(0);
    let question = ask_one(&key);
    let document = niah_document(kind, &[(depth, needle(&key, &value))], &question, spec, rng, count)?;
    Ok(Sample { document, question, expected: vec![value] })
}

/// `n` needles of distinct keys; the one asked sits at `depth`, the others at random depths.
fn multikey(n: usize, depth: f64, spec: &Spec<'_>, rng: &mut Rng, count: &Count<'_>) -> Result<Sample, String> {
    let keys = keys(rng, n);
    let values = values(rng, n);
    let mut facts = vec![(depth, needle(&keys[0], &values[0]))];
    facts.extend((1..n).map(|i| (rng.unit(), needle(&keys[i], &values[i]))));
    let question = ask_one(&keys[0]);
    let document = niah_document(Kind::Essays, &facts, &question, spec, rng, count)?;
    Ok(Sample { document, question, expected: vec![values[0].clone()] })
}

fn multivalue(spec: &Spec<'_>, rng: &mut Rng, count: &Count<'_>) -> Result<Sample, String> {
    let key = keys(rng, 1).remove(0);
    let values = values(rng, 4);
    all_values_of(&vec![key; 4], values, spec, rng, count)
}

fn multiquery(spec: &Spec<'_>, rng: &mut Rng, count: &Count<'_>) -> Result<Sample, String> {
    let keys = keys(rng, 4);
    let values = values(rng, 4);
    all_values_of(&keys, values, spec, rng, count)
}

/// Needle `i` pairs `keys[i]` with `values[i]`, at random depths; the question asks for every
/// value of the distinct keys ("a, b, c, and d").
fn all_values_of(
    keys: &[String],
    values: Vec<String>,
    spec: &Spec<'_>,
    rng: &mut Rng,
    count: &Count<'_>,
) -> Result<Sample, String> {
    let facts: Vec<(f64, String)> = keys.iter().zip(&values).map(|(k, v)| (rng.unit(), needle(k, v))).collect();
    let mut asked: Vec<&str> = keys.iter().map(String::as_str).collect();
    asked.dedup();
    let subject = match asked.split_last() {
        Some((last, [])) => last.to_string(),
        Some((last, others)) => format!("{}, and {last}", others.join(", ")),
        None => return Err("no key to ask for".into()),
    };
    let question = format!(
        "\nWhat are all the special magic numbers for {subject} mentioned in the provided text? The special magic \
         numbers for {subject} mentioned in the provided text are"
    );
    let document = niah_document(Kind::Essays, &facts, &question, spec, rng, count)?;
    Ok(Sample { document, question, expected: values })
}

/// One chain of 4 hops (5 variables), the assignments in chain order at random depths.
fn variable_tracking(spec: &Spec<'_>, rng: &mut Rng, count: &Count<'_>) -> Result<Sample, String> {
    let value = (10_000 + rng.below(90_000)).to_string();
    let mut names: Vec<String> = Vec::new();
    while names.len() < 5 {
        let name: String = (0..5).map(|_| char::from(b'A' + rng.below(26) as u8)).collect();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let mut depths: Vec<f64> = (0..5).map(|_| rng.unit()).collect();
    depths.sort_by(f64::total_cmp);
    let facts: Vec<(f64, String)> = (0..5)
        .map(|i| {
            let from = if i == 0 { value.clone() } else { format!("VAR {}", names[i - 1]) };
            (depths[i], format!("VAR {} = {from}.", names[i]))
        })
        .collect();
    let question = format!(
        "\nQuestion: Find all variables that are assigned the value {value} in the text above. Answer: According \
         to the chain(s) of variable assignment in the text above, 5 variables are assigned the value {value}, \
         they are:"
    );
    let document = niah_document(Kind::Noise, &facts, &question, spec, rng, count)?;
    Ok(Sample { document: document.replacen(NIAH_INTRO, "", 1), question, expected: names })
}

/// A numbered list where 10 words appear 30 times each and the others 3 times, shuffled.
fn common_words(spec: &Spec<'_>, rng: &mut Rng, count: &Count<'_>) -> Result<Sample, String> {
    let vocabulary = essay_words(spec.essays);
    if vocabulary.len() < 200 {
        return Err("common-words needs the essays' vocabulary: run scripts/fetch-essays.sh".into());
    }
    let intro = "Below is a numbered list of words. In these words, some appear more often than others. \
                 Memorize the ones that appear most often.\n";
    let question = "\nQuestion: What are the 10 most common words in the above list? Answer: The top 10 words \
                    that appear most often in the list are:"
        .to_string();
    let chosen: Vec<&str> = rng.pick(&vocabulary, vocabulary.len()).into_iter().copied().collect();
    let (common, rare) = chosen.split_at(10);
    let per_line = count("\n123. example")?.max(1);
    let lines = spec.length.saturating_sub(count(intro)? + count(&question)?) / per_line;
    let rare_count = lines.saturating_sub(300) / 3;
    if rare_count > rare.len() {
        return Err(format!("--lengths {} needs more distinct words than the essays hold", spec.length));
    }
    let mut words: Vec<&str> = Vec::with_capacity(lines);
    for w in common {
        words.extend(std::iter::repeat_n(*w, 30));
    }
    for w in &rare[..rare_count] {
        words.extend(std::iter::repeat_n(*w, 3));
    }
    let shuffled: Vec<&str> = rng.pick(&words, words.len()).into_iter().copied().collect();
    let list: String = shuffled.iter().enumerate().map(|(i, w)| format!("{}. {w}\n", i + 1)).collect();
    Ok(Sample {
        document: format!("{intro}{list}"),
        question,
        expected: common.iter().map(|w| w.to_string()).collect(),
    })
}

/// Distinct lowercase alphabetic words of 5 to 10 letters from the essays, in first-seen order.
fn essay_words(essays: &str) -> Vec<&str> {
    let mut seen = std::collections::HashSet::new();
    essays
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| (5..=10).contains(&w.len()) && w.bytes().all(|b| b.is_ascii_lowercase()))
        .filter(|w| seen.insert(*w))
        .collect()
}

/// A sentence of the essays near `depth` whose opening words occur once in the document; the
/// answer is how it continues (its next three words).
fn qa(depth: f64, spec: &Spec<'_>, rng: &mut Rng, count: &Count<'_>) -> Result<Sample, String> {
    let template = |opening: &str| {
        format!(
            "\nQuestion: In the text above, a sentence begins with \"{opening}\". How does that sentence continue? \
             Answer: The sentence continues with the words \""
        )
    };
    // Sized with a typical question first; the real one is no longer than 12 words of prose.
    let probe = template("one two three four five six seven eight nine ten eleven twelve");
    let budget = spec.length.saturating_sub(count(&probe)? + 8);
    let hay = haystack::build(Kind::Essays, spec.essays, budget, rng, count)?;
    let target = haystack::floor_boundary(&hay, (hay.len() as f64 * depth) as usize);
    let starts = haystack::insertion_points(&hay);
    let from = starts.partition_point(|&p| p < target);
    // Search outwards from the depth for a usable sentence.
    for offset in 0..starts.len() {
        for i in [from.checked_add(offset), from.checked_sub(offset)].into_iter().flatten() {
            let Some(&at) = starts.get(i) else { continue };
            let end = hay[at..].find(['.', '?', '!', '\n']).map_or(hay.len(), |e| at + e);
            let words: Vec<&str> = hay[at..end].split_whitespace().collect();
            if words.len() < 14 || words.iter().take(11).any(|w| w.contains('"')) {
                continue;
            }
            let opening = words[..8].join(" ");
            if hay.matches(&opening).count() != 1 {
                continue;
            }
            let continuation = words[8..11].join(" ");
            return Ok(Sample { document: hay.clone(), question: template(&opening), expected: vec![continuation] });
        }
    }
    Err(format!("no sentence of 14 words or more with a unique opening in a {}-token essay haystack", spec.length))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Result<usize, String> {
        Ok(text.split_whitespace().count())
    }

    fn essays() -> String {
        // Enough distinct words for common-words and long sentences for qa.
        (0..4000)
            .map(|i| {
                format!(
                    "Sentence number {i} speaks of {} and {} while walking through the quiet streets of the town \
                     today.",
                    word(i),
                    word(i * 7 + 3)
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn word(i: usize) -> String {
        let letters: String = (0..6).map(|k| char::from(b'a' + ((i / 26usize.pow(k)) % 26) as u8)).collect();
        letters
    }

    #[test]
    fn every_family_builds_near_the_length_and_holds_its_answers() {
        let corpus = essays();
        for family in Family::ALL {
            let spec = Spec { length: 3000, index: 1, samples: 4, seed: 5, essays: &corpus };
            let sample = build(family, &spec, &words).unwrap();
            let total = words(&sample.document).unwrap() + words(&sample.question).unwrap();
            assert!((2400..=3100).contains(&total), "{}: {total} words", family.name());
            for e in &sample.expected {
                assert!(sample.document.contains(e.as_str()), "{}: {e} is not in the document", family.name());
            }
            assert_eq!(score(&sample.expected, &sample.expected.join(", ")), 1.0, "{}", family.name());
            assert_eq!(score(&sample.expected, "nothing useful"), 0.0, "{}", family.name());
            // Fixed seeds: the same spec gives the same sample.
            assert_eq!(build(family, &spec, &words).unwrap(), sample, "{}", family.name());
        }
    }

    #[test]
    fn command_line_names_are_the_table_names() {
        for family in Family::ALL {
            let value = family.to_possible_value().expect("every family has a name on the command line");
            assert_eq!(value.get_name(), family.name());
        }
    }

    #[test]
    fn look_alike_keys_are_distinct_and_of_one_form() {
        let corpus = essays();
        let spec = Spec { length: 3000, index: 0, samples: 1, seed: 9, essays: &corpus };
        let sample = build(Family::Multikey10, &spec, &words).unwrap();
        assert_eq!(sample.document.matches("One of the special magic numbers for ").count(), 10);
        assert_eq!(sample.expected.len(), 1);
    }

    #[test]
    fn multi_needle_questions_name_each_distinct_key_once() {
        let corpus = essays();
        let spec = Spec { length: 3000, index: 0, samples: 1, seed: 2, essays: &corpus };
        let query = build(Family::Multiquery, &spec, &words).unwrap();
        assert_eq!(query.question.matches(", and ").count(), 2, "{}", query.question);
        assert_eq!(query.question.matches(", ").count(), 6, "{}", query.question);
        let value = build(Family::Multivalue, &spec, &words).unwrap();
        assert_eq!(value.question.matches(", ").count(), 0, "{}", value.question);
        assert_eq!(value.expected.len(), 4);
    }

    #[test]
    fn single_needles_spread_over_the_depths() {
        let spec = |index| Spec { length: 2000, index, samples: 4, seed: 1, essays: "" };
        let at = |index| {
            let sample = build(Family::SingleNoise, &spec(index), &words).unwrap();
            sample.document.find(&sample.expected[0]).unwrap() as f64 / sample.document.len() as f64
        };
        for index in 0..4 {
            let want = (index as f64 + 0.5) / 4.0;
            assert!((at(index) - want).abs() < 0.05, "sample {index}: {} vs {want}", at(index));
        }
    }

    #[test]
    fn recall_counts_each_expected_string_once() {
        let expected = vec!["1234567".to_string(), "7654321".to_string()];
        assert_eq!(score(&expected, " 1234567 and then"), 0.5);
        assert_eq!(score(&expected, "7654321, 1234567."), 1.0);
        assert_eq!(score(&["went to the".into()], "\"Went to the market"), 1.0);
        assert_eq!(score(&["went to the".into()], "went to them"), 0.0);
    }
}
