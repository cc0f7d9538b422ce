//! Error handling (CONNECT.md e): stages, retries with backoff, tolerance, the error log
//! line and the dead letter queue. Kafka's `RetryWithToleranceOperator`, `LogReporter`,
//! `DeadLetterQueueReporter` and `WorkerErrantRecordReporter` (KIP-298, KIP-610).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use super::client::{ProducerClient, RawRecord};
use super::pipeline::Transforms;
use crate::connector::ErrantRecordReporter;
use crate::connector_config::{ErrorHandlingConfig, ToleranceType};
use crate::data::{ConnectError, ConnectRecord, SourceRecord};
use crate::status::{Counter, TaskCounters, TaskId};

/// Where in the pipeline an operation runs (Kafka's `Stage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// `SourceTask::poll`.
    TaskPoll,
    /// `SinkTask::put`.
    TaskPut,
    /// A transform or predicate.
    Transformation,
    /// The key converter.
    KeyConverter,
    /// The value converter.
    ValueConverter,
    /// The header converter.
    HeaderConverter,
    /// Producing to Kafka.
    KafkaProduce,
    /// Consuming from Kafka.
    KafkaConsume,
}

impl Stage {
    /// Kafka's name (`VALUE_CONVERTER`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Stage::TaskPoll => "TASK_POLL",
            Stage::TaskPut => "TASK_PUT",
            Stage::Transformation => "TRANSFORMATION",
            Stage::KeyConverter => "KEY_CONVERTER",
            Stage::ValueConverter => "VALUE_CONVERTER",
            Stage::HeaderConverter => "HEADER_CONVERTER",
            Stage::KafkaProduce => "KAFKA_PRODUCE",
            Stage::KafkaConsume => "KAFKA_CONSUME",
        }
    }
}

/// The first retry waits this long; each further retry doubles it.
pub const RETRIES_DELAY_MIN: Duration = Duration::from_millis(300);

/// The wait before retry number `retry` (0 for the first retry): `300 ms << retry`, or a
/// random duration in `[0, cap)` when that exceeds `cap`, never past `deadline` (None =
/// no deadline) counted from `now`.
pub fn backoff_delay(
    retry: u32,
    cap: Duration,
    now: Instant,
    deadline: Option<Instant>,
) -> Duration {
    let base = RETRIES_DELAY_MIN.as_millis() as u64;
    let delay_ms = if retry >= 40 {
        u64::MAX
    } else {
        base.saturating_mul(1u64 << retry)
    };
    let cap_ms = cap.as_millis() as u64;
    let mut delay = if delay_ms > cap_ms {
        Duration::from_millis(if cap_ms == 0 { 0 } else { random() % cap_ms })
    } else {
        Duration::from_millis(delay_ms)
    };
    if let Some(deadline) = deadline {
        delay = delay.min(deadline.saturating_duration_since(now));
    }
    delay
}

/// A pseudo-random number for backoff jitter (xorshift64, seeded from the clock): not for
/// anything that needs unpredictability.
pub(crate) fn random() -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let mut x = STATE.load(Ordering::Relaxed);
    if x == 0 {
        x = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15)
            | 1;
    }
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    STATE.store(x, Ordering::Relaxed);
    x
}

/// The record an error happened to, for the log line and the DLQ.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// A consumed record (sink), with its original bytes.
    Consumed(&'a RawRecord),
    /// A source record.
    Source(&'a SourceRecord),
    /// No record.
    None,
}

/// The error handling of one task: retries, tolerance, error log and DLQ.
pub struct ErrorHandler {
    config: ErrorHandlingConfig,
    task: TaskId,
    stop: CancellationToken,
    dlq: Option<Arc<dyn ProducerClient>>,
    counters: Arc<TaskCounters>,
}

impl std::fmt::Debug for ErrorHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ErrorHandler")
            .field("task", &self.task)
            .finish_non_exhaustive()
    }
}

impl ErrorHandler {
    /// The handler of `task`; `stop` cancels retries; `dlq` is the DLQ producer (sinks with
    /// a DLQ topic).
    pub fn new(
        config: ErrorHandlingConfig,
        task: TaskId,
        stop: CancellationToken,
        dlq: Option<Arc<dyn ProducerClient>>,
    ) -> ErrorHandler {
        ErrorHandler {
            config,
            task,
            stop,
            dlq,
            counters: Arc::default(),
        }
    }

