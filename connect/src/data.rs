//! Connect's data model: schemas, values, structs, headers and records.
//!
//! Converters turn Kafka bytes into these values and back; transforms and connectors only
//! ever see these. The model mirrors `org.apache.kafka.connect.data` of Kafka 3.7, so that a
//! record moved through Josefine's Connect renders, converts and transforms as it would in
//! Kafka's. One difference of representation: a `java.util.Date` (the value of the Date,
//! Time and Timestamp logical types) is [`Value::Timestamp`], epoch ms.
//!
//! References: Kafka Connect's `Schema`, `SchemaBuilder`, `Struct`, `ConnectRecord`,
//! `Headers` (connect/api, Kafka 3.7).

use std::sync::Arc;

use num_bigint::BigInt;

/// A schema type, as Kafka's `Schema.Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SchemaType {
    /// 8-bit signed integer.
    Int8,
    /// 16-bit signed integer.
    Int16,
    /// 32-bit signed integer.
    Int32,
    /// 64-bit signed integer.
    Int64,
    /// 32-bit IEEE 754 float.
    Float32,
    /// 64-bit IEEE 754 float.
    Float64,
    /// Boolean.
    Boolean,
    /// UTF-8 text.
    String,
    /// Bytes.
    Bytes,
    /// A list of values of one schema (`value_schema`).
    Array,
    /// Key/value pairs (`key_schema`, `value_schema`).
    Map,
    /// Named fields (`fields`).
    Struct,
}

impl SchemaType {
    /// Kafka's upper-case name (`INT32`), used in error texts.
    pub fn name(self) -> &'static str {
        match self {
            SchemaType::Int8 => "INT8",
            SchemaType::Int16 => "INT16",
            SchemaType::Int32 => "INT32",
            SchemaType::Int64 => "INT64",
            SchemaType::Float32 => "FLOAT32",
            SchemaType::Float64 => "FLOAT64",
            SchemaType::Boolean => "BOOLEAN",
            SchemaType::String => "STRING",
            SchemaType::Bytes => "BYTES",
            SchemaType::Array => "ARRAY",
            SchemaType::Map => "MAP",
            SchemaType::Struct => "STRUCT",
        }
    }

    /// True for the primitive types (everything but ARRAY, MAP and STRUCT).
    pub fn is_primitive(self) -> bool {
        !matches!(
            self,
            SchemaType::Array | SchemaType::Map | SchemaType::Struct
        )
    }
}

/// Name of the Decimal logical type (BYTES, parameter `scale`).
pub const DECIMAL: &str = "org.apache.kafka.connect.data.Decimal";
/// Name of the Date logical type (INT32 days since 1970-01-01).
pub const DATE: &str = "org.apache.kafka.connect.data.Date";
/// Name of the Time logical type (INT32 ms since midnight).
pub const TIME: &str = "org.apache.kafka.connect.data.Time";
/// Name of the Timestamp logical type (INT64 ms since the epoch).
pub const TIMESTAMP: &str = "org.apache.kafka.connect.data.Timestamp";
/// Parameter of the Decimal logical type that holds its scale, as decimal text.
pub const DECIMAL_SCALE: &str = "scale";

/// One field of a STRUCT schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// Field name.
    pub name: String,
    /// Position in the struct, from 0.
    pub index: usize,
    /// The field's schema.
    pub schema: Arc<Schema>,
}

/// A Connect schema (Kafka's `ConnectSchema`). Build one with the constructors and the
/// `with_*`/`optional` methods, e.g. `Schema::new(SchemaType::String).optional()`.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    /// The type.
    pub schema_type: SchemaType,
    /// Whether null is a valid value.
    pub optional: bool,
    /// Default value, used in place of null where Kafka would use it.
    pub default: Option<Value>,
    /// Schema name (logical types use a well-known one).
    pub name: Option<String>,
    /// Schema version.
    pub version: Option<i32>,
    /// Documentation.
    pub doc: Option<String>,
    /// Parameters, in insertion order (`scale` for Decimal).
    pub parameters: Option<Vec<(String, String)>>,
    /// Fields of a STRUCT, in order.
    pub fields: Vec<Field>,
    /// Key schema of a MAP.
    pub key_schema: Option<Arc<Schema>>,
    /// Value schema of a MAP or ARRAY.
    pub value_schema: Option<Arc<Schema>>,
}

