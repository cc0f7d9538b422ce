//! `kcat` (Debian's, linking librdkafka 2.0.2) against the `josefine broker` process.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::broker_process::BrokerProcess;
use crate::common::*;
use crate::watchdog;

fn kcat() -> TestResult<Command> {
    let found = Command::new("kcat").arg("-V").output();
    anyhow::ensure!(
        found.is_ok(),
        "kcat is not installed: apt-get install kcat (bash .ci/run does)"
    );
    Ok(Command::new("kcat"))
}

#[test]
fn kcat_round_trip_of_a_text_file() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = BrokerProcess::start()?;
    // A real text file: this crate's own source, one record per non-empty line.
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/storage/src/log/append.rs"
    ))?;
    let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    let mut producer = kcat()?
        .args(["-P", "-b", &broker.bootstrap, "-t", "text", "-z", "snappy"])
        .stdin(Stdio::piped())
        .spawn()?;
    producer
        .stdin
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdin"))?
        .write_all(lines.join("\n").as_bytes())?;
    let status = producer.wait()?;
    anyhow::ensure!(status.success(), "kcat -P failed: {status}");

    let output = kcat()?
        .args([
            "-C",
            "-b",
            &broker.bootstrap,
            "-t",
            "text",
            "-o",
            "beginning",
            "-e",
            "-q",
            "-f",
            "%o:%s\n",
        ])
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "kcat -C failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let consumed = String::from_utf8(output.stdout)?;
    let expected: String = lines
        .iter()
        .enumerate()
        .map(|(i, l)| format!("{i}:{l}\n"))
        .collect();
    assert_eq!(consumed, expected);

    // kcat's metadata listing sees the topic and this broker.
    let output = kcat()?
        .args(["-L", "-b", &broker.bootstrap, "-t", "text"])
        .output()?;
    let listing = String::from_utf8(output.stdout)?;
    assert!(
        listing.contains("topic \"text\" with 1 partitions"),
        "{listing}"
    );
    Ok(())
}

#[test]
fn rdkafka_against_the_broker_process() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = BrokerProcess::start()?;
    create_topic(&broker.bootstrap, "process", 2, &[])?;
    let (producer, deliveries) = producer(&broker.bootstrap, &[("compression.type", "zstd")])?;
    let reports = produce_numbered(
        &producer,
        &deliveries,
        "process",
        2,
        5000,
        1_700_000_000_000,
    )?;
    assert!(
        reports.iter().all(Result::is_ok),
        "{:?}",
        reports.iter().find(|r| r.is_err())
    );
    let consumer = consumer(&broker.bootstrap, &[])?;
    assign_from_beginning(&consumer, "process", 2)?;
    let records = consume(&consumer, 5000)?;
    check_numbered(&records, 2, 5000, 1_700_000_000_000, 0)
}

#[test]
fn invalid_config_exits_with_code_2() -> TestResult {
    let _watchdog = watchdog::guard();
    let output = Command::new(env!("CARGO_BIN_EXE_josefine"))
        .args(["broker", "--override", "num.partitions=many"])
        .output()?;
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("num.partitions"), "{stderr}");
    Ok(())
}
