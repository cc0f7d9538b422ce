//! Kafka's ids (cluster id, directory id, topic id): random UUIDs written as URL-safe base64
//! without padding.
//!
//! References: Kafka's `org.apache.kafka.common.Uuid`; KIP-516 (topic ids).

use base64::Engine;
use uuid::Uuid;

/// Kafka's string form of a UUID: URL-safe base64 without padding (22 characters).
///
/// ```
/// let id = uuid::Uuid::from_u128(1);
/// assert_eq!(josefine_storage::uuid_to_kafka_string(id), "AAAAAAAAAAAAAAAAAAAAAQ");
/// ```
pub fn uuid_to_kafka_string(id: Uuid) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id.as_bytes())
}

/// A new random id that is neither Kafka's zero nor its metadata-topic sentinel and whose
/// string form does not start with '-' (as Kafka's `Uuid.randomUuid`).
///
/// ```
/// let id = josefine_storage::random_uuid();
/// assert!(!josefine_storage::uuid_to_kafka_string(id).starts_with('-'));
/// ```
pub fn random_uuid() -> Uuid {
    loop {
        let id = Uuid::new_v4();
        if !id.is_nil() && !uuid_to_kafka_string(id).starts_with('-') {
            return id;
        }
    }
}
