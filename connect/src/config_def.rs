//! Configuration definitions, as Kafka's `ConfigDef`: every plugin and the framework declare
//! their keys (type, default, importance, documentation, group), and one validator turns a
//! `String -> String` map into typed values or Kafka's error texts.
//!
//! The REST API reports these definitions (`ConfigKeyInfo`, R23) and validation results
//! (`ConfigInfos`, R24, CONNECT.md a.2 and a.4).
//!
//! References: `org.apache.kafka.common.config.ConfigDef` (Kafka 3.7).

use std::collections::BTreeMap;
use std::sync::Arc;

/// A key's type, as Kafka's `ConfigDef.Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    /// `true`/`false`, case-insensitive.
    Boolean,
    /// Text.
    String,
    /// 32-bit integer.
    Int,
    /// 16-bit integer.
    Short,
    /// 64-bit integer.
    Long,
    /// Double.
    Double,
    /// Comma-separated list; items trimmed, an empty text is an empty list.
    List,
    /// A class name.
    Class,
    /// A secret: reported as `[hidden]`.
    Password,
}

impl ConfigType {
    /// Kafka's name (`STRING`, `INT`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ConfigType::Boolean => "BOOLEAN",
            ConfigType::String => "STRING",
            ConfigType::Int => "INT",
            ConfigType::Short => "SHORT",
            ConfigType::Long => "LONG",
            ConfigType::Double => "DOUBLE",
            ConfigType::List => "LIST",
            ConfigType::Class => "CLASS",
            ConfigType::Password => "PASSWORD",
        }
    }
}

/// A key's importance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Importance {
    /// HIGH.
    High,
    /// MEDIUM.
    Medium,
    /// LOW.
    Low,
}

impl Importance {
    /// Kafka's name.
    pub fn name(self) -> &'static str {
        match self {
            Importance::High => "HIGH",
            Importance::Medium => "MEDIUM",
            Importance::Low => "LOW",
        }
    }
}

/// The UI width hint of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Width {
    /// NONE.
    None,
    /// SHORT.
    Short,
    /// MEDIUM.
    Medium,
    /// LONG.
    Long,
}

impl Width {
    /// Kafka's name.
    pub fn name(self) -> &'static str {
        match self {
            Width::None => "NONE",
            Width::Short => "SHORT",
            Width::Medium => "MEDIUM",
            Width::Long => "LONG",
        }
    }
}

/// A key's default: none (the key is required), null, or a value in text form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Default {
    /// No default: the key is required.
    Required,
    /// Default null: the key may be absent and has no value.
    Null,
    /// The default, in the text form a user would write.
    Value(String),
}

/// A typed configuration value.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigValue {
    /// BOOLEAN.
    Boolean(bool),
    /// STRING, CLASS, PASSWORD.
    String(String),
    /// INT, SHORT.
    Int(i32),
    /// LONG.
    Long(i64),
    /// DOUBLE.
    Double(f64),
    /// LIST.
    List(Vec<String>),
    /// Null (a key with a null default, left unset).
    Null,
}

/// Checks a parsed value; returns the reason text of Kafka's
/// `Invalid value <v> for configuration <k>: <reason>` on failure.
pub type Validator = Arc<dyn Fn(&ConfigValue) -> Result<(), String> + Send + Sync>;

/// One key definition (Kafka's `ConfigKey`).
#[derive(Clone)]
pub struct ConfigKey {
    /// Key name.
    pub name: String,
    /// Type.
    pub config_type: ConfigType,
    /// Default.
    pub default: Default,
    /// Importance.
    pub importance: Importance,
    /// Documentation.
    pub documentation: String,
    /// Group, if any.
    pub group: Option<String>,
    /// Order within the group, -1 when none.
    pub order: i32,
    /// Width hint.
    pub width: Width,
    /// Display name (defaults to the name).
    pub display_name: String,
    /// Validator, if any.
    pub validator: Option<Validator>,
}

impl std::fmt::Debug for ConfigKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigKey")
            .field("name", &self.name)
            .field("config_type", &self.config_type)
            .field("default", &self.default)
            .finish_non_exhaustive()
    }
}

impl ConfigKey {
    /// A key with `name`, `config_type`, `default`, `importance` and `documentation`; no
    /// group, order -1, width NONE, display name = name, no validator.
    pub fn new(
        name: &str,
        config_type: ConfigType,
        default: Default,
        importance: Importance,
        documentation: &str,
    ) -> ConfigKey {
        ConfigKey {
            name: name.to_string(),
            config_type,
            default,
            importance,
            documentation: documentation.to_string(),
            group: None,
            order: -1,
            width: Width::None,
            display_name: name.to_string(),
            validator: None,
        }
    }

    /// This key in `group` at `order`, with `width` and `display_name`.
    pub fn in_group(mut self, group: &str, order: i32, width: Width, display_name: &str) -> Self {
        self.group = Some(group.to_string());
        self.order = order;
        self.width = width;
        self.display_name = display_name.to_string();
        self
    }

