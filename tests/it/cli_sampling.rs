//! The command line's sampling knobs: penalties, logit bias and log-probabilities, with
//! plain-word errors naming the bad value.

use crate::cli::focusllm;
use crate::common;

#[test]
fn bad_sampling_values_are_refused_by_name() {
    for (args, needles) in [
        (vec!["--frequency-penalty", "NaN"], vec!["--frequency-penalty", "NaN is not in -2..=2"]),
        (vec!["--presence-penalty", "-3"], vec!["--presence-penalty", "-3 is not in -2..=2"]),
        (vec!["--repeat-penalty", "-1"], vec!["--repeat-penalty", "-1 is not in 0..=10"]),
        (vec!["--repeat-penalty", "0"], vec!["repeat_penalty must be > 0, got 0"]),
        (vec!["--logit-bias", "12"], vec!["--logit-bias", "\"12\" is not TOKEN=BIAS"]),
        (vec!["--logit-bias", "x=1"], vec!["the token in \"x=1\" is not a token id"]),
        (vec!["--logit-bias", "5=nan"], vec!["the bias a number or -inf"]),
        (vec!["--top-logprobs", "21"], vec!["--top-logprobs", "21 is not in 0..=20"]),
        (vec!["--repeat-last-n", "-2"], vec!["--repeat-last-n", "-2 is not in -1..=1048576"]),
    ] {
        let all = [&["generate", "-t", "1"], args.as_slice(), &["hi"]].concat();
        let (ok, _, stderr) = focusllm(&all);
        assert!(!ok, "{all:?} was accepted");
        for needle in needles {
            assert!(stderr.contains(needle), "{all:?}: {stderr} lacks {needle}");
        }
    }
}

#[test]
fn a_bias_outside_the_vocabulary_names_the_token() {
    common::default_model();
    let (ok, _, stderr) = focusllm(&["generate", "-t", "1", "-n", "2", "--logit-bias", "60000=1", "hi"]);
    assert!(!ok);
    assert!(stderr.contains("logit_bias[0] names token 60000, outside the model's vocabulary 0..49152"), "{stderr}");
}

#[test]
fn logit_bias_and_logprobs_reach_the_output() {
    common::default_model();
    // Token 28 is a plain character of the default vocabulary; +100 forces it every step.
    let forced = "28=100";
    let (ok, stdout, stderr) =
        focusllm(&["generate", "-t", "1", "-n", "3", "--logit-bias", forced, "--top-logprobs", "2", "Hello"]);
    assert!(ok, "{stderr}");
    let piece = stdout.trim_end_matches('\n');
    assert_eq!(piece.chars().count(), 3, "three forced tokens: {stdout:?}");
    assert!(piece.chars().all(|c| c == piece.chars().next().unwrap_or(' ')), "{stdout:?}");
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("[logprob ")).collect();
    assert_eq!(lines.len(), 3, "{stderr}");
    assert!(lines.iter().all(|l| l.matches(", ").count() == 1), "two alternatives each: {stderr}");
}
