//! The shipped Kana configs are complete: no "skeleton" wording, every current market id of the
//! environment (reference §3.1) written down, the traded ones a subset of them, and the chain id
//! of the network.

use perpbot::config::{Config, Network};

fn load(name: &str) -> (String, Config) {
    let path = format!("{}/config/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("config file");
    let config = Config::from_toml_str(&text).expect("the shipped config loads");
    (text, config)
}

fn check(name: &str, ids: [u64; 4], traded: &[u64], network: Network, chain_id: u8) {
    let (text, config) = load(name);
    assert!(
        !text.to_lowercase().contains("skeleton"),
        "{name} still calls itself a skeleton"
    );
    for id in ids {
        let listed = text.lines().any(|l| {
            l.starts_with('#') && l.split_whitespace().nth(1) == Some(id.to_string().as_str())
        });
        assert!(listed, "{name} does not list market {id}");
    }
    assert_eq!(config.markets, traded, "{name}: markets traded by default");
    assert!(
        text.lines()
            .any(|l| l.contains(&format!("{} ", traded[0])) && l.contains("traded by default")),
        "{name} says which market is traded by default"
    );
    let kana = config.venue.kana.expect("venue.kana");
    assert_eq!((kana.network, kana.chain_id), (network, chain_id), "{name}");
}

#[test]
fn testnet_config_lists_1338_to_1340_and_2387_and_trades_1338() {
    check(
        "testnet.toml",
        [1338, 1339, 1340, 2387],
        &[1338],
        Network::Testnet,
        2,
    );
}

#[test]
fn mainnet_config_lists_14_15_16_31_and_trades_14() {
    check("mainnet.toml", [14, 15, 16, 31], &[14], Network::Mainnet, 1);
}

/// The Kana client assumes the simulator's default package on a local network without taking it
/// from the simulator (the client does not depend on its counterparty): the two must agree.
#[test]
fn the_clients_local_package_is_the_simulators_default() {
    assert_eq!(
        perpbot::venue::kana::writer::LOCAL_PACKAGE,
        perpbot::sim::server::SIM_PACKAGE
    );
    assert_eq!(
        perpbot::sim::server::SimConfig::default().package,
        perpbot::sim::server::SIM_PACKAGE
    );
}
