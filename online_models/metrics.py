"""Prequential metrics on micro-batches: cumulative, or over a rolling window of the last N events.

Every metric turns a batch into one row of numbers per event, and keeps either a running
aggregate of those rows (``window=None``, cumulative) or the rows of the last ``window`` events
(rolling, aggregated when read, so there is no drift from adding and subtracting). ``get()`` is
None until the metric is defined (no event yet; AUC without both classes).

**Any cut of the label stream gives the same bits.** Floating-point totals are added one event
at a time in stream order (a carried total, then ``np.cumsum`` or ``np.add.at``, which add
sequentially; never ``np.sum``, whose pairwise order depends on the batch); counts are
integers; a rolling value is computed from the window's rows, whose layout depends only on the
number of events; classes are numbered in order of first appearance in the stream. So every
reported value, and the state, is the same for batches of 1, 7 or 1000 labels, or any cut.

Inputs: labels ``y_true`` and predicted labels ``y_pred``; for probability metrics ``proba``,
either one mapping ``{label: probability}`` per event (River's form), or an ``(n, k)`` array
with ``classes`` naming its columns. A label missing from ``proba`` has probability 0.

Definitions (checked against River and numpy in the tests):

* ``LogLoss``: mean of ``-log p(y_true)``, ``p`` clipped to ``[1e-15, 1 - 1e-15]`` (River's
  ``LogLoss`` for binary labels, the cross-entropy for more).
* ``ROCAUC`` (binary): rolling is exact (Mann-Whitney, ties count 1/2). Cumulative sorts the
  positive-class probability into ``bins`` equal bins over [0, 1] and counts pairs in one bin as
  ties: the error is at most half the fraction of (positive, negative) pairs sharing a bin, which
  :meth:`ROCAUC.error_bound` reports (a few 1e-4 for 1000 bins and spread-out scores).
* ``F1`` (binary, ``pos_label``) and ``MacroF1`` (mean over the classes present as truth or
  prediction) follow River's definitions, 0 when there is no true positive.
* ``Brier``: ``(p(pos) - [y = pos])^2`` with a ``pos_label``; without, the multiclass form
  ``sum_c (p_c - [y = c])^2``.
* ``ECE``: top-label expected calibration error over ``bins`` equal-width confidence bins:
  ``sum_b n_b / n * |accuracy_b - confidence_b|``; the confidence is the highest probability and
  an event is correct when that class is the true one.

>>> m = ClassificationMetrics(window=2)
>>> m.update([True, False, True], [True, True, True])
>>> r = m.report()
>>> r["cumulative"]["accuracy"], r["rolling"]["accuracy"]
(0.6666666666666666, 0.5)
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from online_models.errors import ModelError

__all__ = [
    "ECE",
    "F1",
    "MAE",
    "RMSE",
    "Accuracy",
    "Brier",
    "ClassificationMetrics",
    "LogLoss",
    "MacroF1",
    "Metric",
    "ROCAUC",
    "RegressionMetrics",
    "SlicedMetrics",
]

OTHER = "__other__"
MISSING = "__missing__"


@dataclass(frozen=True)
class _Batch:
    """One batch of scored events, probabilities as an ``(n, k)`` array over ``classes``."""

    y_true: list[Any]
    y_pred: list[Any]
    P: np.ndarray | None
    classes: list[Hashable]

    @classmethod
    def of(
        cls,
        y_true: Sequence[Any],
        y_pred: Sequence[Any] | None,
        proba: Sequence[Mapping[Hashable, float]] | np.ndarray | None,
        classes: Sequence[Hashable] | None,
        index: dict[Hashable, int],
    ) -> _Batch:
        """The batch; ``index`` numbers the classes of probability mappings across batches
        (in order of first appearance in the stream) and gets this batch's new classes."""
        yt = list(y_true)
        yp = list(y_pred) if y_pred is not None else [None] * len(yt)
        if len(yp) != len(yt):
            raise ModelError(f"metrics: {len(yp)} predictions for {len(yt)} labels")
        if proba is None:
            return cls(yt, yp, None, [])
        if classes is not None:
            P = np.asarray(proba, dtype=float)
            if P.shape != (len(yt), len(classes)):
                raise ModelError(
                    f"metrics: proba must have shape {(len(yt), len(classes))}, got {P.shape}"
                )
            # Columns in the stream's class order, as mappings with these keys would give.
            for c in classes:
                index.setdefault(c, len(index))
            if len(index) == len(classes) and all(index[c] == j for j, c in enumerate(classes)):
                return cls(yt, yp, P, list(classes))
            full = np.zeros((len(yt), len(index)))
            full[:, [index[c] for c in classes]] = P
            return cls(yt, yp, full, list(index))
        if isinstance(proba, np.ndarray):
            raise ModelError("metrics: a proba array needs classes (its column labels)")
        dicts = list(proba)
        if len(dicts) != len(yt):
            raise ModelError(f"metrics: {len(dicts)} probability mappings for {len(yt)} labels")
        for d in dicts:
            for c in d:
                index.setdefault(c, len(index))
        P = np.zeros((len(yt), len(index)))
        for i, d in enumerate(dicts):
            for c, p in d.items():
                P[i, index[c]] = p
        return cls(yt, yp, P, list(index))

    def take(self, idx: list[int]) -> _Batch:
        P = None if self.P is None else self.P[idx]
        return _Batch([self.y_true[i] for i in idx], [self.y_pred[i] for i in idx], P, self.classes)

    @cached_property
    def hits(self) -> np.ndarray:
        """Per event, whether the predicted label equals the true one (``==``)."""
        t, p = _numbers(self.y_true), _numbers(self.y_pred)
        if t is not None and p is not None:
            return t == p
        return np.array([t == p for t, p in zip(self.y_true, self.y_pred, strict=True)], bool)

    def is_label(self, label: Hashable) -> np.ndarray:
        """Per event, whether the true label equals ``label`` (``==``)."""
        t = _numbers(self.y_true)
        if t is not None and isinstance(label, (bool, int, float)):
            return t == label
        return np.array([y == label for y in self.y_true], dtype=bool)

    @cached_property
    def p_true(self) -> np.ndarray:
        """Probability given to the true label of each row (0 for a class not in ``classes``)."""
        assert self.P is not None
        index = {c: i for i, c in enumerate(self.classes)}
        padded = np.column_stack([self.P, np.zeros(len(self.P))])
        return padded[np.arange(len(self.y_true)), [index.get(y, -1) for y in self.y_true]]

    def p_label(self, label: Hashable) -> np.ndarray:
        """Probability given to ``label`` in each row (0 if it is not in ``classes``)."""
        assert self.P is not None
        if label in self.classes:
            return self.P[:, self.classes.index(label)]
        return np.zeros(len(self.P))


