use super::*;

fn config(paths: usize, gammas: Vec<f64>) -> ExperimentConfig {
    ExperimentConfig {
        paths,
        gammas,
        ..ExperimentConfig::default()
    }
}

fn row(rows: &[ExperimentRow], gamma: f64, strategy: StrategyKind) -> ExperimentRow {
    *rows
        .iter()
        .find(|r| r.gamma == gamma && r.strategy == strategy)
        .unwrap_or_else(|| panic!("no {strategy:?} row for γ = {gamma}"))
}

#[test]
fn default_config_is_the_papers_setting() {
    let c = ExperimentConfig::default();
    assert_eq!(
        (c.s0, c.t, c.sigma, c.dt, c.q0, c.k, c.a),
        (100.0, 1.0, 2.0, 0.005, 0.0, 1.5, 140.0)
    );
    assert_eq!((c.paths, c.gammas.clone()), (1000, vec![0.1, 0.01, 1.0]));
    assert_eq!(c.steps(), Ok(200));
}

#[test]
fn invalid_configs_are_rejected() {
    let ok = ExperimentConfig::default();
    let bad = [
        ExperimentConfig {
            paths: 1,
            ..ok.clone()
        },
        ExperimentConfig {
            dt: 0.003,
            ..ok.clone()
        },
        ExperimentConfig {
            dt: 0.0,
            ..ok.clone()
        },
        ExperimentConfig {
            k: f64::NAN,
            ..ok.clone()
        },
        ExperimentConfig {
            gammas: vec![],
            ..ok.clone()
        },
        ExperimentConfig {
            gammas: vec![0.1, 0.0],
            ..ok.clone()
        },
    ];
    for c in bad {
        assert!(run(&c).is_err(), "{c:?} should be rejected");
    }
}

#[test]
fn same_seed_gives_identical_rows_and_the_seed_matters() {
    let c = config(50, vec![0.1, 0.01, 1.0]);
    let a = run(&c).unwrap();
    let b = run(&c).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.len(), 6);
    let other = run(&ExperimentConfig { seed: 7, ..c }).unwrap();
    assert_ne!(a, other, "a different seed must draw different paths");
}

/// With σ = 0 the reservation price is the mid and the spread is constant, so both rules quote
/// the same prices; their rows can then only match if they consume the same draws.
#[test]
fn paired_draws_make_identical_quoters_identical() {
    let c = ExperimentConfig {
        sigma: 0.0,
        ..config(50, vec![0.1])
    };
    let rows = run(&c).unwrap();
    let (inv, sym) = (rows[0], rows[1]);
    assert_eq!(
        (inv.strategy, sym.strategy),
        (StrategyKind::Inventory, StrategyKind::Symmetric)
    );
    for (x, y) in [
        (inv.avg_spread, sym.avg_spread),
        (inv.profit_mean, sym.profit_mean),
        (inv.profit_std, sym.profit_std),
        (inv.final_q_mean, sym.final_q_mean),
        (inv.final_q_std, sym.final_q_std),
    ] {
        assert!((x - y).abs() < 1e-9, "{inv:?} vs {sym:?}");
    }
    assert!(inv.final_q_std > 0.0, "fills happened");
}

/// The symmetric spread is the inventory strategy's spread averaged over every step of every
/// path; with the finite-horizon model that is γσ²·τ̄ + (2/γ)·ln(1 + γ/k), τ̄ = 1 − 0.995/2.
/// (The paper prints 1.29, 1.33 and 1.15, which omit the γσ²τ term; see the example's notes.)
#[test]
fn average_spread_is_the_session_average_of_the_model_spread() {
    let rows = run(&config(20, vec![0.1, 0.01, 1.0])).unwrap();
    let tau_bar = 1.0 - 0.995 / 2.0;
    for (gamma, expected) in [(0.1, 1.491_770), (0.01, 1.349_009), (1.0, 3.031_651)] {
        let hand = gamma * 4.0 * tau_bar + 2.0 / gamma * (1.0 + gamma / 1.5_f64).ln();
        assert!((hand - expected).abs() < 1e-6, "{hand}");
        let inv = row(&rows, gamma, StrategyKind::Inventory);
        let sym = row(&rows, gamma, StrategyKind::Symmetric);
        assert!((inv.avg_spread - expected).abs() < 1e-6, "{inv:?}");
        assert!((sym.avg_spread - expected).abs() < 1e-6, "{sym:?}");
    }
}

