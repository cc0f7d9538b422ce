//! `TimestampConverter$Key`/`$Value`
//! (`org.apache.kafka.connect.transforms.TimestampConverter`, Kafka 3.7): converts a field
//! or the whole key/value between Unix epoch numbers, formatted strings and the Connect
//! Date/Time/Timestamp logical types, through epoch milliseconds in UTC.

use std::sync::Arc;

use crate::config_def::{ConfigDef, ConfigKey, ConfigType, Default, Importance};
use crate::connector::Config;
use crate::data::{
    ConnectError, ConnectRecord, Schema, SchemaType, Struct, Value, DATE, TIME, TIMESTAMP,
};
use crate::render::MS_PER_DAY;
use crate::transforms::date_format::JavaDateFormat;
use crate::transforms::util::{
    copy_basics, one_of, parse, require_map, require_struct, SchemaCache, Side,
};
use crate::transforms::Transform;

const PURPOSE: &str = "converting timestamp formats";

/// `TimestampConverter`'s keys.
pub(crate) fn config_def() -> ConfigDef {
    ConfigDef::new()
        .define(ConfigKey::new(
            "field",
            ConfigType::String,
            Default::Value(String::new()),
            Importance::High,
            "The field containing the timestamp, or empty if the entire value is a timestamp",
        ))
        .define(
            ConfigKey::new(
                "target.type",
                ConfigType::String,
                Default::Required,
                Importance::High,
                "The desired timestamp representation: string, unix, Date, Time, or Timestamp",
            )
            .validate_with(one_of(&["string", "unix", "Date", "Time", "Timestamp"])),
        )
        .define(ConfigKey::new(
            "format",
            ConfigType::String,
            Default::Value(String::new()),
            Importance::Medium,
            "A SimpleDateFormat-compatible format for the timestamp. Used to generate the output when type=string \
             or used to parse the input if the input is a string.",
        ))
        .define(
            ConfigKey::new(
                "unix.precision",
                ConfigType::String,
                Default::Value("milliseconds".into()),
                Importance::Low,
                "The desired Unix precision for the timestamp: seconds, milliseconds, microseconds, or nanoseconds. \
                 Used to generate the output when type=unix or used to parse the input if the input is a Long.\
                 Note: This SMT will cause precision loss during conversions from, and to, values with sub-millisecond components.",
            )
            .validate_with(one_of(&["nanoseconds", "microseconds", "milliseconds", "seconds"])),
        )
}

/// A timestamp representation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    String,
    Unix,
    Date,
    Time,
    Timestamp,
}

impl Kind {
    fn named(name: &str) -> Kind {
        match name {
            "string" => Kind::String,
            "unix" => Kind::Unix,
            "Date" => Kind::Date,
            "Time" => Kind::Time,
            _ => Kind::Timestamp,
        }
    }

    fn schema(self, optional: bool) -> Schema {
        let schema = match self {
            Kind::String => Schema::new(SchemaType::String),
            Kind::Unix => Schema::new(SchemaType::Int64),
            Kind::Date => Schema::date(),
            Kind::Time => Schema::time(),
            Kind::Timestamp => Schema::timestamp(),
        };
        if optional {
            schema.optional()
        } else {
            schema
        }
    }

    /// Kafka's `timestampTypeFromSchema`.
    fn of_schema(schema: &Schema) -> Result<Kind, ConnectError> {
        Ok(match (schema.name.as_deref(), schema.schema_type) {
            (Some(TIMESTAMP), _) => Kind::Timestamp,
            (Some(DATE), _) => Kind::Date,
            (Some(TIME), _) => Kind::Time,
            (_, SchemaType::String) => Kind::String,
            (_, SchemaType::Int64) => Kind::Unix,
            _ => {
                let text = match &schema.name {
                    Some(name) => format!("Schema{{{name}:{}}}", schema.schema_type.name()),
                    None => format!("Schema{{{}}}", schema.schema_type.name()),
                };
                return Err(ConnectError::connect(format!(
                    "Schema {text} does not correspond to a known timestamp type format"
                )));
            }
        })
    }

    /// Kafka's `inferTimestampType`.
    fn of_value(value: &Value) -> Result<Kind, ConnectError> {
        match value {
            Value::Timestamp(_) => Ok(Kind::Timestamp),
            Value::Int64(_) => Ok(Kind::Unix),
            Value::String(_) => Ok(Kind::String),
            other => Err(ConnectError::data(format!(
                "TimestampConverter does not support class {} objects as timestamps",
                other.java_class()
            ))),
        }
    }
}

/// `TimestampConverter` on one side.
#[derive(Debug)]
pub(crate) struct TimestampConverter {
    side: Side,
    field: String,
    target: Kind,
    format: Option<JavaDateFormat>,
    format_text: String,
    precision: String,
    cache: SchemaCache,
}

