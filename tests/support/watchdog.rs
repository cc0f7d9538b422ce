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

fn monitor(limit: Duration) {
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let running = RUNNING.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let Some(running) = running else { continue };
        let stuck: Vec<_> = running
            .iter()
            .filter(|(_, started)| started.elapsed() > limit)
            .collect();
        if stuck.is_empty() {
            continue;
        }
        for (name, started) in &running {
            report(&format!(
                "watchdog: test {name} has been running for {:.0} s",
                started.elapsed().as_secs_f64()
            ));
        }
        for (name, _) in stuck {
            report(&format!(
                "watchdog: test {name} is stuck (over {} s, JOSEFINE_TEST_TIMEOUT_SECS): failing the run",
                limit.as_secs()
            ));
        }
        std::process::exit(124);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::TestResult;

    /// Hangs: run only by [`a_stuck_test_fails_the_run_with_its_name`] in a child process.
    #[test]
    #[ignore = "a fixture of the watchdog's own test"]
    fn stuck_fixture() {
        let _watchdog = guard();
        std::thread::sleep(Duration::from_secs(60));
    }

    #[test]
    fn a_stuck_test_fails_the_run_with_its_name() -> TestResult {
        let _watchdog = guard();
        let output = std::process::Command::new(std::env::current_exe()?)
            .args(["--ignored", "--exact", "watchdog::tests::stuck_fixture"])
            .env("JOSEFINE_TEST_TIMEOUT_SECS", "1")
            .output()?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(124), "{stderr}");
        assert!(
            stderr.contains("test watchdog::tests::stuck_fixture is stuck"),
            "{stderr}"
        );
        Ok(())
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
