//! What a test sees of and does to a running broker from the inside, through the embedding
//! API: request capture ([`capture`]) and fault injection ([`faults`]).
//!
//! Both are off until a test turns them on, and cost three atomic loads per request while
//! off.
//! The protocol layer (`protocol::apis`) calls into this module; nothing here imports the
//! protocol layer, so decoded requests are kept as `Any` and read back by type.

pub mod capture;
pub mod faults;
