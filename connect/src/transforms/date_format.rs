//! Java's `SimpleDateFormat` patterns on chrono, always in UTC (CONNECT.md d.1): used by
//! TimestampRouter and TimestampConverter.
//!
//! Letters: `y` (`yy` two digits), `M` (`MMM` short name, `MMMM` long name), `d`, `D`,
//! `H`, `h`, `m`, `s`, `S` (milliseconds), `a`, `E` (`EEEE` long name), `u`, `Z`
//! (`+0000`), `X`/`XX` (`Z` or `+0000`), `XXX` (`Z` or `+00:00`), `z`; `'text'` is literal
//! and `''` a single quote. Other letters are refused with Java's
//! `Illegal pattern character 'c'`.

use chrono::format::{Fixed, Item, Numeric, Pad, Parsed};
use chrono::{DateTime, NaiveDate, Utc};

/// A compiled `SimpleDateFormat` pattern.
#[derive(Debug, Clone)]
pub(crate) struct JavaDateFormat {
    items: Vec<Item<'static>>,
}

impl JavaDateFormat {
    /// Compiles `pattern`. Errors with Java's `Illegal pattern character 'c'` or
    /// `Unterminated quote`.
    pub(crate) fn new(pattern: &str) -> Result<JavaDateFormat, String> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut items = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == '\'' {
                if chars.get(i + 1) == Some(&'\'') {
                    items.push(Item::OwnedLiteral("'".into()));
                    i += 2;
                    continue;
                }
                let mut text = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("Unterminated quote".to_string()),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            text.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(other) => {
                            text.push(*other);
                            i += 1;
                        }
                    }
                }
                items.push(Item::OwnedLiteral(text.into()));
                continue;
            }
            if !c.is_ascii_alphabetic() {
                items.push(Item::OwnedLiteral(c.to_string().into()));
                i += 1;
                continue;
            }
            let mut count = 1;
            while chars.get(i + count) == Some(&c) {
                count += 1;
            }
            i += count;
            let pad = if count >= 2 { Pad::Zero } else { Pad::None };
            let item = match c {
                'y' if count == 2 => Item::Numeric(Numeric::YearMod100, Pad::Zero),
                'y' => Item::Numeric(Numeric::Year, Pad::Zero),
                'M' if count == 3 => Item::Fixed(Fixed::ShortMonthName),
                'M' if count >= 4 => Item::Fixed(Fixed::LongMonthName),
                'M' => Item::Numeric(Numeric::Month, pad),
                'd' => Item::Numeric(Numeric::Day, pad),
                'D' => Item::Numeric(
                    Numeric::Ordinal,
                    if count >= 3 { Pad::Zero } else { Pad::None },
                ),
                'H' => Item::Numeric(Numeric::Hour, pad),
                'h' => Item::Numeric(Numeric::Hour12, pad),
                'm' => Item::Numeric(Numeric::Minute, pad),
                's' => Item::Numeric(Numeric::Second, pad),
                'S' => millis_item(),
                'a' => Item::Fixed(Fixed::UpperAmPm),
                'E' if count >= 4 => Item::Fixed(Fixed::LongWeekdayName),
                'E' => Item::Fixed(Fixed::ShortWeekdayName),
                'u' => Item::Numeric(Numeric::WeekdayFromMon, Pad::None),
                'Z' => Item::Fixed(Fixed::TimezoneOffset),
                'X' if count >= 3 => Item::Fixed(Fixed::TimezoneOffsetColonZ),
                'X' => Item::Fixed(Fixed::TimezoneOffsetZ),
                'z' => Item::Fixed(Fixed::TimezoneName),
                other => return Err(format!("Illegal pattern character '{other}'")),
            };
            // `yyyy`, `dd`... : widths beyond chrono's own padding are literal zero padding in
            // Java; chrono pads years to 4 and other fields to 2 already.
            items.push(item);
        }
        Ok(JavaDateFormat { items })
    }

    /// `epoch_ms` formatted in UTC.
    pub(crate) fn format(&self, epoch_ms: i64) -> String {
        match DateTime::<Utc>::from_timestamp_millis(epoch_ms) {
            Some(time) => time.format_with_items(self.items.iter()).to_string(),
            None => epoch_ms.to_string(),
        }
    }

    /// Parses `text` (UTC unless it carries an offset) to epoch ms; fields the pattern lacks
    /// default as in `SimpleDateFormat` (1970-01-01 00:00:00.000).
    pub(crate) fn parse(&self, text: &str) -> Option<i64> {
        let mut parsed = Parsed::new();
        // `DateFormat.parse(String)` ignores text after the pattern.
        chrono::format::parse_and_remainder(&mut parsed, text, self.items.iter()).ok()?;
        let year = match (parsed.year(), parsed.year_mod_100()) {
            (Some(year), _) => year,
            // SimpleDateFormat puts two-digit years within 80 years before and 20 after now;
            // we use the fixed 1970-2069 window.
            (None, Some(short)) => {
                if short < 70 {
                    2000 + short
                } else {
                    1900 + short
                }
            }
            (None, None) => 1970,
        };
        let date = match (parsed.ordinal(), parsed.month(), parsed.day()) {
            (Some(ordinal), None, _) => NaiveDate::from_yo_opt(year, ordinal)?,
            (_, month, day) => NaiveDate::from_ymd_opt(year, month.unwrap_or(1), day.unwrap_or(1))?,
        };
        let hour = match (parsed.hour_div_12(), parsed.hour_mod_12()) {
            (Some(div), Some(rem)) => div * 12 + rem,
            (None, Some(rem)) => rem,
            _ => 0,
        };
        let nanos = parsed.nanosecond().unwrap_or(0);
        let time = date.and_hms_nano_opt(
            hour,
            parsed.minute().unwrap_or(0),
            parsed.second().unwrap_or(0),
            nanos,
        )?;
        let offset = i64::from(parsed.offset().unwrap_or(0));
        Some(time.and_utc().timestamp_millis() - offset * 1000)
    }
}

