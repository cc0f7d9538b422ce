//! The socket server's limits: connection counts, idle connections and the request memory
//! budget.
//!
//! References: Kafka documentation section 3.1 "Broker Configs" (`SocketServerConfigs`);
//! KIP-72 (`queued.max.request.bytes`); KIP-308 and KIP-402 (`max.connections`).

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, ToSocketAddrs};
use std::time::Duration;

use super::{invalid, number_or, ConfigError};

/// Josefine's default for `queued.max.request.bytes` (500 MiB): five requests of the largest
/// size at once. Kafka's default is -1 (unbounded); see the README's "Limits".
pub const DEFAULT_QUEUED_MAX_REQUEST_BYTES: usize = 524_288_000;

/// The socket server's limits: Apache Kafka's keys and defaults, except where noted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketServerConfig {
    /// `queued.max.request.bytes`: request bytes (frames read and not yet answered) held by all
    /// connections together; a connection waits before reading a frame body that does not fit.
    /// `None` for -1 (unbounded). Default 524288000, or `socket.request.max.bytes` if that is
    /// larger (Kafka: -1). At least `socket.request.max.bytes` when set, as Kafka requires.
    pub queued_max_request_bytes: Option<usize>,
    /// `max.connections`: open connections over all listeners; past it the broker stops
    /// accepting until one closes (Kafka's acceptor waits too). Default 2147483647.
    pub max_connections: usize,
    /// `max.connections.per.ip`: open connections from one address; the next one is closed
    /// right after it is accepted. Default 2147483647; 0 only with overrides.
    pub max_connections_per_ip: usize,
    /// `max.connections.per.ip.overrides`: `host:count,...`, a host being an IP address or a
    /// name resolved at start-up. Default empty.
    pub max_connections_per_ip_overrides: HashMap<IpAddr, usize>,
    /// `connections.max.idle.ms`: a connection with no complete request for this long, or
    /// whose response cannot be written within it, is closed. `None` for a negative value (no
    /// limit). Default 10 min.
    pub connections_max_idle: Option<Duration>,
}

impl SocketServerConfig {
    /// Reads the socket server keys of `properties`; `socket_request_max_bytes` is the checked
    /// `socket.request.max.bytes`. Errors name the key.
    pub fn from_properties(
        properties: &BTreeMap<String, String>,
        socket_request_max_bytes: usize,
    ) -> Result<Self, ConfigError> {
        let int = |key: &str, min: i64| -> Result<usize, ConfigError> {
            let n = number_or(properties, key, i64::from(i32::MAX), min)?;
            if n > i64::from(i32::MAX) {
                return Err(invalid(key, &n.to_string(), "not a 32-bit number"));
            }
            Ok(n.unsigned_abs() as usize)
        };
        let max_connections = int("max.connections", 0)?;
        let max_connections_per_ip = int("max.connections.per.ip", 0)?;
        let key = "max.connections.per.ip.overrides";
        let overrides_value = properties.get(key).map(|v| v.trim()).unwrap_or("");
        let mut overrides = HashMap::new();
        for item in overrides_value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let (host, count) = item.rsplit_once(':').ok_or_else(|| {
                invalid(key, overrides_value, format!("{item} is not host:count"))
            })?;
            let count: usize = count
                .trim()
                .parse()
                .ok()
                .filter(|n| *n <= i32::MAX as usize)
                .ok_or_else(|| invalid(key, overrides_value, format!("bad count in {item}")))?;
            for ip in resolve(host.trim().trim_start_matches('[').trim_end_matches(']'))
                .ok_or_else(|| invalid(key, overrides_value, format!("unknown host in {item}")))?
            {
                overrides.insert(ip, count);
            }
        }
        if max_connections_per_ip == 0 && overrides.is_empty() {
            return Err(invalid(
                "max.connections.per.ip",
                "0",
                "can be set to zero only if max.connections.per.ip.overrides is set",
            ));
        }
        let key = "queued.max.request.bytes";
        let queued = match properties.get(key).map(|v| v.trim()) {
            None => Some(DEFAULT_QUEUED_MAX_REQUEST_BYTES.max(socket_request_max_bytes)),
            Some(v) => {
                let n: i64 = v
                    .parse()
                    .map_err(|_| invalid(key, v, "not a number in range"))?;
                if n <= 0 {
                    None
                } else if (n as u64) < socket_request_max_bytes as u64 {
                    return Err(invalid(
                        key,
                        v,
                        "must be larger or equal to socket.request.max.bytes",
                    ));
                } else {
                    Some(usize::try_from(n).unwrap_or(usize::MAX))
                }
            }
        };
        let idle = number_or(properties, "connections.max.idle.ms", 600_000, i64::MIN)?;
        Ok(Self {
            queued_max_request_bytes: queued,
            max_connections,
            max_connections_per_ip,
            max_connections_per_ip_overrides: overrides,
            connections_max_idle: (idle >= 0).then(|| Duration::from_millis(idle as u64)),
        })
    }

    /// The most connections `ip` may hold open.
    pub fn max_connections_for(&self, ip: IpAddr) -> usize {
        self.max_connections_per_ip_overrides
            .get(&ip)
            .copied()
            .unwrap_or(self.max_connections_per_ip)
    }
}

