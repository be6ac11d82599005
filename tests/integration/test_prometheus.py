"""The job's Prometheus endpoint, scraped while a job tails a real Kafka-protocol broker:
checked by Prometheus's own ``promtool check metrics``, scraped by a real Prometheus server
(queried through its HTTP API), and holding every metric that docker/'s Grafana dashboard and
alert rules use."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from flows.broker import create_topics, free_port
from flows.produce import produce_synthetic

pytestmark = pytest.mark.integration

DOCKER = Path(__file__).resolve().parents[2] / "docker"
EVENTS, BAD_EVERY = 6000, 1000


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian package prometheus)")
    return path


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


def _value(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[-1])
    return None


@pytest.fixture(scope="module")
def job(broker, tmp_path_factory):
    """A job tailing a broker's topics after reading all of EVENTS events (plus bad records
    and late labels), with its metrics on a free port: ``(port, scrape text)``."""
    tmp = tmp_path_factory.mktemp("metrics-job")
    events, labels = f"m-events-{os.getpid()}", f"m-labels-{os.getpid()}"
    create_topics(broker.address, [events, labels])
    produce_synthetic(
        broker.address, events, labels, EVENTS, EVENTS // 2, label_delay=300, bad_every=BAD_EVERY
    )
    port = free_port()
    config = tmp / "job.toml"
    config.write_text(
        f"""
[job]
metrics_port = {port}
[source]
kind = "kafka"
brokers = "{broker.address}"
events_topic = "{events}"
labels_topic = "{labels}"
[features]
numeric = ["salary", "commission", "age", "hvalue", "hyears", "loan"]
categorical = ["elevel", "car", "zipcode"]
[batch]
max_events = 500
[[models]]
name = "a"
estimator = "fast_logistic_regression"
[[models]]
name = "b"
estimator = "river.naive_bayes.GaussianNB"
[feature_drift]
enabled = true
window = 1000
[checkpoint]
directory = "{tmp / "recovery"}"
interval_s = 0.5
[sinks.predictions]
kind = "jsonl"
path = "{tmp / "predictions.jsonl"}"
"""
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "run", str(config)], stderr=subprocess.PIPE
    )
    try:
        text, deadline = "", time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                text = _get(f"http://127.0.0.1:{port}/metrics")
            except OSError:
                text = ""
            if (
                _value(text, "riverbed_events_total") == EVENTS
                and "riverbed_checkpoint_size" in text
            ):
                break
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
            time.sleep(0.5)
        time.sleep(1.5)  # a snapshot after the last batch
        yield port, _get(f"http://127.0.0.1:{port}/metrics")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)


def test_a_live_scrape_passes_promtool_and_counts_what_the_job_read(job):
    promtool = _tool("promtool")
    _port, text = job
    check = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    # Independent counts: what the producer wrote.
    bad = EVENTS // BAD_EVERY
    assert _value(text, "riverbed_events_total") == EVENTS
    assert _value(text, "riverbed_labels_total") == EVENTS
    dead = sum(
        float(line.rsplit(" ", 1)[-1])
        for line in text.splitlines()
        if line.startswith("riverbed_dead_letters_total{")
    )
    assert dead == bad
    read = {
        m.group(1): float(m.group(2))
        for m in re.finditer(
            r'riverbed_source_records_total\{partition="0",source="([^"]+)"\} (\S+)', text
        )
    }
    assert sorted(read.values()) == [EVENTS, EVENTS + bad]  # labels; events and bad records
    lags = re.findall(r"riverbed_consumer_lag_records\{[^}]*\} (\S+)", text)
    assert len(lags) == 2 and all(float(v) == 0 for v in lags)  # caught up
    assert _value(text, "riverbed_label_latency_seconds_count") == EVENTS
    # Labels come 300 events (ms of event time) after their event: every one in the bucket
    # of 0.5 s, none in the one of 0.1 s.
    assert _value(text, 'riverbed_label_latency_seconds_bucket{le="0.1"}') == 0
    assert _value(text, 'riverbed_label_latency_seconds_bucket{le="0.5"}') == EVENTS
    assert _value(text, "process_resident_memory_bytes") > 0


def test_a_real_prometheus_scrapes_the_job(job, tmp_path):
    prometheus = _tool("prometheus")
    port, _text = job
    web = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s}\nscrape_configs:\n  - job_name: riverbed\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
    )
    proc = subprocess.Popen(
        [
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{web}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        query = urllib.parse.quote('riverbed_events_total{job="riverbed"}')
        result, deadline = [], time.monotonic() + 60
        while time.monotonic() < deadline and not result:
            try:
                answer = json.loads(_get(f"http://127.0.0.1:{web}/api/v1/query?query={query}"))
                result = answer["data"]["result"]
            except OSError:
                pass
            time.sleep(1)
        assert result, "Prometheus never had the job's event counter"
        assert float(result[0]["value"][1]) == EVENTS
    finally:
        proc.terminate()
        proc.wait(30)


def _names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (histogram series as their family)."""
    names = set(re.findall(r"\b((?:riverbed|process)_[a-z_]+)", expr))
    return {re.sub(r"_(bucket|sum|count)$", "", n) for n in names}


def test_every_metric_of_the_dashboard_and_the_alert_rules_is_in_a_live_scrape(job):
    _port, text = job
    samples = {
        re.sub(r"_(bucket|sum|count)$", "", line.split("{")[0].split(" ")[0])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    dashboard = json.loads((DOCKER / "grafana/dashboards/riverbed.json").read_text())
    used = {n for p in dashboard["panels"] for t in p["targets"] for n in _names(t["expr"])}
    rules = yaml.safe_load((DOCKER / "alerts.yml").read_text())
    used_by_rules = {n for g in rules["groups"] for r in g["rules"] for n in _names(r["expr"])}
    assert used and used_by_rules
    missing = sorted((used | used_by_rules) - samples)
    assert not missing, f"used by the dashboard or the rules but not in a scrape: {missing}"
