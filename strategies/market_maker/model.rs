//! The Avellaneda–Stoikov quoting model: where to quote given the mid, the inventory and the
//! market's volatility and order-arrival intensity.
//!
//! After M. Avellaneda and S. Stoikov, "High-frequency trading in a limit order book",
//! Quantitative Finance 8(3), 2008, with the infinite-horizon closed form of O. Guéant,
//! C.-A. Lehalle and J. Fernandez-Tapia, "Dealing with the inventory risk" (2013).
//!
//! Pure functions, no state and no I/O, shared by the `market_maker` strategy and the paper's
//! experiment (`cargo run --release --example avellaneda_stoikov`), so the experiment checks the
//! very code that trades.
//!
//! Units are whatever the caller keeps consistent: the strategy measures prices in ticks, time in
//! seconds and inventory in units of its quote size; the experiment uses the paper's dollars and
//! time units. Results are `f64` on purpose: they are statistical estimates (σ and κ are
//! themselves estimated), never an order's price — the strategy turns them into integer ticks with
//! explicit rounding, bid down and ask up.
//!
//! ```
//! use perpbot_strategies::market_maker::model::{optimal_spread, reservation_price};
//! // The paper's setting at t = 0: s = 100, T = 1, σ = 2, γ = 0.1, k = 1.5, long 3 units.
//! let r = reservation_price(100.0, 3.0, 0.1, 2.0, 1.0);
//! let spread = optimal_spread(0.1, 2.0, 1.0, 1.5);
//! assert!((r - 98.8).abs() < 1e-12);
//! assert!((spread - 1.6908).abs() < 1e-4);
//! ```

use serde::Serialize;

/// Reservation (indifference) price `r = s − q·γ·σ²·τ`: the mid shifted against the inventory,
/// so a long book quotes lower and sells more readily.
pub fn reservation_price(mid: f64, inventory: f64, gamma: f64, sigma: f64, tau: f64) -> f64 {
    mid - inventory * gamma * sigma * sigma * tau
}

/// Optimal total spread (ask − bid) `γ·σ²·τ + (2/γ)·ln(1 + γ/κ)` around the reservation price.
///
/// As γ → 0 the second term tends to `2/κ` (the risk-neutral spread); that limit is used for a γ
/// too small to divide by.
pub fn optimal_spread(gamma: f64, sigma: f64, tau: f64, kappa: f64) -> f64 {
    gamma * sigma * sigma * tau + 2.0 * arrival_half_spread(gamma, kappa)
}

/// `(1/γ)·ln(1 + γ/κ)`: half the part of the spread that pays for the order-arrival risk.
fn arrival_half_spread(gamma: f64, kappa: f64) -> f64 {
    if gamma.abs() < 1e-12 {
        1.0 / kappa
    } else {
        (gamma / kappa).ln_1p() / gamma
    }
}

/// Order-arrival intensity `λ(δ) = A·e^(−κ·δ)` at distance δ from the mid.
pub fn arrival_intensity(a: f64, kappa: f64, delta: f64) -> f64 {
    a * (-kappa * delta).exp()
}

/// The Guéant–Lehalle–Fernandez-Tapia asymptotic quotes for an infinite horizon:
/// bid distance `c1 + (2q+1)/2·c2`, ask distance `c1 − (2q−1)/2·c2`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GlftCoefficients {
    /// `c1 = (1/γ)·ln(1 + γ/κ)`.
    pub c1: f64,
    /// `c2 = √(σ²γ/(2κA) · (1 + γ/κ)^(1 + κ/γ))`: the price of one unit of inventory.
    pub c2: f64,
}

