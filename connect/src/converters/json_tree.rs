//! A small JSON tree as Jackson's `JsonNode` sees it for JsonConverter: numbers keep their
//! text (so Decimal NUMERIC payloads and large integers keep full precision, as Kafka's
//! `USE_BIG_DECIMAL_FOR_FLOATS`), objects keep member order, and the writer prints compact
//! JSON the way Jackson's `ObjectMapper` does (numbers as given, strings escaped as Jackson
//! escapes them).

/// A JSON node.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Json {
    /// Absent input (Jackson's `MissingNode`, what empty bytes parse to).
    Missing,
    /// `null`.
    Null,
    /// `true`/`false`.
    Bool(bool),
    /// A number, as its JSON text (`12`, `-1.5e3`); written verbatim.
    Number(String),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Json>),
    /// An object; a repeated member replaces the earlier value in place.
    Object(Vec<(String, Json)>),
}

impl Json {
    /// Jackson's `JsonNodeType` name, used in Kafka's error texts.
    pub(crate) fn node_type(&self) -> &'static str {
        match self {
            Json::Missing => "MISSING",
            Json::Null => "NULL",
            Json::Bool(_) => "BOOLEAN",
            Json::Number(_) => "NUMBER",
            Json::String(_) => "STRING",
            Json::Array(_) => "ARRAY",
            Json::Object(_) => "OBJECT",
        }
    }

    /// The member `name` of an object.
    pub(crate) fn get(&self, name: &str) -> Option<&Json> {
        match self {
            Json::Object(members) => members.iter().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }

    /// True for a number without fraction or exponent (Jackson's `isIntegralNumber`).
    pub(crate) fn is_integral(&self) -> bool {
        matches!(self, Json::Number(text) if !text.contains(['.', 'e', 'E']))
    }

    /// True for an integral number that fits an `int` (Jackson's `isInt`).
    pub(crate) fn is_int(&self) -> bool {
        match self {
            Json::Number(text) if self.is_integral() => normalize_int(text).parse::<i32>().is_ok(),
            _ => false,
        }
    }

    /// Jackson's `longValue()`: integral numbers (low 64 bits when larger), fractions
    /// truncated, 0 for anything not a number.
    pub(crate) fn long_value(&self) -> i64 {
        match self {
            Json::Number(text) if self.is_integral() => {
                let text = normalize_int(text);
                text.parse::<i64>().unwrap_or_else(|_| {
                    text.parse::<num_bigint::BigInt>()
                        .map(|big| {
                            let bytes = big.to_signed_bytes_le();
                            let mut low = [if big.sign() == num_bigint::Sign::Minus {
                                0xFF
                            } else {
                                0
                            }; 8];
                            for (slot, byte) in low.iter_mut().zip(bytes) {
                                *slot = byte;
                            }
                            i64::from_le_bytes(low)
                        })
                        .unwrap_or(0)
                })
            }
            Json::Number(_) => self.double_value() as i64,
            _ => 0,
        }
    }

    /// Jackson's `intValue()`: the low 32 bits of an integral number, fractions truncated.
    pub(crate) fn int_value(&self) -> i32 {
        match self {
            Json::Number(_) if self.is_integral() => self.long_value() as i32,
            Json::Number(_) => self.double_value() as i32,
            _ => 0,
        }
    }

    /// Jackson's `doubleValue()`: the nearest f64, 0.0 for anything not a number.
    pub(crate) fn double_value(&self) -> f64 {
        match self {
            Json::Number(text) => text.parse().unwrap_or(0.0),
            _ => 0.0,
        }
    }

    /// Jackson's `floatValue()`: the nearest f32 to the number's text (never via f64).
    pub(crate) fn float_value(&self) -> f32 {
        match self {
            Json::Number(text) => text.parse().unwrap_or(0.0),
            _ => 0.0,
        }
    }

    /// Jackson's `decimalValue()` of a number: unscaled value and scale as the text has
    /// them (`1.50` → 150, scale 2; `1.5e2` → 15, scale -1).
    pub(crate) fn decimal_value(&self) -> Option<(num_bigint::BigInt, i32)> {
        let Json::Number(text) = self else {
            return None;
        };
        let (mantissa, exponent) = match text.find(['e', 'E']) {
            Some(at) => (&text[..at], text[at + 1..].parse::<i32>().ok()?),
            None => (text.as_str(), 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let unscaled: num_bigint::BigInt = format!("{int}{frac}").parse().ok()?;
        let scale = i32::try_from(frac.len()).ok()?.checked_sub(exponent)?;
        Some((unscaled, scale))
    }
}

/// An integer text without a leading `+` or leading zeros (Jackson allows those here).
fn normalize_int(text: &str) -> String {
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text),
    };
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        "0".to_string()
    } else {
        format!("{sign}{digits}")
    }
}

