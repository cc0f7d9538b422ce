"""confluent-kafka over SASL_SSL with SCRAM-SHA-512: a user made with the admin client on the
PLAINTEXT listener, records produced and consumed over SASL_SSL, a wrong password refused.

Arguments: PLAINTEXT bootstrap, SASL_SSL bootstrap, CA file."""
import sys

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import (AdminClient, ScramCredentialInfo, ScramMechanism,
                                   UserScramCredentialUpsertion)

plaintext, sasl_ssl, ca = sys.argv[1:4]
admin = AdminClient({"bootstrap.servers": plaintext})
upsert = UserScramCredentialUpsertion(
    "carol", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), b"carol-secret")
for future in admin.alter_user_scram_credentials([upsert]).values():
    future.result()


def client(password):
    return {"bootstrap.servers": sasl_ssl, "security.protocol": "SASL_SSL",
            "ssl.ca.location": ca, "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": "carol", "sasl.password": password}


topic = "python-sasl-ssl"
count = 300
delivered = []
producer = Producer({**client("carol-secret"), "linger.ms": 5})
for i in range(count):
    producer.produce(topic, value=f"v{i}", on_delivery=lambda err, msg: delivered.append(err))
producer.flush(60)
assert len(delivered) == count and all(e is None for e in delivered), delivered[:5]

consumer = Consumer({**client("carol-secret"), "group.id": "python-sasl-ssl",
                     "enable.auto.commit": False})
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

errors = []
refused = Producer({**client("wrong"), "error_cb": lambda err: errors.append(err)})
for _ in range(50):
    refused.poll(0.2)
    if any(e.code() == KafkaError._AUTHENTICATION for e in errors):
        break
auth = [e for e in errors if e.code() == KafkaError._AUTHENTICATION]
assert auth, errors
assert "invalid credentials with SASL mechanism SCRAM-SHA-512" in auth[0].str(), auth[0].str()
print(f"python sasl_ssl ok: {count} records, wrong password refused")
