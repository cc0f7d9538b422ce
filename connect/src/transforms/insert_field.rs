//! `InsertField$Key`/`$Value` (`org.apache.kafka.connect.transforms.InsertField`, Kafka 3.7):
//! inserts the topic, partition, offset, timestamp and/or a static value as fields.

use std::sync::Arc;

use crate::config_def::{ConfigDef, ConfigKey, ConfigType, Default, Importance};
use crate::connector::Config;
use crate::data::{ConnectError, ConnectRecord, Schema, SchemaType, Struct, Value};
use crate::transforms::util::{
    copy_basics, parse, require_map, require_sink_record, require_struct, SchemaCache, Side,
};
use crate::transforms::Transform;

const PURPOSE: &str = "field insertion";
const OPTIONALITY_DOC: &str =
    "Suffix with <code>!</code> to make this a required field, or <code>?</code> to keep it optional (the default).";

/// `InsertField`'s keys.
pub(crate) fn config_def() -> ConfigDef {
    let key = |name: &str, doc: String| {
        ConfigKey::new(
            name,
            ConfigType::String,
            Default::Null,
            Importance::Medium,
            &doc,
        )
    };
    ConfigDef::new()
        .define(key("topic.field", format!("Field name for Kafka topic. {OPTIONALITY_DOC}")))
        .define(key("partition.field", format!("Field name for Kafka partition. {OPTIONALITY_DOC}")))
        .define(key(
            "offset.field",
            format!("Field name for Kafka offset - only applicable to sink connectors.<br/>{OPTIONALITY_DOC}"),
        ))
        .define(key("timestamp.field", format!("Field name for record timestamp. {OPTIONALITY_DOC}")))
        .define(key("static.field", format!("Field name for static data field. {OPTIONALITY_DOC}")))
        .define(key("static.value", "Static field value, if field name configured.".to_string()))
}

/// A field to insert: its name and whether its schema is optional (`name?`, the default)
/// or required (`name!`).
#[derive(Debug, Clone)]
struct Spec {
    name: String,
    optional: bool,
}

fn spec(text: Option<&str>) -> Option<Spec> {
    let text = text?;
    Some(if let Some(name) = text.strip_suffix('?') {
        Spec {
            name: name.to_string(),
            optional: true,
        }
    } else if let Some(name) = text.strip_suffix('!') {
        Spec {
            name: name.to_string(),
            optional: false,
        }
    } else {
        Spec {
            name: text.to_string(),
            optional: true,
        }
    })
}

/// `InsertField` on one side.
#[derive(Debug)]
pub(crate) struct InsertField {
    side: Side,
    topic: Option<Spec>,
    partition: Option<Spec>,
    offset: Option<Spec>,
    timestamp: Option<Spec>,
    static_field: Option<Spec>,
    static_value: Option<String>,
    cache: SchemaCache,
}

impl InsertField {
    /// An `InsertField` on `side`.
    pub(crate) fn new(side: Side) -> InsertField {
        InsertField {
            side,
            topic: None,
            partition: None,
            offset: None,
            timestamp: None,
            static_field: None,
            static_value: None,
            cache: SchemaCache::default(),
        }
    }

    fn updated_schema(&self, schema: &Schema) -> Result<Schema, ConnectError> {
        let mut fields: Vec<(String, Arc<Schema>)> = schema
            .fields
            .iter()
            .map(|f| (f.name.clone(), f.schema.clone()))
            .collect();
        let mut add = |spec: &Option<Spec>, field_schema: Schema| -> Result<(), ConnectError> {
            if let Some(spec) = spec {
                if fields.iter().any(|(name, _)| *name == spec.name) {
                    return Err(ConnectError::data(format!(
                        "Cannot create field because of field name duplication {}",
                        spec.name
                    )));
                }
                let field_schema = if spec.optional {
                    field_schema.optional()
                } else {
                    field_schema
                };
                fields.push((spec.name.clone(), Arc::new(field_schema)));
            }
            Ok(())
        };
        add(&self.topic, Schema::new(SchemaType::String))?;
        add(&self.partition, Schema::new(SchemaType::Int32))?;
        add(&self.offset, Schema::new(SchemaType::Int64))?;
        add(&self.timestamp, Schema::timestamp())?;
        add(&self.static_field, Schema::new(SchemaType::String))?;
        Ok(copy_basics(schema, Schema::structure(fields)))
    }

