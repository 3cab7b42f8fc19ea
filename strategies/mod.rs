//! Built-in strategies, one file each, registered by name.

use crate::strategy::StrategyRegistry;

/// Register every built-in strategy.
pub fn register_builtins(registry: &mut StrategyRegistry) {
    let _ = registry;
}
