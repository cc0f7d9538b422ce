//! `ReplaceField$Key`/`$Value` (`org.apache.kafka.connect.transforms.ReplaceField`, Kafka
//! 3.7): keeps, drops and renames fields; field order is kept.

use crate::config_def::{ConfigDef, ConfigKey, ConfigType, ConfigValue, Default, Importance};
use crate::connector::Config;
use crate::data::{ConnectError, ConnectRecord, Schema, Struct, Value};
use crate::transforms::util::{copy_basics, parse, require_map, require_struct, SchemaCache, Side};
use crate::transforms::Transform;

const PURPOSE: &str = "field replacement";

/// Parses `old:new` pairs (Java's `split(":")`, trailing empties dropped, must give two
/// parts); errors with `Invalid rename mapping: <pair>`.
fn parse_renames(mappings: &[String]) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for mapping in mappings {
        let mut parts: Vec<&str> = mapping.split(':').collect();
        while parts.len() > 1 && parts.last() == Some(&"") {
            parts.pop();
        }
        if parts.len() != 2 {
            return Err(format!("Invalid rename mapping: {mapping}"));
        }
        out.retain(|(old, _): &(String, String)| old != parts[0]);
        out.push((parts[0].to_string(), parts[1].to_string()));
    }
    Ok(out)
}

/// `ReplaceField`'s keys (with the deprecated `blacklist`/`whitelist` aliases).
pub(crate) fn config_def() -> ConfigDef {
    ConfigDef::new()
        .define(ConfigKey::new(
            "exclude",
            ConfigType::List,
            Default::Value(String::new()),
            Importance::Medium,
            "Fields to exclude. This takes precedence over the fields to include.",
        ))
        .define(ConfigKey::new(
            "blacklist",
            ConfigType::List,
            Default::Null,
            Importance::Low,
            "Deprecated. Use exclude instead.",
        ))
        .define(ConfigKey::new(
            "include",
            ConfigType::List,
            Default::Value(String::new()),
            Importance::Medium,
            "Fields to include. If specified, only these fields will be used.",
        ))
        .define(ConfigKey::new(
            "whitelist",
            ConfigType::List,
            Default::Null,
            Importance::Low,
            "Deprecated. Use include instead.",
        ))
        .define(
            ConfigKey::new(
                "renames",
                ConfigType::List,
                Default::Value(String::new()),
                Importance::Medium,
                "Field rename mappings.",
            )
            .validate_with(|value| match value {
                ConfigValue::List(items) => parse_renames(items).map(|_| ()),
                _ => Ok(()),
            }),
        )
}

/// `ReplaceField` on one side.
#[derive(Debug)]
pub(crate) struct ReplaceField {
    side: Side,
    exclude: Vec<String>,
    include: Vec<String>,
    renames: Vec<(String, String)>,
    cache: SchemaCache,
}

impl ReplaceField {
    /// A `ReplaceField` on `side`.
    pub(crate) fn new(side: Side) -> ReplaceField {
        ReplaceField {
            side,
            exclude: Vec::new(),
            include: Vec::new(),
            renames: Vec::new(),
            cache: SchemaCache::default(),
        }
    }

    fn keep(&self, name: &str) -> bool {
        !self.exclude.iter().any(|f| f == name)
            && (self.include.is_empty() || self.include.iter().any(|f| f == name))
    }

    fn renamed<'a>(&'a self, name: &'a str) -> &'a str {
        self.renames
            .iter()
            .find(|(old, _)| old == name)
            .map_or(name, |(_, new)| new.as_str())
    }
}

impl Transform for ReplaceField {
    fn configure(&mut self, config: &Config) -> Result<(), ConnectError> {
        // Kafka's `ConfigUtils.translateDeprecatedConfigs`: the old names fill the new ones.
        let mut config = config.clone();
        for (new, old) in [("include", "whitelist"), ("exclude", "blacklist")] {
            if !config.contains_key(new) {
                if let Some(value) = config.get(old).cloned() {
                    config.insert(new.to_string(), value);
                }
            }
        }
        let parsed = parse(&config_def(), &config)?;
        self.exclude = parsed.list("exclude").to_vec();
        self.include = parsed.list("include").to_vec();
        self.renames = parse_renames(parsed.list("renames")).map_err(ConnectError::config)?;
        self.cache = SchemaCache::default();
        Ok(())
    }

