//! StringConverter (`org.apache.kafka.connect.storage.StringConverter`, CONNECT.md c.2):
//! any value's Java text (c.5) encoded with `converter.encoding`; bytes decode to an optional
//! STRING. Also a header converter.

use std::sync::Arc;

use super::config::{converter_config_def, grouped, kind, parse};
use super::{Converter, HeaderConverter};
use crate::config_def::{ConfigDef, ConfigKey, ConfigType, Default, Importance};
use crate::connector::Config;
use crate::data::{ConnectError, Schema, SchemaAndValue, SchemaType, Value};

/// Kafka's class name.
pub const CLASS: &str = "org.apache.kafka.connect.storage.StringConverter";
/// `converter.encoding`: the Java character set name.
pub const ENCODING_CONFIG: &str = "converter.encoding";

/// Kafka's `StringConverterConfig`: `converter.type` and `converter.encoding` (UTF-8).
pub fn config_def() -> ConfigDef {
    converter_config_def().define(grouped(
        ConfigKey::new(
            ENCODING_CONFIG,
            ConfigType::String,
            Default::Value("UTF-8".to_string()),
            Importance::High,
            "The name of the Java character set to use for encoding strings as byte arrays.",
        ),
        None,
        -1,
        "Encoding",
    ))
}

/// A character set StringConverter can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// UTF-8 (the default); invalid input decodes to U+FFFD as Java does.
    #[default]
    Utf8,
    /// US-ASCII: unmappable characters encode as `?`, bytes above 0x7F decode to U+FFFD.
    Ascii,
    /// ISO-8859-1 (Latin-1): characters above U+00FF encode as `?`.
    Latin1,
}

impl Encoding {
    /// The encoding a Java charset name (or one of its common aliases, any case) names;
    /// errors with a `ConfigException` for others.
    pub fn from_name(name: &str) -> Result<Encoding, ConnectError> {
        let normalized = name.trim().to_ascii_uppercase().replace('_', "-");
        match normalized.as_str() {
            "UTF-8" | "UTF8" => Ok(Encoding::Utf8),
            "US-ASCII" | "ASCII" | "ISO646-US" | "US" | "ASCII7" | "DEFAULT" => Ok(Encoding::Ascii),
            "ISO-8859-1" | "ISO8859-1" | "LATIN1" | "L1" | "ISO-LATIN-1" | "8859-1" | "CP819"
            | "IBM819" | "ISO-IR-100" => Ok(Encoding::Latin1),
            _ => Err(ConnectError::config(format!(
                "Invalid value {name} for configuration {ENCODING_CONFIG}: unsupported character set"
            ))),
        }
    }

    /// `text` as bytes in this encoding.
    pub fn encode(self, text: &str) -> Vec<u8> {
        match self {
            Encoding::Utf8 => text.as_bytes().to_vec(),
            Encoding::Ascii => text
                .chars()
                .map(|c| if c.is_ascii() { c as u8 } else { b'?' })
                .collect(),
            Encoding::Latin1 => text
                .chars()
                .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
                .collect(),
        }
    }

    /// `bytes` decoded in this encoding.
    pub fn decode(self, bytes: &[u8]) -> String {
        match self {
            Encoding::Utf8 => String::from_utf8_lossy(bytes).into_owned(),
            Encoding::Ascii => bytes
                .iter()
                .map(|b| {
                    if b.is_ascii() {
                        char::from(*b)
                    } else {
                        '\u{FFFD}'
                    }
                })
                .collect(),
            Encoding::Latin1 => bytes.iter().map(|b| char::from(*b)).collect(),
        }
    }
}

/// Converts any value to its text (c.5) and text back to an optional STRING.
#[derive(Debug, Default, Clone)]
pub struct StringConverter {
    encoding: Encoding,
}

impl StringConverter {
    fn configure_as(&mut self, config: &Config, kind: &str) -> Result<(), ConnectError> {
        let parsed = parse(&config_def(), config, kind)?;
        self.encoding = Encoding::from_name(parsed.string(ENCODING_CONFIG).unwrap_or("UTF-8"))?;
        Ok(())
    }

    fn to_bytes(&self, value: &Value) -> Option<Vec<u8>> {
        match value {
            Value::Null => None,
            value => Some(self.encoding.encode(&crate::render::render_value(value))),
        }
    }

