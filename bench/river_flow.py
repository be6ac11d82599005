"""Benchmark: the River-backed flow against a bare River loop making the same model calls.

Ours: ``riverbed`` running a job over a JSON Lines file of 20,000 events (inline labels, 6
numeric and 3 categorical features, batches of 1,000): decode, impute, scale, one-hot,
predict with probabilities, serve, join labels, score every metric, learn, watch errors.
Baseline, in the same run: a plain Python loop over the same events, already featurized
(the flow's own features), making the same model calls: ``predict_proba_one`` then
``learn_one`` for each model. Models: River's HoeffdingAdaptiveTreeClassifier and
LogisticRegression. Each figure is the median of ``repeats`` timed passes.

Run: ``python -m bench.river_flow``.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from river import linear_model, tree

from bench.entry import entry
from flows import synthetic
from flows.config import parse
from flows.runner import run_job
from operators.featurize import FeatureSpec, Featurizer
from operators.records import FeatureBlock

__all__ = ["run"]

N = 20_000
MODELS = [
    ("adaptive_tree", "river.tree.HoeffdingAdaptiveTreeClassifier", {"seed": 42}),
    ("logistic", "river.linear_model.LogisticRegression", {}),
]


def _flow(path: Path) -> float:
    cfg = parse(
        {
            "source": {"kind": "file", "path": str(path)},
            "features": {
                "numeric": list(synthetic.NUMERIC),
                "categorical": list(synthetic.CATEGORICAL),
            },
            "models": [{"name": n, "estimator": e, "params": p} for n, e, p in MODELS],
            "selection": {"policy": "ucb1"},
        }
    )
    started = time.perf_counter()
    run_job(cfg)
    return N / (time.perf_counter() - started)


def _bare(xs: list[dict[str, float]], ys: list[int]) -> float:
    models = [tree.HoeffdingAdaptiveTreeClassifier(seed=42), linear_model.LogisticRegression()]
    started = time.perf_counter()
    for x, y in zip(xs, ys):
        for m in models:
            m.predict_proba_one(x)
            m.learn_one(x, y)
    return N / (time.perf_counter() - started)


def run(repeats: int = 5) -> dict[str, dict[str, Any]]:
    rows = list(synthetic.events(N, N // 2))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stream.jsonl"
        path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
        f = Featurizer(FeatureSpec(synthetic.NUMERIC, synthetic.CATEGORICAL))
        names, matrix = f.update(rows)
        xs = FeatureBlock(names, matrix, f.sparse).dicts()
        ys = [r["label"] for r in rows]
        ours, base = [], []
        for _ in range(repeats):
            ours.append(_flow(path))
            base.append(_bare(xs, ys))
    return entry(
        "river_flow_vs_bare_loop",
        ours,
        base,
        target=0.9,
        baseline_is="a bare loop of predict_proba_one + learn_one of the same River models "
        "on the same, already featurized events",
    )


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
