//! [`TopicPartition`]: a partition's name, as Kafka writes it in directory names and
//! checkpoint files.

use std::fmt;

/// A topic and one of its partitions. Displays as `<topic>-<partition>`, the name of the
/// partition's directory in the log dir (Kafka's `TopicPartition.toString`).
///
/// ```
/// use josefine_storage::TopicPartition;
/// let orders = TopicPartition::new("orders", 3);
/// assert_eq!(orders.to_string(), "orders-3");
/// assert_eq!(orders.dir_name(), "orders-3");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// The topic name (Kafka's rule: 1 to 249 of `[a-zA-Z0-9._-]`, checked by the broker).
    pub topic: String,
    /// The partition index, from 0.
    pub partition: i32,
}

impl TopicPartition {
    /// The partition `partition` of `topic`.
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        Self {
            topic: topic.into(),
            partition,
        }
    }

    /// The name of the partition's directory in the log dir: `<topic>-<partition>`.
    pub fn dir_name(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}
