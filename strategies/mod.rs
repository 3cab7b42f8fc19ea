//! Built-in strategies, one file each, registered by name in [`register_builtins`].

pub mod grid;
pub mod market_maker;

use crate::strategy::StrategyRegistry;

/// Register every built-in strategy.
pub fn register_builtins(registry: &mut StrategyRegistry) {
    grid::register(registry);
    market_maker::register(registry);
}
