//! Josefine's Kafka Connect runtime: a standalone worker with Kafka Connect 3.7's REST API,
//! converters, transforms and predicates, error handling with a dead letter queue, and the
//! FileStream connectors.
//!
//! The flow of one record:
//! - source: [`connector::SourceTask::poll`] → transforms → converters → Kafka;
//! - sink: Kafka → converters → transforms → [`connector::SinkTask::put`].
//!
//! The runtime is a Kafka client like any other (the confluent-kafka crate behind
//! [`runtime::client`]), so it runs against Josefine or any Apache Kafka 4.0+ cluster.
//! Specification: `CONNECT.md` sections 0 and a-f.

pub mod config_def;
pub mod config_provider;
pub mod connector;
pub mod connector_config;
pub mod connectors;
pub mod converters;
pub mod data;
pub mod herder;
pub mod plugins;
pub mod properties;
pub mod render;
pub mod rest;
pub mod runtime;
pub mod standalone;
pub mod status;
pub mod transforms;
pub mod values;
pub mod worker_config;
