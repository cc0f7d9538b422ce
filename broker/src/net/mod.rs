//! The network layer: connections, generic over the byte stream so that a TLS stream drops in,
//! and the limits they share (connection quotas, the request memory budget).

pub(crate) mod connection;
pub(crate) mod limits;
pub(crate) mod sasl;
pub(crate) mod tls;
