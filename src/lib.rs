//! Josefine: a single-node broker of the Apache Kafka wire protocol, embeddable in tests.
//!
//! Start a broker in the calling process, point any Kafka client at
//! [`Broker::bootstrap_servers`], and drop it (or call [`Broker::shutdown`]) when done. It
//! binds 127.0.0.1 on a free port and keeps its data in a temporary directory removed on drop,
//! so any number of brokers run side by side in one test binary.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), josefine::Error> {
//! let broker = josefine::Broker::builder().property("num.partitions", "3").start().await?;
//! let bootstrap = broker.bootstrap_servers(); // "127.0.0.1:<port>"
//! assert!(bootstrap.starts_with("127.0.0.1:"));
//! broker.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Tests without a tokio runtime use [`BrokerBuilder::start_blocking`], which runs the broker
//! on a runtime of its own.

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Kafka Connect: the runtime behind `josefine connect-standalone` (cargo feature `connect`).
#[cfg(feature = "connect")]
pub use josefine_connect as connect;

pub use josefine_broker::config::{BrokerConfig, ConfigError};
pub use josefine_broker::inspect::capture::{CapturedRequest, Requests};
pub use josefine_broker::inspect::faults::{Fault, FaultAction, FaultId, Faults};
pub use josefine_broker::server::{Server, StartError};
pub use josefine_broker::snapshot::{
    GroupSnapshot, PartitionOffsets, SnapshotError, StoredRecord, TransactionSnapshot,
};
/// Kafka's error codes, for [`Fault::error`] and for reading captured responses.
pub use kafka_protocol::error::ResponseError;

/// Kafka's protocol messages as kafka-protocol defines them: [`messages::ApiKey`] and every
/// request and response type (`ProduceRequest`, `FetchResponse`, ...), to read captured
/// requests ([`Broker::requests`]) without a dependency of your own.
pub mod messages {
    pub use kafka_protocol::messages::*;
}

/// kafka-protocol's record batch codec (`RecordBatchDecoder`, `Record`), to read the record
/// batches of captured Produce requests and Fetch responses.
pub mod records {
    pub use kafka_protocol::records::*;
}

/// Why a broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A property was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The log dir or a listener could not be opened.
    #[error(transparent)]
    Start(#[from] StartError),
    /// The temporary directory or the runtime could not be created.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A broker running in this process. Dropping it stops it and removes its temporary data.
#[derive(Debug)]
pub struct Broker {
    // Field order matters: the server stops before its temporary directory is removed.
    server: Server,
    _temp_dir: Option<tempfile::TempDir>,
}

/// Configures an embedded [`Broker`]. Defaults: `listeners=PLAINTEXT://127.0.0.1:0` and a
/// temporary log dir.
#[derive(Debug, Clone, Default)]
pub struct BrokerBuilder {
    properties: BTreeMap<String, String>,
    log_dir: Option<PathBuf>,
    wall_clock_shift: Option<&'static std::sync::atomic::AtomicI64>,
}

impl BrokerBuilder {
    /// Sets a broker property by its Kafka key, e.g. `("num.partitions", "3")`.
    pub fn property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.insert(key.into(), value.into());
        self
    }

    /// Keeps data in `dir` (kept after the broker stops) instead of a temporary directory.
    pub fn log_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.log_dir = Some(dir.into());
        self
    }

    /// Runs the broker's wall clock `shift` ms ahead of the system's (read at each use), so
    /// that an end-to-end test can move it forward to see expiry by wall-clock time. Not a
    /// configuration.
    #[doc(hidden)]
    pub fn wall_clock_shift(mut self, shift: &'static std::sync::atomic::AtomicI64) -> Self {
        self.wall_clock_shift = Some(shift);
        self
    }

    fn config(&self) -> Result<(BrokerConfig, Option<tempfile::TempDir>), Error> {
        let mut properties = self.properties.clone();
        properties
            .entry("listeners".into())
            .or_insert_with(|| "PLAINTEXT://127.0.0.1:0".into());
        let temp_dir = match &self.log_dir {
            Some(dir) => {
                properties.insert("log.dirs".into(), dir.display().to_string());
                None
            }
            None => {
                let dir = tempfile::Builder::new().prefix("josefine-").tempdir()?;
                properties.insert("log.dirs".into(), dir.path().display().to_string());
                Some(dir)
            }
        };
        Ok((BrokerConfig::from_properties(properties)?, temp_dir))
    }

    /// Starts the broker on the current tokio runtime.
    ///
    /// Errors: [`Error::Config`] for a bad property, [`Error::Start`] when the log dir or a
    /// listener cannot be opened.
    pub async fn start(self) -> Result<Broker, Error> {
        let (config, temp_dir) = self.config()?;
        let server = match self.wall_clock_shift {
            Some(shift) => Server::start_with_wall_clock_shift(config, shift).await?,
            None => Server::start(config).await?,
        };
        Ok(Broker {
            server,
            _temp_dir: temp_dir,
        })
    }

    /// Starts the broker on a runtime of its own, for tests that have no tokio runtime.
    /// Must not be called from within a runtime.
    pub fn start_blocking(self) -> Result<BlockingBroker, Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("josefine")
            .enable_all()
            .build()?;
        let broker = runtime.block_on(self.start())?;
        Ok(BlockingBroker {
            broker: Some(broker),
            runtime: Some(runtime),
        })
    }
}