    /// Counts failed and dead-lettered records in `counters` (the task's status counters).
    pub fn with_counters(mut self, counters: Arc<TaskCounters>) -> ErrorHandler {
        self.counters = counters;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &ErrorHandlingConfig {
        &self.config
    }

    /// Runs `operation`, retrying retriable failures with backoff until
    /// `errors.retry.timeout` passes or the task stops; returns the last failure.
    pub async fn retry<T>(
        &self,
        mut operation: impl FnMut() -> Result<T, ConnectError>,
    ) -> Result<T, ConnectError> {
        // The deadline is set at the first failure: the clock is not read for every record
        // of the hot path that succeeds the first time.
        let mut deadline: Option<Option<Instant>> = None;
        let mut retry = 0u32;
        loop {
            match operation() {
                Ok(value) => return Ok(value),
                Err(error) if error.is_retriable() => {
                    let now = Instant::now();
                    let deadline = *deadline.get_or_insert_with(|| {
                        self.config.retry_timeout.map(|timeout| now + timeout)
                    });
                    let may_retry = match deadline {
                        None => true,
                        Some(deadline) => now < deadline,
                    };
                    if !may_retry || self.stop.is_cancelled() {
                        return Err(error);
                    }
                    let delay = backoff_delay(retry, self.config.retry_delay_max, now, deadline);
                    retry = retry.saturating_add(1);
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = self.stop.cancelled() => return Err(error),
                    }
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Runs `operation` as Kafka's `RetryWithToleranceOperator.execute`: retriable failures
    /// are retried (see [`Self::retry`]); a final failure at `stage` in `class` is handled by
    /// [`Self::tolerate`]. Ok(None) when it was tolerated (the record is skipped), Err when
    /// the task must fail.
    pub async fn execute<T>(
        &self,
        stage: Stage,
        class: &str,
        subject: Subject<'_>,
        operation: impl FnMut() -> Result<T, ConnectError>,
    ) -> Result<Option<T>, ConnectError> {
        match self.retry(operation).await {
            Ok(value) => Ok(Some(value)),
            Err(error) => {
                self.tolerate(stage, class, error, subject).await?;
                Ok(None)
            }
        }
    }

    /// Applies `transforms` to `record` at stage TRANSFORMATION, with retries and tolerance
    /// as [`Self::execute`] (the failing transform's class in the log and DLQ). Ok(None) when
    /// a transform dropped the record or a failure was tolerated. Without transforms the
    /// record passes through untouched: nothing is cloned for a retry that cannot happen.
    pub async fn transform(
        &self,
        transforms: &mut Transforms,
        record: ConnectRecord,
        subject: Subject<'_>,
    ) -> Result<Option<ConnectRecord>, ConnectError> {
        if transforms.is_empty() {
            return Ok(Some(record));
        }
        let mut transformed = None;
        let mut failed_class = String::new();
        let result = self
            .retry(|| match transforms.apply(record.clone()) {
                Ok(out) => {
                    transformed = Some(out);
                    Ok(())
                }
                Err((error, class)) => {
                    failed_class = class;
                    Err(error)
                }
            })
            .await;
        match result {
            Ok(()) => Ok(transformed.flatten()),
            Err(error) => {
                self.tolerate(Stage::Transformation, &failed_class, error, subject)
                    .await?;
                Ok(None)
            }
        }
    }

    /// Handles a failure at `stage` in `class` for `subject`: with tolerance `none` returns
    /// the error that fails the task (`Tolerance exceeded in error handler`); with `all`
    /// logs it (`errors.log.enable`), sends consumed records to the DLQ and returns Ok.
    pub async fn tolerate(
        &self,
        stage: Stage,
        class: &str,
        error: ConnectError,
        subject: Subject<'_>,
    ) -> Result<(), ConnectError> {
        if self.config.tolerance == ToleranceType::None {
            self.counters.incr(Counter::Failed);
            return Err(
                ConnectError::connect("Tolerance exceeded in error handler").with_cause(error)
            );
        }
        self.report(stage, class, &error, subject).await;
        Ok(())
    }

    /// Logs and sends to the DLQ, whatever the tolerance.
    async fn report(&self, stage: Stage, class: &str, error: &ConnectError, subject: Subject<'_>) {
        if self.config.log_enable {
            tracing::error!(
                error = %error.trace(),
                "{}",
                log_message(&self.task, stage, class, self.config.log_include_messages, subject)
            );
        }
        let Some(dlq) = self
            .dlq
            .as_ref()
            .filter(|_| matches!(subject, Subject::Consumed(_)))
        else {
            self.counters.incr(Counter::Failed);
            return;
        };
        self.counters.incr(Counter::Dlq);
        if let Subject::Consumed(record) = subject {
            let dlq_record = dlq_record(
                &self.config.dlq_topic,
                self.config.dlq_context_headers,
                &self.task,
                stage,
                class,
                error,
                record,
            );
            let topic = self.config.dlq_topic.clone();
            match dlq.send(dlq_record).await {
                Ok(ack) => {
                    tokio::spawn(async move {
                        if let Err(error) = ack.await {
                            tracing::error!(%error, "Could not produce message to dead letter queue. topic={topic}");
                        }
                    });
                }
                Err(error) => {
                    tracing::error!(%error, "Could not produce message to dead letter queue. topic={topic}");
                }
            }
        }
    }
}

/// Kafka's log line: `Error encountered in task <c>-<n>. Executing stage '<STAGE>' with
/// class '<class>'[, where ...].` The source record text names the record's coordinates, not
/// its key or value (payloads are never logged).
pub fn log_message(
    task: &TaskId,
    stage: Stage,
    class: &str,
    include_messages: bool,
    subject: Subject<'_>,
) -> String {
    let mut text = format!(
        "Error encountered in task {task}. Executing stage '{}' with class '{class}'",
        stage.name()
    );
    match subject {
        Subject::Consumed(record) if include_messages => {
            text.push_str(&format!(
                ", where consumed record is {{topic='{}', partition={}, offset={}",
                record.topic,
                record.partition.unwrap_or(-1),
                record.offset
            ));
            if let Some(timestamp) = record.timestamp {
                text.push_str(&format!(
                    ", timestamp={timestamp}, timestampType={}",
                    record.timestamp_type.name()
                ));
            }
            text.push('}');
        }
        Subject::Source(record) if include_messages => {
            text.push_str(&format!(
                ", where source record is = SourceRecord{{sourcePartition={}, sourceOffset={}}} ConnectRecord{{topic='{}', kafkaPartition={}, timestamp={}}}",
                serde_json::Value::Object(record.source_partition.clone()),
                serde_json::Value::Object(record.source_offset.clone()),
                record.record.topic,
                record
                    .record
                    .kafka_partition
                    .map_or("null".to_string(), |p| p.to_string()),
                record
                    .record
                    .timestamp
                    .map_or("null".to_string(), |t| t.to_string()),
            ));
        }
        _ => {}
    }
    text.push('.');
    text
}

/// The DLQ record of a failed consumed `record`: its original key, value, headers and
/// timestamp, partition left to the partitioner, and (when `context_headers`) the
/// `__connect.errors.*` headers appended.
pub fn dlq_record(
    topic: &str,
    context_headers: bool,
    task: &TaskId,
    stage: Stage,
    class: &str,
    error: &ConnectError,
    record: &RawRecord,
) -> RawRecord {
    let mut headers = record.headers.clone();
    if context_headers {
        let mut add = |key: &str, value: String| {
            headers.push((key.to_string(), Some(value.into_bytes())));
        };
        add("__connect.errors.topic", record.topic.clone());
        add(
            "__connect.errors.partition",
            record.partition.unwrap_or(-1).to_string(),
        );
        add("__connect.errors.offset", record.offset.to_string());
        add("__connect.errors.connector.name", task.connector.clone());
        add("__connect.errors.task.id", task.task.to_string());
        add("__connect.errors.stage", stage.name().to_string());
        add("__connect.errors.class.name", class.to_string());
        add(
            "__connect.errors.exception.class.name",
            error.java_class().to_string(),
        );
        add("__connect.errors.exception.message", error.message.clone());
        add("__connect.errors.exception.stacktrace", error.trace());
    }
    RawRecord {
        topic: topic.to_string(),
        partition: None,
        offset: -1,
        timestamp: record.timestamp,
        timestamp_type: record.timestamp_type,
        key: record.key.clone(),
        value: record.value.clone(),
        headers,
    }
}

/// The [`ErrantRecordReporter`] of a sink task: a reported record goes through the task's
/// tolerance, error log and DLQ at stage `TASK_PUT`.
pub struct SinkErrantRecordReporter {
    /// The task's error handling.
    pub handler: Arc<ErrorHandler>,
    /// The sink connector's class (the log line's and DLQ header's class).
    pub class: String,
    /// Original bytes of the records of the batch being delivered, by (topic, partition,
    /// offset).
    pub originals: std::sync::Mutex<std::collections::HashMap<(String, i32, i64), RawRecord>>,
}

impl std::fmt::Debug for SinkErrantRecordReporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkErrantRecordReporter")
            .field("class", &self.class)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl ErrantRecordReporter for SinkErrantRecordReporter {
    async fn report(
        &self,
        record: &ConnectRecord,
        error: ConnectError,
    ) -> Result<(), ConnectError> {
        let original = {
            let originals = self
                .originals
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            originals
                .get(&(
                    record.topic.clone(),
                    record.kafka_partition.unwrap_or(-1),
                    record.kafka_offset.unwrap_or(-1),
                ))
                .cloned()
        };
        let subject = match &original {
            Some(raw) => Subject::Consumed(raw),
            None => Subject::None,
        };
        self.handler
            .tolerate(Stage::TaskPut, &self.class, error, subject)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_300ms_then_randomises_under_the_cap() {
        let now = Instant::now();
        let cap = Duration::from_secs(60);
        assert_eq!(backoff_delay(0, cap, now, None), Duration::from_millis(300));
        assert_eq!(backoff_delay(1, cap, now, None), Duration::from_millis(600));
        assert_eq!(
            backoff_delay(5, cap, now, None),
            Duration::from_millis(9600)
        );
        for _ in 0..100 {
            assert!(backoff_delay(8, cap, now, None) < cap);
            assert!(backoff_delay(63, cap, now, None) < cap);
        }
        let small = Duration::from_millis(1000);
        assert!(backoff_delay(2, small, now, None) < small);
        assert_eq!(
            backoff_delay(3, cap, now, Some(now + Duration::from_millis(100))),
            Duration::from_millis(100)
        );
    }

    fn task() -> TaskId {
        TaskId {
            connector: "sink".into(),
            task: 0,
        }
    }

    fn raw() -> RawRecord {
        RawRecord {
            topic: "in".into(),
            partition: Some(2),
            offset: 7,
            timestamp: Some(1000),
            timestamp_type: crate::data::TimestampType::CreateTime,
            key: Some(b"k".to_vec()),
            value: Some(b"v".to_vec()),
            headers: vec![("h".into(), None)],
        }
    }

    #[test]
    fn log_line_follows_kafka() {
        let record = raw();
        assert_eq!(
            log_message(
                &task(),
                Stage::ValueConverter,
                "org.apache.kafka.connect.json.JsonConverter",
                true,
                Subject::Consumed(&record)
            ),
            "Error encountered in task sink-0. Executing stage 'VALUE_CONVERTER' with class \
             'org.apache.kafka.connect.json.JsonConverter', where consumed record is \
             {topic='in', partition=2, offset=7, timestamp=1000, timestampType=CreateTime}."
        );
        assert_eq!(
            log_message(
                &task(),
                Stage::TaskPut,
                "X",
                false,
                Subject::Consumed(&record)
            ),
            "Error encountered in task sink-0. Executing stage 'TASK_PUT' with class 'X'."
        );
    }

    #[test]
    fn dlq_record_keeps_the_original_and_appends_context_headers() {
        let record = raw();
        let error = ConnectError::data("bad");
        let dlq = dlq_record(
            "dlq",
            true,
            &task(),
            Stage::ValueConverter,
            "C",
            &error,
            &record,
        );
        assert_eq!(dlq.topic, "dlq");
        assert_eq!(dlq.partition, None);
        assert_eq!(dlq.key, record.key);
        assert_eq!(dlq.value, record.value);
        assert_eq!(dlq.timestamp, Some(1000));
        assert_eq!(dlq.headers[0], ("h".to_string(), None));
        let names: Vec<&str> = dlq.headers[1..].iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "__connect.errors.topic",
                "__connect.errors.partition",
                "__connect.errors.offset",
                "__connect.errors.connector.name",
                "__connect.errors.task.id",
                "__connect.errors.stage",
                "__connect.errors.class.name",
                "__connect.errors.exception.class.name",
                "__connect.errors.exception.message",
                "__connect.errors.exception.stacktrace",
            ]
        );
        assert_eq!(dlq.headers[3].1.as_deref(), Some(&b"7"[..]));
        assert_eq!(
            dlq.headers[8].1.as_deref(),
            Some(&b"org.apache.kafka.connect.errors.DataException"[..])
        );
    }

    #[tokio::test]
    async fn retry_gives_up_at_the_deadline_and_tolerance_none_fails() {
        let mut config = crate::connector_config::ConnectorConfig::new(
            &[
                ("name", "c"),
                ("connector.class", "X"),
                ("errors.retry.timeout", "400"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            crate::connector::ConnectorType::Source,
        )
        .unwrap()
        .error_handling();
        config.retry_delay_max = Duration::from_millis(100);
        let handler = ErrorHandler::new(config, task(), CancellationToken::new(), None);
        let mut calls = 0;
        let result: Result<(), _> = handler
            .retry(|| {
                calls += 1;
                Err(ConnectError::retriable("later"))
            })
            .await;
        assert!(result.is_err());
        assert!(calls >= 2, "{calls}");
        let mut calls = 0;
        let result = handler
            .retry(|| {
                calls += 1;
                if calls < 2 {
                    Err(ConnectError::retriable("later"))
                } else {
                    Ok(calls)
                }
            })
            .await;
        assert_eq!(result, Ok(2));
        let error = handler
            .tolerate(
                Stage::Transformation,
                "T",
                ConnectError::data("x"),
                Subject::None,
            )
            .await
            .unwrap_err();
        assert_eq!(error.message, "Tolerance exceeded in error handler");
    }
}
