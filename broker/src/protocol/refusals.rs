//! The responses of requests whose cluster-level authorization failed
//! (CLUSTER_AUTHORIZATION_FAILED): Kafka's `AbstractRequest.getErrorResponse` of every API
//! whose row in the table is `cluster(..)`. Responses that answer each element of the request
//! (CreateAcls, DeleteAcls, AlterUserScramCredentials, AlterClientQuotas) answer every element
//! with the error, as Kafka does.
//!
//! References: Kafka's `DescribeAclsRequest`, `CreateAclsRequest`, `DeleteAclsRequest`
//! (KIP-140), `DescribeUserScramCredentialsRequest`, `AlterUserScramCredentialsRequest`
//! (KIP-554), `DescribeClientQuotasRequest`, `AlterClientQuotasRequest` (KIP-546).
//!
//! [`ErrorResponse`] now covers every API of the table (`protocol::apis`), not only the
//! cluster-level ones: fault injection (`inspect::faults`, tests that make the broker answer a
//! request with an error code) answers any request with it. Each impl follows the
//! `getErrorResponse` of Kafka 3.7's request class: every topic, partition, group, resource,
//! transaction or coordinator key the request names gets the error, offsets, timestamps and
//! epochs are -1 where Kafka uses -1, and the top-level error code (and message, where Kafka
//! sets one) is set where the response has one.
//!
//! The request version is not known here; the response must still encode at the version the
//! request was decoded at. kafka-protocol refuses to encode some fields with a non-default
//! value at a version that lacks them, so where the shape of a response depends on the
//! version, the shape is read from the request, as Kafka reads the version: OffsetFetch names
//! its groups from v8 on, FindCoordinator its keys from v4 on, AddPartitionsToTxn its
//! transactions from v4 on, DeleteTopics its topics (by name or id) from v6 on. Top-level error
//! codes and topic ids that only some versions carry, and that kafka-protocol leaves out at the
//! others, are set whatever the version (not FindCoordinator's, refused from v4 on, nor
//! Metadata's, which only v13, beyond the served range, has).
//!
//! Departures from Kafka 3.7:
//! - Fetch: refused partitions carry an empty record set, not a null one (librdkafka fails to
//!   parse a partition whose record set size is -1), and are listed at every version, v13+
//!   included (by topic id), where Kafka sends only the top-level error code: librdkafka
//!   applies that code only to the partitions the response lists.
//! - JoinGroup: the protocol name is empty at every version (Kafka sends null from v7 on): a
//!   v6 and a v7 request cannot be told apart, and v0-6 have no null.
//! - OffsetFetch before v8: the top-level error code and each partition the request names (v1
//!   has no top-level error code, and a v1 and a v2-7 request cannot be told apart; Kafka lists
//!   the partitions at v0-1 only).
//! - AddPartitionsToTxn v4+: each transaction of the request is answered with the error too,
//!   besides the top-level error code (Kafka sets only the latter).
//! - Produce with acks=0: Kafka sends no answer; the response built here must not be sent.

use std::collections::BTreeSet;

use bytes::Bytes;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_client_quotas_response::{EntityData, EntryData};
use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Request, StrBytes};
use uuid::Uuid;

use crate::api::{create_acls, delete_acls};

/// A request that the broker can refuse as a whole: a cluster-level authorization failure
/// (its row is `cluster(..)`) or an injected fault.
pub trait ErrorResponse: Request {
    /// The response refusing this request with `error`: every error code of the response,
    /// and every element the request names, set to `error`.
    fn error_response(&self, error: ResponseError) -> Self::Response;
}

fn message(error: ResponseError) -> Option<StrBytes> {
    Some(StrBytes::from_string(error.to_string()))
}

impl ErrorResponse for DescribeAclsRequest {
    fn error_response(&self, error: ResponseError) -> DescribeAclsResponse {
        DescribeAclsResponse::default()
            .with_error_code(error.code())
            .with_error_message(None)
    }
}

impl ErrorResponse for CreateAclsRequest {
    fn error_response(&self, error: ResponseError) -> CreateAclsResponse {
        create_acls::failed(self.creations.len(), error, None)
    }
}

impl ErrorResponse for DeleteAclsRequest {
    fn error_response(&self, error: ResponseError) -> DeleteAclsResponse {
        delete_acls::failed(self.filters.len(), error, None)
    }
}

impl ErrorResponse for DescribeUserScramCredentialsRequest {
    fn error_response(&self, error: ResponseError) -> DescribeUserScramCredentialsResponse {
        DescribeUserScramCredentialsResponse::default().with_error_code(error.code())
    }
}

impl ErrorResponse for AlterUserScramCredentialsRequest {
    /// One result per user named by a deletion or an upsertion, each user once.
    fn error_response(&self, error: ResponseError) -> AlterUserScramCredentialsResponse {
        let users: BTreeSet<&StrBytes> = self
            .deletions
            .iter()
            .map(|d| &d.name)
            .chain(self.upsertions.iter().map(|u| &u.name))
            .collect();
        AlterUserScramCredentialsResponse::default().with_results(
            users
                .into_iter()
                .map(|user| {
                    AlterUserScramCredentialsResult::default()
                        .with_user(user.clone())
                        .with_error_code(error.code())
                        .with_error_message(message(error))
                })
                .collect(),
        )
    }
}

impl ErrorResponse for DescribeClientQuotasRequest {
    fn error_response(&self, error: ResponseError) -> DescribeClientQuotasResponse {
        DescribeClientQuotasResponse::default()
            .with_error_code(error.code())
            .with_error_message(message(error))
    }
}

impl ErrorResponse for AlterClientQuotasRequest {
    /// One entry per entry of the request, with its entity.
    fn error_response(&self, error: ResponseError) -> AlterClientQuotasResponse {
        AlterClientQuotasResponse::default().with_entries(
            self.entries
                .iter()
                .map(|entry| {
                    EntryData::default()
                        .with_entity(
                            entry
                                .entity
                                .iter()
                                .map(|entity| {
                                    EntityData::default()
                                        .with_entity_type(entity.entity_type.clone())
                                        .with_entity_name(entity.entity_name.clone())
                                })
                                .collect(),
                        )
                        .with_error_code(error.code())
                        .with_error_message(message(error))
                })
                .collect(),
        )
    }
}

