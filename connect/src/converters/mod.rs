//! Converters: Connect values to Kafka bytes and back (CONNECT.md c).
//!
//! References: Kafka Connect's `Converter`, `HeaderConverter`, `JsonConverter`,
//! `StringConverter`, `ByteArrayConverter`, `SimpleHeaderConverter` (Kafka 3.7).

pub mod byte_array;
pub mod config;
pub mod json;
mod json_tree;
pub mod number;
pub mod simple_header;
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

/// The built-in converters and header converters: JsonConverter, StringConverter and
/// ByteArrayConverter (each listed once as converter, once as header converter) and
/// SimpleHeaderConverter (header converter only), and the fixed-width Short, Integer, Long,
/// Float, Double and Boolean converters (both types).
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
    let mut plugins = vec![
        converter(string::CLASS, string::config_def, || {
            Box::new(string::StringConverter::default())
        }),
        header(string::CLASS, string::config_def, || {
            Box::new(string::StringConverter::default())
        }),
        converter(json::CLASS, json::config_def, || {
            Box::new(json::JsonConverter::default())
        }),
        header(json::CLASS, json::config_def, || {
            Box::new(json::JsonConverter::default())
        }),
        header(simple_header::CLASS, simple_header::config_def, || {
            Box::new(simple_header::SimpleHeaderConverter)
        }),
        converter(byte_array::CLASS, config::converter_config_def, || {
            Box::new(byte_array::ByteArrayConverter)
        }),
        header(byte_array::CLASS, config::converter_config_def, || {
            Box::new(byte_array::ByteArrayConverter)
        }),
    ];
    // Function pointers cannot capture the kind, so one constructor per kind.
    type Makers = (
        number::NumberKind,
        fn() -> Box<dyn Converter>,
        fn() -> Box<dyn HeaderConverter>,
    );
    let numbers: [Makers; 6] = [
        (
            number::NumberKind::Short,
            || Box::new(number::NumberConverter::new(number::NumberKind::Short)),
            || Box::new(number::NumberConverter::new(number::NumberKind::Short)),
        ),
        (
            number::NumberKind::Integer,
            || Box::new(number::NumberConverter::new(number::NumberKind::Integer)),
            || Box::new(number::NumberConverter::new(number::NumberKind::Integer)),
        ),
        (
            number::NumberKind::Long,
            || Box::new(number::NumberConverter::new(number::NumberKind::Long)),
            || Box::new(number::NumberConverter::new(number::NumberKind::Long)),
        ),
        (
            number::NumberKind::Float,
            || Box::new(number::NumberConverter::new(number::NumberKind::Float)),
            || Box::new(number::NumberConverter::new(number::NumberKind::Float)),
        ),
        (
            number::NumberKind::Double,
            || Box::new(number::NumberConverter::new(number::NumberKind::Double)),
            || Box::new(number::NumberConverter::new(number::NumberKind::Double)),
        ),
        (
            number::NumberKind::Boolean,
            || Box::new(number::NumberConverter::new(number::NumberKind::Boolean)),
            || Box::new(number::NumberConverter::new(number::NumberKind::Boolean)),
        ),
    ];
    for (kind, make, make_header) in numbers {
        plugins.push(converter(kind.class(), config::converter_config_def, make));
        plugins.push(header(
            kind.class(),
            config::converter_config_def,
            make_header,
        ));
    }
    plugins
}

#[cfg(test)]
mod tests {
    use crate::plugins::{find, Factory, PluginType};

    #[test]
    fn registered_by_class_and_simple_name() {
        for (name, types) in [
            (
                "org.apache.kafka.connect.json.JsonConverter",
                [PluginType::Converter, PluginType::HeaderConverter].as_slice(),
            ),
            (
                "StringConverter",
                &[PluginType::Converter, PluginType::HeaderConverter],
            ),
            (
                "org.apache.kafka.connect.converters.ByteArrayConverter",
                &[PluginType::Converter, PluginType::HeaderConverter],
            ),
            (
                "org.apache.kafka.connect.storage.SimpleHeaderConverter",
                &[PluginType::HeaderConverter],
            ),
        ] {
            for plugin_type in types {
                let plugin =
                    find(name, &[*plugin_type]).unwrap_or_else(|| panic!("{name} {plugin_type:?}"));
                match (plugin.factory, plugin_type) {
                    (Factory::Converter(make), PluginType::Converter) => {
                        let mut converter = make();
                        converter.configure(&Default::default(), false).unwrap();
                    }
                    (Factory::HeaderConverter(make), PluginType::HeaderConverter) => {
                        let mut converter = make();
                        converter.configure(&Default::default()).unwrap();
                    }
                    _ => panic!("wrong factory for {name}"),
                }
            }
        }
        assert!(find("SimpleHeaderConverter", &[PluginType::Converter]).is_none());
        let json = find("JsonConverter", &[PluginType::Converter]).unwrap();
        assert!((json.config_def)().key("schemas.enable").is_some());
    }
}
