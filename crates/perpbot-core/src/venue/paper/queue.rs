//! Where our resting order stands in the queue at its price: the part of a fill model a backtest
//! most often gets wrong, so it is a choice (`[venue.paper] queue`), not a hidden assumption.
//!
//! The venue shows only the total size at a price. When it shrinks, a model decides how much of
//! the shrink was ahead of us (cancels or fills there advance us) and how much behind; a public
//! trade at our price first eats the size ahead of us. The models follow hftbacktest's
//! `RiskAdverseQueueModel` and `ProbQueueModel`, plus a stricter one that never fills at our
//! own price.

use serde::{Deserialize, Serialize};

use perpbot_model::Lots;

/// How queue position advances (see the module header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum QueueModel {
    /// A shrink is taken from behind us first: we advance only when the level falls below the
    /// size that was ahead. Trades at our price fill us once the size ahead is used up.
    #[default]
    RiskAverse,
    /// A shrink is split between ahead and behind in proportion to `f(behind) : f(ahead)` with
    /// `f(x) = x^power` (hftbacktest's power probability; 2 or 3 are usual). Trades at our price
    /// fill us once the size ahead is used up.
    Probabilistic {
        /// The exponent of `f`.
        power: u32,
    },
    /// The most pessimistic: a trade at our price never fills us, only one strictly through it
    /// (or the book crossing it) does.
    TradeThrough,
}

impl QueueModel {
    /// Check the settings; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            QueueModel::Probabilistic { power } if *power == 0 || *power > 8 => {
                Err("venue.paper.queue.probabilistic.power must be within 1..=8".into())
            }
            _ => Ok(()),
        }
    }

    /// The size ahead of us after the level at our price went from `before` to `after` lots,
    /// with `ahead` ahead of us before. Never more than `after`; a growing level leaves it as
    /// it was (newcomers queue behind us).
    pub fn after_level_change(&self, ahead: Lots, before: Lots, after: Lots) -> Lots {
        if after >= before {
            return ahead.min(after);
        }
        let ahead_now = match *self {
            QueueModel::RiskAverse | QueueModel::TradeThrough => ahead,
            QueueModel::Probabilistic { power } => {
                let shrink = before.0 - after.0;
                let behind = before.0.saturating_sub(ahead.0);
                // An estimate of queue position, not a size or a price: f64 is fine here, and the
                // advance is rounded down (we never assume we moved up further than the model says).
                let f = |x: u64| (x as f64).powi(power as i32);
                let (fa, fb) = (f(ahead.0), f(behind));
                let share = if fa + fb > 0.0 { fb / (fa + fb) } else { 0.0 };
                let advance = ((shrink as f64) * share).floor() as u64;
                Lots(ahead.0.saturating_sub(advance.min(shrink)))
            }
        };
        ahead_now.min(after)
    }

    /// Whether a public trade at exactly our price can fill us (after the size ahead).
    pub fn fills_at_own_price(&self) -> bool {
        !matches!(self, QueueModel::TradeThrough)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn risk_averse_advances_only_when_the_level_falls_below_the_size_ahead() {
        let q = QueueModel::RiskAverse;
        assert_eq!(
            q.after_level_change(Lots(60), Lots(100), Lots(70)),
            Lots(60)
        );
        assert_eq!(
            q.after_level_change(Lots(60), Lots(100), Lots(40)),
            Lots(40)
        );
        assert_eq!(
            q.after_level_change(Lots(60), Lots(100), Lots(150)),
            Lots(60)
        );
    }

    #[test]
    fn probabilistic_splits_a_shrink_by_the_power_of_each_side() {
        let q = QueueModel::Probabilistic { power: 2 };
        // 50 ahead, 50 behind: half of a 20-lot shrink was ahead.
        assert_eq!(
            q.after_level_change(Lots(50), Lots(100), Lots(80)),
            Lots(40)
        );
        // 90 ahead, 10 behind: f(10) / (f(90) + f(10)) = 100 / 8200 of 20 lots rounds to 0.
        assert_eq!(
            q.after_level_change(Lots(90), Lots(100), Lots(80)),
            Lots(80)
        );
        // 10 ahead, 90 behind: most of the shrink was ahead of us.
        assert_eq!(q.after_level_change(Lots(10), Lots(100), Lots(95)), Lots(6));
        assert!(QueueModel::Probabilistic { power: 0 }.validate().is_err());
    }

    #[test]
    fn only_trade_through_refuses_fills_at_our_own_price() {
        assert!(QueueModel::RiskAverse.fills_at_own_price());
        assert!(QueueModel::Probabilistic { power: 3 }.fills_at_own_price());
        assert!(!QueueModel::TradeThrough.fills_at_own_price());
    }

    #[test]
    fn the_config_spells_each_model() {
        #[derive(Deserialize)]
        struct W {
            queue: QueueModel,
        }
        let w: W = toml::from_str("queue = \"trade_through\"").unwrap();
        assert_eq!(w.queue, QueueModel::TradeThrough);
        let w: W = toml::from_str("queue = { probabilistic = { power = 3 } }").unwrap();
        assert_eq!(w.queue, QueueModel::Probabilistic { power: 3 });
    }
}
