"""Benchmark: the vectorized logistic regression against River's, events per second.

Ours: :class:`online_models.linear.LogisticRegression`, ``predict_proba`` then ``learn`` on
micro-batches of 1,000 events (a ready ``float`` matrix and its column names). Baseline, in the
same run: ``river.linear_model.LogisticRegression``, ``predict_proba_one`` then ``learn_one``
per event on ready dicts. Both use River's default settings (SGD 0.01) on the same synthetic
stream of 10 features; each figure is the median of ``repeats`` timed passes.

Run: ``python -m bench.linear`` (prints the JSON entry).
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
from river import linear_model

from bench.entry import entry
from online_models.linear import LogisticRegression

__all__ = ["run"]

N_FEATURES = 10
BATCH = 1_000
N_OURS = 200_000
N_RIVER = 20_000


def _stream(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, N_FEATURES))
    y = X @ rng.normal(size=N_FEATURES) + rng.normal(size=n) > 0
    return X, y, [f"f{j}" for j in range(N_FEATURES)]


def _ours(X: np.ndarray, y: np.ndarray, names: list[str]) -> float:
    model = LogisticRegression()
    start = time.perf_counter()
    for s in range(0, len(y), BATCH):
        Xb, yb = X[s : s + BATCH], y[s : s + BATCH]
        model.predict_proba(Xb, names)
        model.learn(Xb, yb, names)
    return len(y) / (time.perf_counter() - start)


def _river(xs: list[dict[str, float]], ys: list[bool]) -> float:
    model = linear_model.LogisticRegression()
    predict, learn = model.predict_proba_one, model.learn_one
    start = time.perf_counter()
    for x, t in zip(xs, ys, strict=True):
        predict(x)
        learn(x, t)
    return len(ys) / (time.perf_counter() - start)


def run(repeats: int = 5) -> dict[str, dict[str, Any]]:
    """Median events/s of both sides over ``repeats`` passes, as a ``bench/results.json`` entry."""
    X, y, names = _stream(N_OURS)
    xs = [dict(zip(names, row, strict=True)) for row in X[:N_RIVER].tolist()]
    ys = y[:N_RIVER].tolist()
    return entry(
        "lr_vectorized_vs_river",
        [_ours(X, y, names) for _ in range(repeats)],
        [_river(xs, ys) for _ in range(repeats)],
        target=20,
        baseline_is="river.linear_model.LogisticRegression predict_proba_one+learn_one per event",
    )


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
