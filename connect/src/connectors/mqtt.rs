//! MqttSource and MqttSink (CONNECT.md g.3).

/// The connectors of this module.
pub fn plugins() -> Vec<crate::plugins::PluginDesc> {
    Vec::new()
}
