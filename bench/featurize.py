"""featurize_vs_river: our batched Featurizer against River's per-event preprocessing.

Both featurize the same events: 10 numeric fields and 3 categorical ones (4, 12 and 40
categories), each value missing (None) with probability 5%. Ours: ``Featurizer.update`` (the
event dicts read into columns, then ``transform_then_learn``) with mean imputation, standard
scaling and one-hot encoding (``max_categories`` 64, so every category gets its own column as
in River) on batches of 1000 events, producing the feature matrix; its output is the same for
any batch size. Baseline: River's ``Select | StatImputer(Mean) | StandardScaler`` +
``Select | OneHotEncoder`` union, ``transform_one`` then ``learn_one`` per event (the same
prequential order). Before timing, both featurize the first 2000 events and must agree (numeric
columns to 1e-9, the same active one-hot columns). Each repeat times both; the figures are
medians over the repeats.

Run: ``python -m bench.featurize``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from river import compose, preprocessing, stats

from bench.entry import entry
from operators.featurize import FeatureSpec, Featurizer

__all__ = ["run"]

NUMERIC = tuple(f"x{j}" for j in range(10))
CATEGORICAL = {"c0": 4, "c1": 12, "c2": 40}
BATCH = 1000
OURS_EVENTS = 50_000
BASELINE_EVENTS = 10_000


def make_events(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` events with 5% of the values missing (None)."""
    rng = np.random.default_rng(seed)
    numbers = rng.normal(10.0, 3.0, (n, len(NUMERIC))).tolist()
    categories = {c: rng.integers(0, k, n).tolist() for c, k in CATEGORICAL.items()}
    missing = (rng.random((n, len(NUMERIC) + len(CATEGORICAL))) < 0.05).tolist()
    events = []
    for i in range(n):
        event: dict[str, Any] = dict(zip(NUMERIC, numbers[i], strict=True))
        event.update({c: f"{c}_{v[i]}" for c, v in categories.items()})
        for name, gone in zip((*NUMERIC, *CATEGORICAL), missing[i], strict=True):
            if gone:
                event[name] = None
        events.append(event)
    return events


def _featurizer() -> Featurizer:
    return Featurizer(
        # outlier_std=0: River's StandardScaler, the baseline, has no outlier guard.
        FeatureSpec(
            numeric=NUMERIC, categorical=tuple(CATEGORICAL), max_categories=64, outlier_std=0
        )
    )


def _river() -> Any:
    return (
        compose.Select(*NUMERIC)
        | preprocessing.StatImputer(*[(n, stats.Mean()) for n in NUMERIC])
        | preprocessing.StandardScaler()
    ) + (compose.Select(*CATEGORICAL) | preprocessing.OneHotEncoder(drop_zeros=True))


def check_same_features(events: list[dict[str, Any]]) -> None:
    """Raise AssertionError unless ours and River's features agree on ``events``."""
    featurizer, pipeline = _featurizer(), _river()
    names, matrix = featurizer.update(events)
    for row, x in zip(matrix, events, strict=True):
        want = pipeline.transform_one(x)
        pipeline.learn_one(x)
        numeric = np.array([want[n] for n in NUMERIC])
        assert np.allclose(row[: len(NUMERIC)], numeric, rtol=1e-9, atol=1e-9)
        active = {names[j] for j in np.flatnonzero(row[len(NUMERIC) :]) + len(NUMERIC)}
        theirs = {k.replace("_", "=", 1) for k in want if k not in NUMERIC}
        assert active == {k for k in theirs if not k.endswith("=None")}


def ours(events: list[dict[str, Any]]) -> float:
    """Events per second of the Featurizer on batches of ``BATCH``."""
    featurizer = _featurizer()
    start = time.perf_counter()
    for i in range(0, len(events), BATCH):
        featurizer.update(events[i : i + BATCH])
    return len(events) / (time.perf_counter() - start)


def baseline(events: list[dict[str, Any]]) -> float:
    """Events per second of River's impute + scale + one-hot pipeline, per event."""
    pipeline = _river()
    start = time.perf_counter()
    for x in events:
        pipeline.transform_one(x)
        pipeline.learn_one(x)
    return len(events) / (time.perf_counter() - start)


def run(repeats: int = 5) -> dict[str, dict[str, Any]]:
    """Measure both ``repeats`` times and report the medians (events per second)."""
    events = make_events(OURS_EVENTS)
    check_same_features(events[:2000])
    measured = [(ours(events), baseline(events[:BASELINE_EVENTS])) for _ in range(repeats)]
    return entry(
        "featurize_vs_river",
        [m[0] for m in measured],
        [m[1] for m in measured],
        target=10,
        baseline_is="River 0.26 Select|StatImputer(Mean)|StandardScaler + Select|OneHotEncoder, "
        "transform_one then learn_one per event (10 numeric + 3 categorical fields, "
        "5% missing); ours: Featurizer on batches of 1000 (impute, scale, one-hot)",
    )


if __name__ == "__main__":
    print(run())
