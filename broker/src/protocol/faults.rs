//! What fault rules (`inspect::faults`) need to know of a request: which topics and
//! partitions it names, for rules filtered by topic, and whether it takes an answer.

use kafka_protocol::messages::*;
use uuid::Uuid;

use crate::context::RequestContext;

/// A request as fault rules see it. The defaults fit APIs that name no topic.
pub(crate) trait FaultTarget {
    /// The (topic, partitions) pairs the request names; `None` partitions = the whole topic.
    /// A topic named by id only (Fetch v13+) is resolved to its name.
    fn named(&self, _ctx: &RequestContext<'_>) -> Vec<(String, Option<Vec<i32>>)> {
        Vec::new()
    }

    /// Whether the request takes an answer (false: Produce with acks=0).
    fn answered(&self) -> bool {
        true
    }
}

/// Whether `request` names `topic` (any topic when `None`) and `partition` (any when
/// `None`).
pub(crate) fn names<T: FaultTarget>(
    ctx: &RequestContext<'_>,
    request: &T,
    topic: Option<&str>,
    partition: Option<i32>,
) -> bool {
    request.named(ctx).iter().any(|(name, partitions)| {
        topic.is_none_or(|topic| name == topic)
            && match (partition, partitions) {
                (None, _) | (Some(_), None) => true,
                (Some(p), Some(list)) => list.contains(&p),
            }
    })
}

fn by_name<'a>(
    name: &str,
    partitions: impl IntoIterator<Item = &'a i32>,
) -> (String, Option<Vec<i32>>) {
    (
        name.to_string(),
        Some(partitions.into_iter().copied().collect()),
    )
}

fn resolve(ctx: &RequestContext<'_>, name: &str, id: Uuid) -> String {
    if name.is_empty() && !id.is_nil() {
        ctx.state
            .topics
            .get_by_id(id)
            .map(|topic| topic.name.to_string())
            .unwrap_or_default()
    } else {
        name.to_string()
    }
}

impl FaultTarget for ProduceRequest {
    fn named(&self, ctx: &RequestContext<'_>) -> Vec<(String, Option<Vec<i32>>)> {
        self.topic_data
            .iter()
            .map(|t| {
                let name = resolve(ctx, &t.name.0, t.topic_id);
                by_name(&name, t.partition_data.iter().map(|p| &p.index))
            })
            .collect()
    }

    fn answered(&self) -> bool {
        self.acks != 0
    }
}

impl FaultTarget for FetchRequest {
    fn named(&self, ctx: &RequestContext<'_>) -> Vec<(String, Option<Vec<i32>>)> {
        self.topics
            .iter()
            .map(|t| {
                let name = resolve(ctx, &t.topic.0, t.topic_id);
                by_name(&name, t.partitions.iter().map(|p| &p.partition))
            })
            .collect()
    }
}

impl FaultTarget for ListOffsetsRequest {
    fn named(&self, _ctx: &RequestContext<'_>) -> Vec<(String, Option<Vec<i32>>)> {
        self.topics
            .iter()
            .map(|t| by_name(&t.name.0, t.partitions.iter().map(|p| &p.partition_index)))
            .collect()
    }
}

impl FaultTarget for MetadataRequest {
    fn named(&self, ctx: &RequestContext<'_>) -> Vec<(String, Option<Vec<i32>>)> {
        self.topics
            .iter()
            .flatten()
            .map(|t| {
                let name = t.name.as_ref().map_or("", |n| n.0.as_str());
                (resolve(ctx, name, t.topic_id), None)
            })
            .collect()
    }
}

impl FaultTarget for OffsetCommitRequest {
    fn named(&self, _ctx: &RequestContext<'_>) -> Vec<(String, Option<Vec<i32>>)> {
        self.topics
            .iter()
            .map(|t| by_name(&t.name.0, t.partitions.iter().map(|p| &p.partition_index)))
            .collect()
    }
}

impl FaultTarget for OffsetFetchRequest {
    fn named(&self, _ctx: &RequestContext<'_>) -> Vec<(String, Option<Vec<i32>>)> {
        let single = self
            .topics
            .iter()
            .flatten()
            .map(|t| by_name(&t.name.0, &t.partition_indexes));
        let grouped = self
            .groups
            .iter()
            .flat_map(|g| g.topics.iter().flatten())
            .map(|t| by_name(&t.name.0, &t.partition_indexes));
        single.chain(grouped).collect()
    }
}