def _numbers(values: list[Any]) -> np.ndarray | None:
    """``values`` as a bool or number array, or None when they are not all bools and numbers
    (where numpy's ``==`` would not be Python's: strings, None, mixed types)."""
    if not values:
        return None
    a = np.asarray(values) if type(values[0]) in (bool, int, float) else None
    return a if a is not None and a.dtype.kind in "biuf" else None


class _Ring:
    """The rows of the last ``size`` events; storage grows with use up to ``size`` rows.

    Row ``i`` of the stream sits at ``i % size``; until the ring is full, the storage is the
    next power of two (at least 64) above the rows held. The layout is therefore a function of
    the number of rows pushed only, whatever the batches.
    """

    def __init__(self, size: int, width: int) -> None:
        self.size = size
        self.data = np.zeros((0, width))
        self.count = 0  # rows pushed so far

    def push(self, rows: np.ndarray) -> None:
        end = self.count + len(rows)
        kept = rows[-self.size :]
        need = min(self.size, end)
        if len(self.data) < need:
            grown = np.zeros((min(self.size, max(64, 1 << (need - 1).bit_length())), rows.shape[1]))
            grown[: len(self.data)] = self.data
            self.data = grown
        start = (end - len(kept)) % self.size
        first = min(len(kept), self.size - start)  # the rows before the end of the storage
        self.data[start : start + first] = kept[:first]
        self.data[: len(kept) - first] = kept[first:]
        self.count = end

    def rows(self) -> np.ndarray:
        return self.data if self.count >= self.size else self.data[: self.count]


