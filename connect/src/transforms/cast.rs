//! `Cast$Key`/`$Value` (`org.apache.kafka.connect.transforms.Cast`, Kafka 3.7): casts fields
//! or the whole key/value to another primitive type, Java's conversions included (narrowing
//! wraps, numbers to boolean are `!= 0`, to string as Java prints them, bytes as base64).

use std::sync::Arc;

use base64::Engine;
use num_bigint::BigInt;

use crate::config_def::{ConfigDef, ConfigKey, ConfigType, Default, Importance};
use crate::connector::Config;
use crate::data::{
    ConnectError, ConnectRecord, Schema, SchemaType, Struct, Value, DATE, TIME, TIMESTAMP,
};
use crate::render::{
    decimal_text, java_double_to_string, java_float_to_string, render_date_like, MS_PER_DAY,
};
use crate::transforms::util::{copy_basics, parse, require_map, require_struct, SchemaCache, Side};
use crate::transforms::Transform;

const PURPOSE: &str = "cast types";
const INPUT_TYPES: &str = "[INT8, INT16, INT32, INT64, FLOAT32, FLOAT64, BOOLEAN, STRING, BYTES]";
const OUTPUT_TYPES: &str = "[INT8, INT16, INT32, INT64, FLOAT32, FLOAT64, BOOLEAN, STRING]";

/// `Cast`'s keys. The spec's own checks run in `configure`, with Kafka's exact texts.
pub(crate) fn config_def() -> ConfigDef {
    ConfigDef::new().define(ConfigKey::new(
        "spec",
        ConfigType::List,
        Default::Required,
        Importance::High,
        "List of fields and the type to cast them to of the form field1:type,field2:type to cast fields of \
         Maps or Structs. A single type to cast the entire value. Valid types are int8, int16, int32, \
         int64, float32, float64, boolean, and string. Note that binary fields can only be cast to string.",
    ))
}

fn type_named(name: &str) -> Option<SchemaType> {
    Some(match name.trim().to_ascii_uppercase().as_str() {
        "INT8" => SchemaType::Int8,
        "INT16" => SchemaType::Int16,
        "INT32" => SchemaType::Int32,
        "INT64" => SchemaType::Int64,
        "FLOAT32" => SchemaType::Float32,
        "FLOAT64" => SchemaType::Float64,
        "BOOLEAN" => SchemaType::Boolean,
        "STRING" => SchemaType::String,
        "BYTES" => SchemaType::Bytes,
        "ARRAY" => SchemaType::Array,
        "MAP" => SchemaType::Map,
        "STRUCT" => SchemaType::Struct,
        _ => return None,
    })
}

fn output_type(t: SchemaType) -> Result<SchemaType, ConnectError> {
    if t.is_primitive() && t != SchemaType::Bytes {
        Ok(t)
    } else {
        Err(ConnectError::config(format!(
            "Cast transformation does not support casting to {}; supported types are {OUTPUT_TYPES}",
            t.name()
        )))
    }
}

/// The parsed spec: one whole-value type, or field casts in spec order.
#[derive(Debug, Clone, PartialEq)]
enum Spec {
    Whole(SchemaType),
    Fields(Vec<(String, SchemaType)>),
}

