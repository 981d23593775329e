//! Pure math of the integration strategies: log-softmax, entropy, logit fusion, top-k
//! bookkeeping. No llama types, so it is tested without a model.

/// Log-probabilities of a logit vector (numerically stable).
pub fn log_softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = logits.iter().map(|&l| ((l - max) as f64).exp()).sum();
    let log_sum = max as f64 + sum.ln();
    logits.iter().map(|&l| (l as f64 - log_sum) as f32).collect()
}

/// Shannon entropy (nats) of the distribution given by log-probabilities.
pub fn entropy(log_probs: &[f32]) -> f32 {
    -log_probs.iter().filter(|lp| lp.is_finite()).map(|&lp| lp.exp() * lp).sum::<f32>()
}

/// NBCE-style fusion: `(1 + beta) * chosen - beta * context_free`, element-wise.
pub fn fuse(chosen: &[f32], context_free: &[f32], beta: f32) -> Vec<f32> {
    chosen.iter().zip(context_free).map(|(&c, &f)| (1.0 + beta) * c - beta * f).collect()
}

/// Index of the smallest value (first one on ties); None for an empty slice.
pub fn argmin(values: &[f32]) -> Option<usize> {
    values.iter().enumerate().min_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i)
}

/// Keeps the `capacity` entries with the lowest score seen so far.
#[derive(Debug)]
pub struct BestK<T> {
    capacity: usize,
    entries: Vec<(f32, usize, T)>,
}

impl<T> BestK<T> {
    pub fn new(capacity: usize) -> Self {
        BestK { capacity, entries: Vec::new() }
    }

    /// Whether an entry with this score would be kept.
    pub fn admits(&self, score: f32) -> bool {
        self.entries.len() < self.capacity || self.worst().is_some_and(|w| score < w)
    }

    fn worst(&self) -> Option<f32> {
        self.entries.iter().map(|e| e.0).max_by(|a, b| a.total_cmp(b))
    }

    /// Offers an entry; returns false (dropping it) when it is not among the best.
    pub fn offer(&mut self, score: f32, index: usize, value: T) -> bool {
        if !self.admits(score) {
            return false;
        }
        if self.entries.len() == self.capacity {
            self.evict_worst();
        }
        self.entries.push((score, index, value));
        true
    }

    /// Removes and returns the entry with the highest score, as (index, value).
    pub fn evict_worst(&mut self) -> Option<(usize, T)> {
        let at = self.entries.iter().enumerate().max_by(|a, b| a.1.0.total_cmp(&b.1.0)).map(|(i, _)| i)?;
        let (_, index, value) = self.entries.swap_remove(at);
        Some((index, value))
    }

    /// The kept entries as (index, value), the highest score first, the lowest last (ties in
    /// index order).
    pub fn into_sorted_worst_first(mut self) -> Vec<(usize, T)> {
        self.entries.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        self.entries.into_iter().map(|(_, i, v)| (i, v)).collect()
    }

    /// The kept entries as (index, value), in index order.
    pub fn into_sorted_by_index(mut self) -> Vec<(usize, T)> {
        self.entries.sort_by_key(|e| e.1);
        self.entries.into_iter().map(|(_, i, v)| (i, v)).collect()
    }
}

/// Orders kept chunks for reading, given them ranked worst first as (chunk index, value).
/// Chunks that follow each other in the document form one passage, read in document order,
/// so a sentence that a chunk boundary cut reads whole again; passages keep the rank of their
/// best chunk, worst first, so the best passage sits right before the question.
pub fn reading_order<T>(ranked_worst_first: Vec<(usize, T)>) -> Vec<(usize, T)> {
    let mut entries: Vec<(usize, usize, T)> =
        ranked_worst_first.into_iter().enumerate().map(|(rank, (chunk, value))| (chunk, rank, value)).collect();
    entries.sort_by_key(|e| e.0);
    // (rank of the passage's best chunk, its chunks in document order)
    let mut passages: Vec<(usize, Vec<(usize, T)>)> = Vec::new();
    for (chunk, rank, value) in entries {
        match passages.last_mut() {
            Some((best, members)) if members.last().is_some_and(|m| m.0 + 1 == chunk) => {
                *best = (*best).max(rank);
                members.push((chunk, value));
            }
            _ => passages.push((rank, vec![(chunk, value)])),
        }
    }
    passages.sort_by_key(|p| p.0);
    passages.into_iter().flat_map(|p| p.1).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_softmax_normalises() {
        let lp = log_softmax(&[1.0, 2.0, 3.0]);
        let total: f32 = lp.iter().map(|l| l.exp()).sum();
        assert!((total - 1.0).abs() < 1e-5);
        assert!(lp[2] > lp[1] && lp[1] > lp[0]);
        let big = log_softmax(&[1000.0, 1000.0]);
        assert!((big[0] - (0.5f32).ln()).abs() < 1e-5);
    }

    #[test]
    fn entropy_is_zero_for_certainty_and_ln_n_for_uniform() {
        assert!(entropy(&log_softmax(&[100.0, 0.0, 0.0])) < 1e-3);
        let uniform = entropy(&log_softmax(&[0.0; 4]));
        assert!((uniform - 4f32.ln()).abs() < 1e-5);
    }

    #[test]
    fn fusion_contrasts_against_the_context_free_row() {
        let fused = fuse(&[-1.0, -2.0], &[-0.5, -3.0], 0.25);
        assert_eq!(fused, vec![-1.125, -1.75]);
    }

    #[test]
    fn best_k_keeps_the_lowest_scores_in_index_order() {
        let mut best = BestK::new(2);
        assert!(best.offer(5.0, 0, "a"));
        assert!(best.offer(3.0, 1, "b"));
        assert!(!best.admits(6.0));
        assert!(best.offer(1.0, 2, "c"));
        assert!(!best.offer(9.0, 3, "d"));
        assert_eq!(best.into_sorted_by_index(), vec![(1, "b"), (2, "c")]);
        let mut best = BestK::new(3);
        for (score, index) in [(2.0, 0), (1.0, 1), (3.0, 2), (2.0, 3)] {
            best.offer(score, index, ());
        }
        let order: Vec<usize> = best.into_sorted_worst_first().into_iter().map(|(i, _)| i).collect();
        assert_eq!(order, vec![0, 3, 1]);
        assert_eq!(argmin(&[3.0, 1.0, 1.0]), Some(1));
        assert_eq!(argmin(&[]), None);
    }

    fn order(ranked_worst_first: &[usize]) -> Vec<usize> {
        reading_order(ranked_worst_first.iter().map(|&c| (c, ())).collect()).into_iter().map(|(c, _)| c).collect()
    }

    #[test]
    fn reading_order_keeps_the_best_last_and_neighbours_in_document_order() {
        // Apart: worst first, best last.
        assert_eq!(order(&[9, 5]), vec![9, 5]);
        assert_eq!(order(&[5, 9]), vec![5, 9]);
        // Neighbours are one passage in document order, wherever the best one is.
        assert_eq!(order(&[64, 63]), vec![63, 64]);
        assert_eq!(order(&[63, 64]), vec![63, 64]);
        // A passage ranks as its best chunk.
        assert_eq!(order(&[2, 7, 3]), vec![7, 2, 3]);
        assert_eq!(order(&[7, 3, 2]), vec![7, 2, 3]);
        assert_eq!(order(&[2, 3, 7]), vec![2, 3, 7]);
        assert_eq!(order(&[4, 6, 5]), vec![4, 5, 6]);
        assert_eq!(order(&[]), Vec::<usize>::new());
    }
}