class Metric:
    """Base class: rows per event, aggregated cumulatively or over the last ``window`` events.

    Args:
        window: number of most recent events the metric covers; None for all events.
    """

    name = ""
    width = 1
    needs_proba = False

    def __init__(self, window: int | None = None) -> None:
        if window is not None and not (isinstance(window, int) and window >= 1):
            raise ModelError(f"metrics window: expected an integer >= 1 or None, got {window!r}")
        self.window = window
        self._ring = None if window is None else _Ring(window, self.width)
        self._agg: Any = None
        self._classes: dict[Hashable, int] = {}  # columns of probability mappings

    def update(
        self,
        y_true: Sequence[Any],
        y_pred: Sequence[Any] | None = None,
        proba: Sequence[Mapping[Hashable, float]] | np.ndarray | None = None,
        classes: Sequence[Hashable] | None = None,
    ) -> None:
        """Add a batch of events (see the module docstring for the forms of ``proba``)."""
        batch = _Batch.of(y_true, y_pred, proba, classes, self._classes)
        if self.needs_proba and batch.P is None:
            raise ModelError(f"metric {self.name}: needs probabilities (proba)")
        self._push(batch)

    def _push(self, batch: _Batch) -> None:
        if batch.y_true:
            self._push_rows(self._rows(batch))

    def _push_rows(self, rows: np.ndarray) -> None:
        if self._ring is not None:
            self._ring.push(rows)
        else:
            self._agg = self._accumulate(self._empty() if self._agg is None else self._agg, rows)

    def get(self) -> float | None:
        """The metric's value, or None while it is undefined."""
        if self._ring is not None:
            rows = self._ring.rows()
            return self._value(self._accumulate(self._empty(), rows)) if len(rows) else None
        return None if self._agg is None else self._value(self._agg)

    def _rows(self, batch: _Batch) -> np.ndarray:
        raise NotImplementedError

    def _follow(self, twin: Metric) -> None:
        """Take the state that :meth:`_rows` of ``twin`` (the same metric over another span
        of the same stream) updated, so that its rows can be pushed here."""

    def _empty(self) -> Any:
        """The aggregate of no event."""
        return np.zeros(2)

    def _accumulate(self, agg: Any, rows: np.ndarray) -> Any:
        """``agg`` with ``rows`` added one after the other (a new aggregate)."""
        return np.array([_running_sum(float(agg[0]), rows[:, 0]), agg[1] + len(rows)])

    def _value(self, agg: Any) -> float | None:
        return float(agg[0] / agg[1])


def _running_sum(total: float, values: np.ndarray) -> float:
    """``total + values[0] + values[1] + ...``, added in this order (``np.cumsum`` is)."""
    if not len(values):
        return total
    return float(np.cumsum(np.concatenate(([total], values)))[-1])


def _column(values: Sequence[float] | np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=float).reshape(-1, 1)


class Accuracy(Metric):
    """Fraction of predicted labels equal to the true ones."""

    name = "accuracy"

    def _rows(self, batch: _Batch) -> np.ndarray:
        return _column(batch.hits)


class LogLoss(Metric):
    """Mean negative log probability of the true label (clipped to [1e-15, 1 - 1e-15])."""

    name = "log_loss"
    needs_proba = True

    def _rows(self, batch: _Batch) -> np.ndarray:
        p = np.clip(batch.p_true, 1e-15, 1.0 - 1e-15)
        return _column(-np.log(p))


