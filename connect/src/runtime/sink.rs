//! The sink task loop (Kafka's `WorkerSinkTask`): consume as group `connect-<name>` →
//! converters → transforms → `put`; `pre_commit` + commit every `offset.flush.interval.ms`,
//! on partition revocation and on stop. Retriable `put` failures pause consumption and hand
//! the same batch again after a backoff.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::client::{
    consumer_config, producer_config, AdminClientApi, ConsumerClient, KafkaConsumerClient,
    KafkaProducerClient, ProducerClient, RawRecord,
};
use super::errors::{backoff_delay, ErrorHandler, SinkErrantRecordReporter, Stage, Subject};
use super::pipeline::{Converters, Transforms};
use super::{Shared, TargetState};
use crate::config_def::with_prefix;
use crate::connector::{
    Config, ConnectorType, SinkControl, SinkTask, SinkTaskContext, TopicPartition,
};
use crate::connector_config::ConnectorConfig;
use crate::data::{ConnectError, ConnectRecord, Headers};
use crate::status::{State, TaskId};

/// How long one consumer poll waits.
const POLL_TIMEOUT: Duration = Duration::from_millis(500);

/// Everything a sink task loop needs.
pub(crate) struct SinkTaskRun {
    pub(crate) id: TaskId,
    pub(crate) connector_config: Config,
    pub(crate) task_config: Config,
    pub(crate) class: &'static str,
    pub(crate) task: Box<dyn SinkTask>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) target: watch::Receiver<TargetState>,
    pub(crate) stop: CancellationToken,
}

struct Running {
    id: TaskId,
    task: Box<dyn SinkTask>,
    shared: Arc<Shared>,
    consumer: Box<dyn ConsumerClient>,
    converters: Converters,
    transforms: Transforms,
    errors: Arc<ErrorHandler>,
    reporter: Arc<SinkErrantRecordReporter>,
    assigned: Vec<TopicPartition>,
    /// Next offset to consume, per partition, of records fully processed.
    current: HashMap<TopicPartition, i64>,
    /// Paused because the connector is paused or a `put` is being retried.
    paused: bool,
    /// The task's pause, resume and commit requests.
    control: Arc<SinkControl>,
}

impl SinkTaskRun {
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
        let config = ConnectorConfig::new(&self.connector_config, ConnectorType::Sink)
            .map_err(ConnectError::config)?;
        let converters = Converters::new(&self.connector_config, &shared.config)?;
        let transforms = Transforms::from_config(&self.connector_config)?;
        let bootstrap = shared.config.bootstrap_servers();
        let error_config = config.error_handling();
        let dlq: Option<Arc<dyn ProducerClient>> = if error_config.dlq_topic.is_empty() {
            None
        } else {
            let admin = shared.admin()?;
            let brokers = admin.broker_count().await.unwrap_or(1).max(1);
            let mut replication = error_config.dlq_replication_factor;
            if replication > brokers as i16 {
                tracing::warn!(
                    topic = %error_config.dlq_topic,
                    "errors.deadletterqueue.topic.replication.factor={replication} is more than the {brokers} broker(s) of the cluster; creating the topic with replication factor {brokers}"
                );
                replication = brokers as i16;
            }
            admin
                .create_topic(&error_config.dlq_topic, replication)
                .await?;
            let props = producer_config(
                &bootstrap,
                &shared.config.client_properties("producer."),
                &with_prefix(&self.connector_config, "producer.override."),
            );
            Some(Arc::new(KafkaProducerClient::new(&props)?))
        };
        let counters = shared.status.new_counters(&self.id);
        let errors = Arc::new(
            ErrorHandler::new(
                error_config,
                self.id.clone(),
                self.stop.clone(),
                dlq.clone(),
            )
            .with_counters(counters.clone()),
        );
        let reporter = Arc::new(SinkErrantRecordReporter {
            handler: errors.clone(),
            class: self.class.to_string(),
            originals: Mutex::new(HashMap::new()),
        });
        let props = consumer_config(
            &bootstrap,
            &self.id.connector,
            &shared.config.client_properties("consumer."),
            &with_prefix(&self.connector_config, "consumer.override."),
        );
        let mut consumer: Box<dyn ConsumerClient> = Box::new(KafkaConsumerClient::new(&props)?);
        match config.topics_regex() {
            Some(regex) => consumer.subscribe_regex(regex).await?,
            None => consumer.subscribe(config.topics().to_vec()).await?,
        }
        let control = Arc::new(SinkControl::default());
        let context = SinkTaskContext {
            errant_record_reporter: reporter.clone(),
            counters,
            control: control.clone(),
        };
        if let Err(error) = self.task.start(&self.task_config, context).await {
            consumer.close().await;
            return Err(error);
        }
        let mut running = Running {
            id: self.id.clone(),
            task: self.task,
            shared: shared.clone(),
            consumer,
            converters,
            transforms,
            errors,
            reporter,
            assigned: Vec::new(),
            current: HashMap::new(),
            paused: false,
            control,
        };
        let result = running.main_loop(&mut self.target, &self.stop).await;
        // Also after a failure, as Kafka's WorkerSinkTask closes its partitions: `current`
        // holds only offsets of records `put` accepted, so what the task wrote is committed
        // and not delivered again after a restart.
        running.commit().await;
        let assigned = std::mem::take(&mut running.assigned);
        let _ = running.task.close(&assigned).await;
        running.task.stop().await;
        running.consumer.close().await;
        if let Some(dlq) = dlq {
            dlq.close(shared.config.offset_flush_timeout()).await;
        }
        result
    }
}

