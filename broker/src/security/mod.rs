//! Security: who a client is ([`KafkaPrincipal`]) and what it may do ([`Operation`] on a
//! [`ResourceType`]).
//!
//! PLAINTEXT connections are `User:ANONYMOUS`. Without `authorizer.class.name` every operation
//! is allowed, as in Apache Kafka; with it, the ACLs of [`acl`] decide. The API table declares the
//! cluster-level operation of each API; handlers ask per resource.
//!
//! References: Kafka documentation section 7.5 "Authorization and ACLs"; KIP-11 (authorization
//! interface); KIP-430 (authorized operations).

use std::fmt;

pub(crate) mod acl;
pub(crate) mod keystore;
pub(crate) mod quota;
pub(crate) mod ssl_principal;
pub(crate) mod throttle;

pub(crate) use acl::Authorizer;

/// The name of the cluster resource in ACLs (`Resource.CLUSTER_NAME`).
pub(crate) const CLUSTER_NAME: &str = "kafka-cluster";

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(i8)]
pub enum Operation {
    /// ALL (2): every operation, in ACLs only.
    All = 2,
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
    /// CREATE_TOKENS (13).
    CreateTokens = 13,
    /// DESCRIBE_TOKENS (14).
    DescribeTokens = 14,
}

/// A resource type, with Kafka's wire codes (`ResourceType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
    /// DELEGATION_TOKEN (6).
    DelegationToken = 6,
    /// USER (7).
    User = 7,
}

impl Operation {
    /// The operation of wire code `code`; `None` for UNKNOWN (0), ANY (1) and codes Kafka
    /// does not define.
    pub fn from_code(code: i8) -> Option<Self> {
        Some(match code {
            2 => Self::All,
            3 => Self::Read,
            4 => Self::Write,
            5 => Self::Create,
            6 => Self::Delete,
            7 => Self::Alter,
            8 => Self::Describe,
            9 => Self::ClusterAction,
            10 => Self::DescribeConfigs,
            11 => Self::AlterConfigs,
            12 => Self::IdempotentWrite,
            13 => Self::CreateTokens,
            14 => Self::DescribeTokens,
            _ => return None,
        })
    }

    /// Kafka's name, e.g. `DESCRIBE_CONFIGS`.
    pub fn name(self) -> &'static str {
        match self {
            Self::All => "ALL",
            Self::Read => "READ",
            Self::Write => "WRITE",
            Self::Create => "CREATE",
            Self::Delete => "DELETE",
            Self::Alter => "ALTER",
            Self::Describe => "DESCRIBE",
            Self::ClusterAction => "CLUSTER_ACTION",
            Self::DescribeConfigs => "DESCRIBE_CONFIGS",
            Self::AlterConfigs => "ALTER_CONFIGS",
            Self::IdempotentWrite => "IDEMPOTENT_WRITE",
            Self::CreateTokens => "CREATE_TOKENS",
            Self::DescribeTokens => "DESCRIBE_TOKENS",
        }
    }
}

impl ResourceType {
    /// The resource type of wire code `code`; `None` for UNKNOWN (0), ANY (1) and codes
    /// Kafka does not define.
    pub fn from_code(code: i8) -> Option<Self> {
        Some(match code {
            2 => Self::Topic,
            3 => Self::Group,
            4 => Self::Cluster,
            5 => Self::TransactionalId,
            6 => Self::DelegationToken,
            7 => Self::User,
            _ => return None,
        })
    }

    /// Kafka's name, e.g. `TRANSACTIONAL_ID`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Topic => "TOPIC",
            Self::Group => "GROUP",
            Self::Cluster => "CLUSTER",
            Self::TransactionalId => "TRANSACTIONAL_ID",
            Self::DelegationToken => "DELEGATION_TOKEN",
            Self::User => "USER",
        }
    }

    /// The operations an ACL on this resource type can grant (`AclEntry.supportedOperations`),
    /// the ones KIP-430's authorized-operations bit sets report.
    pub fn supported_operations(self) -> &'static [Operation] {
        use Operation::*;
        match self {
            Self::Topic => &[
                Read,
                Write,
                Create,
                Describe,
                Delete,
                Alter,
                DescribeConfigs,
                AlterConfigs,
            ],
            Self::Group => &[Read, Describe, Delete],
            Self::Cluster => &[
                Create,
                ClusterAction,
                DescribeConfigs,
                AlterConfigs,
                IdempotentWrite,
                Alter,
                Describe,
            ],
            Self::TransactionalId => &[Describe, Write],
            Self::DelegationToken => &[Describe],
            Self::User => &[CreateTokens, DescribeTokens],
        }
    }
}

pub(crate) mod sasl;
pub(crate) mod scram;
