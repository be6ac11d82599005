"""The records that flow between the steps of a riverbed dataflow.

The unit of flow is a :class:`Batch` (a micro-batch): the events and labels that the source
read together, plus what each step attached to it. Steps never mutate a batch they receive;
they return a new one built with :func:`dataclasses.replace`.

>>> e = Event(id="a", ts_ms=5, fields={"x": 1.0})
>>> b = Batch(events=(e,), labels=(Label(id="a", ts_ms=6, y=1),))
>>> (len(b.events), len(b.labels), b.features is None)
(1, 1, True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Event", "Label", "DeadLetter", "FeatureBlock", "Batch"]


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
    source position and raw bytes, and whether it was an event or a label record."""

    kind: str
    reason: str
    source: str
    raw: bytes
    role: str = "events"

    def to_record(self) -> dict[str, Any]:
        return {
            "id": self.source,
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
class Batch:
    """A micro-batch and what the steps attached to it.

    Attributes:
        events: valid events, in stream order.
        labels: labels, in stream order (inline labels follow their event).
        dead_letters: records rejected by decoding or validation.
        read_at: wall-clock time (seconds) at which the source handed the batch over.
        features: the featurizer's output for ``events``.
        outputs: records for the sinks, by sink name (``predictions``, ``alerts``, ...).
        report: facts for the run report (counters, model metrics), by step.
    """

    events: tuple[Event, ...] = ()
    labels: tuple[Label, ...] = ()
    dead_letters: tuple[DeadLetter, ...] = ()
    read_at: float = 0.0
    features: FeatureBlock | None = None
    outputs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