impl Running {
    async fn main_loop(
        &mut self,
        target: &mut watch::Receiver<TargetState>,
        stop: &CancellationToken,
    ) -> Result<(), ConnectError> {
        let interval = self.shared.config.offset_flush_interval();
        let mut next_commit = Instant::now() + interval;
        let mut shown: Option<State> = None;
        loop {
            if stop.is_cancelled() {
                return Ok(());
            }
            let state = *target.borrow_and_update();
            match state {
                TargetState::Stopped => return Ok(()),
                TargetState::Paused => {
                    if !self.paused {
                        let assigned = self.assigned.clone();
                        self.consumer.pause(&assigned).await?;
                        self.paused = true;
                    }
                    if shown != Some(State::Paused) {
                        self.shared.status.put_task(&self.id, State::Paused, None);
                        shown = Some(State::Paused);
                    }
                }
                TargetState::Started => {
                    if self.paused {
                        self.resume_all().await?;
                        self.paused = false;
                    }
                    if self.control.take_changed() {
                        self.apply_task_pauses().await?;
                    }
                    if shown != Some(State::Running) {
                        self.shared.status.put_task(&self.id, State::Running, None);
                        shown = Some(State::Running);
                    }
                }
            }
            let records = tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                records = self.consumer.poll(POLL_TIMEOUT) => records?,
                // A pause, resume or commit request from the task is served at once.
                _ = self.control.notified() => Vec::new(),
            };
            self.update_assignment().await?;
            if !records.is_empty() {
                self.deliver(records, stop).await?;
            } else {
                // As Kafka's WorkerSinkTask (`deliverMessages` after every poll), `put` also
                // gets empty batches: an asynchronous sink (HttpSink) reports there a failure
                // found after an earlier `put` returned.
                if let Err(error) = self.task.put(Vec::new()).await {
                    if !error.is_retriable() {
                        return Err(error);
                    }
                }
            }
            if Instant::now() >= next_commit || self.control.take_commit_request() {
                self.commit().await;
                next_commit = Instant::now() + interval;
            }
        }
    }

    /// Resumes every assigned partition the task itself has not paused.
    async fn resume_all(&mut self) -> Result<(), ConnectError> {
        let task_paused = self.control.paused();
        let resumed: Vec<TopicPartition> = self
            .assigned
            .iter()
            .filter(|partition| !task_paused.contains(partition))
            .cloned()
            .collect();
        self.consumer.resume(&resumed).await
    }

    /// Makes the consumer's paused partitions those the task asked to pause.
    async fn apply_task_pauses(&mut self) -> Result<(), ConnectError> {
        let task_paused = self.control.paused();
        let (pause, resume): (Vec<TopicPartition>, Vec<TopicPartition>) = self
            .assigned
            .iter()
            .cloned()
            .partition(|partition| task_paused.contains(partition));
        if !pause.is_empty() {
            self.consumer.pause(&pause).await?;
        }
        if !resume.is_empty() {
            self.consumer.resume(&resume).await?;
        }
        Ok(())
    }

    /// Opens newly assigned partitions; commits and closes revoked ones.
    async fn update_assignment(&mut self) -> Result<(), ConnectError> {
        let now = self.consumer.assignment();
        if now == self.assigned {
            return Ok(());
        }
        let revoked: Vec<TopicPartition> = self
            .assigned
            .iter()
            .filter(|p| !now.contains(p))
            .cloned()
            .collect();
        let added: Vec<TopicPartition> = now
            .iter()
            .filter(|p| !self.assigned.contains(p))
            .cloned()
            .collect();
        if !revoked.is_empty() {
            self.commit().await;
            self.task.close(&revoked).await?;
            for partition in &revoked {
                self.current.remove(partition);
            }
            lock(&self.reporter.originals).retain(|(topic, partition, _), _| {
                !revoked
                    .iter()
                    .any(|r| r.topic == *topic && r.partition == *partition)
            });
        }
        if !added.is_empty() {
            for partition in &added {
                self.shared
                    .track_topic(&self.id.connector, &partition.topic);
            }
            self.task.open(&added).await?;
            if self.paused {
                self.consumer.pause(&added).await?;
            }
        }
        self.control.set_assignment(&now);
        self.assigned = now;
        Ok(())
    }

    /// Converts and transforms one consumed record; None when a failure was tolerated or a
    /// transform dropped it.
    async fn convert(&mut self, raw: &RawRecord) -> Result<Option<ConnectRecord>, ConnectError> {
        let topic = raw.topic.as_str();
        let subject = Subject::Consumed(raw);
        let converters = &self.converters;
        let Some(key) = self
            .errors
            .execute(Stage::KeyConverter, converters.key.class, subject, || {
                converters
                    .key
                    .converter
                    .to_connect_data(topic, raw.key.as_deref())
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
                    converters
                        .value
                        .converter
                        .to_connect_data(topic, raw.value.as_deref())
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
                    let mut headers = Headers::default();
                    for (name, bytes) in &raw.headers {
                        let converted = converters.header.converter.to_connect_header(
                            topic,
                            name,
                            bytes.as_deref(),
                        )?;
                        headers.add(name.clone(), converted.schema, converted.value);
                    }
                    Ok(headers)
                },
            )
            .await?
        else {
            return Ok(None);
        };
        let record = ConnectRecord {
            topic: raw.topic.clone(),
            kafka_partition: raw.partition,
            key_schema: key.schema,
            key: key.value,
            value_schema: value.schema,
            value: value.value,
            timestamp: raw.timestamp,
            timestamp_type: raw.timestamp_type,
            headers,
            kafka_offset: Some(raw.offset),
        };
        self.errors
            .transform(&mut self.transforms, record, Subject::Consumed(raw))
            .await
    }

    async fn deliver(
        &mut self,
        raws: Vec<RawRecord>,
        stop: &CancellationToken,
    ) -> Result<(), ConnectError> {
        let mut batch = Vec::with_capacity(raws.len());
        let mut offsets: HashMap<TopicPartition, i64> = HashMap::new();
        // Most sinks report errant records during `put`: the originals of one batch suffice.
        // An asynchronous sink (HttpSink) may report after `put` returned: its originals are
        // kept until committed.
        let keep_until_committed = self.task.reports_errant_records_after_put();
        if !keep_until_committed {
            lock(&self.reporter.originals).clear();
        }
        for raw in &raws {
            if let Some(record) = self.convert(raw).await? {
                batch.push(record);
                lock(&self.reporter.originals).insert(
                    (raw.topic.clone(), raw.partition.unwrap_or(-1), raw.offset),
                    raw.clone(),
                );
            }
            offsets.insert(
                TopicPartition::new(raw.topic.clone(), raw.partition.unwrap_or(-1)),
                raw.offset + 1,
            );
        }
        if !batch.is_empty() {
            let mut retry = 0u32;
            let mut paused_here = false;
            loop {
                match self.task.put(batch.clone()).await {
                    Ok(()) => break,
                    Err(error) if error.is_retriable() => {
                        tracing::warn!(task = %self.id, %error, "RetriableException from SinkTask; pausing and redelivering the batch after a backoff");
                        if !self.paused && !paused_here {
                            let assigned = self.assigned.clone();
                            self.consumer.pause(&assigned).await?;
                            paused_here = true;
                        }
                        let delay = backoff_delay(
                            retry,
                            self.errors
                                .config()
                                .retry_delay_max
                                .max(Duration::from_millis(300)),
                            Instant::now(),
                            None,
                        );
                        retry = retry.saturating_add(1);
                        tokio::select! {
                            _ = stop.cancelled() => return Ok(()),
                            _ = tokio::time::sleep(delay) => {}
                        }
                    }
                    Err(error) => return Err(error),
                }
            }
            if paused_here {
                self.resume_all().await?;
            }
        }
        self.current.extend(offsets);
        Ok(())
    }

    /// `pre_commit` then a synchronous commit of what it allows; failures are logged (the
    /// next commit retries).
    async fn commit(&mut self) {
        if self.current.is_empty() {
            return;
        }
        let allowed = match self.task.pre_commit(&self.current).await {
            Ok(allowed) => allowed,
            Err(error) => {
                tracing::error!(task = %self.id, %error, "Commit of offsets threw an unexpected exception");
                return;
            }
        };
        let allowed: HashMap<TopicPartition, i64> = allowed
            .into_iter()
            .filter(|(partition, _)| self.assigned.contains(partition))
            .collect();
        if let Err(error) = self.consumer.commit(&allowed).await {
            tracing::error!(task = %self.id, %error, "Commit of offsets failed");
            return;
        }
        // Originals of committed records are no longer needed by the errant record reporter.
        lock(&self.reporter.originals).retain(|(topic, partition, offset), _| {
            allowed
                .get(&TopicPartition::new(topic.clone(), *partition))
                .is_none_or(|committed| offset >= committed)
        });
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