/// The addresses of `host`: itself when it is an IP address, else what it resolves to.
fn resolve(host: &str) -> Option<Vec<IpAddr>> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(vec![ip]);
    }
    let addrs: Vec<IpAddr> = (host, 0).to_socket_addrs().ok()?.map(|a| a.ip()).collect();
    (!addrs.is_empty()).then_some(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::props;

    #[test]
    fn defaults_are_kafkas_but_the_budget() -> Result<(), ConfigError> {
        let config = SocketServerConfig::from_properties(&BTreeMap::new(), 104_857_600)?;
        assert_eq!(config.max_connections, 2_147_483_647);
        assert_eq!(config.max_connections_per_ip, 2_147_483_647);
        assert!(config.max_connections_per_ip_overrides.is_empty());
        assert_eq!(config.connections_max_idle, Some(Duration::from_secs(600)));
        assert_eq!(config.queued_max_request_bytes, Some(524_288_000));
        // The default budget never refuses the largest frame.
        let config = SocketServerConfig::from_properties(&BTreeMap::new(), 1 << 30)?;
        assert_eq!(config.queued_max_request_bytes, Some(1 << 30));
        Ok(())
    }

    #[test]
    fn limits_parse_and_check_like_kafka() -> Result<(), ConfigError> {
        let config = SocketServerConfig::from_properties(
            &props(&[
                ("max.connections.per.ip", "0"),
                ("max.connections.per.ip.overrides", "127.0.0.1:2, [::1]:3"),
                ("queued.max.request.bytes", "-1"),
                ("connections.max.idle.ms", "-1"),
            ]),
            100,
        )?;
        assert_eq!(
            config.max_connections_for("127.0.0.1".parse().map_err(|_| invalid("ip", "", ""))?),
            2
        );
        assert_eq!(
            config.max_connections_for("::1".parse().map_err(|_| invalid("ip", "", ""))?),
            3
        );
        assert_eq!(
            config.max_connections_for("10.0.0.1".parse().map_err(|_| invalid("ip", "", ""))?),
            0
        );
        assert_eq!(config.queued_max_request_bytes, None);
        assert_eq!(config.connections_max_idle, None);
        for (pairs, key) in [
            (
                &[("max.connections.per.ip", "0")][..],
                "max.connections.per.ip",
            ),
            (&[("max.connections", "-1")][..], "max.connections"),
            (
                &[("queued.max.request.bytes", "99")][..],
                "queued.max.request.bytes",
            ),
            (
                &[("max.connections.per.ip.overrides", "127.0.0.1")][..],
                "max.connections.per.ip.overrides",
            ),
        ] {
            let err = SocketServerConfig::from_properties(&props(pairs), 100)
                .map(|_| ())
                .err();
            assert!(
                err.as_ref().is_some_and(|e| e.to_string().contains(key)),
                "{err:?} names {key}"
            );
        }
        Ok(())
    }
}
