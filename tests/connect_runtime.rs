//! The Connect worker runtime against the embedded broker: FileStreamSource and
//! FileStreamSink through real Kafka clients (records read back and produced by librdkafka),
//! restarts honouring the offsets file and committed sink offsets, pause/resume, a retriable
//! `put` failure, and the dead letter queue (CONNECT.md b.5, e, f).

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use josefine::connect::config_def::ConfigDef;
use josefine::connect::connector::{
    Config, Connector, ConnectorType, PartitionOffset, SinkTask, SinkTaskContext, TopicPartition,
};
use josefine::connect::data::{ConnectError, ConnectRecord};
use josefine::connect::plugins::{self, Factory, PluginDesc, PluginType};
use josefine::connect::runtime::{TargetState, TaskHandle, Worker};
use josefine::connect::status::{State, StatusStore, TaskId};
use josefine::connect::worker_config::WorkerConfig;
use rdkafka::producer::BaseRecord;

use crate::common::{self, Received, TestResult, PATIENCE};
use crate::watchdog;

const STRING: &str = "org.apache.kafka.connect.storage.StringConverter";

use josefine::connect::connector::config_from as props;

fn worker_config(bootstrap: &str, dir: &Path, extra: &[(&str, &str)]) -> TestResult<WorkerConfig> {
    let offsets = dir.join("connect.offsets").display().to_string();
    let mut config = props(&[
        ("bootstrap.servers", bootstrap),
        ("key.converter", STRING),
        ("value.converter", STRING),
        ("offset.storage.file.filename", &offsets),
        ("offset.flush.interval.ms", "200"),
    ]);
    config.extend(props(extra));
    Ok(WorkerConfig::new(config)?)
}

fn task(connector: &str) -> TaskId {
    TaskId {
        connector: connector.to_string(),
        task: 0,
    }
}

fn start(worker: &Worker, connector: &Config, plugin: &str) -> TestResult<TaskHandle> {
    let plugin = plugins::find(plugin, &[]).ok_or_else(|| anyhow::anyhow!("no {plugin}"))?;
    let id = task(&connector["name"]);
    Ok(worker.start_task(
        id,
        connector,
        connector.clone(),
        plugin,
        TargetState::Started,
    )?)
}

