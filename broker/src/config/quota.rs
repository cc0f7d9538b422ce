//! Client quota sampling: `quota.window.num` and `quota.window.size.seconds`.
//!
//! The quotas themselves (`producer_byte_rate`, ...) are not broker properties: they are set
//! per user and client id with AlterClientQuotas (`security::quota`).
//!
//! References: Kafka documentation section 3.1 "Broker Configs" and section 6.9 "Quotas";
//! KIP-13 (quotas), KIP-124 (request rate quotas).

use std::collections::BTreeMap;
use std::time::Duration;

use super::{number_or, ConfigError};

/// How client quota rates are sampled: Kafka's `ClientQuotaManagerConfig`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaConfig {
    /// `quota.window.num`: samples kept in memory per client for its rates. Default 11,
    /// at least 1.
    pub window_num: u32,
    /// `quota.window.size.seconds`: the time span of each sample. Default 1 s, at least 1 s.
    pub window_size: Duration,
}

impl Default for QuotaConfig {
    fn default() -> Self {
        Self {
            window_num: 11,
            window_size: Duration::from_secs(1),
        }
    }
}

impl QuotaConfig {
    /// Reads the quota keys of `properties`. Errors name the key (both are Kafka INTs of at
    /// least 1).
    pub fn from_properties(properties: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let int = |key: &str, default: i64| -> Result<i64, ConfigError> {
            let value = number_or(properties, key, default, 1)?;
            if value > i64::from(i32::MAX) {
                return Err(ConfigError::Invalid {
                    key: key.into(),
                    value: value.to_string(),
                    reason: "must be a 32-bit number".into(),
                });
            }
            Ok(value)
        };
        Ok(Self {
            window_num: int("quota.window.num", 11)? as u32,
            window_size: Duration::from_secs(int("quota.window.size.seconds", 1)? as u64),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::props;

    #[test]
    fn defaults_are_kafkas_and_bad_values_name_the_key() -> Result<(), ConfigError> {
        assert_eq!(
            QuotaConfig::from_properties(&BTreeMap::new())?,
            QuotaConfig::default()
        );
        let config = QuotaConfig::from_properties(&props(&[
            ("quota.window.num", "3"),
            ("quota.window.size.seconds", "2"),
        ]))?;
        assert_eq!(config.window_num, 3);
        assert_eq!(config.window_size, Duration::from_secs(2));
        for key in ["quota.window.num", "quota.window.size.seconds"] {
            for value in ["0", "x", "4294967296"] {
                let err = QuotaConfig::from_properties(&props(&[(key, value)]))
                    .map(|_| ())
                    .unwrap_err();
                assert!(err.to_string().contains(key), "{err}");
            }
        }
        Ok(())
    }
}
