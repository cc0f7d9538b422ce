//! JsonConverter (`org.apache.kafka.connect.json.JsonConverter`, CONNECT.md c.1): Connect
//! data to JSON text and back, with the `{"schema":..,"payload":..}` envelope when
//! `schemas.enable=true`. Also a header converter (same encoding).
//!
//! Output is byte-compatible with Kafka 3.7's (Jackson's compact writer: schema members in
//! Kafka's order, FLOAT64/FLOAT32 as Java's `Double.toString`/`Float.toString`, Decimal
//! NUMERIC as `BigDecimal.toString`, bytes as padded standard base64).

use std::sync::Arc;

use base64::Engine;
use num_bigint::BigInt;

use super::config::{converter_config_def, grouped, kind, parse};
use super::json_tree::{self, Json};
use super::{Converter, HeaderConverter};
use crate::config_def::{ConfigDef, ConfigKey, ConfigType, ConfigValue, Default, Importance};
use crate::connector::Config;
use crate::data::{
    ConnectError, Schema, SchemaAndValue, SchemaType, Struct, Value, DATE, DECIMAL, TIME,
};
use crate::render::{java_double_to_string, java_float_to_string, MS_PER_DAY};

/// Kafka's class name.
pub const CLASS: &str = "org.apache.kafka.connect.json.JsonConverter";
/// `schemas.enable` (BOOLEAN, default true).
pub const SCHEMAS_ENABLE_CONFIG: &str = "schemas.enable";
/// `schemas.cache.size` (INT, default 1000).
pub const SCHEMAS_CACHE_SIZE_CONFIG: &str = "schemas.cache.size";
/// `decimal.format` (`BASE64` or `NUMERIC`, case-insensitive, default BASE64).
pub const DECIMAL_FORMAT_CONFIG: &str = "decimal.format";
/// `replace.null.with.default` (BOOLEAN, default true).
pub const REPLACE_NULL_WITH_DEFAULT_CONFIG: &str = "replace.null.with.default";

const ENVELOPE_ERROR: &str = "JsonConverter with schemas.enable requires \"schema\" and \"payload\" fields and may not contain additional fields. If you are trying to deserialize plain JSON data, set schemas.enable=false in your converter configuration.";

/// Kafka's `JsonConverterConfig`: `converter.type`, then group `Schemas`
/// (`schemas.enable`, `schemas.cache.size`) and group `Serialization` (`decimal.format`,
/// `replace.null.with.default`), with Kafka's documentation texts.
pub fn config_def() -> ConfigDef {
    converter_config_def()
        .define(grouped(
            ConfigKey::new(
                SCHEMAS_ENABLE_CONFIG,
                ConfigType::Boolean,
                Default::Value("true".to_string()),
                Importance::High,
                "Include schemas within each of the serialized values and keys.",
            ),
            Some("Schemas"),
            0,
            "Enable Schemas",
        ))
        .define(grouped(
            ConfigKey::new(
                SCHEMAS_CACHE_SIZE_CONFIG,
                ConfigType::Int,
                Default::Value("1000".to_string()),
                Importance::High,
                "The maximum number of schemas that can be cached in this converter instance.",
            ),
            Some("Schemas"),
            1,
            "Schema Cache Size",
        ))
        .define(grouped(
            ConfigKey::new(
                DECIMAL_FORMAT_CONFIG,
                ConfigType::String,
                Default::Value("BASE64".to_string()),
                Importance::Low,
                "Controls which format this converter will serialize decimals in. This value is case insensitive and can be either 'BASE64' (default) or 'NUMERIC'",
            )
            .validate_with(|value| match value {
                ConfigValue::String(text)
                    if text.eq_ignore_ascii_case("BASE64") || text.eq_ignore_ascii_case("NUMERIC") =>
                {
                    Ok(())
                }
                _ => Err("String must be one of (case insensitive): BASE64, NUMERIC".to_string()),
            }),
            Some("Serialization"),
            0,
            "Decimal Format",
        ))
        .define(grouped(
            ConfigKey::new(
                REPLACE_NULL_WITH_DEFAULT_CONFIG,
                ConfigType::Boolean,
                Default::Value("true".to_string()),
                Importance::Low,
                "Whether to replace fields that have a default value and that are null to the default value. When set to true, the default value is used, otherwise null is used.",
            ),
            Some("Serialization"),
            1,
            "Replace null with default",
        ))
}

/// How Decimal payloads are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DecimalFormat {
    /// Base64 of the unscaled value's two's-complement big-endian bytes.
    #[default]
    Base64,
    /// A JSON number (`BigDecimal.toString`).
    Numeric,
}

/// JsonConverter's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonConverterConfig {
    /// `schemas.enable`.
    pub schemas_enable: bool,
    /// `schemas.cache.size`: how many parsed schemas (by their JSON) are kept; 0 keeps none.
    pub schemas_cache_size: i32,
    /// `decimal.format`.
    pub decimal_format: DecimalFormat,
    /// `replace.null.with.default`.
    pub replace_null_with_default: bool,
}

impl std::default::Default for JsonConverterConfig {
    fn default() -> Self {
        JsonConverterConfig {
            schemas_enable: true,
            schemas_cache_size: 1000,
            decimal_format: DecimalFormat::Base64,
            replace_null_with_default: true,
        }
    }
}

/// Connect data as JSON (CONNECT.md c.1).
#[derive(Debug, Default)]
pub struct JsonConverter {
    config: JsonConverterConfig,
    /// Parsed envelope schemas by their JSON, oldest first out (Kafka's `toConnectSchemaCache`):
    /// records of one topic repeat one schema, and a cached one is shared, not rebuilt.
    schema_cache: std::sync::Mutex<SchemaCache>,
}

#[derive(Debug, Default)]
struct SchemaCache {
    schemas: std::collections::HashMap<Json, Arc<Schema>>,
    order: std::collections::VecDeque<Json>,
}

impl JsonConverter {
    /// A converter with `config` (what `configure` would set).
    pub fn with_config(config: JsonConverterConfig) -> JsonConverter {
        JsonConverter {
            config,
            schema_cache: std::sync::Mutex::default(),
        }
    }

    /// The schema `json` describes, from the cache when seen before.
    fn cached_schema(&self, json: Json) -> Result<Arc<Schema>, ConnectError> {
        let capacity = usize::try_from(self.config.schemas_cache_size).unwrap_or(0);
        if capacity > 0 {
            let cache = self.schema_cache.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(schema) = cache.schemas.get(&json) {
                return Ok(schema.clone());
            }
        }
        let schema = Arc::new(self.schema_from_json(&json)?);
        if capacity > 0 {
            let mut cache = self.schema_cache.lock().unwrap_or_else(|e| e.into_inner());
            if !cache.schemas.contains_key(&json) {
                while cache.order.len() >= capacity {
                    match cache.order.pop_front() {
                        Some(oldest) => {
                            cache.schemas.remove(&oldest);
                        }
                        None => break,
                    }
                }
                cache.order.push_back(json.clone());
                cache.schemas.insert(json, schema.clone());
            }
        }
        Ok(schema)
    }

    fn configure_as(&mut self, config: &Config, kind: &str) -> Result<(), ConnectError> {
        let parsed = parse(&config_def(), config, kind)?;
        self.config = JsonConverterConfig {
            schemas_enable: parsed.boolean(SCHEMAS_ENABLE_CONFIG),
            schemas_cache_size: parsed.int(SCHEMAS_CACHE_SIZE_CONFIG).unwrap_or(1000),
            decimal_format: if parsed
                .string(DECIMAL_FORMAT_CONFIG)
                .is_some_and(|f| f.eq_ignore_ascii_case("NUMERIC"))
            {
                DecimalFormat::Numeric
            } else {
                DecimalFormat::Base64
            },
            replace_null_with_default: parsed.boolean(REPLACE_NULL_WITH_DEFAULT_CONFIG),
        };
        self.schema_cache = std::sync::Mutex::default();
        Ok(())
    }

    /// Connect data to JSON bytes: `None` (a Kafka null) when schema and value are both
    /// absent; otherwise the envelope or the bare payload. Errors are `DataException`s
    /// with Kafka's texts.
    pub fn serialize(
        &self,
        schema: Option<&Schema>,
        value: &Value,
    ) -> Result<Option<Vec<u8>>, ConnectError> {
        if schema.is_none() && value.is_null() {
            return Ok(None);
        }
        let json = if self.config.schemas_enable {
            let schema_json = match schema {
                Some(schema) => self.schema_to_json(schema)?,
                None => Json::Null,
            };
            let payload = self.to_json(schema, value)?;
            Json::Object(vec![
                ("schema".to_string(), schema_json),
                ("payload".to_string(), payload),
            ])
        } else {
            self.to_json(schema, value)?
        };
        Ok(Some(json_tree::write(&json).into_bytes()))
    }

