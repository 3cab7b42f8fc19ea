pub mod clock;
pub mod model;
pub mod risk;
pub mod state;
pub mod strategy;
pub mod venue;
#[path = "../strategies/mod.rs"]
pub mod strategies;