/// GLFT coefficients for risk aversion γ, volatility σ, intensity decay κ and intensity scale A.
pub fn glft_coefficients(gamma: f64, sigma: f64, kappa: f64, a: f64) -> GlftCoefficients {
    let c1 = arrival_half_spread(gamma, kappa);
    // (1 + γ/κ)^(1 + κ/γ), computed through ln_1p so that a small γ/κ stays accurate (→ e).
    let growth = if gamma.abs() < 1e-12 {
        std::f64::consts::E
    } else {
        ((1.0 + kappa / gamma) * (gamma / kappa).ln_1p()).exp()
    };
    let c2 = (sigma * sigma * gamma / (2.0 * kappa * a) * growth).sqrt();
    GlftCoefficients { c1, c2 }
}

/// How the horizon τ of the model is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Horizon {
    /// The paper's finite horizon, repeated: trading runs in sessions of `length_secs` and
    /// τ = T − t counts down to the session's end, where the reservation price meets the mid.
    Session {
        /// Session length T (s).
        length_secs: f64,
    },
    /// An infinite horizon approximated by a constant τ.
    Fixed {
        /// τ (s).
        tau_secs: f64,
    },
    /// The Guéant–Lehalle–Fernandez-Tapia closed form (needs the intensity scale A).
    Glft,
}

impl Horizon {
    /// τ at `elapsed_secs` since the strategy started (zero for [`Horizon::Glft`], which has none).
    pub fn tau(&self, elapsed_secs: f64) -> f64 {
        match *self {
            Horizon::Session { length_secs } => {
                length_secs - elapsed_secs.max(0.0).rem_euclid(length_secs)
            }
            Horizon::Fixed { tau_secs } => tau_secs,
            Horizon::Glft => 0.0,
        }
    }
}

/// The market's parameters as the model needs them, in the caller's units.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MarketParams {
    /// Risk aversion γ (> 0).
    pub gamma: f64,
    /// Volatility σ of the mid per √second.
    pub sigma: f64,
    /// Decay κ of the arrival intensity with distance from the mid.
    pub kappa: f64,
    /// Scale A of the arrival intensity (arrivals per second at the mid); GLFT only.
    pub intensity: f64,
}

/// Where the model wants to quote: a reservation price and a half spread around it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ModelQuote {
    /// Reservation price r.
    pub reservation: f64,
    /// Half the total spread (ask − r = r − bid).
    pub half_spread: f64,
}

impl ModelQuote {
    /// The model's bid price (unrounded).
    pub fn bid(&self) -> f64 {
        self.reservation - self.half_spread
    }

    /// The model's ask price (unrounded).
    pub fn ask(&self) -> f64 {
        self.reservation + self.half_spread
    }
}