class Brier(Metric):
    """Mean squared error of the probabilities (binary with ``pos_label``, else multiclass).

    Args:
        window: number of most recent events covered; None for all.
        pos_label: the positive class, or None for the multiclass sum over classes.
    """

    name = "brier"
    needs_proba = True

    def __init__(self, window: int | None = None, pos_label: Hashable | None = True) -> None:
        super().__init__(window)
        self.pos_label = pos_label

    def _rows(self, batch: _Batch) -> np.ndarray:
        assert batch.P is not None
        p_true = batch.p_true
        if self.pos_label is None:
            # a row's squares added in column order: trailing zero columns change nothing
            squares = np.cumsum(batch.P**2, axis=1)[:, -1] if batch.classes else 0.0
            return _column(squares - 2.0 * p_true + 1.0)
        p_pos = batch.p_label(self.pos_label)
        return _column((p_pos - batch.is_label(self.pos_label)) ** 2)


class MAE(Metric):
    """Mean absolute error."""

    name = "mae"

    def _rows(self, batch: _Batch) -> np.ndarray:
        return _column(np.abs(np.asarray(batch.y_pred, float) - np.asarray(batch.y_true, float)))


class RMSE(Metric):
    """Root mean squared error."""

    name = "rmse"

    def _rows(self, batch: _Batch) -> np.ndarray:
        return _column((np.asarray(batch.y_pred, float) - np.asarray(batch.y_true, float)) ** 2)

    def _value(self, agg: Any) -> float | None:
        return float(np.sqrt(agg[0] / agg[1]))


class _Confusion(Metric):
    """Confusion counts over the classes seen (true x predicted)."""

    width = 2

    def __init__(self, window: int | None = None) -> None:
        super().__init__(window)
        self.classes: list[Hashable] = []
        self._index: dict[Hashable, int] = {}

    def _code(self, label: Hashable) -> int:
        i = self._index.get(label)
        if i is None:
            i = self._index[label] = len(self.classes)
            self.classes.append(label)
        return i

    def _rows(self, batch: _Batch) -> np.ndarray:
        # classes numbered in stream order: truth then prediction, event after event
        labels = itertools.chain.from_iterable(zip(batch.y_true, batch.y_pred, strict=True))
        codes = {label: self._code(label) for label in dict.fromkeys(labels)}
        rows = np.empty((len(batch.y_true), 2))
        rows[:, 0] = [codes[t] for t in batch.y_true]
        rows[:, 1] = [codes[p] for p in batch.y_pred]
        return rows

    def _follow(self, twin: Metric) -> None:
        assert isinstance(twin, _Confusion)
        self.classes, self._index = list(twin.classes), dict(twin._index)

    def _empty(self) -> np.ndarray:
        return np.zeros((0, 0), dtype=np.int64)

    def _accumulate(self, agg: np.ndarray, rows: np.ndarray) -> np.ndarray:
        k = len(self.classes)
        flat = rows[:, 0].astype(np.intp) * k + rows[:, 1].astype(np.intp)
        out = np.bincount(flat, minlength=k * k).reshape(k, k)
        out[: len(agg), : len(agg)] += agg
        return out

    @staticmethod
    def _f1(cm: np.ndarray) -> np.ndarray:
        tp = np.diag(cm)
        denom = cm.sum(axis=0) + cm.sum(axis=1)
        return np.divide(2.0 * tp, denom, out=np.zeros(len(cm)), where=tp > 0)


class F1(_Confusion):
    """Binary F1 score of ``pos_label``.

    Args:
        window: number of most recent events covered; None for all.
        pos_label: the positive class.
    """

    name = "f1"

    def __init__(self, window: int | None = None, pos_label: Hashable = True) -> None:
        super().__init__(window)
        self.pos_label = pos_label

    def _value(self, agg: np.ndarray) -> float | None:
        i = self._index.get(self.pos_label)
        return 0.0 if i is None or i >= len(agg) else float(self._f1(agg)[i])


