//! Coordinators: the group coordinator ([`group`]), the transaction coordinator ([`txn`]) and
//! the fetch session cache (`fetch_session`). Each owns its state and takes only what it
//! uses (the topic registry, producer ids, the clock), never the whole broker.

pub(crate) mod fetch_session;
pub mod group;
pub(crate) mod producer_ids;
pub mod txn;
pub(crate) mod writer;
