//! SimpleHeaderConverter (`org.apache.kafka.connect.storage.SimpleHeaderConverter`,
//! CONNECT.md c.4), the default header converter: values as UTF-8 text
//! ([`crate::values::convert_to_string`]), text parsed back with type inference
//! ([`crate::values::parse_string`]).

use std::sync::Arc;

use super::HeaderConverter;
use crate::config_def::ConfigDef;
use crate::connector::Config;
use crate::data::{ConnectError, Schema, SchemaAndValue, SchemaType, Value};

/// Kafka's class name.
pub const CLASS: &str = "org.apache.kafka.connect.storage.SimpleHeaderConverter";

/// Kafka's definition: no keys.
pub fn config_def() -> ConfigDef {
    ConfigDef::new()
}

/// Header values as text with inferred types on the way back.
#[derive(Debug, Default, Clone)]
pub struct SimpleHeaderConverter;

impl HeaderConverter for SimpleHeaderConverter {
    fn configure(&mut self, _config: &Config) -> Result<(), ConnectError> {
        Ok(())
    }

    fn from_connect_header(
        &self,
        _topic: &str,
        _key: &str,
        schema: Option<&Schema>,
        value: &Value,
    ) -> Result<Option<Vec<u8>>, ConnectError> {
        Ok(crate::values::convert_to_string(schema, value).map(String::into_bytes))
    }

    /// Null bytes are (no schema, null); text that is not UTF-8 stays bytes (Kafka logs
    /// and keeps the raw value when parsing fails).
    fn to_connect_header(
        &self,
        topic: &str,
        key: &str,
        bytes: Option<&[u8]>,
    ) -> Result<SchemaAndValue, ConnectError> {
        let Some(bytes) = bytes else {
            return Ok(SchemaAndValue::default());
        };
        match std::str::from_utf8(bytes) {
            Ok(text) => Ok(crate::values::parse_string(text)),
            Err(_) => {
                tracing::warn!(header = key, topic, "Failed to deserialize value for header '{key}' on topic '{topic}', so using byte array");
                Ok(SchemaAndValue {
                    schema: Some(Arc::new(Schema::new(SchemaType::Bytes))),
                    value: Value::Bytes(bytes.to_vec()),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_as_text() {
        let c = SimpleHeaderConverter;
        let cases = [
            (Value::String("hello".into()), "hello"),
            (Value::Int32(40000), "40000"),
            (Value::Boolean(false), "false"),
            (Value::Float64(2.5), "2.5"),
            (Value::Array(vec![Value::Int8(1), Value::Int8(2)]), "[1,2]"),
        ];
        for (value, text) in cases {
            let bytes = c
                .from_connect_header("t", "h", None, &value)
                .unwrap()
                .unwrap();
            assert_eq!(bytes, text.as_bytes());
            let back = c.to_connect_header("t", "h", Some(&bytes)).unwrap();
            if let Value::Float64(v) = value {
                assert_eq!(back.value, Value::Float32(v as f32));
            } else {
                assert_eq!(back.value, value);
            }
        }
        assert_eq!(
            c.from_connect_header("t", "h", None, &Value::Null).unwrap(),
            None
        );
        assert_eq!(
            c.to_connect_header("t", "h", None).unwrap(),
            SchemaAndValue::default()
        );
        let parsed = c.to_connect_header("t", "h", Some(b"12")).unwrap();
        assert_eq!(parsed.schema.unwrap().schema_type, SchemaType::Int8);
        let raw = c.to_connect_header("t", "h", Some(&[0xFF, 0xFE])).unwrap();
        assert_eq!(raw.value, Value::Bytes(vec![0xFF, 0xFE]));
    }
}
