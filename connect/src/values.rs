//! Text to Connect values and back, as Kafka's `org.apache.kafka.connect.data.Values`: the
//! parsing SimpleHeaderConverter and InsertHeader use (CONNECT.md c.4).
//!
//! [`parse_string`] follows `Values.parseString` of Kafka 3.7: the same tokenizer (the
//! delimiters `: , { } [ ] "`, `\` escaping one character), the same inference order and
//! the same fall-back to STRING when a text is not a well-formed literal, array or map.
//! [`convert_to_string`] follows `Values.convertToString`.
//!
//! Differences, on purpose: date/time texts are parsed and printed in UTC (Kafka uses the
//! JVM's default zone, UTC in the usual deployment) and strictly (Java's `SimpleDateFormat`
//! is lenient: `2019-13-45` is a date there); a top-level number or date followed by more
//! tokens (`1,2`) is a STRING here, where Kafka 3.7 keeps only the first token.

use std::sync::Arc;

use base64::Engine;
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use num_bigint::BigInt;

use crate::data::{Schema, SchemaAndValue, SchemaType, Value, DATE, DECIMAL, TIME, TIMESTAMP};
use crate::render::{java_double_to_string, java_float_to_string, MS_PER_DAY};

/// Parses `text` inferring its type as Kafka's `Values.parseString`: boolean, the smallest
/// fitting integer, float, ISO date/time/timestamp, `[..]` array, `{..}` map, else STRING.
/// The text `null` gives no schema and [`Value::Null`]; an empty text is an empty STRING.
pub fn parse_string(text: &str) -> SchemaAndValue {
    if text.is_empty() {
        return string(text);
    }
    let mut parser = Parser::new(text);
    match parse(&mut parser, false) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => SchemaAndValue::default(),
        Err(_) => string(text),
    }
}

/// A value's text as Kafka's `Values.convertToString` writes it: strings verbatim, numbers
/// as Java prints them (decimals as `BigDecimal.toString`), dates as
/// `yyyy-MM-dd`/`HH:mm:ss.SSS'Z'`/`yyyy-MM-dd'T'HH:mm:ss.SSS'Z'` (UTC), bytes as base64,
/// arrays `[a,b]`, maps `{k:v}`, structs `{"f":v}`, strings inside those quoted with `"`
/// and `\` escaped. None for null.
pub fn convert_to_string(_schema: Option<&Schema>, value: &Value) -> Option<String> {
    if value.is_null() {
        return None;
    }
    let mut out = String::new();
    append(&mut out, value, false);
    Some(out)
}

fn string(text: &str) -> SchemaAndValue {
    SchemaAndValue {
        schema: Some(Arc::new(Schema::new(SchemaType::String))),
        value: Value::String(text.to_string()),
    }
}

fn append(out: &mut String, value: &Value, embedded: bool) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Int8(v) => out.push_str(&v.to_string()),
        Value::Int16(v) => out.push_str(&v.to_string()),
        Value::Int32(v) => out.push_str(&v.to_string()),
        Value::Int64(v) => out.push_str(&v.to_string()),
        Value::Float32(v) => out.push_str(&java_float_to_string(*v)),
        Value::Float64(v) => out.push_str(&java_double_to_string(*v)),
        Value::Decimal { unscaled, scale } => out.push_str(
            &crate::converters::json::big_decimal_to_string(unscaled, *scale),
        ),
        Value::Boolean(v) => out.push_str(if *v { "true" } else { "false" }),
        Value::String(text) => {
            if embedded {
                out.push('"');
                out.push_str(&text.replace('\\', "\\\\").replace('"', "\\\""));
                out.push('"');
            } else {
                out.push_str(text);
            }
        }
        Value::Bytes(bytes) => {
            let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
            if embedded {
                out.push('"');
                out.push_str(&encoded);
                out.push('"');
            } else {
                out.push_str(&encoded);
            }
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                append(out, item, true);
            }
            out.push(']');
        }
        Value::Map(pairs) => {
            out.push('{');
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                append(out, k, true);
                out.push(':');
                append(out, v, true);
            }
            out.push('}');
        }
        Value::Struct(s) => {
            out.push('{');
            for (i, (field, v)) in s.schema.fields.iter().zip(&s.values).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                append(out, &Value::String(field.name.clone()), true);
                out.push(':');
                append(out, v, true);
            }
            out.push('}');
        }
        Value::Timestamp(ms) => out.push_str(&format_date(*ms)),
    }
}

