"""SIGTERM and SIGINT stop ``riverbed run`` gracefully: the job ends its input after the
current batch, writes the final snapshot and the run summary, and exits 0; run again, it
resumes exactly where it stopped: the stopped run and the resumed one together equal one
uninterrupted run (state in the summary, and the predictions file byte for byte)."""

from __future__ import annotations

import signal
from pathlib import Path

import orjson
import pytest

from flows.config import parse
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
    wait_for,
    write_config,
)

N = 60_000


def kafka_job(brokers: str, out: Path) -> dict:
    ev, lab = topics(brokers, "events", "labels")
    produce(brokers, streams.records(ev, lab, N, seed=5, drift_at=N // 2))
    return streams.job(brokers, ev, lab, str(out))


def file_job(brokers: str, out: Path) -> dict:
    # Labels inline, held back 100 events by the label-delay step: a stop must not release
    # the held labels early (they belong after events the stopped run has not read).
    path = out.parent / "events.jsonl"
    if not path.exists():
        with open(path, "wb") as f:
            for event, lab in streams.rows(N, seed=6, drift_at=N // 2):
                f.write(orjson.dumps({**event, "label": lab["label"]}) + b"\n")
    raw = streams.job(brokers, "-", "-", str(out))
    raw["source"] = {"kind": "file", "path": str(path), "label_delay": 100}
    return raw


def with_checkpoint(raw: dict, directory: Path) -> dict:
    return {**raw, "checkpoint": {"directory": str(directory), "interval_s": 0.5}}


@pytest.mark.parametrize(
    ("sig", "make"),
    [(signal.SIGTERM, kafka_job), (signal.SIGINT, file_job)],
    ids=["SIGTERM-kafka", "SIGINT-file-with-label-delay"],
)
def test_a_signal_stops_gracefully_and_the_resumed_run_equals_an_uninterrupted_one(
    broker, tmp_path, sig, make
):
    ref_out, out = tmp_path / "reference", tmp_path / "stopped"
    raw = make(broker.address, ref_out)
    reference = run_job(parse(raw), str(ref_out / "summary.json"))

    job_raw = with_checkpoint(make_like(raw, ref_out, out), tmp_path / "recovery")
    job = write_config(tmp_path / "job.toml", job_raw)
    summary_path = tmp_path / "summary.json"
    proc = start_riverbed("run", str(job), "--summary", str(summary_path), log=tmp_path / "1.log")
    try:
        wait_for(lambda: file_size(out / "predictions.jsonl") > 0, 120, "first predictions")
        proc.send_signal(sig)
        assert proc.wait(120) == 0, (tmp_path / "1.log").read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    log = (tmp_path / "1.log").read_text()
    first = orjson.loads(summary_path.read_bytes())
    assert first["stopped_by"] == signal.Signals(sig).name
    assert 0 < first["predictions"] < N, "the job was not stopped midway"
    assert f"stopped by {signal.Signals(sig).name}" in log
    # The final snapshot was taken at the stop: the outputs are exactly what was predicted.
    assert len(lines(out / "predictions.jsonl")) == first["predictions"]

    second = riverbed("run", str(job), "--summary", str(summary_path))
    assert second.returncode == 0, second.stderr[-3000:]
    resumed = orjson.loads(summary_path.read_bytes())
    assert resumed["stopped_by"] is None
    assert stable(resumed) == stable(reference)
    assert (out / "predictions.jsonl").read_bytes() == (ref_out / "predictions.jsonl").read_bytes()


def make_like(raw: dict, ref_out: Path, out: Path) -> dict:
    """The same job writing its sinks under ``out`` instead of ``ref_out``."""
    text = orjson.dumps(raw).decode().replace(str(ref_out), str(out))
    return orjson.loads(text)
