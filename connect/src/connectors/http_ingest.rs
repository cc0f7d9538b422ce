//! HttpIngestSource (CONNECT.md g.1): HTTP events into Kafka topics.

/// The connectors of this module.
pub fn plugins() -> Vec<crate::plugins::PluginDesc> {
    Vec::new()
}
