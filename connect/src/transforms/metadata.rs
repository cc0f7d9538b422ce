//! `SetSchemaMetadata$Key`/`$Value` and `ValueToKey`
//! (`org.apache.kafka.connect.transforms.{SetSchemaMetadata, ValueToKey}`, Kafka 3.7).

use std::sync::Arc;

use crate::config_def::{ConfigDef, ConfigKey, ConfigType, Default, Importance};
use crate::connector::Config;
use crate::data::{ConnectError, ConnectRecord, Schema, Struct, Value};
use crate::transforms::util::{
    map_get, non_empty_list, parse, require_map, require_schema, require_struct, SchemaCache, Side,
};
use crate::transforms::Transform;

/// `SetSchemaMetadata`'s keys.
pub(crate) fn set_schema_metadata_def() -> ConfigDef {
    ConfigDef::new()
        .define(ConfigKey::new(
            "schema.name",
            ConfigType::String,
            Default::Null,
            Importance::High,
            "Schema name to set.",
        ))
        .define(ConfigKey::new(
            "schema.version",
            ConfigType::Int,
            Default::Null,
            Importance::High,
            "Schema version to set.",
        ))
}

/// `SetSchemaMetadata`: replaces the schema's name and/or version.
#[derive(Debug)]
pub(crate) struct SetSchemaMetadata {
    side: Side,
    name: Option<String>,
    version: Option<i32>,
}

impl SetSchemaMetadata {
    /// A `SetSchemaMetadata` on `side`.
    pub(crate) fn new(side: Side) -> SetSchemaMetadata {
        SetSchemaMetadata {
            side,
            name: None,
            version: None,
        }
    }
}

impl Transform for SetSchemaMetadata {
    fn configure(&mut self, config: &Config) -> Result<(), ConnectError> {
        let parsed = parse(&set_schema_metadata_def(), config)?;
        self.name = parsed.string("schema.name").map(str::to_string);
        self.version = parsed.int("schema.version");
        if self.name.is_none() && self.version.is_none() {
            return Err(ConnectError::config(
                "Neither schema name nor version configured",
            ));
        }
        Ok(())
    }

    fn apply(&mut self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>, ConnectError> {
        let value = self.side.value(&record).clone();
        let schema = self.side.schema(&record);
        if value.is_null() && schema.is_none() {
            return Ok(Some(record));
        }
        let schema = require_schema(schema, "updating schema metadata")?;
        let mut updated = (**schema).clone();
        if let Some(name) = &self.name {
            updated.name = Some(name.clone());
        }
        if let Some(version) = self.version {
            updated.version = Some(version);
        }
        let updated = Arc::new(updated);
        let value = match value {
            Value::Struct(s) => Value::Struct(Struct {
                schema: updated.clone(),
                values: s.values,
            }),
            other => other,
        };
        self.side.set(&mut record, Some(updated), value);
        Ok(Some(record))
    }
}

/// `ValueToKey`'s keys.
pub(crate) fn value_to_key_def() -> ConfigDef {
    ConfigDef::new().define(
        ConfigKey::new(
            "fields",
            ConfigType::List,
            Default::Required,
            Importance::High,
            "Field names on the record value to extract as the record key.",
        )
        .validate_with(non_empty_list),
    )
}

/// `ValueToKey`: the key becomes a map/struct of the listed value fields.
#[derive(Debug, Default)]
pub(crate) struct ValueToKey {
    fields: Vec<String>,
    cache: SchemaCache,
}

const VALUE_TO_KEY_PURPOSE: &str = "copying fields from value to key";

impl Transform for ValueToKey {
    fn configure(&mut self, config: &Config) -> Result<(), ConnectError> {
        self.fields = parse(&value_to_key_def(), config)?.list("fields").to_vec();
        self.cache = SchemaCache::default();
        Ok(())
    }