impl Broker {
    /// A builder with the defaults described on [`BrokerBuilder`].
    pub fn builder() -> BrokerBuilder {
        BrokerBuilder::default()
    }

    /// `host:port` to give a client as `bootstrap.servers`.
    pub fn bootstrap_servers(&self) -> String {
        self.server.bootstrap_servers()
    }

    /// The running server, for its local addresses and state.
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// Starts recording every request this broker serves, if it is not recording yet, and
    /// returns the queue to read them from: each [`CapturedRequest`] has the API key and
    /// version, the header's correlation and client ids, the decoded request body, the
    /// encoded response (decoded on demand), the time the handler took, and the connection
    /// (peer address, listener, principal). The queue keeps the newest 10,000 requests
    /// ([`Broker::requests_with_capacity`] sets another bound) and counts what it dropped.
    /// Requests decoded before this call are not recorded.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    /// use josefine::messages::{ApiKey, MetadataRequest, MetadataResponse};
    /// use rdkafka::consumer::{BaseConsumer, Consumer};
    ///
    /// let broker = josefine::Broker::builder().start().await?;
    /// let requests = broker.requests();
    /// let bootstrap = broker.bootstrap_servers();
    /// tokio::task::spawn_blocking(move || {
    ///     let client: BaseConsumer = rdkafka::ClientConfig::new()
    ///         .set("bootstrap.servers", &bootstrap)
    ///         .set("client.id", "doc-test")
    ///         .create()?;
    ///     client.fetch_metadata(Some("orders"), std::time::Duration::from_secs(10))
    /// })
    /// .await??;
    ///
    /// // librdkafka asks for the topic by name: the request and the answer, decoded.
    /// let names_orders = |m: &MetadataRequest| {
    ///     m.topics.iter().flatten().any(|t| t.name.as_ref().is_some_and(|n| n.as_str() == "orders"))
    /// };
    /// let metadata = requests
    ///     .next_matching(move |r| r.request::<MetadataRequest>().is_some_and(names_orders))
    ///     .await;
    /// assert_eq!(metadata.api_key, ApiKey::Metadata);
    /// assert_eq!(metadata.client_id, "doc-test");
    /// let answer: MetadataResponse = metadata.response().unwrap();
    /// assert_eq!(answer.brokers.len(), 1);
    /// assert_eq!(answer.topics[0].name.as_ref().map(|n| n.as_str()), Some("orders"));
    /// broker.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub fn requests(&self) -> Requests {
        let capture = self.server.state().capture.clone();
        if !capture.is_on() {
            capture.start(josefine_broker::inspect::capture::DEFAULT_CAPACITY);
        }
        Requests::new(capture)
    }

    /// The fault rules of this broker: each [`Fault`] makes the broker answer the next
    /// requests of an API (optionally only those naming a topic or partition, or from one
    /// client id) with an error code, delay them, close their connection, or drop or delay
    /// their responses. Rules fire in the order added; [`Faults::fired`] counts each rule's
    /// hits. The binary takes the same rules as a list in `josefine.faults`
    /// ([`Fault::parse_list`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    /// use josefine::messages::ApiKey;
    /// use josefine::{Fault, ResponseError};
    /// use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    ///
    /// let broker = josefine::Broker::builder().start().await?;
    /// // The next two Produce requests to "orders" are refused as if leadership had moved:
    /// // librdkafka retries, and the third attempt appends the record once.
    /// let rule = broker.faults().inject(
    ///     Fault::error(ApiKey::Produce, ResponseError::NotLeaderOrFollower)
    ///         .topic("orders")
    ///         .times(2),
    /// );
    /// let bootstrap = broker.bootstrap_servers();
    /// tokio::task::spawn_blocking(move || -> Result<(), rdkafka::error::KafkaError> {
    ///     let producer: BaseProducer = rdkafka::ClientConfig::new()
    ///         .set("bootstrap.servers", &bootstrap)
    ///         .set("retry.backoff.ms", "10")
    ///         .create()?;
    ///     producer
    ///         .send(BaseRecord::<(), str>::to("orders").payload("placed"))
    ///         .map_err(|(e, _)| e)?;
    ///     producer.flush(std::time::Duration::from_secs(30))
    /// })
    /// .await??;
    /// assert_eq!(broker.faults().fired(rule), 2);
    /// broker.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub fn faults(&self) -> Faults {
        Faults::new(self.server.state().faults.clone())
    }

    /// Every data record of `topic`-`partition`, from the log start offset to the high
    /// watermark, read from the log without a client. Transaction markers are left out;
    /// records written in transactions (committed, open or aborted alike) are included and
    /// marked `transactional`. Compressed batches are decompressed; on a `LogAppendTime`
    /// topic the timestamp is the broker's.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    /// use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    ///
    /// let broker = josefine::Broker::builder().start().await?;
    /// let bootstrap = broker.bootstrap_servers();
    /// tokio::task::spawn_blocking(move || -> Result<(), rdkafka::error::KafkaError> {
    ///     let producer: BaseProducer =
    ///         rdkafka::ClientConfig::new().set("bootstrap.servers", &bootstrap).create()?;
    ///     producer
    ///         .send(BaseRecord::to("orders").key("o-1").payload("placed"))
    ///         .map_err(|(e, _)| e)?;
    ///     producer.flush(std::time::Duration::from_secs(30))
    /// })
    /// .await??;
    /// let records = broker.records("orders", 0)?;
    /// assert_eq!(records[0].value.as_deref(), Some(&b"placed"[..]));
    /// assert_eq!(broker.partition_offsets("orders", 0)?.high_watermark, 1);
    /// broker.shutdown().await;
    /// # Ok(()) }
    /// ```
    ///
    /// Errors: [`SnapshotError::UnknownTopic`], [`SnapshotError::UnknownPartition`],
    /// [`SnapshotError::Read`] (a damaged log).
    pub fn records(&self, topic: &str, partition: i32) -> Result<Vec<StoredRecord>, SnapshotError> {
        josefine_broker::snapshot::records(self.server.state(), topic, partition)
    }

    /// The log start offset, high watermark, last stable offset and log end offset of
    /// `topic`-`partition`.
    ///
    /// Errors: [`SnapshotError::UnknownTopic`], [`SnapshotError::UnknownPartition`].
    pub fn partition_offsets(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<PartitionOffsets, SnapshotError> {
        josefine_broker::snapshot::partition_offsets(self.server.state(), topic, partition)
    }

    /// Consumer group `group_id`: its state, type, members and committed offsets; `None` when
    /// the group coordinator does not know it.
    pub fn group(&self, group_id: &str) -> Option<GroupSnapshot> {
        josefine_broker::snapshot::group(self.server.state(), group_id)
    }

    /// Transactional id `transactional_id`: its state, producer id and epoch, timeout and the
    /// partitions of its open transaction; `None` when the transaction coordinator does not
    /// know it.
    pub fn transaction(&self, transactional_id: &str) -> Option<TransactionSnapshot> {
        josefine_broker::snapshot::transaction(self.server.state(), transactional_id)
    }

    /// [`Broker::requests`] keeping at most `capacity` requests (at least 1): when the queue
    /// is full the oldest is dropped and counted ([`Requests::dropped`]).
    pub fn requests_with_capacity(&self, capacity: usize) -> Requests {
        let capture = self.server.state().capture.clone();
        capture.start(capacity);
        Requests::new(capture)
    }

    /// Stops the broker: closes connections, flushes and trims the logs and marks the log dir
    /// cleanly shut down.
    pub async fn shutdown(self) {
        let Broker { server, _temp_dir } = self;
        server.shutdown().await;
    }
}

/// A broker running on its own runtime; see [`BrokerBuilder::start_blocking`].
#[derive(Debug)]
pub struct BlockingBroker {
    broker: Option<Broker>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl BlockingBroker {
    /// `host:port` to give a client as `bootstrap.servers`.
    pub fn bootstrap_servers(&self) -> String {
        self.broker
            .as_ref()
            .map(Broker::bootstrap_servers)
            .unwrap_or_default()
    }

    /// The addresses the listeners are bound to, which differ from
    /// [`BlockingBroker::bootstrap_servers`] when `advertised.listeners` is set.
    pub fn local_addrs(&self) -> Vec<std::net::SocketAddr> {
        self.broker
            .as_ref()
            .map(|b| b.server().local_addrs())
            .unwrap_or_default()
    }

    /// Stops the broker and its runtime.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let (Some(broker), Some(runtime)) = (self.broker.take(), self.runtime.take()) {
            runtime.block_on(broker.shutdown());
            runtime.shutdown_background();
        }
    }
}

impl Drop for BlockingBroker {
    fn drop(&mut self) {
        self.stop();
    }
}
