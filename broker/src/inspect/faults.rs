//! Fault injection: rules that make the broker answer the next requests of an API with an
//! error code, delay them, close their connection, or drop or delay their responses, so
//! that a test sees how its client copes without a real failure.
//!
//! A [`Fault`] names an API key and, optionally, a topic (and partition) that the request
//! must name and a client id it must come from; it fires for the next `times` matching
//! requests (every one when unbounded). Rules are checked in the order they were added; the
//! first that matches fires, once per request. While no rule is armed, serving a request
//! costs one atomic load more.
//!
//! An injected error answers the whole request: every topic, partition, group or other
//! element it names gets the error, as Kafka's `AbstractRequest.getErrorResponse` builds it,
//! and the request has no effect (a Produce appends nothing). A Produce with `acks=0` takes
//! no answer: an injected error closes its connection instead, as Kafka does when such a
//! produce fails.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::ApiKey;

/// The broker property holding a rule list for the binary (`josefine broker`), armed at
/// start; see [`Fault::parse_list`].
pub const FAULTS_KEY: &str = "josefine.faults";

/// What a fault does to a request it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultAction {
    /// Answer with this error without running the handler.
    Error(ResponseError),
    /// Wait this long, then handle the request as usual.
    Delay(Duration),
    /// Close the connection without answering: the client sees a disconnect.
    CloseConnection,
    /// Handle the request but never answer it: the connection then serves nothing more, as
    /// if the broker had died mid-request, until the client gives up on it (its request
    /// timeout) and the broker's idle timeout closes it. The client retries on a new
    /// connection.
    DropResponse,
    /// Handle the request, then hold its answer this long (later requests on the connection
    /// wait behind it, as behind any slow response).
    DelayResponse(Duration),
}

/// One fault rule; see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    api_key: ApiKey,
    action: FaultAction,
    topic: Option<String>,
    partition: Option<i32>,
    client_id: Option<String>,
    times: Option<u64>,
}

impl Fault {
    /// A rule for every request of `api_key` (until [`Fault::times`] bounds it).
    pub fn new(api_key: ApiKey, action: FaultAction) -> Self {
        Fault {
            api_key,
            action,
            topic: None,
            partition: None,
            client_id: None,
            times: None,
        }
    }

    /// Answers requests of `api_key` with `error` (Kafka's error code for it).
    pub fn error(api_key: ApiKey, error: ResponseError) -> Self {
        Fault::new(api_key, FaultAction::Error(error))
    }

    /// Delays requests of `api_key` by `delay` before handling them.
    pub fn delay(api_key: ApiKey, delay: Duration) -> Self {
        Fault::new(api_key, FaultAction::Delay(delay))
    }

    /// Closes the connection of requests of `api_key` instead of answering.
    pub fn close_connection(api_key: ApiKey) -> Self {
        Fault::new(api_key, FaultAction::CloseConnection)
    }

    /// Handles requests of `api_key` but never answers them.
    pub fn drop_response(api_key: ApiKey) -> Self {
        Fault::new(api_key, FaultAction::DropResponse)
    }

    /// Handles requests of `api_key` and holds each answer for `delay`.
    pub fn delay_response(api_key: ApiKey, delay: Duration) -> Self {
        Fault::new(api_key, FaultAction::DelayResponse(delay))
    }

    /// Only requests that name `topic` (in any partition, unless [`Fault::partition`]).
    /// APIs that name no topic (ApiVersions, group APIs, ...) never match a topic rule.
    pub fn topic(mut self, topic: impl Into<String>) -> Self {
        self.topic = Some(topic.into());
        self
    }

    /// Only requests that name this partition of the rule's topic (of any topic when the
    /// rule names none).
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Only requests whose header carries this client id.
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// Fires for the next `times` matching requests only, then stays inert.
    pub fn times(mut self, times: u64) -> Self {
        self.times = Some(times);
        self
    }

