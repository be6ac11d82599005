"""Benchmark ``drift_on_vs_off``: events/s of the whole flow with feature drift on vs off.

The same job over a JSON Lines file of 100,000 events of the synthetic stream (6 numeric and 3
categorical features, batches of 1,000, riverbed's vectorized logistic regression, so the
model does not hide the cost), once with ``[feature_drift]`` on (K-S and PSI on the numeric
features, chi-square and PSI on the categorical ones, windows of 1,000 against a fixed
reference) and once without it; medians of ``repeats`` runs, alternated in the same process.
Target: drift costs at most a fifth of the throughput (ratio >= 0.8).

Run ``python -m bench.drift_flow``.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from bench.entry import entry
from flows import synthetic
from flows.config import parse
from flows.runner import run_job

__all__ = ["run"]

N = 100_000


def _throughput(path: Path, drift: bool) -> float:
    cfg = parse(
        {
            "source": {"kind": "file", "path": str(path)},
            "features": {
                "numeric": list(synthetic.NUMERIC),
                "categorical": list(synthetic.CATEGORICAL),
            },
            "models": [{"name": "lr", "estimator": "fast_logistic_regression"}],
            "feature_drift": {"enabled": drift, "window": 1000},
        }
    )
    started = time.perf_counter()
    run_job(cfg)
    return N / (time.perf_counter() - started)


def run(repeats: int = 5) -> dict[str, dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stream.jsonl"
        rows = synthetic.events(N, N // 2)
        path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
        on, off = [], []
        for _ in range(repeats):
            on.append(_throughput(path, True))
            off.append(_throughput(path, False))
    return entry(
        "drift_on_vs_off",
        on,
        off,
        target=0.8,
        baseline_is="the same flow and input with [feature_drift] off",
    )


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
