//! What a handler knows of the request it serves: who sent it, on which listener, from where,
//! with which client, at which API version, and the broker's state.
//!
//! A [`ConnectionContext`] is made once per connection and owned by its loop, which sets the
//! principal when SASL authentication succeeds (`net::sasl`), between requests; a
//! [`RequestContext`] is made once per request, borrowing it.
//!
//! References: Kafka's `RequestContext`; KIP-511 (client software name and version).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_protocol::messages::ApiKey;

use crate::config::SecurityProtocol;
use crate::security::{KafkaPrincipal, Operation, ResourceType};
use crate::state::{BoundListener, BrokerState};

/// The client software a connection announced in ApiVersions v3+ (KIP-511).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSoftware {
    /// `client_software_name`, e.g. `librdkafka`.
    pub name: String,
    /// `client_software_version`, e.g. `2.3.0`.
    pub version: String,
}

/// What stays the same for every request of one connection.
#[derive(Debug)]
pub struct ConnectionContext {
    /// The authenticated principal; `User:ANONYMOUS` on PLAINTEXT listeners.
    pub principal: KafkaPrincipal,
    /// Index of the listener in [`BrokerState::listeners`].
    pub listener: usize,
    /// The listener's name, e.g. `PLAINTEXT`.
    pub listener_name: String,
    /// The listener's security protocol.
    pub security_protocol: SecurityProtocol,
    /// The client's address.
    pub peer: SocketAddr,
    client_software: Mutex<Option<ClientSoftware>>,
    /// How long the connection stays muted after its current response, in ms (quotas).
    throttle_ms: AtomicU64,
    /// Set when a fault dropped a response: the connection answers nothing more.
    silenced: std::sync::atomic::AtomicBool,
}

impl ConnectionContext {
    /// A connection from `peer` on listener `listener` of `state`, as `principal`.
    pub fn new(
        state: &BrokerState,
        listener: usize,
        peer: SocketAddr,
        principal: KafkaPrincipal,
    ) -> Self {
        let bound = state.listeners.get(listener);
        Self {
            principal,
            listener,
            listener_name: bound.map(|l| l.name.clone()).unwrap_or_default(),
            security_protocol: bound.map_or(SecurityProtocol::Plaintext, |l| l.security_protocol),
            peer,
            client_software: Mutex::new(None),
            throttle_ms: AtomicU64::new(0),
            silenced: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Marks the connection silent (an injected dropped response): the connection serves no
    /// further request, as if the broker had died mid-request, so that no later response
    /// arrives out of order for a client that matches responses to requests in order.
    pub fn silence(&self) {
        self.silenced.store(true, Ordering::Release);
    }

    /// Whether [`ConnectionContext::silence`] was called.
    pub fn is_silenced(&self) -> bool {
        self.silenced.load(Ordering::Acquire)
    }

    /// The client software the connection announced, if any (KIP-511).
    pub fn client_software(&self) -> Option<ClientSoftware> {
        self.client_software
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Mutes the connection for `throttle` once the current response is written: no further
    /// request is read until it passes (Kafka's channel throttling, KIP-219). Several calls
    /// for one request keep the longest.
    pub fn throttle(&self, throttle: Duration) {
        let ms = u64::try_from(throttle.as_millis()).unwrap_or(u64::MAX);
        self.throttle_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// The mute set by [`ConnectionContext::throttle`] for the response just written, reset.
    pub fn take_throttle(&self) -> Duration {
        Duration::from_millis(self.throttle_ms.swap(0, Ordering::Relaxed))
    }

    /// Records the client software of an ApiVersions v3+ request.
    pub fn set_client_software(&self, software: ClientSoftware) {
        *self
            .client_software
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(software);
    }
}

/// One request's context, handed to every handler.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestContext<'a> {
    /// The broker's shared state: topics, coordinators, config. An `Arc`, so that a handler
    /// can move work that blocks (file creation, fsync) to the blocking pool.
    pub state: &'a Arc<BrokerState>,
    /// The connection the request came in on.
    pub connection: &'a ConnectionContext,
    /// The API.
    pub api_key: ApiKey,
    /// The request's version: handlers answer at the same version.
    pub api_version: i16,
    /// The header's correlation id, echoed in the response.
    pub correlation_id: i32,
    /// The header's client id; empty when the client sent none.
    pub client_id: &'a str,
}

impl RequestContext<'_> {
    /// The principal the request runs as.
    pub(crate) fn principal(&self) -> &KafkaPrincipal {
        &self.connection.principal
    }

    /// The listener the request came in on, as bound and advertised.
    pub(crate) fn listener(&self) -> Option<&BoundListener> {
        self.state.listeners.get(self.connection.listener)
    }

    /// The client's address.
    pub(crate) fn peer(&self) -> SocketAddr {
        self.connection.peer
    }

    /// The client's host as Kafka reports it in group descriptions: `/` and the address.
    pub(crate) fn client_host(&self) -> String {
        format!("/{}", self.peer().ip())
    }

    /// Whether the request's principal, connecting from the peer's address, may perform
    /// `operation` on the resource `(resource_type, name)` (Kafka's `AuthHelper.authorize`).
    /// Handlers ask per resource and answer a refusal with the resource's
    /// `*_AUTHORIZATION_FAILED` code.
    pub(crate) fn authorize(
        &self,
        operation: Operation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        self.state.authorizer.authorize(
            self.principal(),
            self.connection.peer.ip(),
            operation,
            resource_type,
            name,
        )
    }

    /// Whether the request's principal may perform `operation` on some resource of
    /// `resource_type` (Kafka's `Authorizer.authorizeByResourceType`).
    pub(crate) fn authorize_any(&self, operation: Operation, resource_type: ResourceType) -> bool {
        self.state.authorizer.authorize_by_resource_type(
            self.principal(),
            self.connection.peer.ip(),
            operation,
            resource_type,
        )
    }

    /// KIP-430's bit set of the operations the request's principal may perform on the
    /// resource (Kafka's `AuthHelper.authorizedOperations`).
    pub(crate) fn authorized_operations(&self, resource_type: ResourceType, name: &str) -> i32 {
        self.state.authorizer.authorized_operations(
            self.principal(),
            self.connection.peer.ip(),
            resource_type,
            name,
        )
    }
}
