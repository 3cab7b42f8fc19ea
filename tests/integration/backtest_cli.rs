//! `perpbot record` then `perpbot backtest`, as a user runs them: the embedded simulator's
//! market data recorded for a few seconds, replayed with the default config, written out as a
//! report, a time series and a sweep table; bad input named.

use std::process::Command;

use crate::common::TempDir;

fn perpbot(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_perpbot"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run perpbot")
}

#[test]
fn record_backtest_series_and_sweep_from_the_command_line() {
    let dir = TempDir::new("backtest-cli");
    let rec = dir.0.join("rec");
    let rec_arg = rec.to_str().unwrap();
    let out = perpbot(&["record", "--out", rec_arg, "--duration", "6s"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("recorded"), "{stdout}");
    assert!(rec.join("manifest.json").exists());

    let series = dir.0.join("series.csv");
    let report = dir.0.join("report.json");
    let out = perpbot(&[
        "backtest",
        "--data",
        rec_arg,
        "--series",
        series.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
        "--plot",
        dir.0.join("charts").to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("run report (market_maker"), "{stdout}");
    assert!(stdout.contains("markouts"), "{stdout}");
    let csv = std::fs::read_to_string(&series).unwrap();
    assert!(
        csv.starts_with("ts_ms,market,mid,bid,ask,position,pnl\n"),
        "{csv}"
    );
    assert!(csv.lines().count() >= 5, "a row a second: {csv}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert!(json["frames"].as_u64().unwrap() > 0);
    assert_eq!(json["summary"]["strategy"], "market_maker");
    assert_eq!(json["torn_files"], 0);
    // A crash while recording leaves a torn tail: the report counts it, the rest still replays.
    let file = std::fs::read_dir(&rec)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".pbrec.gz"))
        .unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    bytes.extend_from_slice(b"\x1f\x8b torn");
    std::fs::write(&file, bytes).unwrap();
    let torn_report = dir.0.join("torn.json");
    let out = perpbot(&[
        "backtest",
        "--data",
        rec_arg,
        "--report",
        torn_report.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let torn: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&torn_report).unwrap()).unwrap();
    assert_eq!(torn["torn_files"], 1);
    assert_eq!(
        torn["frames"], json["frames"],
        "every whole frame still replays"
    );
    let page = std::fs::read_to_string(dir.0.join("charts/index.html")).unwrap();
    assert_eq!(page.matches("<svg").count(), 3);

    let parquet = dir.0.join("parquet");
    let out = perpbot(&[
        "record",
        "export",
        "--data",
        rec_arg,
        "--format",
        "parquet",
        "--out",
        parquet.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("book levels"), "{stdout}");
    for table in ["book", "trades", "funding"] {
        let bytes = std::fs::read(parquet.join(format!("{table}.parquet"))).unwrap();
        assert!(
            bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"),
            "{table}"
        );
    }

    let table = dir.0.join("sweep.csv");
    let out = perpbot(&[
        "backtest",
        "--data",
        rec_arg,
        "--sweep",
        "gamma=0.005,0.05",
        "--sweep",
        "requote_tolerance_ticks=1,3",
        "--sweep-out",
        table.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = std::fs::read_to_string(&table).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 5, "a header and four runs: {csv}");
    assert!(
        rows[0].starts_with("gamma,requote_tolerance_ticks,net_pnl,"),
        "{csv}"
    );
    // Sorted by net PnL, best first.
    let pnl: Vec<f64> = rows[1..]
        .iter()
        .map(|r| r.split(',').nth(2).unwrap().parse().unwrap())
        .collect();
    assert!(pnl.windows(2).all(|w| w[0] >= w[1]), "{csv}");

    // Bad input: a folder that is no recording, a sweep without values, an unknown param.
    let out = perpbot(&["backtest", "--data", dir.0.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("manifest.json"));
    let out = perpbot(&["backtest", "--data", rec_arg, "--sweep", "gamma="]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no values"));
    let out = perpbot(&["backtest", "--data", rec_arg, "--sweep", "gammma=0.1"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "every run failed: exit 1");
    assert!(
        stdout.contains("gammma"),
        "the error names the param: {stdout}"
    );
}

#[test]
fn a_synthetic_recording_is_made_in_simulated_time_and_repeats_with_its_seed() {
    let dir = TempDir::new("synthetic-recording");
    let record = |name: &str, seed: &str| {
        let path = dir.0.join(name);
        let out = perpbot(&[
            "sim",
            "--record",
            path.to_str().unwrap(),
            "--length",
            "30s",
            "--seed",
            seed,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("synthetic frames"));
        path
    };
    let report = |data: &std::path::Path| {
        let json = data.with_extension("json");
        let out = perpbot(&[
            "backtest",
            "--data",
            data.to_str().unwrap(),
            "--report",
            json.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read_to_string(json).unwrap()
    };
    let a = record("a", "5");
    let b = record("b", "5");
    let c = record("c", "6");
    let (ra, rb, rc) = (report(&a), report(&b), report(&c));
    assert_eq!(ra, rb, "same seed, same recording, same backtest");
    assert_ne!(ra, rc);
    let json: serde_json::Value = serde_json::from_str(&ra).unwrap();
    assert!(json["frames"].as_u64().unwrap() > 50, "{json}");
    assert!((json["simulated_seconds"].as_f64().unwrap() - 30.0).abs() <= 1.0);
    // Asking for a market the simulator does not have is named.
    let out = perpbot(&[
        "sim",
        "--record",
        dir.0.join("x").to_str().unwrap(),
        "--length",
        "1s",
        "--markets",
        "9999",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("9999"));
}
