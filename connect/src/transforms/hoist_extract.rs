//! `HoistField$Key`/`$Value` and `ExtractField$Key`/`$Value`: wrap a key/value in a
//! one-field struct or map, and take one field out of one
//! (`org.apache.kafka.connect.transforms.{HoistField, ExtractField}`, Kafka 3.7).

use std::sync::Arc;

use crate::config_def::{ConfigDef, ConfigKey, ConfigType, Default, Importance};
use crate::connector::Config;
use crate::data::{ConnectError, ConnectRecord, Struct, Value};
use crate::transforms::util::{map_get, parse, require_map, require_struct, SchemaCache, Side};
use crate::transforms::Transform;

/// `HoistField`'s keys.
pub(crate) fn hoist_def() -> ConfigDef {
    ConfigDef::new().define(ConfigKey::new(
        "field",
        ConfigType::String,
        Default::Required,
        Importance::Medium,
        "Field name for the single field that will be created in the resulting Struct or Map.",
    ))
}

/// `ExtractField`'s keys.
pub(crate) fn extract_def() -> ConfigDef {
    ConfigDef::new().define(ConfigKey::new(
        "field",
        ConfigType::String,
        Default::Required,
        Importance::Medium,
        "Field name to extract.",
    ))
}

/// `HoistField`: `{field: value}` (schemaless) or a struct of one field (schema).
#[derive(Debug)]
pub(crate) struct HoistField {
    side: Side,
    field: String,
    cache: SchemaCache,
}

impl HoistField {
    /// A `HoistField` on `side`.
    pub(crate) fn new(side: Side) -> HoistField {
        HoistField {
            side,
            field: String::new(),
            cache: SchemaCache::default(),
        }
    }
}

impl Transform for HoistField {
    fn configure(&mut self, config: &Config) -> Result<(), ConnectError> {
        self.field = parse(&hoist_def(), config)?
            .string("field")
            .unwrap_or_default()
            .to_string();
        self.cache = SchemaCache::default();
        Ok(())
    }

    fn apply(&mut self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>, ConnectError> {
        let value = self.side.value(&record).clone();
        match self.side.schema(&record).cloned() {
            None => {
                let map = Value::Map(vec![(Value::String(self.field.clone()), value)]);
                self.side.set(&mut record, None, map);
            }
            Some(schema) => {
                let field = self.field.clone();
                let wrapped = self.cache.get_or_build(&schema, |inner| {
                    Ok(crate::data::Schema::structure([(
                        field,
                        Arc::new(inner.clone()),
                    )]))
                })?;
                let mut s = Struct::new(wrapped.clone());
                s.values[0] = value;
                self.side.set(&mut record, Some(wrapped), Value::Struct(s));
            }
        }
        Ok(Some(record))
    }
}

/// `ExtractField`: the value of one field; null passes through.
#[derive(Debug)]
pub(crate) struct ExtractField {
    side: Side,
    field: String,
}

impl ExtractField {
    /// An `ExtractField` on `side`.
    pub(crate) fn new(side: Side) -> ExtractField {
        ExtractField {
            side,
            field: String::new(),
        }
    }
}

const EXTRACT_PURPOSE: &str = "field extraction";

impl Transform for ExtractField {
    fn configure(&mut self, config: &Config) -> Result<(), ConnectError> {
        self.field = parse(&extract_def(), config)?
            .string("field")
            .unwrap_or_default()
            .to_string();
        Ok(())
    }

