//! Built-in strategies, one file each, registered by name in [`register_builtins`].

pub mod grid;
pub mod market_maker;

use perpbot_core::strategy::StrategyRegistry;

/// Register every built-in strategy.
pub fn register_builtins(registry: &mut StrategyRegistry) {
    grid::register(registry);
    market_maker::register(registry);
}

/// A registry holding the built-in strategies; a user's own register beside them.
pub fn builtin_registry() -> StrategyRegistry {
    let mut registry = StrategyRegistry::new();
    register_builtins(&mut registry);
    registry
}