impl TimestampConverter {
    /// A `TimestampConverter` on `side`.
    pub(crate) fn new(side: Side) -> TimestampConverter {
        TimestampConverter {
            side,
            field: String::new(),
            target: Kind::Timestamp,
            format: None,
            format_text: String::new(),
            precision: "milliseconds".into(),
            cache: SchemaCache::default(),
        }
    }

    /// Epoch ms of `value` read as `kind`.
    fn to_raw(&self, value: &Value, kind: Kind) -> Result<i64, ConnectError> {
        match (kind, value) {
            (Kind::String, Value::String(text)) => {
                let format = self.format.as_ref().ok_or_else(|| {
                    ConnectError::config("TimestampConverter requires format option to be specified when using string timestamps")
                })?;
                format.parse(text).ok_or_else(|| {
                    ConnectError::data(format!(
                        "Could not parse timestamp: value ({text}) does not match pattern ({})",
                        self.format_text
                    ))
                })
            }
            (Kind::String, other) => Err(ConnectError::data(format!(
                "Expected string timestamp to be a String, but found class {}",
                other.java_class()
            ))),
            (Kind::Unix, Value::Int64(n)) => Ok(match self.precision.as_str() {
                "seconds" => n.saturating_mul(1000),
                "microseconds" => n / 1000,
                "nanoseconds" => n / 1_000_000,
                _ => *n,
            }),
            (Kind::Unix, other) => Err(ConnectError::data(format!(
                "Expected Unix timestamp to be a Long, but found class {}",
                other.java_class()
            ))),
            (_, Value::Timestamp(ms)) => Ok(*ms),
            (kind, other) => Err(ConnectError::data(format!(
                "Expected {} to be a java.util.Date, but found class {}",
                match kind {
                    Kind::Date => "Date",
                    Kind::Time => "Time",
                    _ => "Timestamp",
                },
                other.java_class()
            ))),
        }
    }

    fn to_target(&self, ms: i64) -> Value {
        match self.target {
            Kind::String => Value::String(
                self.format
                    .as_ref()
                    .map(|f| f.format(ms))
                    .unwrap_or_default(),
            ),
            Kind::Unix => Value::Int64(match self.precision.as_str() {
                "seconds" => ms / 1000,
                "microseconds" => ms.saturating_mul(1000),
                "nanoseconds" => ms.saturating_mul(1_000_000),
                _ => ms,
            }),
            Kind::Date => Value::Timestamp(ms - ms.rem_euclid(MS_PER_DAY)),
            Kind::Time => Value::Timestamp(ms.rem_euclid(MS_PER_DAY)),
            Kind::Timestamp => Value::Timestamp(ms),
        }
    }

    fn convert(&self, value: &Value, kind: Option<Kind>) -> Result<Value, ConnectError> {
        if value.is_null() {
            return Ok(Value::Null);
        }
        let kind = match kind {
            Some(kind) => kind,
            None => Kind::of_value(value)?,
        };
        Ok(self.to_target(self.to_raw(value, kind)?))
    }

    fn convert_struct(&self, value: &Struct, schema: &Arc<Schema>) -> Result<Struct, ConnectError> {
        let mut values = Vec::with_capacity(value.values.len());
        for (field, v) in value.schema.fields.iter().zip(&value.values) {
            let v = match (v, &field.schema.default) {
                (Value::Null, Some(default)) => default,
                _ => v,
            };
            values.push(if field.name == self.field {
                self.convert(v, Some(Kind::of_schema(&field.schema)?))?
            } else {
                v.clone()
            });
        }
        Ok(Struct {
            schema: schema.clone(),
            values,
        })
    }
}

impl Transform for TimestampConverter {
    fn configure(&mut self, config: &Config) -> Result<(), ConnectError> {
        let parsed = parse(&config_def(), config)?;
        self.field = parsed.string("field").unwrap_or_default().to_string();
        self.target = Kind::named(parsed.string("target.type").unwrap_or_default());
        self.precision = parsed
            .string("unix.precision")
            .unwrap_or("milliseconds")
            .to_string();
        self.format_text = parsed.string("format").unwrap_or_default().to_string();
        if self.target == Kind::String && self.format_text.trim().is_empty() {
            return Err(ConnectError::config(
                "TimestampConverter requires format option to be specified when using string timestamps",
            ));
        }
        self.format = if self.format_text.trim().is_empty() {
            None
        } else {
            Some(JavaDateFormat::new(&self.format_text).map_err(|reason| {
                ConnectError::config(format!(
                    "TimestampConverter requires a SimpleDateFormat-compatible pattern for string timestamps: {}",
                    self.format_text
                ))
                .with_cause(ConnectError::config(reason))
            })?)
        };
        self.cache = SchemaCache::default();
        Ok(())
    }