    /// JSON bytes to Connect data: a Kafka null is (no schema, null). Errors are
    /// `DataException`s with Kafka's texts.
    pub fn deserialize(&self, bytes: Option<&[u8]>) -> Result<SchemaAndValue, ConnectError> {
        let Some(bytes) = bytes else {
            return Ok(SchemaAndValue::default());
        };
        let json = json_tree::parse(bytes).map_err(|reason| {
            ConnectError::data(
                "Converting byte[] to Kafka Connect data failed due to serialization error: ",
            )
            .with_cause(ConnectError::data(reason))
        })?;
        let (schema_json, payload) = if self.config.schemas_enable {
            match &json {
                Json::Object(members)
                    if members.len() == 2
                        && json.get("schema").is_some()
                        && json.get("payload").is_some() =>
                {
                    (
                        json.get("schema").cloned().unwrap_or(Json::Null),
                        json.get("payload").cloned().unwrap_or(Json::Null),
                    )
                }
                _ => return Err(ConnectError::data(ENVELOPE_ERROR)),
            }
        } else {
            (Json::Null, json)
        };
        let schema = match schema_json {
            Json::Null => None,
            schema_json => Some(self.cached_schema(schema_json)?),
        };
        let value = self.to_connect(schema.as_ref(), &payload)?;
        Ok(SchemaAndValue { schema, value })
    }

    /// The schema's JSON (Kafka's `asJsonSchema`): `type`, type-specific members,
    /// `optional`, then `name`, `version`, `doc`, `parameters`, `default` when set.
    fn schema_to_json(&self, schema: &Schema) -> Result<Json, ConnectError> {
        let mut members = vec![(
            "type".to_string(),
            Json::String(type_name(schema.schema_type).to_string()),
        )];
        match schema.schema_type {
            SchemaType::Array => {
                members.push((
                    "items".to_string(),
                    self.optional_schema_json(schema.value_schema.as_deref())?,
                ));
            }
            SchemaType::Map => {
                members.push((
                    "keys".to_string(),
                    self.optional_schema_json(schema.key_schema.as_deref())?,
                ));
                members.push((
                    "values".to_string(),
                    self.optional_schema_json(schema.value_schema.as_deref())?,
                ));
            }
            SchemaType::Struct => {
                let mut fields = Vec::with_capacity(schema.fields.len());
                for field in &schema.fields {
                    let mut field_json = self.schema_to_json(&field.schema)?;
                    if let Json::Object(members) = &mut field_json {
                        members.push(("field".to_string(), Json::String(field.name.clone())));
                    }
                    fields.push(field_json);
                }
                members.push(("fields".to_string(), Json::Array(fields)));
            }
            _ => {}
        }
        members.push(("optional".to_string(), Json::Bool(schema.optional)));
        if let Some(name) = &schema.name {
            members.push(("name".to_string(), Json::String(name.clone())));
        }
        if let Some(version) = schema.version {
            members.push(("version".to_string(), Json::Number(version.to_string())));
        }
        if let Some(doc) = &schema.doc {
            members.push(("doc".to_string(), Json::String(doc.clone())));
        }
        if let Some(parameters) = &schema.parameters {
            let mut params: Vec<(String, Json)> = Vec::new();
            for (k, v) in parameters {
                match params.iter_mut().find(|(name, _)| name == k) {
                    Some(slot) => slot.1 = Json::String(v.clone()),
                    None => params.push((k.clone(), Json::String(v.clone()))),
                }
            }
            members.push(("parameters".to_string(), Json::Object(params)));
        }
        if let Some(default) = &schema.default {
            if !default.is_null() {
                members.push(("default".to_string(), self.to_json(Some(schema), default)?));
            }
        }
        Ok(Json::Object(members))
    }

    fn optional_schema_json(&self, schema: Option<&Schema>) -> Result<Json, ConnectError> {
        match schema {
            Some(schema) => self.schema_to_json(schema),
            None => Ok(Json::Null),
        }
    }

    /// A schema from its JSON (Kafka's `asConnectSchema`).
    fn schema_from_json(&self, json: &Json) -> Result<Schema, ConnectError> {
        let Some(Json::String(type_text)) = json.get("type") else {
            return Err(ConnectError::data("Schema must contain 'type' field"));
        };
        let mut schema = match type_text.as_str() {
            "boolean" => Schema::new(SchemaType::Boolean),
            "int8" => Schema::new(SchemaType::Int8),
            "int16" => Schema::new(SchemaType::Int16),
            "int32" => Schema::new(SchemaType::Int32),
            "int64" => Schema::new(SchemaType::Int64),
            "float" => Schema::new(SchemaType::Float32),
            "double" => Schema::new(SchemaType::Float64),
            "bytes" => Schema::new(SchemaType::Bytes),
            "string" => Schema::new(SchemaType::String),
            "array" => match json.get("items") {
                None | Some(Json::Null) => {
                    return Err(ConnectError::data(
                        "Array schema did not specify the element type",
                    ))
                }
                Some(items) => Schema::array(Arc::new(self.schema_from_json_or_null(items)?)),
            },
            "map" => {
                let keys = json
                    .get("keys")
                    .ok_or_else(|| ConnectError::data("Map schema did not specify the key type"))?;
                let values = json.get("values").ok_or_else(|| {
                    ConnectError::data("Map schema did not specify the value type")
                })?;
                Schema::map(
                    Arc::new(self.schema_from_json_or_null(keys)?),
                    Arc::new(self.schema_from_json_or_null(values)?),
                )
            }
            "struct" => {
                let Some(Json::Array(fields)) = json.get("fields") else {
                    return Err(ConnectError::data(
                        "Struct schema's \"fields\" argument is not an array.",
                    ));
                };
                let mut named = Vec::with_capacity(fields.len());
                for field in fields {
                    let Some(Json::String(name)) = field.get("field") else {
                        return Err(ConnectError::data(
                            "Struct schema's field name not specified properly",
                        ));
                    };
                    if named
                        .iter()
                        .any(|(existing, _): &(String, Arc<Schema>)| existing == name)
                    {
                        return Err(ConnectError::new(
                            crate::data::ErrorKind::Data,
                            format!("Cannot create field because of field name duplication {name}"),
                        ));
                    }
                    named.push((name.clone(), Arc::new(self.schema_from_json(field)?)));
                }
                Schema::structure(named)
            }
            other => return Err(ConnectError::data(format!("Unknown schema type: {other}"))),
        };
        schema.optional = matches!(json.get("optional"), Some(Json::Bool(true)));
        if let Some(Json::String(name)) = json.get("name") {
            schema.name = Some(name.clone());
        }
        if let Some(version) = json.get("version") {
            if version.is_integral() {
                schema.version = Some(version.int_value());
            }
        }
        if let Some(Json::String(doc)) = json.get("doc") {
            schema.doc = Some(doc.clone());
        }
        if let Some(Json::Object(params)) = json.get("parameters") {
            let mut parameters = Vec::with_capacity(params.len());
            for (key, value) in params {
                let Json::String(value) = value else {
                    return Err(ConnectError::data(
                        "Schema parameters must have string values.",
                    ));
                };
                parameters.push((key.clone(), value.clone()));
            }
            schema.parameters = Some(parameters);
        }
        if let Some(default) = json.get("default") {
            let building = Arc::new(schema.clone());
            let value = self.to_connect(Some(&building), default)?;
            if !value.is_null() {
                schema.default = Some(value);
            }
        }
        Ok(schema)
    }

    /// Kafka passes a JSON `null` sub-schema through `asConnectSchema`, which returns null
    /// and then fails building the parent; we report the parent's missing type.
    fn schema_from_json_or_null(&self, json: &Json) -> Result<Schema, ConnectError> {
        match json {
            Json::Null => Err(ConnectError::data("Schema must contain 'type' field")),
            json => self.schema_from_json(json),
        }
    }

