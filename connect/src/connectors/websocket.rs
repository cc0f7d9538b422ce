//! WebSocketSink and WebSocketSource (CONNECT.md g.4).

/// The connectors of this module.
pub fn plugins() -> Vec<crate::plugins::PluginDesc> {
    Vec::new()
}
