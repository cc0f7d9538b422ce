//! Single message transforms and predicates (CONNECT.md d).
//!
//! References: `org.apache.kafka.connect.transforms` and `.transforms.predicates` (Kafka 3.7).

mod cast;
pub mod chain;
mod date_format;
mod filter;
mod flatten;
mod headers;
mod hoist_extract;
mod insert_field;
mod java_regex;
mod mask_field;
mod metadata;
mod predicates;
mod replace_field;
mod routers;
mod timestamp_converter;
mod util;

use crate::config_def::ConfigDef;
use crate::connector::Config;
use crate::data::{ConnectError, ConnectRecord};
use crate::plugins::{Factory, PluginDesc, PluginType};
use util::Side;

pub use chain::{chain_config_def, validate_chain, TransformChain};

/// A single message transform. One instance per task, so it may cache.
pub trait Transform: Send {
    /// Configures it with its keys (`transforms.<alias>.` removed).
    fn configure(&mut self, config: &Config) -> Result<(), ConnectError>;

    /// Transforms a record; `None` drops it.
    fn apply(&mut self, record: ConnectRecord) -> Result<Option<ConnectRecord>, ConnectError>;
}

/// A predicate deciding whether a transform applies.
pub trait Predicate: Send {
    /// Configures it with its keys (`predicates.<alias>.` removed).
    fn configure(&mut self, config: &Config) -> Result<(), ConnectError>;

    /// True when the record matches.
    fn test(&self, record: &ConnectRecord) -> bool;
}

fn transform(
    class: &'static str,
    config_def: fn() -> ConfigDef,
    make: fn() -> Box<dyn Transform>,
) -> PluginDesc {
    PluginDesc {
        class,
        plugin_type: PluginType::Transformation,
        config_def,
        factory: Factory::Transform(make),
    }
}

fn predicate(
    class: &'static str,
    config_def: fn() -> ConfigDef,
    make: fn() -> Box<dyn Predicate>,
) -> PluginDesc {
    PluginDesc {
        class,
        plugin_type: PluginType::Predicate,
        config_def,
        factory: Factory::Predicate(make),
    }
}

