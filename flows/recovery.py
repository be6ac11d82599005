"""The recovery store (Bytewax's SQLite snapshots) and the fingerprint of the configuration
that wrote it.

A snapshot holds the state of every step built from one configuration: the models, the feature
statistics, the source positions. Resumed under another configuration, the old models would
keep serving, new features would be ignored and a new topic's events dropped as duplicates, all
without a word. So the store keeps ``fingerprint.json``, the state-relevant part of the
configuration that created it (the task, the models, the features, the schema, the input), and
a job started on a store written by another configuration is refused with a
:class:`~flows.errors.CheckpointError` naming what differs.

>>> import tempfile
>>> from flows.config import parse
>>> d = tempfile.mkdtemp()
>>> cfg = parse({"models": [{"name": "lr", "estimator": "logistic_regression"}]})
>>> _ = recovery_store(d, cfg)
>>> other = parse({"models": [{"name": "lr", "estimator": "fast_logistic_regression"}]})
>>> try:
...     recovery_store(d, other)
... except CheckpointError as exc:
...     print(str(exc).split(": ", 1)[1])  # doctest: +NORMALIZE_WHITESPACE
the recovery store was written by a job with other models (models[0].estimator:
'logistic_regression' there, 'fast_logistic_regression' here); use another
checkpoint.directory, or empty it to start afresh
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from bytewax.recovery import RecoveryConfig, init_db_dir

from flows.config import Config
from flows.errors import CheckpointError

__all__ = ["fingerprint", "checkpoint_problem", "check_store", "recovery_store"]

FINGERPRINT = "fingerprint.json"

_SOURCE_KEYS = ("kind", "events_topic", "labels_topic", "path", "format")
"""What of ``[source]`` decides which records the snapshot's positions belong to."""

_PARTS = {
    "job.task": "task",
    "models": "models",
    "features": "features",
    "schema": "schema",
    "source": "input",
}


def _plain(value: Any) -> Any:
    """A settings value as JSON values (tuples as lists)."""
    return json.loads(json.dumps(value, default=str))


def fingerprint(cfg: Config) -> dict[str, Any]:
    """The state-relevant configuration: what a snapshot's state was built from."""
    source = {k: getattr(cfg.source, k) for k in _SOURCE_KEYS}
    return _plain(
        {
            "job.task": cfg.job.task,
            "models": [dataclasses.asdict(m) for m in cfg.models],
            "features": dataclasses.asdict(cfg.features),
            "schema": dataclasses.asdict(cfg.schema),
            "source": source,
        }
    )


def _first_difference(key: str, there: Any, here: Any) -> str:
    """The first setting that differs, as ``key: x there, y here``."""
    if isinstance(there, dict) and isinstance(here, dict):
        for k in sorted(set(there) | set(here)):
            if there.get(k) != here.get(k):
                return _first_difference(f"{key}.{k}", there.get(k), here.get(k))
    if isinstance(there, list) and isinstance(here, list) and len(there) == len(here):
        for i, (a, b) in enumerate(zip(there, here)):
            if a != b:
                return _first_difference(f"{key}[{i}]", a, b)
    return f"{key}: {there!r} there, {here!r} here"


def checkpoint_problem(path: Path) -> str:
    """Why ``path`` cannot hold a recovery store ("" if it can): it, or the nearest existing
    folder above it where it would be created, must be a writable directory."""
    if path.exists() and not path.is_dir():
        return "is a file, expected a directory"
    existing = next(p for p in (path, *path.absolute().parents) if p.exists())
    if not existing.is_dir():
        return f"{existing} is a file, expected a directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable"
    return ""


def check_store(directory: str, cfg: Config) -> None:
    """Raise :class:`CheckpointError` if ``directory`` cannot be this job's recovery store: it
    is not a writable directory, or it holds snapshots written by a job with another
    configuration."""
    path = Path(directory)
    where = f"checkpoint.directory {directory}"
    problem = checkpoint_problem(path)
    if problem:
        raise CheckpointError(f"{where}: {problem}")
    saved = path / FINGERPRINT
    if not saved.is_file():
        return
    try:
        there = json.loads(saved.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{where}: unreadable {FINGERPRINT}: {exc}") from None
    here = fingerprint(cfg)
    for key, part in _PARTS.items():
        if there.get(key) != here[key]:
            diff = _first_difference(key, there.get(key), here[key])
            raise CheckpointError(
                f"{where}: the recovery store was written by a job with other {part} "
                f"({diff}); use another checkpoint.directory, or empty it to start afresh"
            )


def recovery_store(directory: str, cfg: Config) -> RecoveryConfig:
    """The recovery store of ``cfg`` in ``directory``: created there (with the configuration's
    fingerprint) if it has no partitions yet, else checked against the fingerprint."""
    check_store(directory, cfg)
    path = Path(directory)
    try:
        if not any(path.glob("part-*.sqlite3")):
            path.mkdir(parents=True, exist_ok=True)
            init_db_dir(path, 1)
        saved = path / FINGERPRINT
        if not saved.exists():
            saved.write_text(json.dumps(fingerprint(cfg), indent=2, sort_keys=True) + "\n")
    except OSError as exc:
        raise CheckpointError(f"checkpoint.directory {directory}: {exc.strerror}") from None
    return RecoveryConfig(path)
