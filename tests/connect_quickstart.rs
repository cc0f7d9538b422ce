//! Kafka's Connect quick start (CONNECT.md f.3), byte-exact: Kafka 3.7's own three property
//! files, checked in verbatim under tests/fixtures/connect/, run by `josefine
//! connect-standalone` against the embedded broker; kcat reads the topic.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::broker_process::BrokerProcess;
use crate::common::TestResult;
use crate::watchdog;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/connect");

/// A `josefine connect-standalone` process with its embedded broker's and REST API's
/// addresses, read from its log.
struct Worker {
    child: Child,
    bootstrap: String,
    rest: String,
}

impl Worker {
    /// Runs the quick start's three files in `dir` (the working directory, where `test.txt`
    /// is), with the embedded broker's data in `dir/data` so that a restart keeps it.
    fn start(dir: &Path) -> TestResult<Worker> {
        Worker::start_with(dir, None)
    }

    /// As [`Worker::start`]; with `bootstrap`, against that broker instead of an embedded one.
    fn start_with(dir: &Path, bootstrap: Option<&str>) -> TestResult<Worker> {
        let mut command = Command::new(env!("CARGO_BIN_EXE_josefine"));
        command.current_dir(dir).args([
            "connect-standalone",
            "connect-standalone.properties",
            "connect-file-source.properties",
            "connect-file-sink.properties",
            "--override",
            "listeners=http://127.0.0.1:0",
        ]);
        match bootstrap {
            Some(bootstrap) => command
                .arg("--override")
                .arg(format!("bootstrap.servers={bootstrap}")),
            None => command
                .args(["--override", "bootstrap.servers=embedded", "--override"])
                .arg(format!(
                    "josefine.embedded.log.dirs={}",
                    dir.join("data").display()
                )),
        };
        let mut child = command
            .arg("--override")
            .arg(format!(
                "offset.storage.file.filename={}",
                dir.join("connect.offsets").display()
            ))
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stderr(Stdio::piped())
            .spawn()?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stderr"))?;
        let (lines_tx, lines_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if lines_tx.send(line).is_err() {
                    // Nobody listens any more: keep draining so the worker never blocks.
                }
            }
        });
        let field = |line: &str, name: &str| {
            line.split_whitespace()
                .find_map(|word| word.strip_prefix(name))
                .map(str::to_string)
        };
        let (mut embedded, mut rest) = (None, None);
        let deadline = Instant::now() + Duration::from_secs(60);
        while (bootstrap.is_none() && embedded.is_none()) || rest.is_none() {
            let line = lines_rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .map_err(|_| anyhow::anyhow!("connect-standalone did not start"))?;
            if line.contains("embedded broker started") {
                embedded = field(&line, "bootstrap_servers=");
            }
            if line.contains("Kafka Connect started") {
                rest = field(&line, "rest=");
            }
        }
        Ok(Worker {
            child,
            bootstrap: bootstrap
                .map(str::to_string)
                .or(embedded)
                .unwrap_or_default(),
            rest: rest.unwrap_or_default(),
        })
    }

    /// SIGTERM, then waits for a clean exit.
    fn stop(mut self) -> TestResult {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        anyhow::ensure!(sent.success(), "kill -TERM failed");
        let status = self.child.wait()?;
        anyhow::ensure!(status.success(), "connect-standalone exited with {status}");
        Ok(())
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn kcat_topic(bootstrap: &str) -> TestResult<String> {
    let output = Command::new("kcat")
        .args([
            "-b",
            bootstrap,
            "-C",
            "-t",
            "connect-test",
            "-o",
            "beginning",
            "-e",
            "-q",
        ])
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "kcat: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8(output.stdout)?)
}

fn wait_for(what: &str, mut check: impl FnMut() -> TestResult<bool>) -> TestResult {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if check()? {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    anyhow::bail!("timed out waiting for {what}")
}

const FOO_BAR: &str = "{\"schema\":{\"type\":\"string\",\"optional\":false},\"payload\":\"foo\"}\n\
                       {\"schema\":{\"type\":\"string\",\"optional\":false},\"payload\":\"bar\"}\n";
const ANOTHER: &str =
    "{\"schema\":{\"type\":\"string\",\"optional\":false},\"payload\":\"Another line\"}\n";

#[test]
fn kafka_quick_start_runs_verbatim() -> TestResult {
    let _watchdog = watchdog::guard();
    let dir = tempfile::tempdir()?;
    for file in [
        "connect-standalone.properties",
        "connect-file-source.properties",
        "connect-file-sink.properties",
    ] {
        std::fs::copy(Path::new(FIXTURES).join(file), dir.path().join(file))?;
    }
    std::fs::write(dir.path().join("test.txt"), "foo\nbar\n")?;
    let sink = dir.path().join("test.sink.txt");

    let worker = Worker::start(dir.path())?;
    wait_for("test.sink.txt to hold foo and bar", || {
        Ok(std::fs::read_to_string(&sink).unwrap_or_default() == "foo\nbar\n")
    })?;
    assert_eq!(kcat_topic(&worker.bootstrap)?, FOO_BAR);

    std::fs::OpenOptions::new()
        .append(true)
        .open(dir.path().join("test.txt"))?
        .write_all(b"Another line\n")?;
    wait_for("the appended line in test.sink.txt", || {
        Ok(std::fs::read_to_string(&sink).unwrap_or_default() == "foo\nbar\nAnother line\n")
    })?;
    assert_eq!(
        kcat_topic(&worker.bootstrap)?,
        format!("{FOO_BAR}{ANOTHER}")
    );

    // Both tasks count the three lines in their status (CONNECT.md g.0).
    for connector in ["local-file-source", "local-file-sink"] {
        wait_for(&format!("the counters of {connector}"), || {
            let status: serde_json::Value = crate::common::block_on(async {
                reqwest::get(format!(
                    "http://{}/connectors/{connector}/status",
                    worker.rest
                ))
                .await?
                .json::<serde_json::Value>()
                .await
            })??;
            Ok(status["tasks"][0]["counters"]
                == serde_json::json!({"accepted": 3, "delivered": 3, "retried": 0,
                                      "expired": 0, "dlq": 0, "failed": 0}))
        })?;
    }

    // The offsets endpoint reports the position after the last complete line.
    let length = std::fs::metadata(dir.path().join("test.txt"))?.len();
    let offsets: serde_json::Value = crate::common::block_on(async {
        reqwest::get(format!(
            "http://{}/connectors/local-file-source/offsets",
            worker.rest
        ))
        .await?
        .json::<serde_json::Value>()
        .await
    })??;
    assert_eq!(
        offsets,
        serde_json::json!({"offsets":[{"partition":{"filename":"test.txt"},"offset":{"position":length}}]})
    );

    // A graceful stop and a new start: nothing is produced or written twice.
    worker.stop()?;
    let worker = Worker::start(dir.path())?;
    std::fs::OpenOptions::new()
        .append(true)
        .open(dir.path().join("test.txt"))?
        .write_all(b"last\n")?;
    wait_for("the line appended after the restart", || {
        Ok(std::fs::read_to_string(&sink)
            .unwrap_or_default()
            .ends_with("last\n"))
    })?;
    assert_eq!(
        std::fs::read_to_string(&sink)?,
        "foo\nbar\nAnother line\nlast\n"
    );
    let last = "{\"schema\":{\"type\":\"string\",\"optional\":false},\"payload\":\"last\"}\n";
    assert_eq!(
        kcat_topic(&worker.bootstrap)?,
        format!("{FOO_BAR}{ANOTHER}{last}")
    );
    worker.stop()
}

/// The same worker against a separately started `josefine broker` process: the runtime is a
/// Kafka client like any other.
#[test]
fn quick_start_against_a_separate_broker_process() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = BrokerProcess::start()?;
    let dir = tempfile::tempdir()?;
    for file in [
        "connect-standalone.properties",
        "connect-file-source.properties",
        "connect-file-sink.properties",
    ] {
        std::fs::copy(Path::new(FIXTURES).join(file), dir.path().join(file))?;
    }
    std::fs::write(dir.path().join("test.txt"), "foo\nbar\n")?;
    let sink = dir.path().join("test.sink.txt");
    let worker = Worker::start_with(dir.path(), Some(&broker.bootstrap))?;
    assert_eq!(worker.bootstrap, broker.bootstrap);
    wait_for("test.sink.txt to hold foo and bar", || {
        Ok(std::fs::read_to_string(&sink).unwrap_or_default() == "foo\nbar\n")
    })?;
    assert_eq!(kcat_topic(&broker.bootstrap)?, FOO_BAR);
    worker.stop()
}