/// Parses one JSON value from `bytes` (UTF-8), as Jackson's `readTree`: empty input is
/// [`Json::Missing`], content after the first value is ignored, leading zeros in numbers
/// are accepted (`ALLOW_LEADING_ZEROS_FOR_NUMBERS`). Errors carry the parser's reason.
pub(crate) fn parse(bytes: &[u8]) -> Result<Json, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("Invalid UTF-8 middle byte: {e}"))?;
    let mut parser = Parser { text, pos: 0 };
    parser.skip_ws();
    if parser.pos >= text.len() {
        return Ok(Json::Missing);
    }
    parser.value(0)
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

const MAX_DEPTH: usize = 1000;

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn error(&self, what: &str) -> String {
        format!("{what} at character offset {}", self.pos)
    }

    fn expect(&mut self, literal: &str, value: Json) -> Result<Json, String> {
        if self.text[self.pos..].starts_with(literal) {
            self.pos += literal.len();
            Ok(value)
        } else {
            Err(self.error("Unrecognized token"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, String> {
        if depth > MAX_DEPTH {
            return Err(self.error("Document nesting depth exceeds the maximum allowed"));
        }
        self.skip_ws();
        match self.peek() {
            None => Err(self.error("Unexpected end-of-input")),
            Some(b'n') => self.expect("null", Json::Null),
            Some(b't') => self.expect("true", Json::Bool(true)),
            Some(b'f') => self.expect("false", Json::Bool(false)),
            Some(b'"') => self.string().map(Json::String),
            Some(b'[') => {
                self.pos += 1;
                let mut items = Vec::new();
                self.skip_ws();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    return Ok(Json::Array(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.skip_ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(Json::Array(items));
                        }
                        _ => return Err(self.error(
                            "Unexpected character: was expecting comma to separate Array entries",
                        )),
                    }
                }
            }
            Some(b'{') => {
                self.pos += 1;
                let mut members: Vec<(String, Json)> = Vec::new();
                self.skip_ws();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    return Ok(Json::Object(members));
                }
                loop {
                    self.skip_ws();
                    if self.peek() != Some(b'"') {
                        return Err(self.error(
                            "Unexpected character: was expecting double-quote to start field name",
                        ));
                    }
                    let name = self.string()?;
                    self.skip_ws();
                    if self.peek() != Some(b':') {
                        return Err(self.error("Unexpected character: was expecting a colon to separate field name and value"));
                    }
                    self.pos += 1;
                    let value = self.value(depth + 1)?;
                    match members.iter_mut().find(|(k, _)| *k == name) {
                        Some(slot) => slot.1 = value,
                        None => members.push((name, value)),
                    }
                    self.skip_ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {
                            self.pos += 1;
                            return Ok(Json::Object(members));
                        }
                        _ => return Err(self.error(
                            "Unexpected character: was expecting comma to separate Object entries",
                        )),
                    }
                }
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("Unexpected character")),
        }
    }

    fn number(&mut self) -> Result<Json, String> {
        let start = self.pos;
        let bytes = self.text.as_bytes();
        let digits = |pos: &mut usize| {
            let from = *pos;
            while bytes.get(*pos).is_some_and(u8::is_ascii_digit) {
                *pos += 1;
            }
            *pos - from
        };
        let mut pos = self.pos;
        if bytes.get(pos) == Some(&b'-') {
            pos += 1;
        }
        if digits(&mut pos) == 0 {
            self.pos = pos;
            return Err(self.error("Unexpected character: expected digit for valid numeric value"));
        }
        if bytes.get(pos) == Some(&b'.') {
            pos += 1;
            if digits(&mut pos) == 0 {
                self.pos = pos;
                return Err(
                    self.error("Unexpected character: Decimal point not followed by a digit")
                );
            }
        }
        if matches!(bytes.get(pos), Some(b'e' | b'E')) {
            pos += 1;
            if matches!(bytes.get(pos), Some(b'+' | b'-')) {
                pos += 1;
            }
            if digits(&mut pos) == 0 {
                self.pos = pos;
                return Err(
                    self.error("Unexpected character: Exponent indicator not followed by a digit")
                );
            }
        }
        self.pos = pos;
        Ok(Json::Number(self.text[start..pos].to_string()))
    }

    fn string(&mut self) -> Result<String, String> {
        self.pos += 1; // opening quote
        let mut out = String::new();
        loop {
            let rest = &self.text[self.pos..];
            let stop = rest
                .find(['"', '\\'])
                .ok_or_else(|| self.error("Unexpected end-of-input in a String value"))?;
            if rest[..stop].chars().any(|c| (c as u32) < 0x20) {
                return Err(self.error("Illegal unquoted character: has to be escaped"));
            }
            out.push_str(&rest[..stop]);
            self.pos += stop;
            if self.peek() == Some(b'"') {
                self.pos += 1;
                return Ok(out);
            }
            self.pos += 1; // backslash
            let escape = self
                .peek()
                .ok_or_else(|| self.error("Unexpected end-of-input"))?;
            self.pos += 1;
            match escape {
                b'"' => out.push('"'),
                b'\\' => out.push('\\'),
                b'/' => out.push('/'),
                b'b' => out.push('\u{8}'),
                b'f' => out.push('\u{c}'),
                b'n' => out.push('\n'),
                b'r' => out.push('\r'),
                b't' => out.push('\t'),
                b'u' => {
                    let high = self.hex4()?;
                    let code = if (0xD800..0xDC00).contains(&high)
                        && self.text[self.pos..].starts_with("\\u")
                    {
                        self.pos += 2;
                        let low = self.hex4()?;
                        0x10000 + ((high - 0xD800) << 10) + (low.wrapping_sub(0xDC00) & 0x3FF)
                    } else {
                        high
                    };
                    out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
                }
                _ => return Err(self.error("Unrecognized character escape")),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let digits = self
            .text
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.error("Unexpected end-of-input"))?;
        let code = u32::from_str_radix(digits, 16)
            .map_err(|_| self.error("Unexpected character in character escape sequence"))?;
        self.pos += 4;
        Ok(code)
    }
}

/// Compact JSON text of `json`, as Jackson writes it (`Missing` writes nothing).
pub(crate) fn write(json: &Json) -> String {
    let mut out = String::new();
    write_into(&mut out, json);
    out
}

fn write_into(out: &mut String, json: &Json) {
    match json {
        Json::Missing => {}
        Json::Null => out.push_str("null"),
        Json::Bool(true) => out.push_str("true"),
        Json::Bool(false) => out.push_str("false"),
        Json::Number(text) => out.push_str(text),
        Json::String(text) => write_string(out, text),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_into(out, item);
            }
            out.push(']');
        }
        Json::Object(members) => {
            out.push('{');
            for (i, (name, value)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, name);
                out.push(':');
                write_into(out, value);
            }
            out.push('}');
        }
    }
}

