"""SCRAM users created and listed with confluent-kafka's admin client
(AlterUserScramCredentials / DescribeUserScramCredentials, KIP-554), with Kafka's refusals.
Usage: scram.py BOOTSTRAP (a PLAINTEXT listener)"""
import sys

from confluent_kafka import KafkaException
from confluent_kafka.admin import (AdminClient, ScramCredentialInfo, ScramMechanism,
                                   UserScramCredentialDeletion,
                                   UserScramCredentialUpsertion)

bootstrap = sys.argv[1]
admin = AdminClient({"bootstrap.servers": bootstrap})


def alter(alterations):
    return {user: future for user, future in admin.alter_user_scram_credentials(alterations).items()}


for future in alter([
    UserScramCredentialUpsertion("alice", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096),
                                 b"alice-secret", b"salt-of-alice"),
    UserScramCredentialUpsertion("bob", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192),
                                 b"bob-secret"),
]).values():
    future.result()

described = admin.describe_user_scram_credentials().result()
alice = described["alice"].scram_credential_infos
bob = described["bob"].scram_credential_infos
assert [(i.mechanism, i.iterations) for i in alice] == [(ScramMechanism.SCRAM_SHA_256, 4096)], alice
assert [(i.mechanism, i.iterations) for i in bob] == [(ScramMechanism.SCRAM_SHA_512, 8192)], bob

# Too few iterations: UNACCEPTABLE_CREDENTIAL; deleting what does not exist: RESOURCE_NOT_FOUND.
futures = alter([
    UserScramCredentialUpsertion("carol", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 100),
                                 b"carol-secret"),
    UserScramCredentialDeletion("dave", ScramMechanism.SCRAM_SHA_512),
])
for user, expected in [("carol", "Too few iterations"),
                       ("dave", "Attempt to delete a user credential that does not exist")]:
    try:
        futures[user].result()
        raise AssertionError(f"{user} was accepted")
    except KafkaException as e:
        assert expected in str(e), str(e)

try:
    admin.describe_user_scram_credentials(["nobody"])["nobody"].result()
    raise AssertionError("nobody was described")
except KafkaException as e:
    assert "Attempt to describe a user credential that does not exist" in str(e), str(e)

print("python scram ok: alice SCRAM-SHA-256, bob SCRAM-SHA-512")
