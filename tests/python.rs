//! Python's confluent-kafka (its own bundled librdkafka) against the `josefine broker` process.

use std::process::Command;

use crate::common::*;
use crate::kcat::BrokerProcess;

#[test]
fn confluent_kafka_python_round_trip() -> TestResult {
    let found = Command::new("python3")
        .args(["-c", "import confluent_kafka"])
        .status();
    anyhow::ensure!(
        found.is_ok_and(|s| s.success()),
        "python3 with confluent-kafka is needed: pip install confluent-kafka (bash .ci/run does)"
    );
    let broker = BrokerProcess::start()?;
    let output = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/python/roundtrip.py"
        ))
        .arg(&broker.bootstrap)
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "roundtrip.py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("round trip ok: 2000 records"), "{stdout}");
    Ok(())
}

#[test]
fn kafka_python_incremental_fetch_sessions() -> TestResult {
    let found = Command::new("python3")
        .args(["-c", "import kafka"])
        .status();
    anyhow::ensure!(
        found.is_ok_and(|s| s.success()),
        "python3 with kafka-python is needed: pip install kafka-python (bash .ci/run does)"
    );
    let broker = BrokerProcess::start()?;
    let output = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/python/kafka_python.py"
        ))
        .arg(&broker.bootstrap)
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "kafka_python.py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("kafka-python ok"), "{stdout}");
    Ok(())
}
