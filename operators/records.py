"""The records that flow between the steps of a riverbed dataflow.

The unit of flow is a :class:`Batch` (a micro-batch): the events and labels that the source
read together, plus a named field for everything one step hands a later one. Steps never mutate
a batch they receive; they return a new one built with :func:`dataclasses.replace`. Which step
writes and which reads each field is tabled in docs/ARCHITECTURE.md ("The batch").

>>> b = Batch(events=Events.of([{"x": 1.0}], ["x"]), labels=Labels.of(["0"], [1]))
>>> (len(b.events), len(b.labels), b.features is None, b.alerts)
(1, 1, True, ())
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "RawBatch",
    "Events",
    "Labels",
    "DeadLetter",
    "FeatureBlock",
    "Alert",
    "DriftTest",
    "DriftAction",
    "Sample",
    "SinkRecords",
    "Batch",
]


@dataclass(frozen=True, slots=True)
class RawBatch:
    """Records as a source read them, before decoding, in stream order (one column per
    attribute).

    Attributes:
        read_at: wall-clock time (seconds) at which the source handed the batch over.
        roles: per record, ``"events"`` or ``"labels"``: which topic (or stream) it came from.
        streams: per record, the stream it was read from: ``"events/0"`` for a Kafka
            topic-partition, the file's name, ``"synthetic"``.
        offsets: per record, its offset in that stream. A record's source position, its
            deterministic id, is ``"{stream}@{offset}"``.
        ts_ms: per record, the source timestamp (Kafka record time; 0 for files).
        values: per record, the value as JSON bytes, a mapping of typed values (synthetic
            stream) or of strings (CSV rows, where numbers are parsed from text).
    """

    read_at: float
    roles: Sequence[str]
    streams: Sequence[str]
    offsets: Sequence[int]
    ts_ms: Sequence[int]
    values: Sequence[bytes | Mapping[str, Any]]

    def __len__(self) -> int:
        return len(self.values)


def _strings(n: int) -> tuple[str, ...]:
    return tuple(str(i) for i in range(n))


@dataclass(frozen=True, slots=True)
class Events:
    """A batch's valid events, one column per attribute, in stream order.

    Attributes:
        ids: the event ids, the keys labels are joined on.
        ts_ms: event times in milliseconds since the epoch (int64).
        sources: where each came from, e.g. ``"events/0@1234"``; the deterministic record id.
        numeric: ``(n, len(numeric_names))`` float64 feature values; NaN where missing.
        categorical: ``(n, len(categorical_names))`` object array of categories (strings, None
            where missing).
        numeric_names: the names of the numeric columns.
        categorical_names: the names of the categorical columns.
        meta: fields that are not features but travel with the events (slice fields, the
            canary key, importance weights), one list per field, as decoded.
        seq: each event's place in the batch's merged stream order of events and labels
            (see :class:`Batch`).
    """

    ids: Sequence[str] = ()
    ts_ms: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    sources: Sequence[str] = ()
    numeric: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    categorical: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=object))
    numeric_names: tuple[str, ...] = ()
    categorical_names: tuple[str, ...] = ()
    meta: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    seq: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def of(
        cls,
        rows: Sequence[Mapping[str, Any]],
        numeric: Sequence[str] = (),
        categorical: Sequence[str] = (),
        *,
        ids: Sequence[str] | None = None,
        ts_ms: Sequence[int] | None = None,
        sources: Sequence[str] | None = None,
        meta: Sequence[str] = (),
    ) -> Events:
        """Events from per-event field dicts (ids ``"0", "1", ...`` and times ``0, 1, ...``
        unless given; sources ``"rows@i"``; ``seq`` even numbers in order).

        >>> e = Events.of([{"x": 1.0, "c": "a"}, {"c": 2}], ["x"], ["c"])
        >>> e.ids, e.numeric.tolist(), e.categorical.tolist(), e.fields(1)
        (('0', '1'), [[1.0], [nan]], [['a'], ['2']], {'x': None, 'c': '2'})
        """
        n = len(rows)
        num = np.array([[_number(r.get(k)) for k in numeric] for r in rows], dtype=float).reshape(
            n, len(numeric)
        )
        cat = np.empty((n, len(categorical)), dtype=object)
        for j, k in enumerate(categorical):
            cat[:, j] = [None if r.get(k) is None else str(r.get(k)) for r in rows]
        return cls(
            _strings(n) if ids is None else tuple(ids),
            np.arange(n, dtype=np.int64) if ts_ms is None else np.asarray(ts_ms, dtype=np.int64),
            tuple(f"rows@{i}" for i in range(n)) if sources is None else tuple(sources),
            num,
            cat,
            tuple(numeric),
            tuple(categorical),
            {k: [r.get(k) for r in rows] for k in meta},
            np.arange(0, 2 * n, 2, dtype=np.int64),
        )

    def take(self, idx: Sequence[int] | np.ndarray) -> Events:
        """The events at positions ``idx``, in that order."""
        ix = np.asarray(idx, dtype=np.int64)
        keep = ix.tolist()
        return Events(
            tuple(self.ids[i] for i in keep),
            self.ts_ms[ix],
            tuple(self.sources[i] for i in keep),
            self.numeric[ix],
            self.categorical[ix],
            self.numeric_names,
            self.categorical_names,
            {k: [v[i] for i in keep] for k, v in self.meta.items()},
            self.seq[ix],
        )

    def fields(self, i: int) -> dict[str, Any]:
        """Event ``i``'s feature values by name (None where missing)."""
        out: dict[str, Any] = {
            k: (None if v != v else v)
            for k, v in zip(self.numeric_names, self.numeric[i].tolist(), strict=True)
        }
        out.update(zip(self.categorical_names, self.categorical[i].tolist(), strict=True))
        return out


