//! The transaction coordinator's settings: `transaction.*`.
//!
//! References: Kafka documentation section 3.1 "Broker Configs"; KIP-98.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{duration_or, number_or, ConfigError};

/// The transaction coordinator's settings: Apache Kafka's broker keys and defaults.
#[derive(Debug, Clone)]
pub struct TransactionConfig {
    /// `transaction.max.timeout.ms`: the longest `transaction.timeout.ms` a producer may ask
    /// for. Default 15 min.
    pub max_timeout: Duration,
    /// `transaction.state.log.num.partitions`. Default 50.
    pub state_log_partitions: i32,
    /// `transaction.state.log.segment.bytes`. Default 104857600.
    pub state_log_segment_bytes: i64,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`: how often open
    /// transactions are checked against their timeout. Default 10 s.
    pub abort_timed_out_interval: Duration,
    /// `transactional.id.expiration.ms`: how long a transactional id without an open
    /// transaction is kept after its last change. Default 7 days.
    pub transactional_id_expiration: Duration,
    /// `transaction.remove.expired.transaction.cleanup.interval.ms`: how often transactional
    /// ids are checked for expiry. Default 1 h.
    pub remove_expired_transaction_cleanup_interval: Duration,
    /// `producer.id.expiration.ms`: how long a partition remembers a producer id without an
    /// open transaction after its last write. Default 1 day.
    pub producer_id_expiration: Duration,
    /// `producer.id.expiration.check.interval.ms`: how often partitions are checked for
    /// expired producer ids. Default 10 min.
    pub producer_id_expiration_check_interval: Duration,
}

impl TransactionConfig {
    /// Reads the transaction keys of `properties`. Errors name the key.
    pub fn from_properties(properties: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let number = |key: &str, default: i64| number_or(properties, key, default, 1);
        Ok(Self {
            max_timeout: Duration::from_millis(
                number("transaction.max.timeout.ms", 900_000)?.min(i64::from(i32::MAX)) as u64,
            ),
            state_log_partitions: number("transaction.state.log.num.partitions", 50)?
                .min(i64::from(i32::MAX)) as i32,
            state_log_segment_bytes: number("transaction.state.log.segment.bytes", 104_857_600)?,
            abort_timed_out_interval: duration_or(
                properties,
                "transaction.abort.timed.out.transaction.cleanup.interval.ms",
                10_000,
                1,
            )?,
            transactional_id_expiration: duration_or(
                properties,
                "transactional.id.expiration.ms",
                604_800_000,
                1,
            )?,
            remove_expired_transaction_cleanup_interval: duration_or(
                properties,
                "transaction.remove.expired.transaction.cleanup.interval.ms",
                3_600_000,
                1,
            )?,
            producer_id_expiration: duration_or(
                properties,
                "producer.id.expiration.ms",
                86_400_000,
                1,
            )?,
            producer_id_expiration_check_interval: duration_or(
                properties,
                "producer.id.expiration.check.interval.ms",
                600_000,
                1,
            )?,
        })
    }
}