    fn apply(&mut self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>, ConnectError> {
        let value = self.side.value(&record);
        match self.side.schema(&record).cloned() {
            None => {
                let updated = if value.is_null() || self.field.is_empty() {
                    self.convert(value, None)?
                } else {
                    let mut pairs = require_map(value, PURPOSE)?.clone();
                    match pairs
                        .iter_mut()
                        .find(|(k, _)| k.as_str() == Some(self.field.as_str()))
                    {
                        Some(slot) => slot.1 = self.convert(&slot.1, None)?,
                        None => pairs.push((Value::String(self.field.clone()), Value::Null)),
                    }
                    Value::Map(pairs)
                };
                self.side.set(&mut record, None, updated);
            }
            Some(schema) if self.field.is_empty() => {
                let updated = self.convert(value, Some(Kind::of_schema(&schema)?))?;
                self.side.set(
                    &mut record,
                    Some(Arc::new(self.target.schema(schema.optional))),
                    updated,
                );
            }
            Some(schema) => {
                let current = if value.is_null() {
                    None
                } else {
                    Some(require_struct(value, PURPOSE)?.clone())
                };
                let updated_schema = match self.cache.get(&schema) {
                    Some(hit) => hit,
                    None => {
                        let fields = schema.fields.iter().map(|f| {
                            let s = if f.name == self.field {
                                Arc::new(self.target.schema(f.schema.optional))
                            } else {
                                f.schema.clone()
                            };
                            (f.name.clone(), s)
                        });
                        let mut built = copy_basics(&schema, Schema::structure(fields));
                        built.optional = schema.optional;
                        let built = Arc::new(built);
                        let built = match &schema.default {
                            Some(Value::Struct(default)) => {
                                let converted = self.convert_struct(default, &built)?;
                                let mut with_default = (*built).clone();
                                with_default.default = Some(Value::Struct(converted));
                                Arc::new(with_default)
                            }
                            _ => built,
                        };
                        self.cache.put(schema.clone(), built.clone());
                        built
                    }
                };
                let updated = match current {
                    Some(current) => Value::Struct(self.convert_struct(&current, &updated_schema)?),
                    None => Value::Null,
                };
                self.side.set(&mut record, Some(updated_schema), updated);
            }
        }
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATE_PLUS_TIME: i64 = 1_483_425_001_864; // 2017-01-03T06:30:01.864Z
    const DATE_ONLY: i64 = 1_483_401_600_000; // 2017-01-03T00:00:00Z
    const TIME_ONLY: i64 = 23_401_864; // 06:30:01.864

    fn configured(side: Side, pairs: &[(&str, &str)]) -> Result<TimestampConverter, ConnectError> {
        let mut t = TimestampConverter::new(side);
        t.configure(
            &pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )?;
        Ok(t)
    }

    fn whole(
        pairs: &[(&str, &str)],
        schema: Option<Schema>,
        value: Value,
    ) -> Result<ConnectRecord, ConnectError> {
        let mut t = configured(Side::Value, pairs)?;
        Ok(t.apply(ConnectRecord {
            value_schema: schema.map(Arc::new),
            value,
            ..ConnectRecord::default()
        })?
        .unwrap())
    }

    #[test]
    fn config_errors() {
        assert_eq!(
            configured(Side::Value, &[("target.type", "date")]).unwrap_err().message,
            "Invalid value date for configuration target.type: String must be one of: string, unix, Date, Time, Timestamp"
        );
        assert_eq!(
            configured(Side::Value, &[("target.type", "string")]).unwrap_err().message,
            "TimestampConverter requires format option to be specified when using string timestamps"
        );
        assert_eq!(
            configured(Side::Value, &[("target.type", "string"), ("format", "bad-formatq")]).unwrap_err().message,
            "TimestampConverter requires a SimpleDateFormat-compatible pattern for string timestamps: bad-formatq"
        );
        assert_eq!(
            configured(Side::Value, &[("target.type", "unix"), ("unix.precision", "minutes")]).unwrap_err().message,
            "Invalid value minutes for configuration unix.precision: String must be one of: nanoseconds, microseconds, milliseconds, seconds"
        );
    }

    #[test]
    fn schemaless_whole_value() {
        let fmt = ("format", "yyyy MM dd HH mm ss SSS z");
        let out = whole(
            &[("target.type", "string"), fmt],
            None,
            Value::Timestamp(DATE_PLUS_TIME),
        )
        .unwrap();
        assert_eq!(
            out.value,
            Value::String("2017 01 03 06 30 01 864 UTC".into())
        );
        let out = whole(
            &[("target.type", "Timestamp"), fmt],
            None,
            Value::String("2017 01 03 06 30 01 864 UTC".into()),
        )
        .unwrap();
        assert_eq!(out.value, Value::Timestamp(DATE_PLUS_TIME));
        let out = whole(
            &[("target.type", "Date")],
            None,
            Value::Int64(DATE_PLUS_TIME),
        )
        .unwrap();
        assert_eq!(out.value, Value::Timestamp(DATE_ONLY));
        let out = whole(
            &[("target.type", "Time")],
            None,
            Value::Timestamp(DATE_PLUS_TIME),
        )
        .unwrap();
        assert_eq!(out.value, Value::Timestamp(TIME_ONLY));
        let out = whole(
            &[("target.type", "unix"), ("unix.precision", "seconds")],
            None,
            Value::Timestamp(DATE_PLUS_TIME),
        )
        .unwrap();
        assert_eq!(out.value, Value::Int64(1_483_425_001));
        let out = whole(
            &[
                ("target.type", "Timestamp"),
                ("unix.precision", "microseconds"),
            ],
            None,
            Value::Int64(DATE_PLUS_TIME * 1000 + 123),
        )
        .unwrap();
        assert_eq!(out.value, Value::Timestamp(DATE_PLUS_TIME));
        assert!(whole(&[("target.type", "unix")], None, Value::Null)
            .unwrap()
            .value
            .is_null());
        assert_eq!(
            whole(
                &[("target.type", "Timestamp"), ("format", "yyyy-MM-dd")],
                None,
                Value::String("nope".into())
            )
            .unwrap_err()
            .message,
            "Could not parse timestamp: value (nope) does not match pattern (yyyy-MM-dd)"
        );
        assert_eq!(
            whole(&[("target.type", "unix")], None, Value::Boolean(true))
                .unwrap_err()
                .message,
            "TimestampConverter does not support class java.lang.Boolean objects as timestamps"
        );
    }

    #[test]
    fn with_schema_whole_and_field() {
        let out = whole(
            &[("target.type", "Date")],
            Some(Schema::timestamp().optional()),
            Value::Timestamp(DATE_PLUS_TIME),
        )
        .unwrap();
        assert_eq!(out.value, Value::Timestamp(DATE_ONLY));
        let schema = out.value_schema.unwrap();
        assert_eq!(
            (schema.name.as_deref(), schema.optional),
            (Some(DATE), true)
        );
        let out = whole(
            &[("target.type", "unix")],
            Some(Schema::time()),
            Value::Timestamp(TIME_ONLY),
        )
        .unwrap();
        assert_eq!(out.value, Value::Int64(TIME_ONLY));
        assert_eq!(out.value_schema.unwrap().schema_type, SchemaType::Int64);
        assert_eq!(
            whole(
                &[("target.type", "unix")],
                Some(Schema::new(SchemaType::Int32)),
                Value::Int32(1)
            )
            .unwrap_err()
            .message,
            "Schema Schema{INT32} does not correspond to a known timestamp type format"
        );

        let mut t = configured(
            Side::Key,
            &[
                ("target.type", "string"),
                ("field", "ts"),
                ("format", "yyyy-MM-dd"),
            ],
        )
        .unwrap();
        let schema = Arc::new(Schema::structure([
            ("ts".to_string(), Arc::new(Schema::new(SchemaType::Int64))),
            (
                "other".to_string(),
                Arc::new(Schema::new(SchemaType::String)),
            ),
        ]));
        let key = Struct {
            schema: schema.clone(),
            values: vec![Value::Int64(DATE_PLUS_TIME), Value::String("o".into())],
        };
        let out = t
            .apply(ConnectRecord {
                key_schema: Some(schema),
                key: Value::Struct(key),
                ..ConnectRecord::default()
            })
            .unwrap()
            .unwrap();
        let Value::Struct(s) = out.key else { panic!() };
        assert_eq!(
            s.values,
            vec![
                Value::String("2017-01-03".into()),
                Value::String("o".into())
            ]
        );
        assert_eq!(s.schema.fields[0].schema.schema_type, SchemaType::String);
    }

    #[test]
    fn schemaless_field() {
        let mut t = configured(
            Side::Value,
            &[("target.type", "Timestamp"), ("field", "ts")],
        )
        .unwrap();
        let value = Value::Map(vec![(
            Value::String("ts".into()),
            Value::Int64(DATE_PLUS_TIME),
        )]);
        let out = t
            .apply(ConnectRecord {
                value,
                ..ConnectRecord::default()
            })
            .unwrap()
            .unwrap();
        assert_eq!(
            out.value,
            Value::Map(vec![(
                Value::String("ts".into()),
                Value::Timestamp(DATE_PLUS_TIME)
            )])
        );
        assert_eq!(
            t.apply(ConnectRecord { value: Value::Int64(1), ..ConnectRecord::default() }).unwrap_err().message,
            "Only Map objects supported in absence of schema for [converting timestamp formats], found: java.lang.Long"
        );
    }
}
