"""Benchmark: the compiled logistic regression against River's, exact test-then-train per event.

Ours: :class:`online_models.linear.LogisticRegression`, one :meth:`run` call per batch of
1,000 events, each event predicted then learned (ops ``0, 1`` per event) inside the compiled
loop, on a ready ``float`` matrix with its names and sparse flags. Baseline, in the same run:
``river.linear_model.LogisticRegression``, ``predict_proba_one`` then ``learn_one`` per event
on the dicts of the same rows (``FeatureBlock.dicts()``: one-hot zeros left out). Both use
River's default settings (SGD 0.01) on the same synthetic stream of 200,000 events and 30
columns (24 dense, 6 one-hot); each figure is the median of ``repeats`` timed passes. The
predictions of both sides are compared: the ratio counts because they agree to 1e-9.

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
from operators.records import FeatureBlock

__all__ = ["run"]

N_EVENTS = 200_000
N_DENSE = 24
N_LEVELS = 6
BATCH = 1_000
TOL = 1e-9


def _stream(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str], list[bool]]:
    rng = np.random.default_rng(seed)
    dense = rng.normal(size=(n, N_DENSE))
    level = rng.integers(0, N_LEVELS, size=n)
    X = np.column_stack([dense, np.eye(N_LEVELS)[level]])
    score = dense @ rng.normal(size=N_DENSE) + (level - 2.5) * 0.5 + rng.normal(size=n)
    names = [f"f{j}" for j in range(N_DENSE)] + [f"cat={j}" for j in range(N_LEVELS)]
    return X, score > 0, names, [False] * N_DENSE + [True] * N_LEVELS


def _ours(
    X: np.ndarray, y: np.ndarray, names: list[str], sparse: list[bool]
) -> tuple[float, np.ndarray]:
    model = LogisticRegression()
    ops = np.tile(np.array([0, 1], dtype=np.int8), BATCH)
    rows = np.repeat(np.arange(BATCH), 2)
    probas = []
    start = time.perf_counter()
    for s in range(0, len(y), BATCH):
        Xb, yb = X[s : s + BATCH], y[s : s + BATCH]
        k = len(yb)
        _, P = model.run(Xb, names, ops[: 2 * k], rows[: 2 * k], yb, sparse=sparse)
        probas.append(P)
    elapsed = time.perf_counter() - start
    return len(y) / elapsed, np.concatenate(probas)[:, 1]


def _river(xs: list[dict[str, float]], ys: list[bool]) -> tuple[float, np.ndarray]:
    model = linear_model.LogisticRegression()
    predict, learn = model.predict_proba_one, model.learn_one
    probas = []
    keep = probas.append
    start = time.perf_counter()
    for x, t in zip(xs, ys, strict=True):
        keep(predict(x)[True])
        learn(x, t)
    elapsed = time.perf_counter() - start
    return len(ys) / elapsed, np.array(probas)


def run(repeats: int = 5) -> dict[str, dict[str, Any]]:
    """Median events/s of both sides over ``repeats`` passes, as a ``bench/results.json`` entry.

    Raises:
        AssertionError: the two sides' probabilities differ by more than 1e-9 somewhere.
    """
    X, y, names, sparse = _stream(N_EVENTS)
    xs = FeatureBlock(tuple(names), X, tuple(sparse)).dicts()
    ys = y.tolist()
    ours, river = [], []
    for _ in range(repeats):  # interleaved, so that both sides see the same machine load
        ours.append(_ours(X, y, names, sparse))
        river.append(_river(xs, ys))
    gap = float(np.max(np.abs(ours[0][1] - river[0][1])))
    same_labels = bool(np.array_equal(ours[0][1] > 0.5, river[0][1] > 0.5))
    assert gap < TOL and same_labels, f"predictions differ from River's: max gap {gap:.3g}"
    return entry(
        "lr_compiled_vs_river",
        [o[0] for o in ours],
        [r[0] for r in river],
        target=50,
        baseline_is=(
            "river.linear_model.LogisticRegression predict_proba_one+learn_one per event "
            f"({N_EVENTS:,} events, {N_DENSE} dense + {N_LEVELS} one-hot columns); ours: "
            f"LogisticRegression.run per batch of {BATCH:,}, predict then learn each event; "
            f"identical predictions, probabilities within {gap:.1g} of River's"
        ),
    )


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
