//! Security: who a client is ([`KafkaPrincipal`]) and what it may do ([`Operation`] on a
//! [`ResourceType`]).
//!
//! Until listeners authenticate, every connection is `User:ANONYMOUS` and, as in Apache Kafka
//! without `authorizer.class.name`, every operation is allowed. The API table declares the
//! cluster-level operation of each API; handlers ask per resource.
//!
//! References: Kafka documentation section 7.5 "Authorization and ACLs"; KIP-11 (authorization
//! interface); KIP-430 (authorized operations).

use std::fmt;

pub(crate) mod keystore;
pub(crate) mod quota;
pub(crate) mod ssl_principal;
pub(crate) mod throttle;

/// A principal as Kafka names it: a type and a name, shown `User:alice`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KafkaPrincipal {
    /// The principal type: `User` for every built-in authentication.
    pub principal_type: String,
    /// The name: a SASL user name, a certificate's distinguished name, or `ANONYMOUS`.
    pub name: String,
}

impl KafkaPrincipal {
    /// Kafka's principal of unauthenticated connections, `User:ANONYMOUS`.
    pub fn anonymous() -> Self {
        Self {
            principal_type: "User".into(),
            name: "ANONYMOUS".into(),
        }
    }
}

impl fmt::Display for KafkaPrincipal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.principal_type, self.name)
    }
}

/// An ACL operation, with Kafka's wire codes (`AclOperation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i8)]
pub enum Operation {
    /// READ (3).
    Read = 3,
    /// WRITE (4).
    Write = 4,
    /// CREATE (5).
    Create = 5,
    /// DELETE (6).
    Delete = 6,
    /// ALTER (7).
    Alter = 7,
    /// DESCRIBE (8).
    Describe = 8,
    /// CLUSTER_ACTION (9).
    ClusterAction = 9,
    /// DESCRIBE_CONFIGS (10).
    DescribeConfigs = 10,
    /// ALTER_CONFIGS (11).
    AlterConfigs = 11,
    /// IDEMPOTENT_WRITE (12).
    IdempotentWrite = 12,
}

/// A resource type, with Kafka's wire codes (`ResourceType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i8)]
pub enum ResourceType {
    /// TOPIC (2).
    Topic = 2,
    /// GROUP (3).
    Group = 3,
    /// CLUSTER (4).
    Cluster = 4,
    /// TRANSACTIONAL_ID (5).
    TransactionalId = 5,
}

/// Decides whether a principal may perform an operation. With no authorizer configured,
/// Apache Kafka allows everything; so does this one until ACLs land.
#[derive(Debug, Default)]
pub struct Authorizer {}

impl Authorizer {
    /// Whether `principal` may perform `operation` on the resource `(resource_type, name)`.
    pub fn authorize(
        &self,
        _principal: &KafkaPrincipal,
        _operation: Operation,
        _resource_type: ResourceType,
        _name: &str,
    ) -> bool {
        true
    }
}

pub(crate) mod sasl;
pub(crate) mod scram;
