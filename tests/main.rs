//! End-to-end tests: real Kafka clients (librdkafka through the `rdkafka` crate, kcat, Python's
//! confluent-kafka) against the embedded broker and the `josefine` binary.

// Helpers shared by the test modules are `pub` within this one binary.
#![allow(unreachable_pub)]

#[path = "support/broker_process.rs"]
mod broker_process;
mod common;
#[path = "support/watchdog.rs"]
mod watchdog;

mod acls;
mod admin;
mod bad_input;
#[cfg(feature = "connect")]
mod bridge_http_ingest;
#[cfg(feature = "connect")]
mod bridge_http_sink;
#[cfg(feature = "connect")]
mod bridge_mirror;
#[cfg(feature = "connect")]
mod bridge_mqtt;
#[cfg(feature = "connect")]
mod bridge_websocket;
mod capture;
#[cfg(feature = "connect")]
mod connect_quickstart;
#[cfg(feature = "connect")]
mod connect_rest;
#[cfg(feature = "connect")]
mod connect_runtime;
mod crash;
mod faults;
mod groups;
mod kcat;
mod lifecycle;
mod limits;
mod log_management;
mod produce_validation;
mod python;
mod quotas;
mod readme;
mod roundtrip;
mod sasl;
mod security;
mod snapshots;
pub(crate) mod tls;
mod transactions;
