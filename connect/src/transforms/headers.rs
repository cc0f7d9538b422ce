//! Header transforms (KIP-145): `InsertHeader`, `DropHeaders`, `HeaderFrom$Key`/`$Value`
//! (`org.apache.kafka.connect.transforms`, Kafka 3.7).

use crate::config_def::{ConfigDef, ConfigKey, ConfigType, Default, Importance};
use crate::connector::Config;
use crate::data::{ConnectError, ConnectRecord, Schema, Struct, Value};
use crate::transforms::util::{
    copy_basics, map_get, non_empty_list, one_of, parse, require_map, require_struct, SchemaCache,
    Side,
};
use crate::transforms::Transform;

/// `InsertHeader`: appends header `header` with `value.literal` parsed as Kafka's `Values`.
#[derive(Debug, Default)]
pub(crate) struct InsertHeader {
    header: String,
    literal: String,
}

/// `InsertHeader`'s keys.
pub(crate) fn insert_header_def() -> ConfigDef {
    let non_null = |_: &crate::config_def::ConfigValue| Ok(());
    ConfigDef::new()
        .define(
            ConfigKey::new(
                "header",
                ConfigType::String,
                Default::Required,
                Importance::High,
                "The name of the header.",
            )
            .validate_with(non_null),
        )
        .define(
            ConfigKey::new(
                "value.literal",
                ConfigType::String,
                Default::Required,
                Importance::High,
                "The literal value that is to be set as the header value on all records.",
            )
            .validate_with(non_null),
        )
}

impl Transform for InsertHeader {
    fn configure(&mut self, config: &Config) -> Result<(), ConnectError> {
        let parsed = parse(&insert_header_def(), config)?;
        self.header = parsed.string("header").unwrap_or_default().to_string();
        self.literal = parsed
            .string("value.literal")
            .unwrap_or_default()
            .to_string();
        Ok(())
    }

    fn apply(&mut self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>, ConnectError> {
        let parsed = crate::values::parse_string(&self.literal);
        record
            .headers
            .add(self.header.clone(), parsed.schema, parsed.value);
        Ok(Some(record))
    }
}

/// `DropHeaders`: removes every header whose key is listed in `headers`.
#[derive(Debug, Default)]
pub(crate) struct DropHeaders {
    headers: Vec<String>,
}

/// `DropHeaders`' keys.
pub(crate) fn drop_headers_def() -> ConfigDef {
    ConfigDef::new().define(
        ConfigKey::new(
            "headers",
            ConfigType::List,
            Default::Required,
            Importance::High,
            "The name of the headers to be removed.",
        )
        .validate_with(non_empty_list),
    )
}

impl Transform for DropHeaders {
    fn configure(&mut self, config: &Config) -> Result<(), ConnectError> {
        let parsed = parse(&drop_headers_def(), config)?;
        self.headers = parsed.list("headers").to_vec();
        Ok(())
    }

    fn apply(&mut self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>, ConnectError> {
        record
            .headers
            .0
            .retain(|header| !self.headers.contains(&header.key));
        Ok(Some(record))
    }
}

/// `HeaderFrom$Key`/`$Value`: copies or moves fields into headers.
#[derive(Debug)]
pub(crate) struct HeaderFrom {
    side: Side,
    fields: Vec<String>,
    headers: Vec<String>,
    moving: bool,
    cache: SchemaCache,
}

impl HeaderFrom {
    /// A `HeaderFrom` on `side`.
    pub(crate) fn new(side: Side) -> HeaderFrom {
        HeaderFrom {
            side,
            fields: Vec::new(),
            headers: Vec::new(),
            moving: false,
            cache: SchemaCache::default(),
        }
    }
}

/// `HeaderFrom`'s keys.
pub(crate) fn header_from_def() -> ConfigDef {
    ConfigDef::new()
        .define(
            ConfigKey::new(
                "fields",
                ConfigType::List,
                Default::Required,
                Importance::High,
                "Field names in the record whose values are to be copied or moved to headers.",
            )
            .validate_with(non_empty_list),
        )
        .define(
            ConfigKey::new(
                "headers",
                ConfigType::List,
                Default::Required,
                Importance::High,
                "Header names, in the same order as the field names listed in the fields configuration property.",
            )
            .validate_with(non_empty_list),
        )
        .define(
            ConfigKey::new(
                "operation",
                ConfigType::String,
                Default::Required,
                Importance::High,
                "Either <code>move</code> if the fields are to be moved to the headers (removed from the key/value), \
                 or <code>copy</code> if the fields are to be copied to the headers (retained in the key/value).",
            )
            .validate_with(one_of(&["move", "copy"])),
        )
}

impl Transform for HeaderFrom {
    fn configure(&mut self, config: &Config) -> Result<(), ConnectError> {
        let parsed = parse(&header_from_def(), config)?;
        self.fields = parsed.list("fields").to_vec();
        self.headers = parsed.list("headers").to_vec();
        if self.fields.len() != self.headers.len() {
            return Err(ConnectError::config(
                "'fields' config must have the same number of elements as 'headers' config.",
            ));
        }
        self.moving = parsed.string("operation") == Some("move");
        self.cache = SchemaCache::default();
        Ok(())
    }