impl Schema {
    /// A required schema of `schema_type` with nothing else set.
    pub fn new(schema_type: SchemaType) -> Schema {
        Schema {
            schema_type,
            optional: false,
            default: None,
            name: None,
            version: None,
            doc: None,
            parameters: None,
            fields: Vec::new(),
            key_schema: None,
            value_schema: None,
        }
    }

    /// An ARRAY of `items`.
    pub fn array(items: Arc<Schema>) -> Schema {
        Schema {
            value_schema: Some(items),
            ..Schema::new(SchemaType::Array)
        }
    }

    /// A MAP from `keys` to `values`.
    pub fn map(keys: Arc<Schema>, values: Arc<Schema>) -> Schema {
        Schema {
            key_schema: Some(keys),
            value_schema: Some(values),
            ..Schema::new(SchemaType::Map)
        }
    }

    /// A STRUCT with `fields` (name, schema) in order; indexes are assigned here.
    pub fn structure(fields: impl IntoIterator<Item = (String, Arc<Schema>)>) -> Schema {
        let fields = fields
            .into_iter()
            .enumerate()
            .map(|(index, (name, schema))| Field {
                name,
                index,
                schema,
            })
            .collect();
        Schema {
            fields,
            ..Schema::new(SchemaType::Struct)
        }
    }

    /// The Decimal logical type with `scale`.
    pub fn decimal(scale: i32) -> Schema {
        Schema {
            name: Some(DECIMAL.to_string()),
            version: Some(1),
            parameters: Some(vec![(DECIMAL_SCALE.to_string(), scale.to_string())]),
            ..Schema::new(SchemaType::Bytes)
        }
    }

    /// The Date logical type.
    pub fn date() -> Schema {
        Schema {
            name: Some(DATE.to_string()),
            version: Some(1),
            ..Schema::new(SchemaType::Int32)
        }
    }

    /// The Time logical type.
    pub fn time() -> Schema {
        Schema {
            name: Some(TIME.to_string()),
            version: Some(1),
            ..Schema::new(SchemaType::Int32)
        }
    }

    /// The Timestamp logical type.
    pub fn timestamp() -> Schema {
        Schema {
            name: Some(TIMESTAMP.to_string()),
            version: Some(1),
            ..Schema::new(SchemaType::Int64)
        }
    }

    /// This schema made optional.
    pub fn optional(mut self) -> Schema {
        self.optional = true;
        self
    }

    /// This schema with `name`.
    pub fn with_name(mut self, name: impl Into<String>) -> Schema {
        self.name = Some(name.into());
        self
    }

    /// This schema with a default value.
    pub fn with_default(mut self, default: Value) -> Schema {
        self.default = Some(default);
        self
    }

    /// The field called `name`, for a STRUCT.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|field| field.name == name)
    }

    /// A parameter's value.
    pub fn parameter(&self, key: &str) -> Option<&str> {
        self.parameters
            .as_ref()?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The scale of a Decimal schema, if this is one with a valid `scale` parameter.
    pub fn decimal_scale(&self) -> Option<i32> {
        if self.name.as_deref() != Some(DECIMAL) {
            return None;
        }
        self.parameter(DECIMAL_SCALE)?.parse().ok()
    }

    /// The logical type name if this schema is one of Kafka's four logical types.
    pub fn logical_name(&self) -> Option<&'static str> {
        match self.name.as_deref()? {
            DECIMAL => Some(DECIMAL),
            DATE => Some(DATE),
            TIME => Some(TIME),
            TIMESTAMP => Some(TIMESTAMP),
            _ => None,
        }
    }
}

/// A STRUCT value: a schema and one value per field, in field order.
#[derive(Debug, Clone, PartialEq)]
pub struct Struct {
    /// The STRUCT schema this value follows.
    pub schema: Arc<Schema>,
    /// One value per field, `Value::Null` for an unset field.
    pub values: Vec<Value>,
}

impl Struct {
    /// An empty struct of `schema`: every field null.
    pub fn new(schema: Arc<Schema>) -> Struct {
        let values = vec![Value::Null; schema.fields.len()];
        Struct { schema, values }
    }

    /// The value of field `name`, or None if the schema has no such field.
    pub fn get(&self, name: &str) -> Option<&Value> {
        let field = self.schema.field(name)?;
        self.values.get(field.index)
    }

    /// Sets field `name`. Errors with Kafka's text when the schema has no such field.
    pub fn put(&mut self, name: &str, value: Value) -> Result<(), ConnectError> {
        let index = self
            .schema
            .field(name)
            .map(|field| field.index)
            .ok_or_else(|| ConnectError::data(format!("{name} is not a valid field name")))?;
        if let Some(slot) = self.values.get_mut(index) {
            *slot = value;
        }
        Ok(())
    }
}