/// Kafka's `Values.dateFormatFor`: below one day a time, a whole number of days a date,
/// else a timestamp (UTC).
fn format_date(ms: i64) -> String {
    let Some(time) = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms) else {
        return ms.to_string();
    };
    if ms < MS_PER_DAY {
        time.format("%H:%M:%S%.3fZ").to_string()
    } else if ms % MS_PER_DAY == 0 {
        time.format("%Y-%m-%d").to_string()
    } else {
        time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
    }
}

/// Java's `String.trim`: strips characters up to U+0020 at both ends.
fn java_trim(text: &str) -> &str {
    text.trim_matches(|c: char| c <= ' ')
}

fn is_blank(text: &str) -> bool {
    java_trim(text).is_empty()
}

/// Kafka's `Values.Parser`: a tokenizer over the text's characters with one token of
/// look-ahead, marks and rewinds.
struct Parser {
    chars: Vec<char>,
    original: String,
    pos: usize,
    next_token: Option<String>,
    previous: Option<String>,
}

impl Parser {
    fn new(text: &str) -> Parser {
        Parser {
            chars: text.chars().collect(),
            original: text.to_string(),
            pos: 0,
            next_token: None,
            previous: None,
        }
    }

    fn mark(&self) -> usize {
        self.pos - self.next_token.as_ref().map_or(0, |t| t.chars().count())
    }

    fn rewind_to(&mut self, position: usize) {
        self.pos = position;
        self.next_token = None;
        self.previous = None;
    }

    fn has_next(&self) -> bool {
        self.next_token.is_some() || self.pos < self.chars.len()
    }

    fn next(&mut self) -> String {
        let token = match self.next_token.take() {
            Some(token) => token,
            None => self.consume_next_token(),
        };
        self.previous = Some(token.clone());
        token
    }

    fn next_n(&mut self, n: usize) -> Option<String> {
        let start = self.mark();
        for _ in 0..n {
            if !self.has_next() {
                self.rewind_to(start);
                return None;
            }
            self.next();
        }
        Some(self.chars[start..self.pos].iter().collect())
    }

