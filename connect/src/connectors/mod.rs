//! The built-in connectors.

pub mod file;

/// The built-in connectors.
pub fn plugins() -> Vec<crate::plugins::PluginDesc> {
    file::plugins()
}