    fn apply(&mut self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>, ConnectError> {
        let purpose = if self.moving {
            "header move"
        } else {
            "header copy"
        };
        let value = self.side.value(&record);
        match self.side.schema(&record).cloned() {
            None => {
                let pairs = require_map(value, purpose)?;
                let mut updated = pairs.clone();
                let mut added = Vec::new();
                for (field, header) in self.fields.iter().zip(&self.headers) {
                    added.push((
                        header.clone(),
                        map_get(pairs, field).cloned().unwrap_or_default(),
                    ));
                    if self.moving {
                        updated.retain(|(k, _)| k.as_str() != Some(field.as_str()));
                    }
                }
                for (header, value) in added {
                    record.headers.add(header, None, value);
                }
                self.side.set(&mut record, None, Value::Map(updated));
            }
            Some(schema) => {
                let current = require_struct(value, purpose)?.clone();
                let mut added = Vec::new();
                for (field, header) in self.fields.iter().zip(&self.headers) {
                    // DIVERGE: Kafka 3.7 throws a NullPointerException here.
                    let field_schema = schema
                        .field(field)
                        .ok_or_else(|| {
                            ConnectError::data(format!("Field does not exist: {field}"))
                        })?
                        .schema
                        .clone();
                    added.push((
                        header.clone(),
                        field_schema,
                        current.get(field).cloned().unwrap_or_default(),
                    ));
                }
                for (header, field_schema, value) in added {
                    record.headers.add(header, Some(field_schema), value);
                }
                if self.moving {
                    let fields = &self.fields;
                    let moved = self.cache.get_or_build(&schema, |schema| {
                        Ok(copy_basics(
                            schema,
                            Schema::structure(
                                schema
                                    .fields
                                    .iter()
                                    .filter(|f| !fields.contains(&f.name))
                                    .map(|f| (f.name.clone(), f.schema.clone())),
                            ),
                        ))
                    })?;
                    let mut updated = Struct::new(moved.clone());
                    for field in &moved.fields {
                        updated.values[field.index] =
                            current.get(&field.name).cloned().unwrap_or_default();
                    }
                    self.side
                        .set(&mut record, Some(moved), Value::Struct(updated));
                }
            }
        }
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Header, SchemaType};
    use std::sync::Arc;

    use crate::connector::config_from as config;

    #[test]
    fn insert_header_appends() {
        let mut t = InsertHeader::default();
        assert_eq!(
            t.configure(&config(&[("header", "h")]))
                .unwrap_err()
                .message,
            "Missing required configuration \"value.literal\" which has no default value."
        );
        t.configure(&config(&[("header", "h"), ("value.literal", "text")]))
            .unwrap();
        let mut record = ConnectRecord::default();
        record.headers.add("h", None, Value::Int32(1));
        let out = t.apply(record).unwrap().unwrap();
        assert_eq!(out.headers.0.len(), 2);
        assert_eq!(out.headers.0[1].key, "h");
        assert_eq!(
            out.headers.0[1].value,
            crate::values::parse_string("text").value
        );
    }

    #[test]
    fn drop_headers_removes_all_listed() {
        let mut t = DropHeaders::default();
        assert_eq!(
            t.configure(&config(&[("headers", "")]))
                .unwrap_err()
                .message,
            "Invalid value  for configuration headers: Empty list"
        );
        t.configure(&config(&[("headers", "a, b")])).unwrap();
        let mut record = ConnectRecord::default();
        for key in ["a", "c", "b", "a"] {
            record.headers.add(key, None, Value::Null);
        }
        let out = t.apply(record).unwrap().unwrap();
        let keys: Vec<&str> = out
            .headers
            .iter()
            .map(|h: &Header| h.key.as_str())
            .collect();
        assert_eq!(keys, ["c"]);
    }

    fn struct_record() -> ConnectRecord {
        let schema = Arc::new(
            Schema::structure([
                ("a".to_string(), Arc::new(Schema::new(SchemaType::Int32))),
                ("b".to_string(), Arc::new(Schema::new(SchemaType::String))),
            ])
            .with_name("n"),
        );
        let mut value = Struct::new(schema.clone());
        value.put("a", Value::Int32(1)).unwrap();
        value.put("b", Value::String("x".into())).unwrap();
        ConnectRecord {
            value_schema: Some(schema),
            value: Value::Struct(value),
            ..ConnectRecord::default()
        }
    }

    #[test]
    fn header_from_config_errors() {
        let mut t = HeaderFrom::new(Side::Value);
        assert_eq!(
            t.configure(&config(&[
                ("fields", "a,b"),
                ("headers", "h"),
                ("operation", "move")
            ]))
            .unwrap_err()
            .message,
            "'fields' config must have the same number of elements as 'headers' config."
        );
        assert_eq!(
            t.configure(&config(&[
                ("fields", "a"),
                ("headers", "h"),
                ("operation", "swap")
            ]))
            .unwrap_err()
            .message,
            "Invalid value swap for configuration operation: String must be one of: move, copy"
        );
    }

    #[test]
    fn header_from_move_with_schema() {
        let mut t = HeaderFrom::new(Side::Value);
        t.configure(&config(&[
            ("fields", "a"),
            ("headers", "ha"),
            ("operation", "move"),
        ]))
        .unwrap();
        let out = t.apply(struct_record()).unwrap().unwrap();
        let header = &out.headers.0[0];
        assert_eq!(
            (header.key.as_str(), &header.value),
            ("ha", &Value::Int32(1))
        );
        assert_eq!(
            header.schema.as_ref().unwrap().schema_type,
            SchemaType::Int32
        );
        let schema = out.value_schema.unwrap();
        assert_eq!(schema.fields.len(), 1);
        assert_eq!(schema.name.as_deref(), Some("n"));
        let Value::Struct(s) = out.value else {
            panic!()
        };
        assert_eq!(s.get("b"), Some(&Value::String("x".into())));
        t.configure(&config(&[
            ("fields", "zz"),
            ("headers", "h"),
            ("operation", "copy"),
        ]))
        .unwrap();
        assert_eq!(
            t.apply(struct_record()).unwrap_err().message,
            "Field does not exist: zz"
        );
    }

    #[test]
    fn header_from_copy_schemaless() {
        let mut t = HeaderFrom::new(Side::Key);
        t.configure(&config(&[
            ("fields", "a,missing"),
            ("headers", "h1,h2"),
            ("operation", "copy"),
        ]))
        .unwrap();
        let record = ConnectRecord {
            key: Value::Map(vec![(Value::String("a".into()), Value::Int64(7))]),
            ..ConnectRecord::default()
        };
        let out = t.apply(record.clone()).unwrap().unwrap();
        assert_eq!(out.key, record.key);
        assert_eq!(out.headers.0[0].value, Value::Int64(7));
        assert_eq!(out.headers.0[1].value, Value::Null);
        let bad = ConnectRecord {
            key: Value::Int64(1),
            ..ConnectRecord::default()
        };
        assert_eq!(
            t.apply(bad).unwrap_err().message,
            "Only Map objects supported in absence of schema for [header copy], found: java.lang.Long"
        );
    }
}