    fn consume_next_token(&mut self) -> String {
        let mut escaped = false;
        let start = self.pos;
        while self.pos < self.chars.len() {
            match self.chars[self.pos] {
                '\\' => escaped = !escaped,
                ':' | ',' | '{' | '}' | '[' | ']' | '"' => {
                    if !escaped {
                        if start < self.pos {
                            return self.chars[start..self.pos].iter().collect();
                        }
                        self.pos += 1;
                        return self.chars[start..start + 1].iter().collect();
                    }
                    escaped = false;
                }
                _ => escaped = false,
            }
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    fn can_consume(&mut self, expected: &str) -> bool {
        if self.is_next(expected) {
            self.next_token = None;
            return true;
        }
        false
    }

    fn is_next(&mut self, expected: &str) -> bool {
        if self.next_token.is_none() {
            if !self.has_next() {
                return false;
            }
            self.next_token = Some(self.consume_next_token());
        }
        while self.next_token.as_deref().is_some_and(is_blank) && self.pos < self.chars.len() {
            self.next_token = Some(self.consume_next_token());
        }
        self.next_token.as_deref().map(java_trim) == Some(expected)
    }
}

fn can_parse_single_token_literal(parser: &mut Parser, embedded: bool, literal: &str) -> bool {
    let start = parser.mark();
    if parser.can_consume(literal) && (embedded || !parser.has_next()) {
        return true;
    }
    parser.rewind_to(start);
    false
}

fn sv(schema: Schema, value: Value) -> SchemaAndValue {
    SchemaAndValue {
        schema: Some(Arc::new(schema)),
        value,
    }
}

/// Kafka's `Values.parse`; `Ok(None)` is Java's null (the literal `null`), `Err` a
/// `DataException` (callers fall back to a STRING).
fn parse(parser: &mut Parser, embedded: bool) -> Result<Option<SchemaAndValue>, String> {
    if !parser.has_next() {
        return Ok(None);
    }
    if embedded && parser.can_consume("\"") {
        let mut content = String::new();
        while parser.has_next() {
            if parser.can_consume("\"") {
                break;
            }
            content.push_str(&parser.next());
        }
        let parsed = parse_string(&content);
        if parsed
            .schema
            .as_ref()
            .and_then(|s| s.name.as_deref())
            .is_some_and(|name| matches!(name, DATE | TIME | TIMESTAMP))
        {
            return Ok(Some(parsed));
        }
        return Ok(Some(string(&content)));
    }
    if can_parse_single_token_literal(parser, embedded, "null") {
        return Ok(None);
    }
    if can_parse_single_token_literal(parser, embedded, "true") {
        return Ok(Some(sv(
            Schema::new(SchemaType::Boolean),
            Value::Boolean(true),
        )));
    }
    if can_parse_single_token_literal(parser, embedded, "false") {
        return Ok(Some(sv(
            Schema::new(SchemaType::Boolean),
            Value::Boolean(false),
        )));
    }

    let start = parser.mark();
    match parse_container(parser) {
        Ok(Some(parsed)) => return Ok(Some(parsed)),
        Ok(None) => {}
        Err(_) => parser.rewind_to(start),
    }

    let token = parser.next();
    if is_blank(&token) {
        return Ok(Some(string(&token)));
    }
    let token = java_trim(&token).to_string();
    let first = token.chars().next().unwrap_or(' ');
    let top_level_done = |parser: &Parser| embedded || !parser.has_next();
    if first.is_ascii_digit() {
        let position = parser.mark();
        if let Some(remainder) = parser.next_n(4) {
            if let Some(temporal) = parse_as_temporal(&format!("{token}{remainder}")) {
                if top_level_done(parser) {
                    return Ok(Some(temporal));
                }
            }
        }
        parser.rewind_to(position);
        if let Some(temporal) = parse_as_temporal(&token) {
            if top_level_done(parser) {
                return Ok(Some(temporal));
            }
        }
    }
    if first.is_ascii_digit() || first == '+' || first == '-' {
        if let Some(number) = parse_number(&token) {
            if top_level_done(parser) {
                return Ok(Some(number));
            }
        }
    }
    if embedded {
        return Err("Failed to parse embedded value".to_string());
    }
    Ok(Some(string(&parser.original)))
}

/// The array or map at the parser, `Ok(None)` when the next token opens neither.
fn parse_container(parser: &mut Parser) -> Result<Option<SchemaAndValue>, String> {
    if parser.can_consume("[") {
        let mut items: Vec<Value> = Vec::new();
        let mut element_schema: Option<Arc<Schema>> = None;
        while parser.has_next() {
            if parser.can_consume("]") {
                let schema = match element_schema {
                    Some(element_schema) => {
                        items = items
                            .into_iter()
                            .map(|item| convert_to(&element_schema, item))
                            .collect::<Result<_, _>>()?;
                        Schema::array(element_schema)
                    }
                    None => Schema::new(SchemaType::Array),
                };
                return Ok(Some(sv(schema, Value::Array(items))));
            }
            if parser.can_consume(",") {
                return Err(format!(
                    "Unable to parse an empty array element: {}",
                    parser.original
                ));
            }
            let element = parse(parser, true)?;
            element_schema = common_schema_for(element_schema, element.as_ref());
            items.push(element.map_or(Value::Null, |e| e.value));
            let position = parser.mark();
            if parser.can_consume("]") {
                parser.rewind_to(position);
            } else if !parser.can_consume(",") {
                return Err("Array elements missing ',' delimiter".to_string());
            }
        }
        return Err(format!(
            "Array is missing terminating ']': {}",
            parser.original
        ));
    }
    if parser.can_consume("{") {
        let mut pairs: Vec<(Value, Value)> = Vec::new();
        let mut key_schema: Option<Arc<Schema>> = None;
        let mut value_schema: Option<Arc<Schema>> = None;
        while parser.has_next() {
            if parser.can_consume("}") {
                let schema = match (key_schema, value_schema) {
                    (Some(keys), values) => {
                        let mut aligned = Vec::with_capacity(pairs.len());
                        for (k, v) in pairs {
                            let k = convert_to(&keys, k)?;
                            let v = match &values {
                                Some(values) => convert_to(values, v)?,
                                None => v,
                            };
                            put(&mut aligned, k, v);
                        }
                        pairs = aligned;
                        Schema {
                            key_schema: Some(keys),
                            value_schema: values,
                            ..Schema::new(SchemaType::Map)
                        }
                    }
                    (None, _) => Schema::new(SchemaType::Map),
                };
                return Ok(Some(sv(schema, Value::Map(pairs))));
            }
            if parser.can_consume(",") {
                return Err(format!(
                    "Unable to parse a map entry with no key or value: {}",
                    parser.original
                ));
            }
            let key = parse(parser, true)?;
            let Some(key) = key.filter(|k| !k.value.is_null()) else {
                return Err(format!(
                    "Map entry may not have a null key: {}",
                    parser.original
                ));
            };
            if !parser.can_consume(":") {
                return Err(format!(
                    "Map entry is missing ':' at {} in {}",
                    parser.pos, parser.original
                ));
            }
            let value = parse(parser, true)?;
            put(
                &mut pairs,
                key.value.clone(),
                value.as_ref().map_or(Value::Null, |v| v.value.clone()),
            );
            parser.can_consume(",");
            key_schema = common_schema_for(key_schema, Some(&key));
            value_schema = common_schema_for(value_schema, value.as_ref());
        }
        return Err(format!(
            "Map is missing terminating '}}': {}",
            parser.original
        ));
    }
    Ok(None)
}

/// A `LinkedHashMap.put`: replaces the value of an existing key in place.
fn put(pairs: &mut Vec<(Value, Value)>, key: Value, value: Value) {
    match pairs.iter_mut().find(|(k, _)| *k == key) {
        Some(slot) => slot.1 = value,
        None => pairs.push((key, value)),
    }
}

/// Kafka's `Values.commonSchemaFor`: numeric types widen, equal types keep the optional
/// one, anything else has no common schema.
fn common_schema_for(
    previous: Option<Arc<Schema>>,
    latest: Option<&SchemaAndValue>,
) -> Option<Arc<Schema>> {
    let Some(latest) = latest else {
        return previous;
    };
    let Some(previous) = previous else {
        return latest.schema.clone();
    };
    let new_schema = latest.schema.clone()?;
    let rank = |t: SchemaType| match t {
        SchemaType::Int8 => Some(0),
        SchemaType::Int16 => Some(1),
        SchemaType::Int32 => Some(2),
        SchemaType::Int64 => Some(3),
        SchemaType::Float32 => Some(4),
        SchemaType::Float64 => Some(5),
        _ => None,
    };
    if previous.schema_type != new_schema.schema_type {
        return match (rank(previous.schema_type), rank(new_schema.schema_type)) {
            (Some(p), Some(n)) if n > p => Some(new_schema),
            (Some(_), Some(_)) => Some(previous),
            _ => None,
        };
    }
    if previous.optional == new_schema.optional {
        return Some(if previous.optional {
            previous
        } else {
            new_schema
        });
    }
    if *previous != *new_schema {
        return None;
    }
    Some(previous)
}

/// The subset of Kafka's `Values.convertTo` that aligning parsed elements needs: numeric
/// widening, identity, and the null check.
fn convert_to(to: &Schema, value: Value) -> Result<Value, String> {
    if value.is_null() {
        return if to.optional {
            Ok(Value::Null)
        } else {
            Err("Unable to convert a null value to a schema that requires a value".to_string())
        };
    }
    if to.logical_name().is_some() {
        return match (to.logical_name(), &value) {
            (Some(DECIMAL), Value::Decimal { .. })
            | (Some(DATE | TIME | TIMESTAMP), Value::Timestamp(_)) => Ok(value),
            _ => Err(format!("Unable to convert {value:?} to {:?}", to.name)),
        };
    }
    let as_f64 = |value: &Value| match value {
        Value::Int8(v) => Some(f64::from(*v)),
        Value::Int16(v) => Some(f64::from(*v)),
        Value::Int32(v) => Some(f64::from(*v)),
        Value::Int64(v) => Some(*v as f64),
        Value::Float32(v) => Some(f64::from(*v)),
        Value::Float64(v) => Some(*v),
        _ => None,
    };
    let as_i64 = |value: &Value| match value {
        Value::Int8(v) => Some(i64::from(*v)),
        Value::Int16(v) => Some(i64::from(*v)),
        Value::Int32(v) => Some(i64::from(*v)),
        Value::Int64(v) => Some(*v),
        Value::Float32(v) => Some(*v as i64),
        Value::Float64(v) => Some(*v as i64),
        _ => None,
    };
    let fail = || {
        format!(
            "Unable to convert a value of type {} to {}",
            value.java_class(),
            to.schema_type.name()
        )
    };
    Ok(match to.schema_type {
        SchemaType::Int8 => Value::Int8(as_i64(&value).ok_or_else(fail)? as i8),
        SchemaType::Int16 => Value::Int16(as_i64(&value).ok_or_else(fail)? as i16),
        SchemaType::Int32 => Value::Int32(as_i64(&value).ok_or_else(fail)? as i32),
        SchemaType::Int64 => Value::Int64(as_i64(&value).ok_or_else(fail)?),
        SchemaType::Float32 => match value {
            Value::Float32(v) => Value::Float32(v),
            ref other => Value::Float32(as_f64(other).ok_or_else(fail)? as f32),
        },
        SchemaType::Float64 => Value::Float64(as_f64(&value).ok_or_else(fail)?),
        SchemaType::String => Value::String(convert_to_string(None, &value).unwrap_or_default()),
        SchemaType::Boolean => match value {
            Value::Boolean(_) => value,
            ref other => Value::Boolean(as_i64(other).ok_or_else(fail)? != 0),
        },
        SchemaType::Bytes => match value {
            Value::Bytes(_) => value,
            _ => return Err(fail()),
        },
        SchemaType::Array => match value {
            Value::Array(_) => value,
            _ => return Err(fail()),
        },
        SchemaType::Map => match value {
            Value::Map(_) => value,
            _ => return Err(fail()),
        },
        SchemaType::Struct => match value {
            Value::Struct(_) => value,
            _ => return Err(fail()),
        },
    })
}

/// A date (`yyyy-MM-dd`), time (`HH:mm:ss.SSS'Z'`) or timestamp
/// (`yyyy-MM-dd'T'HH:mm:ss.SSS'Z'`) text, chosen by length as Kafka does; `\:` counts as `:`.
fn parse_as_temporal(token: &str) -> Option<SchemaAndValue> {
    let token = token.replace("\\:", ":");
    match token.chars().count() {
        13 => {
            let time = NaiveTime::parse_from_str(&token, "%H:%M:%S%.3fZ").ok()?;
            let ms = time
                .signed_duration_since(NaiveTime::MIN)
                .num_milliseconds();
            Some(sv(Schema::time(), Value::Timestamp(ms)))
        }
        24 => {
            let at = NaiveDateTime::parse_from_str(&token, "%Y-%m-%dT%H:%M:%S%.3fZ").ok()?;
            Some(sv(
                Schema::timestamp(),
                Value::Timestamp(at.and_utc().timestamp_millis()),
            ))
        }
        10 => {
            let date = NaiveDate::parse_from_str(&token, "%Y-%m-%d").ok()?;
            let ms = date.and_time(NaiveTime::MIN).and_utc().timestamp_millis();
            Some(sv(Schema::date(), Value::Timestamp(ms)))
        }
        _ => None,
    }
}

/// `new BigDecimal(token)` then the smallest exact integer type, else FLOAT32 / FLOAT64 when
/// finite and the scale is not 0, else a Decimal with the text's scale.
fn parse_number(token: &str) -> Option<SchemaAndValue> {
    let (unscaled, scale) = parse_big_decimal(token)?;
    if let Some(int) = exact_integer(&unscaled, scale) {
        if let Ok(v) = i8::try_from(int) {
            return Some(sv(Schema::new(SchemaType::Int8), Value::Int8(v)));
        }
        if let Ok(v) = i16::try_from(int) {
            return Some(sv(Schema::new(SchemaType::Int16), Value::Int16(v)));
        }
        if let Ok(v) = i32::try_from(int) {
            return Some(sv(Schema::new(SchemaType::Int32), Value::Int32(v)));
        }
        return Some(sv(Schema::new(SchemaType::Int64), Value::Int64(int)));
    }
    let plain = crate::converters::json::big_decimal_to_string(&unscaled, scale);
    if scale != 0 {
        if let Ok(f) = plain.parse::<f32>() {
            if f.is_finite() {
                return Some(sv(Schema::new(SchemaType::Float32), Value::Float32(f)));
            }
        }
        if let Ok(d) = plain.parse::<f64>() {
            if d.is_finite() {
                return Some(sv(Schema::new(SchemaType::Float64), Value::Float64(d)));
            }
        }
    }
    Some(sv(
        Schema::decimal(scale),
        Value::Decimal { unscaled, scale },
    ))
}

/// Java's `BigDecimal(String)`: sign, digits with an optional point, optional exponent.
fn parse_big_decimal(token: &str) -> Option<(BigInt, i32)> {
    let (sign, rest) = match token.as_bytes().first()? {
        b'+' => ("", &token[1..]),
        b'-' => ("-", &token[1..]),
        _ => ("", token),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(at) => {
            let exp = &rest[at + 1..];
            let exp_digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            if exp_digits.is_empty() || !exp_digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            (&rest[..at], exp.parse::<i32>().ok()?)
        }
        None => (rest, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let unscaled: BigInt = format!("{sign}{int}{frac}").parse().ok()?;
    let scale = i32::try_from(frac.len()).ok()?.checked_sub(exponent)?;
    Some((unscaled, scale))
}

/// The value as an i64 when it is a whole number that fits (`longValueExact`).
fn exact_integer(unscaled: &BigInt, scale: i32) -> Option<i64> {
    let ten = BigInt::from(10);
    let whole = if scale <= 0 {
        if scale < -19 && unscaled != &BigInt::from(0) {
            return None;
        }
        unscaled * num_bigint::BigInt::pow(&ten, scale.unsigned_abs())
    } else {
        // More fractional digits than the value has digits: integral only when zero (and
        // no need to build a huge power of ten to find out).
        if scale as usize > unscaled.magnitude().to_string().len() {
            return (unscaled == &BigInt::from(0)).then_some(0);
        }
        let divisor = num_bigint::BigInt::pow(&ten, scale.unsigned_abs());
        if unscaled % &divisor != BigInt::from(0) {
            return None;
        }
        unscaled / divisor
    };
    i64::try_from(whole).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> (Option<SchemaType>, Value) {
        let result = parse_string(text);
        (result.schema.map(|s| s.schema_type), result.value)
    }

    fn is_string(text: &str) {
        assert_eq!(
            parsed(text),
            (Some(SchemaType::String), Value::String(text.to_string())),
            "{text}"
        );
    }

    #[test]
    fn literals() {
        assert_eq!(
            parsed("true"),
            (Some(SchemaType::Boolean), Value::Boolean(true))
        );
        assert_eq!(
            parsed(" \t false \n"),
            (Some(SchemaType::Boolean), Value::Boolean(false))
        );
        assert_eq!(parsed("null"), (None, Value::Null));
        assert_eq!(parsed("  null  "), (None, Value::Null));
        is_string("true}");
        is_string("false]");
        is_string("null=");
        is_string("");
        is_string("  ");
        is_string("simple string");
        is_string("si\\:mple");
        is_string("a,b");
        is_string("a\"b");
        is_string("1,2");
    }

    #[test]
    fn numbers_take_the_smallest_type() {
        assert_eq!(parsed("12"), (Some(SchemaType::Int8), Value::Int8(12)));
        assert_eq!(
            parsed("-129"),
            (Some(SchemaType::Int16), Value::Int16(-129))
        );
        assert_eq!(
            parsed("40000"),
            (Some(SchemaType::Int32), Value::Int32(40000))
        );
        assert_eq!(
            parsed("4398046511104"),
            (Some(SchemaType::Int64), Value::Int64(4398046511104))
        );
        assert_eq!(parsed("1.0"), (Some(SchemaType::Int8), Value::Int8(1)));
        assert_eq!(
            parsed("1.5e2"),
            (Some(SchemaType::Int16), Value::Int16(150))
        );
        assert_eq!(
            parsed("1.5"),
            (Some(SchemaType::Float32), Value::Float32(1.5))
        );
        assert_eq!(
            parsed("+2.25"),
            (Some(SchemaType::Float32), Value::Float32(2.25))
        );
        assert_eq!(
            parsed("1e39"),
            (Some(SchemaType::Float64), Value::Float64(1e39))
        );
        let big = parse_string("123456789012345678901234567890");
        assert_eq!(big.schema.as_ref().and_then(|s| s.decimal_scale()), Some(0));
        assert_eq!(
            big.value,
            Value::Decimal {
                unscaled: "123456789012345678901234567890".parse().unwrap(),
                scale: 0
            }
        );
        is_string("12abc");
        assert_eq!(parsed("0e-999999999").0, Some(SchemaType::Int8));
        assert_eq!(parsed("1e-999999999").0, Some(SchemaType::Float32));
        is_string("-");
    }

    #[test]
    fn dates_times_timestamps() {
        let ts = parse_string("2019-08-23T14:34:54.346Z");
        assert_eq!(ts.schema.as_deref(), Some(&Schema::timestamp()));
        assert_eq!(ts.value, Value::Timestamp(1_566_570_894_346));
        let date = parse_string("2019-08-23");
        assert_eq!(date.schema.as_deref(), Some(&Schema::date()));
        assert_eq!(date.value, Value::Timestamp(18131 * MS_PER_DAY));
        let time = parse_string("14:34:54.346Z");
        assert_eq!(time.schema.as_deref(), Some(&Schema::time()));
        assert_eq!(time.value, Value::Timestamp(52_494_346));
        assert_eq!(
            parse_string("14\\:34\\:54.346Z").value,
            Value::Timestamp(52_494_346)
        );
        assert_eq!(
            parse_string("2019-08-23T14\\:34\\:54.346Z").value,
            Value::Timestamp(1_566_570_894_346)
        );
        let array = parse_string(
            "[2019-08-23T14:34:54.346Z,2019-01-23T15:12:34.567Z,   2019-04-23T19:12:34.567Z]",
        );
        assert_eq!(
            array.schema.unwrap().value_schema.as_deref(),
            Some(&Schema::timestamp())
        );
        let quoted = parse_string("[\"2019-08-23\"]");
        assert_eq!(
            quoted.value,
            Value::Array(vec![Value::Timestamp(18131 * MS_PER_DAY)])
        );
    }

    #[test]
    fn arrays() {
        let result = parse_string("[true, false]");
        assert_eq!(
            result
                .schema
                .as_ref()
                .unwrap()
                .value_schema
                .as_ref()
                .unwrap()
                .schema_type,
            SchemaType::Boolean
        );
        assert_eq!(
            result.value,
            Value::Array(vec![Value::Boolean(true), Value::Boolean(false)])
        );
        let widened = parse_string("[1, 1000, 2.5]");
        assert_eq!(
            widened
                .schema
                .as_ref()
                .unwrap()
                .value_schema
                .as_ref()
                .unwrap()
                .schema_type,
            SchemaType::Float32
        );
        assert_eq!(
            widened.value,
            Value::Array(vec![
                Value::Float32(1.0),
                Value::Float32(1000.0),
                Value::Float32(2.5)
            ])
        );
        let mixed = parse_string("[1, 2, 3, \"four\"]");
        assert_eq!(
            mixed.schema.as_ref().unwrap().schema_type,
            SchemaType::Array
        );
        assert!(mixed.schema.as_ref().unwrap().value_schema.is_none());
        assert_eq!(
            mixed.value,
            Value::Array(vec![
                Value::Int8(1),
                Value::Int8(2),
                Value::Int8(3),
                Value::String("four".into())
            ])
        );
        assert_eq!(
            parsed("[]"),
            (Some(SchemaType::Array), Value::Array(vec![]))
        );
        assert_eq!(
            parsed("[null]"),
            (Some(SchemaType::Array), Value::Array(vec![Value::Null]))
        );
        is_string("[1, 2, 3,,,]");
        is_string("[0 1 2]");
        is_string("[foo]");
        is_string("[1, 2");
    }

    #[test]
    fn maps() {
        let result = parse_string("{true: false, false: true}");
        let schema = result.schema.unwrap();
        assert_eq!(
            schema.key_schema.as_ref().unwrap().schema_type,
            SchemaType::Boolean
        );
        assert_eq!(
            schema.value_schema.as_ref().unwrap().schema_type,
            SchemaType::Boolean
        );
        assert_eq!(
            result.value,
            Value::Map(vec![
                (Value::Boolean(true), Value::Boolean(false)),
                (Value::Boolean(false), Value::Boolean(true))
            ])
        );
        let strings = parse_string("{\"a\": 1, \"b\": 300}");
        assert_eq!(
            strings.value,
            Value::Map(vec![
                (Value::String("a".into()), Value::Int16(1)),
                (Value::String("b".into()), Value::Int16(300))
            ])
        );
        let nulls = parse_string("{3: null}");
        let schema = nulls.schema.unwrap();
        assert_eq!(
            schema.key_schema.as_ref().unwrap().schema_type,
            SchemaType::Int8
        );
        assert!(schema.value_schema.is_none());
        assert_eq!(nulls.value, Value::Map(vec![(Value::Int8(3), Value::Null)]));
        assert_eq!(parsed("{}"), (Some(SchemaType::Map), Value::Map(vec![])));
        is_string("{foo: 3}");
        is_string("{3: foo}");
        is_string("{6:9 4:20}");
        is_string("{null: 3}");
    }

    #[test]
    fn strings_of_values() {
        let text = |v: Value| convert_to_string(None, &v).unwrap();
        assert_eq!(
            text(Value::String("three\"blind\\\"mice".into())),
            "three\"blind\\\"mice"
        );
        assert_eq!(
            text(Value::Array(vec![
                Value::String("three\"blind\\\"mice".into()),
                Value::Int32(1)
            ])),
            "[\"three\\\"blind\\\\\\\"mice\",1]"
        );
        assert_eq!(text(Value::Float64(1.0e10)), "1.0E10");
        assert_eq!(text(Value::Float32(0.1)), "0.1");
        assert_eq!(
            text(Value::Map(vec![(
                Value::String("a".into()),
                Value::Boolean(true)
            )])),
            "{\"a\":true}"
        );
        assert_eq!(text(Value::Timestamp(18131 * MS_PER_DAY)), "2019-08-23");
        assert_eq!(text(Value::Timestamp(52_494_346)), "14:34:54.346Z");
        assert_eq!(
            text(Value::Timestamp(1_566_570_894_346)),
            "2019-08-23T14:34:54.346Z"
        );
        assert_eq!(text(Value::Bytes(vec![1, 2, 3])), "AQID");
        assert_eq!(
            text(Value::Decimal {
                unscaled: BigInt::from(5),
                scale: -2
            }),
            "5E+2"
        );
        assert_eq!(convert_to_string(None, &Value::Null), None);
        // what convert_to_string writes, parse_string reads back
        for value in [
            Value::Int8(5),
            Value::Int16(-300),
            Value::Boolean(true),
            Value::Timestamp(1_566_570_894_346),
            Value::Array(vec![Value::Int8(1), Value::Int8(2)]),
            Value::Map(vec![(Value::String("k".into()), Value::String("v".into()))]),
        ] {
            assert_eq!(parse_string(&text(value.clone())).value, value);
        }
    }
}