    fn apply(&mut self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>, ConnectError> {
        let value = self.side.value(&record);
        match self.side.schema(&record).cloned() {
            None => {
                let extracted = if value.is_null() {
                    Value::Null
                } else {
                    map_get(require_map(value, EXTRACT_PURPOSE)?, &self.field)
                        .cloned()
                        .unwrap_or_default()
                };
                self.side.set(&mut record, None, extracted);
            }
            Some(schema) => {
                if !value.is_null() {
                    require_struct(value, EXTRACT_PURPOSE)?;
                }
                let field = schema
                    .field(&self.field)
                    .ok_or_else(|| ConnectError::data(format!("Unknown field: {}", self.field)))?;
                let field_schema = field.schema.clone();
                let extracted = match value {
                    Value::Struct(s) => s.get(&self.field).cloned().unwrap_or_default(),
                    _ => Value::Null,
                };
                self.side.set(&mut record, Some(field_schema), extracted);
            }
        }
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Schema, SchemaType};

    fn config(field: &str) -> Config {
        [("field".to_string(), field.to_string())]
            .into_iter()
            .collect()
    }

    #[test]
    fn hoist_schemaless_and_schema() {
        let mut t = HoistField::new(Side::Key);
        assert_eq!(
            t.configure(&Config::new()).unwrap_err().message,
            "Missing required configuration \"field\" which has no default value."
        );
        t.configure(&config("magic")).unwrap();
        let out = t
            .apply(ConnectRecord {
                key: Value::Int64(42),
                ..ConnectRecord::default()
            })
            .unwrap()
            .unwrap();
        assert_eq!(
            out.key,
            Value::Map(vec![(Value::String("magic".into()), Value::Int64(42))])
        );
        let out = t.apply(ConnectRecord::default()).unwrap().unwrap();
        assert_eq!(
            out.key,
            Value::Map(vec![(Value::String("magic".into()), Value::Null)])
        );
        let record = ConnectRecord {
            key_schema: Some(Arc::new(Schema::new(SchemaType::Int32))),
            key: Value::Int32(42),
            value: Value::String("untouched".into()),
            ..ConnectRecord::default()
        };
        let out = t.apply(record).unwrap().unwrap();
        let schema = out.key_schema.unwrap();
        assert_eq!(schema.schema_type, SchemaType::Struct);
        assert_eq!(schema.fields[0].name, "magic");
        assert_eq!(schema.fields[0].schema.schema_type, SchemaType::Int32);
        let Value::Struct(s) = out.key else { panic!() };
        assert_eq!(s.get("magic"), Some(&Value::Int32(42)));
        assert_eq!(out.value, Value::String("untouched".into()));
    }

    #[test]
    fn extract_schemaless_and_schema() {
        let mut t = ExtractField::new(Side::Value);
        t.configure(&config("magic")).unwrap();
        let map = Value::Map(vec![(Value::String("magic".into()), Value::Int64(42))]);
        let out = t
            .apply(ConnectRecord {
                value: map,
                ..ConnectRecord::default()
            })
            .unwrap()
            .unwrap();
        assert_eq!(out.value, Value::Int64(42));
        assert_eq!(
            t.apply(ConnectRecord::default()).unwrap().unwrap().value,
            Value::Null
        );
        let missing = Value::Map(vec![(Value::String("other".into()), Value::Int64(1))]);
        assert_eq!(
            t.apply(ConnectRecord {
                value: missing,
                ..ConnectRecord::default()
            })
            .unwrap()
            .unwrap()
            .value,
            Value::Null
        );

        let schema = Arc::new(Schema::structure([(
            "magic".to_string(),
            Arc::new(Schema::new(SchemaType::Int32)),
        )]));
        let mut s = Struct::new(schema.clone());
        s.put("magic", Value::Int32(42)).unwrap();
        let record = ConnectRecord {
            value_schema: Some(schema.clone()),
            value: Value::Struct(s),
            ..ConnectRecord::default()
        };
        let out = t.apply(record).unwrap().unwrap();
        assert_eq!(out.value, Value::Int32(42));
        assert_eq!(out.value_schema.unwrap().schema_type, SchemaType::Int32);
        let null = ConnectRecord {
            value_schema: Some(schema.clone()),
            ..ConnectRecord::default()
        };
        assert_eq!(t.apply(null).unwrap().unwrap().value, Value::Null);
        t.configure(&config("nope")).unwrap();
        let record = ConnectRecord {
            value_schema: Some(schema),
            value: Value::Struct(Struct::new(Arc::new(Schema::structure([])))),
            ..ConnectRecord::default()
        };
        assert_eq!(t.apply(record).unwrap_err().message, "Unknown field: nope");
    }
}
