//! Helpers shared by the transforms: Kafka's `Requirements` checks, `SchemaUtil`'s schema
//! copy, the per-instance LRU cache of rebuilt schemas, the key/value side of `$Key`/`$Value`
//! variants and config parsing with Kafka's texts.
//!
//! References: `org.apache.kafka.connect.transforms.util.{Requirements, SchemaUtil}`,
//! `org.apache.kafka.common.cache.LRUCache` (Kafka 3.7).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config_def::{ConfigDef, ConfigValue, ParsedConfig};
use crate::data::{ConnectError, ConnectRecord, Schema, Struct, Value};

/// Which part of the record a `$Key`/`$Value` variant operates on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// The key and key schema.
    Key,
    /// The value and value schema.
    Value,
}

impl Side {
    /// The operating schema.
    pub(crate) fn schema(self, record: &ConnectRecord) -> Option<&Arc<Schema>> {
        match self {
            Side::Key => record.key_schema.as_ref(),
            Side::Value => record.value_schema.as_ref(),
        }
    }

    /// The operating value.
    pub(crate) fn value(self, record: &ConnectRecord) -> &Value {
        match self {
            Side::Key => &record.key,
            Side::Value => &record.value,
        }
    }

    /// Replaces the operating schema and value.
    pub(crate) fn set(self, record: &mut ConnectRecord, schema: Option<Arc<Schema>>, value: Value) {
        match self {
            Side::Key => {
                record.key_schema = schema;
                record.key = value;
            }
            Side::Value => {
                record.value_schema = schema;
                record.value = value;
            }
        }
    }
}

/// Kafka's `Requirements.requireMap`: the pairs of a schemaless MAP value.
pub(crate) fn require_map<'a>(
    value: &'a Value,
    purpose: &str,
) -> Result<&'a Vec<(Value, Value)>, ConnectError> {
    match value {
        Value::Map(pairs) => Ok(pairs),
        other => Err(ConnectError::data(format!(
            "Only Map objects supported in absence of schema for [{purpose}], found: {}",
            other.java_class()
        ))),
    }
}

/// Kafka's `Requirements.requireStruct`.
pub(crate) fn require_struct<'a>(
    value: &'a Value,
    purpose: &str,
) -> Result<&'a Struct, ConnectError> {
    match value {
        Value::Struct(s) => Ok(s),
        other => Err(ConnectError::data(format!(
            "Only Struct objects supported for [{purpose}], found: {}",
            other.java_class()
        ))),
    }
}

/// Kafka's `Requirements.requireSchema`.
pub(crate) fn require_schema<'a>(
    schema: Option<&'a Arc<Schema>>,
    purpose: &str,
) -> Result<&'a Arc<Schema>, ConnectError> {
    schema.ok_or_else(|| ConnectError::data(format!("Schema required for [{purpose}]")))
}

/// Kafka's `Requirements.requireSinkRecord`: the offset of a record consumed from Kafka.
pub(crate) fn require_sink_record(
    record: &ConnectRecord,
    purpose: &str,
) -> Result<i64, ConnectError> {
    record.kafka_offset.ok_or_else(|| {
        ConnectError::data(format!(
            "Only SinkRecord supported for [{purpose}], found: org.apache.kafka.connect.source.SourceRecord"
        ))
    })
}

/// A string-keyed map entry's value in schemaless pairs.
pub(crate) fn map_get<'a>(pairs: &'a [(Value, Value)], key: &str) -> Option<&'a Value> {
    pairs
        .iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
}

/// Kafka's `SchemaUtil.copySchemaBasics`: a schema of `source`'s new shape keeping its name,
/// version, doc and parameters (optionality and default are the caller's choice).
pub(crate) fn copy_basics(source: &Schema, mut target: Schema) -> Schema {
    target.name.clone_from(&source.name);
    target.version = source.version;
    target.doc.clone_from(&source.doc);
    target.parameters.clone_from(&source.parameters);
    target
}

/// Parses a transform's config with its definition; errors are `ConfigException`s with
/// Kafka's texts.
pub(crate) fn parse(
    def: &ConfigDef,
    config: &BTreeMap<String, String>,
) -> Result<ParsedConfig, ConnectError> {
    def.parse(config).map_err(ConnectError::config)
}

