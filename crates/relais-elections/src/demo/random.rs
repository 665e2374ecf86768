//! Drawing helpers over the seeded generator (`fastrand`'s wyrand: small, fast, and the same
//! sequence for the same seed with the locked version).

use fastrand::Rng;

/// Distributions the generator needs, on top of `fastrand`'s uniform draws.
pub(super) trait Draw {
    /// `true` with probability `p`.
    fn chance(&mut self, p: f64) -> bool;
    /// A standard normal draw (Box–Muller).
    fn normal(&mut self) -> f64;
    /// `exp(sigma × normal)`: a positive factor whose median is 1.
    fn spread(&mut self, sigma: f64) -> f64;
    /// Uniform in `lo ..= hi`.
    fn between(&mut self, lo: i64, hi: i64) -> i64;
    /// Uniform in `lo .. hi`.
    fn uniform(&mut self, lo: f64, hi: f64) -> f64;
    /// A Poisson draw (Knuth; for the small means used here).
    fn poisson(&mut self, mean: f64) -> u32;
}

impl Draw for Rng {
    fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.f64();
        let u2 = self.f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    fn spread(&mut self, sigma: f64) -> f64 {
        (sigma * self.normal()).exp()
    }

    fn between(&mut self, lo: i64, hi: i64) -> i64 {
        self.i64(lo..=hi)
    }

    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.f64()
    }

    fn poisson(&mut self, mean: f64) -> u32 {
        let limit = (-mean).exp();
        let mut k = 0;
        let mut p = self.f64();
        while p > limit && k < 64 {
            k += 1;
            p *= self.f64();
        }
        k
    }
}

/// A table of weights sampled by binary search over their running sums.
pub(super) struct Weighted {
    cumulative: Vec<u64>,
}

impl Weighted {
    /// From the weights, in item order (at least one above zero).
    pub(super) fn new(weights: impl IntoIterator<Item = u32>) -> Self {
        let mut total = 0u64;
        let cumulative = weights
            .into_iter()
            .map(|w| {
                total += u64::from(w);
                total
            })
            .collect();
        Weighted { cumulative }
    }

    /// An item index, each with probability weight / total.
    pub(super) fn sample(&self, rng: &mut Rng) -> usize {
        let total = *self.cumulative.last().expect("a weighted table has items");
        let x = rng.u64(0..total);
        self.cumulative.partition_point(|&c| c <= x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_sampling_follows_the_weights_and_skips_zeros() {
        let table = Weighted::new([1, 0, 3]);
        let mut rng = Rng::with_seed(7);
        let mut counts = [0u32; 3];
        for _ in 0..40_000 {
            counts[table.sample(&mut rng)] += 1;
        }
        assert_eq!(counts[1], 0);
        let ratio = f64::from(counts[2]) / f64::from(counts[0]);
        assert!((2.7..3.3).contains(&ratio), "{counts:?}");
    }

    #[test]
    fn draws_stay_in_their_ranges() {
        let mut rng = Rng::with_seed(3);
        let mut sum = 0.0;
        for _ in 0..10_000 {
            let b = rng.between(-2, 5);
            assert!((-2..=5).contains(&b));
            let u = rng.uniform(0.5, 1.5);
            assert!((0.5..1.5).contains(&u));
            sum += f64::from(rng.poisson(0.7));
        }
        let mean = sum / 10_000.0;
        assert!((0.6..0.8).contains(&mean), "{mean}");
    }
}
