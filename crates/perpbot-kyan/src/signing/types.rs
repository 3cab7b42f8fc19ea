//! Kyan's EIP-712 typed messages (reference §3.3), field for field in the order that defines
//! their type strings, and the domain they are signed under (§3.2: name "Premia", version "1",
//! a chain id and the verifying contract, per network).

use alloy_primitives::{Address, B256, address};
use alloy_sol_types::{Eip712Domain, SolStruct, sol};

sol! {
    /// `POST /limit`: one signature per order \[D\].
    #[derive(Debug, PartialEq, Eq)]
    struct UserLimitOrder {
        uint256 deadline;
        string instrumentName;
        uint256 size;
        uint256 price;
        address taker;
        address maker;
        uint8 direction;
        bool isLiquidation;
        bool isPostOnly;
        bool mmp;
    }

    /// `PATCH /limit` \[D\].
    #[derive(Debug, PartialEq, Eq)]
    struct UserEditOrder {
        uint256 deadline;
        uint256 size;
        uint256 price;
        string orderId;
    }

    /// The order inside a [`UserMarketOrder`] \[S\].
    #[derive(Debug, PartialEq, Eq)]
    struct OrderTyped {
        string instrumentName;
        uint256 size;
        uint8 direction;
    }

    /// `POST /market` \[S\].
    #[derive(Debug, PartialEq, Eq)]
    struct UserMarketOrder {
        uint256 deadline;
        OrderTyped marketOrder;
        uint256 limitPrice;
        address taker;
    }

    /// `DELETE /orders` \[S\].
    #[derive(Debug, PartialEq, Eq)]
    struct CancelOrdersType {
        uint256 deadline;
        address maker;
        string[] orderIds;
    }

    /// `DELETE /orders_all` \[S\].
    #[derive(Debug, PartialEq, Eq)]
    struct CancelAllOrdersType {
        uint256 deadline;
        address maker;
    }

    /// `POST /session` (one-click trading) \[D\]/\[S\].
    #[derive(Debug, PartialEq, Eq)]
    struct OneClickSignature {
        uint256 deadline;
        address user;
        bool bindToIp;
    }

    /// `POST /heartbeat` (the venue's dead-man's switch) \[D\]/\[S\].
    #[derive(Debug, PartialEq, Eq)]
    struct HeartbeatType {
        uint256 deadline;
        address maker;
        uint256 timeout;
    }
}

/// Arbitrum Sepolia, Kyan's staging chain (§2).
pub const TESTNET_CHAIN_ID: u64 = 421_614;
/// Kyan's staging verifying contract (the testnet proxy, §3.2 \[D\]).
pub const TESTNET_VERIFYING_CONTRACT: Address =
    address!("0x746EE6b2689D56d9D593BC1bB733b48BfD4908D0");

/// The signing domain: `{name: "Premia", version: "1", chainId, verifyingContract}`.
pub fn domain(chain_id: u64, verifying_contract: Address) -> Eip712Domain {
    Eip712Domain::new(
        Some("Premia".into()),
        Some("1".into()),
        Some(alloy_primitives::U256::from(chain_id)),
        Some(verifying_contract),
        None,
    )
}

/// One of Kyan's typed messages, whichever type it is.
#[derive(Debug, PartialEq, Eq)]
pub enum TypedMessage {
    /// A limit order.
    LimitOrder(UserLimitOrder),
    /// An edit of a resting order.
    EditOrder(UserEditOrder),
    /// A market (marketable limit) order.
    MarketOrder(UserMarketOrder),
    /// A cancel of named orders.
    CancelOrders(CancelOrdersType),
    /// A cancel of every order of the maker.
    CancelAllOrders(CancelAllOrdersType),
    /// A one-click session.
    OneClick(OneClickSignature),
    /// A heartbeat.
    Heartbeat(HeartbeatType),
}

impl TypedMessage {
    /// The EIP-712 type names, as the CLI takes them.
    pub const TYPES: [&'static str; 7] = [
        "UserLimitOrder",
        "UserEditOrder",
        "UserMarketOrder",
        "CancelOrdersType",
        "CancelAllOrdersType",
        "OneClickSignature",
        "HeartbeatType",
    ];

    /// `keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(message))`: what is signed.
    pub fn signing_hash(&self, domain: &Eip712Domain) -> B256 {
        match self {
            TypedMessage::LimitOrder(m) => m.eip712_signing_hash(domain),
            TypedMessage::EditOrder(m) => m.eip712_signing_hash(domain),
            TypedMessage::MarketOrder(m) => m.eip712_signing_hash(domain),
            TypedMessage::CancelOrders(m) => m.eip712_signing_hash(domain),
            TypedMessage::CancelAllOrders(m) => m.eip712_signing_hash(domain),
            TypedMessage::OneClick(m) => m.eip712_signing_hash(domain),
            TypedMessage::Heartbeat(m) => m.eip712_signing_hash(domain),
        }
    }
}
