//! Log-probabilities of generated tokens, as peers report them (OpenAI's `logprobs` /
//! `top_logprobs`, llama.cpp server's `n_probs`): from the model's own distribution at each
//! step, before the sampler's bias, penalties and temperature reshape it.

use crate::llama::Token;

/// One alternative at a generation step: a token and its log-probability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TopLogprob {
    pub token: Token,
    /// Natural log of the token's probability (<= 0).
    pub logprob: f32,
}

/// The log-probabilities around one generated token.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenLogprobs {
    /// The token that was generated.
    pub token: Token,
    /// Natural log of its probability (<= 0).
    pub logprob: f32,
    /// The `top_logprobs` most likely tokens at that step, most likely first (ties by id).
    /// The generated token is among them only if it was that likely.
    pub top: Vec<TopLogprob>,
}

/// The log-probabilities of `token` and of the `n_top` most likely tokens under `logits`
/// (a distribution over the vocabulary, unnormalised).
pub(crate) fn token_logprobs(logits: &[f32], token: Token, n_top: usize) -> TokenLogprobs {
    let max = logits.iter().copied().filter(|l| !l.is_nan()).fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = logits.iter().map(|&l| f64::from(l - max).exp()).filter(|e| !e.is_nan()).sum();
    let log_sum = f64::from(max) + sum.ln();
    // Clamped: rounding must not report a probability above 1.
    let logprob_of = |l: f32| ((f64::from(l) - log_sum) as f32).min(0.0);
    let logprob = token.index().and_then(|i| logits.get(i)).map_or(f32::NEG_INFINITY, |&l| logprob_of(l));
    let by_likelihood = |a: &usize, b: &usize| logits[*b].total_cmp(&logits[*a]).then(a.cmp(b));
    let mut order: Vec<usize> = (0..logits.len()).collect();
    let n_top = n_top.min(order.len());
    if n_top > 0 && n_top < order.len() {
        order.select_nth_unstable_by(n_top - 1, by_likelihood);
    }
    order.truncate(n_top);
    order.sort_unstable_by(by_likelihood);
    let top =
        order.into_iter().map(|i| TopLogprob { token: Token(i as i32), logprob: logprob_of(logits[i]) }).collect();
    TokenLogprobs { token, logprob, top }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_is_sorted_normalised_and_names_the_token() {
        let logits = [1.0, 3.0, 2.0, 3.0, -1.0];
        let lp = token_logprobs(&logits, Token(2), 3);
        let ids: Vec<Token> = lp.top.iter().map(|t| t.token).collect();
        assert_eq!(ids, vec![Token(1), Token(3), Token(2)]);
        assert_eq!(lp.top[0].logprob, lp.top[1].logprob);
        assert_eq!(lp.logprob, lp.top[2].logprob);
        let total: f32 =
            logits.iter().map(|&l| token_logprobs(&logits, Token(0), 0).logprob + (l - 1.0)).map(f32::exp).sum();
        assert!((total - 1.0).abs() < 1e-5, "probabilities sum to {total}");
        assert!(lp.top.iter().all(|t| t.logprob <= 0.0));
    }

    #[test]
    fn n_top_is_capped_by_the_vocabulary_and_zero_gives_none() {
        assert_eq!(token_logprobs(&[0.0, 0.0], Token(1), 5).top.len(), 2);
        let none = token_logprobs(&[0.0, 0.0], Token(1), 0);
        assert!(none.top.is_empty());
        assert!((none.logprob - 0.5f32.ln()).abs() < 1e-6);
    }

    #[test]
    fn a_banned_token_has_minus_infinity() {
        let lp = token_logprobs(&[0.0, f32::NEG_INFINITY], Token(1), 2);
        assert_eq!(lp.logprob, f32::NEG_INFINITY);
        assert_eq!(lp.top[0].token, Token(0));
        assert_eq!(lp.top[0].logprob, 0.0);
    }
}
