"""Decode and validate raw records into events and labels; the rest become dead letters.

No record can crash the job: anything that does not decode, misses its id or a required
feature, has the wrong type, or carries a number that is not finite becomes a
:class:`~operators.records.DeadLetter` with the reason, its source position and its raw bytes.
Unknown fields are ignored. A missing feature (absent or null) is not an error unless the
feature is ``required``: it reaches the featurizer as None, to be imputed.

Each dead letter has a ``kind``: ``malformed_json``, ``too_deep`` (nested deeper than 1024
levels), ``not_an_object``, ``missing_id``, ``missing_feature``, ``wrong_type``, ``not_finite``,
``null_label`` or ``future_event`` (an event time beyond the range of 64-bit milliseconds; the
decode step also dead-letters times too far ahead of the stream, see :class:`DecodeStep`).

Ids are strings or integers, never both in one stream: ``1`` and ``"1"`` would be one id once
written as text, and the second record a silent duplicate. ``schema.id_type`` says which
(``integer`` or ``string``); empty, the first record with an id decides. A record (event or
label) whose id has the other type is ``wrong_type``. In CSV files every id is text.

Strict JSON has no NaN or Infinity, and ``1e400`` overflows a double: a record carrying one
(the tokens ``NaN``, ``Infinity``, ``-Infinity`` some encoders write, or a number out of the
double range in a field the job uses) is ``not_finite``, with the field named when the job uses
it; the tokens are rejected even in a field the job ignores (the record is not valid JSON),
while a number out of range there is ignored with the field.

Speed: the records of a batch are decoded in one call into typed records (msgspec, with a
type built from the job's fields), then checked by column; only the records that fail go
through the step-by-step validation that names what is wrong (the dead letter's reason), so a
batch's cost is that of its good records plus a little per bad one. Each event's ``seq`` is
twice its record's index in the batch (a label inline in it: plus one), the merged order of the
stream.

The input is a :class:`~operators.records.RawBatch`: per record its role (``"events"`` or
``"labels"``), its position, the source timestamp, and the value as JSON bytes, as a mapping of
typed values (synthetic streams), or as a mapping of strings (CSV rows, where numbers are
parsed from text).

>>> d = Decoder(numeric=("x",), categorical=("c",), required=("x",))
>>> raw = RawBatch(0.0, ["events"] * 2, ["t/0"] * 2, [0, 1], [7, 8],
...                [b'{"id": 1, "x": 2, "c": "a", "label": true}', b'{"id": 2, "x": "2"}'])
>>> ev, lab, dead = d.decode(raw)
>>> ev.ids, ev.fields(0), lab.ys, dead[0].kind, dead[0].reason
(['1'], {'x': 2.0, 'c': 'a'}, [True], 'wrong_type', "feature 'x': expected a number, got str")
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import msgspec
import numpy as np
import orjson
from msgspec import UnsetType

from operators.records import Batch, DeadLetter, Events, Labels, RawBatch
from operators.settings import Settings, one_of, setting, string
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
        id_type: ``integer`` or ``string``: the type of every id (a record whose id has the
            other type is a dead letter); empty: the first record with an id decides.
    """

    id_field: str = setting("id", string)
    time_field: str = setting("ts", string)
    label_field: str = setting("label", non_empty)
    weight_field: str = setting("", string)
    id_type: str = setting("", one_of("", "integer", "string"))


