//! The numerical experiment of Avellaneda & Stoikov (2008), §4, run with the strategy's own
//! quoting functions from [`super::model`] — not a copy of the formulas — so the experiment checks
//! the code that quotes.
//!
//! A pure, seeded simulation: no I/O, no clock, no global RNG. The same [`ExperimentConfig`] always
//! gives the same [`ExperimentRow`]s. `cargo run --release --example avellaneda_stoikov` prints them
//! as the paper's tables.
//!
//! The model, per path and per γ, for `T/dt` steps at times `t = 0, dt, …, T − dt`:
//!
//! 1. the **inventory** strategy quotes `r ∓ spread/2` with `r = model::reservation_price(s, q, γ,
//!    σ, τ)` and `spread = model::optimal_spread(γ, σ, τ, k)`, τ = T − t; the **symmetric**
//!    benchmark quotes `s ∓ spread̄/2` with the constant `spread̄` of [`symmetric_spread`];
//! 2. the ask is hit (the strategy sells one unit at its ask) with probability `λ(δa)·dt`, the bid
//!    is hit (it buys one unit at its bid) with probability `λ(δb)·dt`, where
//!    `λ = model::arrival_intensity(A, k, ·)` and `δa = ask − s`, `δb = s − bid` are measured from
//!    the mid at quote time. Each side is drawn independently and fills at most once per step.
//!    Quotes are not clipped at the mid (as in the paper): a quote past the mid has a negative δ
//!    and its probability exceeds `A·dt`, capped at 1 by the draw;
//! 3. the mid moves by `+σ·√dt` or `−σ·√dt` with equal probability.
//!
//! Profit is `cash + q·S_T` (the inventory marked at the final mid; no liquidation cost).
//!
//! **Paired comparison.** Each path `p` draws from its own ChaCha8 stream (`seed`, stream `p`),
//! and every step consumes exactly three uniforms (ask, bid, mid move) whether or not anything
//! fills. So both strategies — and every γ — see the same mid path and the same uniform draws for
//! their hits on path `p`; the differences between rows come from the quotes alone.
//!
//! `f64` is deliberate: this is a model study of statistics, never an order's price.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::model;

/// The experiment's parameters, in the paper's units (dollars and time units of the session).
///
/// [`Default`] is the paper's §4 setting with 1000 paths per γ and the seed [`DEFAULT_SEED`].
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentConfig {
    /// Initial mid price `s0`.
    pub s0: f64,
    /// Session length `T`.
    pub t: f64,
    /// Volatility σ of the mid (per √time unit).
    pub sigma: f64,
    /// Time step `dt`; `T/dt` must be a whole number of steps.
    pub dt: f64,
    /// Initial inventory `q0` (units; one fill moves it by one).
    pub q0: f64,
    /// Decay `k` of the arrival intensity with distance from the mid.
    pub k: f64,
    /// Scale `A` of the arrival intensity (arrivals per time unit at the mid).
    pub a: f64,
    /// Simulated paths per γ (at least 2, for a sample standard deviation).
    pub paths: usize,
    /// Risk aversions γ to run, in this order (each > 0).
    pub gammas: Vec<f64>,
    /// Seed of the ChaCha8 generator.
    pub seed: u64,
}

/// Seed of [`ExperimentConfig::default`] (the paper's year; the paper publishes none).
pub const DEFAULT_SEED: u64 = 2008;

impl Default for ExperimentConfig {
    /// The paper's values: s0 = 100, T = 1, σ = 2, dt = 0.005 (200 steps), q0 = 0, k = 1.5,
    /// A = 140, 1000 paths, γ ∈ {0.1, 0.01, 1} (the order of the paper's tables 1–3).
    fn default() -> ExperimentConfig {
        ExperimentConfig {
            s0: 100.0,
            t: 1.0,
            sigma: 2.0,
            dt: 0.005,
            q0: 0.0,
            k: 1.5,
            a: 140.0,
            paths: 1000,
            gammas: vec![0.1, 0.01, 1.0],
            seed: DEFAULT_SEED,
        }
    }
}

