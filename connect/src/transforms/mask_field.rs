//! `MaskField$Key`/`$Value` (`org.apache.kafka.connect.transforms.MaskField`, Kafka 3.7):
//! replaces listed fields with an empty value of their type, or a custom replacement.

use num_bigint::BigInt;

use crate::config_def::{ConfigDef, ConfigKey, ConfigType, Default, Importance};
use crate::connector::Config;
use crate::data::{ConnectError, ConnectRecord, Struct, Value};
use crate::transforms::util::{
    non_empty_list, non_empty_string, parse, require_map, require_struct, Side,
};
use crate::transforms::Transform;

const PURPOSE: &str = "mask fields";

/// `MaskField`'s keys.
pub(crate) fn config_def() -> ConfigDef {
    ConfigDef::new()
        .define(
            ConfigKey::new("fields", ConfigType::List, Default::Required, Importance::High, "Names of fields to mask.")
                .validate_with(non_empty_list),
        )
        .define(
            ConfigKey::new(
                "replacement",
                ConfigType::String,
                Default::Null,
                Importance::Low,
                "Custom value replacement, that will be applied to all 'fields' values (numeric or non-empty string values only).",
            )
            .validate_with(non_empty_string),
        )
}

/// `MaskField` on one side.
#[derive(Debug)]
pub(crate) struct MaskField {
    side: Side,
    fields: Vec<String>,
    replacement: Option<String>,
}

impl MaskField {
    /// A `MaskField` on `side`.
    pub(crate) fn new(side: Side) -> MaskField {
        MaskField {
            side,
            fields: Vec::new(),
            replacement: None,
        }
    }

    fn masked(&self, value: &Value) -> Result<Value, ConnectError> {
        if value.is_null() {
            return Ok(Value::Null);
        }
        match &self.replacement {
            None => empty_of(value),
            Some(replacement) => replaced(value, replacement),
        }
    }
}

/// Kafka's `maskWithNullValue`.
fn empty_of(value: &Value) -> Result<Value, ConnectError> {
    Ok(match value {
        Value::Boolean(_) => Value::Boolean(false),
        Value::Int8(_) => Value::Int8(0),
        Value::Int16(_) => Value::Int16(0),
        Value::Int32(_) => Value::Int32(0),
        Value::Int64(_) => Value::Int64(0),
        Value::Float32(_) => Value::Float32(0.0),
        Value::Float64(_) => Value::Float64(0.0),
        Value::Decimal { scale, .. } => Value::Decimal {
            unscaled: BigInt::from(0),
            scale: *scale,
        },
        Value::Timestamp(_) => Value::Timestamp(0),
        Value::String(_) => Value::String(String::new()),
        Value::Array(_) => Value::Array(Vec::new()),
        Value::Map(_) => Value::Map(Vec::new()),
        other => {
            return Err(ConnectError::data(format!(
                "Cannot mask value of type: class {}",
                other.java_class()
            )));
        }
    })
}

/// Kafka's `maskWithCustomReplacement`: the replacement parsed into the value's type.
fn replaced(value: &Value, replacement: &str) -> Result<Value, ConnectError> {
    let not_number = || {
        ConnectError::data(format!(
            "Unable to convert {replacement} (class java.lang.String) to number"
        ))
    };
    // `Values.convertTo*` of a string: an integer, else a decimal number truncated.
    let integer = || -> Result<i64, ConnectError> {
        let text = replacement.trim();
        text.parse::<i64>()
            .or_else(|_| text.parse::<f64>().map(|f| f as i64).map_err(|_| ()))
            .map_err(|_| not_number())
    };
    let float = || replacement.trim().parse::<f64>().map_err(|_| not_number());
    Ok(match value {
        Value::Int8(_) => Value::Int8(integer()? as i8),
        Value::Int16(_) => Value::Int16(integer()? as i16),
        Value::Int32(_) => Value::Int32(integer()? as i32),
        Value::Int64(_) => Value::Int64(integer()?),
        Value::Float32(_) => Value::Float32(float()? as f32),
        Value::Float64(_) => Value::Float64(float()?),
        Value::String(_) => Value::String(replacement.to_string()),
        Value::Decimal { scale, .. } => {
            let (mut unscaled, text_scale) = parse_decimal(replacement).ok_or_else(not_number)?;
            // Keep the schema's scale when the text has no more digits than it.
            if text_scale <= *scale {
                unscaled *= BigInt::from(10).pow((*scale - text_scale) as u32);
                Value::Decimal {
                    unscaled,
                    scale: *scale,
                }
            } else {
                Value::Decimal {
                    unscaled,
                    scale: text_scale,
                }
            }
        }
        other => {
            return Err(ConnectError::data(format!(
                "Cannot mask value of type class {} with custom replacement.",
                other.java_class()
            )));
        }
    })
}

/// `new BigDecimal(text)` for plain notation: the unscaled digits and the scale.
fn parse_decimal(text: &str) -> Option<(BigInt, i32)> {
    let text = text.trim();
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if frac.chars().any(|c| !c.is_ascii_digit()) {
        return None;
    }
    let digits = format!("{int}{frac}");
    let unscaled: BigInt = digits.parse().ok()?;
    Some((unscaled, frac.len() as i32))
}

impl Transform for MaskField {
    fn configure(&mut self, config: &Config) -> Result<(), ConnectError> {
        let parsed = parse(&config_def(), config)?;
        self.fields = parsed.list("fields").to_vec();
        self.replacement = parsed.string("replacement").map(str::to_string);
        Ok(())
    }

