"""Feature drift: compare each window of the input features with a reference window.

Numeric features get a Kolmogorov-Smirnov test (``"ks"``) and the Population Stability Index
(``"psi"``); categorical features a chi-square test of homogeneity (``"chi2"``) and PSI over
category frequencies. All numeric features are tested at once (one sort per window, the
reference sorted once). The p-values of one window test (K-S and chi-square together) form one
family, corrected by Bonferroni or Benjamini-Hochberg; a feature whose adjusted p-value is at
most ``alpha`` raises an alert, ``"critical"`` when it is at most ``critical_alpha``. PSI has
no p-value: it alerts from ``psi_warning`` (``"warning"``) and ``psi_critical``
(``"critical"``).

Windows:

- by count (``window`` events; default 1000): tumbling, a test every ``window`` events, or
  sliding with ``stride``: every ``stride`` events, over the last ``window`` events;
- by event time (``window_ms``): tumbling windows ``[k * window_ms, (k + 1) * window_ms)``,
  tested when the first event of a later window arrives. A late event (older than the open
  window) joins the open window.

Reference (the first ``warmup`` events are never used):

- ``"fixed"``: the first window after the warm-up (by count, ``reference_size`` events if set);
  tests start with the next, disjoint window. All tests share that one sample, so their false
  alarms are not independent: a reference that happens to be unusual makes many windows look
  different from it. Their average rate is the nominal one; a run's rate can be far above it
  (measured: 0 to 8 percent at alpha = 1 percent, windows and reference of 1000 events), so
  prefer a reference several windows long (``reference_size``, or an external sample);
- ``"previous"``: by count, the ``window`` events just before the tested ones; by time, the
  previous window;
- ``"external"``: a sample given with :meth:`FeatureDriftMonitor.set_reference` (e.g. a
  reservoir sample); nothing is tested before one is given.

NaN and infinite numbers, None and NaN categories are missing values and are ignored; a
feature with fewer than ``min_count`` valid values in either window is not tested.

>>> rng = np.random.default_rng(0)
>>> monitor = FeatureDriftMonitor(["x"], window=500)
>>> x = np.concatenate([rng.normal(size=1500), rng.normal(2.0, size=500)])[:, None]
>>> alerts = monitor.update(np.arange(2000), x, None, np.arange(2000))
>>> [(a["detector"], a["window"]["start_position"], a["severity"]) for a in alerts]
[('ks', 1500, 'critical'), ('psi', 1500, 'critical')]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from operators.errors import OperatorError
from operators.stat_tests import (
    CORRECTIONS,
    PSI_EPSILON,
    chi2_homogeneity,
    contingency,
    correct,
    ks_2samp,
    psi,
    psi_numeric,
)

__all__ = ["DETECTORS", "REFERENCES", "FeatureDriftMonitor"]

DETECTORS = ("ks", "psi", "chi2")
"""Detectors a monitor can run: K-S (numeric), PSI (both kinds), chi-square (categorical)."""

REFERENCES = ("fixed", "previous", "external")
"""Where the reference window comes from."""

_DEFAULT_WINDOW = 1000


@dataclass(frozen=True)
class _Rows:
    """Events in stream order: features, event times and stream positions."""

    numeric: np.ndarray  # (n, d) float64, NaN where missing
    categorical: np.ndarray  # (n, c) object
    ts_ms: np.ndarray  # (n,) int64
    positions: np.ndarray  # (n,) int64

    def __len__(self) -> int:
        return len(self.ts_ms)

    def rows(self, start: int, stop: int | None = None) -> _Rows:
        """A copy of rows ``start:stop``."""
        s = slice(start, stop)
        return _Rows(
            self.numeric[s].copy(),
            self.categorical[s].copy(),
            self.ts_ms[s].copy(),
            self.positions[s].copy(),
        )

    def then(self, other: _Rows) -> _Rows:
        """These rows followed by ``other``'s (new arrays)."""
        return _Rows(
            np.concatenate([self.numeric, other.numeric]),
            np.concatenate([self.categorical, other.categorical]),
            np.concatenate([self.ts_ms, other.ts_ms]),
            np.concatenate([self.positions, other.positions]),
        )

    def bounds(self) -> dict[str, int | None]:
        return {
            "start_position": int(self.positions.min()),
            "end_position": int(self.positions.max()),
            "start_ts_ms": int(self.ts_ms.min()),
            "end_ts_ms": int(self.ts_ms.max()),
        }