class MacroF1(_Confusion):
    """Mean F1 over the classes present (as truth or prediction) in the covered events."""

    name = "macro_f1"

    def _value(self, agg: np.ndarray) -> float | None:
        present = (agg.sum(axis=0) + agg.sum(axis=1)) > 0
        return float(self._f1(agg)[present].mean())


class ECE(Metric):
    """Top-label expected calibration error over ``bins`` equal-width confidence bins.

    Args:
        window: number of most recent events covered; None for all.
        bins: number of bins over [0, 1].
    """

    name = "ece"
    width = 2
    needs_proba = True

    def __init__(self, window: int | None = None, bins: int = 10) -> None:
        super().__init__(window)
        self.bins = bins

    def _rows(self, batch: _Batch) -> np.ndarray:
        assert batch.P is not None
        if not batch.classes:
            return np.zeros((len(batch.y_true), 2))
        top = batch.P.argmax(axis=1)
        hit = [batch.classes[j] == y for j, y in zip(top, batch.y_true, strict=True)]
        return np.column_stack([batch.P.max(axis=1), np.array(hit, dtype=float)])

    def _empty(self) -> np.ndarray:
        return np.zeros((3, self.bins))  # events, confidence and hits per bin

    def _accumulate(self, agg: np.ndarray, rows: np.ndarray) -> np.ndarray:
        b = np.minimum((rows[:, 0] * self.bins).astype(np.intp), self.bins - 1)
        out = agg.copy()
        out[0] += np.bincount(b, minlength=self.bins)
        np.add.at(out[1], b, rows[:, 0])  # one event after the other, in stream order
        out[2] += np.bincount(b, weights=rows[:, 1], minlength=self.bins)  # 0/1: exact
        return out

    def _value(self, agg: np.ndarray) -> float | None:
        return float(np.abs(agg[2] - agg[1]).sum() / agg[0].sum())


class ROCAUC(Metric):
    """Binary ROC AUC of the ``pos_label`` probability: rolling exact, cumulative binned.

    Args:
        window: number of most recent events covered (exact AUC); None for all (binned).
        pos_label: the positive class.
        bins: number of equal score bins of the cumulative estimate.

    >>> m = ROCAUC(bins=10)
    >>> m.update([True, False, True, False], None, [{True: s} for s in (0.9, 0.12, 0.15, 0.4)])
    >>> m.get(), m.error_bound()
    (0.625, 0.125)
    """

    name = "roc_auc"
    width = 2
    needs_proba = True

    def __init__(
        self, window: int | None = None, pos_label: Hashable = True, bins: int = 1000
    ) -> None:
        super().__init__(window)
        self.pos_label = pos_label
        self.bins = bins

    def _rows(self, batch: _Batch) -> np.ndarray:
        hit = batch.is_label(self.pos_label)
        return np.column_stack([batch.p_label(self.pos_label), hit.astype(float)])

    def _empty(self) -> np.ndarray:
        return np.zeros((2, self.bins), dtype=np.int64)  # positives and negatives per bin

    def _accumulate(self, agg: np.ndarray, rows: np.ndarray) -> np.ndarray:
        b = np.clip((rows[:, 0] * self.bins).astype(np.intp), 0, self.bins - 1)
        hit = rows[:, 1] > 0
        pos = np.bincount(b[hit], minlength=self.bins)
        return agg + np.stack([pos, np.bincount(b, minlength=self.bins) - pos])

    def get(self) -> float | None:
        if self._ring is None:
            return super().get()
        rows = self._ring.rows()
        n_pos = float(rows[:, 1].sum())
        n_neg = len(rows) - n_pos
        if n_pos == 0 or n_neg == 0:
            return None
        _, inverse, counts = np.unique(rows[:, 0], return_inverse=True, return_counts=True)
        mid_rank = np.cumsum(counts) - (counts - 1) / 2.0  # average rank of each distinct score
        rank_sum = float((mid_rank[inverse] * rows[:, 1]).sum())
        return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)

    def _value(self, agg: np.ndarray) -> float | None:
        pos, neg = agg
        pairs = float(pos.sum()) * float(neg.sum())
        if pairs == 0:
            return None
        below = np.cumsum(neg) - neg
        return float((pos * (below + 0.5 * neg)).sum() / pairs)

    def error_bound(self) -> float | None:
        """Largest possible gap between the cumulative binned AUC and the exact one."""
        if self._ring is not None:
            return 0.0
        if self._agg is None:
            return None
        pos, neg = self._agg
        pairs = float(pos.sum()) * float(neg.sum())
        return None if pairs == 0 else float(0.5 * (pos * neg).sum() / pairs)


