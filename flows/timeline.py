"""The time series behind the run report, recorded while the job runs, bounded in memory.

:class:`Timeline` takes a point every ``stride`` events; when it holds ``max_points``, each
pair of neighbours becomes one point and the stride doubles, so a run of any length keeps
between ``max_points / 2`` and ``max_points`` points spread evenly over the stream. A point's
fields are cumulative (counts, sums, the clock) or sampled (rolling metrics: the later point's
value is kept), except fields named ``max_...``, the largest value over the point's interval
(kept exactly when points merge). Differences of cumulative fields between two points give
rates and means over the interval between them, exactly, however many merges happened.

:class:`TestSeries` keeps the feature-drift window tests the same way, per detector and
feature: a merged point keeps the smaller p-value (the larger statistic for PSI).

Both live in the run report's state, so they are in the recovery snapshots and a resumed
run's report covers the whole run.

>>> t = Timeline(max_points=4, stride=10)
>>> for n in range(10, 101, 10):
...     if t.due(n):
...         t.add(n, {"events": n, "max_latency_ms": float(n % 30)})
>>> [p["events"] for p in t.points], [p["max_latency_ms"] for p in t.points], t.stride
([40, 80], [20.0, 20.0], 40)
"""

from __future__ import annotations

from typing import Any

__all__ = ["Timeline", "TestSeries"]


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(b)
    for k, v in a.items():
        if k.startswith("max_") and v is not None:
            w = b.get(k)
            out[k] = v if w is None else max(v, w)
    return out


class Timeline:
    """Points ``{field: value}`` taken every ``stride`` events, at most ``max_points``.

    Args:
        max_points: most points kept (even, at least 4).
        stride: events between points at first.
    """

    def __init__(self, max_points: int = 400, stride: int = 250) -> None:
        self.max_points = max(4, max_points - max_points % 2)
        self.stride = stride
        self.points: list[dict[str, Any]] = []
        self.next_at = stride

    def due(self, position: int) -> bool:
        """Whether a point is due at stream ``position``."""
        return position >= self.next_at

    def add(self, position: int, point: dict[str, Any]) -> None:
        """Record ``point`` at ``position`` (merging pairs when full)."""
        if self.points and self.points[-1]["position"] == position:
            self.points[-1] = _merge(self.points[-1], {"position": position, **point})
        else:
            self.points.append({"position": position, **point})
        if len(self.points) >= self.max_points:
            p = self.points
            self.points = [_merge(p[i], p[i + 1]) for i in range(0, len(p) - 1, 2)]
            if len(p) % 2:
                self.points.append(p[-1])
            self.stride *= 2
        self.next_at = (position // self.stride + 1) * self.stride


class TestSeries:
    """The window tests of the feature-drift step, per ``detector/feature``: ``(position,
    p-value, statistic)``, at most ``max_points`` per series (pairs merge when full)."""

    __test__ = False  # not a pytest test class

    def __init__(self, max_points: int = 200) -> None:
        self.max_points = max(4, max_points - max_points % 2)
        self.series: dict[str, list[tuple[int, float | None, float]]] = {}

    def add(self, detector: str, feature: str, position: int, p: float | None, stat: float) -> None:
        s = self.series.setdefault(f"{detector}/{feature}", [])
        s.append((position, p, stat))
        if len(s) >= self.max_points:
            self.series[f"{detector}/{feature}"] = [
                _stronger(s[i], s[i + 1]) for i in range(0, len(s) - 1, 2)
            ] + ([s[-1]] if len(s) % 2 else [])


def _stronger(
    a: tuple[int, float | None, float], b: tuple[int, float | None, float]
) -> tuple[int, float | None, float]:
    """The more significant of two neighbouring tests (smaller p; larger PSI), at the later
    position."""
    if a[1] is not None and b[1] is not None:
        return (b[0], min(a[1], b[1]), a[2] if a[1] < b[1] else b[2])
    return (b[0], b[1], max(a[2], b[2]))
