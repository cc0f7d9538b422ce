//! A watchdog for the end-to-end tests: a test that runs longer than its limit fails the whole
//! run, naming itself, instead of hanging CI until its own time limit.
//!
//! Every test starts with `let _watchdog = watchdog::guard();`. The guard registers the test
//! (by its thread name, which libtest sets to the test's path) with a monitor thread and
//! deregisters it when dropped, after every other local of the test, so a hang in a client's
//! destructor is caught too. The limit is `JOSEFINE_TEST_TIMEOUT_SECS` (default 300 s): far
//! above what any test needs (they wait at most `common::PATIENCE` for any one thing), so
//! reaching it means a deadlock, not a slow machine.

use std::collections::HashMap;
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

/// The default time a test may run before the watchdog fails the run.
const DEFAULT_LIMIT: Duration = Duration::from_secs(300);

static RUNNING: Mutex<Option<HashMap<String, Instant>>> = Mutex::new(None);
static MONITOR: Once = Once::new();

/// Deregisters its test when dropped.
#[must_use = "the test is watched only while the guard lives"]
pub struct Guard {
    name: String,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(running) = RUNNING.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            running.remove(&self.name);
        }
    }
}

fn limit() -> Duration {
    std::env::var("JOSEFINE_TEST_TIMEOUT_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(DEFAULT_LIMIT, Duration::from_secs)
}

/// Watches the calling test until the guard is dropped.
pub fn guard() -> Guard {
    let name = std::thread::current()
        .name()
        .unwrap_or("<unnamed test>")
        .to_string();
    RUNNING
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(name.clone(), Instant::now());
    MONITOR.call_once(|| {
        let limit = limit();
        std::thread::Builder::new()
            .name("test watchdog".into())
            .spawn(move || monitor(limit))
            .expect("the watchdog thread starts");
    });
    Guard { name }
}

/// Writes to the process's stderr itself: `eprintln!` from a thread that a test spawned is
/// captured with that test's output, and lost when the process exits.
fn report(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// What the monitor says when a test of `running` is past `limit` as of `now`: a line per
/// running test, then one per stuck test; empty while none is stuck.
fn verdict(running: &HashMap<String, Instant>, limit: Duration, now: Instant) -> Vec<String> {
    let elapsed = |started: &Instant| now.saturating_duration_since(*started);
    let mut stuck: Vec<&String> = running
        .iter()
        .filter(|(_, started)| elapsed(started) > limit)
        .map(|(name, _)| name)
        .collect();
    if stuck.is_empty() {
        return Vec::new();
    }
    stuck.sort();
    let mut lines: Vec<String> = running
        .iter()
        .map(|(name, started)| {
            format!(
                "watchdog: test {name} has been running for {:.0} s",
                elapsed(started).as_secs_f64()
            )
        })
        .collect();
    lines.extend(stuck.into_iter().map(|name| {
        format!(
            "watchdog: test {name} is stuck (over {} s, JOSEFINE_TEST_TIMEOUT_SECS): failing the run",
            limit.as_secs()
        )
    }));
    lines
}

fn monitor(limit: Duration) {
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let running = RUNNING.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let Some(running) = running else { continue };
        let lines = verdict(&running, limit, Instant::now());
        if lines.is_empty() {
            continue;
        }
        for line in lines {
            report(&line);
        }
        std::process::exit(124);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::TestResult;

    #[test]
    fn a_test_past_the_limit_is_named_and_fails_the_run() {
        let _watchdog = guard();
        let now = Instant::now();
        let mut running = HashMap::new();
        running.insert("groups::quick".to_string(), now);
        assert!(verdict(&running, Duration::from_secs(300), now).is_empty());
        running.insert("groups::stuck".to_string(), now - Duration::from_secs(301));
        let lines = verdict(&running, Duration::from_secs(300), now);
        assert!(
            lines.contains(&"watchdog: test groups::stuck is stuck (over 300 s, JOSEFINE_TEST_TIMEOUT_SECS): failing the run".to_string()),
            "{lines:?}"
        );
        assert!(
            lines.iter().all(|l| !l.contains("groups::quick is stuck")),
            "{lines:?}"
        );
        assert!(
            lines.contains(&"watchdog: test groups::quick has been running for 0 s".to_string())
        );
    }

    #[test]
    fn a_guard_watches_its_test_until_dropped() {
        let _watchdog = guard();
        let name = std::thread::current().name().map(str::to_string);
        let watched = || {
            RUNNING
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
                .is_some_and(|r| name.as_ref().is_some_and(|n| r.contains_key(n)))
        };
        let second = guard();
        assert!(watched(), "registered under the test's name {name:?}");
        drop(second);
        assert!(!watched(), "gone once the guard drops");
    }

    #[test]
    fn every_test_starts_its_watchdog() -> TestResult {
        let _watchdog = guard();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
        let mut files = vec![dir.join("support/watchdog.rs")];
        for entry in std::fs::read_dir(&dir)? {
            files.push(entry?.path());
        }
        let mut tests = 0;
        for file in files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "rs"))
        {
            let text = std::fs::read_to_string(file)?;
            for (at, _) in text.match_indices("#[test]\n") {
                let body = text[at..].split_once("{\n").map_or("", |(_, b)| b);
                assert!(
                    body.trim_start().starts_with("let _watchdog = guard();")
                        || body
                            .trim_start()
                            .starts_with("let _watchdog = watchdog::guard();"),
                    "{}: a test does not start with `let _watchdog = watchdog::guard();`: {}",
                    file.display(),
                    text[at..].lines().nth(1).unwrap_or("")
                );
                tests += 1;
            }
        }
        assert!(tests > 50, "only {tests} tests found");
        Ok(())
    }
}
