//! The per-task record pipeline: converters (connector config first, else the worker's)
//! and the transform chain.

use crate::config_def::with_prefix;
use crate::connector::Config;
use crate::converters::{Converter, HeaderConverter};
use crate::data::{ConnectError, ConnectRecord};
use crate::plugins::{self, Factory, PluginType};
use crate::worker_config::WorkerConfig;

/// The default header converter.
pub const SIMPLE_HEADER_CONVERTER: &str = "org.apache.kafka.connect.storage.SimpleHeaderConverter";

/// A configured converter and its class name.
pub struct NamedConverter {
    /// Kafka's class name.
    pub class: &'static str,
    /// The converter.
    pub converter: Box<dyn Converter>,
}

/// A configured header converter and its class name.
pub struct NamedHeaderConverter {
    /// Kafka's class name.
    pub class: &'static str,
    /// The header converter.
    pub converter: Box<dyn HeaderConverter>,
}

/// The converters of one task.
pub struct Converters {
    /// Key converter.
    pub key: NamedConverter,
    /// Value converter.
    pub value: NamedConverter,
    /// Header converter.
    pub header: NamedHeaderConverter,
}

impl std::fmt::Debug for Converters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Converters")
            .field("key", &self.key.class)
            .field("value", &self.value.class)
            .field("header", &self.header.class)
            .finish()
    }
}

/// Where the converter keys come from: the connector's when it names a converter, else
/// the worker's.
fn source_of<'a>(connector: &'a Config, worker: &'a Config, key: &str) -> Option<&'a Config> {
    if connector.get(key).is_some_and(|v| !v.trim().is_empty()) {
        Some(connector)
    } else if worker.get(key).is_some_and(|v| !v.trim().is_empty()) {
        Some(worker)
    } else {
        None
    }
}

fn converter(
    connector: &Config,
    worker: &Config,
    key: &str,
    is_key: bool,
) -> Result<NamedConverter, ConnectError> {
    let config = source_of(connector, worker, key).ok_or_else(|| {
        ConnectError::config(format!(
            "Missing required configuration \"{key}\" which has no default value."
        ))
    })?;
    let name = config.get(key).map(|s| s.trim()).unwrap_or_default();
    let plugin = plugins::find(name, &[PluginType::Converter]).ok_or_else(|| {
        ConnectError::config(format!(
            "Invalid value {name} for configuration {key}: Class {name} could not be found."
        ))
    })?;
    let Factory::Converter(factory) = plugin.factory else {
        return Err(ConnectError::config(format!("{name} is not a converter")));
    };
    let mut converter = factory();
    converter.configure(&with_prefix(config, &format!("{key}.")), is_key)?;
    Ok(NamedConverter {
        class: plugin.class,
        converter,
    })
}

impl Converters {
    /// The converters for a connector with `connector` config on a worker with `worker`
    /// config (`key.converter` + `key.converter.*`, `value.converter`, `header.converter`,
    /// default SimpleHeaderConverter).
    pub fn new(connector: &Config, worker: &WorkerConfig) -> Result<Converters, ConnectError> {
        let worker = worker.originals();
        let key = converter(connector, worker, "key.converter", true)?;
        let value = converter(connector, worker, "value.converter", false)?;
        let (name, sub_keys) = match source_of(connector, worker, "header.converter") {
            Some(config) => (
                config
                    .get("header.converter")
                    .map(|s| s.trim().to_string())
                    .unwrap_or_default(),
                with_prefix(config, "header.converter."),
            ),
            None => (
                SIMPLE_HEADER_CONVERTER.to_string(),
                with_prefix(worker, "header.converter."),
            ),
        };
        let plugin = plugins::find(&name, &[PluginType::HeaderConverter]).ok_or_else(|| {
            ConnectError::config(format!(
                "Invalid value {name} for configuration header.converter: Class {name} could not be found."
            ))
        })?;
        let Factory::HeaderConverter(factory) = plugin.factory else {
            return Err(ConnectError::config(format!(
                "{name} is not a header converter"
            )));
        };
        let mut header = factory();
        header.configure(&sub_keys)?;
        Ok(Converters {
            key,
            value,
            header: NamedHeaderConverter {
                class: plugin.class,
                converter: header,
            },
        })
    }
}

/// The transforms of one task, applied in order (smt's
/// [`TransformChain`](crate::transforms::chain::TransformChain)).
pub struct Transforms {
    chain: crate::transforms::chain::TransformChain,
}

impl std::fmt::Debug for Transforms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.chain.fmt(f)
    }
}

impl Transforms {
    /// The chain a connector's `transforms`/`predicates` keys describe.
    pub fn from_config(config: &Config) -> Result<Transforms, ConnectError> {
        Ok(Transforms {
            chain: crate::transforms::chain::TransformChain::from_config(config)?,
        })
    }

    /// True when no transform is configured.
    pub fn is_empty(&self) -> bool {
        self.chain.is_empty()
    }

    /// Applies the chain; `None` = dropped. A failure carries the failing transform's
    /// class name.
    pub fn apply(
        &mut self,
        record: ConnectRecord,
    ) -> Result<Option<ConnectRecord>, (ConnectError, String)> {
        match self.chain.apply(record) {
            Ok(out) => Ok(out),
            Err((index, error)) => Err((error, self.chain.class_of(index).to_string())),
        }
    }
}