def _number(v: Any) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else np.nan


@dataclass(frozen=True, slots=True)
class Labels:
    """A batch's labels (the ground truth for the events with the same ids), one column per
    attribute, in stream order; ``seq`` places each in the batch's merged order."""

    ids: Sequence[str] = ()
    ts_ms: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    ys: Sequence[Any] = ()
    sources: Sequence[str] = ()
    seq: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def of(
        cls, ids: Sequence[str], ys: Sequence[Any], ts_ms: Sequence[int] | None = None
    ) -> Labels:
        """Labels for these ids (times ``0, 1, ...`` unless given; ``seq`` odd numbers in
        order, each label just after the event of the same rank in :meth:`Events.of`)."""
        n = len(ids)
        return cls(
            tuple(ids),
            np.arange(n, dtype=np.int64) if ts_ms is None else np.asarray(ts_ms, dtype=np.int64),
            tuple(ys),
            tuple(f"labels@{i}" for i in range(n)),
            np.arange(1, 2 * n, 2, dtype=np.int64),
        )

    def take(self, idx: Sequence[int] | np.ndarray) -> Labels:
        ix = np.asarray(idx, dtype=np.int64)
        keep = ix.tolist()
        return Labels(
            tuple(self.ids[i] for i in keep),
            self.ts_ms[ix],
            tuple(self.ys[i] for i in keep),
            tuple(self.sources[i] for i in keep),
            self.seq[ix],
        )


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record that could not be used: why (a short ``kind`` and a readable ``reason``), its
    source position and raw bytes, and whether it was an event, a label, an output record, or
    a record a model raised on (``"model"``: the event stays counted as an event)."""

    kind: str
    reason: str
    source: str
    raw: bytes
    role: str = "events"

    @property
    def id(self) -> str:
        """The record id in the dead-letters sink: the source position."""
        return self.source

    def to_record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "reason": self.reason,
            "role": self.role,
            "source": self.source,
            "raw": self.raw.decode("utf-8", errors="replace"),
        }


@dataclass(frozen=True, slots=True)
class FeatureBlock:
    """Features of a batch's events, computed once per batch.

    ``matrix`` is a dense ``(n_events, n_features)`` float array whose columns are ``names``;
    :meth:`dicts` gives the same values as one dict per event, the form River models take.
    Zero-valued one-hot columns are left out of the dicts, as River's OneHotEncoder does.
    ``clipped`` counts, per numeric field (the first columns), the outliers clipped in this
    batch (:mod:`operators.clipping`).
    """

    names: tuple[str, ...]
    matrix: np.ndarray
    sparse: tuple[bool, ...] = ()
    clipped: tuple[int, ...] = ()

    def dicts(self) -> list[dict[str, float]]:
        sparse = self.sparse or (False,) * len(self.names)
        dense = [j for j, s in enumerate(sparse) if not s]
        dense_names = [self.names[j] for j in dense]
        out = [dict(zip(dense_names, row)) for row in self.matrix[:, dense].tolist()]
        cols = [j for j, s in enumerate(sparse) if s]
        if cols:
            block = self.matrix[:, cols]
            rows, hits = np.nonzero(block)
            values = block[rows, hits].tolist()
            for i, h, v in zip(rows.tolist(), hits.tolist(), values):
                out[i][self.names[cols[h]]] = v
        return out


@dataclass(frozen=True, slots=True)
class Alert:
    """Something an operator should know about, in one schema for every kind.

    Attributes:
        kind: ``"drift"`` (a detector on a model's errors or on a feature), ``"promotion"``,
            ``"rollback"`` (deployment modes), ``"model_reset"``, ``"challenger_start"``,
            ``"challenger_promote"`` or ``"challenger_drop"`` (drift actions).
        detector: what raised it: a drift detector (``adwin``, ``ks``, ``psi``, ...), a
            deployment mode (``champion_challenger``, ``canary``) or ``challenger``.
        subject: the model or feature it is about.
        position: the stream position (events so far) it belongs to.
        model: whether ``subject`` is a model (else a feature).
        severity: ``"warning"`` or ``"critical"`` for drift; None otherwise.
        statistic: the test statistic (a number, or a mapping of named numbers).
        p_value: the test's p-value, None where the rule is not a test.
        details: the rest, kind-specific (window bounds, the models swapped, counts).
        seq: where in its batch's merged order of events and labels it was raised (alerts
            are written in that order, so the batch cut does not change it); not written.
    """

    kind: str
    detector: str
    subject: str
    position: int
    model: bool = True
    severity: str | None = None
    statistic: Any = None
    p_value: float | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    seq: int = 0

    @property
    def id(self) -> str:
        """The deterministic id: kind, detector, subject and position.

        >>> Alert("drift", "ks", "age", 500, model=False).id
        'drift/ks/age/500'
        """
        return f"{self.kind}/{self.detector}/{self.subject}/{self.position}"

    def to_record(self) -> dict[str, Any]:
        """The alerts-sink record (JSON-ready)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "detector": self.detector,
            "model": self.subject if self.model else None,
            "feature": None if self.model else self.subject,
            "position": self.position,
            "severity": self.severity,
            "statistic": self.statistic,
            "p_value": self.p_value,
            **self.details,
        }


