//! The transform chain of a connector (CONNECT.md d.1, Kafka's `TransformationChain` and
//! `TransformationStage` with `ConnectorConfig.transformationStages`/`enrich`): built from
//! `transforms`, `transforms.<a>.type`, `.predicate`, `.negate`, `predicates`,
//! `predicates.<p>.type` and their sub-keys, applied in order, a predicate (xor negate)
//! deciding whether each transform applies.

use std::collections::BTreeMap;

use crate::config_def::{
    parse_list, with_prefix, ConfigDef, ConfigKey, ConfigType, Default, Importance,
};
use crate::connector::Config;
use crate::data::{ConnectError, ConnectRecord};
use crate::plugins::{self, Factory, PluginDesc, PluginType};
use crate::transforms::{Predicate, Transform};

/// One transform of the chain, with its optional predicate.
struct Stage {
    class: &'static str,
    transform: Box<dyn Transform>,
    predicate: Option<Box<dyn Predicate>>,
    negate: bool,
}

/// A connector's configured transforms, in order. One per task: transforms may cache.
#[derive(Default)]
pub struct TransformChain {
    stages: Vec<Stage>,
}

impl std::fmt::Debug for TransformChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.stages.iter().map(|stage| stage.class))
            .finish()
    }
}

/// Kafka's `new ConnectException(cause)`: the cause's class and message as the message.
fn wrapped(cause: ConnectError) -> ConnectError {
    ConnectError::connect(format!("{}: {}", cause.java_class(), cause.message)).with_cause(cause)
}

fn missing(key: &str) -> String {
    format!("Missing required configuration \"{key}\" which has no default value.")
}

fn not_found(key: &str, class: &str) -> String {
    format!("Invalid value {class} for configuration {key}: Class {class} could not be found.")
}

/// The plugin a `*.type` key names, of `plugin_type`; Kafka's texts when absent or unknown.
fn plugin_of(config: &Config, key: &str, plugin_type: PluginType) -> Result<PluginDesc, String> {
    let class = config
        .get(key)
        .map(|c| c.trim())
        .ok_or_else(|| missing(key))?;
    plugins::find(class, &[plugin_type]).ok_or_else(|| not_found(key, class))
}

/// Kafka's `Boolean.parseBoolean`: true only for `true`, any case.
fn parse_boolean(text: Option<&String>) -> bool {
    text.is_some_and(|t| t.trim().eq_ignore_ascii_case("true"))
}

impl TransformChain {
    /// A chain with no transforms: records pass unchanged.
    pub fn empty() -> TransformChain {
        TransformChain::default()
    }

    /// Builds and configures the chain from a connector's config (all keys, prefixes
    /// included). Errors as Kafka's `transformationStages` does: a `ConnectException` whose
    /// message is the cause's `class: message` and whose cause is the `ConfigException` with
    /// Kafka's text (missing or unknown `type`, a transform's own configuration errors).
    pub fn from_config(config: &Config) -> Result<TransformChain, ConnectError> {
        let mut stages = Vec::new();
        for alias in parse_list(config.get("transforms").map_or("", String::as_str)) {
            let prefix = format!("transforms.{alias}.");
            let desc = plugin_of(config, &format!("{prefix}type"), PluginType::Transformation)
                .map_err(|message| wrapped(ConnectError::config(message)))?;
            let Factory::Transform(make) = desc.factory else {
                return Err(wrapped(ConnectError::config(not_found(
                    &format!("{prefix}type"),
                    desc.class,
                ))));
            };
            let mut own = with_prefix(config, &prefix);
            let predicate_alias = own.remove("predicate");
            let negate = parse_boolean(own.remove("negate").as_ref());
            let mut transform = make();
            transform.configure(&own).map_err(wrapped)?;
            let predicate = match predicate_alias {
                None => None,
                Some(predicate_alias) => {
                    let predicate_prefix = format!("predicates.{}.", predicate_alias.trim());
                    let key = format!("{predicate_prefix}type");
                    let listed = parse_list(config.get("predicates").map_or("", String::as_str));
                    if !listed.iter().any(|p| p == predicate_alias.trim()) {
                        return Err(wrapped(ConnectError::config(format!(
                            "Unknown configuration '{key}'"
                        ))));
                    }
                    let desc = plugin_of(config, &key, PluginType::Predicate)
                        .map_err(|message| wrapped(ConnectError::config(message)))?;
                    let Factory::Predicate(make) = desc.factory else {
                        return Err(wrapped(ConnectError::config(not_found(&key, desc.class))));
                    };
                    let mut predicate = make();
                    predicate
                        .configure(&with_prefix(config, &predicate_prefix))
                        .map_err(wrapped)?;
                    Some(predicate)
                }
            };
            stages.push(Stage {
                class: desc.class,
                transform,
                predicate,
                negate,
            });
        }
        Ok(TransformChain { stages })
    }

