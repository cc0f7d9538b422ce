"""Shared by the scripts: produce numbered records with confluent-kafka and read them back."""
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition


def round_trip(config, topic, count):
    """Produces values v0..v{count-1} to partition 0 of `topic` with client settings `config`,
    checks every delivery, then consumes them from offset 0 and checks them in order."""
    delivered = []
    producer = Producer({**config, "linger.ms": 5})
    for i in range(count):
        producer.produce(topic, value=f"v{i}", on_delivery=lambda err, msg: delivered.append(err))
    producer.flush(60)
    assert len(delivered) == count and all(e is None for e in delivered), delivered[:5]

    consumer = Consumer({**config, "group.id": topic, "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    values = []
    while len(values) < count:
        msg = consumer.poll(30)
        assert msg is not None, "timed out waiting for records"
        if msg.error():
            assert msg.error().code() == KafkaError._PARTITION_EOF, msg.error()
            continue
        values.append(msg.value().decode())
    consumer.close()
    assert values == [f"v{i}" for i in range(count)], values[:3]
