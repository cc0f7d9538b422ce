//! The source task loop (Kafka's `WorkerSourceTask`): poll → transforms → converters →
//! produce; `commit_record` after each ack in poll order; source offsets of processed
//! records flushed every `offset.flush.interval.ms` and on stop.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::client::{producer_config, AckFuture, KafkaProducerClient, ProducerClient, RawRecord};
use super::errors::{ErrorHandler, Stage, Subject};
use super::offsets::ConnectorOffsetReader;
use super::pipeline::{Converters, Transforms};
use super::{Shared, TargetState};
use crate::config_def::with_prefix;
use crate::connector::{Config, ConnectorType, RecordMetadata, SourceTask, SourceTaskContext};
use crate::connector_config::ConnectorConfig;
use crate::data::{ConnectError, JsonMap, SourceRecord, TimestampType};
use crate::status::{State, TaskId};

/// Everything a source task loop needs.
pub(crate) struct SourceTaskRun {
    pub(crate) id: TaskId,
    pub(crate) connector_config: Config,
    pub(crate) task_config: Config,
    pub(crate) task: Box<dyn SourceTask>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) target: watch::Receiver<TargetState>,
    pub(crate) stop: CancellationToken,
}

struct Running {
    id: TaskId,
    task: Box<dyn SourceTask>,
    shared: Arc<Shared>,
    producer: Arc<dyn ProducerClient>,
    converters: Converters,
    transforms: Transforms,
    errors: ErrorHandler,
    /// Offsets of processed records not yet flushed, by partition JSON.
    pending: HashMap<String, (JsonMap, JsonMap)>,
}

impl SourceTaskRun {
    /// Runs the task until stopped or failed, reporting its state.
    pub(crate) async fn run(self) {
        let id = self.id.clone();
        let status = self.shared.status.clone();
        if let Err(error) = self.run_inner().await {
            tracing::error!(task = %id, error = %error.trace(), "Task threw an uncaught and unrecoverable exception");
            status.put_task(&id, State::Failed, Some(error.trace()));
        }
    }

    async fn run_inner(mut self) -> Result<(), ConnectError> {
        let shared = self.shared.clone();
        let config = ConnectorConfig::new(&self.connector_config, ConnectorType::Source)
            .map_err(ConnectError::config)?;
        let converters = Converters::new(
            &converter_config(&self.connector_config, &self.task_config),
            &shared.config,
        )?;
        let transforms = Transforms::from_config(&self.connector_config)?;
        let producer_props = producer_config(
            &shared.config.bootstrap_servers(),
            &shared.config.client_properties("producer."),
            &with_prefix(&self.connector_config, "producer.override."),
        );
        let producer: Arc<dyn ProducerClient> =
            Arc::new(KafkaProducerClient::new(&producer_props)?);
        let counters = shared.status.new_counters(&self.id);
        let errors = ErrorHandler::new(
            config.error_handling(),
            self.id.clone(),
            self.stop.clone(),
            None,
        )
        .with_counters(counters.clone());
        let context = SourceTaskContext {
            offsets: Arc::new(ConnectorOffsetReader {
                store: shared.offsets.clone(),
                connector: self.id.connector.clone(),
            }),
            counters,
        };
        // The cluster this task's records go to: the producer's (a `producer.bootstrap.servers`
        // or `producer.override.bootstrap.servers` may differ from the worker's).
        self.task_config.insert(
            super::WORKER_BOOTSTRAP_KEY.to_string(),
            producer_props
                .get("bootstrap.servers")
                .cloned()
                .unwrap_or_else(|| shared.config.bootstrap_servers()),
        );
        if let Err(error) = self.task.start(&self.task_config, context).await {
            producer.close(std::time::Duration::ZERO).await;
            return Err(error);
        }
        let mut running = Running {
            id: self.id.clone(),
            task: self.task,
            shared: shared.clone(),
            producer,
            converters,
            transforms,
            errors,
            pending: HashMap::new(),
        };
        let result = running.main_loop(&mut self.target, &self.stop).await;
        // Stopping or failed: flush what was acknowledged.
        let flushed = running.flush_offsets().await;
        running.task.stop().await;
        running
            .producer
            .close(shared.config.offset_flush_timeout())
            .await;
        result?;
        flushed
    }
}

/// The converter keys of a task config (`key.converter`, `value.converter`,
/// `header.converter` and their sub-keys) replace the connector's: a connector that passes
/// bytes through (MirrorSource pins ByteArrayConverter) sets them in its task configs.
fn converter_config<'a>(connector: &'a Config, task: &Config) -> std::borrow::Cow<'a, Config> {
    const PREFIXES: [&str; 3] = ["key.converter", "value.converter", "header.converter"];
    // Each converter separately: a task that pins only `value.converter` keeps the
    // connector's key and header converters.
    let set_by_task: Vec<&str> = PREFIXES
        .into_iter()
        .filter(|prefix| task.keys().any(|key| key.starts_with(prefix)))
        .collect();
    let pinned = |key: &String| set_by_task.iter().any(|prefix| key.starts_with(prefix));
    if set_by_task.is_empty() {
        return std::borrow::Cow::Borrowed(connector);
    }
    let mut config = connector.clone();
    config.retain(|key, _| !pinned(key));
    config.extend(
        task.iter()
            .filter(|(key, _)| pinned(key))
            .map(|(key, value)| (key.clone(), value.clone())),
    );
    std::borrow::Cow::Owned(config)
}

