//! The REST API (Kafka Connect 3.7), on axum (CONNECT.md a).
