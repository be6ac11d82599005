"""A drifting synthetic stream with numeric and categorical features, from River's generators.

Agrawal's loan-applicant generator (classification function 0) drifts to function 4 at
``drift_at``: event ``i`` comes from the new concept with probability
``1 / (1 + exp(-4 (i - drift_at) / drift_width))``, the sigmoid of River's ConceptDriftStream
(which overflows for abrupt drifts far from the drift point, hence this loop). ``elevel``,
``car`` and ``zipcode`` are categories. Event ``i`` has id ``i`` and event time ``T0_MS + i``.

>>> rows = list(events(3, drift_at=2, seed=1))
>>> sorted(rows[0]) == sorted(["id", "ts", "label", *NUMERIC, *CATEGORICAL])
True
>>> [r["id"] for r in rows]
[0, 1, 2]
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from typing import Any

from river.datasets import synth

__all__ = ["NUMERIC", "CATEGORICAL", "T0_MS", "events"]

NUMERIC = ("salary", "commission", "age", "hvalue", "hyears", "loan")
CATEGORICAL = ("elevel", "car", "zipcode")
T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def events(
    n: int, drift_at: int, drift_width: int = 1, seed: int = 42, start: int = 0
) -> Iterator[dict[str, Any]]:
    """Events ``start`` .. ``n - 1`` of the stream (the same ones for the same seed)."""
    before = iter(synth.Agrawal(classification_function=0, seed=seed))
    after = iter(synth.Agrawal(classification_function=4, seed=seed + 1))
    rng = random.Random(seed)
    for i in range(n):
        z = max(-500.0, min(500.0, -4.0 * (i - drift_at) / drift_width))
        x, y = next(after if rng.random() < 1.0 / (1.0 + math.exp(z)) else before)
        if i < start:
            continue
        row: dict[str, Any] = {"id": i, "ts": T0_MS + i, "label": int(y)}
        for name in NUMERIC:
            row[name] = float(x[name])
        for name in CATEGORICAL:
            row[name] = str(x[name])
        yield row
