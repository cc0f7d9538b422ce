//! Quota rates and throttle times, as Kafka's `ClientQuotaManager` computes them.
//!
//! Each quota type (produce bytes, fetch bytes, request time) keeps one sensor per quota
//! metric tags (user, client id): a rate over `quota.window.num` samples of
//! `quota.window.size.seconds` each (Kafka's `Rate` over a `SampledStat`). A value is recorded,
//! then the rate is checked against the quota; past it, the throttle time is the delay that
//! brings the rate back to the quota if nothing more is recorded:
//! `round((rate - quota) / quota * window)` (Kafka's `QuotaUtils.throttleTime`). Sensors idle
//! for an hour are dropped (Kafka's `InactiveSensorExpirationTimeSeconds`).
//!
//! References: Kafka's `ClientQuotaManager`, `ClientRequestQuotaManager`,
//! `org.apache.kafka.common.metrics.stats.{Rate, SampledStat}`; KIP-13, KIP-124, KIP-219.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::config::QuotaConfig;

/// How long a sensor lives without a record (Kafka: 3600 s).
const INACTIVE_SENSOR_EXPIRATION_MS: u64 = 3_600_000;
/// How often idle sensors are looked for.
const EXPIRY_SWEEP_MS: u64 = 60_000;

/// One sample of a windowed sum: Kafka's `SampledStat.Sample`.
#[derive(Debug, Clone, Copy)]
struct Sample {
    value: f64,
    last_window_ms: u64,
}

/// A rate over a ring of samples: Kafka's `Rate` with a `WindowedSum`.
#[derive(Debug, Clone)]
pub(crate) struct Rate {
    samples: Vec<Sample>,
    current: usize,
    last_record_ms: u64,
}

impl Rate {
    /// A rate with its first sample starting at `now_ms`.
    pub(crate) fn new(now_ms: u64) -> Self {
        Self {
            samples: vec![Sample {
                value: 0.0,
                last_window_ms: now_ms,
            }],
            current: 0,
            last_record_ms: now_ms,
        }
    }

    /// Adds `value` at `now_ms` (`SampledStat.record`).
    pub(crate) fn record(&mut self, config: &QuotaConfig, value: f64, now_ms: u64) {
        let window_ms = window_ms(config);
        let complete = self
            .samples
            .get(self.current)
            .is_some_and(|s| now_ms.saturating_sub(s.last_window_ms) >= window_ms);
        if complete {
            self.current = (self.current + 1) % config.window_num.max(1) as usize;
            let fresh = Sample {
                value: 0.0,
                last_window_ms: now_ms,
            };
            match self.samples.get_mut(self.current) {
                Some(sample) => *sample = fresh,
                None => self.samples.push(fresh),
            }
        }
        if let Some(sample) = self.samples.get_mut(self.current) {
            sample.value += value;
        }
        self.last_record_ms = now_ms;
    }

    /// Resets samples older than all the windows together (`purgeObsoleteSamples`).
    fn purge(&mut self, config: &QuotaConfig, now_ms: u64) {
        let expire_age = u64::from(config.window_num) * window_ms(config);
        for sample in &mut self.samples {
            if now_ms.saturating_sub(sample.last_window_ms) >= expire_age {
                *sample = Sample {
                    value: 0.0,
                    last_window_ms: now_ms,
                };
            }
        }
    }

    /// The span the rate is measured over, in ms (`Rate.windowSize`): from the oldest sample
    /// to now, but at least `quota.window.num - 1` full windows.
    pub(crate) fn window_size_ms(&mut self, config: &QuotaConfig, now_ms: u64) -> u64 {
        self.purge(config, now_ms);
        let window_ms = window_ms(config);
        let oldest = self
            .samples
            .iter()
            .map(|s| s.last_window_ms)
            .min()
            .unwrap_or(now_ms);
        let mut elapsed = now_ms.saturating_sub(oldest);
        let full_windows = elapsed / window_ms;
        let min_full_windows = u64::from(config.window_num.saturating_sub(1));
        if full_windows < min_full_windows {
            elapsed += (min_full_windows - full_windows) * window_ms;
        }
        elapsed
    }

    /// The rate per second at `now_ms` (`Rate.measure`).
    pub(crate) fn measure(&mut self, config: &QuotaConfig, now_ms: u64) -> f64 {
        let window = self.window_size_ms(config, now_ms);
        let total: f64 = self.samples.iter().map(|s| s.value).sum();
        if window == 0 {
            return 0.0;
        }
        total / (window as f64 / 1000.0)
    }
}

fn window_ms(config: &QuotaConfig) -> u64 {
    (config.window_size.as_millis() as u64).max(1)
}

/// Kafka's `QuotaUtils.throttleTime`: the delay `X` that brings an observed rate `O` over a
/// window `W` down to the quota `T`, from `O * W / (W + X) = T`.
pub(crate) fn throttle_time_ms(observed: f64, quota: f64, window_ms: u64) -> u64 {
    if quota <= 0.0 || observed <= quota {
        return 0;
    }
    ((observed - quota) / quota * window_ms as f64).round() as u64
}

/// The sensors of one quota type: Kafka's `ClientQuotaManager` for one `QuotaType`.
#[derive(Debug)]
pub(crate) struct QuotaManager {
    config: QuotaConfig,
    /// The longest throttle handed out, if bounded (request quotas: one window).
    max_throttle: Option<Duration>,
    /// Whether any entity has a quota of this type: the fast path skips everything else.
    enabled: AtomicBool,
    sensors: Mutex<Sensors>,
}

/// Sensors by user tag, then client id tag: looked up by `&str` without allocating.
#[derive(Debug, Default)]
struct Sensors {
    by_user: HashMap<String, HashMap<String, Rate>>,
    last_sweep_ms: u64,
}