/// The built-in transforms and predicates (CONNECT.md d.2, d.3), with Kafka's class names
/// (`org.apache.kafka.connect.transforms.Cast$Value`,
/// `org.apache.kafka.connect.transforms.predicates.HasHeaderKey`, ...).
pub fn plugins() -> Vec<PluginDesc> {
    vec![
        transform(
            "org.apache.kafka.connect.transforms.InsertField$Key",
            insert_field::config_def,
            || Box::new(insert_field::InsertField::new(Side::Key)),
        ),
        transform(
            "org.apache.kafka.connect.transforms.InsertField$Value",
            insert_field::config_def,
            || Box::new(insert_field::InsertField::new(Side::Value)),
        ),
        transform(
            "org.apache.kafka.connect.transforms.ReplaceField$Key",
            replace_field::config_def,
            || Box::new(replace_field::ReplaceField::new(Side::Key)),
        ),
        transform(
            "org.apache.kafka.connect.transforms.ReplaceField$Value",
            replace_field::config_def,
            || Box::new(replace_field::ReplaceField::new(Side::Value)),
        ),
        transform(
            "org.apache.kafka.connect.transforms.MaskField$Key",
            mask_field::config_def,
            || Box::new(mask_field::MaskField::new(Side::Key)),
        ),
        transform(
            "org.apache.kafka.connect.transforms.MaskField$Value",
            mask_field::config_def,
            || Box::new(mask_field::MaskField::new(Side::Value)),
        ),
        transform(
            "org.apache.kafka.connect.transforms.ValueToKey",
            metadata::value_to_key_def,
            || Box::<metadata::ValueToKey>::default(),
        ),
        transform(
            "org.apache.kafka.connect.transforms.HoistField$Key",
            hoist_extract::hoist_def,
            || Box::new(hoist_extract::HoistField::new(Side::Key)),
        ),
        transform(
            "org.apache.kafka.connect.transforms.HoistField$Value",
            hoist_extract::hoist_def,
            || Box::new(hoist_extract::HoistField::new(Side::Value)),
        ),
        transform(
            "org.apache.kafka.connect.transforms.ExtractField$Key",
            hoist_extract::extract_def,
            || Box::new(hoist_extract::ExtractField::new(Side::Key)),
        ),
        transform(
            "org.apache.kafka.connect.transforms.ExtractField$Value",
            hoist_extract::extract_def,
            || Box::new(hoist_extract::ExtractField::new(Side::Value)),
        ),
        transform(
            "org.apache.kafka.connect.transforms.SetSchemaMetadata$Key",
            metadata::set_schema_metadata_def,
            || Box::new(metadata::SetSchemaMetadata::new(Side::Key)),
        ),
        transform(
            "org.apache.kafka.connect.transforms.SetSchemaMetadata$Value",
            metadata::set_schema_metadata_def,
            || Box::new(metadata::SetSchemaMetadata::new(Side::Value)),
        ),
        transform(
            "org.apache.kafka.connect.transforms.TimestampRouter",
            routers::timestamp_router_def,
            || Box::<routers::TimestampRouter>::default(),
        ),
        transform(
            "org.apache.kafka.connect.transforms.RegexRouter",
            routers::regex_router_def,
            || Box::<routers::RegexRouter>::default(),
        ),
        transform(
            "org.apache.kafka.connect.transforms.Flatten$Key",
            flatten::config_def,
            || Box::new(flatten::Flatten::new(Side::Key)),
        ),
        transform(
            "org.apache.kafka.connect.transforms.Flatten$Value",
            flatten::config_def,
            || Box::new(flatten::Flatten::new(Side::Value)),
        ),
        transform(
            "org.apache.kafka.connect.transforms.Cast$Key",
            cast::config_def,
            || Box::new(cast::Cast::new(Side::Key)),
        ),
        transform(
            "org.apache.kafka.connect.transforms.Cast$Value",
            cast::config_def,
            || Box::new(cast::Cast::new(Side::Value)),
        ),
        transform(
            "org.apache.kafka.connect.transforms.TimestampConverter$Key",
            timestamp_converter::config_def,
            || Box::new(timestamp_converter::TimestampConverter::new(Side::Key)),
        ),
        transform(
            "org.apache.kafka.connect.transforms.TimestampConverter$Value",
            timestamp_converter::config_def,
            || Box::new(timestamp_converter::TimestampConverter::new(Side::Value)),
        ),
        transform(
            "org.apache.kafka.connect.transforms.Filter",
            filter::config_def,
            || Box::new(filter::Filter),
        ),
        transform(
            "org.apache.kafka.connect.transforms.InsertHeader",
            headers::insert_header_def,
            || Box::<headers::InsertHeader>::default(),
        ),
        transform(
            "org.apache.kafka.connect.transforms.DropHeaders",
            headers::drop_headers_def,
            || Box::<headers::DropHeaders>::default(),
        ),
        transform(
            "org.apache.kafka.connect.transforms.HeaderFrom$Key",
            headers::header_from_def,
            || Box::new(headers::HeaderFrom::new(Side::Key)),
        ),
        transform(
            "org.apache.kafka.connect.transforms.HeaderFrom$Value",
            headers::header_from_def,
            || Box::new(headers::HeaderFrom::new(Side::Value)),
        ),
        predicate(
            "org.apache.kafka.connect.transforms.predicates.HasHeaderKey",
            predicates::has_header_key_def,
            || Box::<predicates::HasHeaderKey>::default(),
        ),
        predicate(
            "org.apache.kafka.connect.transforms.predicates.RecordIsTombstone",
            ConfigDef::new,
            || Box::new(predicates::RecordIsTombstone),
        ),
        predicate(
            "org.apache.kafka.connect.transforms.predicates.TopicNameMatches",
            predicates::topic_name_matches_def,
            || Box::<predicates::TopicNameMatches>::default(),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_transform_and_predicate_is_registered() {
        let classes: Vec<&str> = plugins().iter().map(|p| p.class).collect();
        let sided = [
            "InsertField",
            "ReplaceField",
            "MaskField",
            "HoistField",
            "ExtractField",
            "SetSchemaMetadata",
            "Flatten",
            "Cast",
            "TimestampConverter",
            "HeaderFrom",
        ];
        let single = [
            "ValueToKey",
            "TimestampRouter",
            "RegexRouter",
            "Filter",
            "InsertHeader",
            "DropHeaders",
        ];
        for name in sided {
            for side in ["Key", "Value"] {
                let class = format!("org.apache.kafka.connect.transforms.{name}${side}");
                assert!(classes.contains(&class.as_str()), "{class}");
            }
        }
        for name in single {
            let class = format!("org.apache.kafka.connect.transforms.{name}");
            assert!(classes.contains(&class.as_str()), "{class}");
        }
        for name in ["HasHeaderKey", "RecordIsTombstone", "TopicNameMatches"] {
            let class = format!("org.apache.kafka.connect.transforms.predicates.{name}");
            assert!(classes.contains(&class.as_str()), "{class}");
        }
        assert_eq!(classes.len(), sided.len() * 2 + single.len() + 3);
        for plugin in plugins() {
            let def = (plugin.config_def)();
            assert!(
                def.keys.iter().all(|key| !key.documentation.is_empty()),
                "{}",
                plugin.class
            );
            match plugin.factory {
                Factory::Transform(make) => drop(make()),
                Factory::Predicate(make) => drop(make()),
                _ => panic!("{} is neither a transform nor a predicate", plugin.class),
            }
        }
        let found = crate::plugins::find("Cast$Value", &[PluginType::Transformation]).unwrap();
        assert_eq!(
            found.class,
            "org.apache.kafka.connect.transforms.Cast$Value"
        );
    }
}