/// The paper's finding (tables 1–3): at every γ the inventory strategy ends with a less
/// dispersed profit and inventory than the symmetric one. With 200 paired paths the gaps are
/// many standard errors wide (γ = 0.01, the closest: profit std ≈ 9.0 vs 13.5, each known to
/// about ±0.7; final q std ≈ 5.2 vs 8.7, each about ±0.4).
#[test]
fn inventory_strategy_is_less_dispersed_at_every_gamma() {
    let rows = run(&config(200, vec![0.1, 0.01, 1.0])).unwrap();
    for gamma in [0.1, 0.01, 1.0] {
        let inv = row(&rows, gamma, StrategyKind::Inventory);
        let sym = row(&rows, gamma, StrategyKind::Symmetric);
        assert!(inv.profit_std < sym.profit_std, "{inv:?} vs {sym:?}");
        assert!(inv.final_q_std < sym.final_q_std, "{inv:?} vs {sym:?}");
    }
}

/// γ = 0.1 against the paper's table 1 (inventory: profit 62.94 ± 5.89, final q 0.10 ± 2.80).
///
/// Tolerances, from 400 paths: the standard error of our mean profit is 6.6/√400 ≈ 0.33 and of
/// the paper's 5.89/√1000 ≈ 0.19, together ≈ 0.38. On top of that this model's mean sits ≈ 2.0
/// above the paper's (64.9 over 20 000 paths; a throwaway independent
/// re-implementation agreed) —
/// a systematic offset, not noise; the paper under-specifies its simulation (its printed average
/// spreads omit the γσ²τ term). So |mean − 62.94| ≤ 2.0 + 4·0.38 ≈ 3.5, which still rejects
/// the symmetric strategy's ≈ 68.4. Final q: mean 0.10 ± 4·√(0.15² + 0.09²) ≈ ±0.7; std 2.80
/// with our std's standard error 2.9/√800 ≈ 0.10 and the paper's 2.8/√2000 ≈ 0.06, plus the
/// offset 0.13 seen over 20 000 paths: ±(0.13 + 4·0.12) ≈ ±0.6.
#[test]
fn gamma_0_1_inventory_is_in_the_papers_ballpark() {
    let rows = run(&config(400, vec![0.1])).unwrap();
    let inv = row(&rows, 0.1, StrategyKind::Inventory);
    assert!((inv.profit_mean - 62.94).abs() <= 3.5, "{inv:?}");
    assert!((inv.final_q_mean - 0.10).abs() <= 0.7, "{inv:?}");
    assert!((inv.final_q_std - 2.80).abs() <= 0.6, "{inv:?}");
}

#[test]
fn json_row_keys_are_exact() {
    let row = ExperimentRow {
        gamma: 0.1,
        strategy: StrategyKind::Symmetric,
        avg_spread: 1.0,
        profit_mean: 2.0,
        profit_std: 3.0,
        final_q_mean: 4.0,
        final_q_std: 5.0,
    };
    let value = serde_json::to_value(row).unwrap();
    let object = value.as_object().expect("a row is a JSON object");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "avg_spread",
            "final_q_mean",
            "final_q_std",
            "gamma",
            "profit_mean",
            "profit_std",
            "strategy"
        ]
    );
    assert_eq!(object["strategy"], "symmetric");
    assert_eq!(
        serde_json::to_value(StrategyKind::Inventory).unwrap(),
        "inventory"
    );
}