    /// This key with a validator.
    pub fn validate_with(
        mut self,
        validator: impl Fn(&ConfigValue) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.validator = Some(Arc::new(validator));
        self
    }

    /// Parses `text` as this key's type. Errors with Kafka's
    /// `Invalid value <text> for configuration <name>: <reason>`.
    pub fn parse(&self, text: &str) -> Result<ConfigValue, String> {
        let invalid = |reason: &str| {
            format!(
                "Invalid value {text} for configuration {}: {reason}",
                self.name
            )
        };
        let trimmed = text.trim();
        let value = match self.config_type {
            ConfigType::Boolean => match trimmed.to_ascii_lowercase().as_str() {
                "true" => ConfigValue::Boolean(true),
                "false" => ConfigValue::Boolean(false),
                _ => return Err(invalid("Expected value to be either true or false")),
            },
            ConfigType::String | ConfigType::Password => ConfigValue::String(trimmed.to_string()),
            ConfigType::Class => ConfigValue::String(trimmed.to_string()),
            ConfigType::Int => trimmed
                .parse::<i32>()
                .map(ConfigValue::Int)
                .map_err(|_| invalid("Not a number of type INT"))?,
            ConfigType::Short => trimmed
                .parse::<i16>()
                .map(|v| ConfigValue::Int(i32::from(v)))
                .map_err(|_| invalid("Not a number of type SHORT"))?,
            ConfigType::Long => trimmed
                .parse::<i64>()
                .map(ConfigValue::Long)
                .map_err(|_| invalid("Not a number of type LONG"))?,
            ConfigType::Double => trimmed
                .parse::<f64>()
                .map(ConfigValue::Double)
                .map_err(|_| invalid("Not a number of type DOUBLE"))?,
            ConfigType::List => ConfigValue::List(parse_list(trimmed)),
        };
        if let Some(validator) = &self.validator {
            validator(&value).map_err(|reason| invalid(&reason))?;
        }
        Ok(value)
    }
}

/// Splits a LIST value as Kafka does: on commas (with surrounding whitespace), an empty
/// text giving an empty list.
pub fn parse_list(text: &str) -> Vec<String> {
    let text = text.trim();
    if text.is_empty() {
        return Vec::new();
    }
    text.split(',')
        .map(|item| item.trim().to_string())
        .collect()
}

/// The validation result of one key (Kafka's `ConfigValue` in `ConfigInfos`).
#[derive(Debug, Clone, PartialEq)]
pub struct KeyValidation {
    /// Key name.
    pub name: String,
    /// The value as given (None when absent); PASSWORD values are reported as `[hidden]`.
    pub value: Option<String>,
    /// Recommended values (always empty for our plugins).
    pub recommended_values: Vec<String>,
    /// Error texts.
    pub errors: Vec<String>,
    /// Whether the key is visible.
    pub visible: bool,
}

/// A set of key definitions (Kafka's `ConfigDef`), in definition order.
#[derive(Debug, Clone, Default)]
pub struct ConfigDef {
    /// The keys, in definition order.
    pub keys: Vec<ConfigKey>,
}

impl ConfigDef {
    /// An empty definition.
    pub fn new() -> ConfigDef {
        ConfigDef::default()
    }

    /// Adds `key` (replacing a key of the same name).
    pub fn define(mut self, key: ConfigKey) -> ConfigDef {
        self.keys.retain(|existing| existing.name != key.name);
        self.keys.push(key);
        self
    }

    /// Appends every key of `other` (later definitions of a name replace earlier ones).
    pub fn merge(mut self, other: ConfigDef) -> ConfigDef {
        for key in other.keys {
            self = self.define(key);
        }
        self
    }

    /// The key called `name`.
    pub fn key(&self, name: &str) -> Option<&ConfigKey> {
        self.keys.iter().find(|key| key.name == name)
    }

    /// Parses `props` into typed values: every defined key (defaults applied), plus nothing
    /// else. Errors with the first key's Kafka message: `Missing required configuration "k"
    /// which has no default value.` or `Invalid value ...`.
    pub fn parse(&self, props: &BTreeMap<String, String>) -> Result<ParsedConfig, String> {
        let mut values = BTreeMap::new();
        for key in &self.keys {
            let value = match (props.get(&key.name), &key.default) {
                (Some(text), _) => key.parse(text)?,
                (None, Default::Value(text)) => key.parse(text)?,
                (None, Default::Null) => ConfigValue::Null,
                (None, Default::Required) => return Err(missing(&key.name)),
            };
            values.insert(key.name.clone(), value);
        }
        Ok(ParsedConfig {
            values,
            originals: props.clone(),
        })
    }