/// Why an [`ExperimentConfig`] cannot run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid experiment config: {0}")]
pub struct ConfigError(pub String);

impl ExperimentConfig {
    /// Number of steps `T/dt`, or why the config cannot run.
    pub fn steps(&self) -> Result<usize, ConfigError> {
        let bad = |m: &str| Err(ConfigError(m.to_string()));
        let finite = [
            self.s0, self.t, self.sigma, self.dt, self.q0, self.k, self.a,
        ];
        if finite.iter().any(|x| !x.is_finite()) {
            return bad("every parameter must be finite");
        }
        if self.t <= 0.0 || self.dt <= 0.0 || self.sigma < 0.0 || self.k <= 0.0 || self.a <= 0.0 {
            return bad("need T > 0, dt > 0, sigma >= 0, k > 0 and A > 0");
        }
        if self.paths < 2 {
            return bad("need at least 2 paths for a standard deviation");
        }
        if self.gammas.is_empty() || self.gammas.iter().any(|g| !(g.is_finite() && *g > 0.0)) {
            return bad("need at least one gamma, each finite and > 0");
        }
        let steps = (self.t / self.dt).round();
        if steps < 1.0 || (steps * self.dt - self.t).abs() > 1e-9 * self.t {
            return bad("T/dt must be a whole number of steps (at least one)");
        }
        Ok(steps as usize)
    }
}

/// Which quoting rule a row describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StrategyKind {
    /// Avellaneda–Stoikov: quotes around the reservation price with the optimal spread.
    Inventory,
    /// The benchmark: quotes around the mid with a constant spread (see [`symmetric_spread`]).
    Symmetric,
}

impl StrategyKind {
    /// `"inventory"` or `"symmetric"`, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            StrategyKind::Inventory => "inventory",
            StrategyKind::Symmetric => "symmetric",
        }
    }
}

/// One line of the paper's tables: one strategy at one γ over all paths.
///
/// Standard deviations are sample standard deviations (divisor n − 1) across paths.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ExperimentRow {
    /// Risk aversion γ.
    pub gamma: f64,
    /// `"inventory"` or `"symmetric"`.
    pub strategy: StrategyKind,
    /// Average quoted spread (ask − bid) over all steps of all paths.
    pub avg_spread: f64,
    /// Mean of the profit `cash + q·S_T` across paths.
    pub profit_mean: f64,
    /// Standard deviation of the profit across paths.
    pub profit_std: f64,
    /// Mean of the final inventory across paths.
    pub final_q_mean: f64,
    /// Standard deviation of the final inventory across paths.
    pub final_q_std: f64,
}

/// The constant spread of the symmetric benchmark at γ: the inventory strategy's spread averaged
/// over the session, precisely the mean of its quoted spread (ask − bid) over **all steps of all
/// paths** simulated for that γ, which is the `avg_spread` of its `inventory` row.
///
/// With the finite-horizon model the spread depends on τ only (not on q or the mid), so this equals
/// its average over the step times `t = 0, dt, …, T − dt`:
/// `γσ²·τ̄ + (2/γ)·ln(1 + γ/k)` with `τ̄ = T − (T − dt)/2`; it is nevertheless accumulated from the
/// quotes actually used, so it stays the session average if the quoting function changes.
pub fn symmetric_spread(inventory: &ExperimentRow) -> f64 {
    inventory.avg_spread
}

/// Run the experiment: for each γ in order, the `inventory` row then the `symmetric` row.
pub fn run(config: &ExperimentConfig) -> Result<Vec<ExperimentRow>, ConfigError> {
    let steps = config.steps()?;
    let mut rows = Vec::with_capacity(2 * config.gammas.len());
    for &gamma in &config.gammas {
        let inventory = run_rule(config, steps, gamma, Rule::Inventory);
        let spread = symmetric_spread(&inventory);
        let symmetric = run_rule(config, steps, gamma, Rule::Symmetric { spread });
        rows.push(inventory);
        rows.push(symmetric);
    }
    Ok(rows)
}