/// Three digits of milliseconds without a dot (chrono's `%3f`, whose item is not public).
fn millis_item() -> Item<'static> {
    chrono::format::StrftimeItems::new("%3f")
        .next()
        .unwrap_or(Item::Numeric(Numeric::Nanosecond, Pad::Zero))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_simple_date_format() {
        let f = JavaDateFormat::new("yyyyMMdd").unwrap();
        assert_eq!(f.format(1_700_000_000_123), "20231114");
        let f = JavaDateFormat::new("yyyy-MM-dd'T'HH:mm:ss.SSSXXX").unwrap();
        assert_eq!(f.format(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        let f = JavaDateFormat::new("yy MMM d EEE hh a ''Z").unwrap();
        assert_eq!(f.format(1_700_000_000_123), "23 Nov 14 Tue 10 PM '+0000");
        assert_eq!(
            JavaDateFormat::new("yyyy-qq").unwrap_err(),
            "Illegal pattern character 'q'"
        );
    }

    #[test]
    fn parses_with_defaults() {
        let f = JavaDateFormat::new("yyyy-MM-dd HH:mm:ss.SSS").unwrap();
        assert_eq!(f.parse("2023-11-14 22:13:20.123"), Some(1_700_000_000_123));
        let f = JavaDateFormat::new("yyyy-MM-dd").unwrap();
        assert_eq!(f.parse("1970-01-02"), Some(86_400_000));
        assert_eq!(f.parse("1970-01-02 and more"), Some(86_400_000));
        let f = JavaDateFormat::new("HH:mm").unwrap();
        assert_eq!(f.parse("01:00"), Some(3_600_000));
        assert_eq!(f.parse("nope"), None);
        let f = JavaDateFormat::new("yyyy-MM-dd'T'HH:mm:ssXXX").unwrap();
        assert_eq!(f.parse("1970-01-01T01:00:00+01:00"), Some(0));
    }
}
