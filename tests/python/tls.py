"""confluent-kafka over SSL with a client certificate: produce, consume, check.

Arguments: bootstrap, CA file, client certificate file, client key file."""
import sys

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

bootstrap, ca, cert, key = sys.argv[1:5]
tls = {"bootstrap.servers": bootstrap, "security.protocol": "SSL", "ssl.ca.location": ca,
       "ssl.certificate.location": cert, "ssl.key.location": key}
topic = "python-tls"
count = 500

delivered = []
producer = Producer({**tls, "linger.ms": 5})
for i in range(count):
    producer.produce(topic, value=f"v{i}", on_delivery=lambda err, msg: delivered.append(err))
producer.flush(60)
assert len(delivered) == count and all(e is None for e in delivered), delivered[:5]

consumer = Consumer({**tls, "group.id": "python-tls", "enable.auto.commit": False})
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
print(f"python tls ok: {count} records")
