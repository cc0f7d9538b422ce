//! HttpSink (CONNECT.md g.2): Kafka records to an HTTP endpoint.

/// The connectors of this module.
pub fn plugins() -> Vec<crate::plugins::PluginDesc> {
    Vec::new()
}
