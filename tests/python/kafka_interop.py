#!/usr/bin/env python3
"""A foreign Kafka client (confluent-kafka / librdkafka) talking to the
topics smokewatch uses, for tests/kafka_interop.rs and benches/transport.rs.

Modes (each prints one JSON object on stdout; diagnostics go to stderr):

  produce  --bootstrap B --topic T --count N [--device-prefix P]
      Produces N smoke readings in smokewatch's documented wire format
      (JSON values, key = device id, headers schema_version and
      content_type) with librdkafka's murmur2_random partitioner, the Java
      client's default. Prints {"delivered": N, "placements": {key: partition}}.

  consume  --bootstrap B --topic T --partitions P --expect N
      Reads partitions 0..P from the beginning until N records arrived and
      checks each the way a foreign consumer would: the value parses as JSON
      with the documented fields, the key is the value's device_id. Prints
      {"count", "problems", "key_partitions", "headers", "offsets_in_order"}.

  bench    --bootstrap B --topic T --partitions P --expect N
      Consumes N records from the beginning as fast as it can and prints
      {"records", "bytes", "seconds", "max_rss_bytes"}: the reference rate
      (and memory) for the benchmark.

  bench-produce  --bootstrap B --topic T --count N [--compression C]
      Encodes N readings first, then produces them (acks=all, linger 5 ms,
      1 MB batches, codec C) and flushes, and prints {"records", "bytes",
      "seconds"}: the reference produce rate for the benchmark.
"""

import argparse
import json
import resource
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

SCHEMA_VERSION = 1
CONTENT_TYPE = "application/json"
CHANNELS = {
    "temperature_c": (-40.0, 125.0),
    "humidity_pct": (0.0, 100.0),
    "tvoc_ppb": (0.0, 60000.0),
    "eco2_ppm": (400.0, 60000.0),
    "raw_h2": (0.0, 65535.0),
    "raw_ethanol": (0.0, 65535.0),
    "pressure_hpa": (300.0, 1100.0),
    "pm1_0": (0.0, 100000.0),
    "pm2_5": (0.0, 100000.0),
    "nc0_5": (0.0, 100000.0),
    "nc1_0": (0.0, 100000.0),
    "nc2_5": (0.0, 100000.0),
}
REQUIRED = ["schema_version", "device_id", "home", "room", "event_time_ms", "seq"]


def reading(prefix, device, seq):
    home = "%s%03d" % (prefix, device // 4)
    room = "room%d" % (device % 4)
    value = {
        "schema_version": SCHEMA_VERSION,
        "device_id": "%s-%s-smoke" % (home, room),
        "home": home,
        "room": room,
        "event_time_ms": 1654712187000 + seq * 1000,
        "seq": seq,
        "cnt": seq,
        "fire_alarm": 0,
    }
    for i, (key, (low, high)) in enumerate(CHANNELS.items()):
        value[key] = round(low + (high - low) * (((seq * 0.37) + i * 0.11) % 1.0) * 0.5, 3)
    return value


def produce(args):
    producer = Producer(
        {
            "bootstrap.servers": args.bootstrap,
            "partitioner": "murmur2_random",
            "linger.ms": 5,
            "acks": "all",
        }
    )
    placements = {}
    failures = []

    def delivered(err, msg):
        if err is not None:
            failures.append(str(err))
        else:
            placements[msg.key().decode()] = msg.partition()

    devices = 50
    for n in range(args.count):
        value = reading(args.device_prefix, n % devices, n // devices)
        while True:
            try:
                producer.produce(
                    args.topic,
                    key=value["device_id"].encode(),
                    value=json.dumps(value).encode(),
                    headers=[
                        ("schema_version", str(SCHEMA_VERSION).encode()),
                        ("content_type", CONTENT_TYPE.encode()),
                    ],
                    timestamp=value["event_time_ms"],
                    on_delivery=delivered,
                )
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    left = producer.flush(60)
    if left or failures:
        print("undelivered: %d, failures: %s" % (left, failures[:5]), file=sys.stderr)
    print(json.dumps({"delivered": args.count - left - len(failures), "placements": placements}))


def consumer_for(args):
    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap,
            "group.id": "smokewatch-interop",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 100,
        }
    )
    consumer.assign([TopicPartition(args.topic, p, 0) for p in range(args.partitions)])
    return consumer