/// A JSON string as Jackson escapes it: `"` and `\`, the short escapes for control
/// characters that have one, `\u00XX` (upper-case hex) for the others; the rest verbatim.
fn write_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_writes_back() {
        let text = r#"{"a":[1,-2.50,3e2,true,null],"b":"x\"\n\u00e9\u0001","a2":{}}"#;
        let json = parse(text.as_bytes()).unwrap();
        assert_eq!(json.get("a2"), Some(&Json::Object(vec![])));
        assert_eq!(
            write(&json),
            r#"{"a":[1,-2.50,3e2,true,null],"b":"x\"\né\u0001","a2":{}}"#
        );
        assert_eq!(parse(b"  ").unwrap(), Json::Missing);
        assert_eq!(
            parse(b"{\"a\":1,\"a\":2}").unwrap(),
            Json::Object(vec![("a".into(), Json::Number("2".into()))])
        );
        assert!(parse(b"{\"a\":}").is_err());
        assert!(parse(b"[1,").is_err());
        assert!(parse(b"\"\\ud83d\\ude00\"").unwrap() == Json::String("😀".into()));
    }

    #[test]
    fn numbers_as_jackson_reads_them() {
        let n = |t: &str| Json::Number(t.to_string());
        assert_eq!(n("0012").int_value(), 12);
        assert!(n("2147483647").is_int());
        assert!(!n("2147483648").is_int());
        assert_eq!(n("4398046511104").long_value(), 4398046511104);
        assert_eq!(n("18446744073709551617").long_value(), 1);
        assert_eq!(n("12.9").int_value(), 12);
        assert_eq!(n("1.50").decimal_value(), Some((150.into(), 2)));
        assert_eq!(n("1.5e2").decimal_value(), Some((15.into(), -1)));
        assert_eq!(Json::String("x".into()).long_value(), 0);
    }
}