    fn apply(&mut self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>, ConnectError> {
        match record.value_schema.clone() {
            None => {
                let pairs = require_map(&record.value, VALUE_TO_KEY_PURPOSE)?;
                let key = self
                    .fields
                    .iter()
                    .map(|f| {
                        (
                            Value::String(f.clone()),
                            map_get(pairs, f).cloned().unwrap_or_default(),
                        )
                    })
                    .collect();
                record.key_schema = None;
                record.key = Value::Map(key);
            }
            Some(_) => {
                let value = require_struct(&record.value, VALUE_TO_KEY_PURPOSE)?;
                let fields = &self.fields;
                let key_schema = self.cache.get_or_build(&value.schema, |schema| {
                    let mut key_fields = Vec::new();
                    for f in fields {
                        let field = schema.field(f).ok_or_else(|| {
                            ConnectError::data(format!("Field does not exist: {f}"))
                        })?;
                        key_fields.push((f.clone(), field.schema.clone()));
                    }
                    Ok(Schema::structure(key_fields))
                })?;
                let mut key = Struct::new(key_schema.clone());
                for (i, f) in self.fields.iter().enumerate() {
                    key.values[i] = value.get(f).cloned().unwrap_or_default();
                }
                record.key_schema = Some(key_schema);
                record.key = Value::Struct(key);
            }
        }
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::SchemaType;

    use crate::connector::config_from as config;

    fn struct_value() -> (Arc<Schema>, Value) {
        let schema = Arc::new(Schema::structure([
            ("a".to_string(), Arc::new(Schema::new(SchemaType::Int32))),
            ("b".to_string(), Arc::new(Schema::new(SchemaType::Int32))),
        ]));
        let mut s = Struct::new(schema.clone());
        s.put("a", Value::Int32(1)).unwrap();
        s.put("b", Value::Int32(2)).unwrap();
        (schema, Value::Struct(s))
    }

    #[test]
    fn set_schema_metadata() {
        let mut t = SetSchemaMetadata::new(Side::Value);
        assert_eq!(
            t.configure(&Config::new()).unwrap_err().message,
            "Neither schema name nor version configured"
        );
        assert_eq!(
            t.configure(&config(&[("schema.version", "x")]))
                .unwrap_err()
                .message,
            "Invalid value x for configuration schema.version: Not a number of type INT"
        );
        t.configure(&config(&[("schema.name", "foo"), ("schema.version", "42")]))
            .unwrap();
        let (schema, value) = struct_value();
        let out = t
            .apply(ConnectRecord {
                value_schema: Some(schema),
                value,
                ..ConnectRecord::default()
            })
            .unwrap()
            .unwrap();
        let schema = out.value_schema.unwrap();
        assert_eq!(
            (schema.name.as_deref(), schema.version),
            (Some("foo"), Some(42))
        );
        let Value::Struct(s) = out.value else {
            panic!()
        };
        assert!(Arc::ptr_eq(&s.schema, &schema));
        assert_eq!(s.get("b"), Some(&Value::Int32(2)));
        // A null without schema passes; a value without schema is an error.
        assert!(t.apply(ConnectRecord::default()).unwrap().is_some());
        assert_eq!(
            t.apply(ConnectRecord {
                value: Value::Int64(1),
                ..ConnectRecord::default()
            })
            .unwrap_err()
            .message,
            "Schema required for [updating schema metadata]"
        );
    }

    #[test]
    fn value_to_key() {
        let mut t = ValueToKey::default();
        assert_eq!(
            t.configure(&config(&[("fields", "")])).unwrap_err().message,
            "Invalid value  for configuration fields: Empty list"
        );
        t.configure(&config(&[("fields", "a,b")])).unwrap();
        let map = Value::Map(vec![
            (Value::String("a".into()), Value::Int64(1)),
            (Value::String("c".into()), Value::Int64(3)),
        ]);
        let out = t
            .apply(ConnectRecord {
                value: map.clone(),
                ..ConnectRecord::default()
            })
            .unwrap()
            .unwrap();
        assert_eq!(
            out.key,
            Value::Map(vec![
                (Value::String("a".into()), Value::Int64(1)),
                (Value::String("b".into()), Value::Null)
            ])
        );
        assert_eq!(out.value, map);
        let (schema, value) = struct_value();
        let out = t
            .apply(ConnectRecord {
                value_schema: Some(schema.clone()),
                value: value.clone(),
                ..ConnectRecord::default()
            })
            .unwrap()
            .unwrap();
        let Value::Struct(key) = out.key else {
            panic!()
        };
        assert_eq!(key.get("a"), Some(&Value::Int32(1)));
        assert_eq!(out.key_schema.unwrap().fields.len(), 2);
        t.configure(&config(&[("fields", "a,zz")])).unwrap();
        assert_eq!(
            t.apply(ConnectRecord {
                value_schema: Some(schema),
                value,
                ..ConnectRecord::default()
            })
            .unwrap_err()
            .message,
            "Field does not exist: zz"
        );
        assert_eq!(
            t.apply(ConnectRecord::default()).unwrap_err().message,
            "Only Map objects supported in absence of schema for [copying fields from value to key], found: null"
        );
    }
}
