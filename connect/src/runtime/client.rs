//! The worker's Kafka client: a narrow interface of our own over the `confluent-kafka` crate
//! (Confluent's Rust translation of the Java client, so the Java configuration names apply).
//!
//! Configuration (CONNECT.md b.3/b.4): the worker's `producer.*`/`consumer.*`/`admin.*` keys
//! and a connector's `producer.override.*`/`consumer.override.*`/`admin.override.*` keys pass
//! to the client unchanged, over the runtime's defaults: sink consumers read from the earliest
//! offset with auto-commit off as group `connect-<name>` (KIP-848, `group.protocol=consumer`);
//! source producers use `acks=all`, idempotence off and one request in flight. Producers use
//! `partitioner.type=Murmur2RandomPartitioner`, the Java client's partitions.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use confluent_kafka::admin::{
    Admin, AdminClient, AdminClientConfig, ListConsumerGroupOffsetsSpec, NewTopic,
};
use confluent_kafka::common::header::{Header as _, Headers as _, RecordHeader, RecordHeaders};
use confluent_kafka::common::record::TimestampType as KafkaTimestampType;
use confluent_kafka::common::serialization::{ByteArrayDeserializer, ByteArraySerializer};
use confluent_kafka::common::TopicPartition as KafkaTopicPartition;
use confluent_kafka::consumer::{
    Consumer as _, ConsumerConfig, KafkaConsumer, OffsetAndMetadata, SubscriptionPattern,
};
use confluent_kafka::producer::{
    KafkaProducer, Producer as _, ProducerConfig, ProducerRecord, ProducerRecordOptionsBuilder,
};

use crate::connector::{Config, TopicPartition};
use crate::data::{ConnectError, TimestampType};

/// A record as it travels to or from Kafka: raw bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRecord {
    /// Topic.
    pub topic: String,
    /// Partition; None lets the partitioner choose (produce only).
    pub partition: Option<i32>,
    /// Offset (consumed records only).
    pub offset: i64,
    /// Timestamp in ms since the epoch, if any.
    pub timestamp: Option<i64>,
    /// Timestamp type (consumed records).
    pub timestamp_type: TimestampType,
    /// Key bytes; None = null.
    pub key: Option<Vec<u8>>,
    /// Value bytes; None = null.
    pub value: Option<Vec<u8>>,
    /// Headers in order; a None value is a null header.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

/// Where a produced record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
}

/// The acknowledgement of one record sent, awaited later.
pub type AckFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Ack, ConnectError>> + Send>>;

/// A producer.
#[async_trait]
pub trait ProducerClient: Send + Sync {
    /// Hands `record` to the producer; the returned future resolves when Kafka acknowledged
    /// it. Errors when the record could not even be queued.
    async fn send(&self, record: RawRecord) -> Result<AckFuture, ConnectError>;
    /// Waits until every record sent so far is acknowledged or failed.
    async fn flush(&self) -> Result<(), ConnectError>;
    /// Closes the producer, waiting at most `timeout`.
    async fn close(&self, timeout: Duration);
}

/// A group consumer (the consumer of one sink task).
#[async_trait]
pub trait ConsumerClient: Send {
    /// Subscribes to `topics`.
    async fn subscribe(&mut self, topics: Vec<String>) -> Result<(), ConnectError>;
    /// Subscribes to every topic matching `regex` (KIP-848 broker-side regex).
    async fn subscribe_regex(&mut self, regex: &str) -> Result<(), ConnectError>;
    /// The records fetched within `timeout`, possibly none.
    async fn poll(&mut self, timeout: Duration) -> Result<Vec<RawRecord>, ConnectError>;
    /// Partitions currently assigned.
    fn assignment(&mut self) -> Vec<TopicPartition>;
    /// Stops fetching `partitions`.
    async fn pause(&mut self, partitions: &[TopicPartition]) -> Result<(), ConnectError>;
    /// Resumes fetching `partitions`.
    async fn resume(&mut self, partitions: &[TopicPartition]) -> Result<(), ConnectError>;
    /// Rewinds `partition` to `offset` (redelivery).
    async fn seek(&mut self, partition: &TopicPartition, offset: i64) -> Result<(), ConnectError>;
    /// Commits `offsets` (next offset to consume) synchronously.
    async fn commit(&mut self, offsets: &HashMap<TopicPartition, i64>) -> Result<(), ConnectError>;
    /// Leaves the group and closes.
    async fn close(&mut self);
}

