#!/usr/bin/env python3
"""Produces Smart Home room events as that system's producer does, for
tests/kafka_smart_home.rs: each line of --file (one JSON message) is sent
unchanged to --topic with confluent-kafka (librdkafka), keyed by its room.
Prints {"delivered": N} on stdout; diagnostics go to stderr."""

import argparse
import json
import sys

from confluent_kafka import Producer


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--file", required=True)
    args = parser.parse_args()
    producer = Producer({"bootstrap.servers": args.bootstrap, "linger.ms": 5})
    delivered = 0
    failed = []

    def report(err, _msg):
        nonlocal delivered
        if err is None:
            delivered += 1
        else:
            failed.append(str(err))

    with open(args.file, encoding="utf-8") as lines:
        for line in lines:
            line = line.strip()
            if not line:
                continue
            room = json.loads(line).get("room", "")
            producer.produce(args.topic, key=room, value=line, on_delivery=report)
            producer.poll(0)
    left = producer.flush(30)
    if failed or left:
        print(json.dumps({"delivered": delivered, "failed": failed[:5], "left": left}))
        sys.exit(1)
    print(json.dumps({"delivered": delivered}))


if __name__ == "__main__":
    main()
