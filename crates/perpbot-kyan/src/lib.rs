//! Kyan (an options and perpetuals exchange on Arbitrum: off-chain matching, EIP-712-signed
//! REST orders) for perpbot. This first part is the signing every Kyan request needs and the
//! reading of its error answers; the REST client, the streams, the venue and the simulator build
//! on it (`docs/reference/kyan-api.md`).

pub mod errors;
pub mod signing;