/// An admin client.
#[async_trait]
pub trait AdminClientApi: Send + Sync {
    /// The cluster id.
    async fn cluster_id(&self) -> Result<String, ConnectError>;
    /// The number of brokers.
    async fn broker_count(&self) -> Result<usize, ConnectError>;
    /// Creates `topic` (broker default partitions); Ok(false) when it already exists.
    async fn create_topic(
        &self,
        topic: &str,
        replication_factor: i16,
    ) -> Result<bool, ConnectError>;
    /// Committed offsets of `group`.
    async fn group_offsets(
        &self,
        group: &str,
    ) -> Result<BTreeMap<TopicPartition, i64>, ConnectError>;
    /// Sets committed offsets of `group` (the group must be empty).
    async fn alter_group_offsets(
        &self,
        group: &str,
        offsets: &HashMap<TopicPartition, i64>,
    ) -> Result<(), ConnectError>;
    /// Deletes committed offsets of `group` for `partitions`.
    async fn delete_group_offsets(
        &self,
        group: &str,
        partitions: &[TopicPartition],
    ) -> Result<(), ConnectError>;
    /// Closes the client.
    async fn close(&self);
}

fn kafka_error(context: &str, error: impl std::fmt::Display) -> ConnectError {
    ConnectError::connect(format!("{context}: {error}"))
}

fn to_hash_map(config: &Config) -> HashMap<String, String> {
    config.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// The configuration of a source task's producer: defaults, then the worker's `producer.*`,
/// then the connector's `producer.override.*`.
pub fn producer_config(bootstrap: &str, worker: &Config, overrides: &Config) -> Config {
    let mut config: Config = [
        ("bootstrap.servers", bootstrap),
        ("acks", "all"),
        ("enable.idempotence", "false"),
        ("max.in.flight.requests.per.connection", "1"),
        ("delivery.timeout.ms", "2147483647"),
        ("linger.ms", "0"),
        (
            "partitioner.type",
            ProducerConfig::MURMUR2_RANDOM_PARTITIONER,
        ),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    config.extend(worker.clone());
    config.extend(overrides.clone());
    config
}

/// The configuration of a sink task's consumer (group `connect-<name>`).
pub fn consumer_config(
    bootstrap: &str,
    connector: &str,
    worker: &Config,
    overrides: &Config,
) -> Config {
    let mut config: Config = [
        ("bootstrap.servers", bootstrap.to_string()),
        ("group.id", format!("connect-{connector}")),
        ("group.protocol", "consumer".to_string()),
        ("auto.offset.reset", "earliest".to_string()),
        ("enable.auto.commit", "false".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    config.extend(worker.clone());
    config.extend(overrides.clone());
    config
}

/// The confluent-kafka producer.
pub struct KafkaProducerClient {
    producer: KafkaProducer<Vec<u8>, Vec<u8>>,
}

impl std::fmt::Debug for KafkaProducerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaProducerClient")
            .finish_non_exhaustive()
    }
}

impl KafkaProducerClient {
    /// A producer with `config` (Java producer keys).
    pub fn new(config: &Config) -> Result<KafkaProducerClient, ConnectError> {
        let config = ProducerConfig::new(&to_hash_map(config))
            .map_err(|e| kafka_error("Invalid producer configuration", e))?;
        let producer = KafkaProducer::new(
            config,
            ByteArraySerializer::default(),
            ByteArraySerializer::default(),
        )
        .map_err(|e| kafka_error("Failed to construct kafka producer", e))?;
        Ok(KafkaProducerClient { producer })
    }
}

#[async_trait]
impl ProducerClient for KafkaProducerClient {
    async fn send(&self, record: RawRecord) -> Result<AckFuture, ConnectError> {
        let mut headers = RecordHeaders::new();
        for (key, value) in &record.headers {
            headers
                .add_with_header(RecordHeader::new(key.clone(), value.clone()))
                .map_err(|e| kafka_error("Failed to add header", e))?;
        }
        let options = ProducerRecordOptionsBuilder::<&[u8], &[u8]>::new()
            .set_topic(record.topic.clone())
            .set_partition(record.partition)
            .set_timestamp(record.timestamp)
            .set_key(record.key.as_deref())
            .set_value(record.value.as_deref())
            .set_headers(Some(headers))
            .build()
            .map_err(|e| kafka_error("Invalid record", e))?;
        let producer_record =
            ProducerRecord::with_options(options).map_err(|e| kafka_error("Invalid record", e))?;
        let future = self
            .producer
            .send(producer_record, None)
            .await
            .map_err(|e| kafka_error("Failed to send record", e))?;
        Ok(Box::pin(async move {
            let metadata = future
                .get()
                .await
                .map_err(|e| kafka_error("Failed to produce record", e))?;
            Ok(Ack {
                partition: metadata.partition(),
                offset: metadata.offset(),
            })
        }))
    }

    async fn flush(&self) -> Result<(), ConnectError> {
        self.producer
            .flush()
            .await
            .map_err(|e| kafka_error("Failed to flush producer", e))
    }

    async fn close(&self, timeout: Duration) {
        let _ = self.producer.close_with_timeout(timeout).await;
    }
}

/// The confluent-kafka consumer.
pub struct KafkaConsumerClient {
    consumer: KafkaConsumer<Vec<u8>, Vec<u8>>,
}

impl std::fmt::Debug for KafkaConsumerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaConsumerClient")
            .finish_non_exhaustive()
    }
}

