"""The recovery store (Bytewax's SQLite snapshots) and the fingerprint of the configuration
that wrote it.

A snapshot holds the state of every step built from one configuration: the models, the feature
statistics, the source positions. Resumed under another configuration, the old models would
keep serving, new features would be ignored and a new topic's events dropped as duplicates, all
without a word. So the store keeps ``fingerprint.json``, the state-relevant part of the
configuration that created it (the task, the models, the features, the schema, the input), and
a job started on a store written by another configuration is refused with a
:class:`~flows.config.ConfigError` naming what differs.

>>> import tempfile
>>> from flows.config import parse
>>> d = tempfile.mkdtemp()
>>> cfg = parse({"models": [{"name": "lr", "estimator": "logistic_regression"}]})
>>> _ = recovery_store(d, cfg)
>>> other = parse({"models": [{"name": "lr", "estimator": "fast_logistic_regression"}]})
>>> try:
...     recovery_store(d, other)
... except ConfigError as exc:
...     print(str(exc).split(": ", 1)[1])  # doctest: +NORMALIZE_WHITESPACE
the recovery store was written by a job with other models (models[0].estimator:
'logistic_regression' there, 'fast_logistic_regression' here); use another
checkpoint.directory, or empty it to start afresh
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from bytewax.recovery import RecoveryConfig, init_db_dir

from flows.config import Config, ConfigError

__all__ = ["fingerprint", "check_store", "recovery_store"]

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


def check_store(directory: str, cfg: Config) -> None:
    """Raise :class:`ConfigError` if ``directory`` cannot be this job's recovery store: it is
    not a directory, or it holds snapshots written by a job with another configuration."""
    path = Path(directory)
    where = f"checkpoint.directory {directory!r}"
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{where}: is a file, expected a directory for the recovery store")
    saved = path / FINGERPRINT
    if not saved.is_file():
        return
    try:
        there = json.loads(saved.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{where}: unreadable {FINGERPRINT}: {exc}") from None
    here = fingerprint(cfg)
    for key, part in _PARTS.items():
        if there.get(key) != here[key]:
            diff = _first_difference(key, there.get(key), here[key])
            raise ConfigError(
                f"{where}: the recovery store was written by a job with other {part} "
                f"({diff}); use another checkpoint.directory, or empty it to start afresh"
            )


def recovery_store(directory: str, cfg: Config) -> RecoveryConfig:
    """The recovery store of ``cfg`` in ``directory``: created there (with the configuration's
    fingerprint) if it has no partitions yet, else checked against the fingerprint."""
    check_store(directory, cfg)
    path = Path(directory)
    if not any(path.glob("part-*.sqlite3")):
        path.mkdir(parents=True, exist_ok=True)
        init_db_dir(path, 1)
    saved = path / FINGERPRINT
    if not saved.exists():
        saved.write_text(json.dumps(fingerprint(cfg), indent=2, sort_keys=True) + "\n")
    return RecoveryConfig(path)
