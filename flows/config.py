"""The job's configuration: one TOML file, validated whole before the job starts.

Each table belongs to a step, whose settings class holds its defaults and validates itself
(:mod:`operators.settings`); this module only maps tables to those classes and checks what
spans tables. Every problem is collected and reported at once, each naming its key and what
was expected::

    riverbed: configuration job.toml has 2 errors:
      - source.kind: expected one of file, kafka, synthetic, got 'kafak'
      - models[1].estimator: unknown estimator; did you mean river.tree.HoeffdingTreeClassifier?

docs/CONFIG.md documents every key. Unknown keys are errors too (a typo must not silently
fall back to a default).

>>> cfg = parse({"source": {"kind": "synthetic", "events": 100},
...              "models": [{"name": "lr", "estimator": "logistic_regression"}]})
>>> cfg.source.kind, cfg.batch.max_events, cfg.models[0].name
('synthetic', 1000, 'lr')
>>> parse({"source": {"kind": "kafak"}, "batch": {"max_events": 0}})
Traceback (most recent call last):
...
flows.errors.ConfigError: configuration has 3 errors:
  - batch.max_events: expected an integer >= 1, got 0
  - models: expected at least one [[models]] table
  - source.kind: expected one of file, kafka, synthetic, got 'kafak'
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomllib

from flows.errors import ConfigError
from flows.job import CheckpointSettings, JobSettings
from flows.learn.lane import DriftSettings
from flows.learn.model_checkpointing import ModelCheckpointSettings
from flows.learn.serving import (
    DeploymentSettings,
    LatencySettings,
    SelectionSettings,
    ServingSettings,
    check_serving,
)
from flows.outputs import SINK_NAMES
from flows.sinks import SinkSettings
from flows.sources import BatchSettings, SourceSettings
from online_models.learner import ModelSettings
from online_models.scoring import MetricsSettings
from operators.decode import SchemaSettings
from operators.errors import OperatorError
from operators.feature_drift_step import FeatureDriftSettings
from operators.feature_step import FeatureSettings
from operators.label_join import LabelSettings
from operators.sampling import SamplingSettings
from operators.settings import Settings, unknown_key

__all__ = ["Config", "load", "parse"]


_SECTIONS: dict[str, type[Settings]] = {
    "job": JobSettings,
    "source": SourceSettings,
    "schema": SchemaSettings,
    "features": FeatureSettings,
    "batch": BatchSettings,
    "sampling": SamplingSettings,
    "labels": LabelSettings,
    "selection": SelectionSettings,
    "deployment": DeploymentSettings,
    "latency": LatencySettings,
    "metrics": MetricsSettings,
    "model_checkpoints": ModelCheckpointSettings,
    "drift": DriftSettings,
    "feature_drift": FeatureDriftSettings,
    "checkpoint": CheckpointSettings,
}
"""Each top-level table and the settings class of the step that owns it."""

_TOP = sorted([*_SECTIONS, "models", "sinks"])


@dataclass(frozen=True)
class Config:
    """A validated job configuration: each table as its step's settings."""

    job: JobSettings
    source: SourceSettings
    schema: SchemaSettings
    features: FeatureSettings
    batch: BatchSettings
    labels: LabelSettings
    sampling: SamplingSettings
    models: tuple[ModelSettings, ...]
    selection: SelectionSettings
    deployment: DeploymentSettings
    latency: LatencySettings
    metrics: MetricsSettings
    drift: DriftSettings
    feature_drift: FeatureDriftSettings
    checkpoint: CheckpointSettings
    model_checkpoints: ModelCheckpointSettings
    sinks: dict[str, SinkSettings]

    @property
    def serving(self) -> ServingSettings:
        return ServingSettings(self.selection, self.deployment, self.latency)


def parse(raw: dict[str, Any]) -> Config:
    """Validate a parsed TOML document; raise :class:`ConfigError` listing every problem."""
    errors: list[str] = []
    errors.extend(unknown_key("", key, _TOP) for key in raw if key not in _TOP)
    sections = {name: cls.parse(name, raw.get(name, {}), errors) for name, cls in _SECTIONS.items()}
    models = _parse_models(raw.get("models"), errors)
    sinks = _parse_sinks(raw.get("sinks", {}), errors)
    _cross_checks(sections, models, errors)
    if errors:
        raise ConfigError(errors)
    return Config(models=models, sinks=sinks, **sections)  # type: ignore[arg-type]


