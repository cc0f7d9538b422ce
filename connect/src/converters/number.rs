//! The fixed-width converters of `org.apache.kafka.connect.converters` (CONNECT.md c.3,
//! P2): ShortConverter, IntegerConverter, LongConverter, FloatConverter, DoubleConverter
//! (Kafka's `NumberConverter`s) and BooleanConverter — big-endian bytes as Kafka's
//! serializers write them, each also a header converter.

use std::sync::Arc;

use super::config::{converter_config_def, kind, parse};
use super::{Converter, HeaderConverter};
use crate::connector::Config;
use crate::data::{ConnectError, Schema, SchemaAndValue, SchemaType, Value};

/// Which fixed-width type a [`NumberConverter`] handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberKind {
    /// INT16, 2 bytes (`ShortConverter`).
    Short,
    /// INT32, 4 bytes (`IntegerConverter`).
    Integer,
    /// INT64, 8 bytes (`LongConverter`).
    Long,
    /// FLOAT32, 4 bytes (`FloatConverter`).
    Float,
    /// FLOAT64, 8 bytes (`DoubleConverter`).
    Double,
    /// BOOLEAN, 1 byte 0/1 (`BooleanConverter`).
    Boolean,
}

impl NumberKind {
    /// Every kind.
    pub const ALL: [NumberKind; 6] = [
        NumberKind::Short,
        NumberKind::Integer,
        NumberKind::Long,
        NumberKind::Float,
        NumberKind::Double,
        NumberKind::Boolean,
    ];

    /// Kafka's class name.
    pub fn class(self) -> &'static str {
        match self {
            NumberKind::Short => "org.apache.kafka.connect.converters.ShortConverter",
            NumberKind::Integer => "org.apache.kafka.connect.converters.IntegerConverter",
            NumberKind::Long => "org.apache.kafka.connect.converters.LongConverter",
            NumberKind::Float => "org.apache.kafka.connect.converters.FloatConverter",
            NumberKind::Double => "org.apache.kafka.connect.converters.DoubleConverter",
            NumberKind::Boolean => "org.apache.kafka.connect.converters.BooleanConverter",
        }
    }

    fn type_name(self) -> &'static str {
        match self {
            NumberKind::Short => "short",
            NumberKind::Integer => "integer",
            NumberKind::Long => "long",
            NumberKind::Float => "float",
            NumberKind::Double => "double",
            NumberKind::Boolean => "boolean",
        }
    }

    fn deserializer(self) -> &'static str {
        match self {
            NumberKind::Short => "ShortDeserializer",
            NumberKind::Integer => "IntegerDeserializer",
            NumberKind::Long => "LongDeserializer",
            NumberKind::Float => "FloatDeserializer",
            NumberKind::Double => "DoubleDeserializer",
            NumberKind::Boolean => "BooleanDeserializer",
        }
    }

    fn schema_type(self) -> SchemaType {
        match self {
            NumberKind::Short => SchemaType::Int16,
            NumberKind::Integer => SchemaType::Int32,
            NumberKind::Long => SchemaType::Int64,
            NumberKind::Float => SchemaType::Float32,
            NumberKind::Double => SchemaType::Float64,
            NumberKind::Boolean => SchemaType::Boolean,
        }
    }

    fn width(self) -> usize {
        match self {
            NumberKind::Boolean => 1,
            NumberKind::Short => 2,
            NumberKind::Integer | NumberKind::Float => 4,
            NumberKind::Long | NumberKind::Double => 8,
        }
    }
}

/// A fixed-width converter: the value must be of its type (schema ignored, except that
/// BooleanConverter refuses a non-BOOLEAN schema); bytes decode to its optional schema.
#[derive(Debug, Clone, Copy)]
pub struct NumberConverter {
    kind: NumberKind,
}

impl NumberConverter {
    /// A converter of `kind`.
    pub fn new(kind: NumberKind) -> NumberConverter {
        NumberConverter { kind }
    }

    fn encode(
        &self,
        schema: Option<&Schema>,
        value: &Value,
    ) -> Result<Option<Vec<u8>>, ConnectError> {
        let kind = self.kind;
        if kind == NumberKind::Boolean {
            if let Some(schema) = schema.filter(|s| s.schema_type != SchemaType::Boolean) {
                return Err(ConnectError::data(format!(
                    "Invalid schema type for BooleanConverter: {}",
                    schema.schema_type.name()
                )));
            }
        }
        Ok(Some(match (kind, value) {
            (_, Value::Null) => return Ok(None),
            (NumberKind::Short, Value::Int16(v)) => v.to_be_bytes().to_vec(),
            (NumberKind::Integer, Value::Int32(v)) => v.to_be_bytes().to_vec(),
            (NumberKind::Long, Value::Int64(v)) => v.to_be_bytes().to_vec(),
            (NumberKind::Float, Value::Float32(v)) => v.to_bits().to_be_bytes().to_vec(),
            (NumberKind::Double, Value::Float64(v)) => v.to_bits().to_be_bytes().to_vec(),
            (NumberKind::Boolean, Value::Boolean(v)) => vec![u8::from(*v)],
            (NumberKind::Boolean, other) => {
                return Err(ConnectError::data(format!(
                    "BooleanConverter is not compatible with objects of type class {}",
                    other.java_class()
                )))
            }
            (_, other) => {
                return Err(ConnectError::data(format!(
                    "Failed to serialize to {} (was class {}): ",
                    kind.type_name(),
                    other.java_class()
                )))
            }
        }))
    }

