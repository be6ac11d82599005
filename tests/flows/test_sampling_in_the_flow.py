"""The reservoir sample in the flow: emitted every N events and at the end, deterministic ids."""

from __future__ import annotations

from collections import Counter

import numpy as np

from tests.flows.helpers import read_jsonl, run_file


def rows(n):
    rng = np.random.default_rng(0)
    return [
        {"id": i, "ts": i, "a": float(rng.normal()), "shop": f"s{i % 7}", "w": 1.0 + (i % 3),
         "label": int(i % 2)}
        for i in range(n)
    ]  # fmt: skip


def run(tmp_path, sampling):
    sinks = {
        "predictions": {"kind": "jsonl", "path": str(tmp_path / "predictions.jsonl")},
        "sample": {"kind": "jsonl", "path": str(tmp_path / "sample.jsonl")},
    }
    return run_file(
        tmp_path,
        rows(2500),
        features={"numeric": ["a"]},
        models=[{"name": "nb", "estimator": "gaussian_nb"}],
        sampling=sampling,
        sinks=sinks,
    )


def test_uniform_sample_is_emitted_every_n_events_and_at_the_end(tmp_path):
    s = run(tmp_path, {"kind": "uniform", "size": 50, "every_events": 1000})
    sample = read_jsonl(tmp_path / "sample.jsonl")
    per_emission = Counter(r["emission"] for r in sample)
    assert per_emission == {1: 50, 2: 50, 3: 50}  # after 1000, 2000, and the last 500 at the end
    last = {r["event_id"] for r in sample if r["emission"] == 3}
    assert len(last) == 50 and all(0 <= int(i) < 2500 for i in last)
    assert len({r["id"] for r in sample}) == len(sample)
    assert (
        s["sample"]["seen"] == 2500 and s["sample"]["size"] == 50 and s["sample"]["emissions"] == 3
    )


def test_stratified_sample_keeps_every_stratum(tmp_path):
    s = run(tmp_path, {"kind": "stratified", "size": 5, "field": "shop", "every_events": 5000})
    sample = read_jsonl(tmp_path / "sample.jsonl")
    assert Counter(r["stratum"] for r in sample) == {f"s{k}": 5 for k in range(7)}
    assert s["sample"]["kind"] == "stratified"


def test_weighted_sample_by_a_field(tmp_path):
    run(tmp_path, {"kind": "weighted", "size": 30, "field": "w"})
    sample = read_jsonl(tmp_path / "sample.jsonl")
    assert len(sample) == 30
