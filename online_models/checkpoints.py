"""Model checkpoint files: versioned learners that a later job can warm-start from.

A checkpoint of the model ``NAME`` is two to four files in one directory:

* ``NAME-vNNNN.pkl``: the pickled :class:`~online_models.learner.Learner`;
* ``NAME-vNNNN.features.pkl`` and ``NAME-vNNNN.serving.pkl`` (optional): the feature step's
  state and the serving rule's state (selection policy or deployment mode) at that point;
* ``NAME-vNNNN.json``: its metadata: format and format version, model name and version,
  registry name, parameters, task, events learned, metrics, the hash of the feature schema it was
  trained on, wall time, the pickle's SHA-256, and the caller's extra fields.

Each file is written to a temporary name, flushed to disk and renamed into place, the pickle
first: the JSON file marks a complete checkpoint, and listing reads only JSON files, never
unpickles. Versions count up per model from 1. One writer per model and directory is assumed.
Only load checkpoints you trust: unpickling runs code.

>>> import tempfile
>>> from online_models.learner import Learner, ModelSettings
>>> d = tempfile.mkdtemp()
>>> p = save(d, Learner(ModelSettings("lr", "fast_logistic_regression")), schema_hash="abc")
>>> p.name, [r["version"] for r in list_checkpoints(d)], load(p, "abc").name
('lr-v0001.pkl', [1], 'lr')
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import tempfile
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from online_models.errors import ModelError
from online_models.learner import Learner

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "format_table",
    "latest",
    "list_checkpoints",
    "load",
    "load_features",
    "load_serving",
    "feature_schema_hash",
    "save",
]

FORMAT = "riverbed-model-checkpoint"
FORMAT_VERSION = 1

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_FILE = re.compile(r"(?P<model>.+)-v(?P<version>\d{4,})\.(?:json|pkl)")


def feature_schema_hash(schema: Any) -> str:
    """A stable hash of a feature schema (any JSON-able value, e.g. the feature names in order).

    >>> h = feature_schema_hash
    >>> h(["x", "y"]) == h(["x", "y"]) != h(["y", "x"])
    True
    """
    text = json.dumps(schema, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _json_default(obj: Any) -> Any:
    item = getattr(obj, "item", None)
    return item() if callable(item) else repr(obj)


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _versions(directory: Path, model: str) -> list[int]:
    out = []
    for p in directory.iterdir():
        m = _FILE.fullmatch(p.name)
        if m and m["model"] == model:
            out.append(int(m["version"]))
    return out


def save(
    directory: str | os.PathLike[str],
    learner: Learner,
    metadata: Mapping[str, Any] | None = None,
    *,
    schema_hash: str,
    features: Any = None,
    serving: Any = None,
    keep: int = 0,
) -> Path:
    """Write the next checkpoint of ``learner`` into ``directory`` (created if missing).

    Args:
        directory: where the model's checkpoints live.
        learner: the learner to save (its ``name`` names the files).
        metadata: extra JSON-able fields stored under ``"extra"`` (job id, source offsets...).
        schema_hash: hash of the feature schema the learner was trained on
            (:func:`feature_schema_hash`); :func:`load` checks it.
        features: the state of the feature step the learner's inputs came from (scaler
            statistics, vocabularies), saved beside it so that a warm-started job computes the
            same features; :func:`load_features` reads it back.
        serving: the serving rule's state (the selection policy or deployment mode, which
            learned from the same labels), saved beside it for a warm start to restore;
            :func:`load_serving` reads it back.
        keep: how many versions of the model to keep (the newest; older ones are deleted
            once the new one is complete); 0 keeps all.

    Returns:
        The path of the pickle file.
    """
    if not _NAME.fullmatch(learner.name):
        raise ModelError(
            f"checkpoint: model name {learner.name!r} must be letters, digits, '_', '.', '-'"
        )
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    version = max(_versions(folder, learner.name), default=0) + 1
    stem = f"{learner.name}-v{version:04d}"
    blob = pickle.dumps(learner, protocol=pickle.HIGHEST_PROTOCOL)
    features_blob = None
    if features is not None:
        features_blob = pickle.dumps(features, protocol=pickle.HIGHEST_PROTOCOL)
    serving_blob = None
    if serving is not None:
        serving_blob = pickle.dumps(serving, protocol=pickle.HIGHEST_PROTOCOL)
    now = time.time()
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": learner.name,
        "version": version,
        "estimator": learner.estimator,
        "params": learner.spec.params,
        "task": learner.task.name,
        "events_learned": learner.events_learned,
        "metrics": learner.summary(),
        "schema_hash": schema_hash,
        "saved_at": datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="seconds"),
        "saved_at_unix": now,
        "file": f"{stem}.pkl",
        "sha256": hashlib.sha256(blob).hexdigest(),
        "features_sha256": None
        if features_blob is None
        else hashlib.sha256(features_blob).hexdigest(),
        "serving_sha256": None
        if serving_blob is None
        else hashlib.sha256(serving_blob).hexdigest(),
        "extra": dict(metadata or {}),
    }
    text = json.dumps(meta, indent=2, sort_keys=True, default=_json_default)
    if features_blob is not None:
        _write_atomic(folder / f"{stem}.features.pkl", features_blob)
    if serving_blob is not None:
        _write_atomic(folder / f"{stem}.serving.pkl", serving_blob)
    _write_atomic(folder / f"{stem}.pkl", blob)
    _write_atomic(folder / f"{stem}.json", text.encode())
    if keep:
        _prune(folder, learner.name, keep)
    return folder / f"{stem}.pkl"


def _prune(folder: Path, model: str, keep: int) -> None:
    """Delete all but the newest ``keep`` versions of ``model`` (the JSON file first: a
    version without it is incomplete and never listed)."""
    for version in sorted(set(_versions(folder, model)))[:-keep]:
        stem = f"{model}-v{version:04d}"
        for suffix in (".json", ".pkl", ".features.pkl", ".serving.pkl"):
            (folder / f"{stem}{suffix}").unlink(missing_ok=True)


def _read_meta(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"checkpoint {str(path)!r}: unreadable metadata: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelError(f"checkpoint {str(path)!r}: not a riverbed model checkpoint")
    return meta


def list_checkpoints(directory: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The metadata of every complete checkpoint in ``directory``, by model then version.

    Each dict is the JSON metadata plus ``"path"``, the pickle's path as a string. Files that
    are not riverbed checkpoints are skipped.
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise ModelError(f"checkpoints: {str(folder)!r} is not a directory")
    rows = []
    for p in folder.glob("*-v*.json"):
        if not _FILE.fullmatch(p.name):
            continue
        try:
            meta = _read_meta(p)
        except ModelError:
            continue
        rows.append(meta | {"path": str(p.with_suffix(".pkl"))})
    return sorted(rows, key=lambda r: (r["model"], r["version"]))


def load_features(path: str | os.PathLike[str]) -> Any:
    """The feature-step state saved with a checkpoint (None if it has none), integrity checked."""
    return _load_beside(path, "features", "the feature state")


def load_serving(path: str | os.PathLike[str]) -> Any:
    """The serving rule's state saved with a checkpoint (None if it has none), integrity
    checked."""
    return _load_beside(path, "serving", "the serving state")


def _load_beside(path: str | os.PathLike[str], part: str, what: str) -> Any:
    pkl = Path(path).with_suffix(".pkl")
    meta = _read_meta(pkl.with_suffix(".json"))
    digest = meta.get(f"{part}_sha256")
    if digest is None:
        return None
    blob = pkl.with_suffix(f".{part}.pkl").read_bytes()
    if hashlib.sha256(blob).hexdigest() != digest:
        raise ModelError(f"checkpoint {str(pkl)!r}: {what} does not match its metadata")
    return pickle.loads(blob)


def latest(directory: str | os.PathLike[str], model_name: str) -> Path | None:
    """The pickle path of the newest checkpoint of ``model_name`` (None if there is none)."""
    rows = [r for r in list_checkpoints(directory) if r["model"] == model_name]
    return Path(rows[-1]["path"]) if rows else None


def load(path: str | os.PathLike[str], expected_schema_hash: str | None) -> Learner:
    """Load the learner of a checkpoint, after checking format, integrity and feature schema.

    Args:
        path: the checkpoint's ``.pkl`` (or ``.json``) file.
        expected_schema_hash: the current job's feature-schema hash; a checkpoint trained on
            another schema is refused. None skips this check (inspection only).
    """
    pkl = Path(path).with_suffix(".pkl")
    meta = _read_meta(pkl.with_suffix(".json"))
    where = f"checkpoint {str(pkl)!r}"
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise ModelError(
            f"{where}: format version {meta['format_version']} is newer than this riverbed's "
            f"{FORMAT_VERSION}; upgrade riverbed to load it"
        )
    if expected_schema_hash is not None and meta.get("schema_hash") != expected_schema_hash:
        raise ModelError(
            f"{where}: trained on feature schema {meta.get('schema_hash')!r}, but this job's "
            f"features have schema {expected_schema_hash!r}; retrain, or use the same "
            "features (names, order, encodings) as the job that wrote it"
        )
    try:
        blob = pkl.read_bytes()
    except OSError as exc:
        raise ModelError(f"{where}: cannot read the model file: {exc}") from None
    if hashlib.sha256(blob).hexdigest() != meta.get("sha256"):
        raise ModelError(f"{where}: the model file does not match its metadata (corrupt?)")
    learner = pickle.loads(blob)
    if not isinstance(learner, Learner):
        raise ModelError(f"{where}: holds a {type(learner).__name__}, expected a Learner")
    return learner


_COLUMNS = ("MODEL", "VERSION", "ESTIMATOR", "EVENTS", "METRIC", "SCHEMA", "SAVED AT", "FILE")


def _cells(row: Mapping[str, Any]) -> tuple[str, ...]:
    summary = row.get("metrics") or {}
    value = summary.get("value")
    metric = f"{summary.get('metric', '?')}={'-' if value is None else format(value, '.4f')}"
    return (
        str(row["model"]),
        str(row["version"]),
        str(row.get("estimator", "")),
        f"{row.get('events_learned', 0):,}",
        metric,
        str(row.get("schema_hash", ""))[:12],
        str(row.get("saved_at", "")),
        Path(str(row.get("path", row.get("file", "")))).name,
    )


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A plain-text table of :func:`list_checkpoints` rows, for ``riverbed models list``.

    >>> print(format_table([]))
    no checkpoints
    """
    if not rows:
        return "no checkpoints"
    cells = [_COLUMNS, *(_cells(r) for r in rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(_COLUMNS))]
    numeric = {1, 3}
    lines = [
        "  ".join(
            c.rjust(w) if i in numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in cells
    ]
    return "\n".join(lines)