    /// Number of transforms.
    pub fn len(&self) -> usize {
        self.stages.len()
    }

    /// True when there are no transforms.
    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// Kafka's class name of the transform at `index` (for error logs and the DLQ
    /// `__connect.errors.class.name` header); empty for an index past the end.
    pub fn class_of(&self, index: usize) -> &str {
        self.stages.get(index).map_or("", |stage| stage.class)
    }

    /// Applies the transforms in order. `Ok(None)`: a transform dropped the record (the
    /// rest are skipped). `Err((index, error))`: the transform at `index` failed.
    pub fn apply(
        &mut self,
        record: ConnectRecord,
    ) -> Result<Option<ConnectRecord>, (usize, ConnectError)> {
        let mut record = record;
        for (index, stage) in self.stages.iter_mut().enumerate() {
            let applies = match &stage.predicate {
                None => true,
                Some(predicate) => predicate.test(&record) ^ stage.negate,
            };
            if !applies {
                continue;
            }
            match stage.transform.apply(record) {
                Ok(Some(next)) => record = next,
                Ok(None) => return Ok(None),
                Err(error) => return Err((index, error)),
            }
        }
        Ok(Some(record))
    }
}

/// `def` with every key renamed `prefix` + name (Kafka's `ConfigDef.embed`).
fn embedded(def: ConfigDef, prefix: &str) -> ConfigDef {
    let mut out = ConfigDef::new();
    for mut key in def.keys {
        // Kafka keeps the child's display name (its unprefixed name).
        key.name = format!("{prefix}{}", key.name);
        out = out.define(key);
    }
    out
}