/// Kafka's `parseFieldTypes` with the spec validator's checks.
fn parse_spec(items: &[String]) -> Result<Spec, ConnectError> {
    if items.is_empty() {
        return Err(ConnectError::config(
            "Must specify at least one field to cast.",
        ));
    }
    let mut fields: Vec<(String, SchemaType)> = Vec::new();
    let mut whole = None;
    for item in items {
        let mut parts: Vec<&str> = item.split(':').collect();
        while parts.len() > 1 && parts.last() == Some(&"") {
            parts.pop();
        }
        match parts.as_slice() {
            [single] => {
                let t = type_named(single).ok_or_else(|| {
                    ConnectError::config(format!(
                        "Invalid type found in casting spec: {}",
                        single.trim()
                    ))
                })?;
                whole = Some(output_type(t)?);
            }
            [field, t] => {
                let t = type_named(t).ok_or_else(|| {
                    ConnectError::config(format!(
                        "Invalid type found in casting spec: {}",
                        t.trim()
                    ))
                })?;
                let t = output_type(t)?;
                let field = field.trim().to_string();
                fields.retain(|(f, _)| *f != field);
                fields.push((field, t));
            }
            _ => {
                return Err(ConnectError::config(format!(
                    "Invalid value [{}] for configuration renames: Invalid rename mapping: {item}",
                    items.join(", ")
                )))
            }
        }
    }
    match whole {
        Some(_) if items.len() > 1 => Err(ConnectError::config(
            "Cast transformations that specify a type to cast the entire value to may ony specify a single cast in their spec",
        )),
        Some(t) => Ok(Spec::Whole(t)),
        None => Ok(Spec::Fields(fields)),
    }
}

/// A number read from any numeric value, for Java's `Number.xxxValue()` narrowing.
enum Number {
    Integer(i64),
    Float(f64),
}

fn number_of(value: &Value) -> Option<Number> {
    Some(match value {
        Value::Int8(v) => Number::Integer(i64::from(*v)),
        Value::Int16(v) => Number::Integer(i64::from(*v)),
        Value::Int32(v) => Number::Integer(i64::from(*v)),
        Value::Int64(v) => Number::Integer(*v),
        Value::Float32(v) => Number::Float(f64::from(*v)),
        Value::Float64(v) => Number::Float(*v),
        Value::Decimal { unscaled, scale } => {
            let ten = BigInt::from(10);
            let integral = if *scale <= 0 {
                Some(unscaled * ten.pow(scale.unsigned_abs()))
            } else {
                let divisor = ten.pow(scale.unsigned_abs());
                (unscaled % &divisor == BigInt::from(0)).then(|| unscaled / &divisor)
            };
            match integral.and_then(|i| i64::try_from(i).ok()) {
                Some(i) => Number::Integer(i),
                None => Number::Float(decimal_text(unscaled, *scale).parse().ok()?),
            }
        }
        _ => return None,
    })
}

/// Java's `Number.longValue()` / `intValue()` conversions.
fn as_long(n: &Number) -> i64 {
    match n {
        Number::Integer(i) => *i,
        Number::Float(f) => *f as i64,
    }
}

fn as_int(n: &Number) -> i32 {
    match n {
        Number::Integer(i) => *i as i32,
        Number::Float(f) => *f as i32,
    }
}

fn as_double(n: &Number) -> f64 {
    match n {
        Number::Integer(i) => *i as f64,
        Number::Float(f) => *f,
    }
}

fn unexpected(value: &Value) -> ConnectError {
    ConnectError::data(format!(
        "Unexpected type in Cast transformation: class {}",
        value.java_class()
    ))
}

/// Java's `toString` of a value cast to string.
fn java_text(value: &Value) -> String {
    match value {
        Value::Float32(f) => java_float_to_string(*f),
        Value::Float64(d) => java_double_to_string(*d),
        Value::Bytes(b) => base64::engine::general_purpose::STANDARD.encode(b),
        Value::Timestamp(ms) => render_date_like(*ms),
        other => crate::render::render_value(other),
    }
}

