//! The broker's shared state: what request handlers reach through
//! [`crate::context::RequestContext`].

use std::net::SocketAddr;
use std::sync::Arc;

use kafka_protocol::messages::api_versions_response::ApiVersion;

use crate::clock::Clock;
use crate::config::{BrokerConfig, SecurityProtocol};
use crate::coordinator::fetch_session::FetchSessionCache;
use crate::coordinator::group::GroupCoordinator;
use crate::coordinator::producer_ids::ProducerIdAllocator;
use crate::coordinator::txn::TransactionCoordinator;
use crate::inspect::capture::RequestCapture;
use crate::inspect::faults::FaultInjector;
use crate::metadata::topics::TopicRegistry;
use crate::security::quota::ClientQuotas;
use crate::security::scram::ScramCredentialStore;
use crate::security::Authorizer;

/// A bound listener and what Metadata advertises for it.
#[derive(Debug, Clone)]
pub struct BoundListener {
    /// Listener name.
    pub name: String,
    /// The local address it is bound to.
    pub local_addr: SocketAddr,
    /// Its security protocol (`listener.security.protocol.map`).
    pub security_protocol: SecurityProtocol,
    /// Host advertised to clients.
    pub advertised_host: String,
    /// Port advertised to clients.
    pub advertised_port: i32,
}

/// Everything the request handlers share.
#[derive(Debug)]
pub struct BrokerState {
    /// The checked configuration.
    pub config: BrokerConfig,
    /// The cluster id from `meta.properties`.
    pub cluster_id: String,
    /// Topics and partitions; shared with the coordinators.
    pub topics: Arc<TopicRegistry>,
    /// Incremental fetch sessions (KIP-227).
    pub fetch_sessions: FetchSessionCache,
    /// Producer ids for InitProducerId; shared with the transaction coordinator.
    pub producer_ids: Arc<ProducerIdAllocator>,
    /// The listeners, as bound.
    pub listeners: Vec<BoundListener>,
    /// Consumer groups and their committed offsets; shared with the transaction coordinator
    /// and the group timer task.
    pub groups: Arc<GroupCoordinator>,
    /// Transactional ids and their transactions; shared with the transaction timer task.
    pub transactions: Arc<TransactionCoordinator>,
    /// Where wall-clock time and deadlines come from.
    pub clock: Clock,
    /// Decides what each principal may do.
    pub authorizer: Authorizer,
    /// The APIs served and their version ranges, as ApiVersions advertises them: the rows of
    /// the API table (`protocol::apis::APIS`).
    pub api_versions: Vec<ApiVersion>,
    /// SCRAM credentials (`josefine-scram-credentials.json`), for SCRAM authentication and
    /// the credential APIs.
    pub(crate) scram_credentials: Arc<ScramCredentialStore>,
    /// Client quotas (AlterClientQuotas) and the rates that throttle clients past them.
    pub client_quotas: ClientQuotas,
    /// Request capture for tests (off until started): `protocol::apis` records each
    /// request here while it is on.
    pub capture: Arc<RequestCapture>,
    /// Fault rules for tests (none until a test adds one): `protocol::apis` asks them
    /// before and after each handler.
    pub faults: Arc<FaultInjector>,
}
