"""A fast synthetic stream for the long integration tests (River's Agrawal generator costs
about 60 us per event; this one under 3).

Event ``i``: id ``i``, event time ``T0 + i``, numeric ``x0..x2`` (standard normal), ``amount``
(log-normal) and category ``shop`` (one of ``shops``, Zipf-like). The label is whether
``x0 + 0.5 x1 - 0.25 x2 + noise`` is positive; from event ``drift_at`` on the sign of ``x0``
flips (an abrupt concept drift). Its label record has event time ``T0 + i + label_delay``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import orjson

T0 = 1_767_225_600_000
NUMERIC = ("x0", "x1", "x2", "amount")
CATEGORICAL = ("shop",)


def rows(n: int, seed: int = 0, drift_at: int | None = None, shops: int = 50) -> Iterator[Any]:
    """``(event, label)`` dicts of events ``0 .. n-1``."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    amount = rng.lognormal(3.0, 1.0, n)
    shop = np.minimum(rng.zipf(1.5, n), shops) - 1
    noise = rng.normal(scale=0.3, size=n)
    sign = np.ones(n)
    if drift_at is not None:
        sign[drift_at:] = -1.0
    y = (sign * x[:, 0] + 0.5 * x[:, 1] - 0.25 * x[:, 2] + noise) > 0
    xs, amounts, shops_, ys = x.tolist(), amount.tolist(), shop.tolist(), y.tolist()
    for i in range(n):
        event = {
            "id": i,
            "ts": T0 + i,
            "x0": xs[i][0],
            "x1": xs[i][1],
            "x2": xs[i][2],
            "amount": amounts[i],
            "shop": f"s{shops_[i]}",
        }
        yield event, {"id": i, "label": int(ys[i])}


def records(
    events_topic: str,
    labels_topic: str,
    n: int,
    *,
    seed: int = 0,
    drift_at: int | None = None,
    label_delay: int = 20,
) -> Iterator[tuple[str, bytes, int]]:
    """``(topic, value, timestamp)`` of the events and their labels, in production order."""
    dumps = orjson.dumps
    for event, label in rows(n, seed, drift_at):
        ts = event["ts"]
        yield events_topic, dumps(event), ts
        yield labels_topic, dumps(label), ts + label_delay


def job(brokers: str, events_topic: str, labels_topic: str, out: str, **tables: Any) -> dict:
    """A cheap job over this stream (vectorized logistic regression and a majority-class
    baseline, epsilon-greedy selection, ADWIN on errors, JSON Lines sinks under ``out``)."""
    raw: dict[str, Any] = {
        "job": {"seed": 11},
        "source": {
            "kind": "kafka",
            "brokers": brokers,
            "events_topic": events_topic,
            "labels_topic": labels_topic,
            "stop_at_end": True,
            "startup_timeout_s": 10.0,
        },
        "features": {
            "numeric": list(NUMERIC),
            "categorical": list(CATEGORICAL),
            "max_categories": 16,
        },
        "batch": {"max_events": 500},
        "labels": {"ttl_ms": 600_000},
        "models": [
            {"name": "lr", "estimator": "fast_logistic_regression"},
            {"name": "base", "estimator": "majority"},
        ],
        "selection": {"policy": "epsilon_greedy", "params": {"epsilon": 0.1}},
        "drift": {"detector": "adwin", "warmup": 1000},
        "sinks": {
            name: {"kind": "jsonl", "path": f"{out}/{name}.jsonl"}
            for name in ("predictions", "alerts", "dead_letters")
        },
    }
    for name, keys in tables.items():
        raw.setdefault(name, {}).update(keys)
    return raw
