//! Online estimates of the two market parameters the quoting model needs: the volatility σ of
//! the mid and the order-arrival intensity `λ(δ) = A·e^(−κ·δ)` at distance δ from the mid.
//!
//! Both take plain numbers (time in seconds, prices in the caller's unit — the strategy uses
//! ticks) so they can be tested on synthetic series with known parameters. Floors and caps are
//! the caller's: an estimate is a measurement, the clamp is a policy.

use std::collections::VecDeque;

use serde::Serialize;

/// σ from the mid: an exponentially weighted average of squared mid changes per second,
/// sampled at most every `sample_secs` (so a burst of book updates does not count as many
/// independent returns).
#[derive(Debug, Clone)]
pub struct VolatilityEstimator {
    half_life_secs: f64,
    sample_secs: f64,
    last: Option<(f64, f64)>,
    variance_rate: Option<f64>,
    samples: u64,
}

impl VolatilityEstimator {
    /// An estimator forgetting with `half_life_secs` and sampling every `sample_secs`.
    pub fn new(half_life_secs: f64, sample_secs: f64) -> VolatilityEstimator {
        VolatilityEstimator {
            half_life_secs: half_life_secs.max(f64::MIN_POSITIVE),
            sample_secs: sample_secs.max(0.0),
            last: None,
            variance_rate: None,
            samples: 0,
        }
    }

    /// Observe the mid at time `t` (seconds, non-decreasing).
    pub fn observe(&mut self, t: f64, mid: f64) {
        let Some((t0, m0)) = self.last else {
            self.last = Some((t, mid));
            return;
        };
        let dt = t - t0;
        if dt.is_nan() || dt <= 0.0 || dt < self.sample_secs {
            return;
        }
        let rate = (mid - m0) * (mid - m0) / dt;
        let alpha = 1.0 - (-dt * std::f64::consts::LN_2 / self.half_life_secs).exp();
        self.variance_rate = Some(match self.variance_rate {
            None => rate,
            Some(v) => v + alpha * (rate - v),
        });
        self.samples += 1;
        self.last = Some((t, mid));
    }

    /// σ per √second, once at least `min_samples` returns were seen.
    pub fn sigma(&self, min_samples: u64) -> Option<f64> {
        (self.samples >= min_samples.max(1))
            .then_some(self.variance_rate?)
            .map(f64::sqrt)
    }

    /// Returns observed so far.
    pub fn samples(&self) -> u64 {
        self.samples
    }
}

/// The fitted intensity `λ(δ) = A·e^(−κ·δ)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct IntensityFit {
    /// A: arrivals per second at the mid.
    pub a: f64,
    /// κ: decay per unit of distance.
    pub kappa: f64,
    /// Trades the fit used.
    pub trades: usize,
}

/// κ and A from public trades, as Hummingbot's Avellaneda–Stoikov estimator does: every trade
/// is recorded with its distance from the mid at that moment; the rate of trades reaching at
/// least δ, `N(≥δ)/window`, is fitted to `A·e^(−κ·δ)` by least squares on its logarithm
/// (weighted by the counts, so the sparse far tail does not dominate).
#[derive(Debug, Clone)]
pub struct IntensityEstimator {
    window_secs: f64,
    max_trades: usize,
    first_seen: Option<f64>,
    trades: VecDeque<(f64, f64)>,
}

impl IntensityEstimator {
    /// An estimator over the trades of the last `window_secs`, keeping at most `max_trades`.
    pub fn new(window_secs: f64, max_trades: usize) -> IntensityEstimator {
        IntensityEstimator {
            window_secs: window_secs.max(f64::MIN_POSITIVE),
            max_trades: max_trades.max(2),
            first_seen: None,
            trades: VecDeque::new(),
        }
    }

    /// Record a trade at time `t` (seconds) at distance `delta` (≥ 0) from the mid.
    pub fn record(&mut self, t: f64, delta: f64) {
        if !delta.is_finite() || !t.is_finite() {
            return;
        }
        self.first_seen.get_or_insert(t);
        if self.trades.len() == self.max_trades {
            self.trades.pop_front();
        }
        self.trades.push_back((t, delta.abs()));
    }

