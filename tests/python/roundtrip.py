"""confluent-kafka round trip against a broker: create a topic, produce, consume, check."""
import sys

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

bootstrap = sys.argv[1]
topic = "python-roundtrip"
count = 2000

admin = AdminClient({"bootstrap.servers": bootstrap})
for name, future in admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)]).items():
    future.result(timeout=30)

delivered = []
producer = Producer({"bootstrap.servers": bootstrap, "compression.type": "gzip", "linger.ms": 5})
for i in range(count):
    producer.produce(topic, key=f"k{i}", value=f"v{i}", partition=i % 2, headers=[("i", str(i))],
                     on_delivery=lambda err, msg: delivered.append(err))
producer.flush(60)
assert len(delivered) == count and all(e is None for e in delivered), delivered[:5]

consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "python", "enable.auto.commit": False,
                     "auto.offset.reset": "earliest"})
consumer.assign([TopicPartition(topic, 0, 0), TopicPartition(topic, 1, 0)])
seen = {0: [], 1: []}
while sum(len(v) for v in seen.values()) < count:
    msg = consumer.poll(30)
    assert msg is not None, "timed out waiting for records"
    if msg.error():
        assert msg.error().code() == KafkaError._PARTITION_EOF, msg.error()
        continue
    seen[msg.partition()].append((msg.offset(), msg.key().decode(), msg.value().decode(), dict(msg.headers())["i"]))
consumer.close()
for p in (0, 1):
    expected = [(n, f"k{i}", f"v{i}", str(i).encode()) for n, i in enumerate(range(p, count, 2))]
    assert seen[p] == expected, (p, seen[p][:3], expected[:3])
low, high = Consumer({"bootstrap.servers": bootstrap, "group.id": "python"}).get_watermark_offsets(TopicPartition(topic, 0), timeout=30)
assert (low, high) == (0, count // 2), (low, high)

# DescribeCluster and topic ids through the admin API (librdkafka's DescribeCluster/Metadata).
cluster = admin.describe_cluster().result(timeout=30)
assert cluster.cluster_id and len(cluster.nodes) == 1, cluster
from confluent_kafka import TopicCollection
described = admin.describe_topics(TopicCollection([topic])).get(topic).result(timeout=30)
assert described.topic_id is not None and len(described.partitions) == 2, described
print(f"round trip ok: {count} records")