    /// A Connect value as JSON (Kafka's `convertToJson`).
    fn to_json(&self, schema: Option<&Schema>, value: &Value) -> Result<Json, ConnectError> {
        if value.is_null() {
            let Some(schema) = schema else {
                return Ok(Json::Null);
            };
            if let Some(default) = schema.default.as_ref().filter(|d| !d.is_null()) {
                if self.config.replace_null_with_default {
                    return self.to_json(Some(schema), default);
                }
            }
            if schema.optional {
                return Ok(Json::Null);
            }
            return Err(ConnectError::data(
                "Conversion error: null value for field that is required and has no default value",
            ));
        }
        if let Some(schema) = schema {
            if let Some(logical) = schema.logical_name() {
                return self.logical_to_json(schema, logical, value);
            }
        }
        let schema_type = match schema {
            Some(schema) => schema.schema_type,
            None => inferred_type(value)?,
        };
        let invalid = || {
            ConnectError::data(format!(
                "Invalid type for {}: class {}",
                schema.map_or("unknown schema", |s| s.schema_type.name()),
                value.java_class()
            ))
        };
        Ok(match (schema_type, value) {
            (SchemaType::Int8, Value::Int8(v)) => Json::Number(v.to_string()),
            (SchemaType::Int16, Value::Int16(v)) => Json::Number(v.to_string()),
            (SchemaType::Int32, Value::Int32(v)) => Json::Number(v.to_string()),
            (SchemaType::Int64, Value::Int64(v)) => Json::Number(v.to_string()),
            (SchemaType::Float32, Value::Float32(v)) => {
                float_json(java_float_to_string(*v), v.is_finite())
            }
            (SchemaType::Float64, Value::Float64(v)) => {
                float_json(java_double_to_string(*v), v.is_finite())
            }
            (SchemaType::Boolean, Value::Boolean(v)) => Json::Bool(*v),
            (SchemaType::String, Value::String(v)) => Json::String(v.clone()),
            (SchemaType::Bytes, Value::Bytes(v)) => {
                Json::String(base64::engine::general_purpose::STANDARD.encode(v))
            }
            (SchemaType::Bytes, other) => {
                return Err(ConnectError::data(format!(
                    "Invalid type for bytes type: class {}",
                    other.java_class()
                )))
            }
            (SchemaType::Array, Value::Array(items)) => {
                let item_schema = schema.and_then(|s| s.value_schema.as_deref());
                Json::Array(
                    items
                        .iter()
                        .map(|item| self.to_json(item_schema, item))
                        .collect::<Result<_, _>>()?,
                )
            }
            (SchemaType::Map, Value::Map(pairs)) => {
                let key_schema = schema.and_then(|s| s.key_schema.as_deref());
                let value_schema = schema.and_then(|s| s.value_schema.as_deref());
                let object_mode = match key_schema {
                    Some(key_schema) => key_schema.schema_type == SchemaType::String,
                    None if schema.is_some() => false,
                    None => pairs.iter().all(|(k, _)| matches!(k, Value::String(_))),
                };
                if object_mode {
                    let mut members: Vec<(String, Json)> = Vec::with_capacity(pairs.len());
                    for (k, v) in pairs {
                        let name = match self.to_json(key_schema, k)? {
                            Json::String(text) | Json::Number(text) => text,
                            Json::Bool(b) => b.to_string(),
                            _ => String::new(),
                        };
                        let v = self.to_json(value_schema, v)?;
                        match members.iter_mut().find(|(existing, _)| *existing == name) {
                            Some(slot) => slot.1 = v,
                            None => members.push((name, v)),
                        }
                    }
                    Json::Object(members)
                } else {
                    let mut entries = Vec::with_capacity(pairs.len());
                    for (k, v) in pairs {
                        entries.push(Json::Array(vec![
                            self.to_json(key_schema, k)?,
                            self.to_json(value_schema, v)?,
                        ]));
                    }
                    Json::Array(entries)
                }
            }
            (SchemaType::Struct, Value::Struct(s)) => {
                let Some(schema) = schema.filter(|schema| *s.schema == **schema) else {
                    return Err(ConnectError::data("Mismatching schema."));
                };
                let mut members = Vec::with_capacity(schema.fields.len());
                for (field, v) in schema.fields.iter().zip(&s.values) {
                    members.push((field.name.clone(), self.to_json(Some(&field.schema), v)?));
                }
                Json::Object(members)
            }
            _ => return Err(invalid()),
        })
    }

    fn logical_to_json(
        &self,
        schema: &Schema,
        logical: &str,
        value: &Value,
    ) -> Result<Json, ConnectError> {
        let wrong = |name: &str, expected: &str| {
            ConnectError::data(format!(
                "Invalid type for {name}, expected {expected} but was class {}",
                value.java_class()
            ))
        };
        match logical {
            DECIMAL => {
                let Value::Decimal { unscaled, scale } = value else {
                    return Err(wrong("Decimal", "BigDecimal"));
                };
                match self.config.decimal_format {
                    DecimalFormat::Numeric => {
                        Ok(Json::Number(big_decimal_to_string(unscaled, *scale)))
                    }
                    DecimalFormat::Base64 => {
                        let schema_scale = decimal_scale(schema)?;
                        if *scale != schema_scale {
                            return Err(ConnectError::data(format!(
                                "Decimal value has mismatching scale for given Decimal schema. Schema has scale {schema_scale}, value has scale {scale}."
                            )));
                        }
                        Ok(Json::String(
                            base64::engine::general_purpose::STANDARD
                                .encode(unscaled.to_signed_bytes_be()),
                        ))
                    }
                }
            }
            DATE => {
                let Value::Timestamp(ms) = value else {
                    return Err(wrong("Date", "Date"));
                };
                if ms.rem_euclid(MS_PER_DAY) != 0 {
                    return Err(ConnectError::data(
                        "Kafka Connect Date type should not have any time fields set to non-zero values.",
                    ));
                }
                Ok(Json::Number((ms.div_euclid(MS_PER_DAY) as i32).to_string()))
            }
            TIME => {
                let Value::Timestamp(ms) = value else {
                    return Err(wrong("Time", "Date"));
                };
                if !(0..MS_PER_DAY).contains(ms) {
                    return Err(ConnectError::data(
                        "Kafka Connect Time type should not have any date fields set to non-zero values.",
                    ));
                }
                Ok(Json::Number(ms.to_string()))
            }
            _ => {
                let Value::Timestamp(ms) = value else {
                    return Err(wrong("Timestamp", "Date"));
                };
                Ok(Json::Number(ms.to_string()))
            }
        }
    }