/// Validator of Kafka's `NonEmptyListValidator` (`Empty list`).
pub(crate) fn non_empty_list(value: &ConfigValue) -> Result<(), String> {
    match value {
        ConfigValue::List(items) if !items.is_empty() => Ok(()),
        _ => Err("Empty list".to_string()),
    }
}

/// Validator of Kafka's `ConfigDef.NonEmptyString` (null allowed).
pub(crate) fn non_empty_string(value: &ConfigValue) -> Result<(), String> {
    match value {
        ConfigValue::String(text) if text.is_empty() => Err("String must be non-empty".to_string()),
        _ => Ok(()),
    }
}

/// Validator of Kafka's `ConfigDef.ValidString.in(...)`.
pub(crate) fn one_of(
    valid: &'static [&'static str],
) -> impl Fn(&ConfigValue) -> Result<(), String> + Send + Sync {
    move |value| match value {
        ConfigValue::String(text) if valid.contains(&text.as_str()) => Ok(()),
        _ => Err(format!("String must be one of: {}", valid.join(", "))),
    }
}

/// Capacity of Kafka's per-transform schema cache (`new LRUCache<>(16)`).
pub(crate) const SCHEMA_CACHE_SIZE: usize = 16;

/// An LRU cache from an input schema to the schema a transform rebuilt from it (Kafka's
/// `SynchronizedCache<Schema, Schema>` over an `LRUCache(16)`).
#[derive(Debug, Default)]
pub(crate) struct SchemaCache {
    entries: Vec<(Arc<Schema>, Arc<Schema>)>,
}

impl SchemaCache {
    /// The cached rebuild of `key`, marking it most recently used.
    pub(crate) fn get(&mut self, key: &Arc<Schema>) -> Option<Arc<Schema>> {
        let position = self
            .entries
            .iter()
            .position(|(k, _)| Arc::ptr_eq(k, key) || **k == **key)?;
        let entry = self.entries.remove(position);
        let value = entry.1.clone();
        self.entries.push(entry);
        Some(value)
    }

    /// Caches `value` for `key`, evicting the least recently used entry beyond 16.
    pub(crate) fn put(&mut self, key: Arc<Schema>, value: Arc<Schema>) {
        self.entries.retain(|(k, _)| **k != *key);
        self.entries.push((key, value));
        if self.entries.len() > SCHEMA_CACHE_SIZE {
            self.entries.remove(0);
        }
    }

    /// The cached rebuild of `key`, or `build(key)` cached.
    pub(crate) fn get_or_build(
        &mut self,
        key: &Arc<Schema>,
        build: impl FnOnce(&Schema) -> Result<Schema, ConnectError>,
    ) -> Result<Arc<Schema>, ConnectError> {
        if let Some(hit) = self.get(key) {
            return Ok(hit);
        }
        let built = Arc::new(build(key)?);
        self.put(key.clone(), built.clone());
        Ok(built)
    }

    /// Number of cached schemas.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::SchemaType;

    #[test]
    fn requirement_texts() {
        assert_eq!(
            require_map(&Value::String("x".into()), "field insertion").unwrap_err().message,
            "Only Map objects supported in absence of schema for [field insertion], found: java.lang.String"
        );
        assert_eq!(
            require_struct(&Value::Null, "flattening")
                .unwrap_err()
                .message,
            "Only Struct objects supported for [flattening], found: null"
        );
        assert_eq!(
            require_schema(None, "updating schema metadata")
                .unwrap_err()
                .message,
            "Schema required for [updating schema metadata]"
        );
    }

    #[test]
    fn cache_is_lru_of_sixteen() {
        let mut cache = SchemaCache::default();
        let schemas: Vec<Arc<Schema>> = (0..17)
            .map(|i| Arc::new(Schema::new(SchemaType::Int32).with_name(format!("s{i}"))))
            .collect();
        for s in &schemas[..16] {
            cache.put(s.clone(), s.clone());
        }
        assert!(cache.get(&schemas[0]).is_some());
        cache.put(schemas[16].clone(), schemas[16].clone());
        assert_eq!(cache.len(), 16);
        assert!(cache.get(&schemas[1]).is_none());
        assert!(cache.get(&schemas[0]).is_some());
    }
}
