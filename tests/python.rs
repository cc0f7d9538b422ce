//! Python clients against the `josefine broker` process: confluent-kafka (its own bundled
//! librdkafka) and kafka-python (pure Python, with KIP-227 incremental fetch sessions).

use crate::broker_process::BrokerProcess;
use crate::common::*;
use crate::watchdog;

/// Runs `tests/python/<script>` against a fresh broker process and checks it printed `expect`.
fn run_script(module: &str, package: &str, script: &str, expect: &str) -> TestResult {
    let broker = BrokerProcess::start()?;
    run_python(module, package, script, &[&broker.bootstrap], expect)
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
