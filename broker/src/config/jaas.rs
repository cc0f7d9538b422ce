//! A JAAS configuration line as Kafka's `sasl.jaas.config` holds it:
//! `<LoginModule class> <flag> key="value" key2=value2;`.
//!
//! Values are quoted with `"` (a backslash escapes the next character inside quotes) or bare
//! words; the flag is `required`, `requisite`, `sufficient` or `optional`. One login module per
//! line, as Kafka requires of `sasl.jaas.config`.
//!
//! References: Kafka's `JaasConfig` (a `StreamTokenizer` grammar); Kafka documentation section
//! 7.4.2 "JAAS configuration".

use std::collections::BTreeMap;
use std::fmt;

/// One parsed JAAS login module entry. Debug prints the option names only: values hold
/// passwords.
#[derive(Clone, PartialEq, Eq)]
pub struct JaasEntry {
    /// The login module class, e.g. `org.apache.kafka.common.security.plain.PlainLoginModule`.
    pub login_module: String,
    /// The control flag, lower case.
    pub flag: String,
    /// The options, in key order.
    pub options: BTreeMap<String, String>,
}

impl fmt::Debug for JaasEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JaasEntry")
            .field("login_module", &self.login_module)
            .field("flag", &self.flag)
            .field("options", &self.options.keys().collect::<Vec<_>>())
            .field("values", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Equals,
    Semicolon,
}

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '=' => {
                chars.next();
                out.push(Token::Equals);
            }
            ';' => {
                chars.next();
                out.push(Token::Semicolon);
            }
            '"' => {
                chars.next();
                let mut value = String::new();
                loop {
                    match chars.next() {
                        None => return Err("unterminated quoted value".into()),
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some('n') => value.push('\n'),
                            Some('t') => value.push('\t'),
                            Some(other) => value.push(other),
                            None => return Err("unterminated quoted value".into()),
                        },
                        Some(other) => value.push(other),
                    }
                }
                out.push(Token::Quoted(value));
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || c == '=' || c == ';' || c == '"' {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                out.push(Token::Word(word));
            }
        }
    }
    Ok(out)
}

/// Parses a `sasl.jaas.config` value holding exactly one login module.
///
/// Errors: a message naming what is wrong (no module, a bad flag, an option without `=` or
/// value, a missing `;`, more than one module), without any option value in it.
pub fn parse(text: &str) -> Result<JaasEntry, String> {
    let tokens = tokens(text)?;
    let mut iter = tokens.into_iter();
    let Some(Token::Word(login_module)) = iter.next() else {
        return Err("expected a login module class name".into());
    };
    let flag = match iter.next() {
        Some(Token::Word(flag))
            if ["required", "requisite", "sufficient", "optional"]
                .contains(&flag.to_ascii_lowercase().as_str()) =>
        {
            flag.to_ascii_lowercase()
        }
        _ => return Err(format!("invalid control flag after {login_module}")),
    };
    let mut options = BTreeMap::new();
    loop {
        match iter.next() {
            Some(Token::Semicolon) => break,
            Some(Token::Word(key)) => {
                if iter.next() != Some(Token::Equals) {
                    return Err(format!("option {key} has no '='"));
                }
                match iter.next() {
                    Some(Token::Word(value) | Token::Quoted(value)) => {
                        options.insert(key, value);
                    }
                    _ => return Err(format!("option {key} has no value")),
                }
            }
            None => return Err("login module entry does not end with ';'".into()),
            Some(_) => return Err("expected an option name".into()),
        }
    }
    if iter.next().is_some() {
        return Err("only one login module may be configured".into());
    }
    Ok(JaasEntry {
        login_module,
        flag,
        options,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_login_module_with_users() -> Result<(), String> {
        let entry = parse(
            "org.apache.kafka.common.security.plain.PlainLoginModule required \
             username=\"admin\" password=\"admin-secret\"\n user_admin=\"admin-secret\" \
             user_alice=\"a \\\"quoted\\\" pass;word\";",
        )?;
        assert_eq!(
            entry.login_module,
            "org.apache.kafka.common.security.plain.PlainLoginModule"
        );
        assert_eq!(entry.flag, "required");
        assert_eq!(entry.options["user_admin"], "admin-secret");
        assert_eq!(entry.options["user_alice"], "a \"quoted\" pass;word");
        assert!(!format!("{entry:?}").contains("admin-secret"));
        Ok(())
    }

    #[test]
    fn bare_words_and_flags() -> Result<(), String> {
        let entry = parse("M OPTIONAL unsecuredLoginStringClaim_sub=alice;")?;
        assert_eq!(entry.flag, "optional");
        assert_eq!(entry.options["unsecuredLoginStringClaim_sub"], "alice");
        Ok(())
    }

    #[test]
    fn malformed_lines_are_refused() {
        for bad in [
            "",
            "M required a=\"b\"",
            "M mandatory;",
            "M required a;",
            "M required a=;",
            "M required a=\"b;",
            "M required; N required;",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