_ID_TYPES = {"integer": int, "string": str}
_MS_RANGE = (-(2**63), 2**63 - 1)
"""Event times are 64-bit integers of milliseconds."""


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
        # The type of every id (None: the first record with an id decides; CSV: all text).
        self.id_kind: type | None = str if numbers_from_text else _ID_TYPES.get(schema.id_type)
        self._required_numeric = [j for j, k in enumerate(self.numeric) if k in self.required]
        label = (
            float | None | UnsetType
            if task == "regression"
            else str | int | float | bool | None | UnsetType
        )
        used: dict[str, Any] = {}  # field name -> its type in the struct
        if schema.id_field:
            used[schema.id_field] = int | str
        if schema.time_field:
            used[schema.time_field] = int | float | None | UnsetType
        self._label_struct = _Struct(dict(used, **{schema.label_field: label}), schema)
        for k in self.meta:
            used.setdefault(k, Any)
        if schema.weight_field:
            used.setdefault(schema.weight_field, float | None)
        for k in self.categorical:
            used.setdefault(k, str | int | float | bool | None)
        for k in self.numeric:
            used.setdefault(k, float | None)
        used.setdefault(schema.label_field, label)
        self._event_struct = _Struct(used, schema, self.numeric, self.categorical, self.meta)

    def __getstate__(self) -> dict[str, Any]:
        # The msgspec types are built from the settings again when unpickled.
        return {k: v for k, v in self.__dict__.items() if not k.endswith("_struct")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        fresh = Decoder(
            state["numeric"], state["categorical"], state["required"], state["schema"],
            state["task"], state["numbers_from_text"], state["meta"],
        )  # fmt: skip
        self.__dict__.update(fresh.__dict__)
        self.id_kind = state["id_kind"]

    def decode(self, raw: RawBatch) -> tuple[Events, Labels, list[DeadLetter]]:
        """The batch's events and labels, in their merged order (``seq``: twice the record's
        index, plus one for a label inline in an event record), and its dead letters."""
        rows = _Rows()
        dead: list[DeadLetter] = []
        if self.id_kind is None and self.schema.id_field:
            self.id_kind = self._first_id_kind(raw)
        slow = self._fast(raw, rows)
        for i in slow:
            role, value = raw.roles[i], raw.values[i]
            source = f"{raw.streams[i]}@{raw.offsets[i]}"
            try:
                self._one(role, source, raw.ts_ms[i], value, 2 * i, rows)
            except _Invalid as exc:
                dead.append(DeadLetter(exc.kind, str(exc), source, _raw_bytes(value), role))
        return rows.events(self), rows.labels(), dead

    def _first_id_kind(self, raw: RawBatch) -> type | None:
        """The type of the first id of the batch, in stream order (None if none has one)."""
        for value in raw.values:
            try:
                obj = value if isinstance(value, Mapping) else orjson.loads(value)
            except orjson.JSONDecodeError:
                continue
            v = obj.get(self.schema.id_field) if isinstance(obj, dict) else None
            if isinstance(v, int) and not isinstance(v, bool):
                return int
            if isinstance(v, str) and v:
                return str
        return None

    def _one(self, role: str, source: str, ts_ms: int, value: Any, seq: int, rows: _Rows) -> None:
        """Validate one record the slow way, naming what is wrong (a dead letter)."""
        obj = self._object(value)
        event_id = self._id(obj, source)
        ts = self._time(obj, ts_ms)
        if role == "events":
            fields = self._fields(obj)  # names a used field that is not finite
            meta = self._meta(obj)
        if isinstance(obj, _NotFinite):
            raise _Invalid("not_finite", obj.reason())
        if role == "events":
            rows.event(
                event_id,
                ts,
                source,
                [np.nan if fields[k] is None else fields[k] for k in self.numeric],
                [fields[k] for k in self.categorical],
                meta,
                seq,
            )
        if self.schema.label_field in obj or role == "labels":
            rows.label(event_id, ts, self._label(obj), source, seq + (role == "events"))

    def _fast(self, raw: RawBatch, rows: _Rows) -> list[int]:
        """Decode the records that need no explanation in one go (msgspec, typed); return the
        indices of the others, for :meth:`_one`."""
        slow: list[int] = []
        for role, structs in (("events", self._event_struct), ("labels", self._label_struct)):
            idx = [i for i, r in enumerate(raw.roles) if r == role]
            if not idx:
                continue
            parsed = self._parse(structs, [raw.values[i] for i in idx])
            good = [k for k, o in enumerate(parsed) if o is not None]
            slow.extend(idx[k] for k, o in enumerate(parsed) if o is None)
            if not good:
                continue
            objs = [parsed[k] for k in good]
            at = [idx[k] for k in good]
            back = (self._take_events if role == "events" else self._take_labels)(
                raw, at, objs, rows
            )
            slow.extend(back)
        return sorted(slow)

    def _parse(self, struct: Any, values: list[Any]) -> list[Any]:
        """Each value as a struct, or None where it does not fit the struct."""
        if all(isinstance(v, (bytes, bytearray)) for v in values):
            try:
                return list(struct.batch.decode(b"[" + b",".join(values) + b"]"))
            except (msgspec.MsgspecError, RecursionError, UnicodeDecodeError):
                pass
            out = []
            for v in values:
                try:
                    out.append(struct.one.decode(v))
                except (msgspec.MsgspecError, RecursionError, UnicodeDecodeError):
                    out.append(None)
            return out
        out = []
        strict = not self.numbers_from_text
        for v in values:
            try:
                out.append(msgspec.convert(v, struct.type, strict=strict))
            except (msgspec.MsgspecError, RecursionError, TypeError):
                out.append(None)
        return out

    def _take_events(self, raw: RawBatch, at: list[int], objs: list[Any], rows: _Rows) -> list[int]:
        """Add the decoded events that pass every check to ``rows``; return the indices of
        the others."""
        st = self._event_struct
        n = len(objs)
        ids = self._ids(raw, at, objs, st)
        ts, bad_ts = self._times(raw, at, objs, st)
        numeric = np.array(list(map(st.numeric, objs)), dtype=float).reshape(n, len(self.numeric))
        back = set(i for i, v in zip(range(n), ids) if v is None)
        back.update(bad_ts)
        holes = ~np.isfinite(numeric)
        for k in np.flatnonzero(holes.any(axis=1)).tolist():
            values = st.numeric(objs[k])
            values = values if isinstance(values, tuple) else (values,)
            if any(v is not None and not math.isfinite(v) for v in values):
                back.add(k)  # NaN given as a number (a mapping): named by the slow path
        if self._required_numeric:
            missing = holes[:, self._required_numeric].any(axis=1)
            back.update(np.flatnonzero(missing).tolist())
        categorical = np.empty((n, len(self.categorical)), dtype=object)
        for j, get in enumerate(st.categorical):
            column = list(map(get, objs))
            if set(map(type, column)) != {str} or "" in column:
                column = [_category(v) for v in column]
            categorical[:, j] = column
            if self.categorical[j] in self.required:
                back.update(k for k, v in enumerate(column) if v is None)
        meta = {}
        for name, get in zip(self.meta, st.meta, strict=True):
            meta[name] = [_meta_value(get(o)) for o in objs]
        if self.schema.weight_field:
            get = st.weight
            weights = [get(o) for o in objs]
            for k, w in enumerate(weights):
                if w is None:
                    weights[k] = 1.0
                elif w < 0:
                    back.add(k)
            meta[self.schema.weight_field] = weights
        inline = self._inline_labels(objs, st, back)
        sources = [f"{raw.streams[i]}@{raw.offsets[i]}" for i in at]
        seq = 2 * np.asarray(at, dtype=np.int64)
        if back:
            keep = [k for k in range(n) if k not in back]
            rows.events_block(
                [ids[k] for k in keep], ts[keep], [sources[k] for k in keep], numeric[keep],
                categorical[keep], {name: [v[k] for k in keep] for name, v in meta.items()},
                seq[keep],
            )  # fmt: skip
        else:
            rows.events_block(ids, ts, sources, numeric, categorical, meta, seq)
        if inline:
            with_label = [k for k in inline if k not in back]
            rows.labels_block(
                [ids[k] for k in with_label], ts[with_label], [inline[k] for k in with_label],
                [sources[k] for k in with_label], seq[with_label] + 1,
            )  # fmt: skip
        return sorted(at[k] for k in back)

    def _inline_labels(self, objs: list[Any], st: _Struct, back: set[int]) -> dict[int, Any]:
        """The labels of the event records that carry one, by record; adds to ``back`` the
        records whose label is null or malformed (the slow path tells which)."""
        if st.label is None:
            return {}
        ys = list(map(st.label, objs))
        if self._plain_labels(ys):
            return dict(enumerate(ys))
        labels = {}
        for k, y in enumerate(ys):
            if y is msgspec.UNSET:
                continue
            y = self._label_value(y)
            if y is None:
                back.add(k)
            else:
                labels[k] = y
        return labels

    def _plain_labels(self, ys: list[Any]) -> bool:
        """Whether every label is given and is already what :meth:`_label_value` makes of it
        (one type: ints, bools or non-empty strings; floats for a regression)."""
        types = set(map(type, ys))
        if len(types) != 1:
            return False
        kind = types.pop()
        if self.task == "regression":
            return kind is float
        if kind is str:
            return not self.numbers_from_text and "" not in ys
        return kind is int or kind is bool

    def _take_labels(self, raw: RawBatch, at: list[int], objs: list[Any], rows: _Rows) -> list[int]:
        st = self._label_struct
        ids = self._ids(raw, at, objs, st)
        ts, bad_ts = self._times(raw, at, objs, st)
        ys = list(map(st.label, objs))
        if not self._plain_labels(ys):
            ys = [None if y is msgspec.UNSET else self._label_value(y) for y in ys]
        for k in bad_ts:
            ys[k] = None  # the slow path names the time
        good = [k for k in range(len(objs)) if ids[k] is not None and ys[k] is not None]
        rows.labels_block(
            [ids[k] for k in good], ts[good], [ys[k] for k in good],
            [f"{raw.streams[at[k]]}@{raw.offsets[at[k]]}" for k in good],
            2 * np.asarray(at, dtype=np.int64)[good],
        )  # fmt: skip
        return [at[k] for k in range(len(objs)) if ids[k] is None or ys[k] is None]

    def _ids(self, raw: RawBatch, at: list[int], objs: list[Any], st: _Struct) -> list[Any]:
        """Each record's id as a string (None where it is empty, or not of the type of the
        stream's ids: the slow path tells)."""
        if st.id is None:
            return [f"{raw.streams[i]}@{raw.offsets[i]}" for i in at]
        values = list(map(st.id, objs))
        out: list[Any] = list(map(str, values))
        kind = self.id_kind
        if "" in out or (kind is not None and set(map(type, values)) != {kind}):
            out = [
                None if v == "" or (kind is not None and type(v) is not kind) else text
                for v, text in zip(values, out)
            ]
        return out

    def _times(
        self, raw: RawBatch, at: list[int], objs: list[Any], st: _Struct
    ) -> tuple[np.ndarray, set[int]]:
        """Each record's event time, and the records whose time is beyond 64-bit ms (for the
        slow path to name)."""
        if st.time is None:
            return np.array([raw.ts_ms[i] for i in at], dtype=np.int64), set()
        values = list(map(st.time, objs))
        if set(map(type, values)) == {int}:
            try:
                return np.array(values, dtype=np.int64), set()  # every time an int64
            except OverflowError:
                pass
        out = []
        bad = set()
        low, high = _MS_RANGE
        for k, (i, v) in enumerate(zip(at, values)):
            t = raw.ts_ms[i] if v is None or v is msgspec.UNSET else int(v)
            if not low <= t <= high:
                bad.add(k)
                t = 0
            out.append(t)
        return np.array(out, dtype=np.int64), bad

    def _label_value(self, y: Any) -> Any:
        """The label, normalized as :meth:`_label` does; None where the slow path must say why."""
        if y is None or y == "":
            return None
        if self.task == "regression":
            return float(y) if isinstance(y, (int, float)) and not isinstance(y, bool) else None
        if isinstance(y, str):
            return int(y) if self.numbers_from_text and y.lstrip("-").isdigit() else y
        if isinstance(y, float):
            return int(y) if y.is_integer() else None
        return y

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
        kind = self.id_kind
        if kind is not None and type(v) is not kind:
            mine, theirs = ("an integer", "strings") if kind is str else ("a string", "integers")
            raise _Invalid(
                "wrong_type",
                f"id field {self.schema.id_field!r}: {v!r} is {mine}, but the ids of this stream "
                f"are {theirs} (schema.id_type)",
            )
        return str(v)

    def _time(self, obj: Mapping[str, Any], source_ts: int) -> int:
        v = obj.get(self.schema.time_field) if self.schema.time_field else None
        if v is None:
            return source_ts
        what = f"time field {self.schema.time_field!r}"
        t = int(_number(what, v, self.numbers_from_text))
        if not _MS_RANGE[0] <= t <= _MS_RANGE[1]:
            raise _Invalid(
                "future_event" if t > 0 else "wrong_type",
                f"{what}: {v!r} is beyond the range of event times (64-bit milliseconds)",
            )
        return t

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


class _Struct:
    """A msgspec type for the fields a job uses (attributes ``f0``, ``f1``, ... renamed to the
    field names, which need not be identifiers), with its decoders and getters."""

    def __init__(
        self,
        types: Mapping[str, Any],
        schema: SchemaSettings,
        numeric: Sequence[str] = (),
        categorical: Sequence[str] = (),
        meta: Sequence[str] = (),
    ) -> None:
        attr = {name: f"f{i}" for i, name in enumerate(types)}
        fields: list[Any] = []
        for name, kind in types.items():
            if name == schema.id_field:
                fields.append((attr[name], kind))
            else:
                default = msgspec.UNSET if _has_unset(kind) else None
                fields.append((attr[name], kind, default))
        self.type = msgspec.defstruct(
            "Record", fields, rename={a: n for n, a in attr.items()}, kw_only=True
        )
        self.batch = msgspec.json.Decoder(list[self.type])  # type: ignore[name-defined]
        self.one = msgspec.json.Decoder(self.type)

        def getter(name: str) -> Any:
            return attrgetter(attr[name]) if name else None

        self.id = getter(schema.id_field)
        self.time = getter(schema.time_field)
        self.label = getter(schema.label_field)
        self.weight = getter(schema.weight_field)
        self.numeric = attrgetter(*(attr[k] for k in numeric)) if numeric else lambda o: ()
        self.categorical = [attrgetter(attr[k]) for k in categorical]
        self.meta = [attrgetter(attr[k]) for k in meta]


def _has_unset(kind: Any) -> bool:
    return UnsetType in getattr(kind, "__args__", ())


def _category(v: Any) -> str | None:
    if v is None or v == "":
        return None
    return v if type(v) is str else str(v)


def _meta_value(v: Any) -> Any:
    return v if isinstance(v, (str, int, float, bool)) else None


class _Rows:
    """Decoded events and labels, gathered in blocks (the fast path) and one by one (the slow
    path), put in their merged order at the end."""

    def __init__(self) -> None:
        self.blocks: list[tuple[Any, ...]] = []
        self.singles: list[tuple[Any, ...]] = []
        self.label_rows: list[tuple[str, int, Any, str, int]] = []
        self.label_blocks: list[tuple[list[str], np.ndarray, list[Any], list[str], np.ndarray]] = []

    def events_block(
        self,
        ids: list[str],
        ts: np.ndarray,
        sources: list[str],
        numeric: np.ndarray,
        categorical: np.ndarray,
        meta: dict[str, list[Any]],
        seq: np.ndarray,
    ) -> None:
        self.blocks.append((ids, ts, sources, numeric, categorical, meta, seq))

    def event(
        self,
        event_id: str,
        ts: int,
        source: str,
        numeric: list[float],
        categorical: list[Any],
        meta: dict[str, Any],
        seq: int,
    ) -> None:
        self.singles.append((event_id, ts, source, numeric, categorical, meta, seq))

    def label(self, label_id: str, ts: int, y: Any, source: str, seq: int) -> None:
        self.label_rows.append((label_id, ts, y, source, seq))

    def labels_block(
        self, ids: list[str], ts: np.ndarray, ys: list[Any], sources: list[str], seq: np.ndarray
    ) -> None:
        self.label_blocks.append((ids, ts, ys, sources, seq))

    def events(self, d: Decoder) -> Events:
        blocks = list(self.blocks)
        if self.singles:
            n = len(self.singles)
            cols = list(zip(*self.singles))
            categorical = np.empty((n, len(d.categorical)), dtype=object)
            categorical[:] = [list(c) for c in cols[4]] if d.categorical else categorical
            names = [*d.meta, *([d.schema.weight_field] if d.schema.weight_field else [])]
            blocks.append((
                list(cols[0]),
                np.array(cols[1], dtype=np.int64),
                list(cols[2]),
                np.array(cols[3], dtype=float).reshape(n, len(d.numeric)),
                categorical,
                {k: [m.get(k) for m in cols[5]] for k in names},
                np.array(cols[6], dtype=np.int64),
            ))  # fmt: skip
        if not blocks:
            return Events(numeric_names=d.numeric, categorical_names=d.categorical,
                          numeric=np.zeros((0, len(d.numeric))),
                          categorical=np.zeros((0, len(d.categorical)), dtype=object))  # fmt: skip
        if len(blocks) == 1:
            ids, ts, sources, numeric, categorical, meta, seq = blocks[0]
            return Events(ids, ts, sources, numeric, categorical, d.numeric, d.categorical,
                          meta, seq)  # fmt: skip
        seq = np.concatenate([b[6] for b in blocks])
        order = np.argsort(seq, kind="stable")
        pick = order.tolist()

        def flat(i: int) -> list[Any]:
            joined = [x for b in blocks for x in b[i]]
            return [joined[k] for k in pick]

        meta = {k: [x for b in blocks for x in b[5][k]] for k in blocks[0][5]}
        return Events(
            flat(0),
            np.concatenate([b[1] for b in blocks])[order],
            flat(2),
            np.concatenate([b[3] for b in blocks])[order],
            np.concatenate([b[4] for b in blocks])[order],
            d.numeric,
            d.categorical,
            {k: [v[i] for i in pick] for k, v in meta.items()},
            seq[order],
        )

    def labels(self) -> Labels:
        blocks = list(self.label_blocks)
        if self.label_rows:
            cols = list(zip(*self.label_rows))
            blocks.append((
                list(cols[0]), np.array(cols[1], dtype=np.int64), list(cols[2]), list(cols[3]),
                np.array(cols[4], dtype=np.int64),
            ))  # fmt: skip
        if not blocks:
            return Labels()
        if len(blocks) == 1 and np.all(blocks[0][4][1:] > blocks[0][4][:-1]):
            return Labels(*blocks[0])
        order = np.concatenate([b[4] for b in blocks])
        pick = np.argsort(order, kind="stable").tolist()

        def flat(i: int) -> list[Any]:
            joined = [x for b in blocks for x in b[i]]
            return [joined[k] for k in pick]

        times = np.concatenate([b[1] for b in blocks])
        return Labels(flat(0), times[pick], flat(2), flat(3), order[pick])


DAY_MS = 86_400_000


class DecodeStep:
    """The decode step: a :class:`~operators.records.RawBatch` becomes a
    :class:`~operators.records.Batch`; rejected records are its dead letters.

    It also keeps one record's clock from dragging the stream's event time ahead (the
    watermarks of the lateness filter and of the label join, which expire what waits): an
    event or a label whose event time is more than ``max_future_ms`` ahead of the stream's
    newest time is a dead letter of kind ``future_event``. The newest time is, per record, the
    later of the job's start (wall clock, taken at the first batch and kept in the snapshot)
    and the newest source timestamp up to that record (Kafka record times; files have none),
    so the decision is the same whatever the batch cut, and after a resume. An event's inline
    label goes with it.

    >>> d = DecodeStep(Decoder(numeric=("x",)), max_future_ms=1000)
    >>> d.newest_ms = 0  # as if the job had started at the epoch
    >>> values = [b'{"id": 1, "ts": 5500}', b'{"id": 2, "ts": 7000}', b'{"id": 3, "ts": 9900}']
    >>> raw = RawBatch(0.0, ["events"] * 3, ["t/0"] * 3, [0, 1, 2], [5000, 5000, 9000], values)
    >>> out = d.update(raw)[0]
    >>> list(out.events.ids), [(x.kind, x.source) for x in out.dead_letters]
    (['1', '3'], [('future_event', 't/0@1')])
    >>> out.dead_letters[0].reason
    'event time 7000 is 2000 ms ahead of the stream (newest time 5000; source.max_future_ms = 1000)'
    """

    def __init__(self, decoder: Decoder, max_future_ms: int = DAY_MS) -> None:
        self.decoder = decoder
        self.max_future_ms = max_future_ms
        self.newest_ms: int | None = None

    def update(self, raw: RawBatch) -> list[Batch]:
        events, labels, dead = self.decoder.decode(raw)
        if self.newest_ms is None:
            self.newest_ms = int(time.time() * 1000)
        source = np.asarray(raw.ts_ms, dtype=np.int64)
        newest = np.maximum.accumulate(np.maximum(source, self.newest_ms))
        if len(newest):
            self.newest_ms = int(newest[-1])
        bound = np.where(
            newest > _MS_RANGE[1] - self.max_future_ms, _MS_RANGE[1], newest + self.max_future_ms
        )
        future = events.ts_ms > bound[events.seq // 2]
        late_labels = labels.ts_ms > bound[labels.seq // 2]
        if future.any() or late_labels.any():
            # An inline label (odd seq) goes with its event: one dead letter for the record.
            on_its_own = labels.seq % 2 == 0
            for role, rows, out in (
                ("events", events, future), ("labels", labels, late_labels & on_its_own)
            ):  # fmt: skip
                for i in np.flatnonzero(out).tolist():
                    k = int(rows.seq[i]) // 2
                    t, mark = int(rows.ts_ms[i]), int(newest[k])
                    reason = (
                        f"{role[:-1]} time {t} is {t - mark} ms ahead of the stream (newest time "
                        f"{mark}; source.max_future_ms = {self.max_future_ms})"
                    )
                    where = f"{raw.streams[k]}@{raw.offsets[k]}"
                    raw_bytes = _raw_bytes(raw.values[k])
                    dead.append(DeadLetter("future_event", reason, where, raw_bytes, role))
            events = events.take(np.flatnonzero(~future))
            labels = labels.take(np.flatnonzero(~late_labels))
            # In stream order, with the decoder's own dead letters.
            index = {f"{s}@{o}": i for i, (s, o) in enumerate(zip(raw.streams, raw.offsets))}
            dead.sort(key=lambda d: index[d.source])
        return [Batch(events, labels, tuple(dead), raw.read_at)]


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
