//! The standalone herder: the connectors of this worker, their configurations, target
//! states and tasks; what the REST API calls (CONNECT.md a, b.7).