impl Running {
    async fn main_loop(
        &mut self,
        target: &mut watch::Receiver<TargetState>,
        stop: &CancellationToken,
    ) -> Result<(), ConnectError> {
        let interval = self.shared.config.offset_flush_interval();
        let mut next_flush = Instant::now() + interval;
        let mut shown: Option<State> = None;
        loop {
            if stop.is_cancelled() {
                return Ok(());
            }
            let state = *target.borrow_and_update();
            match state {
                TargetState::Stopped => return Ok(()),
                TargetState::Paused => {
                    if shown != Some(State::Paused) {
                        self.shared.status.put_task(&self.id, State::Paused, None);
                        shown = Some(State::Paused);
                    }
                    let wait = next_flush.saturating_duration_since(Instant::now());
                    tokio::select! {
                        _ = stop.cancelled() => return Ok(()),
                        _ = target.changed() => {}
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
                TargetState::Started => {
                    if shown != Some(State::Running) {
                        self.shared.status.put_task(&self.id, State::Running, None);
                        shown = Some(State::Running);
                    }
                    let polled = tokio::select! {
                        _ = stop.cancelled() => return Ok(()),
                        polled = self.task.poll() => polled,
                    };
                    match polled {
                        Ok(records) => self.send_batch(records).await?,
                        Err(error) if error.is_retriable() => {
                            tracing::warn!(task = %self.id, %error, "Retriable failure in poll; polling again");
                        }
                        Err(error) => return Err(error),
                    }
                }
            }
            if Instant::now() >= next_flush {
                self.flush_offsets().await?;
                next_flush = Instant::now() + interval;
            }
        }
    }

    /// Converts one record; None when a failure was tolerated.
    async fn convert(&mut self, record: &SourceRecord) -> Result<Option<RawRecord>, ConnectError> {
        let transformed = self
            .errors
            .transform(
                &mut self.transforms,
                record.record.clone(),
                Subject::Source(record),
            )
            .await?;
        let Some(out) = transformed else {
            return Ok(None);
        };
        let topic = out.topic.clone();
        let subject = Subject::Source(record);
        let converters = &self.converters;
        let Some(key) = self
            .errors
            .execute(Stage::KeyConverter, converters.key.class, subject, || {
                converters.key.converter.from_connect_data(
                    &topic,
                    out.key_schema.as_deref(),
                    &out.key,
                )
            })
            .await?
        else {
            return Ok(None);
        };
        let Some(value) = self
            .errors
            .execute(
                Stage::ValueConverter,
                converters.value.class,
                subject,
                || {
                    converters.value.converter.from_connect_data(
                        &topic,
                        out.value_schema.as_deref(),
                        &out.value,
                    )
                },
            )
            .await?
        else {
            return Ok(None);
        };
        let Some(headers) = self
            .errors
            .execute(
                Stage::HeaderConverter,
                converters.header.class,
                subject,
                || {
                    out.headers
                        .iter()
                        .map(|h| {
                            converters
                                .header
                                .converter
                                .from_connect_header(&topic, &h.key, h.schema.as_deref(), &h.value)
                                .map(|bytes| (h.key.clone(), bytes))
                        })
                        .collect::<Result<Vec<_>, _>>()
                },
            )
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(RawRecord {
            topic,
            partition: out.kafka_partition,
            offset: -1,
            timestamp: out.timestamp,
            timestamp_type: TimestampType::CreateTime,
            key,
            value,
            headers,
        }))
    }

    async fn send_batch(&mut self, records: Vec<SourceRecord>) -> Result<(), ConnectError> {
        let mut sent: Vec<(SourceRecord, Option<(String, AckFuture)>)> =
            Vec::with_capacity(records.len());
        for record in records {
            let raw = self.convert(&record).await?;
            let Some(raw) = raw else {
                sent.push((record, None));
                continue;
            };
            let topic = raw.topic.clone();
            match self.producer.send(raw).await {
                Ok(ack) => sent.push((record, Some((topic, ack)))),
                Err(error) => {
                    self.errors
                        .tolerate(
                            Stage::KafkaProduce,
                            "org.apache.kafka.clients.producer.KafkaProducer",
                            error.clone(),
                            Subject::Source(&record),
                        )
                        .await?;
                    self.task.record_not_produced(&record, &error).await;
                    sent.push((record, None));
                }
            }
        }
        for (record, ack) in sent {
            match ack {
                None => self.task.commit_record(&record, None).await,
                Some((topic, ack)) => match ack.await {
                    Ok(ack) => {
                        self.shared.track_topic(&self.id.connector, &topic);
                        let metadata = RecordMetadata {
                            topic,
                            partition: ack.partition,
                            offset: ack.offset,
                        };
                        self.task.commit_record(&record, Some(&metadata)).await;
                    }
                    Err(error) => {
                        self.errors
                            .tolerate(
                                Stage::KafkaProduce,
                                "org.apache.kafka.clients.producer.KafkaProducer",
                                error.clone(),
                                Subject::Source(&record),
                            )
                            .await?;
                        self.task.record_not_produced(&record, &error).await;
                        self.task.commit_record(&record, None).await;
                    }
                },
            }
            if !record.source_partition.is_empty() {
                let key = serde_json::Value::Object(record.source_partition.clone()).to_string();
                self.pending
                    .insert(key, (record.source_partition, record.source_offset));
            }
        }
        Ok(())
    }

    /// Writes the offsets of processed records to the store and its file, then tells the
    /// task (`commit`).
    async fn flush_offsets(&mut self) -> Result<(), ConnectError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        for (_, (partition, offset)) in self.pending.drain() {
            self.shared
                .offsets
                .put(&self.id.connector, &partition, Some(&offset));
        }
        let store = self.shared.offsets.clone();
        tokio::task::spawn_blocking(move || store.flush())
            .await
            .map_err(|e| ConnectError::connect(format!("Offset flush failed: {e}")))??;
        self.task.commit().await;
        Ok(())
    }
}
