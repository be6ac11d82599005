"""The one shape of a benchmark result (DESIGN.md, "Contracts")."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

__all__ = ["entry"]


def entry(
    name: str,
    ours: Sequence[float],
    baseline: Sequence[float],
    target: float,
    baseline_is: str,
    unit: str = "events/s",
    lower_is_better: bool = False,
) -> dict[str, dict[str, Any]]:
    """``{name: {...}}`` from repeated measurements of ours and of the baseline (medians).

    ``lower_is_better``: ``ours`` is a cost (a time) and the target bounds it from above;
    otherwise the target is a lower bound on the ratio."""
    o, b = statistics.median(ours), statistics.median(baseline)
    return {
        name: {
            "ours": o,
            "baseline": b,
            "unit": unit,
            "ratio": o / b,
            "target": target,
            "baseline_is": baseline_is,
            **({"lower_is_better": True} if lower_is_better else {}),
        }
    }