    fn apply(&mut self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>, ConnectError> {
        let value = self.side.value(&record);
        match self.side.schema(&record).cloned() {
            None => {
                let mut pairs = require_map(value, PURPOSE)?.clone();
                for field in &self.fields {
                    // Kafka's quirk: a missing field is inserted as null.
                    match pairs
                        .iter_mut()
                        .find(|(k, _)| k.as_str() == Some(field.as_str()))
                    {
                        Some(slot) => slot.1 = self.masked(&slot.1)?,
                        None => pairs.push((Value::String(field.clone()), Value::Null)),
                    }
                }
                self.side.set(&mut record, None, Value::Map(pairs));
            }
            Some(schema) => {
                let current = require_struct(value, PURPOSE)?;
                let mut values = Vec::with_capacity(current.values.len());
                for (field, v) in current.schema.fields.iter().zip(&current.values) {
                    values.push(if self.fields.contains(&field.name) {
                        self.masked(v)?
                    } else {
                        v.clone()
                    });
                }
                let updated = Struct {
                    schema: current.schema.clone(),
                    values,
                };
                self.side
                    .set(&mut record, Some(schema), Value::Struct(updated));
            }
        }
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Schema, SchemaType};
    use std::sync::Arc;

    use crate::connector::config_from as config;

    fn s(x: &str) -> Value {
        Value::String(x.into())
    }

    #[test]
    fn config_errors() {
        let mut t = MaskField::new(Side::Value);
        assert_eq!(
            t.configure(&config(&[("fields", "a"), ("replacement", "")]))
                .unwrap_err()
                .message,
            "Invalid value  for configuration replacement: String must be non-empty"
        );
        assert_eq!(
            t.configure(&config(&[("fields", "")])).unwrap_err().message,
            "Invalid value  for configuration fields: Empty list"
        );
    }

    #[test]
    fn schemaless_masks_to_empty() {
        let mut t = MaskField::new(Side::Value);
        t.configure(&config(&[("fields", "int,str,bool,list,map,missing,nul")]))
            .unwrap();
        let value = Value::Map(vec![
            (s("int"), Value::Int64(42)),
            (s("str"), s("secret")),
            (s("bool"), Value::Boolean(true)),
            (s("list"), Value::Array(vec![Value::Int64(1)])),
            (s("map"), Value::Map(vec![(s("k"), s("v"))])),
            (s("nul"), Value::Null),
            (s("keep"), s("k")),
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
                (s("int"), Value::Int64(0)),
                (s("str"), s("")),
                (s("bool"), Value::Boolean(false)),
                (s("list"), Value::Array(vec![])),
                (s("map"), Value::Map(vec![])),
                (s("nul"), Value::Null),
                (s("keep"), s("k")),
                (s("missing"), Value::Null),
            ])
        );
        // 3.7 has no tombstone pass-through.
        assert_eq!(
            t.apply(ConnectRecord::default()).unwrap_err().message,
            "Only Map objects supported in absence of schema for [mask fields], found: null"
        );
        let bytes = Value::Map(vec![(s("int"), Value::Bytes(vec![1]))]);
        assert_eq!(
            t.apply(ConnectRecord {
                value: bytes,
                ..ConnectRecord::default()
            })
            .unwrap_err()
            .message,
            "Cannot mask value of type: class [B"
        );
    }

    #[test]
    fn with_schema_and_replacement() {
        let mut t = MaskField::new(Side::Value);
        t.configure(&config(&[
            ("fields", "i8,f,str,dec"),
            ("replacement", "123"),
        ]))
        .unwrap();
        let schema = Arc::new(Schema::structure([
            ("i8".to_string(), Arc::new(Schema::new(SchemaType::Int8))),
            ("f".to_string(), Arc::new(Schema::new(SchemaType::Float64))),
            ("str".to_string(), Arc::new(Schema::new(SchemaType::String))),
            ("dec".to_string(), Arc::new(Schema::decimal(2))),
            ("keep".to_string(), Arc::new(Schema::new(SchemaType::Int32))),
        ]));
        let value = Struct {
            schema: schema.clone(),
            values: vec![
                Value::Int8(1),
                Value::Float64(1.5),
                s("x"),
                Value::Decimal {
                    unscaled: BigInt::from(5),
                    scale: 2,
                },
                Value::Int32(9),
            ],
        };
        let record = ConnectRecord {
            value_schema: Some(schema.clone()),
            value: Value::Struct(value),
            ..ConnectRecord::default()
        };
        let out = t.apply(record.clone()).unwrap().unwrap();
        let Value::Struct(out) = out.value else {
            panic!()
        };
        assert_eq!(
            out.values,
            vec![
                Value::Int8(123),
                Value::Float64(123.0),
                s("123"),
                Value::Decimal {
                    unscaled: BigInt::from(12300),
                    scale: 2
                },
                Value::Int32(9)
            ]
        );
        t.configure(&config(&[("fields", "i8"), ("replacement", "foo")]))
            .unwrap();
        assert_eq!(
            t.apply(record.clone()).unwrap_err().message,
            "Unable to convert foo (class java.lang.String) to number"
        );
        let bool_record = ConnectRecord {
            value: Value::Map(vec![(s("i8"), Value::Boolean(true))]),
            ..ConnectRecord::default()
        };
        assert_eq!(
            t.apply(bool_record).unwrap_err().message,
            "Cannot mask value of type class java.lang.Boolean with custom replacement."
        );
    }
}
