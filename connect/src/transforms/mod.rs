//! Single message transforms and predicates (CONNECT.md d).
//!
//! References: `org.apache.kafka.connect.transforms` and `.transforms.predicates` (Kafka 3.7).

use crate::connector::Config;
use crate::data::{ConnectError, ConnectRecord};

/// A single message transform. One instance per task, so it may cache.
pub trait Transform: Send {
    /// Configures it with its keys (`transforms.<alias>.` removed).
    fn configure(&mut self, config: &Config) -> Result<(), ConnectError>;

    /// Transforms a record; `None` drops it.
    fn apply(&mut self, record: ConnectRecord) -> Result<Option<ConnectRecord>, ConnectError>;
}

/// A predicate deciding whether a transform applies.
pub trait Predicate: Send {
    /// Configures it with its keys (`predicates.<alias>.` removed).
    fn configure(&mut self, config: &Config) -> Result<(), ConnectError>;

    /// True when the record matches.
    fn test(&self, record: &ConnectRecord) -> bool;
}

/// The built-in transforms and predicates.
pub fn plugins() -> Vec<crate::plugins::PluginDesc> {
    Vec::new()
}
