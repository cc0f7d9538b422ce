//! The server: opens the log dir, binds the listeners, accepts connections and shuts down
//! cleanly.
//!
//! Start-up order: lock the log dir (`.lock`), read or write `meta.properties`, load topics
//! (recovering logs unless Kafka's `.kafka_cleanshutdown` marker is there), bind listeners,
//! then accept. Shutdown: stop accepting, end connections, flush and trim every log, write the
//! clean-shutdown marker.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::Clock;
use crate::config::BrokerConfig;
use crate::coordinator::fetch_session::FetchSessionCache;
use crate::coordinator::group::GroupCoordinator;
use crate::coordinator::producer_ids::ProducerIdAllocator;
use crate::coordinator::txn::TransactionCoordinator;
use crate::metadata::topics::{TopicError, TopicRegistry};
use crate::net::limits::{ConnectionQuotas, MemoryBudget};
use crate::security::Authorizer;
use crate::state::{BoundListener, BrokerState};
use josefine_storage::{LogDir, LogDirError};

/// Kafka's clean-shutdown marker in a log dir.
pub use josefine_storage::log_dir::CLEAN_SHUTDOWN_FILE;

/// Why the broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The log dir is locked by another process, cannot be created, or its
    /// `meta.properties` does not match the configuration.
    #[error(transparent)]
    Dir(#[from] LogDirError),
    /// Start-up work on the log dir failed to complete.
    #[error("log dir {path}: {reason}")]
    LogDir {
        /// The log dir.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Loading topics or recovering logs failed.
    #[error("loading topics: {0}")]
    Topics(#[from] TopicError),
    /// A listener could not be bound.
    #[error("cannot bind listener {name} on {address}: {source}")]
    Bind {
        /// Listener name.
        name: String,
        /// Address.
        address: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The TLS side of an SSL or SASL_SSL listener cannot be set up: a key store or trust
    /// store that cannot be read, no usable protocol or cipher suite.
    #[error("listener {listener}: {reason}")]
    Tls {
        /// Listener name.
        listener: String,
        /// Why, naming the file or key.
        reason: String,
    },
}

/// A running broker. Dropping it stops it (see [`Server::shutdown`] for a graceful stop).
#[derive(Debug)]
pub struct Server {
    state: Arc<BrokerState>,
    cancel: CancellationToken,
    tracker: TaskTracker,
    lock: Option<Arc<LogDir>>,
    budget: Arc<MemoryBudget>,
    quotas: Arc<ConnectionQuotas>,
}

/// Locks the log dir and reads or writes `meta.properties`; returns the locked dir, the
/// cluster id and whether the last shutdown was clean.
fn prepare_log_dir(config: &BrokerConfig) -> Result<(Arc<LogDir>, String, bool), StartError> {
    let log_dir = LogDir::open(&config.log_dir)?;
    let meta = log_dir.load_meta_properties(config.node_id, config.cluster_id.as_deref())?;
    let clean = log_dir.had_clean_shutdown();
    Ok((Arc::new(log_dir), meta.cluster_id, clean))
}

impl Server {
    /// Starts a broker with `config`: opens the log dir, binds every listener and starts
    /// accepting connections on the current tokio runtime.
    ///
    /// Errors: `LogDir` (unwritable or locked), `Topics` (damaged data), `Bind`.
    pub async fn start(config: BrokerConfig) -> Result<Self, StartError> {
        Self::start_with_clock(config, Clock::system()).await
    }

    /// [`Server::start`] with a wall clock running `shift` ms ahead of the system's (read
    /// at each use): for end-to-end tests of expiry by wall-clock time. Not a configuration.
    ///
    /// Errors: those of [`Server::start`].
    #[doc(hidden)]
    pub async fn start_with_wall_clock_shift(
        config: BrokerConfig,
        shift: &'static std::sync::atomic::AtomicI64,
    ) -> Result<Self, StartError> {
        Self::start_with_clock(config, Clock::system_shifted(shift)).await
    }

    async fn start_with_clock(config: BrokerConfig, clock: Clock) -> Result<Self, StartError> {
        let started = std::time::Instant::now();
        let (
            lock,
            cluster_id,
            topics,
            groups,
            producer_ids,
            authorizer,
            scram_credentials,
            client_quotas,
        ) = {
            let config = config.clone();
            let log_dir = config.log_dir.clone();
            tokio::task::spawn_blocking(move || {
                let (lock, cluster_id, clean) = prepare_log_dir(&config)?;
                if !clean && (config.log_dir.join("josefine-topics").exists() || config.log_dir.join("josefine-topics.json").exists()) {
                    tracing::warn!(log_dir = %config.log_dir.display(), "no clean shutdown marker: recovering logs");
                }
                let topics = Arc::new(TopicRegistry::open(Arc::clone(&lock), config.properties.clone(), clean)?);
                let groups = Arc::new(GroupCoordinator::new(config.groups.clone(), Arc::clone(&topics), clock));
                groups.load();
                let producer_ids = Arc::new(ProducerIdAllocator::open(&config.log_dir, &topics));
                let authorizer = Authorizer::open(&config.authorizer, &config.log_dir).map_err(
                    |crate::security::acl::AclStoreError::File { path, reason }| StartError::LogDir { path, reason },
                )?;
                let _ = lock.remove_clean_shutdown_marker();
                let scram_credentials = crate::security::scram::ScramCredentialStore::open(&config.log_dir)
                    .map_err(|e| StartError::LogDir { path: config.log_dir.clone(), reason: e.to_string() })?;
                let client_quotas = crate::security::quota::ClientQuotas::open(&config.log_dir, config.quotas)
                    .map_err(|e| StartError::LogDir { path: e.path, reason: e.reason })?;
                Ok::<_, StartError>((lock, cluster_id, topics, groups, producer_ids, authorizer, Arc::new(scram_credentials), client_quotas))
            })
            .await
            .map_err(|e| StartError::LogDir { path: log_dir, reason: e.to_string() })??
        };
        // Stores are read before any socket opens: a bad store fails the start.
        let mut tls = Vec::new();
        for listener in &config.listeners {
            let acceptor = match config.ssl_config(&listener.name) {
                Some(ssl) if listener.security_protocol.uses_tls() => Some(Arc::new(
                    crate::net::tls::TlsListener::build(ssl, listener.security_protocol).map_err(
                        |reason| StartError::Tls {
                            listener: listener.name.clone(),
                            reason,
                        },
                    )?,
                )),
                _ => None,
            };
            tls.push(acceptor);
        }
        let mut bound = Vec::new();
        let mut sockets = Vec::new();
        for listener in &config.listeners {
            let host = if listener.host.is_empty() {
                "0.0.0.0"
            } else {
                listener.host.as_str()
            };
            let address = format!("{host}:{}", listener.port);
            let socket = TcpListener::bind(&address)
                .await
                .map_err(|source| StartError::Bind {
                    name: listener.name.clone(),
                    address: address.clone(),
                    source,
                })?;
            let local_addr = socket.local_addr().map_err(|source| StartError::Bind {
                name: listener.name.clone(),
                address,
                source,
            })?;
            let advertised = config
                .advertised_listeners
                .iter()
                .find(|(name, _, _)| *name == listener.name);
            let (advertised_host, advertised_port) = match advertised {
                Some((_, host, port)) if !host.is_empty() => (host.clone(), i32::from(*port)),
                _ if local_addr.ip().is_unspecified() => {
                    ("127.0.0.1".to_string(), i32::from(local_addr.port()))
                }
                _ => (local_addr.ip().to_string(), i32::from(local_addr.port())),
            };
            bound.push(BoundListener {
                name: listener.name.clone(),
                local_addr,
                security_protocol: listener.security_protocol,
                advertised_host,
                advertised_port,
            });
            sockets.push(socket);
        }
        let faults = Arc::new(crate::inspect::faults::FaultInjector::from_config(
            config.properties.get(crate::inspect::faults::FAULTS_KEY),
        ));
        let state = Arc::new(BrokerState {
            fetch_sessions: FetchSessionCache::new(
                config.max_incremental_fetch_session_cache_slots,
            ),
            transactions: Arc::new(TransactionCoordinator::new(
                config.transactions.clone(),
                Arc::clone(&topics),
                Arc::clone(&groups),
                Arc::clone(&producer_ids),
                clock,
            )),
            producer_ids,
            clock,
            config,
            cluster_id,
            topics,
            listeners: bound,
            groups,
            authorizer,
            api_versions: crate::protocol::apis::api_versions(),
            scram_credentials,
            client_quotas,
            capture: Arc::default(),
            faults,
        });
        {
            // The replay raises the producer id allocator above every id in
            // __transaction_state: no client may take an id before it.
            let transactions = Arc::clone(&state.transactions);
            let _ = tokio::task::spawn_blocking(move || transactions.load()).await;
        }
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        let budget = MemoryBudget::new(state.config.socket_server.queued_max_request_bytes);
        let quotas = ConnectionQuotas::new(&state.config.socket_server);
        for ((index, socket), tls) in sockets.into_iter().enumerate().zip(tls) {
            tracker.spawn(accept_loop(
                Arc::clone(&state),
                index,
                socket,
                Limits {
                    budget: Arc::clone(&budget),
                    quotas: Arc::clone(&quotas),
                    tls,
                },
                cancel.clone(),
                tracker.clone(),
            ));
        }
        // Transactions left prepared by a crash get their markers before clients return.
        state.transactions.complete_prepared().await;
        tracker.spawn(crate::coordinator::group::run_timers(
            Arc::clone(&state.groups),
            cancel.clone(),
        ));
        tracker.spawn(crate::coordinator::group::run_expiry(
            Arc::clone(&state.groups),
            cancel.clone(),
        ));
        tracker.spawn(crate::coordinator::txn::run_timers(
            Arc::clone(&state.transactions),
            cancel.clone(),
        ));
        if let Some(interval) = state.config.log_flush_interval {
            tracker.spawn(periodic(
                Arc::clone(&state),
                cancel.clone(),
                move |_| interval,
                |state| state.topics.flush_all(),
            ));
        }
        if let Some(interval) = state.config.log_flush_offset_checkpoint_interval {
            // Kafka's `kafka-recovery-point-checkpoint` task.
            tracker.spawn(periodic(
                Arc::clone(&state),
                cancel.clone(),
                move |_| interval,
                checkpoint_recovery_points,
            ));
        }
        tracker.spawn(periodic(
            Arc::clone(&state),
            cancel.clone(),
            |state| state.config.log_retention_check_interval,
            apply_retention,
        ));
        if state.config.log_cleaner_enable {
            tracker.spawn(periodic(
                Arc::clone(&state),
                cancel.clone(),
                cleaner_backoff,
                clean,
            ));
        }
        tracker.spawn(remove_deleted_logs(Arc::clone(&state), cancel.clone()));
        tracker.spawn(periodic(
            Arc::clone(&state),
            cancel.clone(),
            |state| {
                state
                    .config
                    .transactions
                    .producer_id_expiration_check_interval
            },
            remove_expired_producers,
        ));
        tracker.spawn(crate::coordinator::txn::run_expiry(
            Arc::clone(&state.transactions),
            cancel.clone(),
        ));
        for listener in &state.listeners {
            tracing::info!(
                listener = %listener.name,
                address = %listener.local_addr,
                advertised = %format!("{}:{}", listener.advertised_host, listener.advertised_port),
                cluster_id = %state.cluster_id,
                startup_ms = started.elapsed().as_secs_f64() * 1000.0,
                "broker ready"
            );
        }
        Ok(Self {
            state,
            cancel,
            tracker,
            lock: Some(lock),
            budget,
            quotas,
        })
    }

    /// The shared state (topics, config) of the running broker.
    pub fn state(&self) -> &Arc<BrokerState> {
        &self.state
    }

    /// Serves one request frame (without its 4-byte size prefix) as a connection from
    /// 127.0.0.1 on the first listener would, without a socket: decoding, request bounds,
    /// authorization and the handler all run as for a client. For fuzz targets and benches.
    ///
    /// Returns the response frame, or `None` when no response is due (Produce with acks=0).
    ///
    /// Errors: what closes a connection (`protocol::apis::handle_frame`): a malformed frame,
    /// an unsupported API or version, a response that cannot be encoded.
    pub async fn handle_frame(
        &self,
        frame: bytes::Bytes,
    ) -> Result<Option<crate::protocol::frame::ResponseFrame>, crate::error::ConnectionError> {
        let peer = SocketAddr::from(([127, 0, 0, 1], 0));
        let connection = crate::context::ConnectionContext::new(
            &self.state,
            0,
            peer,
            crate::security::KafkaPrincipal::anonymous(),
        );
        crate::protocol::apis::handle_frame(&self.state, &connection, frame).await
    }

    /// The addresses the listeners are bound to, in `listeners` order.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.state.listeners.iter().map(|l| l.local_addr).collect()
    }

    /// `host:port` of every listener as advertised, comma-separated: a client's
    /// `bootstrap.servers`.
    pub fn bootstrap_servers(&self) -> String {
        self.state
            .listeners
            .iter()
            .map(|l| format!("{}:{}", l.advertised_host, l.advertised_port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Request bytes held now against `queued.max.request.bytes`: frames whose size was read
    /// and whose response is not yet written.
    pub fn queued_request_bytes(&self) -> usize {
        self.budget.in_use()
    }

    /// Connections waiting for `queued.max.request.bytes` before reading a frame body.
    pub fn requests_waiting_for_memory(&self) -> usize {
        self.budget.waiting()
    }

    /// Client connections open now, over all listeners.
    pub fn open_connections(&self) -> usize {
        self.quotas.open()
    }

    /// Stops accepting, closes every connection, flushes and trims the logs and writes the
    /// clean-shutdown marker, so the next start needs no recovery.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        self.tracker.close();
        self.tracker.wait().await;
        let state = Arc::clone(&self.state);
        let lock = self.lock.take();
        let _ = tokio::task::spawn_blocking(move || close_logs(&state, lock)).await;
    }
}

fn close_logs(state: &BrokerState, lock: Option<Arc<LogDir>>) {
    let Some(lock) = lock else {
        return;
    };
    // Kafka's `LogManager.shutdown`: flush and close the logs, then the checkpoints (the
    // recovery points are the log end offsets by then), then the marker.
    let closed = state.topics.close_all();
    let checkpointed = state
        .topics
        .write_checkpoints()
        .and_then(|()| state.topics.write_recovery_point_checkpoint());
    if let Err(err) = &checkpointed {
        tracing::error!(%err, "cannot write the log dir checkpoints");
    }
    if closed {
        if let Err(err) = lock.write_clean_shutdown_marker() {
            tracing::error!(%err, "cannot write the clean shutdown marker");
        }
    }
    tracing::info!(log_dir = %state.config.log_dir.display(), "broker stopped");
    lock.unlock();
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.lock.is_some() {
            self.cancel.cancel();
            self.tracker.close();
            // Logs refuse appends once closed, so connections still winding down cannot write
            // past a trimmed segment.
            close_logs(&self.state, self.lock.take());
        }
    }
}

/// The time limit of a TLS handshake when `connections.max.idle.ms` sets none (Kafka's
/// idle expiry bounds handshaking connections as well as idle ones).
const TLS_HANDSHAKE_LIMIT: Duration = Duration::from_secs(60);

/// What connections share: the request memory budget and the connection quotas.
struct Limits {
    budget: Arc<MemoryBudget>,
    quotas: Arc<ConnectionQuotas>,
    /// The listener's TLS, on SSL and SASL_SSL listeners.
    tls: Option<Arc<crate::net::tls::TlsListener>>,
}

/// Accepts connections on one listener: waits for a `max.connections` slot before each
/// accept, and closes a connection from an address past `max.connections.per.ip` at once.
async fn accept_loop(
    state: Arc<BrokerState>,
    index: usize,
    socket: TcpListener,
    limits: Limits,
    cancel: CancellationToken,
    tracker: TaskTracker,
) {
    let name = state
        .listeners
        .get(index)
        .map(|l| l.name.clone())
        .unwrap_or_default();
    loop {
        let slot = tokio::select! {
            _ = cancel.cancelled() => break,
            slot = limits.quotas.wait_for_slot() => slot,
        };
        let accepted = tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = socket.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let slot = match limits.quotas.admit(peer.ip(), slot) {
                    Ok(slot) => slot,
                    Err(refused) => {
                        // Kafka logs this at info and closes the socket.
                        tracing::info!(listener = %name, %peer, reason = %refused, "rejected connection");
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let state = Arc::clone(&state);
                let budget = Arc::clone(&limits.budget);
                let cancel = cancel.clone();
                let tls = limits.tls.clone();
                tracker.spawn(async move {
                    // The handshake runs here, never in the accept loop.
                    match tls {
                        None => {
                            crate::net::connection::serve(
                                state,
                                index,
                                stream,
                                peer,
                                budget,
                                cancel,
                                crate::security::KafkaPrincipal::anonymous(),
                            )
                            .await
                        }
                        Some(tls) => {
                            let limit = state
                                .config
                                .socket_server
                                .connections_max_idle
                                .unwrap_or(TLS_HANDSHAKE_LIMIT);
                            let handshake = tokio::select! {
                                _ = cancel.cancelled() => None,
                                done = tls.handshake(stream, limit) => Some(done),
                            };
                            match handshake {
                                None => {}
                                Some(Err(reason)) => {
                                    tracing::info!(%peer, %reason, "closing connection: TLS")
                                }
                                Some(Ok((stream, principal))) => {
                                    tracing::debug!(%peer, %principal, "TLS handshake done");
                                    crate::net::connection::serve(
                                        state, index, stream, peer, budget, cancel, principal,
                                    )
                                    .await
                                }
                            }
                        }
                    }
                    drop(slot);
                });
            }
            Err(err) => {
                tracing::warn!(listener = %name, %err, "accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Runs `work` on the blocking pool, waiting `delay` (read afresh each time, so dynamic
/// configs apply) before each run, until `cancel`. The background tasks of DESIGN.md.
async fn periodic(
    state: Arc<BrokerState>,
    cancel: CancellationToken,
    delay: impl Fn(&BrokerState) -> Duration,
    work: fn(&BrokerState),
) {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep(delay(&state).max(Duration::from_millis(1))) => {
                let state = Arc::clone(&state);
                let _ = tokio::task::spawn_blocking(move || work(&state)).await;
            }
        }
    }
}

/// Writes every partition's recovery point (Kafka's `kafka-recovery-point-checkpoint` task).
fn checkpoint_recovery_points(state: &BrokerState) {
    if let Err(err) = state.topics.write_recovery_point_checkpoint() {
        tracing::error!(%err, "cannot write the recovery point checkpoint");
    }
}

/// Applies retention (Kafka's `kafka-log-retention` task), then checkpoints the log start
/// offsets.
fn apply_retention(state: &BrokerState) {
    if state.topics.apply_retention_all(state.clock.now_ms()) {
        if let Err(err) = state.topics.write_checkpoints() {
            tracing::error!(%err, "cannot write the log start offset checkpoint");
        }
    }
}

/// Cleans compacted partitions (Kafka's log cleaner thread), then checkpoints the cleaner
/// offsets.
fn clean(state: &BrokerState) {
    if !state.topics.clean_all(state.clock.now_ms()).is_empty() {
        if let Err(err) = state.topics.write_checkpoints() {
            tracing::error!(%err, "cannot write the cleaner offset checkpoint");
        }
    }
}

/// Forgets idle producer ids in every partition (Kafka's `PeriodicProducerExpirationCheck`).
fn remove_expired_producers(state: &BrokerState) {
    let removed = state.topics.remove_expired_producers_all(
        state.clock.now_ms(),
        state.config.transactions.producer_id_expiration,
    );
    if removed > 0 {
        tracing::info!(removed, "expired idle producer ids");
    }
}

/// Removes the directories of deleted partitions once `file.delete.delay.ms` has passed
/// (Kafka's `kafka-delete-logs` task): runs when the next one is due, or a delay after the
/// last pass when none waits, until `cancel`.
async fn remove_deleted_logs(state: Arc<BrokerState>, cancel: CancellationToken) {
    loop {
        let pass = Arc::clone(&state);
        let next = tokio::task::spawn_blocking(move || {
            pass.topics.remove_deleted_logs(pass.clock.now_ms())
        })
        .await
        .ok()
        .flatten();
        let wait_ms = match next {
            Some(at) => at.saturating_sub(state.clock.now_ms()),
            // Nothing waits: look again a delay later (not in a busy loop for a 0 delay).
            None => state.topics.file_delete_delay_ms().max(100),
        };
        let wait = Duration::from_millis(u64::try_from(wait_ms).unwrap_or(0).max(1));
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// `log.cleaner.backoff.ms`, a dynamic broker config (KIP-226). Default 15 s.
fn cleaner_backoff(state: &BrokerState) -> Duration {
    let ms = state
        .topics
        .broker_configs()
        .get("log.cleaner.backoff.ms")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(15_000);
    Duration::from_millis(ms)
}
