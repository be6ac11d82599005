"""Topics of several partitions: the source merges every partition in event time, so a stream
spread over three partitions gives, byte for byte, the outputs and the state of the same stream
on one partition; so does a run SIGKILLed and resumed; and a replay by time seeks each
partition to its own offset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition

from flows.config import parse
from flows.replay import Bound, run_replay
from flows.runner import run_job
from tests.integration import streams
from tests.integration.procs import (
    file_size,
    lines,
    produce,
    riverbed,
    stable,
    start_riverbed,
    topics,
    write_config,
)
from tests.integration.test_crash import SINKS, crash_job, run_until

N, P = 40_000, 3


@pytest.fixture(scope="module")
def spread(broker, tmp_path_factory) -> dict[str, Any]:
    """The same stream on one-partition and on three-partition topics, and the job's run over
    the one-partition topics (the reference)."""
    one = topics(broker.address, "events", "labels")
    three = topics(broker.address, "events", "labels", partitions=P)
    for (ev, lab), parts in ((one, 1), (three, P)):
        stream = streams.records(ev, lab, N, seed=5, drift_at=N // 2)
        produce(broker.address, stream, partitions=parts)
    home = tmp_path_factory.mktemp("partitions")
    reference = run_job(parse(crash_job(broker.address, *one, home / "one", None)))
    return {"three": three, "reference": reference, "ref_out": home / "one"}


def check_outputs(out: Path, ref_out: Path, events_topic: str) -> None:
    """The outputs of the one-partition run, but for where each prediction's event was read
    (``source``): event i is record i // P of partition i % P."""
    got, want = lines(out / "predictions.jsonl"), lines(ref_out / "predictions.jsonl")
    assert [p.pop("source") for p in got] == [
        f"{events_topic}/{i % P}@{i // P}" for i in (int(p["id"]) for p in got)
    ]
    for p in want:
        del p["source"]
    assert got == want
    for name in SINKS[1:]:
        a, b = out / f"{name}.jsonl", ref_out / f"{name}.jsonl"
        assert a.exists() == b.exists() and (not b.exists() or a.read_bytes() == b.read_bytes())


def test_every_partition_holds_records(broker, spread):
    c = Consumer({"bootstrap.servers": broker.address, "group.id": "watermarks"})
    try:
        for topic in spread["three"]:
            counts = [c.get_watermark_offsets(TopicPartition(topic, p), 10) for p in range(P)]
            assert sum(high - low for low, high in counts) == N
            assert all(high - low > N // (2 * P) for low, high in counts), counts
    finally:
        c.close()


def test_three_partitions_give_the_outputs_and_state_of_one(broker, spread, tmp_path):
    summary = run_job(parse(crash_job(broker.address, *spread["three"], tmp_path, None)))
    assert summary["predictions"] == N and summary["drift_alerts"] >= 1
    assert stable(summary) == stable(spread["reference"])
    check_outputs(tmp_path, spread["ref_out"], spread["three"][0])


def test_sigkilled_and_resumed_on_three_partitions_equals_the_uninterrupted_run(
    broker, spread, tmp_path
):
    out = tmp_path / "out"
    raw = crash_job(broker.address, *spread["three"], out, tmp_path / "recovery")
    job = write_config(tmp_path / "job.toml", raw)
    summary_path, log = tmp_path / "summary.json", tmp_path / "log"
    full = file_size(spread["ref_out"] / "predictions.jsonl")
    kills = 0
    for fraction in (0.3, 0.7):
        proc = start_riverbed("run", str(job), "--summary", str(summary_path), log=log)
        at = fraction * full
        kills += run_until(proc, lambda at=at: file_size(out / "predictions.jsonl") >= at, 0.05)
    final = riverbed("run", str(job), "--summary", str(summary_path))
    assert final.returncode == 0, final.stderr[-3000:]
    assert kills >= 1, log.read_text()[-3000:]
    summary = orjson.loads(summary_path.read_bytes())
    assert stable(summary) == stable(spread["reference"])
    check_outputs(out, spread["ref_out"], spread["three"][0])


def test_a_replay_by_time_seeks_each_partition(broker, spread, tmp_path: Path):
    ev, lab = spread["three"]
    cfg = parse(streams.job(broker.address, ev, lab, str(tmp_path / "unused")))
    t0 = streams.T0
    run_replay(cfg, Bound("time", t0 + 10_000), Bound("time", t0 + 30_000), out_dir=tmp_path)
    assert sorted(int(p["id"]) for p in lines(tmp_path / "predictions.jsonl")) == list(
        range(10_000, 30_000)
    )
    plan = orjson.loads((tmp_path / "replay.json").read_bytes())
    starts = {k: v["start"] for k, v in plan["partitions"].items() if k.startswith(ev)}
    # Event i is record i // P of partition i % P: offsets-for-times of 10000 finds, in each
    # partition, the first record at or after it.
    assert starts == {f"{ev}/{p}": -(-(10_000 - p) // P) for p in range(P)}
