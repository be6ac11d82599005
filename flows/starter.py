"""``riverbed init DATA``: a starter job for a CSV or JSON Lines file.

A sample of the file's first rows types each field: numeric when every value present is a
number (CSV: text that parses as a finite number), else categorical; nested values are left
out. The label is the field named ``--label``, else one named like a label (``label``,
``target``, ``class``, ``y``, ``outcome``), else the last field. It is a classification task
unless the label is numeric with more than :data:`MAX_CLASSES` distinct values or fractional
ones. The id is a field named like one (``id``, ``event_id``, ``uuid``, ``key``, ``*_id``)
whose sampled values are all distinct, else the row's position; the event time a numeric
field named ``ts``, ``ts_ms``, ``time``, ``timestamp`` or ``event_time``, else none. A
categorical field whose sampled values are all distinct (free text, an id) is left out, with a
comment.

The job written has every key commented; it passes ``riverbed validate`` and runs with
``riverbed run``.

>>> fields = [Field("id", "numeric", 5, True), Field("x", "numeric", 5, False),
...           Field("color", "categorical", 2, False), Field("label", "categorical", 2, False)]
>>> roles = guess_roles(fields, None)
>>> roles.label, roles.id, roles.numeric, roles.categorical, roles.task
('label', 'id', ['x'], ['color'], 'classification')
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import orjson

from flows.errors import OptionsError

__all__ = ["Field", "Roles", "sample_fields", "guess_roles", "starter_toml", "write_starter"]

LABEL_NAMES = ("label", "target", "class", "y", "outcome")
ID_NAMES = ("id", "event_id", "uuid", "key")
TIME_NAMES = ("ts", "ts_ms", "time", "timestamp", "event_time")
MAX_CLASSES = 20
"""A label with at most this many distinct sampled values is a class label."""


@dataclass(frozen=True)
class Field:
    """One field as the sample shows it."""

    name: str
    kind: str  # "numeric", "categorical" or "nested"
    distinct: int  # distinct values in the sample
    unique: bool  # every sampled row has a value, all different
    integral: bool = True  # numeric: every value is a whole number


@dataclass
class Roles:
    """What the starter job does with each field."""

    label: str
    task: str
    classes: int
    id: str = ""
    time: str = ""
    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    left_out: dict[str, str] = field(default_factory=dict)


def detect_format(path: Path) -> str:
    """``jsonl`` when the file's first non-blank character opens a JSON object, else ``csv``."""
    with open(path, "rb") as f:
        head = f.read(4096).lstrip()
    return "jsonl" if head.startswith(b"{") else "csv"


def sample_fields(path: Path, fmt: str, rows: int) -> tuple[list[Field], int]:
    """The fields of the first ``rows`` records of ``path`` (in order of appearance), and the
    number of records read."""
    records = _records(path, fmt, rows)
    if not records:
        raise OptionsError(f"init: {path} has no {'rows' if fmt == 'csv' else 'JSON objects'}")
    names = list(dict.fromkeys(k for r in records for k in r))
    return [_field(name, [r.get(name) for r in records], fmt) for name in names], len(records)


def _records(path: Path, fmt: str, rows: int) -> list[dict[str, Any]]:
    try:
        if fmt == "csv":
            with open(path, newline="") as f:
                return [dict(r) for r in islice(csv.DictReader(f), rows)]
        out = []
        with open(path, "rb") as f:
            for n, line in enumerate(islice((x for x in f if x.strip()), rows), 1):
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError:
                    raise OptionsError(f"init: {path} line {n} is not JSON") from None
                if isinstance(record, dict):
                    out.append(record)
        return out
    except UnicodeDecodeError:
        raise OptionsError(f"init: {path} is not UTF-8 text") from None
    except OSError as exc:
        raise OptionsError(f"init: cannot read {path}: {exc.strerror}") from None


def _field(name: str, values: list[Any], fmt: str) -> Field:
    present = [v for v in values if v is not None and v != ""]
    distinct = len({orjson.dumps(v) for v in present}) if fmt == "jsonl" else len(set(present))
    unique = len(present) == len(values) and distinct == len(values)
    if any(isinstance(v, (dict, list)) for v in present):
        return Field(name, "nested", distinct, unique)
    numbers = [_number(v, fmt) for v in present]
    if present and all(x is not None for x in numbers):
        integral = all(float(x).is_integer() for x in numbers if x is not None)
        return Field(name, "numeric", distinct, unique, integral)
    return Field(name, "categorical", distinct, unique)


def _number(v: Any, fmt: str) -> float | None:
    if fmt == "csv":
        try:
            x = float(v)
        except ValueError:
            return None
        return x if math.isfinite(x) else None
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    return None


def guess_roles(fields: list[Field], label: str | None) -> Roles:
    """The label, id, time and feature fields, and the task."""
    by_name = {f.name: f for f in fields}
    if label is not None and label not in by_name:
        raise OptionsError(f"init --label: no field {label!r} in the sample")
    if label is None:
        label = next((f.name for f in fields if f.name.lower() in LABEL_NAMES), None)
    if label is None:
        label = fields[-1].name
    y = by_name[label]
    regression = y.kind == "numeric" and (y.distinct > MAX_CLASSES or not y.integral)
    roles = Roles(label, "regression" if regression else "classification", y.distinct)
    for f in fields:
        if f.name == label:
            continue
        lower = f.name.lower()
        if not roles.id and f.unique and (lower in ID_NAMES or lower.endswith("_id")):
            roles.id = f.name
        elif not roles.time and f.kind == "numeric" and lower in TIME_NAMES:
            roles.time = f.name
        elif f.kind == "nested":
            roles.left_out[f.name] = "nested values"
        elif f.kind == "categorical" and f.unique and f.distinct > MAX_CLASSES:
            roles.left_out[f.name] = "every sampled value is different (free text or an id?)"
        else:
            (roles.numeric if f.kind == "numeric" else roles.categorical).append(f.name)
    if not (roles.numeric or roles.categorical):
        raise OptionsError(f"init: no feature field left besides the label {label!r}")
    return roles


