//! ByteArrayConverter (`org.apache.kafka.connect.converters.ByteArrayConverter`,
//! CONNECT.md c.3): bytes pass through unchanged, both as converter and header converter.

use std::sync::Arc;

use super::{Converter, HeaderConverter};
use crate::connector::Config;
use crate::data::{ConnectError, Schema, SchemaAndValue, SchemaType, Value};

/// Kafka's class name.
pub const CLASS: &str = "org.apache.kafka.connect.converters.ByteArrayConverter";

/// Pass-through converter: to bytes the schema must be absent or BYTES and the value bytes;
/// from bytes the schema is optional BYTES.
#[derive(Debug, Default, Clone)]
pub struct ByteArrayConverter;

impl ByteArrayConverter {
    fn to_bytes(schema: Option<&Schema>, value: &Value) -> Result<Option<Vec<u8>>, ConnectError> {
        if let Some(schema) = schema {
            if schema.schema_type != SchemaType::Bytes {
                return Err(ConnectError::data(format!(
                    "Invalid schema type for ByteArrayConverter: {}",
                    schema.schema_type.name()
                )));
            }
        }
        match value {
            Value::Null => Ok(None),
            Value::Bytes(bytes) => Ok(Some(bytes.clone())),
            other => Err(ConnectError::data(format!(
                "ByteArrayConverter is not compatible with objects of type class {}",
                other.java_class()
            ))),
        }
    }

    fn to_connect(bytes: Option<&[u8]>) -> SchemaAndValue {
        SchemaAndValue {
            schema: Some(Arc::new(Schema::new(SchemaType::Bytes).optional())),
            value: bytes.map_or(Value::Null, |bytes| Value::Bytes(bytes.to_vec())),
        }
    }
}

impl Converter for ByteArrayConverter {
    fn configure(&mut self, config: &Config, is_key: bool) -> Result<(), ConnectError> {
        super::config::parse(
            &super::config::converter_config_def(),
            config,
            super::config::kind(is_key),
        )?;
        Ok(())
    }

    fn from_connect_data(
        &self,
        _topic: &str,
        schema: Option<&Schema>,
        value: &Value,
    ) -> Result<Option<Vec<u8>>, ConnectError> {
        Self::to_bytes(schema, value)
    }

    fn to_connect_data(
        &self,
        _topic: &str,
        bytes: Option<&[u8]>,
    ) -> Result<SchemaAndValue, ConnectError> {
        Ok(Self::to_connect(bytes))
    }
}

impl HeaderConverter for ByteArrayConverter {
    fn configure(&mut self, config: &Config) -> Result<(), ConnectError> {
        super::config::parse(&super::config::converter_config_def(), config, "header")?;
        Ok(())
    }

    fn from_connect_header(
        &self,
        _topic: &str,
        _key: &str,
        schema: Option<&Schema>,
        value: &Value,
    ) -> Result<Option<Vec<u8>>, ConnectError> {
        Self::to_bytes(schema, value)
    }

    fn to_connect_header(
        &self,
        _topic: &str,
        _key: &str,
        bytes: Option<&[u8]>,
    ) -> Result<SchemaAndValue, ConnectError> {
        Ok(Self::to_connect(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_pass_through() {
        let mut converter = ByteArrayConverter;
        Converter::configure(&mut converter, &Config::new(), false).unwrap();
        let bytes = converter
            .from_connect_data(
                "t",
                Some(&Schema::new(SchemaType::Bytes)),
                &Value::Bytes(vec![1, 2, 3]),
            )
            .unwrap();
        assert_eq!(bytes, Some(vec![1, 2, 3]));
        assert_eq!(
            converter
                .from_connect_data("t", None, &Value::Null)
                .unwrap(),
            None
        );
        let back = converter.to_connect_data("t", Some(&[9, 8])).unwrap();
        assert_eq!(back.value, Value::Bytes(vec![9, 8]));
        let schema = back.schema.unwrap();
        assert_eq!(schema.schema_type, SchemaType::Bytes);
        assert!(schema.optional);
        assert_eq!(
            converter.to_connect_data("t", None).unwrap().value,
            Value::Null
        );
    }

    #[test]
    fn refuses_other_schemas_and_values() {
        let converter = ByteArrayConverter;
        let error = converter
            .from_connect_data("t", Some(&Schema::new(SchemaType::Int32)), &Value::Int32(1))
            .unwrap_err();
        assert_eq!(
            error.message,
            "Invalid schema type for ByteArrayConverter: INT32"
        );
        let error = converter
            .from_connect_data("t", None, &Value::String("x".into()))
            .unwrap_err();
        assert_eq!(
            error.message,
            "ByteArrayConverter is not compatible with objects of type class java.lang.String"
        );
    }
}
