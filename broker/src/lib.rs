//! Josefine's broker: a single-node server of the Apache Kafka wire protocol.
//!
//! The flow: [`server::Server::start`] binds the listeners; each connection
//! (`net::connection`) reads length-prefixed frames and hands them to the API table
//! ([`protocol::apis`]), which decodes the header, checks the version and the request bounds,
//! and calls the API's handler in `api` with a `context::RequestContext`. Handlers reach
//! topics and partition logs through `metadata::topics::TopicRegistry`, groups and
//! transactions through [`coordinator`]; storage errors become Kafka error codes in [`error`].

// What other crates use is public: the configuration, the server, the protocol layer (for
// the benches and fuzz targets), the stored record formats of the coordinators (fuzz targets)
// and the errors. Everything else is the broker's own.
pub(crate) mod api;
pub(crate) mod clock;
pub mod config;
pub(crate) mod context;
pub mod coordinator;
pub mod error;
pub mod inspect;
pub(crate) mod metadata;
pub(crate) mod net;
pub mod protocol;
pub(crate) mod security;
pub mod server;
pub mod snapshot;
pub(crate) mod state;

pub use config::BrokerConfig;
pub use metadata::topics::{TopicError, TopicNameError};
pub use server::{Server, StartError};