@dataclass(frozen=True, slots=True)
class DriftTest:
    """One feature's result in one window test of the feature-drift step, alert or not (for
    the run report and Prometheus).

    Attributes:
        detector: ``ks``, ``chi2`` or ``psi``.
        feature: the feature tested.
        position: the stream position of the window's last event.
        statistic: the test statistic (PSI: the index).
        p_value: the test's p-value (None for PSI).
    """

    detector: str
    feature: str
    position: int
    statistic: float
    p_value: float | None


@dataclass(frozen=True, slots=True)
class DriftAction:
    """A request of the feature-drift step to the learn step: ``"reset_model"`` (every model
    starts afresh) or ``"challenger"`` (a challenger for every model), right after the
    ``after``-th event of the batch."""

    action: str
    after: int = 0


@dataclass(frozen=True, slots=True)
class Sample:
    """An emission of the sampling step: the sample's records (for the sample sink, and the
    feature-drift step's reference), the sampler's summary (for the run summary), and after
    how many of the batch's events it was taken."""

    records: tuple[dict[str, Any], ...]
    summary: Mapping[str, Any]
    after: int = 0


@dataclass(frozen=True, slots=True)
class SinkRecords:
    """One sink's records of a batch, encoded: each record's key (its id) and its JSON value.
    A file sink writes the values one per line; a Kafka sink produces each, keyed."""

    keys: tuple[bytes, ...] = ()
    values: tuple[bytes, ...] = ()

    def __len__(self) -> int:
        return len(self.values)


@dataclass(frozen=True, slots=True)
class Batch:
    """A micro-batch and what the steps attached to it.

    Events and labels keep the merged order of the stream: ordered by their ``seq``, an event
    before a label of the same ``seq``, they are the order in which the source read them (an
    inline label right after its event; a label held back by the label delay right after the
    event it waited for). Every step that predicts, learns or decides processes them in that
    order, so the cut of the stream into batches changes nothing but speed.

    Attributes:
        events: valid events, in stream order.
        labels: labels, in stream order.
        dead_letters: records rejected by any step (decoding, lateness, the output guard).
        read_at: wall-clock time (seconds) at which the source handed the batch over.
        features: the featurizer's output for ``events``.
        samples: the sampling step's emissions with this batch, in order.
        actions: the feature-drift step's requests to the learn step.
        alerts: alerts raised on this batch (feature drift, error drift, deployments).
        drift_tests: every feature's result in the window tests of this batch.
        label_latency_ms: per label joined with this batch, its event's time to the label's
            time in milliseconds (None before the learn step).
        predictions: the served predictions, one sink record per predicted event.
        learn: the learn step's summary after this batch (None before the learn step).
        sinks: what each sink writes for this batch, by sink name (the output guard derives
            it from the fields above, in one place).
    """

    events: Events = field(default_factory=Events)
    labels: Labels = field(default_factory=Labels)
    dead_letters: tuple[DeadLetter, ...] = ()
    read_at: float = 0.0
    features: FeatureBlock | None = None
    samples: tuple[Sample, ...] = ()
    actions: tuple[DriftAction, ...] = ()
    alerts: tuple[Alert, ...] = ()
    drift_tests: tuple[DriftTest, ...] = ()
    label_latency_ms: np.ndarray | None = None
    predictions: tuple[dict[str, Any], ...] = ()
    learn: Mapping[str, Any] | None = None
    sinks: Mapping[str, SinkRecords] = field(default_factory=dict)
