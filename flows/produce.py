"""Produce the synthetic stream to Kafka: events on one topic, their labels, late, on another.

The label of event ``i`` carries the timestamp of event ``i + label_delay`` (the stream has one
event per millisecond of event time), so a consumer that merges the two topics in event time
sees each label ``label_delay`` events after its event. ``bad_every`` > 0 slips a malformed
record (of a rotating kind) into the events topic after every that many events, to show the
dead-letter path.
"""

from __future__ import annotations

from confluent_kafka import Producer

from flows import synthetic
from flows.sinks import dumps
from flows.sources import kafka_logger

__all__ = ["produce_synthetic", "BAD_RECORDS"]

BAD_RECORDS = (
    b'{"id": "bad", "salary": ',  # malformed JSON
    b'["not", "an", "object"]',  # JSON that is not an object
    b'{"salary": 1.0}',  # missing id
    b'{"id": "bad-type", "salary": "high", "commission": 0, "age": 30, "hvalue": 1, '
    b'"hyears": 1, "loan": 1}',  # a string where a number belongs
)


def produce_synthetic(
    brokers: str,
    events_topic: str,
    labels_topic: str,
    n: int,
    drift_at: int,
    *,
    drift_width: int = 1,
    seed: int = 42,
    label_delay: int = 500,
    bad_every: int = 0,
) -> int:
    """Produce ``n`` events (plus bad records) and their labels; return the records produced."""
    producer = Producer(
        {
            "bootstrap.servers": brokers,
            "linger.ms": 20,
            "batch.size": 1 << 20,
            "logger": kafka_logger(),
        }
    )
    produced = 0
    for i, row in enumerate(synthetic.events(n, drift_at, drift_width, seed)):
        label = row.pop("label")
        ts = row["ts"]
        producer.produce(events_topic, dumps(row), str(row["id"]).encode(), timestamp=ts)
        producer.produce(
            labels_topic,
            dumps({"id": row["id"], "label": label}),
            str(row["id"]).encode(),
            timestamp=ts + label_delay,
        )
        produced += 2
        if bad_every and (i + 1) % bad_every == 0:
            bad = BAD_RECORDS[(i // bad_every) % len(BAD_RECORDS)]
            producer.produce(events_topic, bad, timestamp=ts)
            produced += 1
        if i % 10_000 == 0:
            producer.poll(0)
    remaining = producer.flush(60)
    if remaining:
        raise RuntimeError(f"{remaining} records were not delivered to {brokers}")
    return produced
