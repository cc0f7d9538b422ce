//! Java-style text of Connect values (CONNECT.md c.5): what FileStreamSink writes, what
//! StringConverter and `Cast` to string produce, and Java's `Double.toString` /
//! `Float.toString` number text that Jackson (JsonConverter) also writes.

use base64::Engine;
use chrono::{DateTime, Utc};

use crate::data::Value;

/// `d` as Java's `Double.toString` writes it: shortest digits that round-trip, plain for
/// 1e-3 ≤ |d| < 1e7 (`1.0`, `123.45`), otherwise `d.dddE±n` (`1.0E10`, `1.0E-5`); `NaN`,
/// `Infinity`, `-Infinity`.
pub fn java_double_to_string(d: f64) -> String {
    java_float_text(
        d.is_nan(),
        d.is_infinite(),
        d == 0.0,
        d.is_sign_negative(),
        format!("{d:e}"),
        d.abs(),
    )
}

/// `f` as Java's `Float.toString` writes it (same rules as [`java_double_to_string`], with
/// the shortest digits of the f32 itself — never widened to f64 first).
pub fn java_float_to_string(f: f32) -> String {
    java_float_text(
        f.is_nan(),
        f.is_infinite(),
        f == 0.0,
        f.is_sign_negative(),
        format!("{f:e}"),
        f64::from(f.abs()),
    )
}

fn java_float_text(
    nan: bool,
    infinite: bool,
    zero: bool,
    negative: bool,
    scientific: String,
    magnitude: f64,
) -> String {
    if nan {
        return "NaN".to_string();
    }
    if infinite {
        return if negative { "-Infinity" } else { "Infinity" }.to_string();
    }
    let sign = if negative { "-" } else { "" };
    if zero {
        return format!("{sign}0.0");
    }
    // `{:e}` gives the shortest round-trip digits: "-1.2345e6", "5e-324".
    let scientific = scientific.trim_start_matches('-');
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if (1e-3..1e7).contains(&magnitude) {
        // Plain notation: place the decimal point `exponent + 1` digits in.
        let point = exponent + 1;
        let text = if point <= 0 {
            format!("0.{}{}", "0".repeat((-point) as usize), digits)
        } else if point as usize >= digits.len() {
            format!("{}{}.0", digits, "0".repeat(point as usize - digits.len()))
        } else {
            let (int, frac) = digits.split_at(point as usize);
            format!("{int}.{frac}")
        };
        format!("{sign}{text}")
    } else {
        let (first, rest) = digits.split_at(1);
        let rest = if rest.is_empty() { "0" } else { rest };
        format!("{sign}{first}.{rest}E{exponent}")
    }
}

/// Milliseconds in a day.
pub const MS_PER_DAY: i64 = 86_400_000;

/// A `java.util.Date` value as the Cast transform and c.5 render it, the pattern chosen by
/// the value itself (Kafka's `Values.dateFormatFor`): below one day, negative values
/// included, `HH:mm:ss.SSS'Z'` (a Time), a whole number of days
/// `yyyy-MM-dd` (a Date), otherwise `yyyy-MM-dd'T'HH:mm:ss.SSS'Z'`; always UTC.
pub fn render_date_like(epoch_ms: i64) -> String {
    let Some(time) = DateTime::<Utc>::from_timestamp_millis(epoch_ms) else {
        return epoch_ms.to_string();
    };
    if epoch_ms < MS_PER_DAY {
        time.format("%H:%M:%S%.3fZ").to_string()
    } else if epoch_ms % MS_PER_DAY == 0 {
        time.format("%Y-%m-%d").to_string()
    } else {
        time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
    }
}

