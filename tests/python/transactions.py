"""Transactions through Python clients: confluent-kafka's transactional producer commits and
aborts; read_committed consumers (confluent-kafka and kafka-python) see only the commits,
read_uncommitted sees both. Usage: transactions.py BOOTSTRAP"""
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition, KafkaError
from confluent_kafka.admin import AdminClient, NewTopic
import kafka

bootstrap = sys.argv[1]
admin = AdminClient({"bootstrap.servers": bootstrap})
for future in admin.create_topics([NewTopic("pytxn", 2, 1)]).values():
    future.result()

producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": "py-txn"})
producer.init_transactions(30)
producer.begin_transaction()
for i in range(20):
    producer.produce("pytxn", value=b"commit-%d" % i, partition=i % 2)
producer.commit_transaction(30)
producer.begin_transaction()
for i in range(15):
    producer.produce("pytxn", value=b"abort-%d" % i, partition=i % 2)
producer.flush(30)
producer.abort_transaction(30)
producer.begin_transaction()
producer.produce("pytxn", value=b"commit-last", partition=0)
producer.commit_transaction(30)


def read_confluent(isolation):
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "py-txn-" + isolation,
        "isolation.level": isolation,
        "enable.partition.eof": True,
        "auto.offset.reset": "earliest",
    })
    consumer.assign([TopicPartition("pytxn", p, 0) for p in range(2)])
    values, ends, deadline = [], 0, time.time() + 60
    while ends < 2:
        assert time.time() < deadline, "confluent-kafka read did not finish"
        m = consumer.poll(0.5)
        if m is None:
            continue
        if m.error():
            assert m.error().code() == KafkaError._PARTITION_EOF, m.error()
            ends += 1
            continue
        values.append(m.value().decode())
    consumer.close()
    return sorted(values)


def read_kafka_python(isolation):
    consumer = kafka.KafkaConsumer(
        bootstrap_servers=bootstrap,
        isolation_level=isolation,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    partitions = [kafka.TopicPartition("pytxn", p) for p in range(2)]
    consumer.assign(partitions)
    consumer.seek_to_beginning()
    ends = consumer.end_offsets(partitions)
    values, deadline = [], time.time() + 60
    while any(consumer.position(tp) < ends[tp] for tp in partitions):
        assert time.time() < deadline, "kafka-python read did not finish"
        for records in consumer.poll(timeout_ms=500).values():
            values.extend(r.value.decode() for r in records)
    consumer.close()
    return sorted(values)


committed = sorted(["commit-%d" % i for i in range(20)] + ["commit-last"])
everything = sorted(committed + ["abort-%d" % i for i in range(15)])
assert read_confluent("read_committed") == committed
assert read_confluent("read_uncommitted") == everything
assert read_kafka_python("read_committed") == committed, read_kafka_python("read_committed")
assert read_kafka_python("read_uncommitted") == everything
print("python transactions ok: %d committed, %d in the log" % (len(committed), len(everything)))
