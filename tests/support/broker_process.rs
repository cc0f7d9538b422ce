//! `josefine broker` as a child process on 127.0.0.1:0 with a temporary log dir, killed on
//! drop. Shared by the end-to-end tests and the benches, which include it with `#[path]`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A spawned `josefine broker`.
pub struct BrokerProcess {
    child: Child,
    /// `host:port` it advertises.
    pub bootstrap: String,
    _dir: Option<tempfile::TempDir>,
}

impl BrokerProcess {
    /// Spawns the broker and returns once it logs that it is ready.
    pub fn start() -> anyhow::Result<Self> {
        Self::start_with(&[])
    }

    /// As [`BrokerProcess::start`], with extra `key=value` overrides.
    pub fn start_with(overrides: &[&str]) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let command = Self::command(dir.path(), overrides);
        Self::spawn(command, Some(dir))
    }

    /// The `josefine broker` command on log dir `log_dir` with `key=value` overrides.
    #[allow(dead_code)]
    pub fn command(log_dir: &std::path::Path, overrides: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_josefine"));
        Self::add_args(&mut command, log_dir, overrides);
        command
    }

    /// Appends the broker arguments for `log_dir` and `overrides` to `command`.
    pub fn add_args(command: &mut Command, log_dir: &std::path::Path, overrides: &[&str]) {
        command.args(["broker", "--override", "listeners=PLAINTEXT://127.0.0.1:0"]);
        for item in overrides {
            command.args(["--override", item]);
        }
        command
            .arg("--override")
            .arg(format!("log.dirs={}", log_dir.display()));
    }

    /// Spawns `command` (a broker) and returns once it logs that it is ready; `dir` is removed
    /// when the process is dropped.
    pub fn spawn(mut command: Command, dir: Option<tempfile::TempDir>) -> anyhow::Result<Self> {
        let mut child = command
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stderr(Stdio::piped())
            .spawn()?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stderr"))?;
        let mut lines = BufReader::new(stderr).lines();
        let bootstrap = loop {
            let line = lines
                .next()
                .ok_or_else(|| anyhow::anyhow!("broker exited before it was ready"))??;
            if line.contains("broker ready") {
                let advertised = line
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("advertised="))
                    .ok_or_else(|| anyhow::anyhow!("no address in {line}"))?;
                break strip_ansi(advertised);
            }
        };
        // Keep draining the log so the broker never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Ok(Self {
            child,
            bootstrap,
            _dir: dir,
        })
    }

    /// Kills the process with SIGKILL (no shutdown of any kind) and waits for it.
    #[allow(dead_code)]
    pub fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// Whether the process is still running.
    #[allow(dead_code)]
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The process id.
    #[allow(dead_code)]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