/// Polls `check` until it yields a value or [`PATIENCE`] passes.
async fn eventually<T>(
    what: &str,
    mut check: impl FnMut() -> TestResult<Option<T>>,
) -> TestResult<T> {
    let start = Instant::now();
    loop {
        if let Some(value) = check()? {
            return Ok(value);
        }
        anyhow::ensure!(start.elapsed() < PATIENCE, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every record of partition 0 of `topic` (none while the topic does not exist).
async fn read_all(bootstrap: &str, topic: &str) -> TestResult<Vec<Received>> {
    let bootstrap = bootstrap.to_string();
    let topic = topic.to_string();
    let read = tokio::task::spawn_blocking(move || common::read_to_end(&bootstrap, &topic)).await?;
    Ok(read.unwrap_or_default())
}

async fn wait_for_records(bootstrap: &str, topic: &str, count: usize) -> TestResult<Vec<Received>> {
    let start = Instant::now();
    loop {
        let records = read_all(bootstrap, topic).await?;
        if records.len() >= count {
            return Ok(records);
        }
        anyhow::ensure!(
            start.elapsed() < PATIENCE,
            "{topic} has {} of {count} records",
            records.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn payloads(records: &[Received]) -> Vec<String> {
    records
        .iter()
        .map(|r| String::from_utf8_lossy(r.payload.as_deref().unwrap_or_default()).into_owned())
        .collect()
}

async fn wait_for_state(status: &StatusStore, id: &TaskId, state: State) -> TestResult {
    eventually(&format!("{id} {}", state.name()), || {
        let current = status.task(id);
        if let Some(failed) = current
            .as_ref()
            .filter(|s| s.state == State::Failed && state != State::Failed)
        {
            anyhow::bail!("{id} failed: {:?}", failed.trace);
        }
        Ok(current.filter(|s| s.state == state).map(|_| ()))
    })
    .await
}

fn produce(bootstrap: &str, topic: &str, values: &[&[u8]]) -> TestResult {
    let (producer, deliveries) = common::producer(bootstrap, &[])?;
    for value in values {
        common::enqueue(&producer, BaseRecord::to(topic).key("k").payload(*value))?;
    }
    let reports = common::flush(&producer, &deliveries)?;
    anyhow::ensure!(reports.iter().all(Result::is_ok), "{reports:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connect_runtime_file_source_produces_lines_and_resumes_from_its_offsets() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = josefine::Broker::builder().start().await?;
    let bootstrap = broker.bootstrap_servers();
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("test.txt");
    std::fs::write(&file, b"foo\nbar\n")?;
    let status = Arc::new(StatusStore::new());
    let worker = Worker::new(worker_config(&bootstrap, dir.path(), &[])?, status.clone()).await?;
    let connector = props(&[
        ("name", "local-file-source"),
        ("connector.class", "FileStreamSource"),
        ("file", &file.display().to_string()),
        ("topic", "connect-test"),
    ]);
    let handle = start(&worker, &connector, "FileStreamSource")?;
    wait_for_state(&status, &task("local-file-source"), State::Running).await?;
    let records = wait_for_records(&bootstrap, "connect-test", 2).await?;
    assert_eq!(payloads(&records), ["foo", "bar"]);
    assert!(records.iter().all(|r| r.key.is_none()));

    // Pause: status PAUSED; a line appended meanwhile arrives after resume.
    handle.set_target_state(TargetState::Paused);
    wait_for_state(&status, &task("local-file-source"), State::Paused).await?;
    std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"Another line\n"))?;
    handle.set_target_state(TargetState::Started);
    wait_for_state(&status, &task("local-file-source"), State::Running).await?;
    let records = wait_for_records(&bootstrap, "connect-test", 3).await?;
    assert_eq!(payloads(&records), ["foo", "bar", "Another line"]);

    handle.stop(Duration::from_secs(5)).await;
    assert_eq!(worker.active_topics("local-file-source"), ["connect-test"]);
    let offsets = worker
        .connector_offsets("local-file-source", &connector, ConnectorType::Source)
        .await?;
    assert_eq!(offsets.len(), 1);
    assert_eq!(
        offsets[0].offset.as_ref().and_then(|o| o.get("position")),
        Some(&serde_json::json!(21))
    );
    worker.shutdown().await;

    // A new worker on the same offsets file produces only the new line.
    let worker = Worker::new(worker_config(&bootstrap, dir.path(), &[])?, status.clone()).await?;
    std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"last\r\n"))?;
    let handle = start(&worker, &connector, "FileStreamSource")?;
    let records = wait_for_records(&bootstrap, "connect-test", 4).await?;
    assert_eq!(payloads(&records), ["foo", "bar", "Another line", "last"]);
    handle.stop(Duration::from_secs(5)).await;
    worker.shutdown().await;
    let records = read_all(&bootstrap, "connect-test").await?;
    assert_eq!(records.len(), 4, "{:?}", payloads(&records));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connect_runtime_file_sink_writes_records_and_commits_across_restarts() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = josefine::Broker::builder().start().await?;
    let bootstrap = broker.bootstrap_servers();
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("test.sink.txt");
    {
        let bootstrap = bootstrap.clone();
        tokio::task::spawn_blocking(move || {
            common::create_topic(&bootstrap, "sink-in", 1, &[])?;
            produce(&bootstrap, "sink-in", &[b"one", b"two", b"three"])
        })
        .await??;
    }
    let status = Arc::new(StatusStore::new());
    let worker = Worker::new(worker_config(&bootstrap, dir.path(), &[])?, status.clone()).await?;
    let connector = props(&[
        ("name", "local-file-sink"),
        ("connector.class", "FileStreamSink"),
        ("file", &out.display().to_string()),
        ("topics", "sink-in"),
    ]);
    let handle = start(&worker, &connector, "FileStreamSink")?;
    let read = || -> TestResult<String> { Ok(std::fs::read_to_string(&out).unwrap_or_default()) };
    eventually("three lines", || {
        Ok((read()? == "one\ntwo\nthree\n").then_some(()))
    })
    .await?;
    handle.stop(Duration::from_secs(5)).await;
    let offsets = worker
        .connector_offsets("local-file-sink", &connector, ConnectorType::Sink)
        .await?;
    assert_eq!(offsets.len(), 1);
    assert_eq!(
        serde_json::Value::Object(offsets[0].partition.clone()),
        serde_json::json!({"kafka_topic": "sink-in", "kafka_partition": 0})
    );
    assert_eq!(
        offsets[0]
            .offset
            .as_ref()
            .and_then(|o| o.get("kafka_offset")),
        Some(&serde_json::json!(3))
    );

    // Restart: only the records produced meanwhile are written.
    {
        let bootstrap = bootstrap.clone();
        tokio::task::spawn_blocking(move || produce(&bootstrap, "sink-in", &[b"four"])).await??;
    }
    let handle = start(&worker, &connector, "FileStreamSink")?;
    eventually("four lines", || {
        Ok((read()? == "one\ntwo\nthree\nfour\n").then_some(()))
    })
    .await?;
    handle.stop(Duration::from_secs(5)).await;
    assert_eq!(read()?, "one\ntwo\nthree\nfour\n");
    worker.shutdown().await;
    Ok(())
}

static PUT_CALLS: AtomicUsize = AtomicUsize::new(0);
static DELIVERED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// A sink whose first `put` fails with a retriable error.
struct FlakySink;

#[async_trait]
impl SinkTask for FlakySink {
    async fn start(
        &mut self,
        _config: &Config,
        _context: SinkTaskContext,
    ) -> Result<(), ConnectError> {
        Ok(())
    }

    async fn put(&mut self, records: Vec<ConnectRecord>) -> Result<(), ConnectError> {
        if PUT_CALLS.fetch_add(1, Ordering::SeqCst) == 0 {
            return Err(ConnectError::retriable("not now"));
        }
        let mut delivered = DELIVERED.lock().unwrap_or_else(|p| p.into_inner());
        for record in records {
            delivered.push(format!("{:?}", record.value));
        }
        Ok(())
    }

    async fn flush(&mut self, _offsets: &HashMap<TopicPartition, i64>) -> Result<(), ConnectError> {
        Ok(())
    }
}

/// A sink connector of one task made by `.0`, for the test sinks below.
struct TestSinkConnector(fn() -> Box<dyn SinkTask>);

#[async_trait]
impl Connector for TestSinkConnector {
    fn connector_type(&self) -> ConnectorType {
        ConnectorType::Sink
    }
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new()
    }
    async fn start(&mut self, _config: &Config) -> Result<(), ConnectError> {
        Ok(())
    }
    fn task_configs(&self, _max_tasks: usize) -> Vec<Config> {
        vec![Config::new()]
    }
    fn create_sink_task(&self) -> Option<Box<dyn SinkTask>> {
        Some((self.0)())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connect_runtime_retriable_put_failure_redelivers_the_batch() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = josefine::Broker::builder().start().await?;
    let bootstrap = broker.bootstrap_servers();
    let dir = tempfile::tempdir()?;
    {
        let bootstrap = bootstrap.clone();
        tokio::task::spawn_blocking(move || {
            common::create_topic(&bootstrap, "flaky-in", 1, &[])?;
            produce(&bootstrap, "flaky-in", &[b"a", b"b"])
        })
        .await??;
    }
    let status = Arc::new(StatusStore::new());
    let worker = Worker::new(worker_config(&bootstrap, dir.path(), &[])?, status.clone()).await?;
    let plugin = PluginDesc {
        class: "test.FlakySinkConnector",
        plugin_type: PluginType::Sink,
        config_def: ConfigDef::new,
        factory: Factory::Connector(|| Box::new(TestSinkConnector(|| Box::new(FlakySink)))),
    };
    let connector = props(&[
        ("name", "flaky"),
        ("connector.class", "test.FlakySinkConnector"),
        ("topics", "flaky-in"),
    ]);
    let handle = worker.start_task(
        task("flaky"),
        &connector,
        Config::new(),
        plugin,
        TargetState::Started,
    )?;
    let delivered = eventually("redelivery", || {
        let delivered = DELIVERED.lock().unwrap_or_else(|p| p.into_inner()).clone();
        Ok((delivered.len() >= 2).then_some(delivered))
    })
    .await?;
    assert_eq!(delivered, [r#"String("a")"#, r#"String("b")"#]);
    assert!(PUT_CALLS.load(Ordering::SeqCst) >= 2);
    assert_eq!(
        status.task(&task("flaky")).map(|s| s.state),
        Some(State::Running)
    );
    handle.stop(Duration::from_secs(5)).await;
    worker.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connect_runtime_dead_letter_queue_gets_the_bad_record_with_context_headers() -> TestResult
{
    let _watchdog = watchdog::guard();
    let broker = josefine::Broker::builder().start().await?;
    let bootstrap = broker.bootstrap_servers();
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("good.txt");
    let good = |text: &str| {
        format!(r#"{{"schema":{{"type":"string","optional":false}},"payload":"{text}"}}"#)
    };
    let (first, second) = (good("first"), good("second"));
    {
        let bootstrap = bootstrap.clone();
        tokio::task::spawn_blocking(move || {
            common::create_topic(&bootstrap, "dlq-in", 1, &[])?;
            produce(
                &bootstrap,
                "dlq-in",
                &[first.as_bytes(), b"not json", second.as_bytes()],
            )
        })
        .await??;
    }
    let status = Arc::new(StatusStore::new());
    let worker = Worker::new(worker_config(&bootstrap, dir.path(), &[])?, status.clone()).await?;
    let connector = props(&[
        ("name", "dlq-sink"),
        ("connector.class", "FileStreamSink"),
        ("file", &out.display().to_string()),
        ("topics", "dlq-in"),
        (
            "value.converter",
            "org.apache.kafka.connect.json.JsonConverter",
        ),
        ("value.converter.schemas.enable", "true"),
        ("errors.tolerance", "all"),
        ("errors.log.enable", "true"),
        ("errors.deadletterqueue.topic.name", "dlq"),
        ("errors.deadletterqueue.context.headers.enable", "true"),
    ]);
    let handle = start(&worker, &connector, "FileStreamSink")?;
    let read = || -> TestResult<String> { Ok(std::fs::read_to_string(&out).unwrap_or_default()) };
    eventually("the good records", || {
        Ok((read()? == "first\nsecond\n").then_some(()))
    })
    .await?;
    let dlq = wait_for_records(&bootstrap, "dlq", 1).await?;
    assert_eq!(dlq.len(), 1);
    let record = &dlq[0];
    assert_eq!(record.payload.as_deref(), Some(&b"not json"[..]));
    assert_eq!(record.key.as_deref(), Some(&b"k"[..]));
    let header = |name: &str| {
        record
            .headers
            .iter()
            .find(|(key, _)| key == name)
            .and_then(|(_, value)| value.clone())
            .map(|value| String::from_utf8_lossy(&value).into_owned())
    };
    assert_eq!(header("__connect.errors.topic").as_deref(), Some("dlq-in"));
    assert_eq!(header("__connect.errors.partition").as_deref(), Some("0"));
    assert_eq!(header("__connect.errors.offset").as_deref(), Some("1"));
    assert_eq!(
        header("__connect.errors.connector.name").as_deref(),
        Some("dlq-sink")
    );
    assert_eq!(header("__connect.errors.task.id").as_deref(), Some("0"));
    assert_eq!(
        header("__connect.errors.stage").as_deref(),
        Some("VALUE_CONVERTER")
    );
    assert_eq!(
        header("__connect.errors.class.name").as_deref(),
        Some("org.apache.kafka.connect.json.JsonConverter")
    );
    assert_eq!(
        header("__connect.errors.exception.class.name").as_deref(),
        Some("org.apache.kafka.connect.errors.DataException")
    );
    assert!(header("__connect.errors.exception.message").is_some_and(|m| !m.is_empty()));
    assert!(header("__connect.errors.exception.stacktrace")
        .is_some_and(|t| t.starts_with("org.apache.kafka.connect.errors.DataException: ")));
    assert_eq!(record.headers.len(), 10);
    handle.stop(Duration::from_secs(5)).await;
    let offsets = worker
        .connector_offsets("dlq-sink", &connector, ConnectorType::Sink)
        .await?;
    assert_eq!(
        offsets[0]
            .offset
            .as_ref()
            .and_then(|o| o.get("kafka_offset")),
        Some(&serde_json::json!(3))
    );
    assert_eq!(
        status.task(&task("dlq-sink")).map(|s| s.state),
        Some(State::Running)
    );
    worker.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connect_runtime_source_pipeline_transforms_then_converts_to_json() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = josefine::Broker::builder().start().await?;
    let bootstrap = broker.bootstrap_servers();
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("test.txt");
    std::fs::write(&file, b"foo\nbar\n")?;
    let status = Arc::new(StatusStore::new());
    let worker = Worker::new(worker_config(&bootstrap, dir.path(), &[])?, status.clone()).await?;
    let connector = props(&[
        ("name", "json-source"),
        ("connector.class", "FileStreamSource"),
        ("file", &file.display().to_string()),
        ("topic", "connect-test"),
        (
            "value.converter",
            "org.apache.kafka.connect.json.JsonConverter",
        ),
        ("transforms", "route"),
        (
            "transforms.route.type",
            "org.apache.kafka.connect.transforms.RegexRouter",
        ),
        ("transforms.route.regex", "connect-(.*)"),
        ("transforms.route.replacement", "routed-$1"),
    ]);
    let handle = start(&worker, &connector, "FileStreamSource")?;
    let records = wait_for_records(&bootstrap, "routed-test", 2).await?;
    assert_eq!(
        payloads(&records),
        [
            r#"{"schema":{"type":"string","optional":false},"payload":"foo"}"#,
            r#"{"schema":{"type":"string","optional":false},"payload":"bar"}"#,
        ]
    );
    handle.stop(Duration::from_secs(5)).await;
    assert_eq!(worker.active_topics("json-source"), ["routed-test"]);
    worker.reset_active_topics("json-source");
    assert!(worker.active_topics("json-source").is_empty());
    worker.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connect_runtime_bad_record_without_tolerance_fails_the_task() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = josefine::Broker::builder().start().await?;
    let bootstrap = broker.bootstrap_servers();
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("out.txt");
    {
        let bootstrap = bootstrap.clone();
        tokio::task::spawn_blocking(move || {
            common::create_topic(&bootstrap, "strict-in", 1, &[])?;
            produce(&bootstrap, "strict-in", &[b"not json"])
        })
        .await??;
    }
    let status = Arc::new(StatusStore::new());
    let worker = Worker::new(worker_config(&bootstrap, dir.path(), &[])?, status.clone()).await?;
    let connector = props(&[
        ("name", "strict-sink"),
        ("connector.class", "FileStreamSink"),
        ("file", &out.display().to_string()),
        ("topics", "strict-in"),
        (
            "value.converter",
            "org.apache.kafka.connect.json.JsonConverter",
        ),
    ]);
    let handle = start(&worker, &connector, "FileStreamSink")?;
    wait_for_state(&status, &task("strict-sink"), State::Failed).await?;
    let trace = status
        .task(&task("strict-sink"))
        .and_then(|s| s.trace)
        .unwrap_or_default();
    assert!(
        trace.starts_with(
            "org.apache.kafka.connect.errors.ConnectException: Tolerance exceeded in error handler\nCaused by: org.apache.kafka.connect.errors.DataException"
        ),
        "{trace}"
    );
    assert!(handle.is_finished());
    handle.stop(Duration::from_secs(5)).await;
    worker.shutdown().await;
    Ok(())
}

fn entry(partition: serde_json::Value, offset: Option<serde_json::Value>) -> PartitionOffset {
    let map = |v: serde_json::Value| v.as_object().cloned().unwrap_or_default();
    PartitionOffset {
        partition: map(partition),
        offset: offset.map(map),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connect_runtime_offsets_are_altered_and_reset_for_sources_and_sinks() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = josefine::Broker::builder().start().await?;
    let bootstrap = broker.bootstrap_servers();
    let dir = tempfile::tempdir()?;
    let status = Arc::new(StatusStore::new());
    let worker = Worker::new(worker_config(&bootstrap, dir.path(), &[])?, status.clone()).await?;

    // Source: the offsets store, flushed to the file before the call returns.
    let source = props(&[("name", "src"), ("connector.class", "FileStreamSource")]);
    let partition = serde_json::json!({"filename": "a.txt"});
    worker
        .alter_offsets(
            "src",
            &source,
            ConnectorType::Source,
            vec![entry(
                partition.clone(),
                Some(serde_json::json!({"position": 20})),
            )],
        )
        .await?;
    let offsets = worker
        .connector_offsets("src", &source, ConnectorType::Source)
        .await?;
    assert_eq!(
        offsets,
        [entry(
            partition.clone(),
            Some(serde_json::json!({"position": 20}))
        )]
    );
    let file = std::fs::read_to_string(dir.path().join("connect.offsets"))?;
    assert_eq!(file.lines().count(), 1);
    worker
        .reset_offsets("src", &source, ConnectorType::Source)
        .await?;
    assert!(worker
        .connector_offsets("src", &source, ConnectorType::Source)
        .await?
        .is_empty());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("connect.offsets"))?,
        ""
    );

    // Sink: the committed offsets of group connect-<name>.
    {
        let bootstrap = bootstrap.clone();
        tokio::task::spawn_blocking(move || {
            common::create_topic(&bootstrap, "offsets-in", 1, &[])?;
            produce(&bootstrap, "offsets-in", &[b"a", b"b", b"c"])
        })
        .await??;
    }
    let sink = props(&[
        ("name", "snk"),
        ("connector.class", "FileStreamSink"),
        ("topics", "offsets-in"),
    ]);
    let tp = serde_json::json!({"kafka_topic": "offsets-in", "kafka_partition": 0});
    worker
        .alter_offsets(
            "snk",
            &sink,
            ConnectorType::Sink,
            vec![entry(
                tp.clone(),
                Some(serde_json::json!({"kafka_offset": "2"})),
            )],
        )
        .await?;
    let offsets = worker
        .connector_offsets("snk", &sink, ConnectorType::Sink)
        .await?;
    assert_eq!(
        offsets,
        [entry(
            tp.clone(),
            Some(serde_json::json!({"kafka_offset": 2}))
        )]
    );
    worker
        .reset_offsets("snk", &sink, ConnectorType::Sink)
        .await?;
    assert!(worker
        .connector_offsets("snk", &sink, ConnectorType::Sink)
        .await?
        .is_empty());
    assert!(!worker.kafka_cluster_id().await?.is_empty());
    worker.shutdown().await;
    Ok(())
}

static FAILING_PUTS: AtomicUsize = AtomicUsize::new(0);

/// A sink that accepts its first batch and fails for good on the next.
struct FailingSink;

#[async_trait]
impl SinkTask for FailingSink {
    async fn start(
        &mut self,
        _config: &Config,
        _context: SinkTaskContext,
    ) -> Result<(), ConnectError> {
        Ok(())
    }

    async fn put(&mut self, records: Vec<ConnectRecord>) -> Result<(), ConnectError> {
        if records.is_empty() {
            return Ok(());
        }
        if FAILING_PUTS.fetch_add(1, Ordering::SeqCst) == 0 {
            Ok(())
        } else {
            Err(ConnectError::connect("the destination refused the batch"))
        }
    }
}

/// A sink task that fails still commits what it accepted (as Kafka's WorkerSinkTask closes
/// its partitions), so a restart does not deliver those records again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connect_runtime_failed_sink_task_commits_what_it_accepted() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = josefine::Broker::builder().start().await?;
    let bootstrap = broker.bootstrap_servers();
    let dir = tempfile::tempdir()?;
    {
        let bootstrap = bootstrap.clone();
        tokio::task::spawn_blocking(move || {
            common::create_topic(&bootstrap, "failing-in", 1, &[])?;
            produce(&bootstrap, "failing-in", &[b"a", b"b"])
        })
        .await??;
    }
    let status = Arc::new(StatusStore::new());
    // No periodic commit within the test: only the commit at the task's end counts.
    let config = worker_config(
        &bootstrap,
        dir.path(),
        &[("offset.flush.interval.ms", "600000")],
    )?;
    let worker = Worker::new(config, status.clone()).await?;
    let plugin = PluginDesc {
        class: "test.FailingSinkConnector",
        plugin_type: PluginType::Sink,
        config_def: ConfigDef::new,
        factory: Factory::Connector(|| Box::new(TestSinkConnector(|| Box::new(FailingSink)))),
    };
    let connector = props(&[
        ("name", "failing"),
        ("connector.class", "test.FailingSinkConnector"),
        ("topics", "failing-in"),
    ]);
    let handle = worker.start_task(
        task("failing"),
        &connector,
        Config::new(),
        plugin,
        TargetState::Started,
    )?;
    eventually("the first batch", || {
        Ok((FAILING_PUTS.load(Ordering::SeqCst) >= 1).then_some(()))
    })
    .await?;
    {
        let bootstrap = bootstrap.clone();
        tokio::task::spawn_blocking(move || produce(&bootstrap, "failing-in", &[b"c"])).await??;
    }
    wait_for_state(&status, &task("failing"), State::Failed).await?;
    let committed = worker
        .connector_offsets("failing", &connector, ConnectorType::Sink)
        .await?;
    assert_eq!(committed.len(), 1, "{committed:?}");
    assert_eq!(
        committed[0]
            .offset
            .as_ref()
            .and_then(|o| o.get("kafka_offset"))
            .and_then(|o| o.as_i64()),
        Some(2),
        "{committed:?}"
    );
    handle.stop(Duration::from_secs(5)).await;
    worker.shutdown().await;
    Ok(())
}
