//! Josefine's broker: a single-node server of the Apache Kafka wire protocol.
//!
//! The flow: [`server::Server::start`] binds the listeners; each connection
//! ([`net::connection`]) reads length-prefixed frames and hands them to the API table
//! ([`protocol::apis`]), which decodes the header, checks the version and the request bounds,
//! and calls the API's handler in [`api`] with a [`context::RequestContext`]. Handlers reach
//! topics and partition logs through [`metadata::topics::TopicRegistry`], groups and
//! transactions through [`coordinator`]; storage errors become Kafka error codes in [`error`].

pub mod api;
pub mod clock;
pub mod config;
pub mod context;
pub mod coordinator;
pub mod error;
pub mod metadata;
pub mod net;
pub mod protocol;
pub mod security;
pub mod server;
pub mod state;

pub use config::BrokerConfig;
pub use server::{Server, StartError};
