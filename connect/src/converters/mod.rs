//! Converters: Connect values to Kafka bytes and back (CONNECT.md c).
//!
//! References: Kafka Connect's `Converter`, `HeaderConverter`, `JsonConverter`,
//! `StringConverter`, `ByteArrayConverter`, `SimpleHeaderConverter` (Kafka 3.7).

pub mod byte_array;
pub mod config;
pub mod string;

use crate::connector::Config;
use crate::data::{ConnectError, Schema, SchemaAndValue, Value};

/// Converts record keys or values between Connect data and bytes.
#[allow(clippy::wrong_self_convention)] // Kafka's method names
pub trait Converter: Send + Sync {
    /// Configures the converter with its sub-keys (the `key.converter.`/`value.converter.`
    /// prefix removed); `is_key` tells which side it converts.
    fn configure(&mut self, config: &Config, is_key: bool) -> Result<(), ConnectError>;

    /// Connect data to bytes; `None` is a Kafka null (tombstone).
    fn from_connect_data(
        &self,
        topic: &str,
        schema: Option<&Schema>,
        value: &Value,
    ) -> Result<Option<Vec<u8>>, ConnectError>;

    /// Bytes (`None` = Kafka null) to Connect data.
    fn to_connect_data(
        &self,
        topic: &str,
        bytes: Option<&[u8]>,
    ) -> Result<SchemaAndValue, ConnectError>;
}

/// Converts header values between Connect data and bytes.
#[allow(clippy::wrong_self_convention)] // Kafka's method names
pub trait HeaderConverter: Send + Sync {
    /// Configures the converter with its sub-keys (`header.converter.` removed).
    fn configure(&mut self, config: &Config) -> Result<(), ConnectError>;

    /// A header value to bytes; `None` is a null header value.
    fn from_connect_header(
        &self,
        topic: &str,
        key: &str,
        schema: Option<&Schema>,
        value: &Value,
    ) -> Result<Option<Vec<u8>>, ConnectError>;

    /// Header bytes (`None` = null) to Connect data.
    fn to_connect_header(
        &self,
        topic: &str,
        key: &str,
        bytes: Option<&[u8]>,
    ) -> Result<SchemaAndValue, ConnectError>;
}

/// The built-in converters and header converters. A class that is both (StringConverter,
/// JsonConverter, ByteArrayConverter) is listed once per type.
pub fn plugins() -> Vec<crate::plugins::PluginDesc> {
    use crate::plugins::{Factory, PluginDesc, PluginType};
    fn converter(
        class: &'static str,
        config_def: fn() -> crate::config_def::ConfigDef,
        make: fn() -> Box<dyn Converter>,
    ) -> PluginDesc {
        PluginDesc {
            class,
            plugin_type: PluginType::Converter,
            config_def,
            factory: Factory::Converter(make),
        }
    }
    fn header(
        class: &'static str,
        config_def: fn() -> crate::config_def::ConfigDef,
        make: fn() -> Box<dyn HeaderConverter>,
    ) -> PluginDesc {
        PluginDesc {
            class,
            plugin_type: PluginType::HeaderConverter,
            config_def,
            factory: Factory::HeaderConverter(make),
        }
    }
    vec![
        converter(string::CLASS, string::config_def, || {
            Box::new(string::StringConverter::default())
        }),
        header(string::CLASS, string::config_def, || {
            Box::new(string::StringConverter::default())
        }),
        converter(byte_array::CLASS, config::converter_config_def, || {
            Box::new(byte_array::ByteArrayConverter)
        }),
        header(byte_array::CLASS, config::converter_config_def, || {
            Box::new(byte_array::ByteArrayConverter)
        }),
    ]
}
