"""Decodes Avro values with fastavro (HttpIngestSource, CONNECT.md g.1). Arguments: the schema
JSON, the wire format (`raw` or `confluent`), the expected schema id (confluent), the expected
records as a JSON list, then each value in hex. Prints `avro ok <n>` when every value decodes
to its expected record (in `confluent` mode after checking and stripping the 5-byte prefix)."""
import io
import json
import struct
import sys

import fastavro

schema = fastavro.parse_schema(json.loads(sys.argv[1]))
mode = sys.argv[2]
schema_id = int(sys.argv[3])
expected = json.loads(sys.argv[4])
values = [bytes.fromhex(v) for v in sys.argv[5:]]
assert len(values) == len(expected), f"{len(values)} values, {len(expected)} expected"
for value, want in zip(values, expected):
    if mode == "confluent":
        magic, got_id = struct.unpack(">bI", value[:5])
        assert magic == 0 and got_id == schema_id, f"prefix {value[:5].hex()}"
        value = value[5:]
    buffer = io.BytesIO(value)
    record = fastavro.schemaless_reader(buffer, schema)
    assert buffer.tell() == len(value), "trailing bytes"
    assert record == want, f"{record} != {want}"
print(f"avro ok {len(values)}")