/// Kafka's `castValueToType`: `schema` is the input's schema (None when schemaless).
fn cast_value(
    schema: Option<&Schema>,
    value: &Value,
    target: SchemaType,
) -> Result<Value, ConnectError> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    let inferred = match schema {
        Some(schema) => schema.schema_type,
        None => match value {
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
            _ => {
                return Err(ConnectError::data(format!(
                    "Cast transformation was passed a value of type class {} which is not supported by Connect's data API",
                    value.java_class()
                )))
            }
        },
    };
    if !inferred.is_primitive() {
        return Err(ConnectError::data(format!(
            "Cast transformation does not support casting from {}; supported types are {INPUT_TYPES}",
            inferred.name()
        )));
    }
    // Logical Date/Time/Timestamp become their underlying integer unless cast to string.
    let mut value = value.clone();
    if let (Some(name), Value::Timestamp(ms), true) = (
        schema.and_then(|s| s.name.as_deref()),
        &value,
        target != SchemaType::String,
    ) {
        value = match name {
            DATE => Value::Int32(ms.div_euclid(MS_PER_DAY) as i32),
            TIME => Value::Int32(ms.rem_euclid(MS_PER_DAY) as i32),
            TIMESTAMP => Value::Int64(*ms),
            _ => value,
        };
    }
    let out_of_range = |text: &str| {
        ConnectError::data(format!(
            "Value ({text}) was out of range for requested data type"
        ))
    };
    let number = number_of(&value);
    Ok(match target {
        SchemaType::String => Value::String(java_text(&value)),
        SchemaType::Boolean => Value::Boolean(match (&value, &number) {
            (_, Some(n)) => as_long(n) != 0,
            (Value::Boolean(b), _) => *b,
            (Value::String(s), _) => s.eq_ignore_ascii_case("true"),
            _ => return Err(unexpected(&value)),
        }),
        SchemaType::Float32 | SchemaType::Float64 => {
            let double = match (&value, &number) {
                (_, Some(n)) => as_double(n),
                (Value::Boolean(b), _) => f64::from(u8::from(*b)),
                (Value::String(s), _) => s.trim().parse::<f64>().map_err(|_| out_of_range(s))?,
                _ => return Err(unexpected(&value)),
            };
            if target == SchemaType::Float32 {
                match &value {
                    Value::String(s) => {
                        Value::Float32(s.trim().parse::<f32>().map_err(|_| out_of_range(s))?)
                    }
                    _ => Value::Float32(double as f32),
                }
            } else {
                Value::Float64(double)
            }
        }
        SchemaType::Int8 | SchemaType::Int16 | SchemaType::Int32 | SchemaType::Int64 => {
            if let Value::String(s) = &value {
                return match target {
                    SchemaType::Int8 => s.parse::<i8>().map(Value::Int8),
                    SchemaType::Int16 => s.parse::<i16>().map(Value::Int16),
                    SchemaType::Int32 => s.parse::<i32>().map(Value::Int32),
                    _ => s.parse::<i64>().map(Value::Int64),
                }
                .map_err(|_| out_of_range(s));
            }
            let n = match (&value, &number) {
                (_, Some(n)) => n,
                (Value::Boolean(b), _) => &Number::Integer(i64::from(*b)),
                _ => return Err(unexpected(&value)),
            };
            match target {
                SchemaType::Int8 => Value::Int8(as_int(n) as i8),
                SchemaType::Int16 => Value::Int16(as_int(n) as i16),
                SchemaType::Int32 => Value::Int32(as_int(n)),
                _ => Value::Int64(as_long(n)),
            }
        }
        other => {
            return Err(ConnectError::data(format!(
                "{} is not supported in the Cast transformation.",
                other.name()
            )))
        }
    })
}

/// `Cast` on one side.
#[derive(Debug)]
pub(crate) struct Cast {
    side: Side,
    spec: Spec,
    cache: SchemaCache,
}

impl Cast {
    /// A `Cast` on `side`.
    pub(crate) fn new(side: Side) -> Cast {
        Cast {
            side,
            spec: Spec::Fields(Vec::new()),
            cache: SchemaCache::default(),
        }
    }

    fn field_type(&self, name: &str) -> Option<SchemaType> {
        match &self.spec {
            Spec::Fields(fields) => fields.iter().find(|(f, _)| f == name).map(|(_, t)| *t),
            Spec::Whole(_) => None,
        }
    }

