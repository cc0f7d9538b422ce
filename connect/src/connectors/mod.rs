//! The built-in connectors: FileStream (f) and the bridges (g).

pub mod bridge;
pub mod file;
pub mod http_ingest;
pub mod http_sink;
pub mod mirror;
pub mod mqtt;
pub mod websocket;

/// The built-in connectors.
pub fn plugins() -> Vec<crate::plugins::PluginDesc> {
    let mut plugins = file::plugins();
    plugins.extend(http_ingest::plugins());
    plugins.extend(http_sink::plugins());
    plugins.extend(mqtt::plugins());
    plugins.extend(websocket::plugins());
    plugins.extend(mirror::plugins());
    plugins
}