/// The keys Kafka's `ConnectorConfig.enrich` adds for the transforms and predicates a
/// connector config names, in Kafka's order and groups: per transform alias `a`, group
/// `Transforms: a` with `transforms.a.type` (CLASS, required), `transforms.a.predicate`,
/// `transforms.a.negate`, then the transform's own keys prefixed; per predicate alias `p`,
/// group `Predicates: p` with `predicates.p.type` and the predicate's own keys. An unknown
/// class contributes only its `type` key. For the REST API's `ConfigInfos` (a.4).
pub fn chain_config_def(config: &Config) -> ConfigDef {
    let mut out = ConfigDef::new();
    for (list_key, kind, group_name, type_name) in [
        (
            "transforms",
            PluginType::Transformation,
            "Transforms",
            "Transformation",
        ),
        (
            "predicates",
            PluginType::Predicate,
            "Predicates",
            "Predicate",
        ),
    ] {
        for alias in aliases(config, list_key) {
            let prefix = format!("{list_key}.{alias}.");
            let group = format!("{group_name}: {alias}");
            let mut order = 0;
            let mut add = |out: ConfigDef, mut key: ConfigKey| {
                key.group = Some(group.clone());
                key.order = order;
                order += 1;
                out.define(key)
            };
            let type_key = ConfigKey::new(
                &format!("{prefix}type"),
                ConfigType::Class,
                Default::Required,
                Importance::High,
                &format!(
                    "Class for the '{alias}' {}.",
                    type_name.to_ascii_lowercase()
                ),
            )
            .in_group(
                &group,
                0,
                crate::config_def::Width::Long,
                &format!("{type_name} type for {alias}"),
            );
            out = add(out, type_key);
            if kind == PluginType::Transformation {
                out = add(
                    out,
                    ConfigKey::new(
                        &format!("{prefix}predicate"),
                        ConfigType::String,
                        Default::Null,
                        Importance::Medium,
                        "The alias of a predicate used to determine whether to apply this transformation.",
                    ),
                );
                out = add(
                    out,
                    ConfigKey::new(
                        &format!("{prefix}negate"),
                        ConfigType::Boolean,
                        Default::Value("false".into()),
                        Importance::Medium,
                        "Whether the configured predicate should be negated.",
                    ),
                );
            }
            if let Ok(desc) = plugin_of(config, &format!("{prefix}type"), kind) {
                for key in embedded((desc.config_def)(), &prefix).keys {
                    // The implicit keys mask a plugin's own keys of the same name.
                    let implicit = key.name == format!("{prefix}predicate")
                        || key.name == format!("{prefix}negate");
                    if kind == PluginType::Transformation && implicit {
                        continue;
                    }
                    out = add(out, key);
                }
            }
        }
    }
    out
}

/// Unique aliases of a LIST key, in first-seen order.
fn aliases(config: &Config, key: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for alias in parse_list(config.get(key).map_or("", String::as_str)) {
        if !out.contains(&alias) {
            out.push(alias);
        }
    }
    out
}

/// Validates the transform and predicate keys of a connector config, as Kafka's enriched
/// `ConnectorConfig` definition does (REST a.4): per key, Kafka's message. Checks duplicate
/// aliases in `transforms`/`predicates`, every `transforms.<a>.type` and
/// `predicates.<p>.type` (missing, unknown class), `negate` without `predicate`, `negate`'s
/// type, each plugin's own keys (reported under their full prefixed names) and, when those
/// are valid, the errors the plugin's `configure` raises (reported under its `type` key).
pub fn validate_chain(config: &Config) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    for list_key in ["transforms", "predicates"] {
        let all = parse_list(config.get(list_key).map_or("", String::as_str));
        let unique = aliases(config, list_key);
        if all.len() != unique.len() {
            errors.push((
                list_key.to_string(),
                format!(
                    "Invalid value [{}] for configuration {list_key}: Duplicate alias provided.",
                    all.join(", ")
                ),
            ));
        }
    }
    for alias in aliases(config, "transforms") {
        let prefix = format!("transforms.{alias}.");
        let type_key = format!("{prefix}type");
        if config.contains_key(&format!("{prefix}negate"))
            && !config.contains_key(&format!("{prefix}predicate"))
        {
            errors.push((
                type_key.clone(),
                format!(
                    "Config '{prefix}negate' was provided but there is no config '{prefix}predicate' defining a predicate to be negated."
                ),
            ));
        }
        let implicit = ConfigDef::new()
            .define(ConfigKey::new(
                &format!("{prefix}predicate"),
                ConfigType::String,
                Default::Null,
                Importance::Medium,
                "The alias of a predicate used to determine whether to apply this transformation.",
            ))
            .define(ConfigKey::new(
                &format!("{prefix}negate"),
                ConfigType::Boolean,
                Default::Value("false".into()),
                Importance::Medium,
                "Whether the configured predicate should be negated.",
            ));
        errors.extend(key_errors(&implicit, config));
        match plugin_of(config, &type_key, PluginType::Transformation) {
            Err(message) => errors.push((type_key, message)),
            Ok(desc) => {
                let mut own = with_prefix(config, &prefix);
                own.remove("predicate");
                own.remove("negate");
                errors.extend(plugin_errors(&desc, &prefix, &type_key, config, &own));
            }
        }
    }
    for alias in aliases(config, "predicates") {
        let prefix = format!("predicates.{alias}.");
        let type_key = format!("{prefix}type");
        match plugin_of(config, &type_key, PluginType::Predicate) {
            Err(message) => errors.push((type_key, message)),
            Ok(desc) => {
                let own = with_prefix(config, &prefix);
                errors.extend(plugin_errors(&desc, &prefix, &type_key, config, &own));
            }
        }
    }
    errors
}