impl FaultTarget for TxnOffsetCommitRequest {
    fn named(&self, _ctx: &RequestContext<'_>) -> Vec<(String, Option<Vec<i32>>)> {
        self.topics
            .iter()
            .map(|t| by_name(&t.name.0, t.partitions.iter().map(|p| &p.partition_index)))
            .collect()
    }
}

impl FaultTarget for AddPartitionsToTxnRequest {
    fn named(&self, _ctx: &RequestContext<'_>) -> Vec<(String, Option<Vec<i32>>)> {
        self.v3_and_below_topics
            .iter()
            .chain(self.transactions.iter().flat_map(|t| &t.topics))
            .map(|t| by_name(&t.name.0, &t.partitions))
            .collect()
    }
}

impl FaultTarget for DeleteRecordsRequest {
    fn named(&self, _ctx: &RequestContext<'_>) -> Vec<(String, Option<Vec<i32>>)> {
        self.topics
            .iter()
            .map(|t| by_name(&t.name.0, t.partitions.iter().map(|p| &p.partition_index)))
            .collect()
    }
}

impl FaultTarget for OffsetForLeaderEpochRequest {
    fn named(&self, _ctx: &RequestContext<'_>) -> Vec<(String, Option<Vec<i32>>)> {
        self.topics
            .iter()
            .map(|t| by_name(&t.topic.0, t.partitions.iter().map(|p| &p.partition)))
            .collect()
    }
}

impl FaultTarget for CreateTopicsRequest {
    fn named(&self, _ctx: &RequestContext<'_>) -> Vec<(String, Option<Vec<i32>>)> {
        self.topics
            .iter()
            .map(|t| (t.name.0.to_string(), None))
            .collect()
    }
}

impl FaultTarget for DeleteTopicsRequest {
    fn named(&self, ctx: &RequestContext<'_>) -> Vec<(String, Option<Vec<i32>>)> {
        let by_state = self.topics.iter().map(|t| {
            let name = t.name.as_ref().map_or("", |n| n.0.as_str());
            (resolve(ctx, name, t.topic_id), None)
        });
        let by_name = self.topic_names.iter().map(|n| (n.0.to_string(), None));
        by_state.chain(by_name).collect()
    }
}

impl FaultTarget for CreatePartitionsRequest {
    fn named(&self, _ctx: &RequestContext<'_>) -> Vec<(String, Option<Vec<i32>>)> {
        self.topics
            .iter()
            .map(|t| (t.name.0.to_string(), None))
            .collect()
    }
}

impl FaultTarget for OffsetDeleteRequest {
    fn named(&self, _ctx: &RequestContext<'_>) -> Vec<(String, Option<Vec<i32>>)> {
        self.topics
            .iter()
            .map(|t| by_name(&t.name.0, t.partitions.iter().map(|p| &p.partition_index)))
            .collect()
    }
}

impl FaultTarget for DescribeProducersRequest {
    fn named(&self, _ctx: &RequestContext<'_>) -> Vec<(String, Option<Vec<i32>>)> {
        self.topics
            .iter()
            .map(|t| by_name(&t.name.0, &t.partition_indexes))
            .collect()
    }
}

/// APIs that name no topic partition: group, transaction, ACL, config, cluster and SASL APIs.
macro_rules! no_topics {
    ($($request:ty),* $(,)?) => {
        $(impl FaultTarget for $request {})*
    };
}

no_topics!(
    FindCoordinatorRequest,
    JoinGroupRequest,
    HeartbeatRequest,
    LeaveGroupRequest,
    SyncGroupRequest,
    DescribeGroupsRequest,
    ListGroupsRequest,
    ApiVersionsRequest,
    InitProducerIdRequest,
    AddOffsetsToTxnRequest,
    EndTxnRequest,
    DescribeAclsRequest,
    CreateAclsRequest,
    DeleteAclsRequest,
    DescribeConfigsRequest,
    AlterConfigsRequest,
    DeleteGroupsRequest,
    IncrementalAlterConfigsRequest,
    DescribeClusterRequest,
    DescribeTransactionsRequest,
    ListTransactionsRequest,
    ConsumerGroupHeartbeatRequest,
    ConsumerGroupDescribeRequest,
    SaslHandshakeRequest,
    SaslAuthenticateRequest,
    DescribeUserScramCredentialsRequest,
    AlterUserScramCredentialsRequest,
    DescribeClientQuotasRequest,
    AlterClientQuotasRequest,
);
