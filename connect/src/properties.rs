//! Reading worker and connector files (CONNECT.md b.1, b.2).
//!
//! Worker files are Java properties files. Connector files given to
//! `connect-standalone` are, first that fits: a JSON object of strings (the connector
//! config, with `name`), a JSON object `{"name", "config", "initial_state"}` (the REST
//! create body), or a Java properties file.
//!
//! DIVERGE (b.2): files are read as UTF-8, where Java's `Properties.load` reads ISO-8859-1;
//! the two agree on ASCII, and `\uXXXX` escapes work in both.

use std::collections::BTreeMap;
use std::path::Path;

use crate::connector::Config;
use crate::data::ConnectError;
use crate::runtime::TargetState;

/// Parses Java properties text (`java.util.Properties.load` grammar: `=`, `:` or space
/// separators, `#`/`!` comments, line continuations, escapes).
pub fn parse_properties(text: &str) -> Result<Config, ConnectError> {
    let map = java_properties::read(text.as_bytes())
        .map_err(|e| ConnectError::config(format!("malformed properties: {e}")))?;
    Ok(map.into_iter().collect())
}

/// Reads a Java properties file. Errors name the file.
pub fn load_properties(path: &Path) -> Result<Config, ConnectError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConnectError::config(format!("cannot read {}: {e}", path.display())))?;
    parse_properties(&text)
        .map_err(|e| ConnectError::config(format!("{}: {}", path.display(), e.message)))
}

/// A connector to create at start-up, read from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectorFile {
    /// Connector name.
    pub name: String,
    /// Its configuration (includes `name`).
    pub config: Config,
    /// Its initial target state (default started).
    pub initial_state: TargetState,
}

/// Parses a connector file's text by the rules of b.1. Errors: no `name`, a `config.name`
/// that differs from `name`, an unknown `initial_state`, or text that is neither form.
pub fn parse_connector_file(text: &str) -> Result<ConnectorFile, ConnectError> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        if let Ok(serde_json::Value::Object(object)) =
            serde_json::from_str::<serde_json::Value>(text)
        {
            return connector_from_json(object);
        }
    }
    let config = parse_properties(text)?;
    let name = config
        .get("name")
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .ok_or_else(|| ConnectError::config("Connector config is missing its name"))?;
    Ok(ConnectorFile {
        name,
        config,
        initial_state: TargetState::Started,
    })
}

fn connector_from_json(
    object: serde_json::Map<String, serde_json::Value>,
) -> Result<ConnectorFile, ConnectError> {
    let all_strings = object.values().all(|value| value.is_string());
    if all_strings {
        let config: Config = object
            .into_iter()
            .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_string()))
            .collect();
        let name = config
            .get("name")
            .map(|name| name.trim().to_string())
            .filter(|name| !name.is_empty())
            .ok_or_else(|| ConnectError::config("Connector config is missing its name"))?;
        return Ok(ConnectorFile {
            name,
            config,
            initial_state: TargetState::Started,
        });
    }
    let name = object
        .get("name")
        .and_then(|name| name.as_str())
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .ok_or_else(|| ConnectError::config("Connector config is missing its name"))?;
    let mut config: Config = BTreeMap::new();
    if let Some(serde_json::Value::Object(entries)) = object.get("config") {
        for (key, value) in entries {
            let text = match value {
                serde_json::Value::String(text) => text.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                other => {
                    return Err(ConnectError::config(format!(
                        "Connector config value of {key} must be a string, got {other}"
                    )))
                }
            };
            config.insert(key.clone(), text);
        }
    }
    match config.get("name") {
        Some(inner) if inner.trim() != name => {
            return Err(ConnectError::config(format!(
                "Connector name configuration ({inner}) doesn't match connector name in the URL ({name})"
            )))
        }
        _ => {
            config.insert("name".to_string(), name.clone());
        }
    }
    let initial_state = match object.get("initial_state").and_then(|s| s.as_str()) {
        None => TargetState::Started,
        Some(state) => match state.to_ascii_uppercase().as_str() {
            "RUNNING" => TargetState::Started,
            "PAUSED" => TargetState::Paused,
            "STOPPED" => TargetState::Stopped,
            _ => {
                return Err(ConnectError::config(format!(
                    "Invalid initial state {state}: must be one of RUNNING, PAUSED, STOPPED"
                )))
            }
        },
    };
    Ok(ConnectorFile {
        name,
        config,
        initial_state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_properties_grammar() {
        let text = "# comment\n! also\nname=local-file-source\nconnector.class : FileStreamSource\ntasks.max 1\nfile=a\\\n   b.txt\nkey\\=x=y\u{0020}\nunicode=\\u0041\n";
        let config = parse_properties(text).unwrap();
        assert_eq!(config["name"], "local-file-source");
        assert_eq!(config["connector.class"], "FileStreamSource");
        assert_eq!(config["tasks.max"], "1");
        assert_eq!(config["file"], "ab.txt");
        assert_eq!(config["key=x"], "y ");
        assert_eq!(config["unicode"], "A");
    }

    #[test]
    fn connector_files_in_three_forms() {
        let flat =
            parse_connector_file(r#"{"name":"a","connector.class":"FileStreamSink","topics":"t"}"#)
                .unwrap();
        assert_eq!(flat.name, "a");
        assert_eq!(flat.config["topics"], "t");
        let nested = parse_connector_file(
            r#"{"name":"b","config":{"connector.class":"FileStreamSink","tasks.max":2},"initial_state":"paused","extra":1}"#,
        )
        .unwrap();
        assert_eq!(nested.config["name"], "b");
        assert_eq!(nested.config["tasks.max"], "2");
        assert_eq!(nested.initial_state, TargetState::Paused);
        let props = parse_connector_file("name=c\nconnector.class=FileStreamSource\n").unwrap();
        assert_eq!(props.name, "c");
        let mismatch = parse_connector_file(r#"{"name":"b","config":{"name":"x"}}"#).unwrap_err();
        assert!(
            mismatch.message.contains("doesn't match"),
            "{}",
            mismatch.message
        );
        assert!(parse_connector_file("connector.class=X\n").is_err());
    }
}
