//! The plugin registry: every connector, converter, header converter, transform and
//! predicate compiled into the runtime, found by Kafka's class name or an alias.
//!
//! Names match as Kafka's `Plugins` does (CONNECT.md a.3 notes): the full class name, the
//! simple class name, or the simple name without its `Connector` suffix. A `$Key`/`$Value`
//! nested class is named with the `$` (`org.apache.kafka.connect.transforms.Cast$Value`).

use crate::config_def::ConfigDef;
use crate::connector::Connector;
use crate::converters::{Converter, HeaderConverter};
use crate::transforms::{Predicate, Transform};

/// Version reported for every built-in plugin (Kafka's, so tools that compare see 3.7).
pub const PLUGIN_VERSION: &str = "3.7.0";

/// What a plugin is, as the REST API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginType {
    /// A source connector.
    Source,
    /// A sink connector.
    Sink,
    /// A key/value converter.
    Converter,
    /// A header converter.
    HeaderConverter,
    /// A transformation.
    Transformation,
    /// A predicate.
    Predicate,
}

impl PluginType {
    /// `source`, `sink`, `converter`, `header_converter`, `transformation`, `predicate`.
    pub fn name(self) -> &'static str {
        match self {
            PluginType::Source => "source",
            PluginType::Sink => "sink",
            PluginType::Converter => "converter",
            PluginType::HeaderConverter => "header_converter",
            PluginType::Transformation => "transformation",
            PluginType::Predicate => "predicate",
        }
    }
}

/// How to make an instance of a plugin.
#[derive(Clone, Copy)]
pub enum Factory {
    /// A source or sink connector.
    Connector(fn() -> Box<dyn Connector>),
    /// A converter.
    Converter(fn() -> Box<dyn Converter>),
    /// A header converter.
    HeaderConverter(fn() -> Box<dyn HeaderConverter>),
    /// A transform.
    Transform(fn() -> Box<dyn Transform>),
    /// A predicate.
    Predicate(fn() -> Box<dyn Predicate>),
}

/// One plugin.
#[derive(Clone, Copy)]
pub struct PluginDesc {
    /// Kafka's class name (or our dotted name), e.g.
    /// `org.apache.kafka.connect.file.FileStreamSourceConnector`.
    pub class: &'static str,
    /// What it is.
    pub plugin_type: PluginType,
    /// Its own keys (the framework's keys are not included).
    pub config_def: fn() -> ConfigDef,
    /// Constructor.
    pub factory: Factory,
}

impl std::fmt::Debug for PluginDesc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginDesc")
            .field("class", &self.class)
            .field("plugin_type", &self.plugin_type)
            .finish_non_exhaustive()
    }
}

impl PluginDesc {
    /// True when `name` names this plugin: the class, its simple name, or (connectors) the
    /// simple name without `Connector`.
    pub fn matches(&self, name: &str) -> bool {
        let name = name.trim();
        if name == self.class {
            return true;
        }
        let simple = self.class.rsplit('.').next().unwrap_or(self.class);
        if name == simple {
            return true;
        }
        matches!(self.plugin_type, PluginType::Source | PluginType::Sink)
            && simple.strip_suffix("Connector") == Some(name)
    }
}

/// Every built-in plugin.
pub fn all() -> Vec<PluginDesc> {
    let mut plugins = Vec::new();
    plugins.extend(crate::connectors::plugins());
    plugins.extend(crate::converters::plugins());
    plugins.extend(crate::transforms::plugins());
    plugins
}

/// The plugin `name` names, of one of `types` (any type when empty).
pub fn find(name: &str, types: &[PluginType]) -> Option<PluginDesc> {
    all()
        .into_iter()
        .filter(|plugin| types.is_empty() || types.contains(&plugin.plugin_type))
        .find(|plugin| plugin.matches(name))
}