/// A value's Java text (c.5): strings verbatim, numbers as Java prints them, `null`,
/// `Struct{f1=v1,f2=v2}` (null fields left out), `{k=v, k2=v2}`, `[a, b]`, dates per
/// [`render_date_like`], decimals in plain notation, bytes as base64 (DIVERGE: Java prints
/// an identity hash).
pub fn render_value(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Int8(v) => out.push_str(&v.to_string()),
        Value::Int16(v) => out.push_str(&v.to_string()),
        Value::Int32(v) => out.push_str(&v.to_string()),
        Value::Int64(v) => out.push_str(&v.to_string()),
        Value::Float32(v) => out.push_str(&java_float_to_string(*v)),
        Value::Float64(v) => out.push_str(&java_double_to_string(*v)),
        Value::Boolean(v) => out.push_str(if *v { "true" } else { "false" }),
        Value::String(v) => out.push_str(v),
        Value::Bytes(v) => out.push_str(&base64::engine::general_purpose::STANDARD.encode(v)),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Map(pairs) => {
            out.push('{');
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, k);
                out.push('=');
                write_value(out, v);
            }
            out.push('}');
        }
        Value::Struct(s) => {
            out.push_str("Struct{");
            let mut first = true;
            for (field, v) in s.schema.fields.iter().zip(&s.values) {
                if v.is_null() {
                    continue;
                }
                if !first {
                    out.push(',');
                }
                first = false;
                out.push_str(&field.name);
                out.push('=');
                write_value(out, v);
            }
            out.push('}');
        }
        Value::Decimal { unscaled, scale } => out.push_str(&decimal_text(unscaled, *scale)),
        Value::Timestamp(ms) => out.push_str(&render_date_like(*ms)),
    }
}

/// Largest scale (either sign) written in plain notation; beyond it a decimal is written as
/// `<unscaled>E<-scale>`, so a hostile scale cannot make a gigabyte of zeros.
pub const MAX_PLAIN_SCALE: i32 = 1000;

/// A decimal in plain notation, as Java's `BigDecimal.toPlainString` (`10.2345`, `-0.01`).
/// DIVERGE: a scale beyond ±[`MAX_PLAIN_SCALE`] is written `<unscaled>E<-scale>` (Java
/// would write every zero).
pub fn decimal_text(unscaled: &num_bigint::BigInt, scale: i32) -> String {
    if !(-MAX_PLAIN_SCALE..=MAX_PLAIN_SCALE).contains(&scale) {
        return format!("{unscaled}E{}", -i64::from(scale));
    }
    let negative = unscaled.sign() == num_bigint::Sign::Minus;
    let digits = unscaled.magnitude().to_string();
    let sign = if negative { "-" } else { "" };
    if scale <= 0 {
        return format!(
            "{sign}{digits}{}",
            "0".repeat(scale.unsigned_abs() as usize)
        );
    }
    let scale = scale as usize;
    let padded = if digits.len() <= scale {
        format!("{}{}", "0".repeat(scale - digits.len() + 1), digits)
    } else {
        digits
    };
    let (int, frac) = padded.split_at(padded.len() - scale);
    format!("{sign}{int}.{frac}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_print_as_java() {
        for (value, text) in [
            (1.0, "1.0"),
            (1.0e10, "1.0E10"),
            (1.0e-5, "1.0E-5"),
            (123.45, "123.45"),
            (0.001, "0.001"),
            (9999999.0, "9999999.0"),
            (1.0e7, "1.0E7"),
            (-2.5e-4, "-2.5E-4"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.2345678e21, "1.2345678E21"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Infinity"),
        ] {
            assert_eq!(java_double_to_string(value), text, "{value}");
        }
    }

    #[test]
    fn floats_keep_their_own_digits() {
        assert_eq!(java_float_to_string(0.1), "0.1");
        assert_eq!(java_float_to_string(3.4e38), "3.4E38");
        assert_eq!(java_float_to_string(1.5), "1.5");
    }

    #[test]
    fn dates_pick_their_pattern() {
        assert_eq!(render_date_like(3_600_000), "01:00:00.000Z");
        assert_eq!(render_date_like(-1000), "23:59:59.000Z");
        assert_eq!(render_date_like(MS_PER_DAY * 365), "1971-01-01");
        assert_eq!(
            render_date_like(1_700_000_000_123),
            "2023-11-14T22:13:20.123Z"
        );
    }

    #[test]
    fn decimals_are_plain() {
        use num_bigint::BigInt;
        assert_eq!(decimal_text(&BigInt::from(102345), 4), "10.2345");
        assert_eq!(decimal_text(&BigInt::from(-1), 2), "-0.01");
        assert_eq!(decimal_text(&BigInt::from(5), 0), "5");
        assert_eq!(decimal_text(&BigInt::from(5), -2), "500");
        assert_eq!(decimal_text(&BigInt::from(5), 999_999_999), "5E-999999999");
    }
}
