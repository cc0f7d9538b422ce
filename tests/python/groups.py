"""Consumer groups through Python clients: confluent-kafka's consumer and admin client, and
kafka-python's group consumer and admin client. Usage: groups.py BOOTSTRAP"""
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition, ConsumerGroupState
from confluent_kafka.admin import AdminClient, NewTopic
import kafka
from kafka.admin import KafkaAdminClient

bootstrap = sys.argv[1]
deadline = time.time() + 60
admin = AdminClient({"bootstrap.servers": bootstrap})
for future in admin.create_topics([NewTopic("pygroups", 4, 1)]).values():
    future.result()
producer = Producer({"bootstrap.servers": bootstrap})
for i in range(40):
    producer.produce("pygroups", value=b"v%d" % i, partition=i % 4)
producer.flush(30)


def member(group, protocol="classic"):
    config = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    }
    if protocol == "consumer":
        config["group.protocol"] = "consumer"
    else:
        config["heartbeat.interval.ms"] = 100
    c = Consumer(config)
    c.subscribe(["pygroups"])
    return c


def until_split(consumers, sizes):
    while time.time() < deadline:
        for c in consumers:
            c.poll(0.05)
        got = sorted(len(c.assignment()) for c in consumers)
        if got == sorted(sizes):
            return
    raise SystemExit("no %s split: %s" % (sizes, [c.assignment() for c in consumers]))


for protocol in ["classic", "consumer"]:
    group = "py-" + protocol
    a, b = member(group, protocol), member(group, protocol)
    until_split([a, b], [2, 2])
    a.commit(offsets=[TopicPartition("pygroups", p.partition, 10) for p in a.assignment()], asynchronous=False)

    listed = admin.list_consumer_groups(states={ConsumerGroupState.STABLE}).result()
    ids = {g.group_id for g in listed.valid}
    assert group in ids, (group, ids)
    described = admin.describe_consumer_groups([group])[group].result()
    assert len(described.members) == 2, described
    assigned = sorted(tp.partition for m in described.members for tp in m.assignment.topic_partitions)
    assert assigned == [0, 1, 2, 3], assigned
    from confluent_kafka import ConsumerGroupTopicPartitions
    offsets = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result()
    committed = {tp.partition: tp.offset for tp in offsets.topic_partitions}
    assert sorted(committed.values()) == [10, 10], committed

    for c in (a, b):
        c.close()
    admin.delete_consumer_groups([group])[group].result()
    remaining = {g.group_id for g in admin.list_consumer_groups().result().valid}
    assert group not in remaining, remaining
    print("confluent-kafka %s group ok" % protocol)

# kafka-python: its own group coordinator client (JoinGroup/SyncGroup/Heartbeat, commits).
consumer = kafka.KafkaConsumer(
    "pygroups",
    bootstrap_servers=bootstrap,
    group_id="kafka-python-group",
    auto_offset_reset="earliest",
    enable_auto_commit=False,
    consumer_timeout_ms=10000,
)
seen = 0
for record in consumer:
    seen += 1
    if seen == 40:
        break
consumer.commit()
kadmin = KafkaAdminClient(bootstrap_servers=bootstrap)
groups = {g["group_id"]: g for g in kadmin.list_groups(states_filter=["Stable"])}
assert groups["kafka-python-group"]["protocol_type"] == "consumer", groups
description = kadmin.describe_groups(["kafka-python-group"])["kafka-python-group"]
assert description["group_state"] == "Stable", description
assert len(description["members"]) == 1, description
offsets = kadmin.list_group_offsets({"kafka-python-group": None})["kafka-python-group"]
assert sum(o.offset for o in offsets.values()) == 40, offsets
consumer.close()
deleted = kadmin.delete_group_offsets("kafka-python-group", [kafka.TopicPartition("pygroups", 0)])
assert all(e is kafka.errors.NoError for e in deleted.values()), deleted
offsets = kadmin.list_group_offsets({"kafka-python-group": None})["kafka-python-group"]
assert sorted(tp.partition for tp in offsets) == [1, 2, 3], offsets
print("kafka-python group ok: %d records" % seen)
print("python groups ok")
