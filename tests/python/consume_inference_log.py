"""A Hopsworks user's consumer of an inference log topic, not our code: confluent-kafka
(librdkafka 2.x) reads the topic from the beginning and fastavro decodes each message value
as one schemaless Avro datum with the seed's `inferencelog` schema (or parses JSON).

    consume_inference_log.py BROKERS TOPIC kserve|docker avro|json COUNT [TIMEOUT_S]

Reads until COUNT messages arrived (or the timeout passed, or the topic stays quiet for a
while after COUNT), then prints one JSON line per record: its fields, plus `_key` and
`_headers` of the message. Exits 1 if fewer than COUNT arrived.
"""

import io
import json
import sys
import time

import fastavro
from confluent_kafka import Consumer, KafkaError

SCHEMAS = {
    "kserve": {
        "fields": [
            {"name": "servingId", "type": "int"},
            {"name": "modelName", "type": "string"},
            {"name": "modelVersion", "type": "int"},
            {"name": "requestTimestamp", "type": "long"},
            {"name": "responseHttpCode", "type": "int"},
            {"name": "inferenceId", "type": "string"},
            {"name": "messageType", "type": "string"},
            {"name": "payload", "type": "string"},
        ],
        "name": "inferencelog",
        "type": "record",
    },
    "docker": {
        "fields": [
            {"name": "modelId", "type": "int"},
            {"name": "modelName", "type": "string"},
            {"name": "modelVersion", "type": "int"},
            {"name": "requestTimestamp", "type": "long"},
            {"name": "responseHttpCode", "type": "int"},
            {"name": "inferenceRequest", "type": "string"},
            {"name": "inferenceResponse", "type": "string"},
            {"name": "modelServer", "type": "string"},
            {"name": "servingTool", "type": "string"},
        ],
        "name": "inferencelog",
        "type": "record",
    },
}


def main():
    brokers, topic, schema_name, encoding, count = sys.argv[1:6]
    count = int(count)
    timeout = float(sys.argv[6]) if len(sys.argv) > 6 else 60.0
    schema = fastavro.parse_schema(SCHEMAS[schema_name])
    consumer = Consumer({
        "bootstrap.servers": brokers,
        "group.id": f"test-{topic}-{time.time()}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    consumer.subscribe([topic])
    records = []
    deadline = time.time() + timeout
    quiet_until = None
    while time.time() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            # Past COUNT, wait a little more: a duplicate or an extra record must show.
            if quiet_until is not None and time.time() > quiet_until:
                break
            continue
        if msg.error():
            if msg.error().code() in (KafkaError._PARTITION_EOF, KafkaError.UNKNOWN_TOPIC_OR_PART):
                continue
            raise SystemExit(f"consumer error: {msg.error()}")
        value = msg.value()
        if encoding == "avro":
            reader = io.BytesIO(value)
            record = fastavro.schemaless_reader(reader, schema)
            if reader.tell() != len(value):
                raise SystemExit(f"trailing bytes after the datum: {value!r}")
        else:
            record = json.loads(value)
        record["_key"] = msg.key().decode() if msg.key() else None
        record["_headers"] = {k: v.decode() for k, v in (msg.headers() or [])}
        records.append(record)
        if len(records) >= count and quiet_until is None:
            quiet_until = time.time() + 1.0
    consumer.close()
    for r in records:
        print(json.dumps(r))
    if len(records) < count:
        print(f"only {len(records)} of {count} records arrived", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
