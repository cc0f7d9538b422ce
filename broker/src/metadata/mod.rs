//! Metadata: topics and their partitions ([`topics`]), with their configs and the broker's
//! dynamic configs as the registry persists them. The config definitions live in
//! [`crate::config::topic`].

pub(crate) mod topics;
