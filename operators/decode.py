"""Decode and validate raw records into events and labels; the rest become dead letters.

No record can crash the job: anything that does not decode, misses its id or a required
feature, has the wrong type, or carries a number that is not finite becomes a
:class:`~operators.records.DeadLetter` with the reason, its source position and its raw bytes.
Unknown fields are ignored. A missing feature (absent or null) is not an error unless the
feature is ``required``: it reaches the featurizer as None, to be imputed.

Each dead letter has a ``kind``: ``malformed_json``, ``too_deep`` (nested deeper than 1024
levels), ``not_an_object``, ``missing_id``, ``missing_feature``, ``wrong_type``, ``not_finite``
or ``null_label``.

Strict JSON has no NaN or Infinity, and ``1e400`` overflows a double: a record carrying one
(the tokens ``NaN``, ``Infinity``, ``-Infinity`` some encoders write, or a number out of the
double range) is ``not_finite``, with the field named when the job uses it; it is rejected even
when the number is in a field the job ignores (the record is not valid JSON).

The input is a :class:`~operators.records.RawBatch`: per record its role (``"events"`` or
``"labels"``), its position, the source timestamp, and the value as JSON bytes, as a mapping of
typed values (synthetic streams), or as a mapping of strings (CSV rows, where numbers are
parsed from text).

>>> d = Decoder(numeric=("x",), categorical=("c",), required=("x",))
>>> raw = RawBatch(0.0, ["events"] * 2, ["t/0"] * 2, [0, 1], [7, 8],
...                [b'{"id": 1, "x": 2, "c": "a", "label": true}', b'{"id": 2, "x": "2"}'])
>>> ev, lab, dead = d.decode(raw)
>>> ev[0].id, ev[0].fields, lab[0].y, dead[0].kind, dead[0].reason
('1', {'x': 2.0, 'c': 'a'}, True, 'wrong_type', "feature 'x': expected a number, got str")
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from operators.records import Batch, DeadLetter, Event, Label, RawBatch
from operators.settings import Settings, setting, string
from operators.settings import name as non_empty

__all__ = ["SchemaSettings", "Decoder", "DecodeStep"]


@dataclass(frozen=True)
class SchemaSettings(Settings):
    """``[schema]``: where the id, the event time, the label and the weight are in a record.

    Attributes:
        id_field: the field holding the event id (string or integer); empty: the record's
            source position is its id (files without an id column).
        time_field: the field holding event time in ms; absent or empty: the source timestamp.
        label_field: the field holding the label, inline in events or in label records.
        weight_field: the field of per-event importance weights: a finite number >= 0
            (1.0 when absent), carried in ``meta``; empty: none.
    """

    id_field: str = setting("id", string)
    time_field: str = setting("ts", string)
    label_field: str = setting("label", non_empty)
    weight_field: str = setting("", string)


class _Invalid(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class Decoder:
    """Turn raw records into events, labels and dead letters.

    Args:
        numeric: numeric features.
        categorical: categorical features.
        required: features whose absence makes the record a dead letter.
        schema: where the id, the event time, the label and the weight are.
        task: ``"classification"`` (labels: string, integer or boolean) or ``"regression"``
            (labels: finite numbers).
        numbers_from_text: parse numbers from strings (CSV rows); JSON requires real numbers.
        meta: other fields carried along with the event (slices, keys), as strings or numbers
            (None when absent; nested values are turned into None).
    """

    def __init__(
        self,
        numeric: Sequence[str] = (),
        categorical: Sequence[str] = (),
        required: Sequence[str] = (),
        schema: SchemaSettings = SchemaSettings(),
        task: str = "classification",
        numbers_from_text: bool = False,
        meta: Sequence[str] = (),
    ) -> None:
        self.numeric = tuple(numeric)
        self.categorical = tuple(categorical)
        self.required = frozenset(required)
        self.schema = schema
        self.task = task
        self.numbers_from_text = numbers_from_text
        self.meta = tuple(meta)

    def decode(self, raw: RawBatch) -> tuple[list[Event], list[Label], list[DeadLetter]]:
        events: list[Event] = []
        labels: list[Label] = []
        dead: list[DeadLetter] = []
        for role, stream, offset, ts_ms, value in zip(
            raw.roles, raw.streams, raw.offsets, raw.ts_ms, raw.values
        ):
            source = f"{stream}@{offset}"
            try:
                obj = self._object(value)
                event_id = self._id(obj, source)
                ts = self._time(obj, ts_ms)
                if role == "events":
                    fields = self._fields(obj)  # names a used field that is not finite
                    meta = self._meta(obj)
                if isinstance(obj, _NotFinite):
                    raise _Invalid("not_finite", obj.reason())
                if role == "events":
                    events.append(Event(event_id, ts, fields, source, meta))
                if self.schema.label_field in obj or role == "labels":
                    labels.append(Label(event_id, ts, self._label(obj), source))
            except _Invalid as exc:
                dead.append(DeadLetter(exc.kind, str(exc), source, _raw_bytes(value), role))
        return events, labels, dead

    @staticmethod
    def _object(value: Any) -> Mapping[str, Any]:
        if isinstance(value, Mapping):
            return value
        try:
            obj = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            if "depth limit" in str(exc):
                raise _Invalid("too_deep", f"JSON nested too deeply: {exc}") from None
            obj = _non_finite(value)
            if obj is None:
                raise _Invalid("malformed_json", f"malformed JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise _Invalid("not_an_object", f"expected a JSON object, got {type(obj).__name__}")
        return obj

    def _id(self, obj: Mapping[str, Any], source: str) -> str:
        if not self.schema.id_field:
            return source
        v = obj.get(self.schema.id_field)
        if isinstance(v, bool) or not isinstance(v, (str, int)) or v == "":
            raise _Invalid(
                "missing_id",
                f"id field {self.schema.id_field!r}: expected a string or integer, got {v!r}",
            )
        return str(v)

    def _time(self, obj: Mapping[str, Any], source_ts: int) -> int:
        v = obj.get(self.schema.time_field) if self.schema.time_field else None
        if v is None:
            return source_ts
        return int(_number(f"time field {self.schema.time_field!r}", v, self.numbers_from_text))

    def _fields(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        text = self.numbers_from_text
        isfinite = math.isfinite
        for name in self.numeric:
            v = obj.get(name)
            if type(v) is float and isfinite(v):  # the common case, first
                fields[name] = v
            elif v is None or v == "":
                self._check_optional(name)
                fields[name] = None
            else:
                fields[name] = _number(f"feature {name!r}", v, text)
        for name in self.categorical:
            v = obj.get(name)
            if type(v) is str and v:
                fields[name] = v
            elif v is None or v == "":
                self._check_optional(name)
                fields[name] = None
            elif isinstance(v, (int, float, bool)):
                fields[name] = str(v)
            else:
                raise _Invalid(
                    "wrong_type", f"feature {name!r}: expected a category (string or number)"
                )
        return fields

    def _meta(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        meta = {}
        for name in self.meta:
            v = obj.get(name)
            meta[name] = v if isinstance(v, (str, int, float, bool)) else None
        if self.schema.weight_field:
            v = obj.get(self.schema.weight_field)
            w = (
                1.0
                if v is None
                else _number(
                    f"weight field {self.schema.weight_field!r}", v, self.numbers_from_text
                )
            )
            if w < 0:
                raise _Invalid(
                    "wrong_type",
                    f"weight field {self.schema.weight_field!r}: expected >= 0, got {w}",
                )
            meta[self.schema.weight_field] = w
        return meta

    def _check_optional(self, name: str) -> None:
        """A missing feature is imputed later, unless it is required."""
        if name in self.required:
            raise _Invalid("missing_feature", f"missing required feature {name!r}")

    def _label(self, obj: Mapping[str, Any]) -> Any:
        v = obj.get(self.schema.label_field)
        if v is None or v == "":
            raise _Invalid(
                "null_label", f"label field {self.schema.label_field!r}: missing or null"
            )
        if self.task == "regression":
            return _number(f"label field {self.schema.label_field!r}", v, self.numbers_from_text)
        if isinstance(v, str) and self.numbers_from_text:
            return int(v) if v.lstrip("-").isdigit() else v
        if isinstance(v, (str, int, bool)):
            return v
        if isinstance(v, float) and v.is_integer():
            return int(v)
        raise _Invalid(
            "wrong_type", f"label field {self.schema.label_field!r}: expected a class, got {v!r}"
        )


class DecodeStep:
    """The decode step: a :class:`~operators.records.RawBatch` becomes a
    :class:`~operators.records.Batch`; rejected records are its dead letters."""

    def __init__(self, decoder: Decoder) -> None:
        self.decoder = decoder

    def update(self, raw: RawBatch) -> list[Batch]:
        events, labels, dead = self.decoder.decode(raw)
        return [Batch(tuple(events), tuple(labels), tuple(dead), raw.read_at)]


class _NotFinite(dict):  # type: ignore[type-arg]
    """A JSON object that strict JSON rejects only for its non-finite numbers."""

    def reason(self) -> str:
        where = sorted(k for k, v in self.items() if _has_non_finite(v))
        inside = f" in field(s) {', '.join(map(repr, where))}" if where else ""
        return f"a number that is not finite (NaN, Infinity or beyond a double){inside}"


def _has_non_finite(v: Any) -> bool:
    if isinstance(v, float):
        return not math.isfinite(v)
    if isinstance(v, dict):
        return any(_has_non_finite(x) for x in v.values())
    if isinstance(v, list):
        return any(_has_non_finite(x) for x in v)
    return False


def _non_finite(value: Any) -> Any:
    """``value`` parsed leniently if non-finite numbers are all that make it invalid, else None.

    (Only on the error path: the strict parser already refused the record.)
    """
    seen = []

    def number(text: str) -> float:
        x = float(text)
        if not math.isfinite(x):
            seen.append(text)
        return x

    def constant(name: str) -> float:
        seen.append(name)
        return float(name)  # "NaN", "Infinity", "-Infinity" are what float() reads

    try:
        text = value.decode("utf-8") if isinstance(value, (bytes, bytearray)) else value
        obj = json.loads(text, parse_float=number, parse_constant=constant)
    except (ValueError, TypeError, RecursionError, UnicodeDecodeError):
        return None
    if not seen:
        return None  # invalid for another reason the lenient parser lets through
    return _NotFinite(obj) if isinstance(obj, dict) else obj


def _number(what: str, v: Any, text: bool) -> float:
    if text and isinstance(v, str):
        try:
            v = float(v)
        except ValueError:
            raise _Invalid("wrong_type", f"{what}: expected a number, got {v!r}") from None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _Invalid("wrong_type", f"{what}: expected a number, got {type(v).__name__}")
    try:
        x = float(v)
    except OverflowError:  # an integer beyond the range of a float
        x = math.inf
    if not math.isfinite(x):
        raise _Invalid("not_finite", f"{what}: expected a finite number, got {v!r}")
    return x


def _raw_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return repr(value).encode()
