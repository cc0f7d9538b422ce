//! `java.util.regex` on `fancy-regex` (CONNECT.md d.1): whole-topic matching as Java's
//! `Matcher.matches()`, and Java replacement strings (`$n`, `${name}`, `\x` escapes)
//! expanded explicitly, so `$1abc` is group 1 followed by `abc` as in Java.

use fancy_regex::{Captures, Regex};

use crate::data::ConnectError;

/// A Java regular expression compiled twice: as written (for `find`) and anchored at both
/// ends (for `matches`).
#[derive(Debug, Clone)]
pub(crate) struct JavaRegex {
    plain: Regex,
    anchored: Regex,
}

impl JavaRegex {
    /// Compiles `pattern`; the error text is the engine's reason (Kafka prefixes it with
    /// `Invalid regex: `).
    pub(crate) fn new(pattern: &str) -> Result<JavaRegex, String> {
        let plain = Regex::new(pattern).map_err(|e| e.to_string())?;
        let anchored = Regex::new(&format!(r"\A(?:{pattern})\z")).map_err(|e| e.to_string())?;
        Ok(JavaRegex { plain, anchored })
    }

    /// The captures when the pattern matches the whole `text` (Java's `matches()`).
    pub(crate) fn full_match<'t>(&self, text: &'t str) -> Option<Captures<'t>> {
        self.anchored.captures(text).ok().flatten()
    }

    /// Java's `Matcher.replaceFirst(replacement)`: the first match found from the start
    /// replaced by the expanded `replacement`, the rest of `text` kept.
    pub(crate) fn replace_first(
        &self,
        text: &str,
        replacement: &str,
    ) -> Result<String, ConnectError> {
        let Some(caps) = self.plain.captures(text).ok().flatten() else {
            return Ok(text.to_string());
        };
        let Some(whole) = caps.get(0) else {
            return Ok(text.to_string());
        };
        let expanded = expand(replacement, &caps)?;
        Ok(format!(
            "{}{expanded}{}",
            &text[..whole.start()],
            &text[whole.end()..]
        ))
    }

    /// True when the pattern matches the whole `text`.
    pub(crate) fn matches(&self, text: &str) -> bool {
        self.full_match(text).is_some()
    }
}

/// Validator of Kafka's `RegexValidator` (`Invalid regex: <reason>`).
pub(crate) fn regex_validator(value: &crate::config_def::ConfigValue) -> Result<(), String> {
    match value {
        crate::config_def::ConfigValue::String(pattern) => JavaRegex::new(pattern)
            .map(|_| ())
            .map_err(|reason| format!("Invalid regex: {reason}")),
        _ => Ok(()),
    }
}

/// Expands a Java replacement string (`Matcher.appendReplacement`) against `caps`:
/// `\c` is `c` literally, `${name}` a named group, `$n` the longest group number that
/// exists (at least one digit); an unmatched group expands to nothing.
pub(crate) fn expand(replacement: &str, caps: &Captures<'_>) -> Result<String, ConnectError> {
    let group_count = caps.len() - 1;
    let mut out = String::new();
    let chars: Vec<char> = replacement.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                i += 1;
                let c = chars
                    .get(i)
                    .ok_or_else(|| ConnectError::data("character to be escaped is missing"))?;
                out.push(*c);
                i += 1;
            }
            '$' => {
                i += 1;
                match chars.get(i) {
                    Some('{') => {
                        let end = chars[i..]
                            .iter()
                            .position(|c| *c == '}')
                            .map(|p| p + i)
                            .ok_or_else(|| {
                                ConnectError::data("named capturing group is missing trailing '}'")
                            })?;
                        let name: String = chars[i + 1..end].iter().collect();
                        if name.is_empty() {
                            return Err(ConnectError::data(
                                "named capturing group has 0 length name",
                            ));
                        }
                        if name.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                            return Err(ConnectError::data(
                                "capturing group name {".to_string()
                                    + &name
                                    + "} starts with digit character",
                            ));
                        }
                        // fancy-regex cannot tell an unmatched name from an unknown one:
                        // both expand to nothing.
                        if let Some(m) = caps.name(&name) {
                            out.push_str(m.as_str());
                        }
                        i = end + 1;
                    }
                    Some(c) if c.is_ascii_digit() => {
                        let mut number = c.to_digit(10).unwrap_or(0) as usize;
                        i += 1;
                        while let Some(d) = chars.get(i).and_then(|c| c.to_digit(10)) {
                            let next = number * 10 + d as usize;
                            if next > group_count {
                                break;
                            }
                            number = next;
                            i += 1;
                        }
                        if number > group_count {
                            return Err(ConnectError::data(format!("No group {number}")));
                        }
                        if let Some(m) = caps.get(number) {
                            out.push_str(m.as_str());
                        }
                    }
                    _ => return Err(ConnectError::data("Illegal group reference")),
                }
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replace(pattern: &str, text: &str, replacement: &str) -> Result<String, ConnectError> {
        let regex = JavaRegex::new(pattern).unwrap();
        let caps = regex.full_match(text).unwrap();
        expand(replacement, &caps)
    }

    #[test]
    fn java_replacements() {
        assert_eq!(replace("(.*)-(.*)", "a-b", "$2_$1").unwrap(), "b_a");
        assert_eq!(replace("(.*)", "a", "$1abc").unwrap(), "aabc");
        assert_eq!(replace("(.*)", "a", "$10").unwrap(), "a0");
        assert_eq!(replace("(.*)", "a", r"\$1").unwrap(), "$1");
        assert_eq!(replace("(?<t>.*)", "a", "x${t}").unwrap(), "xa");
        assert_eq!(
            replace("(.*)", "a", "$2").unwrap_err().message,
            "No group 2"
        );
        assert_eq!(
            replace("(.*)", "a", "$x").unwrap_err().message,
            "Illegal group reference"
        );
    }

    #[test]
    fn whole_match_only() {
        let regex = JavaRegex::new("a+").unwrap();
        assert!(regex.matches("aaa"));
        assert!(!regex.matches("aab"));
        assert!(JavaRegex::new("(").is_err());
        assert!(JavaRegex::new(r"(\w)\1").unwrap().matches("aa"));
        // As Java: `matches()` finds "ab", `replaceFirst` then replaces the first find, "a".
        let regex = JavaRegex::new("a|ab").unwrap();
        assert!(regex.matches("ab"));
        assert_eq!(regex.replace_first("ab", "x").unwrap(), "xb");
    }
}
