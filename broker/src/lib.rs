//! Josefine's broker: a single-node server of the Apache Kafka wire protocol.
//!
//! The flow: [`server::Server::start`] binds the listeners; each connection
//! ([`connection`]) reads length-prefixed frames and hands them to [`dispatch`], which decodes
//! the header, routes the body by API key to its handler in [`api`], and frames the response.
//! Handlers reach topics and partition logs through [`topics::TopicRegistry`]; storage errors
//! become Kafka error codes in [`error`].

pub mod api;
pub mod config;
pub mod connection;
pub mod dispatch;
pub mod error;
pub mod fetch_session;
pub mod frame;
pub mod group;
pub mod request_bounds;
pub mod server;
pub mod topic_config;
pub mod topics;
pub mod txn;

pub use config::BrokerConfig;
pub use server::{Server, StartError};