fn key_errors(def: &ConfigDef, config: &Config) -> Vec<(String, String)> {
    def.validate(config)
        .into_iter()
        .flat_map(|key| {
            key.errors
                .into_iter()
                .map(move |error| (key.name.clone(), error))
        })
        .collect()
}

fn plugin_errors(
    desc: &PluginDesc,
    prefix: &str,
    type_key: &str,
    config: &Config,
    own: &BTreeMap<String, String>,
) -> Vec<(String, String)> {
    let errors = key_errors(&embedded((desc.config_def)(), prefix), config);
    if !errors.is_empty() {
        return errors;
    }
    let result = match desc.factory {
        Factory::Transform(make) => make().configure(own),
        Factory::Predicate(make) => make().configure(own),
        _ => Ok(()),
    };
    match result {
        Err(error) => vec![(type_key.to_string(), error.message)],
        Ok(()) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Value;

    use crate::connector::config_from as config;

    #[test]
    fn predicate_and_negate_decide() {
        let base = [
            ("transforms", "drop"),
            (
                "transforms.drop.type",
                "org.apache.kafka.connect.transforms.Filter",
            ),
            ("transforms.drop.predicate", "isTombstone"),
            ("predicates", "isTombstone"),
            (
                "predicates.isTombstone.type",
                "org.apache.kafka.connect.transforms.predicates.RecordIsTombstone",
            ),
        ];
        let mut chain = TransformChain::from_config(&config(&base)).unwrap();
        assert_eq!(
            chain.class_of(0),
            "org.apache.kafka.connect.transforms.Filter"
        );
        assert_eq!(chain.apply(ConnectRecord::default()).unwrap(), None);
        let live = ConnectRecord {
            value: Value::Int32(1),
            ..ConnectRecord::default()
        };
        assert_eq!(chain.apply(live.clone()).unwrap(), Some(live.clone()));

        let mut negated = config(&base);
        negated.insert("transforms.drop.negate".into(), "TRUE".into());
        let mut chain = TransformChain::from_config(&negated).unwrap();
        assert_eq!(chain.apply(live).unwrap(), None);
        assert!(chain.apply(ConnectRecord::default()).unwrap().is_some());
    }

    #[test]
    fn order_and_failing_index() {
        let mut chain = TransformChain::from_config(&config(&[
            ("transforms", "hoist, route, extract"),
            ("transforms.hoist.type", "HoistField$Value"),
            ("transforms.hoist.field", "f"),
            (
                "transforms.route.type",
                "org.apache.kafka.connect.transforms.RegexRouter",
            ),
            ("transforms.route.regex", "(.*)"),
            ("transforms.route.replacement", "$1-x"),
            (
                "transforms.extract.type",
                "org.apache.kafka.connect.transforms.ExtractField$Key",
            ),
            ("transforms.extract.field", "k"),
        ]))
        .unwrap();
        assert_eq!(chain.len(), 3);
        let record = ConnectRecord {
            topic: "t".into(),
            value: Value::Int64(1),
            ..ConnectRecord::default()
        };
        let out = chain.apply(record.clone()).unwrap().unwrap();
        assert_eq!(out.topic, "t-x");
        assert_eq!(
            out.value,
            Value::Map(vec![(Value::String("f".into()), Value::Int64(1))])
        );
        let bad = ConnectRecord {
            key: Value::Int64(1),
            ..record
        };
        let (index, error) = chain.apply(bad).unwrap_err();
        assert_eq!(index, 2);
        assert_eq!(
            chain.class_of(index),
            "org.apache.kafka.connect.transforms.ExtractField$Key"
        );
        assert_eq!(
            error.message,
            "Only Map objects supported in absence of schema for [field extraction], found: java.lang.Long"
        );
    }

    #[test]
    fn build_errors_wrap_config_exceptions() {
        let error = TransformChain::from_config(&config(&[("transforms", "a")])).unwrap_err();
        assert_eq!(
            error.message,
            "org.apache.kafka.common.config.ConfigException: Missing required configuration \"transforms.a.type\" which has no default value."
        );
        let error = TransformChain::from_config(&config(&[
            ("transforms", "a"),
            ("transforms.a.type", "Nope"),
        ]))
        .unwrap_err();
        assert_eq!(
            error.cause.unwrap().message,
            "Invalid value Nope for configuration transforms.a.type: Class Nope could not be found."
        );
        let error = TransformChain::from_config(&config(&[
            ("transforms", "a"),
            (
                "transforms.a.type",
                "org.apache.kafka.connect.transforms.InsertField$Value",
            ),
        ]))
        .unwrap_err();
        assert_eq!(
            error.cause.unwrap().message,
            "No field insertion configured"
        );
    }

    #[test]
    fn enriched_definition() {
        let def = chain_config_def(&config(&[
            ("transforms", "cast,nope"),
            ("transforms.cast.type", "Cast$Value"),
            ("transforms.nope.type", "Nope"),
            ("predicates", "p"),
            ("predicates.p.type", "HasHeaderKey"),
        ]));
        let names: Vec<&str> = def.keys.iter().map(|k| k.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "transforms.cast.type",
                "transforms.cast.predicate",
                "transforms.cast.negate",
                "transforms.cast.spec",
                "transforms.nope.type",
                "transforms.nope.predicate",
                "transforms.nope.negate",
                "predicates.p.type",
                "predicates.p.name",
            ]
        );
        let spec = def.key("transforms.cast.spec").unwrap();
        assert_eq!(
            (spec.group.as_deref(), spec.order),
            (Some("Transforms: cast"), 3)
        );
        assert_eq!(spec.display_name, "spec");
        let type_key = def.key("predicates.p.type").unwrap();
        assert_eq!(type_key.documentation, "Class for the 'p' predicate.");
        assert_eq!(type_key.display_name, "Predicate type for p");
    }

    #[test]
    fn validation_messages() {
        let errors = validate_chain(&config(&[
            ("transforms", "a, b, c, a"),
            (
                "transforms.a.type",
                "org.apache.kafka.connect.transforms.Cast$Value",
            ),
            ("transforms.a.negate", "true"),
            (
                "transforms.b.type",
                "org.apache.kafka.connect.transforms.Nope",
            ),
            ("transforms.c.type", "InsertField$Key"),
            ("predicates", "p"),
            (
                "predicates.p.type",
                "org.apache.kafka.connect.transforms.predicates.TopicNameMatches",
            ),
        ]));
        let expected = [
            ("transforms", "Invalid value [a, b, c, a] for configuration transforms: Duplicate alias provided."),
            ("transforms.a.type", "Config 'transforms.a.negate' was provided but there is no config 'transforms.a.predicate' defining a predicate to be negated."),
            ("transforms.a.spec", "Missing required configuration \"transforms.a.spec\" which has no default value."),
            ("transforms.b.type", "Invalid value org.apache.kafka.connect.transforms.Nope for configuration transforms.b.type: Class org.apache.kafka.connect.transforms.Nope could not be found."),
            ("transforms.c.type", "No field insertion configured"),
            ("predicates.p.pattern", "Missing required configuration \"predicates.p.pattern\" which has no default value."),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(errors, expected);
        assert!(validate_chain(&config(&[("transforms", "")])).is_empty());
    }
}