def _models(roles: Roles) -> list[tuple[str, str, str]]:
    """(name, estimator, why) of the starter's candidate models."""
    if roles.task == "regression":
        return [
            ("linear", "linear_regression", "River's LinearRegression on the scaled features"),
            ("tree", "hoeffding_tree_regressor", "River's HoeffdingTreeRegressor"),
        ]
    first = (
        ("logistic", "logistic_regression", "River's LogisticRegression (two classes)")
        if roles.classes <= 2
        else ("naive_bayes", "gaussian_nb", "River's GaussianNB (any number of classes)")
    )
    return [first, ("tree", "hoeffding_tree", "River's HoeffdingTreeClassifier")]


def _toml(value: Any) -> str:
    """A TOML value: strings and lists of strings as JSON writes them (valid TOML)."""
    return json.dumps(value, ensure_ascii=False)


def _table(header: str, *keys: tuple[str, Any, str], why: str = "") -> str:
    """A TOML table, each key with its comment (aligned after it, or above it when long)."""
    lines = [f"# {why}"] if why else []
    lines.append(header)
    for key, value, comment in keys:
        assign = f"{key} = {_toml(value)}"
        if len(assign) <= 40:
            lines.append(f"{assign:<40} # {comment}")
        else:
            lines.extend([f"# {comment}", assign])
    return "\n".join(lines) + "\n"


def starter_toml(data: str, fmt: str, roles: Roles, sampled: int) -> str:
    """The starter job's TOML text for the file ``data`` (as the user named it)."""
    name = "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(data).stem) or "job"
    runs = f"runs/{name}"
    head = [
        f"# A starter job for {data}, written by `riverbed init` from its first {sampled} rows.",
        "# Check it with `riverbed validate JOB.toml`, run it with `riverbed run JOB.toml`.",
        "# docs/CONFIG.md documents every key; the keys not written here keep their defaults.",
    ]
    head.extend(f"# Left out: {k} ({why})" for k, why in roles.left_out.items())
    tables = [
        "\n".join(head) + "\n",
        _table(
            "[job]",
            ("name", name, "the dataflow's name"),
            ("seed", 42, "seed of every random choice: same seed and input, same output"),
            ("task", roles.task, "classification or regression (guessed from the label)"),
            ("progress_s", 5.0, "a progress line on stderr every so many seconds (0: never)"),
        ),
        _table(
            "[source]",
            ("kind", "file", "file, kafka or synthetic"),
            ("path", data, "the input file, relative to where riverbed runs"),
            ("format", fmt, "csv (a header row) or jsonl (one JSON object per line)"),
            ("label_delay", 0, "hold each inline label back this many events (0: none)"),
        ),
        _table(
            "[schema]",
            ("id_field", roles.id, 'the event id field ("": the row\'s position)'),
            ("time_field", roles.time, 'the event time field, in ms ("": none)'),
            ("label_field", roles.label, "the label field, inline in each row"),
        ),
        _table(
            "[features]",
            ("numeric", roles.numeric, "numeric fields: imputed (mean), then scaled"),
            ("categorical", roles.categorical, "categorical fields: one-hot encoded"),
            ("scaler", "standard", "standard, minmax, log, robust, quantile_bins or none"),
        ),
        _table(
            "[batch]",
            ("max_events", 500, "events per micro-batch (speed only: results do not change)"),
        ),
        *(
            _table(
                "[[models]]",
                ("name", n, "the model's name in outputs and the summary"),
                ("estimator", e, "a registry alias or a river.* class path"),
                why=why,
            )
            for n, e, why in _models(roles)
        ),
        _table(
            "[selection]",
            ("policy", "ucb1", "who serves: epsilon_greedy, ucb1, thompson, softmax, exp3"),
        ),
        _table(
            "[drift]",
            ("detector", "adwin", "on each model's errors: adwin, page_hinkley, ddm, eddm, kswin"),
        ),
        *(
            _table(
                f"[sinks.{sink}]",
                ("kind", "jsonl", "jsonl, kafka, stdout or none"),
                ("path", f"{runs}/{sink}.jsonl", what),
            )
            for sink, what in (
                ("predictions", "one served prediction per event"),
                ("alerts", "drift alerts, promotions and rollbacks"),
                ("dead_letters", "records that could not be used, with the reason"),
            )
        ),
    ]
    return "\n".join(tables)


def write_starter(
    data: str, out: str | None, *, force: bool = False, label: str | None = None, rows: int = 1000
) -> None:
    """Write the starter job for ``data`` to ``out`` (standard output when None)."""
    path = Path(data)
    if not path.is_file():
        raise OptionsError(f"init: {data} is not a file")
    if rows < 1:
        raise OptionsError(f"init --sample: expected an integer >= 1, got {rows}")
    if out is not None and os.path.exists(out) and not force:
        raise OptionsError(f"init --out: {out} exists; add --force to overwrite it")
    fmt = detect_format(path)
    fields, sampled = sample_fields(path, fmt, rows)
    text = starter_toml(data, fmt, guess_roles(fields, label), sampled)
    if out is None:
        print(text, end="")
        return
    Path(out).write_text(text)