/// A Connect value. Schemaless values use the same variants (integers as Int64, fractions
/// as Float64, objects as Map, per CONNECT.md §0).
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// No value.
    #[default]
    Null,
    /// INT8.
    Int8(i8),
    /// INT16.
    Int16(i16),
    /// INT32.
    Int32(i32),
    /// INT64.
    Int64(i64),
    /// FLOAT32.
    Float32(f32),
    /// FLOAT64.
    Float64(f64),
    /// BOOLEAN.
    Boolean(bool),
    /// STRING.
    String(String),
    /// BYTES.
    Bytes(Vec<u8>),
    /// ARRAY.
    Array(Vec<Value>),
    /// MAP: ordered pairs; keys need not be strings.
    Map(Vec<(Value, Value)>),
    /// STRUCT.
    Struct(Struct),
    /// A Decimal logical value: unscaled integer and scale (`unscaled × 10^-scale`).
    Decimal {
        /// The unscaled value.
        unscaled: BigInt,
        /// Digits after the decimal point.
        scale: i32,
    },
    /// A `java.util.Date`: ms since the epoch (UTC). The in-memory value of the Date
    /// (midnight UTC), Time (a time of 1970-01-01) and Timestamp logical types.
    Timestamp(i64),
}

impl Value {
    /// True for [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The name Kafka's error texts use for this value's Java class
    /// (`java.lang.String`, `org.apache.kafka.connect.data.Struct`, ...).
    pub fn java_class(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Int8(_) => "java.lang.Byte",
            Value::Int16(_) => "java.lang.Short",
            Value::Int32(_) => "java.lang.Integer",
            Value::Int64(_) => "java.lang.Long",
            Value::Float32(_) => "java.lang.Float",
            Value::Float64(_) => "java.lang.Double",
            Value::Boolean(_) => "java.lang.Boolean",
            Value::String(_) => "java.lang.String",
            Value::Bytes(_) => "[B",
            Value::Array(_) => "java.util.ArrayList",
            Value::Map(_) => "java.util.HashMap",
            Value::Struct(_) => "org.apache.kafka.connect.data.Struct",
            Value::Decimal { .. } => "java.math.BigDecimal",
            Value::Timestamp(_) => "java.util.Date",
        }
    }

    /// The text if this is a STRING.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(text) => Some(text),
            _ => None,
        }
    }

    /// The value of `key` if this is a MAP with a string key equal to `key`.
    pub fn map_get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(pairs) => pairs
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }
}

/// A schema (or none, for schemaless data) with a value, as Kafka's `SchemaAndValue`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SchemaAndValue {
    /// The schema; None for schemaless data.
    pub schema: Option<Arc<Schema>>,
    /// The value.
    pub value: Value,
}

/// One record header: key, optional schema, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// Header key.
    pub key: String,
    /// Schema of the value; None when schemaless.
    pub schema: Option<Arc<Schema>>,
    /// The value.
    pub value: Value,
}

/// Record headers: an ordered multimap (duplicates allowed, order kept).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Headers(pub Vec<Header>);

impl Headers {
    /// Appends a header (never replaces).
    pub fn add(&mut self, key: impl Into<String>, schema: Option<Arc<Schema>>, value: Value) {
        self.0.push(Header {
            key: key.into(),
            schema,
            value,
        });
    }

    /// Removes every header with `key`.
    pub fn remove(&mut self, key: &str) {
        self.0.retain(|header| header.key != key);
    }

    /// The last header with `key`.
    pub fn last_with_name(&self, key: &str) -> Option<&Header> {
        self.0.iter().rev().find(|header| header.key == key)
    }

    /// Iterates in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Header> {
        self.0.iter()
    }

    /// True when there are no headers.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// How a record's timestamp was set, as Kafka's `TimestampType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampType {
    /// No timestamp.
    #[default]
    NoTimestampType,
    /// Set by the producer.
    CreateTime,
    /// Set by the broker.
    LogAppendTime,
}

impl TimestampType {
    /// Kafka's text (`CreateTime`, `LogAppendTime`, `NoTimestampType`).
    pub fn name(self) -> &'static str {
        match self {
            TimestampType::NoTimestampType => "NoTimestampType",
            TimestampType::CreateTime => "CreateTime",
            TimestampType::LogAppendTime => "LogAppendTime",
        }
    }
}

