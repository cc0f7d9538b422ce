"""confluent-kafka over SASL_SSL with SCRAM-SHA-512: a user made with the admin client on the
PLAINTEXT listener, records produced and consumed over SASL_SSL, a wrong password refused.

Arguments: PLAINTEXT bootstrap, SASL_SSL bootstrap, CA file."""
import sys

from clients import round_trip
from confluent_kafka import KafkaError, Producer
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


count = 300
round_trip(client("carol-secret"), "python-sasl-ssl", count)

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