    /// JSON to a Connect value (Kafka's `convertToConnect`).
    fn to_connect(&self, schema: Option<&Arc<Schema>>, json: &Json) -> Result<Value, ConnectError> {
        let schema_type = match schema {
            Some(schema) => {
                if matches!(json, Json::Null | Json::Missing) {
                    if let Some(default) = schema.default.as_ref().filter(|d| !d.is_null()) {
                        if self.config.replace_null_with_default {
                            return Ok(default.clone());
                        }
                    }
                    if schema.optional {
                        return Ok(Value::Null);
                    }
                    return Err(ConnectError::data(format!(
                        "Invalid null value for required {} field",
                        schema.schema_type.name()
                    )));
                }
                if let Some(logical) = schema.logical_name() {
                    return logical_to_connect(schema, logical, json);
                }
                schema.schema_type
            }
            None => match json {
                Json::Null | Json::Missing => return Ok(Value::Null),
                Json::Bool(_) => SchemaType::Boolean,
                Json::Number(_) if json.is_integral() => SchemaType::Int64,
                Json::Number(_) => SchemaType::Float64,
                Json::Array(_) => SchemaType::Array,
                Json::Object(_) => SchemaType::Map,
                Json::String(_) => SchemaType::String,
            },
        };
        Ok(match schema_type {
            SchemaType::Boolean => Value::Boolean(matches!(json, Json::Bool(true))),
            SchemaType::Int8 => Value::Int8(json.int_value() as i8),
            SchemaType::Int16 => Value::Int16(json.int_value() as i16),
            SchemaType::Int32 => Value::Int32(json.int_value()),
            SchemaType::Int64 => Value::Int64(json.long_value()),
            SchemaType::Float32 => Value::Float32(json.float_value()),
            SchemaType::Float64 => Value::Float64(json.double_value()),
            SchemaType::Bytes => match json {
                Json::String(text) => Value::Bytes(
                    base64::engine::general_purpose::STANDARD
                        .decode(text)
                        .map_err(|_| ConnectError::data("Invalid bytes field"))?,
                ),
                _ => Value::Null,
            },
            SchemaType::String => match json {
                Json::String(text) => Value::String(text.clone()),
                _ => Value::Null,
            },
            SchemaType::Array => {
                let item_schema = schema.and_then(|s| s.value_schema.as_ref());
                let items: Vec<&Json> = match json {
                    Json::Array(items) => items.iter().collect(),
                    Json::Object(members) => members.iter().map(|(_, v)| v).collect(),
                    _ => Vec::new(),
                };
                Value::Array(
                    items
                        .into_iter()
                        .map(|item| self.to_connect(item_schema, item))
                        .collect::<Result<_, _>>()?,
                )
            }
            SchemaType::Map => {
                let key_schema = schema.and_then(|s| s.key_schema.as_ref());
                let value_schema = schema.and_then(|s| s.value_schema.as_ref());
                let mut pairs = Vec::new();
                if schema.is_none()
                    || key_schema.is_some_and(|k| k.schema_type == SchemaType::String)
                {
                    let Json::Object(members) = json else {
                        return Err(ConnectError::data(format!(
                            "Maps with string fields should be encoded as JSON objects, but found {}",
                            json.node_type()
                        )));
                    };
                    for (k, v) in members {
                        pairs.push((Value::String(k.clone()), self.to_connect(value_schema, v)?));
                    }
                } else {
                    let Json::Array(entries) = json else {
                        return Err(ConnectError::data(format!(
                            "Maps with non-string fields should be encoded as JSON array of tuples, but found {}",
                            json.node_type()
                        )));
                    };
                    for entry in entries {
                        let Json::Array(tuple) = entry else {
                            return Err(ConnectError::data(format!(
                                "Found invalid map entry instead of array tuple: {}",
                                entry.node_type()
                            )));
                        };
                        if tuple.len() != 2 {
                            return Err(ConnectError::data(format!(
                                "Found invalid map entry, expected length 2 but found :{}",
                                tuple.len()
                            )));
                        }
                        let key = self.to_connect(key_schema, &tuple[0])?;
                        let value = self.to_connect(value_schema, &tuple[1])?;
                        match pairs.iter_mut().find(|(existing, _)| *existing == key) {
                            Some(slot) => slot.1 = value,
                            None => pairs.push((key, value)),
                        }
                    }
                }
                Value::Map(pairs)
            }
            SchemaType::Struct => {
                let Json::Object(_) = json else {
                    return Err(ConnectError::data(format!(
                        "Structs should be encoded as JSON objects, but found {}",
                        json.node_type()
                    )));
                };
                let Some(schema) = schema else {
                    return Err(ConnectError::data("Unknown schema type: null"));
                };
                let mut result = Struct::new(schema.clone());
                for (field, slot) in schema.fields.iter().zip(result.values.iter_mut()) {
                    *slot = self.to_connect(
                        Some(&field.schema),
                        json.get(&field.name).unwrap_or(&Json::Missing),
                    )?;
                }
                Value::Struct(result)
            }
        })
    }
}

fn logical_to_connect(schema: &Schema, logical: &str, json: &Json) -> Result<Value, ConnectError> {
    match logical {
        DECIMAL => match json {
            Json::Number(_) => {
                let (unscaled, scale) = json
                    .decimal_value()
                    .ok_or_else(|| ConnectError::data("Invalid bytes for Decimal field"))?;
                Ok(Value::Decimal { unscaled, scale })
            }
            Json::String(text) => {
                let invalid = |cause: ConnectError| ConnectError::data("Invalid bytes for Decimal field").with_cause(cause);
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .map_err(|e| invalid(ConnectError::data(e.to_string())))?;
                if bytes.is_empty() {
                    return Err(invalid(ConnectError::data("Zero length BigInteger")));
                }
                let scale = decimal_scale(schema).map_err(invalid)?;
                Ok(Value::Decimal {
                    unscaled: BigInt::from_signed_bytes_be(&bytes),
                    scale,
                })
            }
            other => Err(ConnectError::data(format!(
                "Invalid type for Decimal, underlying representation should be numeric or bytes but was {}",
                other.node_type()
            ))),
        },
        DATE => {
            if !json.is_int() {
                return Err(ConnectError::data(format!(
                    "Invalid type for Date, underlying representation should be integer but was {}",
                    json.node_type()
                )));
            }
            Ok(Value::Timestamp(i64::from(json.int_value()) * MS_PER_DAY))
        }
        TIME => {
            if !json.is_int() {
                return Err(ConnectError::data(format!(
                    "Invalid type for Time, underlying representation should be integer but was {}",
                    json.node_type()
                )));
            }
            let ms = i64::from(json.int_value());
            if !(0..=MS_PER_DAY).contains(&ms) {
                return Err(ConnectError::data(
                    "Time values must use number of milliseconds greater than 0 and less than 86400000",
                ));
            }
            Ok(Value::Timestamp(ms))
        }
        _ => {
            if !json.is_integral() {
                return Err(ConnectError::data(format!(
                    "Invalid type for Timestamp, underlying representation should be integral but was {}",
                    json.node_type()
                )));
            }
            Ok(Value::Timestamp(json.long_value()))
        }
    }
}

/// The `scale` parameter of a Decimal schema, with Kafka's errors.
fn decimal_scale(schema: &Schema) -> Result<i32, ConnectError> {
    let text = schema
        .parameter(crate::data::DECIMAL_SCALE)
        .ok_or_else(|| ConnectError::data("Invalid Decimal schema: scale parameter not found."))?;
    text.parse().map_err(|_| {
        ConnectError::data("Invalid scale parameter found in Decimal schema: ")
            .with_cause(ConnectError::data(format!("For input string: \"{text}\"")))
    })
}

/// The schema type a schemaless value implies (Kafka's `ConnectSchema.schemaType(Class)`).
fn inferred_type(value: &Value) -> Result<SchemaType, ConnectError> {
    Ok(match value {
        Value::Int8(_) => SchemaType::Int8,
        Value::Int16(_) => SchemaType::Int16,
        Value::Int32(_) => SchemaType::Int32,
        Value::Int64(_) => SchemaType::Int64,
        Value::Float32(_) => SchemaType::Float32,
        Value::Float64(_) => SchemaType::Float64,
        Value::Boolean(_) => SchemaType::Boolean,
        Value::String(_) => SchemaType::String,
        Value::Bytes(_) => SchemaType::Bytes,
        Value::Array(_) => SchemaType::Array,
        Value::Map(_) => SchemaType::Map,
        Value::Struct(_) => SchemaType::Struct,
        other => {
            return Err(ConnectError::data(format!(
                "Java class class {} does not have corresponding schema type.",
                other.java_class()
            )))
        }
    })
}

/// The `type` text of a schema type.
fn type_name(schema_type: SchemaType) -> &'static str {
    match schema_type {
        SchemaType::Int8 => "int8",
        SchemaType::Int16 => "int16",
        SchemaType::Int32 => "int32",
        SchemaType::Int64 => "int64",
        SchemaType::Float32 => "float",
        SchemaType::Float64 => "double",
        SchemaType::Boolean => "boolean",
        SchemaType::String => "string",
        SchemaType::Bytes => "bytes",
        SchemaType::Array => "array",
        SchemaType::Map => "map",
        SchemaType::Struct => "struct",
    }
}

/// A float's JSON: the Java text as a number, or (NaN, ±Infinity) a string, as Jackson's
/// default `QUOTE_NON_NUMERIC_NUMBERS` writes it.
fn float_json(text: String, finite: bool) -> Json {
    if finite {
        Json::Number(text)
    } else {
        Json::String(text)
    }
}

/// Java's `BigDecimal.toString`: plain when the scale is ≥ 0 and the adjusted exponent
/// ≥ -6 (`10.2345`, `0.000001`), otherwise scientific (`1E+3`, `1.5E-7`).
pub fn big_decimal_to_string(unscaled: &BigInt, scale: i32) -> String {
    let digits = unscaled.magnitude().to_string();
    let adjusted = -i64::from(scale) + (digits.len() as i64 - 1);
    if scale >= 0 && adjusted >= -6 {
        return crate::render::decimal_text(unscaled, scale);
    }
    let sign = if unscaled.sign() == num_bigint::Sign::Minus {
        "-"
    } else {
        ""
    };
    let (first, rest) = digits.split_at(1);
    let mut text = format!("{sign}{first}");
    if !rest.is_empty() {
        text.push('.');
        text.push_str(rest);
    }
    text.push('E');
    if adjusted > 0 {
        text.push('+');
    }
    text.push_str(&adjusted.to_string());
    text
}

impl Converter for JsonConverter {
    fn configure(&mut self, config: &Config, is_key: bool) -> Result<(), ConnectError> {
        self.configure_as(config, kind(is_key))
    }