    fn decode(&self, bytes: Option<&[u8]>) -> Result<SchemaAndValue, ConnectError> {
        let kind = self.kind;
        let schema = Some(Arc::new(Schema::new(kind.schema_type()).optional()));
        let Some(bytes) = bytes else {
            return Ok(SchemaAndValue {
                schema,
                value: Value::Null,
            });
        };
        let failed = |reason: String| {
            let what = if kind == NumberKind::Boolean {
                "Failed to deserialize boolean: ".to_string()
            } else {
                format!("Failed to deserialize {}: ", kind.type_name())
            };
            ConnectError::data(what).with_cause(ConnectError::data(reason))
        };
        if bytes.len() != kind.width() {
            return Err(failed(format!(
                "Size of data received by {} is not {}",
                kind.deserializer(),
                kind.width()
            )));
        }
        let value = match kind {
            NumberKind::Short => Value::Int16(i16::from_be_bytes([bytes[0], bytes[1]])),
            NumberKind::Integer => {
                Value::Int32(i32::from_be_bytes(bytes.try_into().unwrap_or_default()))
            }
            NumberKind::Long => {
                Value::Int64(i64::from_be_bytes(bytes.try_into().unwrap_or_default()))
            }
            NumberKind::Float => Value::Float32(f32::from_bits(u32::from_be_bytes(
                bytes.try_into().unwrap_or_default(),
            ))),
            NumberKind::Double => Value::Float64(f64::from_bits(u64::from_be_bytes(
                bytes.try_into().unwrap_or_default(),
            ))),
            NumberKind::Boolean => match bytes[0] {
                0 => Value::Boolean(false),
                1 => Value::Boolean(true),
                other => {
                    return Err(failed(format!(
                        "Unexpected byte received by BooleanDeserializer: {}",
                        other as i8
                    )))
                }
            },
        };
        Ok(SchemaAndValue { schema, value })
    }
}

impl Converter for NumberConverter {
    fn configure(&mut self, config: &Config, is_key: bool) -> Result<(), ConnectError> {
        parse(&converter_config_def(), config, kind(is_key))?;
        Ok(())
    }

    fn from_connect_data(
        &self,
        _topic: &str,
        schema: Option<&Schema>,
        value: &Value,
    ) -> Result<Option<Vec<u8>>, ConnectError> {
        self.encode(schema, value)
    }

    fn to_connect_data(
        &self,
        _topic: &str,
        bytes: Option<&[u8]>,
    ) -> Result<SchemaAndValue, ConnectError> {
        self.decode(bytes)
    }
}

impl HeaderConverter for NumberConverter {
    fn configure(&mut self, config: &Config) -> Result<(), ConnectError> {
        parse(&converter_config_def(), config, "header")?;
        Ok(())
    }

    fn from_connect_header(
        &self,
        _topic: &str,
        _key: &str,
        schema: Option<&Schema>,
        value: &Value,
    ) -> Result<Option<Vec<u8>>, ConnectError> {
        self.encode(schema, value)
    }

    fn to_connect_header(
        &self,
        _topic: &str,
        _key: &str,
        bytes: Option<&[u8]>,
    ) -> Result<SchemaAndValue, ConnectError> {
        self.decode(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_endian_both_ways() {
        let cases = [
            (NumberKind::Short, Value::Int16(-2), vec![0xFF, 0xFE]),
            (NumberKind::Integer, Value::Int32(258), vec![0, 0, 1, 2]),
            (
                NumberKind::Long,
                Value::Int64(1),
                vec![0, 0, 0, 0, 0, 0, 0, 1],
            ),
            (
                NumberKind::Float,
                Value::Float32(1.0),
                vec![0x3F, 0x80, 0, 0],
            ),
            (
                NumberKind::Double,
                Value::Float64(2.0),
                vec![0x40, 0, 0, 0, 0, 0, 0, 0],
            ),
            (NumberKind::Boolean, Value::Boolean(true), vec![1]),
        ];
        for (kind, value, bytes) in cases {
            let c = NumberConverter::new(kind);
            assert_eq!(
                c.from_connect_data("t", None, &value).unwrap(),
                Some(bytes.clone())
            );
            let back = c.to_connect_data("t", Some(&bytes)).unwrap();
            assert_eq!(back.value, value);
            assert!(back.schema.unwrap().optional);
            assert_eq!(c.from_connect_data("t", None, &Value::Null).unwrap(), None);
            assert_eq!(c.to_connect_data("t", None).unwrap().value, Value::Null);
        }
    }

    #[test]
    fn kafka_errors() {
        let int = NumberConverter::new(NumberKind::Integer);
        assert_eq!(
            int.from_connect_data("t", None, &Value::Int64(1))
                .unwrap_err()
                .message,
            "Failed to serialize to integer (was class java.lang.Long): "
        );
        let error = int.to_connect_data("t", Some(&[1, 2])).unwrap_err();
        assert_eq!(error.message, "Failed to deserialize integer: ");
        assert_eq!(
            error.cause.unwrap().message,
            "Size of data received by IntegerDeserializer is not 4"
        );
        let boolean = NumberConverter::new(NumberKind::Boolean);
        assert_eq!(
            boolean
                .from_connect_data("t", Some(&Schema::new(SchemaType::Int8)), &Value::Int8(1))
                .unwrap_err()
                .message,
            "Invalid schema type for BooleanConverter: INT8"
        );
        let error = boolean.to_connect_data("t", Some(&[2])).unwrap_err();
        assert_eq!(
            error.cause.unwrap().message,
            "Unexpected byte received by BooleanDeserializer: 2"
        );
    }
}