    /// The (field, value) pairs to insert; `timestamp_value` makes the timestamp's value.
    fn insertions(
        &self,
        record: &ConnectRecord,
        timestamp_value: fn(i64) -> Value,
    ) -> Result<Vec<(String, Value)>, ConnectError> {
        let mut out = Vec::new();
        if let Some(spec) = &self.topic {
            out.push((spec.name.clone(), Value::String(record.topic.clone())));
        }
        if let (Some(spec), Some(partition)) = (&self.partition, record.kafka_partition) {
            out.push((spec.name.clone(), Value::Int32(partition)));
        }
        if let Some(spec) = &self.offset {
            out.push((
                spec.name.clone(),
                Value::Int64(require_sink_record(record, PURPOSE)?),
            ));
        }
        if let (Some(spec), Some(timestamp)) = (&self.timestamp, record.timestamp) {
            out.push((spec.name.clone(), timestamp_value(timestamp)));
        }
        if let (Some(spec), Some(value)) = (&self.static_field, &self.static_value) {
            out.push((spec.name.clone(), Value::String(value.clone())));
        }
        Ok(out)
    }
}

impl Transform for InsertField {
    fn configure(&mut self, config: &Config) -> Result<(), ConnectError> {
        let parsed = parse(&config_def(), config)?;
        self.topic = spec(parsed.string("topic.field"));
        self.partition = spec(parsed.string("partition.field"));
        self.offset = spec(parsed.string("offset.field"));
        self.timestamp = spec(parsed.string("timestamp.field"));
        self.static_field = spec(parsed.string("static.field"));
        self.static_value = parsed.string("static.value").map(str::to_string);
        if self.topic.is_none()
            && self.partition.is_none()
            && self.offset.is_none()
            && self.timestamp.is_none()
            && self.static_field.is_none()
        {
            return Err(ConnectError::config("No field insertion configured"));
        }
        if let (Some(field), None) = (&self.static_field, &self.static_value) {
            return Err(ConnectError::config(format!(
                "Invalid value null for configuration static.value: No value specified for static field: {}",
                field.name
            )));
        }
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
                let mut pairs = require_map(value, PURPOSE)?.clone();
                for (name, inserted) in self.insertions(&record, Value::Int64)? {
                    match pairs
                        .iter_mut()
                        .find(|(k, _)| k.as_str() == Some(name.as_str()))
                    {
                        Some(slot) => slot.1 = inserted,
                        None => pairs.push((Value::String(name), inserted)),
                    }
                }
                self.side.set(&mut record, None, Value::Map(pairs));
            }
            Some(_) => {
                let current = require_struct(value, PURPOSE)?.clone();
                let insertions = self.insertions(&record, Value::Timestamp)?;
                let updated_schema = match self.cache.get(&current.schema) {
                    Some(hit) => hit,
                    None => {
                        let built = Arc::new(self.updated_schema(&current.schema)?);
                        self.cache.put(current.schema.clone(), built.clone());
                        built
                    }
                };
                let mut updated = Struct::new(updated_schema.clone());
                updated.values[..current.values.len()].clone_from_slice(&current.values);
                for (name, inserted) in insertions {
                    updated.put(&name, inserted)?;
                }
                self.side
                    .set(&mut record, Some(updated_schema), Value::Struct(updated));
            }
        }
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::connector::config_from as config;

    fn all() -> Config {
        config(&[
            ("topic.field", "topic_field!"),
            ("partition.field", "partition_field"),
            ("offset.field", "offset_field?"),
            ("timestamp.field", "timestamp_field?"),
            ("static.field", "instance_id"),
            ("static.value", "my-instance-id"),
        ])
    }

    #[test]
    fn config_errors() {
        let mut t = InsertField::new(Side::Value);
        assert_eq!(
            t.configure(&Config::new()).unwrap_err().message,
            "No field insertion configured"
        );
        assert_eq!(
            t.configure(&config(&[("static.field", "s")])).unwrap_err().message,
            "Invalid value null for configuration static.value: No value specified for static field: s"
        );
    }

    #[test]
    fn schemaless_insert_and_source_offset_error() {
        let mut t = InsertField::new(Side::Value);
        t.configure(&all()).unwrap();
        let record = ConnectRecord {
            topic: "test".into(),
            kafka_partition: Some(0),
            kafka_offset: Some(42),
            timestamp: Some(1234),
            value: Value::Map(vec![(Value::String("magic".into()), Value::Int64(42))]),
            ..ConnectRecord::default()
        };
        let out = t.apply(record.clone()).unwrap().unwrap();
        let Value::Map(pairs) = &out.value else {
            panic!()
        };
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(key, _)| key.as_str() == Some(k))
                .map(|(_, v)| v.clone())
        };
        assert_eq!(get("magic"), Some(Value::Int64(42)));
        assert_eq!(get("topic_field"), Some(Value::String("test".into())));
        assert_eq!(get("partition_field"), Some(Value::Int32(0)));
        assert_eq!(get("offset_field"), Some(Value::Int64(42)));
        assert_eq!(get("timestamp_field"), Some(Value::Int64(1234)));
        assert_eq!(
            get("instance_id"),
            Some(Value::String("my-instance-id".into()))
        );
        let source = ConnectRecord {
            kafka_offset: None,
            ..record
        };
        assert_eq!(
            t.apply(source).unwrap_err().message,
            "Only SinkRecord supported for [field insertion], found: org.apache.kafka.connect.source.SourceRecord"
        );
        // Null passes through; a non-map is refused.
        assert!(t
            .apply(ConnectRecord {
                kafka_offset: Some(1),
                ..ConnectRecord::default()
            })
            .unwrap()
            .unwrap()
            .value
            .is_null());
        assert_eq!(
            t.apply(ConnectRecord { kafka_offset: Some(1), value: Value::Int64(1), ..ConnectRecord::default() })
                .unwrap_err()
                .message,
            "Only Map objects supported in absence of schema for [field insertion], found: java.lang.Long"
        );
    }

    #[test]
    fn schema_insert() {
        let mut t = InsertField::new(Side::Value);
        t.configure(&all()).unwrap();
        let schema = Arc::new(
            Schema::structure([(
                "magic".to_string(),
                Arc::new(Schema::new(SchemaType::Int64)),
            )])
            .with_name("name"),
        );
        let mut value = Struct::new(schema.clone());
        value.put("magic", Value::Int64(42)).unwrap();
        let record = ConnectRecord {
            topic: "test".into(),
            kafka_partition: Some(0),
            kafka_offset: Some(42),
            timestamp: Some(1234),
            value_schema: Some(schema),
            value: Value::Struct(value),
            ..ConnectRecord::default()
        };
        let out = t.apply(record).unwrap().unwrap();
        let schema = out.value_schema.unwrap();
        assert_eq!(schema.name.as_deref(), Some("name"));
        let names: Vec<&str> = schema.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "magic",
                "topic_field",
                "partition_field",
                "offset_field",
                "timestamp_field",
                "instance_id"
            ]
        );
        assert!(!schema.fields[1].schema.optional);
        assert!(schema.fields[2].schema.optional);
        assert_eq!(
            schema.fields[4].schema.name.as_deref(),
            Some(crate::data::TIMESTAMP)
        );
        let Value::Struct(s) = out.value else {
            panic!()
        };
        assert_eq!(s.get("timestamp_field"), Some(&Value::Timestamp(1234)));
        assert_eq!(s.get("offset_field"), Some(&Value::Int64(42)));
        assert_eq!(s.get("magic"), Some(&Value::Int64(42)));
    }
}