@dataclass(frozen=True)
class _Window:
    """A window ready to be tested: its rows, numeric columns sorted once, and its bounds."""

    rows: _Rows
    sorted_numeric: np.ndarray
    bounds: dict[str, int | None]

    @classmethod
    def of(cls, rows: _Rows, bounds: dict[str, int | None] | None = None) -> _Window:
        return cls(rows, np.sort(rows.numeric, axis=0), bounds or rows.bounds())


class FeatureDriftMonitor:
    """Detect drift of input features between a reference window and the current window.

    Args:
        numeric_features: names of the numeric features (columns of ``numeric``).
        categorical_features: names of the categorical features (columns of ``categorical``).
        window: events per window (count windows; 1000 if neither window nor window_ms).
        stride: events between two tests over the last ``window`` events (sliding count
            windows); None for tumbling windows.
        window_ms: length of tumbling event-time windows, in milliseconds.
        reference: one of :data:`REFERENCES`.
        reference_size: events in a ``"fixed"`` reference of count windows (default: window).
        warmup: events skipped before the first window.
        detectors: which of :data:`DETECTORS` to run.
        alpha: level of the corrected K-S and chi-square tests.
        correction: ``"bh"`` (Benjamini-Hochberg) or ``"bonferroni"``.
        critical_alpha: adjusted p-value at or below which an alert is critical.
        psi_bins: PSI bins for numeric features, cut at the reference's quantiles.
        psi_warning: PSI from which an alert is a warning.
        psi_critical: PSI from which an alert is critical.
        psi_epsilon: proportion given to empty PSI bins.
        min_count: fewest valid values per window for a feature to be tested.
        chi2_correction: Yates' correction on 2x2 tables (scipy's default).

    Alerts are dicts ``{"detector", "feature", "statistic", "p_value", "p_value_adjusted",
    "window", "reference", "severity"}``: the p-values are None for PSI; ``window`` and
    ``reference`` give ``start_position``, ``end_position``, ``start_ts_ms`` and
    ``end_ts_ms`` of the rows compared (smallest and largest; None for an external
    reference given without them).

    Attributes:
        tests_run: window tests done so far.
        tests: every feature's result in the window tests of the last :meth:`update`, alert or
            not: ``(detector, feature, window end position, statistic, p_value)`` (not part of
            the state: not pickled).
    """

    def __init__(
        self,
        numeric_features: Sequence[str] = (),
        categorical_features: Sequence[str] = (),
        window: int | None = None,
        stride: int | None = None,
        window_ms: int | None = None,
        reference: str = "fixed",
        reference_size: int | None = None,
        warmup: int = 0,
        detectors: Sequence[str] = DETECTORS,
        alpha: float = 0.01,
        correction: str = "bh",
        critical_alpha: float = 1e-4,
        psi_bins: int = 10,
        psi_warning: float = 0.1,
        psi_critical: float = 0.25,
        psi_epsilon: float = PSI_EPSILON,
        min_count: int = 10,
        chi2_correction: bool = True,
    ) -> None:
        self.numeric_features = list(numeric_features)
        self.categorical_features = list(categorical_features)
        self.window = window
        self.stride = stride
        self.window_ms = window_ms
        self.reference = reference
        self.reference_size = reference_size
        self.warmup = warmup
        self.detectors = list(detectors)
        self.alpha = alpha
        self.correction = correction
        self.critical_alpha = critical_alpha
        self.psi_bins = psi_bins
        self.psi_warning = psi_warning
        self.psi_critical = psi_critical
        self.psi_epsilon = psi_epsilon
        self.min_count = min_count
        self.chi2_correction = chi2_correction
        self._check_settings()
        self._size = window or _DEFAULT_WINDOW  # events per count window
        self._step = stride or self._size  # events between two count tests
        self._ref_size = reference_size or self._size  # events in a fixed count reference
        self._seen = 0  # events received, the warm-up included
        self._since = 0  # events since the last count test
        self._key: int | None = None  # event-time window open now (window_ms)
        self._buf = self._empty()  # the open window or the recent events
        self._ref: _Window | None = None
        self.tests_run = 0  # window tests done
        self.tests: list[tuple[str, str, int, float, float | None]] = []

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "tests"}  # not state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.tests = []

    def _check_settings(self) -> None:
        problems = []
        if self.reference not in REFERENCES:
            problems.append(f"reference must be one of {REFERENCES}, got {self.reference!r}")
        if not self.detectors or not set(self.detectors) <= set(DETECTORS):
            problems.append(f"detectors must be some of {DETECTORS}, got {self.detectors!r}")
        if self.correction not in CORRECTIONS:
            problems.append(f"correction must be one of {CORRECTIONS}, got {self.correction!r}")
        if not 0.0 < self.critical_alpha <= self.alpha < 1.0:
            problems.append(
                "alpha and critical_alpha must satisfy 0 < critical_alpha <= alpha < 1, got "
                f"{self.alpha!r} and {self.critical_alpha!r}"
            )
        if self.window is not None and self.window_ms is not None:
            problems.append("window (events) and window_ms (event time) exclude each other")
        for name in ("window", "window_ms", "stride", "reference_size"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, (int, np.integer)) or value < 1):
                problems.append(f"{name} must be a positive integer, got {value!r}")
        if self.stride is not None and self.window_ms is not None:
            problems.append("stride needs count windows (window), not window_ms")
        if self.reference_size is not None and (
            self.reference != "fixed" or self.window_ms is not None
        ):
            problems.append("reference_size needs reference='fixed' and count windows")
        if isinstance(self.stride, (int, np.integer)) and self.stride > (
            self.window or _DEFAULT_WINDOW
        ):
            problems.append(f"stride must be at most window, got {self.stride!r}")
        if self.warmup < 0 or self.min_count < 1 or self.psi_bins < 2:
            problems.append(
                "warmup >= 0, min_count >= 1 and psi_bins >= 2 are needed, got "
                f"{self.warmup!r}, {self.min_count!r} and {self.psi_bins!r}"
            )
        if not 0.0 < self.psi_warning <= self.psi_critical or self.psi_epsilon <= 0.0:
            problems.append(
                "0 < psi_warning <= psi_critical and psi_epsilon > 0 are needed, got "
                f"{self.psi_warning!r}, {self.psi_critical!r} and {self.psi_epsilon!r}"
            )
        if problems:
            raise OperatorError("feature drift: " + "; ".join(problems))

    def update(
        self,
        ts_ms: np.ndarray,
        numeric: np.ndarray | None,
        categorical: np.ndarray | Sequence[Sequence[Any]] | None,
        positions: np.ndarray,
    ) -> list[dict[str, Any]]:
        """Take a batch of events in stream order; return the alerts of the windows it closed.

        Args:
            ts_ms: ``(n,)`` event times in milliseconds.
            numeric: ``(n, len(numeric_features))`` numbers (None if there are none).
            categorical: ``(n, len(categorical_features))`` object array, or one sequence per
                categorical feature (None if there are none).
            positions: ``(n,)`` stream positions of the events (e.g. offsets).
        """
        batch = self._as_rows(ts_ms, numeric, categorical, positions)
        self.tests = []
        skip = min(max(self.warmup - self._seen, 0), len(batch))
        self._seen += len(batch)
        if self.window_ms is not None:
            return self._feed_time(batch.rows(skip), self.window_ms)
        return self._feed_count(batch, skip)

    def set_reference(
        self,
        numeric: np.ndarray | None,
        categorical: np.ndarray | Sequence[Sequence[Any]] | None = None,
        ts_ms: np.ndarray | None = None,
        positions: np.ndarray | None = None,
    ) -> None:
        """Use this sample as the reference (``reference="external"`` only).

        ``ts_ms`` and ``positions``, if given, set the reference bounds reported in alerts.
        """
        if self.reference != "external":
            raise OperatorError(
                f"feature drift: set_reference needs reference='external', not {self.reference!r}"
            )
        n = len(numeric) if numeric is not None else len(_columns(categorical))
        if n == 0:
            raise OperatorError("feature drift: the reference sample is empty")
        zeros = np.zeros(n, dtype=np.int64)
        rows = self._as_rows(
            zeros if ts_ms is None else ts_ms,
            numeric,
            categorical,
            zeros if positions is None else positions,
        ).rows(0)
        bounds = rows.bounds()
        for key, given in (("ts_ms", ts_ms), ("position", positions)):
            if given is None:
                bounds = {k: (None if k.endswith(key) else v) for k, v in bounds.items()}
        self._ref = _Window.of(rows, bounds)

    def reset_reference(self) -> None:
        """Forget the reference: the next window becomes it (``"external"``: wait for one)."""
        self._ref = None
        self._since = 0
        if self.window_ms is None:
            self._buf = self._empty()

    # -- windows ------------------------------------------------------------------------------

    def _feed_count(self, batch: _Rows, start: int) -> list[dict[str, Any]]:
        alerts: list[dict[str, Any]] = []
        keep = 2 * self._size if self.reference == "previous" else self._size
        while start < len(batch):
            collecting = self.reference == "fixed" and self._ref is None
            if collecting:
                due = self._ref_size - len(self._buf)
            else:
                due = max(self._step - self._since, keep - len(self._buf))
            take = min(due, len(batch) - start)
            joined = self._buf.then(batch.rows(start, start + take))
            self._buf = joined.rows(0 if collecting else max(len(joined) - keep, 0))
            start += take
            if not collecting:
                self._since += take
            if take == due:
                alerts += self._count_window_due(collecting)
        return alerts

    def _count_window_due(self, collecting: bool) -> list[dict[str, Any]]:
        if collecting:
            self._ref, self._buf = _Window.of(self._buf), self._empty()
            return []
        self._since = 0
        current = self._buf.rows(len(self._buf) - self._size)
        if self.reference == "previous":
            return self._test(_Window.of(self._buf.rows(0, self._size)), _Window.of(current))
        return self._test(self._ref, _Window.of(current)) if self._ref is not None else []

    def _feed_time(self, batch: _Rows, window_ms: int) -> list[dict[str, Any]]:
        keys = batch.ts_ms // window_ms
        if self._key is not None:
            keys = np.maximum(keys, self._key)  # late events join the open window
        keys = np.maximum.accumulate(keys)
        alerts: list[dict[str, Any]] = []
        cuts = [0, *(np.flatnonzero(np.diff(keys)) + 1).tolist(), len(batch)]
        for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
            if lo == hi:
                continue
            key = int(keys[lo])
            if self._key is not None and key != self._key and len(self._buf):
                alerts += self._time_window_closed(_Window.of(self._buf))
                self._buf = self._empty()
            self._key = key
            self._buf = self._buf.then(batch.rows(lo, hi))
        return alerts

    def _time_window_closed(self, window: _Window) -> list[dict[str, Any]]:
        alerts = self._test(self._ref, window) if self._ref is not None else []
        if self._ref is None and self.reference == "fixed" or self.reference == "previous":
            self._ref = window
        return alerts

    # -- tests --------------------------------------------------------------------------------

    def _test(self, ref: _Window, cur: _Window) -> list[dict[str, Any]]:
        """Test every feature of ``cur`` against ``ref``; return the alerts."""
        self.tests_run += 1
        found: list[tuple[str, str, float, float | None, int | None]] = []  # + family index
        family: list[float] = []
        if self.numeric_features:
            enough = (np.count_nonzero(~np.isnan(ref.rows.numeric), axis=0) >= self.min_count) & (
                np.count_nonzero(~np.isnan(cur.rows.numeric), axis=0) >= self.min_count
            )
            if "ks" in self.detectors:
                stat, p = ks_2samp(ref.sorted_numeric, cur.sorted_numeric, presorted=True)
                for f in np.flatnonzero(enough).tolist():
                    found.append(("ks", self.numeric_features[f], stat[f], p[f], len(family)))
                    family.append(p[f])
            if "psi" in self.detectors:
                values = psi_numeric(
                    ref.rows.numeric, cur.rows.numeric, self.psi_bins, self.psi_epsilon
                )
                for f in np.flatnonzero(enough).tolist():
                    found.append(("psi", self.numeric_features[f], values[f], None, None))
        categorical = "chi2" in self.detectors or "psi" in self.detectors
        for f, name in enumerate(self.categorical_features if categorical else ()):
            _, table = contingency(ref.rows.categorical[:, f], cur.rows.categorical[:, f])
            if min(table.sum(axis=1)) < self.min_count:
                continue
            if "chi2" in self.detectors:
                stat2, p2, _ = chi2_homogeneity(table, self.chi2_correction)
                found.append(("chi2", name, stat2, p2, len(family)))
                family.append(p2)
            if "psi" in self.detectors:
                found.append(
                    ("psi", name, float(psi(table[0], table[1], self.psi_epsilon)), None, None)
                )
        rejected, adjusted = correct(family, self.correction, self.alpha)
        end = int(cur.bounds["end_position"] or 0)
        self.tests.extend(
            (d, f, end, float(v), None if p is None else float(p)) for d, f, v, p, _ in found
        )
        alerts = []
        for detector, feature, stat_value, p_value, k in found:
            if k is None:
                if stat_value < self.psi_warning:
                    continue
                critical, p_adj = stat_value >= self.psi_critical, None
            else:
                if not rejected[k]:
                    continue
                critical, p_adj = adjusted[k] <= self.critical_alpha, float(adjusted[k])
            alerts.append(
                {
                    "detector": detector,
                    "feature": feature,
                    "statistic": float(stat_value),
                    "p_value": None if p_value is None else float(p_value),
                    "p_value_adjusted": p_adj,
                    "window": dict(cur.bounds),
                    "reference": dict(ref.bounds),
                    "severity": "critical" if critical else "warning",
                }
            )
        return alerts

    # -- input --------------------------------------------------------------------------------

    def _empty(self) -> _Rows:
        return _Rows(
            np.empty((0, len(self.numeric_features))),
            np.empty((0, len(self.categorical_features)), dtype=object),
            np.empty(0, dtype=np.int64),
            np.empty(0, dtype=np.int64),
        )

    def _as_rows(
        self,
        ts_ms: np.ndarray,
        numeric: np.ndarray | None,
        categorical: np.ndarray | Sequence[Sequence[Any]] | None,
        positions: np.ndarray,
    ) -> _Rows:
        """The batch as views or copies of the input (never written to), checked."""
        ts = np.asarray(ts_ms, dtype=np.int64).reshape(-1)
        pos = np.asarray(positions, dtype=np.int64).reshape(-1)
        n, d, c = len(ts), len(self.numeric_features), len(self.categorical_features)
        num = np.empty((n, 0)) if numeric is None and d == 0 else np.asarray(numeric, np.float64)
        if num.ndim == 1 and d == 1:
            num = num[:, None]
        cat = _columns(categorical) if categorical is not None or c else np.empty((n, 0), object)
        for name, shape, want in (
            ("positions", pos.shape, (n,)),
            ("numeric", num.shape, (n, d)),
            ("categorical", cat.shape, (n, c)),
        ):
            if shape != want:
                raise OperatorError(
                    f"feature drift: {name} must have shape {want} (events, features), got {shape}"
                )
        if not np.all(np.isfinite(num)):
            num = np.where(np.isfinite(num), num, np.nan)
        return _Rows(num, cat, ts, pos)


def _columns(categorical: np.ndarray | Sequence[Sequence[Any]] | None) -> np.ndarray:
    """Categorical input as an ``(n, c)`` object array: given so, or one sequence per feature."""
    if categorical is None:
        raise OperatorError("feature drift: categorical values are missing")
    if isinstance(categorical, np.ndarray):
        return categorical.astype(object, copy=False)
    columns = [list(col) for col in categorical]
    if len({len(col) for col in columns}) > 1:
        raise OperatorError("feature drift: the categorical columns differ in length")
    out = np.empty((len(columns[0]) if columns else 0, len(columns)), dtype=object)
    for f, col in enumerate(columns):
        out[:, f] = col
    return out