impl ErrorResponse for ProduceRequest {
    /// Every partition with base offset -1, as Kafka answers. Kafka sends no answer at all to
    /// a Produce with acks=0: the caller must not send this one then.
    fn error_response(&self, error: ResponseError) -> ProduceResponse {
        ProduceResponse::default().with_responses(
            self.topic_data
                .iter()
                .map(|topic| {
                    produce_response::TopicProduceResponse::default()
                        .with_name(topic.name.clone())
                        .with_topic_id(topic.topic_id)
                        .with_partition_responses(
                            topic
                                .partition_data
                                .iter()
                                .map(|partition| {
                                    produce_response::PartitionProduceResponse::default()
                                        .with_index(partition.index)
                                        .with_error_code(error.code())
                                        .with_base_offset(-1)
                                        .with_log_append_time_ms(-1)
                                        .with_log_start_offset(-1)
                                        .with_error_message(message(error))
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
    }
}

impl ErrorResponse for FetchRequest {
    /// The top-level error code, the session id of the request, and every partition the
    /// request names, by topic name and id, with high watermark, last stable offset and log
    /// start offset -1 and no records (an empty record set: see the module doc).
    fn error_response(&self, error: ResponseError) -> FetchResponse {
        FetchResponse::default()
            .with_error_code(error.code())
            .with_session_id(self.session_id)
            .with_responses(
                self.topics
                    .iter()
                    .map(|topic| {
                        fetch_response::FetchableTopicResponse::default()
                            .with_topic(topic.topic.clone())
                            .with_topic_id(topic.topic_id)
                            .with_partitions(
                                topic
                                    .partitions
                                    .iter()
                                    .map(|partition| {
                                        fetch_response::PartitionData::default()
                                            .with_partition_index(partition.partition)
                                            .with_error_code(error.code())
                                            .with_high_watermark(-1)
                                            .with_last_stable_offset(-1)
                                            .with_log_start_offset(-1)
                                            .with_records(Some(Bytes::new()))
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            )
    }
}

impl ErrorResponse for ListOffsetsRequest {
    /// Every partition with offset and timestamp -1.
    fn error_response(&self, error: ResponseError) -> ListOffsetsResponse {
        ListOffsetsResponse::default().with_topics(
            self.topics
                .iter()
                .map(|topic| {
                    list_offsets_response::ListOffsetsTopicResponse::default()
                        .with_name(topic.name.clone())
                        .with_partitions(
                            topic
                                .partitions
                                .iter()
                                .map(|partition| {
                                    list_offsets_response::ListOffsetsPartitionResponse::default()
                                        .with_partition_index(partition.partition_index)
                                        .with_error_code(error.code())
                                        .with_offset(-1)
                                        .with_timestamp(-1)
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
    }
}

impl ErrorResponse for MetadataRequest {
    /// Every topic the request names (none when it asks for all), with no partitions; no
    /// brokers, as Kafka answers.
    fn error_response(&self, error: ResponseError) -> MetadataResponse {
        MetadataResponse::default().with_topics(
            self.topics
                .iter()
                .flatten()
                .map(|topic| {
                    metadata_response::MetadataResponseTopic::default()
                        .with_name(Some(topic.name.clone().unwrap_or_default()))
                        .with_topic_id(topic.topic_id)
                        .with_error_code(error.code())
                        .with_is_internal(false)
                })
                .collect(),
        )
    }
}

impl ErrorResponse for OffsetCommitRequest {
    fn error_response(&self, error: ResponseError) -> OffsetCommitResponse {
        OffsetCommitResponse::default().with_topics(
            self.topics
                .iter()
                .map(|topic| {
                    offset_commit_response::OffsetCommitResponseTopic::default()
                        .with_name(topic.name.clone())
                        .with_partitions(
                            topic
                                .partitions
                                .iter()
                                .map(|partition| {
                                    offset_commit_response::OffsetCommitResponsePartition::default()
                                        .with_partition_index(partition.partition_index)
                                        .with_error_code(error.code())
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
    }
}

impl ErrorResponse for OffsetFetchRequest {
    /// A request naming groups (v8+): every group with the error. Before v8: the top-level
    /// error code and every partition the request names, with offset -1 and no metadata.
    fn error_response(&self, error: ResponseError) -> OffsetFetchResponse {
        let response = OffsetFetchResponse::default().with_error_code(error.code());
        if !self.groups.is_empty() {
            return response.with_groups(
                self.groups
                    .iter()
                    .map(|group| {
                        offset_fetch_response::OffsetFetchResponseGroup::default()
                            .with_group_id(group.group_id.clone())
                            .with_error_code(error.code())
                    })
                    .collect(),
            );
        }
        response.with_topics(
            self.topics
                .iter()
                .flatten()
                .map(|topic| {
                    offset_fetch_response::OffsetFetchResponseTopic::default()
                        .with_name(topic.name.clone())
                        .with_partitions(
                            topic
                                .partition_indexes
                                .iter()
                                .map(|&partition| {
                                    offset_fetch_response::OffsetFetchResponsePartition::default()
                                        .with_partition_index(partition)
                                        .with_committed_offset(-1)
                                        .with_committed_leader_epoch(-1)
                                        .with_metadata(Some(StrBytes::default()))
                                        .with_error_code(error.code())
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
    }
}

impl ErrorResponse for FindCoordinatorRequest {
    /// A request naming keys (v4+): one coordinator per key, with the error and no node (id
    /// -1, host "", port -1). Before v4: the top-level error code and no node. A v4+ request
    /// naming no key is answered as an older one (no client sends one).
    fn error_response(&self, error: ResponseError) -> FindCoordinatorResponse {
        if self.coordinator_keys.is_empty() {
            return FindCoordinatorResponse::default()
                .with_error_code(error.code())
                .with_error_message(message(error))
                .with_node_id(BrokerId(-1))
                .with_host(StrBytes::default())
                .with_port(-1);
        }
        FindCoordinatorResponse::default().with_coordinators(
            self.coordinator_keys
                .iter()
                .map(|key| {
                    find_coordinator_response::Coordinator::default()
                        .with_key(key.clone())
                        .with_node_id(BrokerId(-1))
                        .with_host(StrBytes::default())
                        .with_port(-1)
                        .with_error_code(error.code())
                        .with_error_message(message(error))
                })
                .collect(),
        )
    }
}

impl ErrorResponse for JoinGroupRequest {
    /// No member id, generation -1, no leader, no protocol (empty: see the module doc).
    fn error_response(&self, error: ResponseError) -> JoinGroupResponse {
        JoinGroupResponse::default()
            .with_error_code(error.code())
            .with_generation_id(-1)
            .with_protocol_name(Some(StrBytes::default()))
            .with_leader(StrBytes::default())
            .with_member_id(StrBytes::default())
            .with_members(Vec::new())
    }
}

impl ErrorResponse for HeartbeatRequest {
    fn error_response(&self, error: ResponseError) -> HeartbeatResponse {
        HeartbeatResponse::default().with_error_code(error.code())
    }
}

impl ErrorResponse for LeaveGroupRequest {
    /// The top-level error code only (no member responses), as Kafka answers.
    fn error_response(&self, error: ResponseError) -> LeaveGroupResponse {
        LeaveGroupResponse::default().with_error_code(error.code())
    }
}

impl ErrorResponse for SyncGroupRequest {
    /// An empty assignment.
    fn error_response(&self, error: ResponseError) -> SyncGroupResponse {
        SyncGroupResponse::default()
            .with_error_code(error.code())
            .with_assignment(Bytes::new())
    }
}

impl ErrorResponse for DescribeGroupsRequest {
    /// Every group with no state, protocol or member, and authorized operations omitted.
    fn error_response(&self, error: ResponseError) -> DescribeGroupsResponse {
        DescribeGroupsResponse::default().with_groups(
            self.groups
                .iter()
                .map(|group| {
                    describe_groups_response::DescribedGroup::default()
                        .with_group_id(group.clone())
                        .with_error_code(error.code())
                        .with_group_state(StrBytes::default())
                        .with_protocol_type(StrBytes::default())
                        .with_protocol_data(StrBytes::default())
                        .with_authorized_operations(i32::MIN)
                })
                .collect(),
        )
    }
}

impl ErrorResponse for ListGroupsRequest {
    fn error_response(&self, error: ResponseError) -> ListGroupsResponse {
        ListGroupsResponse::default().with_error_code(error.code())
    }
}

impl ErrorResponse for ApiVersionsRequest {
    /// For UNSUPPORTED_VERSION, the ApiVersions range alone, so that the client retries with
    /// it (KIP-511); no API otherwise.
    fn error_response(&self, error: ResponseError) -> ApiVersionsResponse {
        let response = ApiVersionsResponse::default().with_error_code(error.code());
        if error != ResponseError::UnsupportedVersion {
            return response;
        }
        let (min, max) =
            crate::protocol::apis::supported_versions(ApiKey::ApiVersions).unwrap_or((0, 0));
        response.with_api_keys(vec![api_versions_response::ApiVersion::default()
            .with_api_key(ApiKey::ApiVersions as i16)
            .with_min_version(min)
            .with_max_version(max)])
    }
}

impl ErrorResponse for CreateTopicsRequest {
    fn error_response(&self, error: ResponseError) -> CreateTopicsResponse {
        CreateTopicsResponse::default().with_topics(
            self.topics
                .iter()
                .map(|topic| {
                    create_topics_response::CreatableTopicResult::default()
                        .with_name(topic.name.clone())
                        .with_error_code(error.code())
                        .with_error_message(message(error))
                })
                .collect(),
        )
    }
}

impl ErrorResponse for DeleteTopicsRequest {
    /// Every topic, by name before v6 (`topic_names`), by name or id from v6 on (`topics`).
    fn error_response(&self, error: ResponseError) -> DeleteTopicsResponse {
        let result = |name: Option<TopicName>, topic_id: Uuid| {
            delete_topics_response::DeletableTopicResult::default()
                .with_name(name)
                .with_topic_id(topic_id)
                .with_error_code(error.code())
        };
        DeleteTopicsResponse::default().with_responses(if self.topics.is_empty() {
            self.topic_names
                .iter()
                .map(|name| result(Some(name.clone()), Uuid::nil()))
                .collect()
        } else {
            self.topics
                .iter()
                .map(|topic| result(topic.name.clone(), topic.topic_id))
                .collect()
        })
    }
}

impl ErrorResponse for DeleteRecordsRequest {
    /// Every partition with low watermark -1.
    fn error_response(&self, error: ResponseError) -> DeleteRecordsResponse {
        DeleteRecordsResponse::default().with_topics(
            self.topics
                .iter()
                .map(|topic| {
                    delete_records_response::DeleteRecordsTopicResult::default()
                        .with_name(topic.name.clone())
                        .with_partitions(
                            topic
                                .partitions
                                .iter()
                                .map(|partition| {
                                    delete_records_response::DeleteRecordsPartitionResult::default()
                                        .with_partition_index(partition.partition_index)
                                        .with_low_watermark(-1)
                                        .with_error_code(error.code())
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
    }
}

impl ErrorResponse for InitProducerIdRequest {
    /// Producer id and epoch -1.
    fn error_response(&self, error: ResponseError) -> InitProducerIdResponse {
        InitProducerIdResponse::default()
            .with_error_code(error.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    }
}

impl ErrorResponse for OffsetForLeaderEpochRequest {
    /// Every partition with leader epoch and end offset -1.
    fn error_response(&self, error: ResponseError) -> OffsetForLeaderEpochResponse {
        OffsetForLeaderEpochResponse::default().with_topics(
            self.topics
                .iter()
                .map(|topic| {
                    offset_for_leader_epoch_response::OffsetForLeaderTopicResult::default()
                        .with_topic(topic.topic.clone())
                        .with_partitions(
                            topic
                                .partitions
                                .iter()
                                .map(|partition| {
                                    offset_for_leader_epoch_response::EpochEndOffset::default()
                                        .with_partition(partition.partition)
                                        .with_error_code(error.code())
                                        .with_leader_epoch(-1)
                                        .with_end_offset(-1)
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
    }
}

/// The partitions of `topics`, each with `error`.
fn add_partitions_to_txn_results(
    topics: &[add_partitions_to_txn_request::AddPartitionsToTxnTopic],
    error: ResponseError,
) -> Vec<add_partitions_to_txn_response::AddPartitionsToTxnTopicResult> {
    topics
        .iter()
        .map(|topic| {
            add_partitions_to_txn_response::AddPartitionsToTxnTopicResult::default()
                .with_name(topic.name.clone())
                .with_results_by_partition(
                    topic
                        .partitions
                        .iter()
                        .map(|&partition| {
                            add_partitions_to_txn_response::AddPartitionsToTxnPartitionResult::default()
                                .with_partition_index(partition)
                                .with_partition_error_code(error.code())
                        })
                        .collect(),
                )
        })
        .collect()
}

impl ErrorResponse for AddPartitionsToTxnRequest {
    /// The top-level error code (v4+), and every partition: per transaction for a request
    /// naming transactions (v4+), in `results_by_topic_v3_and_below` before v4.
    fn error_response(&self, error: ResponseError) -> AddPartitionsToTxnResponse {
        let response = AddPartitionsToTxnResponse::default().with_error_code(error.code());
        if self.transactions.is_empty() {
            return response.with_results_by_topic_v3_and_below(add_partitions_to_txn_results(
                &self.v3_and_below_topics,
                error,
            ));
        }
        response.with_results_by_transaction(
            self.transactions
                .iter()
                .map(|transaction| {
                    add_partitions_to_txn_response::AddPartitionsToTxnResult::default()
                        .with_transactional_id(transaction.transactional_id.clone())
                        .with_topic_results(add_partitions_to_txn_results(
                            &transaction.topics,
                            error,
                        ))
                })
                .collect(),
        )
    }
}

impl ErrorResponse for AddOffsetsToTxnRequest {
    fn error_response(&self, error: ResponseError) -> AddOffsetsToTxnResponse {
        AddOffsetsToTxnResponse::default().with_error_code(error.code())
    }
}

impl ErrorResponse for EndTxnRequest {
    fn error_response(&self, error: ResponseError) -> EndTxnResponse {
        EndTxnResponse::default().with_error_code(error.code())
    }
}

impl ErrorResponse for TxnOffsetCommitRequest {
    fn error_response(&self, error: ResponseError) -> TxnOffsetCommitResponse {
        TxnOffsetCommitResponse::default().with_topics(
            self.topics
                .iter()
                .map(|topic| {
                    txn_offset_commit_response::TxnOffsetCommitResponseTopic::default()
                        .with_name(topic.name.clone())
                        .with_partitions(
                            topic
                                .partitions
                                .iter()
                                .map(|partition| {
                                    txn_offset_commit_response::TxnOffsetCommitResponsePartition::default()
                                        .with_partition_index(partition.partition_index)
                                        .with_error_code(error.code())
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
    }
}

impl ErrorResponse for DescribeConfigsRequest {
    /// Every resource with no config.
    fn error_response(&self, error: ResponseError) -> DescribeConfigsResponse {
        DescribeConfigsResponse::default().with_results(
            self.resources
                .iter()
                .map(|resource| {
                    describe_configs_response::DescribeConfigsResult::default()
                        .with_error_code(error.code())
                        .with_error_message(message(error))
                        .with_resource_type(resource.resource_type)
                        .with_resource_name(resource.resource_name.clone())
                })
                .collect(),
        )
    }
}

impl ErrorResponse for AlterConfigsRequest {
    fn error_response(&self, error: ResponseError) -> AlterConfigsResponse {
        AlterConfigsResponse::default().with_responses(
            self.resources
                .iter()
                .map(|resource| {
                    alter_configs_response::AlterConfigsResourceResponse::default()
                        .with_error_code(error.code())
                        .with_error_message(message(error))
                        .with_resource_type(resource.resource_type)
                        .with_resource_name(resource.resource_name.clone())
                })
                .collect(),
        )
    }
}

impl ErrorResponse for CreatePartitionsRequest {
    fn error_response(&self, error: ResponseError) -> CreatePartitionsResponse {
        CreatePartitionsResponse::default().with_results(
            self.topics
                .iter()
                .map(|topic| {
                    create_partitions_response::CreatePartitionsTopicResult::default()
                        .with_name(topic.name.clone())
                        .with_error_code(error.code())
                        .with_error_message(message(error))
                })
                .collect(),
        )
    }
}

impl ErrorResponse for DeleteGroupsRequest {
    fn error_response(&self, error: ResponseError) -> DeleteGroupsResponse {
        DeleteGroupsResponse::default().with_results(
            self.groups_names
                .iter()
                .map(|group| {
                    delete_groups_response::DeletableGroupResult::default()
                        .with_group_id(group.clone())
                        .with_error_code(error.code())
                })
                .collect(),
        )
    }
}

impl ErrorResponse for IncrementalAlterConfigsRequest {
    fn error_response(&self, error: ResponseError) -> IncrementalAlterConfigsResponse {
        IncrementalAlterConfigsResponse::default().with_responses(
            self.resources
                .iter()
                .map(|resource| {
                    incremental_alter_configs_response::AlterConfigsResourceResponse::default()
                        .with_error_code(error.code())
                        .with_error_message(message(error))
                        .with_resource_type(resource.resource_type)
                        .with_resource_name(resource.resource_name.clone())
                })
                .collect(),
        )
    }
}

impl ErrorResponse for OffsetDeleteRequest {
    /// The top-level error code only (no topic), as Kafka answers.
    fn error_response(&self, error: ResponseError) -> OffsetDeleteResponse {
        OffsetDeleteResponse::default().with_error_code(error.code())
    }
}

impl ErrorResponse for DescribeClusterRequest {
    /// No broker.
    fn error_response(&self, error: ResponseError) -> DescribeClusterResponse {
        DescribeClusterResponse::default()
            .with_error_code(error.code())
            .with_error_message(message(error))
    }
}

impl ErrorResponse for DescribeProducersRequest {
    /// Every partition with no producer.
    fn error_response(&self, error: ResponseError) -> DescribeProducersResponse {
        DescribeProducersResponse::default().with_topics(
            self.topics
                .iter()
                .map(|topic| {
                    describe_producers_response::TopicResponse::default()
                        .with_name(topic.name.clone())
                        .with_partitions(
                            topic
                                .partition_indexes
                                .iter()
                                .map(|&partition| {
                                    describe_producers_response::PartitionResponse::default()
                                        .with_partition_index(partition)
                                        .with_error_code(error.code())
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
    }
}

impl ErrorResponse for DescribeTransactionsRequest {
    fn error_response(&self, error: ResponseError) -> DescribeTransactionsResponse {
        DescribeTransactionsResponse::default().with_transaction_states(
            self.transactional_ids
                .iter()
                .map(|id| {
                    describe_transactions_response::TransactionState::default()
                        .with_transactional_id(id.clone())
                        .with_error_code(error.code())
                })
                .collect(),
        )
    }
}

impl ErrorResponse for ListTransactionsRequest {
    fn error_response(&self, error: ResponseError) -> ListTransactionsResponse {
        ListTransactionsResponse::default().with_error_code(error.code())
    }
}

impl ErrorResponse for ConsumerGroupHeartbeatRequest {
    fn error_response(&self, error: ResponseError) -> ConsumerGroupHeartbeatResponse {
        ConsumerGroupHeartbeatResponse::default().with_error_code(error.code())
    }
}

impl ErrorResponse for ConsumerGroupDescribeRequest {
    fn error_response(&self, error: ResponseError) -> ConsumerGroupDescribeResponse {
        ConsumerGroupDescribeResponse::default().with_groups(
            self.group_ids
                .iter()
                .map(|group| {
                    consumer_group_describe_response::DescribedGroup::default()
                        .with_group_id(group.clone())
                        .with_error_code(error.code())
                })
                .collect(),
        )
    }
}

impl ErrorResponse for SaslHandshakeRequest {
    /// No mechanism.
    fn error_response(&self, error: ResponseError) -> SaslHandshakeResponse {
        SaslHandshakeResponse::default().with_error_code(error.code())
    }
}

impl ErrorResponse for SaslAuthenticateRequest {
    fn error_response(&self, error: ResponseError) -> SaslAuthenticateResponse {
        SaslAuthenticateResponse::default()
            .with_error_code(error.code())
            .with_error_message(message(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{Buf, BytesMut};
    use kafka_protocol::messages::alter_user_scram_credentials_request::{
        ScramCredentialDeletion, ScramCredentialUpsertion,
    };
    use kafka_protocol::protocol::{Decodable, Encodable};

    #[test]
    fn element_wise_refusals_name_every_element_once() {
        let request = AlterUserScramCredentialsRequest::default()
            .with_deletions(vec![
                ScramCredentialDeletion::default().with_name(StrBytes::from_static_str("alice"))
            ])
            .with_upsertions(vec![
                ScramCredentialUpsertion::default().with_name(StrBytes::from_static_str("alice")),
                ScramCredentialUpsertion::default().with_name(StrBytes::from_static_str("bob")),
            ]);
        let refused = request.error_response(ResponseError::ClusterAuthorizationFailed);
        let users: Vec<&str> = refused.results.iter().map(|r| r.user.as_str()).collect();
        assert_eq!(users, ["alice", "bob"]);
        assert!(refused.results.iter().all(|r| r.error_code == 31));

        let request = AlterClientQuotasRequest::default().with_entries(vec![
            kafka_protocol::messages::alter_client_quotas_request::EntryData::default()
                .with_entity(vec![
                    kafka_protocol::messages::alter_client_quotas_request::EntityData::default()
                        .with_entity_type(StrBytes::from_static_str("user"))
                        .with_entity_name(Some(StrBytes::from_static_str("alice"))),
                ]),
        ]);
        let refused = request.error_response(ResponseError::ClusterAuthorizationFailed);
        assert_eq!(refused.entries.len(), 1);
        assert_eq!(
            refused.entries[0].entity[0].entity_name.as_deref(),
            Some("alice")
        );
        assert_eq!(refused.entries[0].error_code, 31);
    }

    const ERROR: ResponseError = ResponseError::NotLeaderOrFollower;
    const TOPIC_ID: Uuid = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);

    fn s(value: &'static str) -> StrBytes {
        StrBytes::from_static_str(value)
    }

    fn topic() -> TopicName {
        TopicName(s("orders"))
    }

    fn group() -> GroupId {
        GroupId(s("group"))
    }

    fn txn() -> TransactionalId {
        TransactionalId(s("txn"))
    }

    /// Every error code of a message, read from its `Debug` form: the value of every field
    /// whose name ends in `error_code`, at any depth.
    fn error_codes(debug: &str) -> Vec<i16> {
        debug
            .match_indices("error_code: ")
            .map(|(at, field)| {
                let rest = &debug[at + field.len()..];
                let end = rest
                    .find(|c: char| c != '-' && !c.is_ascii_digit())
                    .unwrap_or(rest.len());
                rest[..end].parse().expect("an error code")
            })
            .collect()
    }

    /// Refuses the request `build(version)` at every version of its API's served range that
    /// kafka-protocol decodes (no request of another version reaches `error_response`: Produce
    /// v0-2, Fetch v0-3, CreateTopics v0-1, and v0 of ListOffsets, DeleteTopics, DescribeConfigs
    /// and the ACL APIs). The request goes through the wire first, as the broker receives it.
    ///
    /// `expected(version)` is (error codes set to the error, error codes left 0 because the
    /// response of that version has no such field or Kafka leaves it unset); the response
    /// must have no other error code, must encode at the version, and must decode back with the
    /// error.
    fn check<R>(build: impl Fn(i16) -> R, expected: impl Fn(i16) -> (usize, usize)) -> ApiKey
    where
        R: ErrorResponse + std::fmt::Debug,
        R::Response: std::fmt::Debug,
    {
        let key = ApiKey::try_from(R::KEY).expect("a known API key");
        let (min, max) = crate::protocol::apis::supported_versions(key)
            .unwrap_or_else(|| panic!("{key:?} is not in the table"));
        let mut checked = 0;
        for version in min.max(R::VERSIONS.min)..=max.min(R::VERSIONS.max) {
            let mut wire = BytesMut::new();
            build(version)
                .encode(&mut wire, version)
                .unwrap_or_else(|e| panic!("{key:?} v{version}: cannot encode the request: {e}"));
            let request = R::decode(&mut wire.freeze(), version)
                .unwrap_or_else(|e| panic!("{key:?} v{version}: cannot decode the request: {e}"));

            let response = request.error_response(ERROR);
            let shown = format!("{response:?}");
            let codes = error_codes(&shown);
            let (set, unset) = expected(version);
            let refused = codes.iter().filter(|&&c| c == ERROR.code()).count();
            let zero = codes.iter().filter(|&&c| c == 0).count();
            assert_eq!(
                refused, set,
                "{key:?} v{version}: refused elements in {shown}"
            );
            assert_eq!(
                zero, unset,
                "{key:?} v{version}: unset error codes in {shown}"
            );
            assert_eq!(codes.len(), set + unset, "{key:?} v{version}: {shown}");

            let mut body = BytesMut::new();
            response
                .encode(&mut body, version)
                .unwrap_or_else(|e| panic!("{key:?} v{version}: cannot encode {shown}: {e}"));
            let mut body = body.freeze();
            let decoded = R::Response::decode(&mut body, version)
                .unwrap_or_else(|e| panic!("{key:?} v{version}: cannot decode the response: {e}"));
            assert_eq!(body.remaining(), 0, "{key:?} v{version}: bytes left over");
            assert!(
                error_codes(&format!("{decoded:?}")).contains(&ERROR.code()),
                "{key:?} v{version}: the client sees no error in {decoded:?}"
            );
            checked += 1;
        }
        assert!(checked > 0, "{key:?}: no version checked");
        key
    }

    fn one<T>(item: T) -> Vec<T> {
        vec![item]
    }

    #[test]
    fn every_api_refuses_every_element_at_every_served_version() {
        let same = |set: usize, unset: usize| move |_: i16| (set, unset);
        let keys = [
            check(
                |_| {
                    ProduceRequest::default()
                        .with_acks(-1)
                        .with_timeout_ms(30_000)
                        .with_topic_data(one(produce_request::TopicProduceData::default()
                            .with_name(topic())
                            .with_partition_data(one(
                                produce_request::PartitionProduceData::default()
                                    .with_index(0)
                                    .with_records(Some(Bytes::new())),
                            ))))
                },
                same(1, 0),
            ),
            check(
                |_| {
                    FetchRequest::default()
                        .with_max_wait_ms(500)
                        .with_min_bytes(1)
                        .with_max_bytes(52_428_800)
                        .with_session_id(7)
                        .with_session_epoch(1)
                        .with_topics(one(fetch_request::FetchTopic::default()
                            .with_topic(topic())
                            .with_topic_id(TOPIC_ID)
                            .with_partitions(one(fetch_request::FetchPartition::default()
                                .with_partition(0)
                                .with_fetch_offset(42)
                                .with_partition_max_bytes(1_048_576)))))
                },
                // The top-level error code and the partition's.
                same(2, 0),
            ),
            check(
                |_| {
                    ListOffsetsRequest::default()
                        .with_replica_id(BrokerId(-1))
                        .with_topics(one(list_offsets_request::ListOffsetsTopic::default()
                            .with_name(topic())
                            .with_partitions(one(
                                list_offsets_request::ListOffsetsPartition::default()
                                    .with_partition_index(0)
                                    .with_timestamp(-1),
                            ))))
                },
                same(1, 0),
            ),
            check(
                |_| {
                    MetadataRequest::default()
                        .with_topics(Some(one(metadata_request::MetadataRequestTopic::default()
                            .with_name(Some(topic())))))
                },
                // The top-level error code is v13's (Kafka 4.0), unset as in Kafka 3.7.
                same(1, 1),
            ),
            check(
                |_| {
                    OffsetCommitRequest::default()
                        .with_group_id(group())
                        .with_generation_id_or_member_epoch(1)
                        .with_member_id(s("member"))
                        .with_topics(one(
                            offset_commit_request::OffsetCommitRequestTopic::default()
                                .with_name(topic())
                                .with_partitions(one(
                                    offset_commit_request::OffsetCommitRequestPartition::default()
                                        .with_partition_index(0)
                                        .with_committed_offset(42)
                                        .with_committed_metadata(Some(s(""))),
                                )),
                        ))
                },
                same(1, 0),
            ),
            check(
                |version| {
                    if version < 8 {
                        OffsetFetchRequest::default()
                            .with_group_id(group())
                            .with_topics(Some(one(
                                offset_fetch_request::OffsetFetchRequestTopic::default()
                                    .with_name(topic())
                                    .with_partition_indexes(vec![0]),
                            )))
                    } else {
                        OffsetFetchRequest::default().with_groups(one(
                            offset_fetch_request::OffsetFetchRequestGroup::default()
                                .with_group_id(group())
                                .with_topics(Some(one(
                                    offset_fetch_request::OffsetFetchRequestTopics::default()
                                        .with_name(topic())
                                        .with_partition_indexes(vec![0]),
                                ))),
                        ))
                    }
                },
                // Before v8 the top-level code and the partition's, from v8 on the top-level
                // code (not encoded) and the group's.
                same(2, 0),
            ),
            check(
                |version| {
                    if version < 4 {
                        FindCoordinatorRequest::default().with_key(s("group"))
                    } else {
                        FindCoordinatorRequest::default().with_coordinator_keys(vec![s("group")])
                    }
                },
                // From v4 on the top-level error code is gone: each key carries the error.
                |version| if version < 4 { (1, 0) } else { (1, 1) },
            ),
            check(
                |_| {
                    JoinGroupRequest::default()
                        .with_group_id(group())
                        .with_session_timeout_ms(45_000)
                        .with_rebalance_timeout_ms(300_000)
                        .with_protocol_type(s("consumer"))
                        .with_protocols(one(join_group_request::JoinGroupRequestProtocol::default(
                        )
                        .with_name(s("range"))
                        .with_metadata(Bytes::from_static(b"\0\0"))))
                },
                same(1, 0),
            ),
            check(
                |_| {
                    HeartbeatRequest::default()
                        .with_group_id(group())
                        .with_generation_id(1)
                        .with_member_id(s("member"))
                },
                same(1, 0),
            ),
            check(
                |version| {
                    let request = LeaveGroupRequest::default().with_group_id(group());
                    if version < 3 {
                        request.with_member_id(s("member"))
                    } else {
                        request.with_members(one(leave_group_request::MemberIdentity::default()
                            .with_member_id(s("member"))))
                    }
                },
                same(1, 0),
            ),
            check(
                |_| {
                    SyncGroupRequest::default()
                        .with_group_id(group())
                        .with_generation_id(1)
                        .with_member_id(s("member"))
                        .with_protocol_type(Some(s("consumer")))
                        .with_protocol_name(Some(s("range")))
                        .with_assignments(one(
                            sync_group_request::SyncGroupRequestAssignment::default()
                                .with_member_id(s("member"))
                                .with_assignment(Bytes::from_static(b"\0\0")),
                        ))
                },
                same(1, 0),
            ),
            check(
                |_| DescribeGroupsRequest::default().with_groups(one(group())),
                same(1, 0),
            ),
            check(|_| ListGroupsRequest::default(), same(1, 0)),
            check(
                |_| {
                    ApiVersionsRequest::default()
                        .with_client_software_name(s("test"))
                        .with_client_software_version(s("1"))
                },
                same(1, 0),
            ),
            check(
                |_| {
                    CreateTopicsRequest::default()
                        .with_timeout_ms(30_000)
                        .with_topics(one(create_topics_request::CreatableTopic::default()
                            .with_name(topic())
                            .with_num_partitions(1)
                            .with_replication_factor(1)))
                },
                // TopicConfigErrorCode (describing the configs), unset as in Kafka.
                same(1, 1),
            ),
            check(
                |version| {
                    let request = DeleteTopicsRequest::default().with_timeout_ms(30_000);
                    if version < 6 {
                        request.with_topic_names(one(topic()))
                    } else {
                        request.with_topics(one(delete_topics_request::DeleteTopicState::default()
                            .with_name(Some(topic()))))
                    }
                },
                same(1, 0),
            ),
            check(
                |_| {
                    DeleteRecordsRequest::default()
                        .with_timeout_ms(30_000)
                        .with_topics(one(delete_records_request::DeleteRecordsTopic::default()
                            .with_name(topic())
                            .with_partitions(one(
                                delete_records_request::DeleteRecordsPartition::default()
                                    .with_partition_index(0)
                                    .with_offset(42),
                            ))))
                },
                same(1, 0),
            ),
            check(
                |_| {
                    InitProducerIdRequest::default()
                        .with_transactional_id(Some(txn()))
                        .with_transaction_timeout_ms(60_000)
                },
                same(1, 0),
            ),
            check(
                |_| {
                    OffsetForLeaderEpochRequest::default().with_topics(one(
                        offset_for_leader_epoch_request::OffsetForLeaderTopic::default()
                            .with_topic(topic())
                            .with_partitions(one(
                                offset_for_leader_epoch_request::OffsetForLeaderPartition::default(
                                )
                                .with_partition(0)
                                .with_current_leader_epoch(3)
                                .with_leader_epoch(2),
                            )),
                    ))
                },
                same(1, 0),
            ),
            check(
                |version| {
                    let topics = one(
                        add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                            .with_name(topic())
                            .with_partitions(vec![0]),
                    );
                    if version < 4 {
                        AddPartitionsToTxnRequest::default()
                            .with_v3_and_below_transactional_id(txn())
                            .with_v3_and_below_producer_id(ProducerId(1))
                            .with_v3_and_below_topics(topics)
                    } else {
                        AddPartitionsToTxnRequest::default().with_transactions(one(
                            add_partitions_to_txn_request::AddPartitionsToTxnTransaction::default()
                                .with_transactional_id(txn())
                                .with_producer_id(ProducerId(1))
                                .with_verify_only(true)
                                .with_topics(topics),
                        ))
                    }
                },
                // The top-level error code (encoded from v4 on) and the partition's.
                same(2, 0),
            ),
            check(
                |_| {
                    AddOffsetsToTxnRequest::default()
                        .with_transactional_id(txn())
                        .with_producer_id(ProducerId(1))
                        .with_group_id(group())
                },
                same(1, 0),
            ),
            check(
                |_| {
                    EndTxnRequest::default()
                        .with_transactional_id(txn())
                        .with_producer_id(ProducerId(1))
                        .with_committed(true)
                },
                same(1, 0),
            ),
            check(
                |_| {
                    TxnOffsetCommitRequest::default()
                        .with_transactional_id(txn())
                        .with_group_id(group())
                        .with_producer_id(ProducerId(1))
                        .with_topics(one(
                            txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                                .with_name(topic())
                                .with_partitions(one(
                                    txn_offset_commit_request::TxnOffsetCommitRequestPartition::default()
                                        .with_partition_index(0)
                                        .with_committed_offset(42),
                                )),
                        ))
                },
                same(1, 0),
            ),
            check(
                |_| {
                    DescribeConfigsRequest::default().with_resources(one(
                        describe_configs_request::DescribeConfigsResource::default()
                            .with_resource_type(2)
                            .with_resource_name(s("orders")),
                    ))
                },
                same(1, 0),
            ),
            check(
                |_| {
                    AlterConfigsRequest::default().with_resources(one(
                        alter_configs_request::AlterConfigsResource::default()
                            .with_resource_type(2)
                            .with_resource_name(s("orders"))
                            .with_configs(one(alter_configs_request::AlterableConfig::default()
                                .with_name(s("retention.ms"))
                                .with_value(Some(s("1000"))))),
                    ))
                },
                same(1, 0),
            ),
            check(
                |_| {
                    CreatePartitionsRequest::default()
                        .with_timeout_ms(30_000)
                        .with_topics(one(
                            create_partitions_request::CreatePartitionsTopic::default()
                                .with_name(topic())
                                .with_count(2),
                        ))
                },
                same(1, 0),
            ),
            check(
                |_| DeleteGroupsRequest::default().with_groups_names(one(group())),
                same(1, 0),
            ),
            check(
                |_| {
                    IncrementalAlterConfigsRequest::default().with_resources(one(
                        incremental_alter_configs_request::AlterConfigsResource::default()
                            .with_resource_type(2)
                            .with_resource_name(s("orders"))
                            .with_configs(one(
                                incremental_alter_configs_request::AlterableConfig::default()
                                    .with_name(s("retention.ms"))
                                    .with_value(Some(s("1000"))),
                            )),
                    ))
                },
                same(1, 0),
            ),
            check(
                |_| {
                    OffsetDeleteRequest::default()
                        .with_group_id(group())
                        .with_topics(one(
                            offset_delete_request::OffsetDeleteRequestTopic::default()
                                .with_name(topic())
                                .with_partitions(one(
                                    offset_delete_request::OffsetDeleteRequestPartition::default()
                                        .with_partition_index(0),
                                )),
                        ))
                },
                same(1, 0),
            ),
            check(|_| DescribeClusterRequest::default(), same(1, 0)),
            check(
                |_| {
                    DescribeProducersRequest::default().with_topics(one(
                        describe_producers_request::TopicRequest::default()
                            .with_name(topic())
                            .with_partition_indexes(vec![0]),
                    ))
                },
                same(1, 0),
            ),
            check(
                |_| DescribeTransactionsRequest::default().with_transactional_ids(one(txn())),
                same(1, 0),
            ),
            check(|_| ListTransactionsRequest::default(), same(1, 0)),
            check(
                |_| {
                    ConsumerGroupHeartbeatRequest::default()
                        .with_group_id(group())
                        .with_rebalance_timeout_ms(300_000)
                        .with_subscribed_topic_names(Some(one(topic())))
                        .with_topic_partitions(Some(Vec::new()))
                },
                same(1, 0),
            ),
            check(
                |_| ConsumerGroupDescribeRequest::default().with_group_ids(one(group())),
                same(1, 0),
            ),
            check(
                |_| SaslHandshakeRequest::default().with_mechanism(s("PLAIN")),
                same(1, 0),
            ),
            check(
                |_| {
                    SaslAuthenticateRequest::default()
                        .with_auth_bytes(Bytes::from_static(b"\0alice\0secret"))
                },
                same(1, 0),
            ),
            check(|_| DescribeAclsRequest::default(), same(1, 0)),
            check(
                |_| {
                    CreateAclsRequest::default().with_creations(one(
                        create_acls_request::AclCreation::default()
                            .with_resource_type(2)
                            .with_resource_name(s("orders"))
                            .with_resource_pattern_type(3)
                            .with_principal(s("User:alice"))
                            .with_host(s("*"))
                            .with_operation(3)
                            .with_permission_type(3),
                    ))
                },
                same(1, 0),
            ),
            check(
                |_| {
                    DeleteAclsRequest::default()
                        .with_filters(one(delete_acls_request::DeleteAclsFilter::default()))
                },
                same(1, 0),
            ),
            check(
                |_| DescribeUserScramCredentialsRequest::default(),
                same(1, 0),
            ),
            check(
                |_| {
                    AlterUserScramCredentialsRequest::default().with_deletions(one(
                        ScramCredentialDeletion::default()
                            .with_name(s("alice"))
                            .with_mechanism(1),
                    ))
                },
                same(1, 0),
            ),
            check(|_| DescribeClientQuotasRequest::default(), same(1, 0)),
            check(
                |_| {
                    AlterClientQuotasRequest::default().with_entries(one(
                        alter_client_quotas_request::EntryData::default().with_entity(one(
                            alter_client_quotas_request::EntityData::default()
                                .with_entity_type(s("user"))
                                .with_entity_name(Some(s("alice"))),
                        )),
                    ))
                },
                same(1, 0),
            ),
        ];
        let checked: BTreeSet<i16> = keys.iter().map(|&key| key as i16).collect();
        assert_eq!(checked.len(), keys.len(), "an API checked twice");
        let served: BTreeSet<i16> = crate::protocol::apis::APIS
            .iter()
            .map(|row| row.key as i16)
            .collect();
        assert_eq!(checked, served, "every API of the table is checked");
    }

    #[test]
    fn refusals_take_their_shape_from_the_request() {
        // Fetch by topic id (v13+): the id is echoed, with the session.
        let request = FetchRequest::default().with_session_id(7).with_topics(one(
            fetch_request::FetchTopic::default()
                .with_topic_id(TOPIC_ID)
                .with_partitions(one(
                    fetch_request::FetchPartition::default().with_partition(3)
                )),
        ));
        let refused = request.error_response(ERROR);
        assert_eq!(refused.session_id, 7);
        assert_eq!(refused.responses[0].topic_id, TOPIC_ID);
        let partition = &refused.responses[0].partitions[0];
        assert_eq!(partition.partition_index, 3);
        assert_eq!(
            (
                partition.high_watermark,
                partition.last_stable_offset,
                partition.log_start_offset
            ),
            (-1, -1, -1)
        );
        assert_eq!(partition.records.as_deref(), Some(&b""[..]));

        // OffsetFetch v8+: one entry per group, no topic.
        let request = OffsetFetchRequest::default().with_groups(vec![
            offset_fetch_request::OffsetFetchRequestGroup::default().with_group_id(group()),
            offset_fetch_request::OffsetFetchRequestGroup::default()
                .with_group_id(GroupId(s("other"))),
        ]);
        let refused = request.error_response(ERROR);
        let groups: Vec<&str> = refused.groups.iter().map(|g| g.group_id.as_str()).collect();
        assert_eq!(groups, ["group", "other"]);
        assert!(refused.topics.is_empty());

        // FindCoordinator v4+: one coordinator per key, no node; before v4 the top level.
        let request = FindCoordinatorRequest::default().with_coordinator_keys(vec![s("a"), s("b")]);
        let refused = request.error_response(ERROR);
        let keys: Vec<&str> = refused
            .coordinators
            .iter()
            .map(|c| c.key.as_str())
            .collect();
        assert_eq!(keys, ["a", "b"]);
        assert!(refused
            .coordinators
            .iter()
            .all(|c| c.node_id.0 == -1 && c.port == -1));
        assert_eq!(refused.error_code, 0);
        let refused = FindCoordinatorRequest::default()
            .with_key(s("a"))
            .error_response(ERROR);
        assert_eq!((refused.error_code, refused.node_id.0), (ERROR.code(), -1));
        assert!(refused.coordinators.is_empty());

        // ListOffsets, Produce and OffsetForLeaderEpoch: offsets and epochs -1.
        let refused = ListOffsetsRequest::default()
            .with_topics(one(list_offsets_request::ListOffsetsTopic::default()
                .with_name(topic())
                .with_partitions(one(
                    list_offsets_request::ListOffsetsPartition::default(),
                ))))
            .error_response(ERROR);
        let partition = &refused.topics[0].partitions[0];
        assert_eq!((partition.offset, partition.timestamp), (-1, -1));
        let refused = JoinGroupRequest::default()
            .with_group_id(group())
            .error_response(ERROR);
        assert_eq!(refused.generation_id, -1);
        assert_eq!(refused.member_id.as_str(), "");

        // ApiVersions: UNSUPPORTED_VERSION names the ApiVersions range (KIP-511).
        let refused =
            ApiVersionsRequest::default().error_response(ResponseError::UnsupportedVersion);
        assert_eq!(refused.api_keys.len(), 1);
        assert_eq!(refused.api_keys[0].api_key, ApiKey::ApiVersions as i16);
        let refused = ApiVersionsRequest::default().error_response(ERROR);
        assert!(refused.api_keys.is_empty());
    }
}
