//! Configuration shared by the built-in converters: Kafka's `ConverterConfig`
//! (`converter.type`) and the per-converter key definitions the REST API reports (R23).

use crate::config_def::{
    ConfigDef, ConfigKey, ConfigType, Default, Importance, ParsedConfig, Width,
};
use crate::connector::Config;
use crate::data::ConnectError;

/// `converter.type`: how the converter is used (`key`, `value` or `header`).
pub const TYPE_CONFIG: &str = "converter.type";

/// Kafka's `ConverterConfig.newConfigDef()`: `converter.type`, required, one of
/// `key`, `value`, `header`.
pub fn converter_config_def() -> ConfigDef {
    ConfigDef::new().define(
        ConfigKey::new(
            TYPE_CONFIG,
            ConfigType::String,
            Default::Required,
            Importance::Low,
            "How this converter will be used.",
        )
        .validate_with(|value| match value {
            crate::config_def::ConfigValue::String(text)
                if matches!(text.as_str(), "key" | "value" | "header") =>
            {
                Ok(())
            }
            _ => Err("String must be one of: key, value, header".to_string()),
        }),
    )
}

/// Parses a converter's `config` against `def`, `converter.type` set to `kind`
/// (`key`/`value`/`header`) as Kafka's `configure(configs, isKey)` does. Errors are
/// `ConfigException`s with Kafka's text.
pub(crate) fn parse(
    def: &ConfigDef,
    config: &Config,
    kind: &str,
) -> Result<ParsedConfig, ConnectError> {
    let mut props = config.clone();
    props.insert(TYPE_CONFIG.to_string(), kind.to_string());
    def.parse(&props).map_err(ConnectError::config)
}

/// `key` or `value`.
pub(crate) fn kind(is_key: bool) -> &'static str {
    if is_key {
        "key"
    } else {
        "value"
    }
}

/// A key in `group` at `order` with width MEDIUM.
pub(crate) fn grouped(key: ConfigKey, group: Option<&str>, order: i32, display: &str) -> ConfigKey {
    match group {
        Some(group) => key.in_group(group, order, Width::Medium, display),
        None => {
            let mut key = key;
            key.width = Width::Medium;
            key.display_name = display.to_string();
            key
        }
    }
}