def _parse_models(raw: Any, errors: list[str]) -> tuple[ModelSettings, ...]:
    if not raw:
        errors.append("models: expected at least one [[models]] table")
        return ()
    if not isinstance(raw, list):
        errors.append(f"models: expected an array of tables ([[models]]), got {raw!r}")
        return ()
    models = [ModelSettings.parse(f"models[{i}]", table, errors) for i, table in enumerate(raw)]
    found = tuple(m for m in models if m is not None)
    names = [m.name for m in found]
    errors.extend(
        f"models: model name {n!r} is used more than once"
        for n in sorted(set(names))
        if names.count(n) > 1
    )
    return found


def _parse_sinks(raw: Any, errors: list[str]) -> dict[str, SinkSettings]:
    if not isinstance(raw, dict):
        errors.append(f"sinks: expected a table, got {raw!r}")
        raw = {}
    errors.extend(unknown_key("sinks.", n, list(SINK_NAMES)) for n in raw if n not in SINK_NAMES)
    sinks = {}
    for name in SINK_NAMES:
        sink = SinkSettings.parse(f"sinks.{name}", raw.get(name, {}), errors)
        sinks[name] = sink if sink is not None else SinkSettings()
    _shared_sinks(sinks, errors)
    return sinks


def _shared_sinks(sinks: dict[str, SinkSettings], errors: list[str]) -> None:
    """Two sinks writing one file (or one Kafka topic) would overwrite or mix each other."""
    where: dict[tuple[str, ...], list[str]] = {}
    for name, sink in sinks.items():
        if sink.kind == "jsonl":
            where.setdefault(("path", os.path.abspath(sink.path)), []).append(name)
        elif sink.kind == "kafka":
            where.setdefault(("topic", sink.brokers, sink.topic), []).append(name)
    for key, names in where.items():
        if len(names) > 1:
            shown = " and ".join(f"sinks.{n}" for n in names)
            what = f"path {key[1]!r}" if key[0] == "path" else f"topic {key[2]!r} on {key[1]}"
            errors.append(f"{shown}: both write {what}; give each sink its own")


def _cross_checks(
    sections: dict[str, Any], models: tuple[ModelSettings, ...], errors: list[str]
) -> None:
    """What spans tables, among the tables that are valid on their own."""
    source: SourceSettings | None = sections["source"]
    features: FeatureSettings | None = sections["features"]
    schema: SchemaSettings | None = sections["schema"]
    fd: FeatureDriftSettings | None = sections["feature_drift"]
    sampling: SamplingSettings | None = sections["sampling"]
    if source and schema and source.labels_topic and not schema.id_field:
        errors.append("schema.id_field: required when labels come on their own topic")
    if source and features and source.kind != "synthetic":
        if not (features.numeric or features.categorical):
            errors.append("features: expected at least one name in numeric or categorical")
    if fd and features:
        named = set(features.numeric) | set(features.categorical)
        for key in ("numeric", "categorical"):
            stray = sorted(set(getattr(fd, key) or ()) - named)
            if stray:
                errors.append(f"feature_drift.{key}: {stray} are not listed in [features]")
        if fd.enabled:
            try:
                fd.monitor(features.numeric, features.categorical)
            except OperatorError as exc:
                errors.append(f"feature_drift: {exc}")
    if fd and sampling and fd.enabled and fd.reference == "external" and sampling.kind == "none":
        errors.append(
            "feature_drift.reference: 'external' takes the reservoir sample; set [sampling]"
        )
    parts = [sections["selection"], sections["deployment"], sections["latency"]]
    if models and all(p is not None for p in parts):
        errors.extend(check_serving(ServingSettings(*parts), [m.name for m in models]))


def load(path: str | Path) -> Config:
    """Read and validate a TOML configuration file; a :class:`ConfigError` names the file."""
    where = str(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration: {exc.strerror}", where) from None
    try:
        text = data.decode()
    except UnicodeDecodeError as exc:
        bad = f"byte {data[exc.start]:#04x} at offset {exc.start}"
        raise ConfigError(f"not a TOML file: {bad} is not UTF-8 text", where) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", where) from None
    try:
        return parse(raw)
    except ConfigError as exc:
        raise ConfigError(exc.problems, where) from None
