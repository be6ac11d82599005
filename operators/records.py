"""The records that flow between the steps of a riverbed dataflow.

The unit of flow is a :class:`Batch` (a micro-batch): the events and labels that the source
read together, plus a named field for everything one step hands a later one. Steps never mutate
a batch they receive; they return a new one built with :func:`dataclasses.replace`. Which step
writes and which reads each field is tabled in docs/ARCHITECTURE.md ("The batch").

>>> e = Event(id="a", ts_ms=5, fields={"x": 1.0})
>>> b = Batch(events=(e,), labels=(Label(id="a", ts_ms=6, y=1),))
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
    "Event",
    "Label",
    "DeadLetter",
    "FeatureBlock",
    "Alert",
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


@dataclass(frozen=True, slots=True)
class Event:
    """One valid input event.

    Attributes:
        id: the event id, the key labels are joined on.
        ts_ms: event time in milliseconds since the epoch.
        fields: the validated feature values by name (numbers are floats, categories strings).
        source: where it came from, e.g. ``"events/0@1234"``; the deterministic record id.
        meta: fields that are not features but travel with the event (slice fields, the
            canary key, importance weights), as decoded.
    """

    id: str
    ts_ms: int
    fields: dict[str, Any]
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Label:
    """The ground truth for the event with the same id, arriving inline or later."""

    id: str
    ts_ms: int
    y: Any
    source: str = ""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record that could not be used: why (a short ``kind`` and a readable ``reason``), its
    source position and raw bytes, and whether it was an event, a label or an output record."""

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
    """

    names: tuple[str, ...]
    matrix: np.ndarray
    sparse: tuple[bool, ...] = ()

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
class DriftAction:
    """A request of the feature-drift step to the learn step: ``"reset_model"`` (every model
    starts afresh) or ``"challenger"`` (a challenger for every model)."""

    action: str


@dataclass(frozen=True, slots=True)
class Sample:
    """An emission of the sampling step: the sample's records (for the sample sink, and the
    feature-drift step's reference) and the sampler's summary (for the run summary)."""

    records: tuple[dict[str, Any], ...]
    summary: Mapping[str, Any]


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

    Attributes:
        events: valid events, in stream order.
        labels: labels, in stream order (inline labels follow their event).
        dead_letters: records rejected by any step (decoding, lateness, the output guard).
        read_at: wall-clock time (seconds) at which the source handed the batch over.
        features: the featurizer's output for ``events``.
        sample: the sampling step's emission with this batch, if any.
        actions: the feature-drift step's requests to the learn step.
        alerts: alerts raised on this batch (feature drift, error drift, deployments).
        predictions: the served predictions, one sink record per predicted event.
        learn: the learn step's summary after this batch (None before the learn step).
        sinks: what each sink writes for this batch, by sink name (the output guard derives
            it from the fields above, in one place).
    """

    events: tuple[Event, ...] = ()
    labels: tuple[Label, ...] = ()
    dead_letters: tuple[DeadLetter, ...] = ()
    read_at: float = 0.0
    features: FeatureBlock | None = None
    sample: Sample | None = None
    actions: tuple[DriftAction, ...] = ()
    alerts: tuple[Alert, ...] = ()
    predictions: tuple[dict[str, Any], ...] = ()
    learn: Mapping[str, Any] | None = None
    sinks: Mapping[str, SinkRecords] = field(default_factory=dict)