/// A Connect record: what transforms see, on both sides. Source records also carry
/// [`SourceRecord::source_partition`]/[`SourceRecord::source_offset`]; sink records carry
/// `kafka_offset` (`Some` exactly for records consumed from Kafka).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConnectRecord {
    /// Topic.
    pub topic: String,
    /// Partition; None lets the producer's partitioner choose.
    pub kafka_partition: Option<i32>,
    /// Key schema; None for schemaless keys.
    pub key_schema: Option<Arc<Schema>>,
    /// Key.
    pub key: Value,
    /// Value schema; None for schemaless values.
    pub value_schema: Option<Arc<Schema>>,
    /// Value.
    pub value: Value,
    /// Timestamp, ms since the epoch.
    pub timestamp: Option<i64>,
    /// How the timestamp was set (sink records).
    pub timestamp_type: TimestampType,
    /// Headers.
    pub headers: Headers,
    /// Offset in the partition it was consumed from: sink records only.
    pub kafka_offset: Option<i64>,
}

/// A JSON object: the source partition and source offset maps of source records.
pub type JsonMap = serde_json::Map<String, serde_json::Value>;

/// A record a source task produced: the Connect record plus where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceRecord {
    /// The record.
    pub record: ConnectRecord,
    /// Identifies the source partition (e.g. `{"filename": "test.txt"}`).
    pub source_partition: JsonMap,
    /// Position within the source partition (e.g. `{"position": 20}`).
    pub source_offset: JsonMap,
}

/// What kind of failure a [`ConnectError`] is; decides tolerance, retry and the exception
/// class reported in DLQ headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad data (Kafka's `DataException`): conversion and transform failures.
    Data,
    /// A bad configuration (Kafka's `ConfigException`).
    Config,
    /// A transient failure worth retrying (Kafka's `RetriableException`).
    Retriable,
    /// Any other failure (Kafka's `ConnectException`).
    Connect,
}

/// An error of the Connect runtime, a converter, a transform or a connector: a kind, a
/// message and an optional cause chain.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectError {
    /// The kind.
    pub kind: ErrorKind,
    /// The message, as Kafka's exception message.
    pub message: String,
    /// The cause, if any.
    pub cause: Option<Box<ConnectError>>,
}

impl ConnectError {
    /// A failure of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ConnectError {
        ConnectError {
            kind,
            message: message.into(),
            cause: None,
        }
    }

    /// A `DataException`.
    pub fn data(message: impl Into<String>) -> ConnectError {
        ConnectError::new(ErrorKind::Data, message)
    }

    /// A `ConfigException`.
    pub fn config(message: impl Into<String>) -> ConnectError {
        ConnectError::new(ErrorKind::Config, message)
    }

    /// A `RetriableException`.
    pub fn retriable(message: impl Into<String>) -> ConnectError {
        ConnectError::new(ErrorKind::Retriable, message)
    }

    /// A `ConnectException`.
    pub fn connect(message: impl Into<String>) -> ConnectError {
        ConnectError::new(ErrorKind::Connect, message)
    }

    /// This error with `cause` as its cause.
    pub fn with_cause(mut self, cause: ConnectError) -> ConnectError {
        self.cause = Some(Box::new(cause));
        self
    }

    /// True when the failure may go away on retry.
    pub fn is_retriable(&self) -> bool {
        self.kind == ErrorKind::Retriable
    }

    /// The Java exception class Kafka would report (DLQ header
    /// `__connect.errors.exception.class.name`).
    pub fn java_class(&self) -> &'static str {
        match self.kind {
            ErrorKind::Data => "org.apache.kafka.connect.errors.DataException",
            ErrorKind::Config => "org.apache.kafka.common.config.ConfigException",
            ErrorKind::Retriable => "org.apache.kafka.connect.errors.RetriableException",
            ErrorKind::Connect => "org.apache.kafka.connect.errors.ConnectException",
        }
    }

    /// The whole chain, one error per line (`class: message`, then `Caused by: ...`), as the
    /// status `trace` and the DLQ stacktrace header show it.
    pub fn trace(&self) -> String {
        let mut text = format!("{}: {}", self.java_class(), self.message);
        let mut cause = self.cause.as_deref();
        while let Some(error) = cause {
            text.push_str(&format!(
                "\nCaused by: {}: {}",
                error.java_class(),
                error.message
            ));
            cause = error.cause.as_deref();
        }
        text
    }
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause
            .as_deref()
            .map(|cause| cause as &(dyn std::error::Error + 'static))
    }
}
