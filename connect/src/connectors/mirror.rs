//! MirrorSource (CONNECT.md g.5): Kafka to Kafka, a MirrorMaker 2 subset.

/// The connectors of this module.
pub fn plugins() -> Vec<crate::plugins::PluginDesc> {
    Vec::new()
}