    fn to_connect(&self, bytes: Option<&[u8]>) -> SchemaAndValue {
        SchemaAndValue {
            schema: Some(Arc::new(Schema::new(SchemaType::String).optional())),
            value: bytes.map_or(Value::Null, |bytes| {
                Value::String(self.encoding.decode(bytes))
            }),
        }
    }
}

impl Converter for StringConverter {
    fn configure(&mut self, config: &Config, is_key: bool) -> Result<(), ConnectError> {
        self.configure_as(config, kind(is_key))
    }

    fn from_connect_data(
        &self,
        _topic: &str,
        _schema: Option<&Schema>,
        value: &Value,
    ) -> Result<Option<Vec<u8>>, ConnectError> {
        Ok(self.to_bytes(value))
    }

    fn to_connect_data(
        &self,
        _topic: &str,
        bytes: Option<&[u8]>,
    ) -> Result<SchemaAndValue, ConnectError> {
        Ok(self.to_connect(bytes))
    }
}

impl HeaderConverter for StringConverter {
    fn configure(&mut self, config: &Config) -> Result<(), ConnectError> {
        self.configure_as(config, "header")
    }

    fn from_connect_header(
        &self,
        _topic: &str,
        _key: &str,
        _schema: Option<&Schema>,
        value: &Value,
    ) -> Result<Option<Vec<u8>>, ConnectError> {
        Ok(self.to_bytes(value))
    }

    fn to_connect_header(
        &self,
        _topic: &str,
        _key: &str,
        bytes: Option<&[u8]>,
    ) -> Result<SchemaAndValue, ConnectError> {
        Ok(self.to_connect(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configured(props: &[(&str, &str)]) -> Result<StringConverter, ConnectError> {
        let mut converter = StringConverter::default();
        let config: Config = props
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Converter::configure(&mut converter, &config, false)?;
        Ok(converter)
    }

    #[test]
    fn values_become_their_java_text() {
        let converter = configured(&[]).unwrap();
        let cases = [
            (Value::String("foo".into()), "foo"),
            (Value::Int32(42), "42"),
            (Value::Float64(1.0e10), "1.0E10"),
            (Value::Boolean(true), "true"),
            (
                Value::Array(vec![Value::Int64(1), Value::Int64(2)]),
                "[1, 2]",
            ),
        ];
        for (value, text) in cases {
            let bytes = converter.from_connect_data("t", None, &value).unwrap();
            assert_eq!(bytes.as_deref(), Some(text.as_bytes()));
        }
        assert_eq!(
            converter
                .from_connect_data("t", None, &Value::Null)
                .unwrap(),
            None
        );
    }

    #[test]
    fn bytes_become_optional_strings() {
        let converter = configured(&[]).unwrap();
        let back = converter
            .to_connect_data("t", Some("héllo".as_bytes()))
            .unwrap();
        assert_eq!(back.value, Value::String("héllo".into()));
        let schema = back.schema.unwrap();
        assert_eq!(schema.schema_type, SchemaType::String);
        assert!(schema.optional);
        let null = converter.to_connect_data("t", None).unwrap();
        assert_eq!(null.value, Value::Null);
        assert!(null.schema.unwrap().optional);
    }

    #[test]
    fn encodings() {
        let latin1 = configured(&[(ENCODING_CONFIG, "ISO-8859-1")]).unwrap();
        assert_eq!(
            latin1
                .from_connect_data("t", None, &Value::String("é€".into()))
                .unwrap(),
            Some(vec![0xE9, b'?'])
        );
        assert_eq!(
            latin1.to_connect_data("t", Some(&[0xE9])).unwrap().value,
            Value::String("é".into())
        );
        let ascii = configured(&[(ENCODING_CONFIG, "us-ascii")]).unwrap();
        assert_eq!(
            ascii
                .from_connect_data("t", None, &Value::String("aé".into()))
                .unwrap(),
            Some(vec![b'a', b'?'])
        );
        assert!(configured(&[(ENCODING_CONFIG, "utf8")]).is_ok());
        let error = configured(&[(ENCODING_CONFIG, "KLINGON")]).unwrap_err();
        assert_eq!(error.kind, crate::data::ErrorKind::Config);
    }
}
