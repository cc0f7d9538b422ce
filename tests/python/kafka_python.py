"""kafka-python (a pure-Python client with KIP-227 fetch sessions) against a broker: several
rounds of produce-then-consume on three partitions, so that later fetches are incremental."""
import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

bootstrap = sys.argv[1]
topic = "kafka-python"
KafkaAdminClient(bootstrap_servers=bootstrap).create_topics([NewTopic(topic, 3, 1)])

producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", compression_type="gzip")
consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100)
partitions = [TopicPartition(topic, p) for p in range(3)]
consumer.assign(partitions)
consumer.seek_to_beginning(*partitions)

seen = {p: [] for p in range(3)}
total = 0
for round_ in range(5):
    for i in range(60):
        producer.send(topic, key=b"k%d" % total, value=b"r%d-%d" % (round_, i), partition=i % 3)
        total += 1
    producer.flush(30)
    deadline = time.time() + 60
    while sum(len(v) for v in seen.values()) < total:
        assert time.time() < deadline, f"round {round_}: got {sum(len(v) for v in seen.values())} of {total}"
        for tp, records in consumer.poll(timeout_ms=500).items():
            seen[tp.partition].extend((r.offset, r.value) for r in records)
for p in range(3):
    offsets = [o for o, _ in seen[p]]
    assert offsets == list(range(len(offsets))), (p, offsets[:10])
assert sum(len(v) for v in seen.values()) == 300
print("kafka-python ok: 300 records over 5 rounds")
