"""Feature drift through the flow: K-S/PSI/chi-square alerts after a known shift, none before;
the reservoir sample as reference; the same alerts after a crash and a resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import orjson

from tests.flows.helpers import read_jsonl, run_file, write_jsonl

SHIFT = 6000


def stream(n=10_000, seed=0):
    rng = np.random.default_rng(seed)
    a = np.where(np.arange(n) < SHIFT, rng.normal(size=n), rng.normal(1.0, size=n))
    b = rng.normal(size=n)
    shop = np.where(
        np.arange(n) < SHIFT, rng.choice(["x", "y"], size=n), rng.choice(["y", "z"], size=n)
    )
    return [
        {"id": i, "ts": i, "a": float(a[i]), "b": float(b[i]), "shop": str(shop[i]),
         "label": int(a[i] > 0)}
        for i in range(n)
    ]  # fmt: skip


def run(tmp_path, **feature_drift):
    sinks = {
        "predictions": {"kind": "jsonl", "path": str(tmp_path / "predictions.jsonl")},
        "alerts": {"kind": "jsonl", "path": str(tmp_path / "alerts.jsonl")},
    }
    extra = feature_drift.pop("extra", {})
    summary = run_file(
        tmp_path,
        stream(),
        features={"numeric": ["a", "b"], "categorical": ["shop"]},
        models=[{"name": "nb", "estimator": "gaussian_nb"}],
        feature_drift={"enabled": True, "window": 1000, **feature_drift},
        sinks=sinks,
        **extra,
    )
    alerts = [a for a in read_jsonl(tmp_path / "alerts.jsonl") if a["feature"] is not None]
    return summary, alerts


def test_shifted_features_alert_after_the_shift_and_stable_ones_never(tmp_path):
    _, alerts = run(tmp_path, reference="fixed", reference_size=3000)
    assert alerts
    assert all(a["window"]["end_position"] > SHIFT for a in alerts)
    assert {a["feature"] for a in alerts} == {"a", "shop"}  # b never moved
    assert {a["detector"] for a in alerts} >= {"ks", "chi2", "psi"}
    ks = [a for a in alerts if a["detector"] == "ks"]
    assert min(a["window"]["end_position"] for a in ks) <= SHIFT + 1000


def test_the_reservoir_sample_as_reference(tmp_path):
    _, alerts = run(
        tmp_path,
        reference="external",
        extra={"sampling": {"kind": "uniform", "size": 2000, "every_events": 5000}},
    )
    # The reference is the sample emitted after 5000 events (all before the shift).
    assert alerts and all(a["window"]["end_position"] > SHIFT for a in alerts)


def test_reset_reference_action_stops_repeating_alerts(tmp_path):
    _, with_reset = run(tmp_path, reference="fixed", action="reset_reference")
    other = tmp_path / "other"
    other.mkdir()
    _, without = run(other, reference="fixed")
    assert 0 < len(with_reset) < len(without)


def test_a_resumed_run_raises_the_same_alerts_at_the_same_positions(tmp_path):
    data = write_jsonl(tmp_path / "stream.jsonl", stream(60_000, seed=1))

    def job(directory, checkpoint):
        directory.mkdir()
        cfg = directory / "job.toml"
        cfg.write_text(
            f"""
[source]
kind = "file"
path = "{data}"
[features]
numeric = ["a", "b"]
categorical = ["shop"]
[batch]
max_events = 100
[[models]]
name = "tree"
estimator = "hoeffding_tree"
[feature_drift]
enabled = true
window = 500
reference = "previous"
alpha = 0.05
[checkpoint]
directory = "{checkpoint}"
interval_s = 0.2
[sinks.alerts]
kind = "jsonl"
path = "{directory / "alerts.jsonl"}"
"""
        )
        return cfg

    def riverbed(cfg):
        return subprocess.Popen([sys.executable, "-m", "flows.cli", "run", str(cfg)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip

    straight = job(tmp_path / "straight", "")
    assert riverbed(straight).wait(300) == 0
    expected = read_jsonl(tmp_path / "straight" / "alerts.jsonl")
    assert len(expected) > 3

    crashed = job(tmp_path / "crashed", tmp_path / "recovery")
    proc = riverbed(crashed)
    alerts = tmp_path / "crashed" / "alerts.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if alerts.exists() and len(alerts.read_bytes().splitlines()) >= 2:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL  # it really died mid-run
    assert len(alerts.read_bytes().splitlines()) < len(expected)
    assert riverbed(crashed).wait(300) == 0
    got = [orjson.loads(line) for line in alerts.read_bytes().splitlines()]
    assert got == expected
