//! The network layer: connections, generic over the byte stream so that a TLS stream drops in.

pub mod connection;