    fn build_schema(&self, schema: &Schema) -> Result<Schema, ConnectError> {
        let mut built = match &self.spec {
            Spec::Whole(t) => copy_basics(schema, Schema::new(*t)),
            Spec::Fields(_) => {
                let mut fields = Vec::new();
                for field in &schema.fields {
                    match self.field_type(&field.name) {
                        Some(t) => {
                            let mut cast = Schema::new(t);
                            cast.optional = field.schema.optional;
                            if let Some(default) = &field.schema.default {
                                cast.default = Some(cast_value(Some(&field.schema), default, t)?);
                            }
                            fields.push((field.name.clone(), Arc::new(cast)));
                        }
                        None => fields.push((field.name.clone(), field.schema.clone())),
                    }
                }
                copy_basics(schema, Schema::structure(fields))
            }
        };
        built.optional = schema.optional;
        if let Some(default) = &schema.default {
            built.default = Some(cast_value(Some(schema), default, built.schema_type)?);
        }
        Ok(built)
    }
}

impl Transform for Cast {
    fn configure(&mut self, config: &Config) -> Result<(), ConnectError> {
        let parsed = parse(&config_def(), config)?;
        self.spec = parse_spec(parsed.list("spec"))?;
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
                let updated = match &self.spec {
                    Spec::Whole(t) => cast_value(None, value, *t)?,
                    Spec::Fields(fields) => {
                        let mut pairs = require_map(value, PURPOSE)?.clone();
                        for (field, t) in fields {
                            let slot = pairs
                                .iter_mut()
                                .find(|(k, _)| k.as_str() == Some(field.as_str()));
                            match slot {
                                Some(slot) => slot.1 = cast_value(None, &slot.1, *t)?,
                                None => pairs.push((Value::String(field.clone()), Value::Null)),
                            }
                        }
                        Value::Map(pairs)
                    }
                };
                self.side.set(&mut record, None, updated);
            }
            Some(schema) => {
                let updated_schema = match self.cache.get(&schema) {
                    Some(hit) => hit,
                    None => {
                        let built = Arc::new(self.build_schema(&schema)?);
                        self.cache.put(schema.clone(), built.clone());
                        built
                    }
                };
                let updated = match &self.spec {
                    Spec::Whole(t) => cast_value(Some(&schema), value, *t)?,
                    Spec::Fields(_) => {
                        let current = require_struct(value, PURPOSE)?;
                        let mut values = Vec::with_capacity(current.values.len());
                        for (field, v) in current.schema.fields.iter().zip(&current.values) {
                            let v = match (v, &field.schema.default) {
                                (Value::Null, Some(default)) => default,
                                _ => v,
                            };
                            values.push(match self.field_type(&field.name) {
                                Some(t) => cast_value(Some(&field.schema), v, t)?,
                                None => v.clone(),
                            });
                        }
                        Value::Struct(Struct {
                            schema: updated_schema.clone(),
                            values,
                        })
                    }
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

    fn configured(side: Side, spec: &str) -> Result<Cast, ConnectError> {
        let mut t = Cast::new(side);
        t.configure(
            &[("spec".to_string(), spec.to_string())]
                .into_iter()
                .collect(),
        )?;
        Ok(t)
    }

    fn whole(spec: &str, value: Value) -> Result<Value, ConnectError> {
        let mut t = configured(Side::Value, spec)?;
        Ok(t.apply(ConnectRecord {
            value,
            ..ConnectRecord::default()
        })?
        .unwrap()
        .value)
    }

    #[test]
    fn config_errors() {
        assert_eq!(
            configured(Side::Value, "").unwrap_err().message,
            "Must specify at least one field to cast."
        );
        assert_eq!(
            configured(Side::Value, "a:foo").unwrap_err().message,
            "Invalid type found in casting spec: foo"
        );
        assert_eq!(
            configured(Side::Value, "int8,a:int16").unwrap_err().message,
            "Cast transformations that specify a type to cast the entire value to may ony specify a single cast in their spec"
        );
        assert_eq!(
            configured(Side::Value, "a:array").unwrap_err().message,
            "Cast transformation does not support casting to ARRAY; supported types are [INT8, INT16, INT32, INT64, FLOAT32, FLOAT64, BOOLEAN, STRING]"
        );
        assert_eq!(
            configured(Side::Value, "a:b:c").unwrap_err().message,
            "Invalid value [a:b:c] for configuration renames: Invalid rename mapping: a:b:c"
        );
        assert!(
            configured(Side::Value, "BOOLEAN").is_ok(),
            "case-insensitive"
        );
    }

    #[test]
    fn whole_value_schemaless() {
        assert_eq!(whole("int8", Value::Int64(300)).unwrap(), Value::Int8(44));
        assert_eq!(
            whole("int16", Value::Float64(42.9)).unwrap(),
            Value::Int16(42)
        );
        assert_eq!(
            whole("int32", Value::Boolean(true)).unwrap(),
            Value::Int32(1)
        );
        assert_eq!(
            whole("int64", Value::String("42".into())).unwrap(),
            Value::Int64(42)
        );
        assert_eq!(
            whole("float32", Value::Int64(42)).unwrap(),
            Value::Float32(42.0)
        );
        assert_eq!(
            whole("float64", Value::String("4.5".into())).unwrap(),
            Value::Float64(4.5)
        );
        assert_eq!(
            whole("boolean", Value::Int64(0)).unwrap(),
            Value::Boolean(false)
        );
        assert_eq!(
            whole("boolean", Value::String("TRUE".into())).unwrap(),
            Value::Boolean(true)
        );
        assert_eq!(
            whole("boolean", Value::String("yes".into())).unwrap(),
            Value::Boolean(false)
        );
        assert_eq!(
            whole("string", Value::Float64(1e10)).unwrap(),
            Value::String("1.0E10".into())
        );
        assert_eq!(
            whole("string", Value::Float32(0.1)).unwrap(),
            Value::String("0.1".into())
        );
        assert_eq!(
            whole("string", Value::Bytes(b"hi".to_vec())).unwrap(),
            Value::String("aGk=".into())
        );
        assert_eq!(whole("int8", Value::Null).unwrap(), Value::Null);
        assert_eq!(
            whole("int8", Value::String("300".into()))
                .unwrap_err()
                .message,
            "Value (300) was out of range for requested data type"
        );
        assert_eq!(
            whole("int8", Value::Bytes(vec![1])).unwrap_err().message,
            "Unexpected type in Cast transformation: class [B"
        );
        assert_eq!(
            whole("int8", Value::Array(vec![])).unwrap_err().message,
            "Cast transformation does not support casting from ARRAY; supported types are [INT8, INT16, INT32, INT64, FLOAT32, FLOAT64, BOOLEAN, STRING, BYTES]"
        );
        assert_eq!(
            whole("int8", Value::Timestamp(0)).unwrap_err().message,
            "Cast transformation was passed a value of type class java.util.Date which is not supported by Connect's data API"
        );
    }

    #[test]
    fn fields_with_schema() {
        let mut t =
            configured(Side::Value, "a:int8,b:string,d:int32,ts:string,dec:float64").unwrap();
        let schema = Arc::new(
            Schema::structure([
                (
                    "a".to_string(),
                    Arc::new(
                        Schema::new(SchemaType::Int32)
                            .optional()
                            .with_default(Value::Int32(300)),
                    ),
                ),
                ("b".to_string(), Arc::new(Schema::new(SchemaType::Boolean))),
                ("d".to_string(), Arc::new(Schema::date())),
                ("ts".to_string(), Arc::new(Schema::timestamp())),
                ("dec".to_string(), Arc::new(Schema::decimal(2))),
                (
                    "keep".to_string(),
                    Arc::new(Schema::new(SchemaType::String)),
                ),
            ])
            .with_name("rec"),
        );
        let value = Struct {
            schema: schema.clone(),
            values: vec![
                Value::Null,
                Value::Boolean(true),
                Value::Timestamp(MS_PER_DAY * 3),
                Value::Timestamp(1_700_000_000_123),
                Value::Decimal {
                    unscaled: BigInt::from(1234),
                    scale: 2,
                },
                Value::String("k".into()),
            ],
        };
        let record = ConnectRecord {
            value_schema: Some(schema),
            value: Value::Struct(value),
            ..ConnectRecord::default()
        };
        let out = t.apply(record).unwrap().unwrap();
        let schema = out.value_schema.unwrap();
        assert_eq!(schema.name.as_deref(), Some("rec"));
        assert_eq!(schema.fields[0].schema.schema_type, SchemaType::Int8);
        assert!(schema.fields[0].schema.optional);
        assert_eq!(schema.fields[0].schema.default, Some(Value::Int8(44)));
        assert_eq!(schema.fields[1].schema.schema_type, SchemaType::String);
        assert_eq!(schema.fields[2].schema.name, None);
        let Value::Struct(s) = out.value else {
            panic!()
        };
        assert_eq!(
            s.values,
            vec![
                Value::Int8(44),
                Value::String("true".into()),
                Value::Int32(3),
                Value::String("2023-11-14T22:13:20.123Z".into()),
                Value::Float64(12.34),
                Value::String("k".into()),
            ]
        );
    }

    /// Kafka's `CastTest.castLogicalToPrimitive` vector.
    #[test]
    fn logical_to_primitive() {
        let mut t = configured(
            Side::Value,
            "date_to_int32:int32,timestamp_to_int64:int64,time_to_int64:int64,decimal_to_int32:int32,\
             timestamp_to_float64:float64,null_timestamp_to_int32:int32",
        )
        .unwrap();
        let schema = Arc::new(Schema::structure([
            ("date_to_int32".to_string(), Arc::new(Schema::date())),
            (
                "timestamp_to_int64".to_string(),
                Arc::new(Schema::timestamp()),
            ),
            ("time_to_int64".to_string(), Arc::new(Schema::time())),
            ("decimal_to_int32".to_string(), Arc::new(Schema::decimal(0))),
            (
                "timestamp_to_float64".to_string(),
                Arc::new(Schema::timestamp()),
            ),
            (
                "null_timestamp_to_int32".to_string(),
                Arc::new(Schema::timestamp().optional()),
            ),
        ]));
        let value = Struct {
            schema: schema.clone(),
            values: vec![
                Value::Timestamp(MS_PER_DAY),
                Value::Timestamp(0),
                Value::Timestamp(1),
                Value::Decimal {
                    unscaled: BigInt::from(i64::from(i32::MAX) + 1),
                    scale: 0,
                },
                Value::Timestamp(i64::MAX),
                Value::Null,
            ],
        };
        let out = t
            .apply(ConnectRecord {
                value_schema: Some(schema),
                value: Value::Struct(value),
                ..ConnectRecord::default()
            })
            .unwrap()
            .unwrap();
        let Value::Struct(s) = out.value else {
            panic!()
        };
        assert_eq!(
            s.values,
            vec![
                Value::Int32(1),
                Value::Int64(0),
                Value::Int64(1),
                Value::Int32(i32::MIN),
                Value::Float64(9.223372036854776E18),
                Value::Null,
            ]
        );
        let types: Vec<SchemaType> = s
            .schema
            .fields
            .iter()
            .map(|f| f.schema.schema_type)
            .collect();
        let (i32t, i64t, f64t) = (SchemaType::Int32, SchemaType::Int64, SchemaType::Float64);
        assert_eq!(types, [i32t, i64t, i64t, i32t, f64t, i32t]);
    }

    #[test]
    fn key_side_schemaless_fields() {
        let mut t = configured(Side::Key, "a:int32").unwrap();
        let key = Value::Map(vec![(Value::String("a".into()), Value::String("7".into()))]);
        let out = t
            .apply(ConnectRecord {
                key,
                value: Value::Int64(1),
                ..ConnectRecord::default()
            })
            .unwrap()
            .unwrap();
        assert_eq!(
            out.key,
            Value::Map(vec![(Value::String("a".into()), Value::Int32(7))])
        );
        assert_eq!(out.value, Value::Int64(1));
        assert_eq!(
            t.apply(ConnectRecord { key: Value::Int64(1), ..ConnectRecord::default() }).unwrap_err().message,
            "Only Map objects supported in absence of schema for [cast types], found: java.lang.Long"
        );
    }
}