    fn apply(&mut self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>, ConnectError> {
        let value = self.side.value(&record);
        if value.is_null() {
            return Ok(Some(record));
        }
        match self.side.schema(&record) {
            None => {
                let pairs = require_map(value, PURPOSE)?;
                let updated = pairs
                    .iter()
                    .filter_map(|(k, v)| {
                        let name = k.as_str()?;
                        self.keep(name)
                            .then(|| (Value::String(self.renamed(name).to_string()), v.clone()))
                    })
                    .collect();
                self.side.set(&mut record, None, Value::Map(updated));
            }
            Some(_) => {
                let current = require_struct(value, PURPOSE)?.clone();
                let schema = match self.cache.get(&current.schema) {
                    Some(hit) => hit,
                    None => {
                        let fields: Vec<_> = current
                            .schema
                            .fields
                            .iter()
                            .filter(|f| self.keep(&f.name))
                            .map(|f| (self.renamed(&f.name).to_string(), f.schema.clone()))
                            .collect();
                        let built = std::sync::Arc::new(copy_basics(
                            &current.schema,
                            Schema::structure(fields),
                        ));
                        self.cache.put(current.schema.clone(), built.clone());
                        built
                    }
                };
                let kept = current.schema.fields.iter().filter(|f| self.keep(&f.name));
                let values = kept.map(|f| current.values[f.index].clone()).collect();
                self.side.set(
                    &mut record,
                    Some(schema.clone()),
                    Value::Struct(Struct { schema, values }),
                );
            }
        }
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::SchemaType;
    use std::sync::Arc;

    use crate::connector::config_from as config;

    #[test]
    fn bad_rename() {
        let mut t = ReplaceField::new(Side::Value);
        assert_eq!(
            t.configure(&config(&[("renames", "foo:bar,baz")]))
                .unwrap_err()
                .message,
            "Invalid value foo:bar,baz for configuration renames: Invalid rename mapping: baz"
        );
    }

    #[test]
    fn schemaless() {
        let mut t = ReplaceField::new(Side::Value);
        t.configure(&config(&[
            ("exclude", "dont"),
            ("renames", "abc:xyz,foo:bar"),
        ]))
        .unwrap();
        let s = |x: &str| Value::String(x.into());
        let value = Value::Map(vec![
            (s("dont"), s("x")),
            (s("abc"), Value::Int64(42)),
            (s("foo"), Value::Boolean(true)),
            (s("etc"), s("etc")),
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
                (s("xyz"), Value::Int64(42)),
                (s("bar"), Value::Boolean(true)),
                (s("etc"), s("etc"))
            ])
        );
        // Deprecated alias.
        t.configure(&config(&[("whitelist", "abc")])).unwrap();
        let value = Value::Map(vec![
            (s("abc"), Value::Int64(1)),
            (s("foo"), Value::Int64(2)),
        ]);
        let out = t
            .apply(ConnectRecord {
                value,
                ..ConnectRecord::default()
            })
            .unwrap()
            .unwrap();
        assert_eq!(out.value, Value::Map(vec![(s("abc"), Value::Int64(1))]));
        assert!(t
            .apply(ConnectRecord::default())
            .unwrap()
            .unwrap()
            .value
            .is_null());
    }

    #[test]
    fn with_schema() {
        let mut t = ReplaceField::new(Side::Value);
        t.configure(&config(&[("include", "abc,foo"), ("renames", "abc:xyz")]))
            .unwrap();
        let int = Arc::new(Schema::new(SchemaType::Int32));
        let schema = Arc::new(
            Schema::structure([
                ("dont".to_string(), int.clone()),
                ("abc".to_string(), int.clone()),
                ("foo".to_string(), int.clone()),
            ])
            .with_name("n"),
        );
        let value = Struct {
            schema: schema.clone(),
            values: vec![Value::Int32(1), Value::Int32(2), Value::Int32(3)],
        };
        let out = t
            .apply(ConnectRecord {
                value_schema: Some(schema),
                value: Value::Struct(value),
                ..ConnectRecord::default()
            })
            .unwrap()
            .unwrap();
        let schema = out.value_schema.unwrap();
        let names: Vec<&str> = schema.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["xyz", "foo"]);
        assert_eq!(schema.name.as_deref(), Some("n"));
        let Value::Struct(s) = out.value else {
            panic!()
        };
        assert_eq!(s.get("xyz"), Some(&Value::Int32(2)));
        assert_eq!(s.get("foo"), Some(&Value::Int32(3)));
    }
}
