"""The Kafka sink checks every delivery: a record the broker did not take is sent again
(``retries``), then fails the job naming its key; a record over the topic's size limit is
skipped with a report or fails loudly (never silently lost); every record, alerts included,
is keyed by its deterministic id."""

from __future__ import annotations

import os
import signal
import threading

import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition

from flows.broker import create_topics
from flows.config import parse
from flows.errors import SinkError
from flows.runner import run_job
from flows.sinks import KafkaSink, dumps
from operators.records import SinkRecords
from tests.integration import streams
from tests.integration.procs import produce, tag, topics


def messages(brokers: str, topic: str, partitions: int = 1) -> list[tuple[str, dict]]:
    """Every message of the topic, partition after partition, each in offset order."""
    c = Consumer({"bootstrap.servers": brokers, "group.id": "t", "enable.auto.commit": False})
    try:
        out: list[tuple[str, dict]] = []
        for p in range(partitions):
            _low, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            c.assign([TopicPartition(topic, p, 0)])
            mine: list[tuple[str, dict]] = []
            while len(mine) < high:
                for m in c.consume(1000, timeout=1.0):
                    if m.error() is None:
                        mine.append((m.key().decode(), orjson.loads(m.value())))
            out.extend(mine)
        return out
    finally:
        c.close()


def sink_partition(brokers: str, topic: str, **kw):
    return KafkaSink(brokers, topic, name="predictions", **kw).build_part("sink", "kafka", None)


def records(n: int, prefix: str = "k") -> list[dict]:
    return [{"id": f"{prefix}{i}", "prediction": i % 2} for i in range(n)]


def encoded(rows: list[dict]) -> list[SinkRecords]:
    """One batch's records as the output guard hands them to a sink."""
    return [SinkRecords(tuple(r["id"].encode() for r in rows), tuple(dumps(r) for r in rows))]


def test_a_delivery_that_fails_fails_the_job_naming_the_record(own_broker):
    (topic,) = topics(own_broker.address, "out")
    part = sink_partition(own_broker.address, topic, retries=0, delivery_timeout_s=1.0)
    assert own_broker.proc is not None
    os.kill(own_broker.proc.pid, signal.SIGSTOP)  # the broker takes nothing
    try:
        with pytest.raises(SinkError) as info:
            part.write_batch(encoded(records(3)))
    finally:
        os.kill(own_broker.proc.pid, signal.SIGCONT)
    msg = str(info.value)
    assert f"kafka sink 'predictions' (topic {topic!r} on {own_broker.address})" in msg
    assert "record key 'k0' not delivered after 1 attempts" in msg
    assert "sinks.predictions.retries = 0" in msg and "(and 2 more records)" in msg


def test_failed_deliveries_are_sent_again_until_the_broker_takes_them(own_broker, capfd):
    (topic,) = topics(own_broker.address, "out")
    part = sink_partition(own_broker.address, topic, retries=30, delivery_timeout_s=1.0)
    assert own_broker.proc is not None
    os.kill(own_broker.proc.pid, signal.SIGSTOP)
    wake = threading.Timer(3.0, os.kill, (own_broker.proc.pid, signal.SIGCONT))
    wake.start()
    try:
        part.write_batch(encoded(records(50)))
    finally:
        wake.join()
    assert "sending them again (retry 1 of 30)" in capfd.readouterr().err
    got = messages(own_broker.address, topic)
    # At least once: every record is there, keyed by its id (a retry may repeat one).
    assert {k for k, _ in got} == {f"k{i}" for i in range(50)}
    assert all(v["id"] == k for k, v in got)
    part.close()


@pytest.mark.parametrize("oversize", ["skip", "dead_letter"])
def test_a_record_over_the_topics_limit_is_skipped_or_fails_loudly(broker, capfd, oversize):
    topic = f"small-{tag()}"
    create_topics(broker.address, [topic], config={"max.message.bytes": "4096"})
    part = sink_partition(broker.address, topic, oversize=oversize)  # limit learned from topic
    batch = [*records(3), {"id": "huge", "blob": "x" * 10_000}, *records(3, "j")]
    if oversize == "skip":
        part.write_batch(encoded(batch))
        err = capfd.readouterr().err
        assert "record key 'huge' (10023 bytes) refused as too large" in err and "skipped" in err
        keys = sorted(k for k, _ in messages(broker.address, topic))
        assert keys == sorted([*(f"k{i}" for i in range(3)), *(f"j{i}" for i in range(3))])
    else:
        # The output guard sends such records to the dead letters before they reach the sink;
        # the sink itself, given one, fails naming it rather than drop it.
        with pytest.raises(SinkError, match="record key 'huge' .* refused as too large"):
            part.write_batch(encoded(batch))
    part.close()


def test_alerts_are_keyed_by_a_deterministic_id(broker, tmp_path):
    n = 20_000
    ev, lab, alerts = topics(broker.address, "events", "labels", "alerts")
    produce(broker.address, streams.records(ev, lab, n, seed=2, drift_at=n // 2))
    raw = streams.job(broker.address, ev, lab, str(tmp_path))
    raw["sinks"]["alerts"] = {"kind": "kafka", "brokers": broker.address, "topic": alerts}
    summary = run_job(parse(raw))
    assert summary["drift_alerts"] >= 1
    got = messages(broker.address, alerts)
    assert len(got) == summary["drift_alerts"]
    for key, alert in got:
        assert (
            key
            == alert["id"]
            == f"{alert['kind']}/{alert['detector']}/{alert['model']}/{alert['position']}"
        )


def test_resumed_from_a_snapshot_the_sink_writes_nothing_twice(broker):
    """A crash after the snapshot: what the crashed execution wrote since is in the topic,
    and the resumed one produces it again (deterministic outputs). The sink skips it, in
    each of the topic's partitions, and writes the rest: every record once."""
    topic = f"once-{tag()}"
    create_topics(broker.address, [topic], partitions=3)
    sink = KafkaSink(broker.address, topic, name="predictions")
    first = sink.build_part("sink", "kafka", None)
    first.write_batch(encoded(records(40, "a")))
    state = first.snapshot()
    first.write_batch(encoded(records(30, "b")))  # written, then the crash: no snapshot
    first.write_batch(encoded(records(10, "c")[:7]))  # half a batch
    first.close()
    resumed = sink.build_part("sink", "kafka", state)
    resumed.write_batch(encoded(records(30, "b")))
    resumed.write_batch(encoded(records(10, "c")))
    resumed.write_batch(encoded(records(20, "d")))
    assert resumed.duplicates_skipped == 37
    resumed.close()
    got = messages(broker.address, topic, partitions=3)
    keys = [k for k, _ in got]
    want = {f"{p}{i}" for p, n in (("a", 40), ("b", 30), ("c", 10), ("d", 20)) for i in range(n)}
    assert len(keys) == len(want) and set(keys) == want
    # Each partition holds its records in the order they were written.
    c = Consumer({"bootstrap.servers": broker.address, "group.id": "t"})
    try:
        sizes = [c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(3)]
    finally:
        c.close()
    assert all(sizes) and sum(sizes) == len(want)
    # Records that were not written before the crash are produced, even when they come
    # first in a partition: a fresh start (no snapshot) skips nothing.
    again = sink.build_part("sink", "kafka", None)
    again.write_batch(encoded(records(5, "a")))
    assert again.duplicates_skipped == 0
    again.close()
    assert len(messages(broker.address, topic, partitions=3)) == len(want) + 5