    /// Parses a rule list, as `josefine.faults` gives it to the binary: rules separated by
    /// `;`, each `<API>:<action>[:<filter>...]` where `<API>` is Kafka's API name (`Produce`,
    /// `Fetch`, `Metadata`, ... as in the protocol guide, case-insensitive), `<action>` one of
    /// `error=<CODE>` (Kafka's error name such as `NOT_LEADER_OR_FOLLOWER`, or its number),
    /// `delay.ms=<ms>`, `close`, `drop.response`, `delay.response.ms=<ms>`, and each
    /// `<filter>` one of `topic=<name>`, `partition=<n>`, `client.id=<id>`, `times=<n>`.
    ///
    /// `Produce:error=NOT_LEADER_OR_FOLLOWER:topic=orders:times=3;Fetch:delay.ms=200`
    ///
    /// Errors: the rule and what is wrong with it.
    pub fn parse_list(text: &str) -> Result<Vec<Fault>, String> {
        text.split(';')
            .map(str::trim)
            .filter(|rule| !rule.is_empty())
            .map(|rule| Fault::parse(rule).map_err(|reason| format!("rule '{rule}': {reason}")))
            .collect()
    }

    fn parse(rule: &str) -> Result<Fault, String> {
        let mut parts = rule.split(':').map(str::trim);
        let api = parts.next().unwrap_or_default();
        let api_key = api_key_named(api).ok_or_else(|| format!("unknown API '{api}'"))?;
        let action = parts.next().ok_or("no action")?;
        let millis = |value: &str| {
            value
                .parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|_| format!("'{value}' is not a number of ms"))
        };
        let action = match action.split_once('=') {
            None if action == "close" => FaultAction::CloseConnection,
            None if action == "drop.response" => FaultAction::DropResponse,
            Some(("error", code)) => FaultAction::Error(
                error_named(code).ok_or_else(|| format!("unknown error '{code}'"))?,
            ),
            Some(("delay.ms", value)) => FaultAction::Delay(millis(value)?),
            Some(("delay.response.ms", value)) => FaultAction::DelayResponse(millis(value)?),
            _ => return Err(format!("unknown action '{action}'")),
        };
        let mut fault = Fault::new(api_key, action);
        for filter in parts {
            let (key, value) = filter
                .split_once('=')
                .ok_or_else(|| format!("'{filter}' is not key=value"))?;
            let number = || {
                value
                    .parse::<u64>()
                    .map_err(|_| format!("'{value}' is not a number"))
            };
            fault = match key {
                "topic" => fault.topic(value),
                "partition" => fault.partition(
                    i32::try_from(number()?)
                        .map_err(|_| format!("partition {value} is too large"))?,
                ),
                "client.id" => fault.client_id(value),
                "times" => fault.times(number()?),
                _ => return Err(format!("unknown filter '{key}'")),
            };
        }
        Ok(fault)
    }

    /// The API the rule applies to.
    pub fn api_key(&self) -> ApiKey {
        self.api_key
    }

    /// What the rule does.
    pub fn action(&self) -> FaultAction {
        self.action
    }
}

/// Names a rule added to a broker, to remove it or ask how often it fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FaultId(u64);

#[derive(Debug)]
struct Armed {
    id: u64,
    fault: Fault,
    fired: u64,
}

impl Armed {
    fn spent(&self) -> bool {
        self.fault.times.is_some_and(|times| self.fired >= times)
    }
}

/// The broker's fault rules; one per broker, shared by every connection.
#[derive(Debug, Default)]
pub struct FaultInjector {
    armed: AtomicBool,
    next_id: AtomicU64,
    rules: Mutex<Vec<Armed>>,
}

impl FaultInjector {
    /// The injector with the rules of `josefine.faults` (already checked by the config
    /// parser; a list that does not parse arms nothing).
    pub fn from_config(rules: Option<&String>) -> Self {
        let injector = FaultInjector::default();
        for fault in rules
            .and_then(|text| Fault::parse_list(text).ok())
            .unwrap_or_default()
        {
            tracing::warn!(?fault, "fault rule armed from josefine.faults");
            injector.add(fault);
        }
        injector
    }

