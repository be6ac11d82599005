"""Labels the models cannot take become dead letters (``bad_label``) before they reach them.

Classification labels are strings, integers or booleans (the decoder makes ``1.0`` the integer
``1``, and a CSV's ``"1"`` too). They are never converted into one another: ``1``, ``true`` and
``"1"`` are three different labels, and a stream uses one type. So the first label accepted
sets the type of the stream's labels, and a label of another type is a dead letter: River's
trees would fail comparing ``1`` with ``"1"``, and a model would keep two classes for one.
When the job has a binary model (River's binary classifiers, ``fast_logistic_regression``),
each label must be one of its two classes, ``False``/``True`` or ``0``/``1``: a third class is
a dead letter naming the model; multiclass models take new classes as they come.

Labels are judged one at a time in stream order, against the labels accepted before them, so
the answers are the same whatever the batch cut. An event keeps going when its inline label is
refused (it is predicted, never learned), as with a null label.

>>> from operators.records import Batch, Labels
>>> check = LabelCheck(binary=("lr",))
>>> out = check.update(Batch(labels=Labels.of(["a", "b", "c", "d"], [1, "1", 2, 0])))[0]
>>> list(out.labels.ys), [d.kind for d in out.dead_letters]
([1, 0], ['bad_label', 'bad_label'])
>>> [d.reason for d in out.dead_letters]  # doctest: +NORMALIZE_WHITESPACE
["label '1' of event 'b': a string, but the labels before it are integers (1, true and '1'
  are different labels)",
 "label 2 of event 'c': model 'lr' is binary: its labels are False/True or 0/1"]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import orjson

from operators.records import Batch, DeadLetter

__all__ = ["LabelCheck"]

_TYPES = {bool: "boolean", int: "integer", str: "string"}


class LabelCheck:
    """Turn the labels the job's models cannot take into ``bad_label`` dead letters.

    Args:
        binary: the names of the job's binary models (their labels are False/True or 0/1).

    Attributes:
        kind: the type of the stream's labels (None before the first label).
    """

    def __init__(self, binary: Sequence[str] = ()) -> None:
        self.binary = tuple(binary)
        self.kind: type | None = None

    def update(self, batch: Batch) -> list[Batch]:
        labels = batch.labels
        if not len(labels):
            return [batch]
        keep = np.ones(len(labels), dtype=bool)
        dead = []
        for i, y in enumerate(labels.ys):
            why = self._refused(y)
            if why is None:
                continue
            keep[i] = False
            event_id = labels.ids[i]
            raw = orjson.dumps({"id": event_id, "label": y})
            reason = f"label {y!r} of event {event_id!r}: {why}"
            dead.append(DeadLetter("bad_label", reason, labels.sources[i], raw, "labels"))
        if not dead:
            return [batch]
        kept = labels.take(np.flatnonzero(keep))
        return [replace(batch, labels=kept, dead_letters=batch.dead_letters + tuple(dead))]

    def _refused(self, y: Any) -> str | None:
        """Why the models cannot take ``y`` after the labels accepted so far (None: they can)."""
        kind = type(y)
        if kind not in _TYPES:  # regression targets are checked by the decoder
            return None
        if self.kind is not None and kind is not self.kind:
            return (
                f"a {_TYPES[kind]}, but the labels before it are {_TYPES[self.kind]}s "
                "(1, true and '1' are different labels)"
            )
        if self.binary and not (kind is not str and y in (0, 1)):
            return f"model {self.binary[0]!r} is binary: its labels are False/True or 0/1"
        self.kind = kind
        return None