impl KafkaConsumerClient {
    /// A consumer with `config` (Java consumer keys).
    pub fn new(config: &Config) -> Result<KafkaConsumerClient, ConnectError> {
        let config = ConsumerConfig::new(&to_hash_map(config))
            .map_err(|e| kafka_error("Invalid consumer configuration", e))?;
        let consumer = KafkaConsumer::new(
            config,
            ByteArrayDeserializer::default(),
            ByteArrayDeserializer::default(),
        )
        .map_err(|e| kafka_error("Failed to construct kafka consumer", e))?;
        Ok(KafkaConsumerClient { consumer })
    }
}

fn to_kafka(partition: &TopicPartition) -> KafkaTopicPartition {
    KafkaTopicPartition::new(partition.topic.as_str(), partition.partition)
}

fn from_kafka(partition: &KafkaTopicPartition) -> TopicPartition {
    TopicPartition::new(partition.topic(), partition.partition())
}

#[async_trait]
impl ConsumerClient for KafkaConsumerClient {
    async fn subscribe(&mut self, topics: Vec<String>) -> Result<(), ConnectError> {
        self.consumer
            .subscribe_with_topics(topics)
            .await
            .map_err(|e| kafka_error("Failed to subscribe", e))
    }

    async fn subscribe_regex(&mut self, regex: &str) -> Result<(), ConnectError> {
        self.consumer
            .subscribe_with_pattern(SubscriptionPattern::new(regex))
            .await
            .map_err(|e| kafka_error("Failed to subscribe", e))
    }

    async fn poll(&mut self, timeout: Duration) -> Result<Vec<RawRecord>, ConnectError> {
        let records = self
            .consumer
            .poll(timeout)
            .await
            .map_err(|e| kafka_error("Failed to poll", e))?;
        let mut out = Vec::with_capacity(records.count());
        for record in records {
            let timestamp_type = match record.timestamp_type() {
                KafkaTimestampType::NoTimestampType => TimestampType::NoTimestampType,
                KafkaTimestampType::CreateTime => TimestampType::CreateTime,
                KafkaTimestampType::LogAppendTime => TimestampType::LogAppendTime,
                _ => TimestampType::NoTimestampType,
            };
            out.push(RawRecord {
                topic: record.topic().to_string(),
                partition: Some(record.partition()),
                offset: record.offset(),
                timestamp: (record.timestamp() >= 0).then(|| record.timestamp()),
                timestamp_type,
                key: record.key().cloned(),
                value: record.value().cloned(),
                headers: record
                    .headers()
                    .iter()
                    .map(|h| (h.key().to_string(), h.value().map(<[u8]>::to_vec)))
                    .collect(),
            });
        }
        Ok(out)
    }

    fn assignment(&mut self) -> Vec<TopicPartition> {
        let mut partitions: Vec<TopicPartition> =
            self.consumer.assignment().iter().map(from_kafka).collect();
        partitions.sort();
        partitions
    }

    async fn pause(&mut self, partitions: &[TopicPartition]) -> Result<(), ConnectError> {
        let partitions: Vec<_> = partitions.iter().map(to_kafka).collect();
        self.consumer
            .pause(&partitions)
            .await
            .map_err(|e| kafka_error("Failed to pause", e))
    }

    async fn resume(&mut self, partitions: &[TopicPartition]) -> Result<(), ConnectError> {
        let partitions: Vec<_> = partitions.iter().map(to_kafka).collect();
        self.consumer
            .resume(&partitions)
            .await
            .map_err(|e| kafka_error("Failed to resume", e))
    }

    async fn seek(&mut self, partition: &TopicPartition, offset: i64) -> Result<(), ConnectError> {
        self.consumer
            .seek_with_offset(to_kafka(partition), offset)
            .await
            .map_err(|e| kafka_error("Failed to seek", e))
    }