    /// Validates `props` key by key, as Kafka's `ConfigDef.validate`: one entry per defined
    /// key, in definition order, with its errors (none when valid).
    pub fn validate(&self, props: &BTreeMap<String, String>) -> Vec<KeyValidation> {
        self.keys
            .iter()
            .map(|key| {
                let given = props.get(&key.name);
                let mut errors = Vec::new();
                match (given, &key.default) {
                    (Some(text), _) => {
                        if let Err(error) = key.parse(text) {
                            errors.push(error);
                        }
                    }
                    (None, Default::Required) => errors.push(missing(&key.name)),
                    (None, Default::Value(text)) => {
                        if let Err(error) = key.parse(text) {
                            errors.push(error);
                        }
                    }
                    (None, Default::Null) => {}
                }
                let value = given.map(|text| {
                    if key.config_type == ConfigType::Password {
                        "[hidden]".to_string()
                    } else {
                        text.clone()
                    }
                });
                KeyValidation {
                    name: key.name.clone(),
                    value,
                    recommended_values: Vec::new(),
                    errors,
                    visible: true,
                }
            })
            .collect()
    }
}

fn missing(name: &str) -> String {
    format!("Missing required configuration \"{name}\" which has no default value.")
}

/// Typed values of a parsed configuration, plus the original text map (for prefixed
/// sub-keys a definition does not list).
#[derive(Debug, Clone, Default)]
pub struct ParsedConfig {
    values: BTreeMap<String, ConfigValue>,
    originals: BTreeMap<String, String>,
}

impl ParsedConfig {
    /// The typed value of `name` (Null when unset with a null default or undefined).
    pub fn get(&self, name: &str) -> &ConfigValue {
        self.values.get(name).unwrap_or(&ConfigValue::Null)
    }

    /// A STRING/CLASS/PASSWORD value; None when null.
    pub fn string(&self, name: &str) -> Option<&str> {
        match self.get(name) {
            ConfigValue::String(text) => Some(text),
            _ => None,
        }
    }

    /// An INT or SHORT value; None when null.
    pub fn int(&self, name: &str) -> Option<i32> {
        match self.get(name) {
            ConfigValue::Int(value) => Some(*value),
            _ => None,
        }
    }

    /// A LONG value; None when null.
    pub fn long(&self, name: &str) -> Option<i64> {
        match self.get(name) {
            ConfigValue::Long(value) => Some(*value),
            ConfigValue::Int(value) => Some(i64::from(*value)),
            _ => None,
        }
    }

    /// A DOUBLE value; None when null.
    pub fn double(&self, name: &str) -> Option<f64> {
        match self.get(name) {
            ConfigValue::Double(value) => Some(*value),
            _ => None,
        }
    }

    /// A BOOLEAN value; false when null.
    pub fn boolean(&self, name: &str) -> bool {
        matches!(self.get(name), ConfigValue::Boolean(true))
    }

    /// A LIST value; empty when null.
    pub fn list(&self, name: &str) -> &[String] {
        match self.get(name) {
            ConfigValue::List(items) => items,
            _ => &[],
        }
    }

    /// The original text map.
    pub fn originals(&self) -> &BTreeMap<String, String> {
        &self.originals
    }

    /// The original keys starting with `prefix`, with the prefix removed.
    pub fn originals_with_prefix(&self, prefix: &str) -> BTreeMap<String, String> {
        with_prefix(&self.originals, prefix)
    }
}

/// The keys of `props` starting with `prefix`, with the prefix removed.
pub fn with_prefix(props: &BTreeMap<String, String>, prefix: &str) -> BTreeMap<String, String> {
    props
        .range(prefix.to_string()..)
        .take_while(|(key, _)| key.starts_with(prefix))
        .map(|(key, value)| (key[prefix.len()..].to_string(), value.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def() -> ConfigDef {
        ConfigDef::new()
            .define(ConfigKey::new(
                "topic",
                ConfigType::String,
                Default::Required,
                Importance::High,
                "t",
            ))
            .define(
                ConfigKey::new(
                    "batch.size",
                    ConfigType::Int,
                    Default::Value("2000".into()),
                    Importance::Low,
                    "b",
                )
                .validate_with(|v| match v {
                    ConfigValue::Int(n) if *n >= 1 => Ok(()),
                    _ => Err("Value must be at least 1".into()),
                }),
            )
    }

    #[test]
    fn parse_applies_defaults_and_kafka_messages() {
        let mut props = BTreeMap::new();
        assert_eq!(
            def().parse(&props).unwrap_err(),
            "Missing required configuration \"topic\" which has no default value."
        );
        props.insert("topic".to_string(), "t".to_string());
        let parsed = def().parse(&props).unwrap();
        assert_eq!(parsed.int("batch.size"), Some(2000));
        props.insert("batch.size".to_string(), "x".to_string());
        assert_eq!(
            def().parse(&props).unwrap_err(),
            "Invalid value x for configuration batch.size: Not a number of type INT"
        );
        props.insert("batch.size".to_string(), "0".to_string());
        assert_eq!(
            def().validate(&props)[1].errors,
            vec![
                "Invalid value 0 for configuration batch.size: Value must be at least 1"
                    .to_string()
            ]
        );
    }

    #[test]
    fn prefixes_strip() {
        let props: BTreeMap<String, String> = [("a.b", "1"), ("a.c", "2"), ("b", "3")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let sub = with_prefix(&props, "a.");
        assert_eq!(sub.len(), 2);
        assert_eq!(sub["c"], "2");
    }
}