    /// Whether any rule may still fire (one atomic load: the cost while no test injects).
    pub fn is_armed(&self) -> bool {
        self.armed.load(Ordering::Acquire)
    }

    /// Adds `fault` after the rules already present.
    pub fn add(&self, fault: Fault) -> FaultId {
        let id = self.next_id.fetch_add(1, Ordering::AcqRel);
        let mut rules = lock(&self.rules);
        rules.push(Armed {
            id,
            fault,
            fired: 0,
        });
        self.rearm(&rules);
        FaultId(id)
    }

    /// Removes rule `id`; false if there was none.
    pub fn remove(&self, id: FaultId) -> bool {
        let mut rules = lock(&self.rules);
        let before = rules.len();
        rules.retain(|rule| rule.id != id.0);
        self.rearm(&rules);
        rules.len() != before
    }

    /// Removes every rule.
    pub fn clear(&self) {
        let mut rules = lock(&self.rules);
        rules.clear();
        self.rearm(&rules);
    }

    /// How many requests rule `id` has fired on (0 for an unknown id).
    pub fn fired(&self, id: FaultId) -> u64 {
        lock(&self.rules)
            .iter()
            .find(|rule| rule.id == id.0)
            .map_or(0, |rule| rule.fired)
    }

    fn rearm(&self, rules: &[Armed]) {
        self.armed
            .store(rules.iter().any(|rule| !rule.spent()), Ordering::Release);
    }

    /// The action of the first rule that matches a request of `api_key` from `client_id`,
    /// counted as fired. `names` tells whether the request names a topic (any when `None`)
    /// and partition (any when `None`): it is asked only of rules that filter by either.
    pub fn take(
        &self,
        api_key: ApiKey,
        client_id: &str,
        names: &dyn Fn(Option<&str>, Option<i32>) -> bool,
    ) -> Option<FaultAction> {
        let mut rules = lock(&self.rules);
        let rule = rules.iter_mut().find(|rule| {
            !rule.spent()
                && rule.fault.api_key == api_key
                && rule
                    .fault
                    .client_id
                    .as_deref()
                    .is_none_or(|wanted| wanted == client_id)
                && ((rule.fault.topic.is_none() && rule.fault.partition.is_none())
                    || names(rule.fault.topic.as_deref(), rule.fault.partition))
        })?;
        rule.fired += 1;
        let action = rule.fault.action;
        if rule.spent() {
            self.rearm(&rules);
        }
        Some(action)
    }
}

/// The API called `name` (Kafka's name, e.g. `Produce`, `ListOffsets`; case-insensitive).
fn api_key_named(name: &str) -> Option<ApiKey> {
    (0..=i16::MAX)
        .take(200)
        .filter_map(|key| ApiKey::try_from(key).ok())
        .find(|key| format!("{key:?}").eq_ignore_ascii_case(name.trim()))
}