impl QuotaManager {
    /// A manager sampling as `config` says; throttles at most `max_throttle` if given.
    pub(crate) fn new(config: QuotaConfig, max_throttle: Option<Duration>) -> Self {
        Self {
            config,
            max_throttle,
            enabled: AtomicBool::new(false),
            sensors: Mutex::new(Sensors::default()),
        }
    }

    /// Whether any entity has a quota of this type.
    pub(crate) fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Turns recording on or off (off drops every sensor).
    pub(crate) fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Ordering::Relaxed);
        if !enabled {
            self.lock().by_user.clear();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Sensors> {
        self.sensors.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records `value` for the sensor of `tags` at `now_ms` and checks it against `quota`
    /// (`recordAndGetThrottleTimeMs`); returns the throttle time, zero within the quota.
    pub(crate) fn record(
        &self,
        tags: (&str, &str),
        quota: f64,
        value: f64,
        now_ms: u64,
    ) -> Duration {
        let mut sensors = self.lock();
        if now_ms.saturating_sub(sensors.last_sweep_ms) >= EXPIRY_SWEEP_MS {
            sensors.last_sweep_ms = now_ms;
            sensors.by_user.retain(|_, clients| {
                clients.retain(|_, rate| {
                    now_ms.saturating_sub(rate.last_record_ms) < INACTIVE_SENSOR_EXPIRATION_MS
                });
                !clients.is_empty()
            });
        }
        let (user, client_id) = tags;
        if !sensors.by_user.contains_key(user) {
            sensors.by_user.insert(user.to_string(), HashMap::new());
        }
        let Some(clients) = sensors.by_user.get_mut(user) else {
            return Duration::ZERO;
        };
        if !clients.contains_key(client_id) {
            clients.insert(client_id.to_string(), Rate::new(now_ms));
        }
        let Some(rate) = clients.get_mut(client_id) else {
            return Duration::ZERO;
        };
        rate.record(&self.config, value, now_ms);
        let observed = rate.measure(&self.config, now_ms);
        if observed <= quota {
            return Duration::ZERO;
        }
        let window = rate.window_size_ms(&self.config, now_ms);
        let throttle = Duration::from_millis(throttle_time_ms(observed, quota, window));
        match self.max_throttle {
            Some(max) => throttle.min(max),
            None => throttle,
        }
    }

    /// Takes back `value` recorded at `now_ms` (`unrecordQuotaSensor`): a throttled fetch
    /// sends no records, so they do not count.
    pub(crate) fn unrecord(&self, tags: (&str, &str), value: f64, now_ms: u64) {
        let mut sensors = self.lock();
        if let Some(rate) = sensors
            .by_user
            .get_mut(tags.0)
            .and_then(|clients| clients.get_mut(tags.1))
        {
            rate.record(&self.config, -value, now_ms);
        }
    }

    /// How many sensors exist (for tests of expiry).
    #[cfg(test)]
    pub(crate) fn sensor_count(&self) -> usize {
        self.lock().by_user.values().map(HashMap::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> QuotaConfig {
        QuotaConfig::default()
    }

    #[test]
    fn a_new_rate_is_measured_over_at_least_ten_windows() {
        let config = config();
        let mut rate = Rate::new(0);
        rate.record(&config, 1000.0, 0);
        // 11 samples of 1 s: at least 10 full windows, so 1000 bytes read as 100 bytes/s.
        assert_eq!(rate.window_size_ms(&config, 0), 10_000);
        assert!((rate.measure(&config, 0) - 100.0).abs() < 1e-9);
        // 15 s later every sample has expired.
        rate.record(&config, 0.0, 15_000);
        assert!(rate.measure(&config, 15_000).abs() < 1e-9);
    }

    #[test]
    fn throttle_time_is_kafkas_formula() {
        // O = 200, T = 100 over W = 10 s: X = (200 - 100) / 100 * 10 s = 10 s.
        assert_eq!(throttle_time_ms(200.0, 100.0, 10_000), 10_000);
        assert_eq!(throttle_time_ms(100.0, 100.0, 10_000), 0);
        assert_eq!(throttle_time_ms(150.5, 100.0, 1_000), 505);
    }

    #[test]
    fn recording_past_the_quota_throttles_and_request_quotas_are_bounded() {
        let manager = QuotaManager::new(config(), None);
        // 1000 bytes/s quota; 20000 bytes at once over a 10 s window is 2000 bytes/s.
        assert_eq!(manager.record(("", "c"), 1000.0, 5000.0, 0), Duration::ZERO);
        let throttle = manager.record(("", "c"), 1000.0, 15_000.0, 0);
        assert_eq!(throttle, Duration::from_millis(10_000));
        // Another client id has its own sensor.
        assert_eq!(manager.record(("", "d"), 1000.0, 5000.0, 0), Duration::ZERO);
        let bounded = QuotaManager::new(config(), Some(Duration::from_secs(1)));
        assert_eq!(
            bounded.record(("u", ""), 1.0, 1000.0, 0),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn unrecord_takes_a_value_back_and_idle_sensors_expire() {
        let manager = QuotaManager::new(config(), None);
        assert!(manager.record(("", "c"), 100.0, 5000.0, 0) > Duration::ZERO);
        manager.unrecord(("", "c"), 5000.0, 0);
        assert_eq!(manager.record(("", "c"), 100.0, 0.0, 0), Duration::ZERO);
        assert_eq!(manager.sensor_count(), 1);
        manager.record(("", "other"), 100.0, 0.0, INACTIVE_SENSOR_EXPIRATION_MS + 1);
        assert_eq!(manager.sensor_count(), 1, "the idle sensor expired");
    }
}
