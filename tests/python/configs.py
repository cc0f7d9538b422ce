"""Topic and broker configs altered with confluent-kafka's admin client take effect at once:
incremental SET/APPEND/DELETE, the legacy AlterConfigs, INVALID_CONFIG for bad values, sources
in DescribeConfigs, and a produce refused by the new max.message.bytes.
Usage: configs.py BOOTSTRAP"""
import sys

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry,
                                   ConfigResource, ConfigSource, NewTopic, ResourceType)

bootstrap = sys.argv[1]
admin = AdminClient({"bootstrap.servers": bootstrap})
for future in admin.create_topics([NewTopic("pyconf", 1, 1)]).values():
    future.result()


def describe(resource):
    (result,) = admin.describe_configs([resource]).values()
    return result.result()


def incremental(resource, entries):
    resource = ConfigResource(resource.restype, resource.name, incremental_configs=entries)
    (future,) = admin.incremental_alter_configs([resource]).values()
    return future.result()


topic = ConfigResource(ResourceType.TOPIC, "pyconf")
incremental(topic, [
    ConfigEntry("max.message.bytes", "2000", incremental_operation=AlterConfigOpType.SET),
    ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.APPEND),
])
configs = describe(topic)
assert configs["max.message.bytes"].value == "2000", configs["max.message.bytes"]
assert configs["max.message.bytes"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
assert configs["cleanup.policy"].value == "delete,compact", configs["cleanup.policy"]

# Takes effect without a restart: a 5 kB record is now too large.
errors = []
producer = Producer({"bootstrap.servers": bootstrap, "retries": 0, "linger.ms": 0})
producer.produce("pyconf", key=b"k", value=b"x" * 5000,
                 on_delivery=lambda err, msg: errors.append(err))
producer.flush(30)
assert errors and errors[0] is not None and errors[0].code() == KafkaError.MSG_SIZE_TOO_LARGE, errors

incremental(topic, [
    ConfigEntry("max.message.bytes", None, incremental_operation=AlterConfigOpType.DELETE),
    ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.SUBTRACT),
])
configs = describe(topic)
assert configs["max.message.bytes"].value == "1048588", configs["max.message.bytes"]
assert configs["max.message.bytes"].source == ConfigSource.DEFAULT_CONFIG.value
assert configs["cleanup.policy"].value == "delete"
errors.clear()
producer.produce("pyconf", key=b"k", value=b"x" * 5000,
                 on_delivery=lambda err, msg: errors.append(err))
producer.flush(30)
assert errors == [None], errors

# Bad values and unknown keys: INVALID_CONFIG with a message; nothing changes.
for entry in [ConfigEntry("retention.ms", "soon", incremental_operation=AlterConfigOpType.SET),
              ConfigEntry("no.such.config", "1", incremental_operation=AlterConfigOpType.SET),
              ConfigEntry("retention.ms", "1", incremental_operation=AlterConfigOpType.APPEND)]:
    try:
        incremental(topic, [entry])
        raise AssertionError(f"{entry.name} accepted")
    except KafkaException as e:
        assert e.args[0].code() == KafkaError.INVALID_CONFIG, e
try:
    (future,) = admin.alter_configs(
        [ConfigResource(ResourceType.TOPIC, "pyconf", set_config={"retention.ms": "soon"})]).values()
    future.result()
    raise AssertionError("legacy AlterConfigs accepted a bad value")
except KafkaException as e:
    assert e.args[0].code() == KafkaError.INVALID_CONFIG, e

# A dynamic broker config applies to topics without an override, with its source.
broker = ConfigResource(ResourceType.BROKER, "0")
incremental(broker, [ConfigEntry("log.retention.ms", "3600000",
                                 incremental_operation=AlterConfigOpType.SET)])
configs = describe(topic)
assert configs["retention.ms"].value == "3600000", configs["retention.ms"]
assert configs["retention.ms"].source == ConfigSource.DYNAMIC_BROKER_CONFIG.value
try:
    incremental(ConfigResource(ResourceType.BROKER, "0"),
                [ConfigEntry("listeners", "PLAINTEXT://:1", incremental_operation=AlterConfigOpType.SET)])
    raise AssertionError("a static broker config was altered")
except KafkaException as e:
    assert e.args[0].code() == KafkaError.INVALID_CONFIG, e

print("python configs ok")