    /// Fit at time `now`; `None` with fewer than `min_trades` trades in the window, fewer than
    /// two distinct distances, or no decay to measure.
    pub fn fit(&mut self, now: f64, min_trades: usize) -> Option<IntensityFit> {
        let cutoff = now - self.window_secs;
        while self.trades.front().is_some_and(|(t, _)| *t < cutoff) {
            self.trades.pop_front();
        }
        let n = self.trades.len();
        if n < min_trades.max(2) {
            return None;
        }
        // The span actually observed: the whole window, or less right after start.
        let oldest = self.trades.front().map_or(now, |(t, _)| *t);
        let since = self.first_seen.map_or(oldest, |f| f.max(cutoff));
        let span = (now - since).max(f64::MIN_POSITIVE);

        let mut deltas: Vec<f64> = self.trades.iter().map(|(_, d)| *d).collect();
        deltas.sort_by(f64::total_cmp);
        // Points (δ, ln(N(≥δ)/span)) at each distinct distance, weighted by N(≥δ).
        let (mut sw, mut sx, mut sy, mut sxx, mut sxy) = (0.0, 0.0, 0.0, 0.0, 0.0);
        let mut points = 0;
        let mut i = 0;
        while i < n {
            let x = deltas[i];
            let at_least = (n - i) as f64;
            let y = (at_least / span).ln();
            let w = at_least;
            sw += w;
            sx += w * x;
            sy += w * y;
            sxx += w * x * x;
            sxy += w * x * y;
            points += 1;
            while i < n && deltas[i] == x {
                i += 1;
            }
        }
        let denominator = sw * sxx - sx * sx;
        if points < 2 || denominator.abs() < f64::EPSILON {
            return None;
        }
        let slope = (sw * sxy - sx * sy) / denominator;
        let intercept = (sy - slope * sx) / sw;
        (slope < 0.0).then(|| IntensityFit {
            a: intercept.exp(),
            kappa: -slope,
            trades: n,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, Exp, Normal};

    #[test]
    fn volatility_of_a_random_walk_with_known_sigma() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let (sigma, dt) = (2.0, 0.5);
        let step = Normal::new(0.0, sigma * f64::sqrt(dt)).unwrap();
        let mut est = VolatilityEstimator::new(600.0, 0.5);
        let mut mid = 5_000.0;
        for i in 0..20_000 {
            est.observe(i as f64 * dt, mid);
            mid += step.sample(&mut rng);
        }
        let got = est.sigma(100).unwrap();
        assert!((got - sigma).abs() / sigma < 0.1, "σ estimate {got}");
    }

    #[test]
    fn volatility_ignores_updates_faster_than_the_sample_interval() {
        let mut est = VolatilityEstimator::new(60.0, 1.0);
        est.observe(0.0, 100.0);
        // A flicker within the sample interval is not a return.
        est.observe(0.1, 110.0);
        est.observe(0.2, 100.0);
        assert_eq!(est.samples(), 0);
        assert_eq!(est.sigma(1), None, "no estimate before the first return");
        est.observe(1.0, 102.0);
        assert_eq!(est.samples(), 1);
        assert!((est.sigma(1).unwrap() - 2.0).abs() < 1e-12);
    }

    #[test]
    fn intensity_fit_recovers_known_a_and_kappa() {
        // Trades arrive as a Poisson process of rate A; each reaches an Exp(κ) distance, so the
        // rate of trades reaching at least δ is A·e^(−κδ).
        let (a, kappa) = (3.0, 0.8);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let gaps = Exp::new(a).unwrap();
        let dist = Exp::new(kappa).unwrap();
        let mut est = IntensityEstimator::new(10_000.0, 100_000);
        let mut t = 0.0;
        while t < 5_000.0 {
            t += gaps.sample(&mut rng);
            est.record(t, dist.sample(&mut rng));
        }
        let fit = est.fit(t, 50).unwrap();
        assert!((fit.kappa - kappa).abs() / kappa < 0.1, "{fit:?}");
        assert!((fit.a - a).abs() / a < 0.15, "{fit:?}");
    }

    #[test]
    fn intensity_fit_on_a_tick_grid() {
        // Distances on a tick grid (half-ticks from a mid between two ticks), as on a venue.
        let (a, kappa) = (5.0, 0.6);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let gaps = Exp::new(a).unwrap();
        let dist = Exp::new(kappa).unwrap();
        let mut est = IntensityEstimator::new(2_000.0, 100_000);
        let mut t = 0.0;
        while t < 2_000.0 {
            t += gaps.sample(&mut rng);
            // Round each distance up to the next half tick: N(≥ k+½) counts distances > k.
            let d: f64 = dist.sample(&mut rng);
            est.record(t, d.floor() + 0.5);
        }
        let fit = est.fit(t, 50).unwrap();
        assert!((fit.kappa - kappa).abs() / kappa < 0.1, "{fit:?}");
    }

    #[test]
    fn intensity_needs_enough_trades_and_forgets_old_ones() {
        let mut est = IntensityEstimator::new(60.0, 1_000);
        assert_eq!(est.fit(0.0, 10), None);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for i in 0..30 {
            est.record(f64::from(i), rng.random_range(0.0..3.0));
        }
        assert!(est.fit(30.0, 10).is_some());
        assert_eq!(est.fit(1_000.0, 10), None, "all trades left the window");
        // All trades at one distance: no decay to fit.
        let mut flat = IntensityEstimator::new(60.0, 1_000);
        for i in 0..30 {
            flat.record(f64::from(i), 1.5);
        }
        assert_eq!(flat.fit(30.0, 10), None);
        // NaN input is ignored rather than poisoning the fit.
        flat.record(f64::NAN, 1.0);
        flat.record(31.0, f64::INFINITY);
        assert_eq!(flat.fit(31.0, 10), None);
    }
}
