//! A small seeded generator (SplitMix64) so every sample is rebuilt identically from its seed,
//! on any machine, without a dependency.

pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A number of exactly seven digits.
    pub(crate) fn seven_digits(&mut self) -> u32 {
        1_000_000 + self.below(9_000_000) as u32
    }

    /// `k` distinct items of `from`, in random order.
    pub(crate) fn pick<'a, T>(&mut self, from: &'a [T], k: usize) -> Vec<&'a T> {
        let mut order: Vec<usize> = (0..from.len()).collect();
        for i in 0..k.min(order.len()) {
            let j = i + self.below(order.len() - i);
            order.swap(i, j);
        }
        order[..k.min(from.len())].iter().map(|&i| &from[i]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_draws() {
        let draws = |seed| {
            let mut r = Rng::new(seed);
            (0..5).map(|_| r.seven_digits()).collect::<Vec<_>>()
        };
        assert_eq!(draws(3), draws(3));
        assert_ne!(draws(3), draws(4));
        assert!(draws(9).iter().all(|n| (1_000_000..10_000_000).contains(n)));
    }

    #[test]
    fn picks_are_distinct() {
        let items: Vec<u32> = (0..20).collect();
        let picked = Rng::new(1).pick(&items, 10);
        let mut sorted: Vec<u32> = picked.iter().map(|&&x| x).collect();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 10);
    }
}