def check_value(key, raw, problems):
    try:
        value = json.loads(raw)
    except ValueError as e:
        problems.append("value of %r is not JSON: %s" % (key, e))
        return
    missing = [f for f in REQUIRED if f not in value]
    if missing:
        problems.append("value of %r lacks %s" % (key, missing))
        return
    if value["schema_version"] != SCHEMA_VERSION:
        problems.append("schema_version %r" % value["schema_version"])
    if value["device_id"] != key:
        problems.append("key %r but device_id %r" % (key, value["device_id"]))
    for channel, (low, high) in CHANNELS.items():
        v = value.get(channel)
        if v is not None and not (low <= v <= high):
            problems.append("%s = %r outside %r..%r" % (channel, v, low, high))


def consume(args):
    consumer = consumer_for(args)
    problems, key_partitions, headers = [], {}, {}
    last_offset, in_order, count = {}, True, 0
    deadline = time.time() + 120
    while count < args.expect and time.time() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            print("consumer error: %s" % msg.error(), file=sys.stderr)
            continue
        count += 1
        key = msg.key().decode() if msg.key() is not None else None
        if key is None:
            problems.append("record without key at %d/%d" % (msg.partition(), msg.offset()))
            continue
        key_partitions.setdefault(key, set()).add(msg.partition())
        for name, value in msg.headers() or []:
            headers.setdefault(name, set()).add(value.decode())
        if last_offset.get(msg.partition(), -1) >= msg.offset():
            in_order = False
        last_offset[msg.partition()] = msg.offset()
        check_value(key, msg.value(), problems)
    consumer.close()
    print(
        json.dumps(
            {
                "count": count,
                "problems": problems[:20],
                "key_partitions": {k: sorted(v) for k, v in key_partitions.items()},
                "headers": {k: sorted(v) for k, v in headers.items()},
                "offsets_in_order": in_order,
            }
        )
    )


def bench(args):
    consumer = consumer_for(args)
    records = size = 0
    started = None
    deadline = time.time() + 300
    while records < args.expect and time.time() < deadline:
        batch = consumer.consume(num_messages=10000, timeout=0.5)
        for msg in batch:
            if msg.error():
                continue
            if started is None:
                started = time.perf_counter()
            records += 1
            size += len(msg.value() or b"") + len(msg.key() or b"")
    seconds = time.perf_counter() - started if started else 0.0
    consumer.close()
    # ru_maxrss is in KiB on Linux.
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"records": records, "bytes": size, "seconds": seconds, "max_rss_bytes": max_rss}))


def bench_produce(args):
    producer = Producer(
        {
            "bootstrap.servers": args.bootstrap,
            "partitioner": "murmur2_random",
            "linger.ms": 5,
            "batch.size": 1048576,
            "compression.codec": args.compression,
            "acks": "all",
        }
    )
    devices = 1000
    records = []
    for n in range(args.count):
        value = reading(args.device_prefix, n % devices, n // devices)
        records.append((value["device_id"].encode(), json.dumps(value).encode(), value["event_time_ms"]))
    size = sum(len(k) + len(v) for k, v, _ in records)
    failures = []

    def delivered(err, _msg):
        if err is not None:
            failures.append(str(err))

    started = time.perf_counter()
    for key, value, timestamp in records:
        while True:
            try:
                producer.produce(args.topic, key=key, value=value, timestamp=timestamp, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.05)
    left = producer.flush(120)
    seconds = time.perf_counter() - started
    if left or failures:
        print("undelivered: %d, failures: %s" % (left, failures[:5]), file=sys.stderr)
        sys.exit(1)
    print(json.dumps({"records": args.count, "bytes": size, "seconds": seconds}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["produce", "consume", "bench", "bench-produce"])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--expect", type=int, default=0)
    parser.add_argument("--partitions", type=int, default=1)
    parser.add_argument("--device-prefix", default="py")
    parser.add_argument("--compression", default="none")
    args = parser.parse_args()
    try:
        modes = {"produce": produce, "consume": consume, "bench": bench, "bench-produce": bench_produce}
        modes[args.mode](args)
    except KafkaException as e:
        print("kafka error: %s" % e, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
