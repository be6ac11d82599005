"""The broker goes wrong: down at start, a topic missing, paused or killed mid-run, records
gone. At start: a clear error naming the broker and the topic within the start-up timeout,
exit code 1, never a hang. Mid-run: the job waits and carries on, and ends with the state of
an uninterrupted run. An offset the broker no longer has is never skipped silently.

The brokers paused and killed here are the tests' own (``own_broker``: Apache Kafka and
noida-db), stopped by their PIDs.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient

from flows.broker import EmbeddedBroker, free_port
from flows.config import parse
from flows.errors import SourceError
from flows.runner import run_job
from flows.sources import KafkaSource
from tests.integration import streams
from tests.integration.procs import (
    file_size,
    lines,
    produce,
    riverbed,
    stable,
    topics,
    wait_for,
    write_config,
)

N = 60_000


def small_job(tmp_path: Path, brokers: str, events: str = "events", timeout: float = 2.0) -> Path:
    raw = streams.job(brokers, events, "", str(tmp_path / "out"))
    raw["source"]["startup_timeout_s"] = timeout
    return write_config(tmp_path / "job.toml", raw)


# --- at start ------------------------------------------------------------------------------


def test_broker_down_at_start_is_a_clear_error_naming_broker_and_topic(tmp_path):
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    began = time.monotonic()
    out = riverbed("run", str(small_job(tmp_path, address, "orders")), timeout=60)
    took = time.monotonic() - began
    assert out.returncode == 1, out.stderr[-2000:]
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("riverbed: kafka source: no answer from broker(s) " + address)
    assert "'orders'" in last and "source.startup_timeout_s" in last
    assert "Traceback" not in out.stderr
    print(f"broker down: exit 1 after {took:.1f} s (startup_timeout_s = 2)")


def test_a_broker_that_accepts_connections_but_never_answers_is_no_hang(own_broker, tmp_path):
    assert own_broker.proc is not None
    os.kill(own_broker.proc.pid, signal.SIGSTOP)
    try:
        out = riverbed("run", str(small_job(tmp_path, own_broker.address)), timeout=60)
    finally:
        os.kill(own_broker.proc.pid, signal.SIGCONT)
    assert out.returncode == 1
    assert f"no answer from broker(s) {own_broker.address}" in out.stderr


@pytest.mark.smoke
def test_missing_topic_is_a_clear_error_naming_it(broker, tmp_path):
    out = riverbed("run", str(small_job(tmp_path, broker.address, "no-such-topic")), timeout=60)
    assert out.returncode == 1
    last = out.stderr.strip().splitlines()[-1]
    assert last == (
        f"riverbed: kafka source: events topic 'no-such-topic' does not exist on {broker.address}"
    )


# --- mid-run -------------------------------------------------------------------------------


def interrupted_run(
    tmp_path: Path, broker: EmbeddedBroker, outage: str
) -> tuple[dict, dict, Path, Path]:
    """Run the job while its topics are written, with the broker paused or killed (and
    restarted) in between; then run it again on the complete topics without trouble (the
    reference). Return both summaries and output folders.

    The job drains up to fixed end offsets (N records per topic, most of them produced only
    after the outage): it must go back to the broker once it is up again. (A job started on
    complete topics need not: noida-db answers a fetch with everything it has.)
    """
    ev, lab = topics(broker.address, "events", "labels")
    records = list(streams.records(ev, lab, N, seed=3, drift_at=N // 2))
    first, rest = records[: len(records) // 5], records[len(records) // 5 :]
    produce(broker.address, first)
    # A clean restart puts what was written on disk: it survives the SIGKILL below.
    broker.stop()
    broker.start()
    ref_out, out = tmp_path / "reference", tmp_path / "interrupted"
    raw = streams.job(broker.address, ev, lab, str(out))
    source = KafkaSource(
        broker.address,
        ev,
        lab,
        stop_at_end=True,
        max_events=raw["batch"]["max_events"],
        ends={f"{ev}/0": N, f"{lab}/0": N},
    )
    result: dict[str, Any] = {}

    def job() -> None:
        try:
            result["summary"] = run_job(parse(raw), source=source)
        except BaseException as exc:  # reported by the test thread
            result["error"] = exc

    runner = threading.Thread(target=job, daemon=True)
    runner.start()
    wait_for(lambda: file_size(out / "predictions.jsonl") > 0, 120, "first predictions")
    assert broker.proc is not None
    if outage == "pause":
        os.kill(broker.proc.pid, signal.SIGSTOP)
        time.sleep(3.0)
        os.kill(broker.proc.pid, signal.SIGCONT)
    else:
        os.kill(broker.proc.pid, signal.SIGKILL)
        broker.proc.wait()
        time.sleep(2.0)
        broker.start()  # same port, same data directory
    assert runner.is_alive(), "the job ended while the broker was away"
    produce(broker.address, rest)
    runner.join(300)
    assert not runner.is_alive(), "the job did not end"
    assert "error" not in result, result.get("error")
    reference = run_job(parse(streams.job(broker.address, ev, lab, str(ref_out))))
    return reference, result["summary"], ref_out, out


@pytest.mark.parametrize("outage", ["pause", "kill"])
def test_broker_away_mid_run_and_back_loses_nothing(own_broker, tmp_path, outage):
    reference, summary, ref_out, out = interrupted_run(tmp_path, own_broker, outage)
    assert summary["predictions"] == N
    assert sorted(int(p["id"]) for p in lines(out / "predictions.jsonl")) == list(range(N))
    assert stable(summary) == stable(reference)
    assert (out / "predictions.jsonl").read_bytes() == (ref_out / "predictions.jsonl").read_bytes()


# --- records the broker no longer has ------------------------------------------------------


def read_all(src: KafkaSource, resume: dict[str, int] | None) -> int:
    part = src.build_part("source", "merged", resume)
    got = 0
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                batches = part.next_batch()
            except StopIteration:
                return got
            got += sum(len(batch) for batch in batches)
            time.sleep(0.005)
        raise AssertionError("the source neither ended nor failed within 60 s")
    finally:
        part.close()


def test_records_deleted_before_the_job_read_them_stop_it_with_a_clear_error(broker):
    (ev,) = topics(broker.address, "events")
    produce(broker.address, ((ev, b'{"id": %d}' % i, streams.T0 + i) for i in range(100)))
    admin = AdminClient({"bootstrap.servers": broker.address})
    for future in admin.delete_records([TopicPartition(ev, 0, 60)]).values():
        future.result(30)
    src = KafkaSource(broker.address, ev, startup_timeout_s=5, max_events=10)
    # A job resumed at offset 10 would silently start at 60 with librdkafka's defaults.
    with pytest.raises(SourceError, match=r"records 10\.\.59 were deleted .* oldest record left"):
        read_all(src, {f"{ev}/0": 10})
    assert read_all(KafkaSource(broker.address, ev, stop_at_end=True, max_events=10), None) == 40


def test_a_broker_that_lost_records_the_job_had_read_stops_it_with_a_clear_error(broker):
    (ev,) = topics(broker.address, "events")
    produce(broker.address, ((ev, b'{"id": %d}' % i, streams.T0 + i) for i in range(100)))
    src = KafkaSource(broker.address, ev, startup_timeout_s=1, max_events=10)
    with pytest.raises(SourceError, match="read up to offset 500, but the broker now ends at 100"):
        read_all(src, {f"{ev}/0": 500})