    fn from_connect_data(
        &self,
        _topic: &str,
        schema: Option<&Schema>,
        value: &Value,
    ) -> Result<Option<Vec<u8>>, ConnectError> {
        self.serialize(schema, value)
    }

    fn to_connect_data(
        &self,
        _topic: &str,
        bytes: Option<&[u8]>,
    ) -> Result<SchemaAndValue, ConnectError> {
        self.deserialize(bytes)
    }
}

impl HeaderConverter for JsonConverter {
    fn configure(&mut self, config: &Config) -> Result<(), ConnectError> {
        self.configure_as(config, "header")
    }

    fn from_connect_header(
        &self,
        _topic: &str,
        _key: &str,
        schema: Option<&Schema>,
        value: &Value,
    ) -> Result<Option<Vec<u8>>, ConnectError> {
        self.serialize(schema, value)
    }

    fn to_connect_header(
        &self,
        _topic: &str,
        _key: &str,
        bytes: Option<&[u8]>,
    ) -> Result<SchemaAndValue, ConnectError> {
        self.deserialize(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn converter(props: &[(&str, &str)]) -> JsonConverter {
        let mut converter = JsonConverter::default();
        let config: Config = props
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Converter::configure(&mut converter, &config, false).unwrap();
        converter
    }

    fn to_text(converter: &JsonConverter, schema: Option<&Schema>, value: &Value) -> String {
        String::from_utf8(converter.serialize(schema, value).unwrap().unwrap()).unwrap()
    }

    fn read(converter: &JsonConverter, text: &str) -> SchemaAndValue {
        converter.deserialize(Some(text.as_bytes())).unwrap()
    }

    fn read_err(converter: &JsonConverter, text: &str) -> String {
        converter
            .deserialize(Some(text.as_bytes()))
            .unwrap_err()
            .message
    }

    fn json(text: &str) -> serde_json::Value {
        serde_json::from_str(text).unwrap()
    }

    fn arc(schema: Schema) -> Arc<Schema> {
        Arc::new(schema)
    }

    #[test]
    fn quick_start_vector_is_byte_exact() {
        let c = converter(&[]);
        assert_eq!(
            to_text(
                &c,
                Some(&Schema::new(SchemaType::String)),
                &Value::String("foo".into())
            ),
            r#"{"schema":{"type":"string","optional":false},"payload":"foo"}"#
        );
        let back = read(
            &c,
            r#"{"schema":{"type":"string","optional":false},"payload":"foo"}"#,
        );
        assert_eq!(
            back.schema.as_deref(),
            Some(&Schema::new(SchemaType::String))
        );
        assert_eq!(back.value, Value::String("foo".into()));
    }

    #[test]
    fn primitives_to_json() {
        let c = converter(&[]);
        let cases: Vec<(Schema, Value, &str, &str)> = vec![
            (
                Schema::new(SchemaType::Boolean),
                Value::Boolean(true),
                "boolean",
                "true",
            ),
            (Schema::new(SchemaType::Int8), Value::Int8(12), "int8", "12"),
            (
                Schema::new(SchemaType::Int16),
                Value::Int16(12),
                "int16",
                "12",
            ),
            (
                Schema::new(SchemaType::Int32),
                Value::Int32(12),
                "int32",
                "12",
            ),
            (
                Schema::new(SchemaType::Int64),
                Value::Int64(4398046511104),
                "int64",
                "4398046511104",
            ),
            (
                Schema::new(SchemaType::Float32),
                Value::Float32(12.34),
                "float",
                "12.34",
            ),
            (
                Schema::new(SchemaType::Float64),
                Value::Float64(12.34),
                "double",
                "12.34",
            ),
            (
                Schema::new(SchemaType::Float64),
                Value::Float64(1.0e10),
                "double",
                "1.0E10",
            ),
            (
                Schema::new(SchemaType::Float64),
                Value::Float64(1.0),
                "double",
                "1.0",
            ),
            (
                Schema::new(SchemaType::Float32),
                Value::Float32(0.1),
                "float",
                "0.1",
            ),
            (
                Schema::new(SchemaType::Bytes),
                Value::Bytes(b"test-string".to_vec()),
                "bytes",
                "\"dGVzdC1zdHJpbmc=\"",
            ),
            (
                Schema::new(SchemaType::String),
                Value::String("test-string".into()),
                "string",
                "\"test-string\"",
            ),
        ];
        for (schema, value, type_text, payload) in cases {
            assert_eq!(
                to_text(&c, Some(&schema), &value),
                format!(
                    r#"{{"schema":{{"type":"{type_text}","optional":false}},"payload":{payload}}}"#
                )
            );
        }
    }

    #[test]
    fn primitives_from_json() {
        let c = converter(&[]);
        let cases: Vec<(&str, SchemaType, Value)> = vec![
            (
                r#"{ "schema": { "type": "boolean" }, "payload": true }"#,
                SchemaType::Boolean,
                Value::Boolean(true),
            ),
            (
                r#"{ "schema": { "type": "boolean" }, "payload": false }"#,
                SchemaType::Boolean,
                Value::Boolean(false),
            ),
            (
                r#"{ "schema": { "type": "int8" }, "payload": 12 }"#,
                SchemaType::Int8,
                Value::Int8(12),
            ),
            (
                r#"{ "schema": { "type": "int16" }, "payload": 12 }"#,
                SchemaType::Int16,
                Value::Int16(12),
            ),
            (
                r#"{ "schema": { "type": "int32" }, "payload": 12 }"#,
                SchemaType::Int32,
                Value::Int32(12),
            ),
            (
                r#"{ "schema": { "type": "int64" }, "payload": 4398046511104 }"#,
                SchemaType::Int64,
                Value::Int64(4398046511104),
            ),
            (
                r#"{ "schema": { "type": "int8" }, "payload": 0012 }"#,
                SchemaType::Int8,
                Value::Int8(12),
            ),
            (
                r#"{ "schema": { "type": "int16" }, "payload": 000123 }"#,
                SchemaType::Int16,
                Value::Int16(123),
            ),
            (
                r#"{ "schema": { "type": "int32" }, "payload": 000012345 }"#,
                SchemaType::Int32,
                Value::Int32(12345),
            ),
            (
                r#"{ "schema": { "type": "int64" }, "payload": 00000123456789 }"#,
                SchemaType::Int64,
                Value::Int64(123456789),
            ),
            (
                r#"{ "schema": { "type": "float" }, "payload": 12.34 }"#,
                SchemaType::Float32,
                Value::Float32(12.34),
            ),
            (
                r#"{ "schema": { "type": "double" }, "payload": 12.34 }"#,
                SchemaType::Float64,
                Value::Float64(12.34),
            ),
            (
                r#"{ "schema": { "type": "bytes" }, "payload": "dGVzdC1zdHJpbmc=" }"#,
                SchemaType::Bytes,
                Value::Bytes(b"test-string".to_vec()),
            ),
            (
                r#"{ "schema": { "type": "string" }, "payload": "foo-bar-baz" }"#,
                SchemaType::String,
                Value::String("foo-bar-baz".into()),
            ),
        ];
        for (text, schema_type, value) in cases {
            let back = read(&c, text);
            assert_eq!(
                back.schema.as_deref(),
                Some(&Schema::new(schema_type)),
                "{text}"
            );
            assert_eq!(back.value, value, "{text}");
        }
    }

    #[test]
    fn schema_members_in_kafka_order() {
        let c = converter(&[]);
        let schema = Schema {
            version: Some(3),
            doc: Some("the documentation".into()),
            parameters: Some(vec![("foo".into(), "bar".into())]),
            ..Schema::new(SchemaType::Boolean)
                .with_name("bool")
                .with_default(Value::Boolean(true))
        };
        assert_eq!(
            to_text(&c, Some(&schema), &Value::Boolean(true)),
            r#"{"schema":{"type":"boolean","optional":false,"name":"bool","version":3,"doc":"the documentation","parameters":{"foo":"bar"},"default":true},"payload":true}"#
        );
        let back = read(&c, &to_text(&c, Some(&schema), &Value::Boolean(true)));
        assert_eq!(back.schema.as_deref(), Some(&schema));
        let user = Schema::structure([
            ("id".to_string(), arc(Schema::new(SchemaType::Int32))),
            (
                "name".to_string(),
                arc(Schema::new(SchemaType::String).optional()),
            ),
        ])
        .with_name("com.example.User");
        let user = arc(user);
        let mut value = Struct::new(user.clone());
        value.put("id", Value::Int32(7)).unwrap();
        assert_eq!(
            to_text(&c, Some(&user), &Value::Struct(value)),
            r#"{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"},{"type":"string","optional":true,"field":"name"}],"optional":false,"name":"com.example.User"},"payload":{"id":7,"name":null}}"#
        );
        let array = Schema::array(arc(Schema::new(SchemaType::Int32)));
        assert_eq!(
            to_text(
                &c,
                Some(&array),
                &Value::Array(vec![Value::Int32(1), Value::Int32(2), Value::Int32(3)])
            ),
            r#"{"schema":{"type":"array","items":{"type":"int32","optional":false},"optional":false},"payload":[1,2,3]}"#
        );
    }

    #[test]
    fn maps_with_string_and_other_keys() {
        let c = converter(&[]);
        let string_int = Schema::map(
            arc(Schema::new(SchemaType::String)),
            arc(Schema::new(SchemaType::Int32)),
        );
        let value = Value::Map(vec![
            (Value::String("key1".into()), Value::Int32(12)),
            (Value::String("key2".into()), Value::Int32(15)),
        ]);
        let text = to_text(&c, Some(&string_int), &value);
        assert_eq!(
            json(&text),
            json(
                r#"{"schema":{"type":"map","keys":{"type":"string","optional":false},"values":{"type":"int32","optional":false},"optional":false},"payload":{"key1":12,"key2":15}}"#
            )
        );
        assert_eq!(read(&c, &text).value, value);
        let int_int = Schema::map(
            arc(Schema::new(SchemaType::Int32)),
            arc(Schema::new(SchemaType::Int32)),
        );
        let value = Value::Map(vec![
            (Value::Int32(1), Value::Int32(12)),
            (Value::Int32(2), Value::Int32(15)),
        ]);
        let text = to_text(&c, Some(&int_int), &value);
        assert_eq!(json(&text)["payload"], json("[[1,12],[2,15]]"));
        assert_eq!(read(&c, &text).value, value);
        assert_eq!(
            read_err(&c, r#"{"schema":{"type":"map","keys":{"type":"int32"},"values":{"type":"int32"}},"payload":{"a":1}}"#),
            "Maps with non-string fields should be encoded as JSON array of tuples, but found OBJECT"
        );
        assert_eq!(
            read_err(
                &c,
                r#"{"schema":{"type":"map","keys":{"type":"string"},"values":{"type":"int32"}},"payload":[]}"#
            ),
            "Maps with string fields should be encoded as JSON objects, but found ARRAY"
        );
        assert_eq!(
            read_err(
                &c,
                r#"{"schema":{"type":"map","keys":{"type":"int32"},"values":{"type":"int32"}},"payload":[[1]]}"#
            ),
            "Found invalid map entry, expected length 2 but found :1"
        );
        // schemaless: object mode only when every key is a string
        let c = converter(&[(SCHEMAS_ENABLE_CONFIG, "false")]);
        let mixed = Value::Map(vec![
            (Value::String("a".into()), Value::Int64(1)),
            (Value::Int64(2), Value::Int64(3)),
        ]);
        assert_eq!(to_text(&c, None, &mixed), r#"[["a",1],[2,3]]"#);
        let strings = Value::Map(vec![(Value::String("a".into()), Value::Int64(1))]);
        assert_eq!(to_text(&c, None, &strings), r#"{"a":1}"#);
    }

    #[test]
    fn structs_both_ways() {
        let c = converter(&[]);
        let back = read(
            &c,
            r#"{ "schema": { "type": "struct", "fields": [{ "field": "field1", "type": "boolean" }, { "field": "field2", "type": "string" }] }, "payload": { "field1": true, "field2": "string" } }"#,
        );
        let Value::Struct(s) = &back.value else {
            panic!("not a struct")
        };
        assert_eq!(s.get("field1"), Some(&Value::Boolean(true)));
        assert_eq!(s.get("field2"), Some(&Value::String("string".into())));
        let back = read(
            &c,
            r#"{ "schema": { "type": "struct", "fields": [{ "field":"optional", "type": "string", "optional": true }, {  "field": "required", "type": "string" }] }, "payload": { "required": "required" } }"#,
        );
        let Value::Struct(s) = &back.value else {
            panic!("not a struct")
        };
        assert_eq!(s.get("optional"), Some(&Value::Null));
        assert_eq!(
            read_err(
                &c,
                r#"{ "schema": { "type": "struct", "fields": [{ "field": "f", "type": "string" }] }, "payload": {} }"#
            ),
            "Invalid null value for required STRING field"
        );
        // a struct value whose schema is not the declared one
        let declared = arc(Schema::structure([(
            "a".to_string(),
            arc(Schema::new(SchemaType::Int32)),
        )]));
        let other = arc(Schema::structure([(
            "b".to_string(),
            arc(Schema::new(SchemaType::Int32)),
        )]));
        let error = c
            .serialize(Some(&declared), &Value::Struct(Struct::new(other)))
            .unwrap_err();
        assert_eq!(error.message, "Mismatching schema.");
        let error = c
            .serialize(None, &Value::Struct(Struct::new(declared)))
            .unwrap_err();
        assert_eq!(error.message, "Mismatching schema.");
    }

    #[test]
    fn decimals_base64_and_numeric() {
        let base64 = converter(&[]);
        let numeric = converter(&[(DECIMAL_FORMAT_CONFIG, "numeric")]);
        let schema = Schema::decimal(2);
        let value = Value::Decimal {
            unscaled: BigInt::from(156),
            scale: 2,
        };
        let text = to_text(&base64, Some(&schema), &value);
        assert_eq!(
            text,
            r#"{"schema":{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2"}},"payload":"AJw="}"#
        );
        assert_eq!(read(&base64, &text).value, value);
        assert_eq!(
            to_text(&numeric, Some(&schema), &value)
                .rsplit_once("payload\":")
                .unwrap()
                .1,
            "1.56}"
        );
        let v4 = Value::Decimal {
            unscaled: BigInt::from(102345),
            scale: 4,
        };
        assert!(to_text(&base64, Some(&Schema::decimal(4)), &v4).ends_with(r#""payload":"AY/J"}"#));
        let minus_one = Value::Decimal {
            unscaled: BigInt::from(-1),
            scale: 0,
        };
        assert!(to_text(&base64, Some(&Schema::decimal(0)), &minus_one)
            .ends_with(r#""payload":"/w=="}"#));
        let v15600 = Value::Decimal {
            unscaled: BigInt::from(15600),
            scale: 4,
        };
        assert!(
            to_text(&numeric, Some(&Schema::decimal(4)), &v15600).ends_with(r#""payload":1.5600}"#)
        );
        // numeric payloads keep their own scale and full precision
        let back = read(
            &base64,
            r#"{ "schema": { "type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "version": 1, "parameters": { "scale": "17" } }, "payload": 1.23456789123456789 }"#,
        );
        assert_eq!(
            back.value,
            Value::Decimal {
                unscaled: "123456789123456789".parse().unwrap(),
                scale: 17
            }
        );
        let back = read(
            &base64,
            r#"{ "schema": { "type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "version": 1, "default": "AJw=", "parameters": { "scale": "2" } }, "payload": null }"#,
        );
        assert_eq!(back.value, value);
        assert_eq!(back.schema.unwrap().default, Some(value.clone()));
        let error = base64
            .serialize(Some(&Schema::decimal(3)), &value)
            .unwrap_err();
        assert_eq!(
            error.message,
            "Decimal value has mismatching scale for given Decimal schema. Schema has scale 3, value has scale 2."
        );
        assert_eq!(
            read_err(&base64, r#"{"schema":{"type":"bytes","name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2"}},"payload":true}"#),
            "Invalid type for Decimal, underlying representation should be numeric or bytes but was BOOLEAN"
        );
        assert_eq!(big_decimal_to_string(&BigInt::from(5), -2), "5E+2");
        assert_eq!(big_decimal_to_string(&BigInt::from(15), 8), "1.5E-7");
        assert_eq!(big_decimal_to_string(&BigInt::from(-1), 6), "-0.000001");
    }

    #[test]
    fn dates_times_timestamps() {
        let c = converter(&[]);
        let day_ms = 10000 * MS_PER_DAY;
        let text = to_text(&c, Some(&Schema::date()), &Value::Timestamp(day_ms));
        assert_eq!(
            text,
            r#"{"schema":{"type":"int32","optional":false,"name":"org.apache.kafka.connect.data.Date","version":1},"payload":10000}"#
        );
        assert_eq!(read(&c, &text).value, Value::Timestamp(day_ms));
        let text = to_text(&c, Some(&Schema::time()), &Value::Timestamp(14_400_000));
        assert!(text.ends_with(r#""payload":14400000}"#));
        assert_eq!(read(&c, &text).value, Value::Timestamp(14_400_000));
        let text = to_text(
            &c,
            Some(&Schema::timestamp()),
            &Value::Timestamp(4_000_000_000),
        );
        assert_eq!(
            text,
            r#"{"schema":{"type":"int64","optional":false,"name":"org.apache.kafka.connect.data.Timestamp","version":1},"payload":4000000000}"#
        );
        assert_eq!(read(&c, &text).value, Value::Timestamp(4_000_000_000));
        let back = read(
            &c,
            r#"{ "schema": { "type": "int32", "name": "org.apache.kafka.connect.data.Date", "version": 1, "default": 0 }, "payload": null }"#,
        );
        assert_eq!(back.value, Value::Timestamp(0));
        let back = read(
            &c,
            r#"{ "schema": { "type": "int64", "name": "org.apache.kafka.connect.data.Timestamp", "version": 1, "optional": true }, "payload": null }"#,
        );
        assert_eq!(back.value, Value::Null);
        assert_eq!(
            c.serialize(Some(&Schema::date()), &Value::Timestamp(5))
                .unwrap_err()
                .message,
            "Kafka Connect Date type should not have any time fields set to non-zero values."
        );
        assert_eq!(
            c.serialize(Some(&Schema::time()), &Value::Timestamp(day_ms))
                .unwrap_err()
                .message,
            "Kafka Connect Time type should not have any date fields set to non-zero values."
        );
        assert_eq!(
            c.serialize(Some(&Schema::timestamp()), &Value::Int64(1))
                .unwrap_err()
                .message,
            "Invalid type for Timestamp, expected Date but was class java.lang.Long"
        );
        assert_eq!(
            read_err(
                &c,
                r#"{"schema":{"type":"int32","name":"org.apache.kafka.connect.data.Date","version":1},"payload":"x"}"#
            ),
            "Invalid type for Date, underlying representation should be integer but was STRING"
        );
        assert_eq!(
            read_err(&c, r#"{"schema":{"type":"int64","name":"org.apache.kafka.connect.data.Timestamp","version":1},"payload":1.5}"#),
            "Invalid type for Timestamp, underlying representation should be integral but was NUMBER"
        );
    }

    #[test]
    fn nulls_defaults_and_tombstones() {
        let c = converter(&[]);
        assert_eq!(c.serialize(None, &Value::Null).unwrap(), None);
        assert_eq!(c.deserialize(None).unwrap(), SchemaAndValue::default());
        let optional = Schema::new(SchemaType::Boolean).optional();
        assert_eq!(
            to_text(&c, Some(&optional), &Value::Null),
            r#"{"schema":{"type":"boolean","optional":true},"payload":null}"#
        );
        let with_default = Schema::new(SchemaType::String)
            .optional()
            .with_default(Value::String("default".into()));
        assert_eq!(
            to_text(&c, Some(&with_default), &Value::Null),
            r#"{"schema":{"type":"string","optional":true,"default":"default"},"payload":"default"}"#
        );
        let keep_null = converter(&[(REPLACE_NULL_WITH_DEFAULT_CONFIG, "false")]);
        assert_eq!(
            to_text(&keep_null, Some(&with_default), &Value::Null),
            r#"{"schema":{"type":"string","optional":true,"default":"default"},"payload":null}"#
        );
        let stored =
            r#"{"schema":{"type":"string","optional":true,"default":"default"},"payload":null}"#;
        assert_eq!(read(&c, stored).value, Value::String("default".into()));
        assert_eq!(read(&keep_null, stored).value, Value::Null);
        let error = c
            .serialize(Some(&Schema::new(SchemaType::Int32)), &Value::Null)
            .unwrap_err();
        assert_eq!(
            error.message,
            "Conversion error: null value for field that is required and has no default value"
        );
        assert_eq!(
            read_err(&c, r#"{"schema":{"type":"int32"},"payload":null}"#),
            "Invalid null value for required INT32 field"
        );
        // a struct's null field takes the field default
        let schema = arc(Schema::structure([(
            "field1".to_string(),
            arc(Schema::new(SchemaType::String)
                .optional()
                .with_default(Value::String("default".into()))),
        )]));
        assert_eq!(
            json(&to_text(
                &c,
                Some(&schema),
                &Value::Struct(Struct::new(schema.clone()))
            )),
            json(
                r#"{"schema":{"type":"struct","fields":[{"field":"field1","type":"string","optional":true,"default":"default"}],"optional":false},"payload":{"field1":"default"}}"#
            )
        );
        // schemas.enable=false: a null with an optional schema is the text null
        let plain = converter(&[(SCHEMAS_ENABLE_CONFIG, "false")]);
        assert_eq!(to_text(&plain, Some(&optional), &Value::Null), "null");
    }

    #[test]
    fn envelope_required_when_schemas_enabled() {
        let c = converter(&[]);
        for text in [
            r#"{"a":1}"#,
            r#"{"schema":null}"#,
            r#"{"schema":null,"payload":1,"x":2}"#,
            "[1]",
            "1",
            "",
        ] {
            assert_eq!(read_err(&c, text), ENVELOPE_ERROR, "{text}");
        }
        assert!(read_err(&c, "{").starts_with(
            "Converting byte[] to Kafka Connect data failed due to serialization error: "
        ));
        let back = read(&c, r#"{ "schema": null, "payload": 12 }"#);
        assert_eq!(
            back,
            SchemaAndValue {
                schema: None,
                value: Value::Int64(12)
            }
        );
    }

    #[test]
    fn schemaless_inference() {
        let c = converter(&[(SCHEMAS_ENABLE_CONFIG, "false")]);
        assert_eq!(read(&c, "true").value, Value::Boolean(true));
        assert_eq!(read(&c, "12").value, Value::Int64(12));
        assert_eq!(read(&c, "12.24").value, Value::Float64(12.24));
        assert_eq!(
            read(&c, "\"a string\"").value,
            Value::String("a string".into())
        );
        assert_eq!(
            read(&c, r#"[1, "2", 3]"#).value,
            Value::Array(vec![
                Value::Int64(1),
                Value::String("2".into()),
                Value::Int64(3)
            ])
        );
        assert_eq!(
            read(&c, r#"{ "field1": 1, "field2": 2}"#).value,
            Value::Map(vec![
                (Value::String("field1".into()), Value::Int64(1)),
                (Value::String("field2".into()), Value::Int64(2))
            ])
        );
        assert_eq!(
            read(&c, r#"{ "a": "", "b": null}"#).value,
            Value::Map(vec![
                (Value::String("a".into()), Value::String(String::new())),
                (Value::String("b".into()), Value::Null)
            ])
        );
        assert_eq!(read(&c, "").value, Value::Null);
        assert!(read(&c, "null").schema.is_none());
        // schemaless values out
        assert_eq!(to_text(&c, None, &Value::Boolean(true)), "true");
        assert_eq!(
            to_text(
                &c,
                None,
                &Value::Array(vec![
                    Value::Int32(1),
                    Value::String("string".into()),
                    Value::Boolean(true)
                ])
            ),
            r#"[1,"string",true]"#
        );
        let error = c.serialize(None, &Value::Timestamp(0)).unwrap_err();
        assert_eq!(
            error.message,
            "Java class class java.util.Date does not have corresponding schema type."
        );
        let enveloped = converter(&[]);
        assert_eq!(
            to_text(&enveloped, None, &Value::Boolean(true)),
            r#"{"schema":null,"payload":true}"#
        );
    }

    #[test]
    fn schema_json_errors() {
        let c = converter(&[]);
        let cases = [
            (
                r#"{"schema":{},"payload":1}"#,
                "Schema must contain 'type' field",
            ),
            (
                r#"{"schema":{"type":"nope"},"payload":1}"#,
                "Unknown schema type: nope",
            ),
            (
                r#"{"schema":{"type":"array"},"payload":[]}"#,
                "Array schema did not specify the element type",
            ),
            (
                r#"{"schema":{"type":"map","values":{"type":"int32"}},"payload":{}}"#,
                "Map schema did not specify the key type",
            ),
            (
                r#"{"schema":{"type":"map","keys":{"type":"int32"}},"payload":{}}"#,
                "Map schema did not specify the value type",
            ),
            (
                r#"{"schema":{"type":"struct"},"payload":{}}"#,
                "Struct schema's \"fields\" argument is not an array.",
            ),
            (
                r#"{"schema":{"type":"struct","fields":[{"type":"int32"}]},"payload":{}}"#,
                "Struct schema's field name not specified properly",
            ),
            (
                r#"{"schema":{"type":"int32","parameters":{"a":1}},"payload":1}"#,
                "Schema parameters must have string values.",
            ),
            (
                r#"{"schema":{"type":"struct","fields":[]},"payload":1}"#,
                "Structs should be encoded as JSON objects, but found NUMBER",
            ),
        ];
        for (text, message) in cases {
            assert_eq!(read_err(&c, text), message, "{text}");
        }
        let error = c
            .serialize(
                Some(&Schema::new(SchemaType::Int32)),
                &Value::String("x".into()),
            )
            .unwrap_err();
        assert_eq!(
            error.message,
            "Invalid type for INT32: class java.lang.String"
        );
        // optional is true only for the literal true
        let back = read(
            &c,
            r#"{"schema":{"type":"int32","optional":"true"},"payload":1}"#,
        );
        assert!(!back.schema.unwrap().optional);
    }

    #[test]
    fn parsed_schemas_are_cached_and_bounded() {
        let c = converter(&[(SCHEMAS_CACHE_SIZE_CONFIG, "2")]);
        let text =
            |t: &str| format!(r#"{{"schema":{{"type":"{t}","optional":true}},"payload":null}}"#);
        let first = read(&c, &text("int8")).schema.unwrap();
        let again = read(&c, &text("int8")).schema.unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        read(&c, &text("int16"));
        read(&c, &text("int32"));
        let after_eviction = read(&c, &text("int8")).schema.unwrap();
        assert!(!Arc::ptr_eq(&first, &after_eviction));
        assert_eq!(first, after_eviction);
        let uncached = converter(&[(SCHEMAS_CACHE_SIZE_CONFIG, "0")]);
        let a = read(&uncached, &text("int8")).schema.unwrap();
        let b = read(&uncached, &text("int8")).schema.unwrap();
        assert!(!Arc::ptr_eq(&a, &b));
    }

    #[test]
    fn header_converter_uses_the_same_encoding() {
        let mut c = JsonConverter::default();
        HeaderConverter::configure(&mut c, &Config::new()).unwrap();
        let bytes = c
            .from_connect_header(
                "t",
                "h",
                Some(&Schema::new(SchemaType::String)),
                &Value::String("test-string".into()),
            )
            .unwrap()
            .unwrap();
        assert_eq!(
            bytes,
            br#"{"schema":{"type":"string","optional":false},"payload":"test-string"}"#
        );
        let back = c.to_connect_header("t", "h", Some(&bytes)).unwrap();
        assert_eq!(back.value, Value::String("test-string".into()));
    }

    #[test]
    fn config_is_validated() {
        let mut c = JsonConverter::default();
        let config: Config = [(DECIMAL_FORMAT_CONFIG.to_string(), "HEX".to_string())].into();
        let error = Converter::configure(&mut c, &config, true).unwrap_err();
        assert_eq!(
            error.message,
            "Invalid value HEX for configuration decimal.format: String must be one of (case insensitive): BASE64, NUMERIC"
        );
        let keys: Vec<String> = config_def().keys.iter().map(|k| k.name.clone()).collect();
        assert_eq!(
            keys,
            [
                "converter.type",
                "schemas.enable",
                "schemas.cache.size",
                "decimal.format",
                "replace.null.with.default"
            ]
        );
    }

    /// A tiny deterministic generator (xorshift) for the round-trip property.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn gen_schema(rng: &mut Rng, depth: u32) -> Schema {
        let pick = if depth > 2 {
            rng.below(13)
        } else {
            rng.below(17)
        };
        let schema = match pick {
            0 => Schema::new(SchemaType::Int8),
            1 => Schema::new(SchemaType::Int16),
            2 => Schema::new(SchemaType::Int32),
            3 => Schema::new(SchemaType::Int64),
            4 => Schema::new(SchemaType::Float32),
            5 => Schema::new(SchemaType::Float64),
            6 => Schema::new(SchemaType::Boolean),
            7 => Schema::new(SchemaType::String),
            8 => Schema::new(SchemaType::Bytes),
            9 => Schema::decimal(rng.below(6) as i32),
            10 => Schema::date(),
            11 => Schema::time(),
            12 => Schema::timestamp(),
            13 | 14 => Schema::array(Arc::new(gen_schema(rng, depth + 1))),
            15 => Schema::map(
                Arc::new(gen_schema(rng, depth + 1)),
                Arc::new(gen_schema(rng, depth + 1)),
            ),
            _ => {
                let n = rng.below(4);
                Schema::structure(
                    (0..n).map(|i| (format!("f{i}"), Arc::new(gen_schema(rng, depth + 1)))),
                )
            }
        };
        if rng.below(4) == 0 {
            schema.optional()
        } else {
            schema
        }
    }

    fn gen_value(rng: &mut Rng, schema: &Arc<Schema>) -> Value {
        if schema.optional && rng.below(5) == 0 {
            return Value::Null;
        }
        match schema.logical_name() {
            Some(DECIMAL) => {
                return Value::Decimal {
                    unscaled: BigInt::from(rng.next() as i64),
                    scale: schema.decimal_scale().unwrap_or(0),
                }
            }
            Some(DATE) => return Value::Timestamp((rng.below(40000) as i64 - 20000) * MS_PER_DAY),
            Some(TIME) => return Value::Timestamp(rng.below(MS_PER_DAY as u64) as i64),
            Some(_) => return Value::Timestamp(rng.next() as i64 >> 20),
            None => {}
        }
        match schema.schema_type {
            SchemaType::Int8 => Value::Int8(rng.next() as i8),
            SchemaType::Int16 => Value::Int16(rng.next() as i16),
            SchemaType::Int32 => Value::Int32(rng.next() as i32),
            SchemaType::Int64 => Value::Int64(rng.next() as i64),
            SchemaType::Float32 => Value::Float32(f32::from_bits(rng.next() as u32 & 0x7F7F_FFFF)),
            SchemaType::Float64 => Value::Float64(
                f64::from_bits(rng.next() & 0x7FEF_FFFF_FFFF_FFFF)
                    * if rng.below(2) == 0 { 1.0 } else { -1.0 },
            ),
            SchemaType::Boolean => Value::Boolean(rng.below(2) == 0),
            SchemaType::String => Value::String(
                (0..rng.below(6))
                    .map(|_| char::from_u32(rng.below(0x3000) as u32).unwrap_or('x'))
                    .collect(),
            ),
            SchemaType::Bytes => {
                Value::Bytes((0..rng.below(6)).map(|_| rng.next() as u8).collect())
            }
            SchemaType::Array => {
                let items = schema.value_schema.clone().unwrap();
                Value::Array((0..rng.below(4)).map(|_| gen_value(rng, &items)).collect())
            }
            SchemaType::Map => {
                let keys = schema.key_schema.clone().unwrap();
                let values = schema.value_schema.clone().unwrap();
                let mut pairs: Vec<(Value, Value)> = Vec::new();
                for _ in 0..rng.below(4) {
                    let key = gen_value(rng, &keys);
                    if keys.schema_type == SchemaType::String && key.is_null() {
                        continue;
                    }
                    if pairs.iter().all(|(k, _)| *k != key) {
                        let value = gen_value(rng, &values);
                        pairs.push((key, value));
                    }
                }
                Value::Map(pairs)
            }
            SchemaType::Struct => {
                let mut s = Struct::new(schema.clone());
                for (field, slot) in schema.fields.iter().zip(s.values.iter_mut()) {
                    *slot = gen_value(rng, &field.schema);
                }
                Value::Struct(s)
            }
        }
    }

    #[test]
    fn round_trip_property() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for format in ["BASE64", "NUMERIC"] {
            let c = converter(&[(DECIMAL_FORMAT_CONFIG, format)]);
            for _ in 0..500 {
                let schema = Arc::new(gen_schema(&mut rng, 0));
                let value = gen_value(&mut rng, &schema);
                let bytes = c.serialize(Some(&schema), &value).unwrap();
                let back = c.deserialize(bytes.as_deref()).unwrap();
                assert_eq!(back.schema.as_ref(), Some(&schema), "{schema:?}");
                assert_eq!(
                    back.value,
                    value,
                    "{}",
                    String::from_utf8_lossy(&bytes.unwrap_or_default())
                );
            }
        }
    }
}
