//! `Flatten$Key`/`$Value` (`org.apache.kafka.connect.transforms.Flatten`, Kafka 3.7): nested
//! maps/structs become top-level fields named `parent<delimiter>child`.

use std::sync::Arc;

use crate::config_def::{ConfigDef, ConfigKey, ConfigType, Default, Importance};
use crate::connector::Config;
use crate::data::{ConnectError, ConnectRecord, Schema, SchemaType, Struct, Value};
use crate::transforms::util::{copy_basics, parse, require_map, require_struct, SchemaCache, Side};
use crate::transforms::Transform;

const PURPOSE: &str = "flattening";

/// `Flatten`'s keys.
pub(crate) fn config_def() -> ConfigDef {
    ConfigDef::new().define(ConfigKey::new(
        "delimiter",
        ConfigType::String,
        Default::Value(".".into()),
        Importance::Medium,
        "Delimiter to insert between field names from the input record when generating field names for the output record",
    ))
}

/// `Flatten` on one side.
#[derive(Debug)]
pub(crate) struct Flatten {
    side: Side,
    delimiter: String,
    cache: SchemaCache,
}

impl Flatten {
    /// A `Flatten` on `side`.
    pub(crate) fn new(side: Side) -> Flatten {
        Flatten {
            side,
            delimiter: ".".into(),
            cache: SchemaCache::default(),
        }
    }

    fn name(&self, prefix: &str, name: &str) -> String {
        if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}{}{name}", self.delimiter)
        }
    }

    fn flatten_map(
        &self,
        pairs: &[(Value, Value)],
        prefix: &str,
        out: &mut Vec<(Value, Value)>,
    ) -> Result<(), ConnectError> {
        for (key, value) in pairs {
            let key_text = match key {
                Value::String(text) => text.clone(),
                other => crate::render::render_value(other),
            };
            let name = self.name(prefix, &key_text);
            match value {
                Value::Map(nested) => self.flatten_map(nested, &name, out)?,
                Value::Struct(_) => {
                    return Err(ConnectError::data(format!(
                        "Flatten transformation does not support class {} for record without schemas (for field {name}).",
                        value.java_class()
                    )))
                }
                Value::Decimal { .. } | Value::Timestamp(_) => {
                    return Err(ConnectError::data(format!(
                        "Flatten transformation was passed a value of type class {} which is not supported by Connect's data API",
                        value.java_class()
                    )))
                }
                other => put(out, name, other.clone()),
            }
        }
        Ok(())
    }

    fn build_schema(
        &self,
        schema: &Schema,
        prefix: &str,
        fields: &mut Vec<(String, Arc<Schema>)>,
        optional: bool,
        parent_default: Option<&Struct>,
    ) -> Result<(), ConnectError> {
        for field in &schema.fields {
            let name = self.name(prefix, &field.name);
            let field_optional = optional || field.schema.optional;
            let default = match &field.schema.default {
                Some(default) => Some(default.clone()),
                None => parent_default
                    .and_then(|d| d.values.get(field.index))
                    .filter(|v| !v.is_null())
                    .cloned(),
            };
            match field.schema.schema_type {
                SchemaType::Struct => {
                    let nested_default = match &default {
                        Some(Value::Struct(s)) => Some(s),
                        _ => None,
                    };
                    self.build_schema(&field.schema, &name, fields, field_optional, nested_default)?;
                }
                SchemaType::Map => {
                    return Err(ConnectError::data(format!(
                        "Flatten transformation does not support MAP for record with schemas (for field {name})."
                    )))
                }
                _ => {
                    let mut converted = copy_basics(
                        &field.schema,
                        Schema {
                            value_schema: field.schema.value_schema.clone(),
                            ..Schema::new(field.schema.schema_type)
                        },
                    );
                    converted.optional = field_optional;
                    converted.default = default;
                    fields.push((name, Arc::new(converted)));
                }
            }
        }
        Ok(())
    }

    fn build_value(
        &self,
        value: &Struct,
        prefix: &str,
        out: &mut Struct,
    ) -> Result<(), ConnectError> {
        for field in &value.schema.fields {
            let name = self.name(prefix, &field.name);
            let mut v = value.values.get(field.index).cloned().unwrap_or_default();
            if v.is_null() {
                if let Some(default) = &field.schema.default {
                    v = default.clone();
                }
            }
            match (field.schema.schema_type, v) {
                (SchemaType::Struct, Value::Struct(nested)) => self.build_value(&nested, &name, out)?,
                (SchemaType::Struct, _) => {}
                (SchemaType::Map, _) => {
                    return Err(ConnectError::data(format!(
                        "Flatten transformation does not support MAP for record with schemas (for field {name})."
                    )))
                }
                (_, v) => out.put(&name, v)?,
            }
        }
        Ok(())
    }
}

fn put(out: &mut Vec<(Value, Value)>, name: String, value: Value) {
    match out
        .iter_mut()
        .find(|(k, _)| k.as_str() == Some(name.as_str()))
    {
        Some(slot) => slot.1 = value,
        None => out.push((Value::String(name), value)),
    }
}

impl Transform for Flatten {
    fn configure(&mut self, config: &Config) -> Result<(), ConnectError> {
        self.delimiter = parse(&config_def(), config)?
            .string("delimiter")
            .unwrap_or_default()
            .to_string();
        self.cache = SchemaCache::default();
        Ok(())
    }