/// How a simulated market maker places its quotes.
#[derive(Debug, Clone, Copy)]
enum Rule {
    Inventory,
    Symmetric { spread: f64 },
}

/// All paths of one rule at one γ, reduced to a row.
fn run_rule(config: &ExperimentConfig, steps: usize, gamma: f64, rule: Rule) -> ExperimentRow {
    let mut profit = Moments::default();
    let mut final_q = Moments::default();
    let mut spread_sum = 0.0;
    for path in 0..config.paths {
        let outcome = simulate_path(config, steps, gamma, rule, path as u64);
        profit.push(outcome.profit);
        final_q.push(outcome.final_q);
        spread_sum += outcome.spread_sum;
    }
    ExperimentRow {
        gamma,
        strategy: match rule {
            Rule::Inventory => StrategyKind::Inventory,
            Rule::Symmetric { .. } => StrategyKind::Symmetric,
        },
        avg_spread: spread_sum / (config.paths * steps) as f64,
        profit_mean: profit.mean,
        profit_std: profit.std(),
        final_q_mean: final_q.mean,
        final_q_std: final_q.std(),
    }
}

/// The end of one path.
struct PathOutcome {
    profit: f64,
    final_q: f64,
    /// Sum of the quoted spreads over the path's steps.
    spread_sum: f64,
}

/// One path: `steps` quote–fill–move steps on the path's own random stream. No allocation.
fn simulate_path(
    config: &ExperimentConfig,
    steps: usize,
    gamma: f64,
    rule: Rule,
    path: u64,
) -> PathOutcome {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    rng.set_stream(path);
    let move_size = config.sigma * config.dt.sqrt();
    let mut s = config.s0;
    let mut q = config.q0;
    let mut cash = 0.0;
    let mut spread_sum = 0.0;
    for i in 0..steps {
        // Exactly three draws per step, in this order, whatever fills: the pairing depends on it.
        let u_ask: f64 = rng.random();
        let u_bid: f64 = rng.random();
        let up: bool = rng.random();

        let (bid, ask) = match rule {
            Rule::Inventory => {
                let tau = config.t - i as f64 * config.dt;
                let r = model::reservation_price(s, q, gamma, config.sigma, tau);
                let spread = model::optimal_spread(gamma, config.sigma, tau, config.k);
                (r - spread / 2.0, r + spread / 2.0)
            }
            Rule::Symmetric { spread } => (s - spread / 2.0, s + spread / 2.0),
        };
        spread_sum += ask - bid;

        let p_ask = model::arrival_intensity(config.a, config.k, ask - s) * config.dt;
        let p_bid = model::arrival_intensity(config.a, config.k, s - bid) * config.dt;
        if u_ask < p_ask {
            q -= 1.0;
            cash += ask;
        }
        if u_bid < p_bid {
            q += 1.0;
            cash -= bid;
        }

        s += if up { move_size } else { -move_size };
    }
    PathOutcome {
        profit: cash + q * s,
        final_q: q,
        spread_sum,
    }
}

/// Running mean and sum of squared deviations (Welford), allocation-free.
#[derive(Debug, Default, Clone, Copy)]
struct Moments {
    n: u64,
    mean: f64,
    m2: f64,
}

impl Moments {
    fn push(&mut self, x: f64) {
        self.n += 1;
        let d = x - self.mean;
        self.mean += d / self.n as f64;
        self.m2 += d * (x - self.mean);
    }

    /// Sample standard deviation (divisor n − 1); NaN below two samples.
    fn std(&self) -> f64 {
        if self.n < 2 {
            f64::NAN
        } else {
            (self.m2 / (self.n - 1) as f64).sqrt()
        }
    }
}

#[cfg(test)]
mod tests;
