//! The built-in connectors.

/// The built-in connectors.
pub fn plugins() -> Vec<crate::plugins::PluginDesc> {
    Vec::new()
}
