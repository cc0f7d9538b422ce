//! The network layer: connections, generic over the byte stream so that a TLS stream drops in.

pub(crate) mod connection;