/// The model's quote for `inventory` (in quote-size units, signed) around `mid`.
pub fn quote(
    horizon: Horizon,
    mid: f64,
    inventory: f64,
    market: &MarketParams,
    elapsed_secs: f64,
) -> ModelQuote {
    match horizon {
        Horizon::Glft => {
            let c = glft_coefficients(market.gamma, market.sigma, market.kappa, market.intensity);
            ModelQuote {
                reservation: mid - inventory * c.c2,
                half_spread: c.c1 + c.c2 / 2.0,
            }
        }
        Horizon::Session { .. } | Horizon::Fixed { .. } => {
            let tau = horizon.tau(elapsed_secs);
            ModelQuote {
                reservation: reservation_price(mid, inventory, market.gamma, market.sigma, tau),
                half_spread: optimal_spread(market.gamma, market.sigma, tau, market.kappa) / 2.0,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn reservation_price_against_hand_computed_values() {
        // s = 100, q = 3, γ = 0.1, σ = 2, τ = 1: 100 − 3·0.1·4·1 = 98.8.
        assert!(close(
            reservation_price(100.0, 3.0, 0.1, 2.0, 1.0),
            98.8,
            1e-12
        ));
        // Short inventory raises it; flat leaves the mid; τ = 0 (session end) leaves the mid.
        assert!(close(
            reservation_price(100.0, -2.0, 0.1, 2.0, 0.5),
            100.4,
            1e-12
        ));
        assert_eq!(reservation_price(100.0, 0.0, 0.1, 2.0, 1.0), 100.0);
        assert_eq!(reservation_price(100.0, 5.0, 0.1, 2.0, 0.0), 100.0);
    }

    #[test]
    fn spread_against_hand_computed_values() {
        // γσ²τ + (2/γ)ln(1+γ/κ) with γ = 0.1, σ = 2, τ = 1, κ = 1.5:
        // 0.4 + 20·ln(1.0666…) = 0.4 + 1.290770… = 1.690770…
        let s = optimal_spread(0.1, 2.0, 1.0, 1.5);
        assert!(close(s, 0.4 + 20.0 * (1.0_f64 + 0.1 / 1.5).ln(), 1e-12));
        assert!(close(s, 1.690_770, 1e-6), "{s}");
        // γ = 1: 4 + 2·ln(1 + 1/1.5) = 4 + 1.021651… ; γ → 0: 2/κ.
        assert!(close(optimal_spread(1.0, 2.0, 1.0, 1.5), 5.021_651, 1e-6));
        assert!(close(optimal_spread(0.0, 2.0, 1.0, 1.5), 2.0 / 1.5, 1e-12));
        assert!(close(optimal_spread(1e-9, 2.0, 1.0, 1.5), 2.0 / 1.5, 1e-8));
    }

    #[test]
    fn session_horizon_counts_down_and_restarts() {
        let h = Horizon::Session { length_secs: 60.0 };
        assert_eq!(h.tau(0.0), 60.0);
        assert_eq!(h.tau(45.0), 15.0);
        assert_eq!(h.tau(60.0), 60.0, "a new session starts");
        assert_eq!(h.tau(75.0), 45.0);
        assert_eq!(Horizon::Fixed { tau_secs: 30.0 }.tau(1e6), 30.0);
    }

    #[test]
    fn glft_matches_hand_computed_values_and_skews_against_inventory() {
        // γ = 0.1, σ = 2, κ = 1.5, A = 140.
        let c = glft_coefficients(0.1, 2.0, 1.5, 140.0);
        let c1 = (1.0_f64 + 0.1 / 1.5).ln() / 0.1;
        let c2 = (4.0 * 0.1 / (2.0 * 1.5 * 140.0) * (1.0_f64 + 0.1 / 1.5).powf(1.0 + 15.0)).sqrt();
        assert!(close(c.c1, c1, 1e-12) && close(c.c2, c2, 1e-12), "{c:?}");
        let m = MarketParams {
            gamma: 0.1,
            sigma: 2.0,
            kappa: 1.5,
            intensity: 140.0,
        };
        let flat = quote(Horizon::Glft, 100.0, 0.0, &m, 0.0);
        let long = quote(Horizon::Glft, 100.0, 2.0, &m, 0.0);
        // Bid distance c1 + (2q+1)/2·c2, ask distance c1 − (2q−1)/2·c2.
        assert!(close(100.0 - long.bid(), c1 + 2.5 * c2, 1e-9));
        assert!(close(long.ask() - 100.0, c1 - 1.5 * c2, 1e-9));
        assert!(long.reservation < flat.reservation);
        assert!(close(flat.half_spread, long.half_spread, 1e-12));
    }

    #[test]
    fn finite_horizon_quote_combines_both_formulas() {
        let m = MarketParams {
            gamma: 0.1,
            sigma: 2.0,
            kappa: 1.5,
            intensity: 140.0,
        };
        let h = Horizon::Session { length_secs: 1.0 };
        let q = quote(h, 100.0, 3.0, &m, 0.0);
        assert!(close(q.reservation, 98.8, 1e-12));
        assert!(close(q.ask() - q.bid(), 1.690_770, 1e-6));
    }

    #[test]
    fn intensity_decays_exponentially() {
        assert_eq!(arrival_intensity(140.0, 1.5, 0.0), 140.0);
        assert!(close(
            arrival_intensity(140.0, 1.5, 1.0),
            140.0 * (-1.5_f64).exp(),
            1e-12
        ));
    }
}
