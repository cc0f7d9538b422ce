//! Metadata: topics and their partitions ([`topics`]), topic configs and the broker's dynamic
//! configs ([`topic_config`]).

pub mod topic_config;
pub mod topics;
