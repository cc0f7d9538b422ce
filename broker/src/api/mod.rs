//! One module per Kafka API, named after it in snake case. A handler turns a decoded request
//! into its response; a failure for one partition or topic is an error code in the response.

pub(crate) mod add_offsets_to_txn;
pub(crate) mod add_partitions_to_txn;
pub(crate) mod alter_client_quotas;
pub(crate) mod alter_configs;
pub(crate) mod alter_user_scram_credentials;
pub(crate) mod api_versions;
pub(crate) mod consumer_group_describe;
pub(crate) mod consumer_group_heartbeat;
pub(crate) mod create_acls;
pub(crate) mod create_partitions;
pub(crate) mod create_topics;
pub(crate) mod delete_acls;
pub(crate) mod delete_groups;
pub(crate) mod delete_records;
pub(crate) mod delete_topics;
pub(crate) mod describe_acls;
pub(crate) mod describe_client_quotas;
pub(crate) mod describe_cluster;
pub(crate) mod describe_configs;
pub(crate) mod describe_groups;
pub(crate) mod describe_producers;
pub(crate) mod describe_transactions;
pub(crate) mod describe_user_scram_credentials;
pub(crate) mod end_txn;
pub(crate) mod fetch;
pub(crate) mod fetch_quota;
pub(crate) mod find_coordinator;
pub(crate) mod heartbeat;
pub(crate) mod incremental_alter_configs;
pub(crate) mod init_producer_id;
pub(crate) mod join_group;
pub(crate) mod leave_group;
pub(crate) mod list_groups;
pub(crate) mod list_offsets;
pub(crate) mod list_transactions;
pub(crate) mod metadata;
pub(crate) mod offset_commit;
pub(crate) mod offset_delete;
pub(crate) mod offset_fetch;
pub(crate) mod offset_for_leader_epoch;
pub(crate) mod produce;
pub(crate) mod sasl_authenticate;
pub(crate) mod sasl_handshake;
pub(crate) mod sync_group;
pub(crate) mod txn_offset_commit;

use kafka_protocol::protocol::StrBytes;

/// A response encoded by an encoder of our own that splices byte fields in without copying
/// them: Fetch's record batches go from the segment mapping to the socket as they are (see
/// `protocol::fetch_response`).
#[derive(Debug)]
pub(crate) struct ZeroCopy<T>(pub T);

/// A response that is sent only when the client waits for one: Produce with acks=0 gets none.
#[derive(Debug)]
pub(crate) enum MaybeResponse<T> {
    /// Send this response.
    Send(T),
    /// Send nothing.
    Silent,
}

/// Runs `work`, which blocks on the disk (file creation, fsync, directory removal), on the
/// blocking pool, so that other connections' requests go on meanwhile (DESIGN.md,
/// "Concurrency").
///
/// Errors: `TaskFailed` when `work` panicked (a bug: the connection closes).
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, crate::error::ConnectionError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| crate::error::ConnectionError::TaskFailed(e.to_string()))
}

/// A `StrBytes` from any string.
pub(crate) fn str_bytes(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

/// The value Kafka sends when authorized operations were not requested.
pub(crate) const OPERATIONS_NOT_REQUESTED: i32 = i32::MIN;

/// Names that appear more than once: Kafka answers each of their entries with INVALID_REQUEST.
pub(crate) fn duplicate_names<'a>(
    names: impl Iterator<Item = &'a str>,
) -> std::collections::HashSet<String> {
    let mut seen = std::collections::HashSet::new();
    names
        .filter(|name| !seen.insert(*name))
        .map(str::to_string)
        .collect()
}