/// The error called `name`: Kafka's constant (`NOT_LEADER_OR_FOLLOWER`) or its code.
fn error_named(name: &str) -> Option<ResponseError> {
    let name = name.trim();
    if let Ok(code) = name.parse::<i16>() {
        return ResponseError::try_from_code(code);
    }
    let wanted: String = name.chars().filter(|c| *c != '_').collect();
    (-1..=200)
        .filter_map(ResponseError::try_from_code)
        .find(|error| format!("{error:?}").eq_ignore_ascii_case(&wanted))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A test's handle on the fault rules of a broker (`josefine::Broker::faults`).
#[derive(Debug, Clone)]
pub struct Faults {
    injector: std::sync::Arc<FaultInjector>,
}

impl Faults {
    /// The handle on `injector`.
    pub fn new(injector: std::sync::Arc<FaultInjector>) -> Self {
        Faults { injector }
    }

    /// Arms `fault` (after the rules already armed) and returns its id.
    pub fn inject(&self, fault: Fault) -> FaultId {
        self.injector.add(fault)
    }

    /// Removes rule `id`; false if there was none.
    pub fn remove(&self, id: FaultId) -> bool {
        self.injector.remove(id)
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.injector.clear();
    }

    /// How many requests rule `id` has fired on.
    pub fn fired(&self, id: FaultId) -> u64 {
        self.injector.fired(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: Option<&str>, _: Option<i32>) -> bool {
        false
    }

    #[test]
    fn rule_lists_parse_kafka_names_and_refuse_nonsense() {
        let rules = Fault::parse_list(
            "Produce:error=NOT_LEADER_OR_FOLLOWER:topic=orders:partition=1:times=3; \
             fetch:delay.ms=200:client.id=c1;Metadata:close;ListOffsets:drop.response;\
             JoinGroup:delay.response.ms=50;Heartbeat:error=27",
        )
        .unwrap();
        assert_eq!(
            rules,
            [
                Fault::error(ApiKey::Produce, ResponseError::NotLeaderOrFollower)
                    .topic("orders")
                    .partition(1)
                    .times(3),
                Fault::delay(ApiKey::Fetch, Duration::from_millis(200)).client_id("c1"),
                Fault::close_connection(ApiKey::Metadata),
                Fault::drop_response(ApiKey::ListOffsets),
                Fault::delay_response(ApiKey::JoinGroup, Duration::from_millis(50)),
                Fault::error(ApiKey::Heartbeat, ResponseError::RebalanceInProgress),
            ]
        );
        for bad in [
            "Produc:close",
            "Produce",
            "Produce:error=NOT_A_CODE",
            "Produce:delay.ms=soon",
            "Produce:close:colour=red",
        ] {
            assert!(Fault::parse_list(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_bounded_rule_fires_its_times_then_disarms() {
        let faults = FaultInjector::default();
        assert!(!faults.is_armed());
        let id =
            faults.add(Fault::error(ApiKey::Produce, ResponseError::NotLeaderOrFollower).times(2));
        assert!(faults.is_armed());
        assert_eq!(faults.take(ApiKey::Fetch, "c", &none), None);
        for _ in 0..2 {
            assert_eq!(
                faults.take(ApiKey::Produce, "c", &none),
                Some(FaultAction::Error(ResponseError::NotLeaderOrFollower))
            );
        }
        assert_eq!(faults.take(ApiKey::Produce, "c", &none), None);
        assert_eq!(faults.fired(id), 2);
        assert!(!faults.is_armed());
    }

    #[test]
    fn filters_by_client_id_and_topic_partition_in_rule_order() {
        let faults = FaultInjector::default();
        let delay = Duration::from_millis(5);
        faults.add(
            Fault::delay(ApiKey::Produce, delay)
                .topic("t")
                .partition(1)
                .client_id("a"),
        );
        let close = faults.add(Fault::close_connection(ApiKey::Produce));
        let names_t1 = |topic: Option<&str>, partition: Option<i32>| {
            topic.is_none_or(|t| t == "t") && partition.is_none_or(|p| p == 1)
        };
        assert_eq!(
            faults.take(ApiKey::Produce, "a", &names_t1),
            Some(FaultAction::Delay(delay))
        );
        // Another client, or a request not naming t-1: the second rule.
        assert_eq!(
            faults.take(ApiKey::Produce, "b", &names_t1),
            Some(FaultAction::CloseConnection)
        );
        assert_eq!(
            faults.take(ApiKey::Produce, "a", &none),
            Some(FaultAction::CloseConnection)
        );
        assert_eq!(faults.fired(close), 2);
        assert!(faults.remove(close));
        assert_eq!(faults.take(ApiKey::Produce, "b", &none), None);
        faults.clear();
        assert!(!faults.is_armed());
        // A partition without a topic: that partition of any topic.
        faults.add(Fault::close_connection(ApiKey::Fetch).partition(1));
        assert_eq!(faults.take(ApiKey::Fetch, "a", &none), None);
        assert_eq!(
            faults.take(ApiKey::Fetch, "a", &names_t1),
            Some(FaultAction::CloseConnection)
        );
    }
}