    async fn commit(&mut self, offsets: &HashMap<TopicPartition, i64>) -> Result<(), ConnectError> {
        let mut map = HashMap::new();
        for (partition, offset) in offsets {
            let offset =
                OffsetAndMetadata::new(*offset).map_err(|e| kafka_error("Invalid offset", e))?;
            map.insert(to_kafka(partition), offset);
        }
        if map.is_empty() {
            return Ok(());
        }
        self.consumer
            .commit_sync_with_offsets(map)
            .await
            .map_err(|e| kafka_error("Failed to commit offsets", e))
    }

    async fn close(&mut self) {
        let _ = self.consumer.close().await;
    }
}

/// The confluent-kafka admin client.
pub struct KafkaAdminClient {
    admin: Box<dyn Admin>,
}

impl std::fmt::Debug for KafkaAdminClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaAdminClient").finish_non_exhaustive()
    }
}

impl KafkaAdminClient {
    /// An admin client with `config` (Java admin keys).
    pub fn new(config: &Config) -> Result<KafkaAdminClient, ConnectError> {
        let config = AdminClientConfig::new(&to_hash_map(config))
            .map_err(|e| kafka_error("Invalid admin configuration", e))?;
        let admin = AdminClient::create(config)
            .map_err(|e| kafka_error("Failed to create admin client", e))?;
        Ok(KafkaAdminClient { admin })
    }
}

#[async_trait]
impl AdminClientApi for KafkaAdminClient {
    async fn cluster_id(&self) -> Result<String, ConnectError> {
        let future = self.admin.describe_cluster().cluster_id();
        future
            .get()
            .await
            .map_err(|e| kafka_error("Failed to describe cluster", e))
    }

    async fn broker_count(&self) -> Result<usize, ConnectError> {
        let future = self.admin.describe_cluster().nodes();
        let nodes = future
            .get()
            .await
            .map_err(|e| kafka_error("Failed to describe cluster", e))?;
        Ok(nodes.len())
    }

    async fn create_topic(
        &self,
        topic: &str,
        replication_factor: i16,
    ) -> Result<bool, ConnectError> {
        let new_topic =
            NewTopic::with_num_partitions_replication_factor(topic, None, Some(replication_factor));
        let future = self.admin.create_topics(&[new_topic]).all();
        match future.get().await {
            Ok(()) => Ok(true),
            Err(error) if error.to_string().contains("already exists") => Ok(false),
            Err(error) => Err(kafka_error(
                &format!("Failed to create topic {topic}"),
                error,
            )),
        }
    }

    async fn group_offsets(
        &self,
        group: &str,
    ) -> Result<BTreeMap<TopicPartition, i64>, ConnectError> {
        let specs = HashMap::from([(group.to_string(), ListConsumerGroupOffsetsSpec::new())]);
        let future = self
            .admin
            .list_consumer_group_offsets_with_group_specs(&specs)
            .all();
        let all = future
            .get()
            .await
            .map_err(|e| kafka_error("Failed to list consumer group offsets", e))?;
        let mut out = BTreeMap::new();
        if let Some(offsets) = all.get(group) {
            for (partition, offset) in offsets {
                if let Some(offset) = offset {
                    out.insert(from_kafka(partition), offset.offset());
                }
            }
        }
        Ok(out)
    }

    async fn alter_group_offsets(
        &self,
        group: &str,
        offsets: &HashMap<TopicPartition, i64>,
    ) -> Result<(), ConnectError> {
        let mut map = HashMap::new();
        for (partition, offset) in offsets {
            map.insert(
                to_kafka(partition),
                OffsetAndMetadata::new(*offset).map_err(|e| kafka_error("Invalid offset", e))?,
            );
        }
        let future = self.admin.alter_consumer_group_offsets(group, &map).all();
        future
            .get()
            .await
            .map_err(|e| kafka_error("Failed to alter consumer group offsets", e))
    }

    async fn delete_group_offsets(
        &self,
        group: &str,
        partitions: &[TopicPartition],
    ) -> Result<(), ConnectError> {
        let set: HashSet<_> = partitions.iter().map(to_kafka).collect();
        let future = self.admin.delete_consumer_group_offsets(group, &set).all();
        future
            .get()
            .await
            .map_err(|e| kafka_error("Failed to delete consumer group offsets", e))
    }

    async fn close(&self) {
        self.admin.close_with_timeout(Duration::from_secs(5)).await;
    }
}