    fn apply(&mut self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>, ConnectError> {
        let value = self.side.value(&record);
        if value.is_null() {
            return Ok(Some(record));
        }
        match self.side.schema(&record).cloned() {
            None => {
                let pairs = require_map(value, PURPOSE)?;
                let mut out = Vec::new();
                self.flatten_map(pairs, "", &mut out)?;
                self.side.set(&mut record, None, Value::Map(out));
            }
            Some(schema) => {
                let current = require_struct(value, PURPOSE)?.clone();
                let updated_schema = match self.cache.get(&schema) {
                    Some(hit) => hit,
                    None => {
                        let mut fields = Vec::new();
                        let default = match &schema.default {
                            Some(Value::Struct(s)) => Some(s),
                            _ => None,
                        };
                        self.build_schema(&schema, "", &mut fields, schema.optional, default)?;
                        let built = Arc::new(copy_basics(&schema, Schema::structure(fields)));
                        self.cache.put(schema.clone(), built.clone());
                        built
                    }
                };
                let mut out = Struct::new(updated_schema.clone());
                self.build_value(&current, "", &mut out)?;
                self.side
                    .set(&mut record, Some(updated_schema), Value::Struct(out));
            }
        }
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Value {
        Value::String(x.into())
    }

    #[test]
    fn schemaless_nested_maps() {
        let mut t = Flatten::new(Side::Value);
        t.configure(
            &[("delimiter".to_string(), "#".to_string())]
                .into_iter()
                .collect(),
        )
        .unwrap();
        let value = Value::Map(vec![
            (
                s("A"),
                Value::Map(vec![(
                    s("B"),
                    Value::Map(vec![(s("int"), Value::Int64(8)), (s("n"), Value::Null)]),
                )]),
            ),
            (s("arr"), Value::Array(vec![Value::Int64(1)])),
            (s("top"), s("x")),
        ]);
        let out = t
            .apply(ConnectRecord {
                value,
                ..ConnectRecord::default()
            })
            .unwrap()
            .unwrap();
        assert_eq!(
            out.value,
            Value::Map(vec![
                (s("A#B#int"), Value::Int64(8)),
                (s("A#B#n"), Value::Null),
                (s("arr"), Value::Array(vec![Value::Int64(1)])),
                (s("top"), s("x")),
            ])
        );
        assert!(t
            .apply(ConnectRecord::default())
            .unwrap()
            .unwrap()
            .value
            .is_null());
        assert_eq!(
            t.apply(ConnectRecord { value: Value::Int64(1), ..ConnectRecord::default() }).unwrap_err().message,
            "Only Map objects supported in absence of schema for [flattening], found: java.lang.Long"
        );
    }

    #[test]
    fn with_schema_optional_and_defaults() {
        let mut t = Flatten::new(Side::Key);
        t.configure(&Config::new()).unwrap();
        let inner_schema = Arc::new(Schema::structure([
            ("a".to_string(), Arc::new(Schema::new(SchemaType::Int32))),
            (
                "b".to_string(),
                Arc::new(Schema::new(SchemaType::String).optional()),
            ),
        ]));
        let mut inner_default = Struct::new(inner_schema.clone());
        inner_default.put("a", Value::Int32(7)).unwrap();
        let nested_schema = Arc::new(
            (*inner_schema)
                .clone()
                .optional()
                .with_default(Value::Struct(inner_default)),
        );
        let schema = Arc::new(
            Schema::structure([
                ("top".to_string(), Arc::new(Schema::new(SchemaType::Int64))),
                ("nested".to_string(), nested_schema.clone()),
            ])
            .with_name("outer"),
        );
        let mut nested = Struct::new(nested_schema);
        nested.put("a", Value::Int32(1)).unwrap();
        nested.put("b", s("x")).unwrap();
        let mut value = Struct::new(schema.clone());
        value.put("top", Value::Int64(5)).unwrap();
        value.put("nested", Value::Struct(nested)).unwrap();
        let out = t
            .apply(ConnectRecord {
                key_schema: Some(schema),
                key: Value::Struct(value),
                ..ConnectRecord::default()
            })
            .unwrap()
            .unwrap();
        let schema = out.key_schema.unwrap();
        assert_eq!(schema.name.as_deref(), Some("outer"));
        let names: Vec<&str> = schema.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["top", "nested.a", "nested.b"]);
        assert!(!schema.fields[0].schema.optional);
        assert!(
            schema.fields[1].schema.optional,
            "optional because its parent is"
        );
        assert_eq!(schema.fields[1].schema.default, Some(Value::Int32(7)));
        let Value::Struct(out) = out.key else {
            panic!()
        };
        assert_eq!(out.values, vec![Value::Int64(5), Value::Int32(1), s("x")]);
    }

    #[test]
    fn map_with_schema_is_refused() {
        let mut t = Flatten::new(Side::Value);
        t.configure(&Config::new()).unwrap();
        let map = Arc::new(Schema::map(
            Arc::new(Schema::new(SchemaType::String)),
            Arc::new(Schema::new(SchemaType::String)),
        ));
        let schema = Arc::new(Schema::structure([("m".to_string(), map)]));
        let value = Struct::new(schema.clone());
        assert_eq!(
            t.apply(ConnectRecord {
                value_schema: Some(schema),
                value: Value::Struct(value),
                ..ConnectRecord::default()
            })
            .unwrap_err()
            .message,
            "Flatten transformation does not support MAP for record with schemas (for field m)."
        );
    }
}
