//! The logger registry behind `/admin/loggers` (CONNECT.md a.3 R25-R27; Kafka's `Loggers`,
//! KIP-495): logger names with their level and last modification time, turned into
//! `tracing` filter directives for the binary's reload hook.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Called with `tracing` filter directives (e.g. `info,josefine_connect=debug`) whenever a
/// level changes; the binary wires it to tracing-subscriber's reload handle.
pub type LogHook = Arc<dyn Fn(&str) + Send + Sync>;

/// The levels `PUT /admin/loggers/{l}` accepts (log4j's, upper case).
const LEVELS: &[&str] = &[
    "OFF", "FATAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE", "ALL",
];

/// Name of the root logger.
pub(crate) const ROOT: &str = "root";

/// One logger: level and when it was last set (epoch ms; None when never set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LoggerLevel {
    pub(crate) level: String,
    pub(crate) last_modified: Option<i64>,
}

/// Every logger explicitly set, plus root.
pub(crate) struct Loggers {
    loggers: Mutex<BTreeMap<String, LoggerLevel>>,
    hook: Option<LogHook>,
}

impl Loggers {
    /// Root at INFO, never modified.
    pub(crate) fn new(hook: Option<LogHook>) -> Loggers {
        let mut loggers = BTreeMap::new();
        loggers.insert(
            ROOT.to_string(),
            LoggerLevel {
                level: "INFO".to_string(),
                last_modified: None,
            },
        );
        Loggers {
            loggers: Mutex::new(loggers),
            hook,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, LoggerLevel>> {
        self.loggers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every logger.
    pub(crate) fn all(&self) -> BTreeMap<String, LoggerLevel> {
        self.lock().clone()
    }

    /// One logger.
    pub(crate) fn get(&self, name: &str) -> Option<LoggerLevel> {
        self.lock().get(name).cloned()
    }

    /// Sets `name` and its descendants (`name.` prefix; every logger for root) to `level`;
    /// returns the changed names, sorted. Err when the level is not log4j's.
    pub(crate) fn set(&self, name: &str, level: &str, now_ms: i64) -> Result<Vec<String>, ()> {
        let level = level.trim().to_ascii_uppercase();
        if !LEVELS.contains(&level.as_str()) {
            return Err(());
        }
        let directives;
        let changed = {
            let mut loggers = self.lock();
            loggers.entry(name.to_string()).or_insert(LoggerLevel {
                level: level.clone(),
                last_modified: None,
            });
            let prefix = format!("{name}.");
            let mut changed = Vec::new();
            for (logger, entry) in loggers.iter_mut() {
                if name == ROOT || logger == name || logger.starts_with(&prefix) {
                    if entry.level != level || entry.last_modified.is_none() {
                        entry.last_modified = Some(now_ms);
                    }
                    entry.level = level.clone();
                    changed.push(logger.clone());
                }
            }
            directives = directives_of(&loggers);
            changed
        };
        if let Some(hook) = &self.hook {
            hook(&directives);
        }
        Ok(changed)
    }
}

/// The `tracing` level of a log4j level.
fn tracing_level(level: &str) -> &'static str {
    match level {
        "OFF" => "off",
        "FATAL" | "ERROR" => "error",
        "WARN" => "warn",
        "INFO" => "info",
        "DEBUG" => "debug",
        _ => "trace",
    }
}

/// `tracing` filter directives: root's level, then `name=level` per logger.
fn directives_of(loggers: &BTreeMap<String, LoggerLevel>) -> String {
    let mut parts = vec![tracing_level(
        loggers
            .get(ROOT)
            .map(|l| l.level.as_str())
            .unwrap_or("INFO"),
    )
    .to_string()];
    for (name, logger) in loggers {
        // A name the directive grammar cannot hold (`=`, `,`, spaces, brackets) is kept
        // and reported, but filters nothing: it must not break the other loggers.
        let usable = !name.is_empty()
            && !name.contains(|c: char| {
                c == '=' || c == ',' || c == '[' || c == '{' || c.is_whitespace()
            });
        if name != ROOT && usable {
            parts.push(format!("{name}={}", tracing_level(&logger.level)));
        }
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setting_a_parent_changes_descendants_and_calls_the_hook() {
        let seen = Arc::new(Mutex::new(String::new()));
        let sink = seen.clone();
        let loggers = Loggers::new(Some(Arc::new(move |d: &str| {
            *sink.lock().unwrap() = d.to_string();
        })));
        assert_eq!(loggers.set("a.b", "debug", 5).unwrap(), vec!["a.b"]);
        assert_eq!(loggers.set("a", "WARN", 7).unwrap(), vec!["a", "a.b"]);
        assert_eq!(
            loggers.get("a.b"),
            Some(LoggerLevel {
                level: "WARN".into(),
                last_modified: Some(7)
            })
        );
        assert_eq!(*seen.lock().unwrap(), "info,a=warn,a.b=warn");
        assert!(loggers.set("a", "loud", 8).is_err());
        assert_eq!(
            loggers.set(ROOT, "fatal", 9).unwrap(),
            vec!["a", "a.b", "root"]
        );
        assert_eq!(*seen.lock().unwrap(), "error,a=error,a.b=error");
    }

    #[test]
    fn a_name_the_filter_grammar_cannot_hold_does_not_break_the_others() {
        let seen = Arc::new(Mutex::new(String::new()));
        let sink = seen.clone();
        let loggers = Loggers::new(Some(Arc::new(move |d: &str| {
            *sink.lock().unwrap() = d.to_string();
        })));
        assert_eq!(loggers.set("a=b", "debug", 1).unwrap(), vec!["a=b"]);
        assert_eq!(loggers.set("c", "warn", 2).unwrap(), vec!["c"]);
        let directives = seen.lock().unwrap().clone();
        assert_eq!(directives, "info,c=warn");
        assert!(loggers.get("a=b").is_some());
    }
}
