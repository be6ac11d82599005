"""Batch size is a performance knob, never a semantic one: the predictions file, the alerts, the
sample and the run summary are identical, byte for byte, for batches of 1, 7 and 1000 events
and for random batch cuts, for River models and for the compiled learners, with labels inline
and held back, with a random selection policy, drift actions that replace a model mid-batch,
a sample emitted every N events and feature drift against it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from river import datasets

from flows import synthetic
from flows.config import parse
from flows.dataflow import build_pipeline
from flows.runner import run_job
from operators.records import Batch, RawBatch
from tests.integration.procs import VOLATILE

SINKS = ("predictions", "alerts", "sample")


def drifting(n: int = 4000) -> list[dict[str, Any]]:
    return list(synthetic.events(n, n // 2, 1, seed=3))


def phishing() -> list[dict[str, Any]]:
    return [
        {"id": i, "ts": i, **x, "label": bool(y)} for i, (x, y) in enumerate(datasets.Phishing())
    ]


def job(
    tmp_path: Path, rows: list[dict[str, Any]], batch: int, source: dict[str, Any], **sections: Any
) -> Any:
    path = tmp_path / "stream.jsonl"
    if not path.exists():
        path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    numeric = [k for k, v in rows[0].items() if k not in ("id", "ts", "label")
               and isinstance(v, float)]  # fmt: skip
    categorical = [k for k, v in rows[0].items() if isinstance(v, str)]
    out = tmp_path / f"out-{batch}"
    raw = {
        "job": {"seed": 11},
        "source": {"kind": "file", "path": str(path), **source},
        "features": {"numeric": numeric, "categorical": categorical},
        "batch": {"max_events": batch},
        "sinks": {name: {"kind": "jsonl", "path": str(out / f"{name}.jsonl")} for name in SINKS},
        **sections,
    }
    return parse(raw), out


MODELS = [
    {"name": "river_lr", "estimator": "logistic_regression"},
    {"name": "fast_lr", "estimator": "fast_logistic_regression", "params": {"optimizer": "adam"}},
    {"name": "tree", "estimator": "hoeffding_tree"},
]
DRIFTING = {
    "models": MODELS,
    "selection": {"policy": "thompson"},
    "drift": {"warmup": 300, "action": "reset_model"},
    "sampling": {"kind": "uniform", "size": 200, "every_events": 777},
    "feature_drift": {"enabled": True, "window": 500, "reference": "external"},
    "metrics": {"window": 250, "top_k": 2, "slices": ["car"]},
}


def outputs(cfg: Any, out: Path) -> dict[str, Any]:
    summary = run_job(cfg)
    files = {n: (out / f"{n}.jsonl").read_bytes() if (out / f"{n}.jsonl").exists() else b""
             for n in SINKS}  # fmt: skip
    return {"summary": {k: v for k, v in summary.items() if k not in VOLATILE}, **files}


def cut_by_hand(cfg: Any, rows: list[dict[str, Any]], cuts: list[int]) -> dict[str, Any]:
    """The job's steps (no Bytewax) fed the same records in batches of the given sizes."""
    pipeline = build_pipeline(cfg)
    lines = [orjson.dumps(r) for r in rows]
    written: dict[str, list[bytes]] = {name: [] for name in SINKS}
    summaries = []

    def take(items: list[Any]) -> None:
        for item in items:
            if isinstance(item, Batch):
                for name in SINKS:
                    if name in item.sinks:
                        written[name].extend(v + b"\n" for v in item.sinks[name].values)
            else:
                summaries.append(item)

    start = 0
    for size in cuts:
        part = lines[start : start + size]
        n = len(part)
        take(pipeline.update(RawBatch(0.0, ["events"] * n, ["stream.jsonl"] * n,
                                      list(range(start, start + n)), [0] * n, part)))  # fmt: skip
        start += size
    take(pipeline.on_eof())
    summary = {k: v for k, v in summaries[-1].items() if k not in VOLATILE}
    return {"summary": summary, **{name: b"".join(v) for name, v in written.items()}}


def random_cuts(n: int, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    cuts = []
    while sum(cuts) < n:
        cuts.append(int(rng.choice([1, 2, 3, 50, 333, 1000])))
    return cuts


@pytest.mark.parametrize(
    ("stream", "sections"),
    [
        ("drifting", DRIFTING),
        ("drifting", {**DRIFTING, "source": {"label_delay": 150}}),
        ("phishing", {"models": MODELS[:2], "selection": {"policy": "epsilon_greedy"},
                      "source": {"label_delay": 40}}),
    ],
    ids=["drifting-inline", "drifting-delayed", "phishing-delayed"],
)  # fmt: skip
def test_every_output_is_the_same_for_any_batch_size_and_cut(tmp_path, stream, sections):
    rows = drifting() if stream == "drifting" else phishing()
    source = sections.get("source", {})
    rest = {k: v for k, v in sections.items() if k != "source"}

    def config(batch: int) -> tuple[Any, Path]:
        return job(tmp_path, rows, batch, source, **rest)

    reference = outputs(*config(1000))
    assert reference["predictions"].count(b"\n") == len(rows)
    if stream == "drifting" and not source:
        alerts = [orjson.loads(line) for line in reference["alerts"].splitlines()]
        assert {a["kind"] for a in alerts} >= {"drift", "model_reset"}  # a model replaced
        assert reference["sample"]
    for batch in (1, 7):
        assert outputs(*config(batch)) == reference, f"batch size {batch}"
    cfg, _ = config(1000)
    for seed in (1, 2):
        assert cut_by_hand(cfg, rows, random_cuts(len(rows), seed)) == reference