class _Suite:
    """The same metrics, cumulative and rolling; ``make(window)`` builds one set."""

    def __init__(self, make: Callable[[int | None], list[Metric]], window: int | None) -> None:
        self.window = window
        self.n = 0
        self.cumulative = make(None)
        self.rolling = make(window) if window is not None else []
        self._classes: dict[Hashable, int] = {}  # columns of probability mappings

    def update(
        self,
        y_true: Sequence[Any],
        y_pred: Sequence[Any] | None = None,
        proba: Sequence[Mapping[Hashable, float]] | np.ndarray | None = None,
        classes: Sequence[Hashable] | None = None,
    ) -> None:
        """Add a batch of events (see the module docstring for the forms of ``proba``)."""
        self._push(_Batch.of(y_true, y_pred, proba, classes, self._classes))

    def _push(self, batch: _Batch) -> None:
        self.n += len(batch.y_true)
        if not batch.y_true:
            return
        for i, m in enumerate(self.cumulative):
            if batch.P is None and m.needs_proba:
                continue
            rows = m._rows(batch)  # the same rows for the cumulative and the rolling metric
            m._push_rows(rows)
            if self.rolling:
                self.rolling[i]._follow(m)
                self.rolling[i]._push_rows(rows)

    def report(self) -> dict[str, Any]:
        """``{"n": events, "cumulative": {name: value}, "rolling": {..., "window": N}}``."""
        cumulative = {m.name: m.get() for m in self.cumulative}
        out: dict[str, Any] = {"n": self.n, "cumulative": cumulative}
        for m in self.cumulative:
            if isinstance(m, ROCAUC):
                cumulative["roc_auc_error_bound"] = m.error_bound()
        if self.rolling:
            out["rolling"] = {m.name: m.get() for m in self.rolling} | {"window": self.window}
        return out


class ClassificationMetrics(_Suite):
    """Accuracy, log loss, ROC AUC, F1, macro F1, Brier score and ECE; cumulative and rolling.

    Args:
        window: size of the rolling window (None: cumulative only).
        pos_label: the positive class of the binary metrics (ROC AUC, F1, binary Brier); None
            for a multiclass task (no ROC AUC or F1, multiclass Brier).
        auc_bins: bins of the cumulative ROC AUC.
        ece_bins: bins of the expected calibration error.
    """

    def __init__(
        self,
        window: int | None = 1000,
        pos_label: Hashable | None = True,
        auc_bins: int = 1000,
        ece_bins: int = 10,
    ) -> None:
        self.pos_label = pos_label
        self.auc_bins = auc_bins
        self.ece_bins = ece_bins
        super().__init__(self._make, window)

    def _make(self, window: int | None) -> list[Metric]:
        binary: list[Metric] = []
        if self.pos_label is not None:
            binary = [ROCAUC(window, self.pos_label, self.auc_bins), F1(window, self.pos_label)]
        return [
            Accuracy(window),
            LogLoss(window),
            *binary,
            MacroF1(window),
            Brier(window, self.pos_label),
            ECE(window, self.ece_bins),
        ]


