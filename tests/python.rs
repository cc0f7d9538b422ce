//! Python clients against the `josefine broker` process: confluent-kafka (its own bundled
//! librdkafka) and kafka-python (pure Python, with KIP-227 incremental fetch sessions).

use std::process::Command;

use crate::broker_process::BrokerProcess;
use crate::common::*;
use crate::watchdog;

/// Runs `tests/python/<script>` against a fresh broker process and checks it printed `expect`.
fn run_script(module: &str, package: &str, script: &str, expect: &str) -> TestResult {
    let found = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .status();
    anyhow::ensure!(
        found.is_ok_and(|s| s.success()),
        "python3 with {package} is needed: pip install {package} (bash .ci/run does)"
    );
    let broker = BrokerProcess::start()?;
    let path = format!("{}/tests/python/{script}", env!("CARGO_MANIFEST_DIR"));
    let output = Command::new("python3")
        .arg(path)
        .arg(&broker.bootstrap)
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{script} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains(expect), "{stdout}");
    Ok(())
}

#[test]
fn confluent_kafka_python_round_trip() -> TestResult {
    let _watchdog = watchdog::guard();
    run_script(
        "confluent_kafka",
        "confluent-kafka",
        "roundtrip.py",
        "round trip ok: 2000 records",
    )
}

#[test]
fn kafka_python_incremental_fetch_sessions() -> TestResult {
    let _watchdog = watchdog::guard();
    run_script(
        "kafka",
        "kafka-python",
        "kafka_python.py",
        "kafka-python ok: 300 records over 5 rounds",
    )
}

#[test]
fn python_clients_form_list_describe_and_delete_groups() -> TestResult {
    let _watchdog = watchdog::guard();
    run_script(
        "confluent_kafka",
        "confluent-kafka",
        "groups.py",
        "python groups ok",
    )
}

#[test]
fn python_clients_see_commits_and_never_aborts() -> TestResult {
    let _watchdog = watchdog::guard();
    run_script(
        "confluent_kafka",
        "confluent-kafka",
        "transactions.py",
        "python transactions ok: 21 committed, 36 in the log",
    )
}

#[test]
fn confluent_kafka_admin_alters_topic_and_broker_configs() -> TestResult {
    let _watchdog = watchdog::guard();
    run_script(
        "confluent_kafka",
        "confluent-kafka",
        "configs.py",
        "python configs ok",
    )
}
