"""Checks record partitions against kafka-python's Java-compatible murmur2 partitioner
(HttpIngestSource, CONNECT.md g.1). Arguments: the partition count, then `key=partition` pairs.
Prints `murmur2 ok <n>` when every key's partition is murmur2(key) & 0x7fffffff % count."""
import sys

from kafka.partitioner.default import murmur2

count = int(sys.argv[1])
checked = 0
for pair in sys.argv[2:]:
    key, partition = pair.rsplit("=", 1)
    expected = (murmur2(key.encode("utf-8")) & 0x7FFFFFFF) % count
    assert expected == int(partition), f"key {key!r}: partition {partition}, murmur2 says {expected}"
    checked += 1
print(f"murmur2 ok {checked}")
