"""The ``riverbed`` command as a user runs it: real processes, a real broker."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import uuid

import orjson
import pytest

from flows.broker import create_topics, free_port
from flows.produce import produce_synthetic
from tests.integration.procs import RIVERBED, ROOT, child_env, riverbed, topics


def test_the_child_runs_this_checkout():
    out = riverbed("--help")
    probe = subprocess.run(
        [sys.executable, "-c", "import flows; print(flows.__file__)"],
        capture_output=True, text=True, cwd="/", env=child_env(), check=True,
    )  # fmt: skip
    assert out.returncode == 0
    assert probe.stdout.strip() == str(ROOT / "flows" / "__init__.py")


def test_help_lists_the_commands():
    out = riverbed("--help")
    assert out.returncode == 0
    for command in ("demo", "run", "validate", "init", "replay", "broker", "models"):
        assert command in out.stdout
        assert riverbed(command, "--help").returncode == 0


def test_run_reports_every_config_error_and_exits_2(tmp_path):
    cfg = tmp_path / "job.toml"
    cfg.write_text('[source]\nkind = "kafak"\n[batch]\nmax_events = 0\n')
    out = riverbed("run", str(cfg))
    assert out.returncode == 2
    assert "source.kind: expected one of file, kafka, synthetic, got 'kafak'" in out.stderr
    assert "batch.max_events: expected an integer >= 1, got 0" in out.stderr
    assert "models: expected at least one [[models]] table" in out.stderr


def test_demo_runs_end_to_end_and_keeps_its_outputs(tmp_path):
    out = riverbed("demo", "--events", "4000", "--runs-dir", str(tmp_path))
    assert out.returncode == 0, out.stderr[-2000:]
    assert "served" in out.stdout and "alerts:" in out.stdout
    (run_dir,) = list(tmp_path.iterdir())
    summary = orjson.loads((run_dir / "summary.json").read_bytes())
    assert summary["predictions"] == 4000
    assert len((run_dir / "predictions.jsonl").read_bytes().splitlines()) == 4000
    assert "rdkafka" not in out.stderr  # no client noise while the broker starts


def test_broker_command_serves_kafka_until_sigterm(tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [*RIVERBED, "broker", "--port", str(port), "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=child_env(),
    )
    try:
        line = proc.stdout.readline()
        assert f"127.0.0.1:{port}" in line
        create_topics(f"127.0.0.1:{port}", ["t"])
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(30) == 0


def test_run_writes_predictions_to_kafka_keyed_by_id_as_kcat_sees_them(broker, tmp_path):
    kcat = shutil.which("kcat") or shutil.which("kafkacat")
    if kcat is None:
        pytest.skip("kcat is not installed (Debian package kcat)")
    tag = uuid.uuid4().hex[:8]
    events, labels, preds = f"ev-{tag}", f"lab-{tag}", f"pred-{tag}"
    create_topics(broker.address, [events, labels, preds])
    produce_synthetic(broker.address, events, labels, 2000, 1000, label_delay=50)
    cfg = tmp_path / "job.toml"
    cfg.write_text(
        f"""
[source]
kind = "kafka"
brokers = "{broker.address}"
events_topic = "{events}"
labels_topic = "{labels}"
stop_at_end = true
[features]
numeric = ["salary", "age"]
categorical = ["car"]
[[models]]
name = "lr"
estimator = "logistic_regression"
[sinks.predictions]
kind = "kafka"
brokers = "{broker.address}"
topic = "{preds}"
"""
    )
    out = riverbed("run", str(cfg), "--summary", str(tmp_path / "s.json"))
    assert out.returncode == 0, out.stderr[-2000:]
    got = subprocess.run(
        [kcat, "-C", "-b", broker.address, "-t", preds, "-e", "-q", "-f", "%k\t%s\n"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    rows = [line.split("\t", 1) for line in got.stdout.splitlines() if line]
    assert len(rows) == 2000
    for key, value in rows:
        assert orjson.loads(value)["id"] == key
    assert sorted(int(k) for k, _ in rows) == list(range(2000))


KAFKA_JOB = """
[source]
kind = "kafka"
brokers = "{brokers}"
events_topic = "{events}"
labels_topic = "{labels}"
startup_timeout_s = 2
[features]
numeric = ["x"]
[[models]]
name = "m"
estimator = "logistic_regression"
[sinks.predictions]
kind = "kafka"
brokers = "{brokers}"
topic = "{out}"
"""


def test_validate_connect_checks_the_broker_and_every_topic(broker, tmp_path):
    events, labels, out = topics(broker.address, "events", "labels", "out")
    job = tmp_path / "job.toml"
    job.write_text(KAFKA_JOB.format(brokers=broker.address, events=events, labels=labels, out=out))
    ok = riverbed("validate", str(job), "--connect")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip().endswith("broker and topics checked)")
    assert riverbed("validate", str(job)).returncode == 0  # no connection without --connect

    job.write_text(KAFKA_JOB.format(brokers=broker.address, events=events, labels="gone-" + labels,
                                    out="gone-" + out))  # fmt: skip
    missing = riverbed("validate", str(job), "--connect")
    assert missing.returncode == 2
    assert missing.stderr.splitlines() == [
        f"riverbed: {job}: kafka source: labels topic 'gone-{labels}' does not exist on "
        f"{broker.address}",
        f"riverbed: {job}: sinks.predictions.topic: 'gone-{out}' does not exist on "
        f"{broker.address}",
    ]

    nobody = f"127.0.0.1:{free_port()}"
    job.write_text(KAFKA_JOB.format(brokers=nobody, events=events, labels=labels, out=out))
    down = riverbed("validate", str(job), "--connect")
    assert down.returncode == 2
    lines = down.stderr.splitlines()
    assert len(lines) == 2, down.stderr
    assert lines[0].startswith(f"riverbed: {job}: kafka source: no answer from broker(s) {nobody}")
    assert lines[1].startswith(
        f"riverbed: {job}: sinks.predictions.brokers: no answer from {nobody}"
    )