class RegressionMetrics(_Suite):
    """MAE and RMSE, cumulative and over a rolling window.

    Args:
        window: size of the rolling window (None: cumulative only).

    >>> m = RegressionMetrics(window=None)
    >>> m.update([1.0, 2.0], [2.0, 4.0])
    >>> m.report()["cumulative"]
    {'mae': 1.5, 'rmse': 1.5811388300841898}
    """

    def __init__(self, window: int | None = 1000) -> None:
        super().__init__(lambda w: [MAE(w), RMSE(w)], window)


class SlicedMetrics:
    """The metrics of a task per value of each slice field, with a cap on the slices kept.

    The first ``max_slices`` distinct values of a field get their own metrics; the events of
    later values are pooled into the ``"__other__"`` slice (a missing value is ``"__missing__"``).
    Slice names are ``str(value)``, so :meth:`report` is JSON-ready.

    Args:
        fields: the event fields to slice on, e.g. ``["country"]``.
        task: ``"classification"`` or ``"regression"``.
        max_slices: the most distinct values per field with their own metrics.
        **options: arguments of :class:`ClassificationMetrics` or :class:`RegressionMetrics`.

    >>> s = SlicedMetrics(["country"], max_slices=1, window=None)
    >>> s.update({"country": ["fr", "de", "fr"]}, [True, False, False], [True, True, False])
    >>> {k: v["cumulative"]["accuracy"] for k, v in s.report()["country"].items()}
    {'fr': 1.0, '__other__': 0.0}
    """

    def __init__(
        self,
        fields: Sequence[str],
        task: str = "classification",
        max_slices: int = 50,
        **options: Any,
    ) -> None:
        if task not in ("classification", "regression"):
            raise ModelError(
                f"sliced metrics task: expected 'classification' or 'regression', got {task!r}"
            )
        if not (isinstance(max_slices, int) and max_slices >= 1):
            raise ModelError(
                f"sliced metrics max_slices: expected an integer >= 1, got {max_slices!r}"
            )
        self.fields = list(fields)
        self.task = task
        self.max_slices = max_slices
        self.options = dict(options)
        self.slices: dict[str, dict[str, _Suite]] = {f: {} for f in self.fields}
        self._classes: dict[Hashable, int] = {}  # columns of probability mappings

    def _suite(self) -> _Suite:
        if self.task == "classification":
            return ClassificationMetrics(**self.options)
        return RegressionMetrics(**self.options)

    def update(
        self,
        values: Mapping[str, Sequence[Any]],
        y_true: Sequence[Any],
        y_pred: Sequence[Any] | None = None,
        proba: Sequence[Mapping[Hashable, float]] | np.ndarray | None = None,
        classes: Sequence[Hashable] | None = None,
    ) -> None:
        """Add a batch; ``values[field][i]`` is the slice value of event ``i`` for ``field``."""
        batch = _Batch.of(y_true, y_pred, proba, classes, self._classes)
        for field in self.fields:
            column = values.get(field)
            if column is None:
                column = [None] * len(batch.y_true)
            if len(column) != len(batch.y_true):
                raise ModelError(
                    f"sliced metrics: {len(column)} values of {field!r} for {len(batch.y_true)} "
                    "events"
                )
            groups: dict[str, list[int]] = {}
            known = self.slices[field]
            for i, v in enumerate(column):
                key = MISSING if v is None else str(v)
                if key not in known and len(known) - (OTHER in known) >= self.max_slices:
                    key = OTHER
                if key not in known:
                    known[key] = self._suite()
                groups.setdefault(key, []).append(i)
            for key, idx in groups.items():
                known[key]._push(batch.take(idx))

    def report(self) -> dict[str, dict[str, dict[str, Any]]]:
        """``{field: {slice: report}}`` (see :meth:`ClassificationMetrics.report`)."""
        return {f: {k: s.report() for k, s in sl.items()} for f, sl in self.slices.items()}
