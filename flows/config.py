"""The job's configuration: one TOML file, validated whole before the job starts.

Every problem is collected and reported at once, each naming its key and what was expected::

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
flows.config.ConfigError: configuration has 3 errors:
  - batch.max_events: expected an integer >= 1, got 0
  - models: expected at least one [[models]] table
  - source.kind: expected one of file, kafka, synthetic, got 'kafak'
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from online_models.deployment import DEPLOYMENTS, make_deployment
from online_models.errors import ModelError
from online_models.imbalance import SAMPLERS
from online_models.latency import LatencyBudget
from online_models.policies import POLICIES, make_policy
from online_models.registry import resolve
from operators.error_drift import DETECTORS
from operators.errors import OperatorError
from operators.feature_drift import DETECTORS as FD_DETECTORS
from operators.feature_drift import REFERENCES as FD_REFERENCES
from operators.feature_drift import FeatureDriftMonitor
from operators.feature_drift_step import ACTIONS as FD_ACTIONS
from operators.featurize import SCALERS
from operators.imputation import STRATEGIES
from operators.sampling import KINDS as SAMPLE_KINDS

__all__ = [
    "ConfigError",
    "Config",
    "JobConfig",
    "SourceConfig",
    "SchemaConfig",
    "FeaturesConfig",
    "BatchConfig",
    "LabelsConfig",
    "ModelConfig",
    "SelectionConfig",
    "DriftConfig",
    "CheckpointConfig",
    "SinkConfig",
    "load",
    "parse",
    "SINK_NAMES",
    "feature_drift_monitor",
]

SINK_NAMES = ("predictions", "alerts", "dead_letters", "sample")


class ConfigError(ValueError):
    """The configuration is invalid; the message lists every problem."""


@dataclass(frozen=True)
class JobConfig:
    name: str = "riverbed"
    seed: int = 42
    task: str = "classification"
    progress_s: float = 0.0
    metrics_port: int = 0


@dataclass(frozen=True)
class SourceConfig:
    kind: str = "synthetic"
    # kafka
    brokers: str = "127.0.0.1:9092"
    events_topic: str = "events"
    labels_topic: str = ""
    start: str = "earliest"
    stop_at_end: bool = False
    startup_timeout_s: float = 10.0
    merge_wait_ms: int = 200
    # file
    path: str = ""
    format: str = "jsonl"
    # synthetic
    events: int = 100_000
    drift_at: int = 50_000
    drift_width: int = 1
    # file and synthetic: hold inline labels back this many events
    label_delay: int = 0
    # events more than this behind the latest event time are dead letters (None: no check)
    allowed_lateness_ms: int | None = None


@dataclass(frozen=True)
class SchemaConfig:
    id_field: str = "id"
    time_field: str = "ts"
    label_field: str = "label"
    weight_field: str = ""


@dataclass(frozen=True)
class FeaturesConfig:
    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    impute: dict[str, str] = field(default_factory=dict)
    impute_default: str = "mean"
    fill_value: float | None = None
    scaler: str = "standard"
    clip: float | None = None
    bins: int = 10
    max_categories: int = 32
    min_count: int = 1
    hash_width: int | None = None
    numeric_indicator: bool = False
    categorical_indicator: bool = False


@dataclass(frozen=True)
class BatchConfig:
    max_events: int = 1000
    max_ms: int = 100


@dataclass(frozen=True)
class LabelsConfig:
    ttl_ms: int = 3_600_000
    early_ttl_ms: int = 60_000
    max_pending: int = 100_000


@dataclass(frozen=True)
class ModelConfig:
    name: str
    estimator: str
    params: dict[str, Any] = field(default_factory=dict)
    class_weights: bool = False
    sampler: str = ""
    sampler_params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SelectionConfig:
    policy: str = "epsilon_greedy"
    feedback: str = "full"
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DeploymentConfig:
    mode: str = "bandit"
    key_field: str = ""
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LatencyConfig:
    budget_ms: float = 0.0
    fallback: str = ""
    cost_per_ms: float = 0.0


@dataclass(frozen=True)
class MetricsConfig:
    window: int = 1000
    pos_label: Any = True
    slices: tuple[str, ...] = ()
    max_slices: int = 50
    top_k: int = 0
    monitor_window: int = 1000


@dataclass(frozen=True)
class ModelCheckpointConfig:
    directory: str = ""
    every_events: int = 0
    every_s: float = 0.0
    warm_start: str = ""


@dataclass(frozen=True)
class DriftConfig:
    detector: str = "adwin"
    params: dict[str, Any] = field(default_factory=dict)
    warmup: int = 1000
    action: str = "alert"
    challenger: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SamplingConfig:
    kind: str = "none"
    size: int = 1000
    field: str = ""
    max_strata: int = 100
    every_events: int = 0
    every_s: float = 0.0


@dataclass(frozen=True)
class FeatureDriftConfig:
    enabled: bool = False
    numeric: tuple[str, ...] | None = None
    categorical: tuple[str, ...] | None = None
    window: int = 1000
    stride: int = 0
    window_ms: int = 0
    reference: str = "fixed"
    reference_size: int = 0
    warmup: int = 0
    detectors: tuple[str, ...] = ("ks", "psi", "chi2")
    alpha: float = 0.01
    correction: str = "bh"
    critical_alpha: float = 1e-4
    psi_bins: int = 10
    psi_warning: float = 0.1
    psi_critical: float = 0.25
    min_count: int = 10
    action: str = "alert"


@dataclass(frozen=True)
class CheckpointConfig:
    directory: str = ""
    interval_s: float = 10.0


@dataclass(frozen=True)
class SinkConfig:
    kind: str = "none"
    path: str = ""
    brokers: str = ""
    topic: str = ""
    # kafka: delivery checks and the message size limit
    retries: int = 3
    delivery_timeout_s: float = 30.0
    max_message_bytes: int = 1_000_000
    oversize: str = "dead_letter"


@dataclass(frozen=True)
class Config:
    job: JobConfig
    source: SourceConfig
    schema: SchemaConfig
    features: FeaturesConfig
    batch: BatchConfig
    labels: LabelsConfig
    sampling: SamplingConfig
    models: tuple[ModelConfig, ...]
    selection: SelectionConfig
    deployment: DeploymentConfig
    latency: LatencyConfig
    metrics: MetricsConfig
    drift: DriftConfig
    feature_drift: FeatureDriftConfig
    checkpoint: CheckpointConfig
    model_checkpoints: ModelCheckpointConfig
    sinks: dict[str, SinkConfig]


# --- checks: each returns None when the value is fine, else what was expected -----------------


def _int(lo: int) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        ok = isinstance(v, int) and not isinstance(v, bool) and v >= lo
        return None if ok else f"an integer >= {lo}"

    return check


def _num(lo: float, hi: float = float("inf")) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and lo <= v <= hi
        return None if ok else f"a number in [{lo:g}, {hi:g}]"

    return check


def _str(v: Any) -> str | None:
    return None if isinstance(v, str) else "a string"


def _name(v: Any) -> str | None:
    return None if isinstance(v, str) and v else "a non-empty string"


def _bool(v: Any) -> str | None:
    return None if isinstance(v, bool) else "true or false"


def _table(v: Any) -> str | None:
    return None if isinstance(v, dict) else "a table"


def _names(v: Any) -> str | None:
    ok = isinstance(v, list) and all(isinstance(s, str) and s for s in v)
    return None if ok else "a list of non-empty strings"


def _strategies(v: Any) -> str | None:
    ok = isinstance(v, dict) and all(s in STRATEGIES for s in v.values())
    return None if ok else f"a table of field = strategy, strategies: {', '.join(STRATEGIES)}"


def _challenger(v: Any) -> str | None:
    keys = {"sample": int, "alpha": float, "min_events": int, "max_events": int}
    ok = isinstance(v, dict) and all(
        k in keys and isinstance(x, (int, float)) and not isinstance(x, bool) and x > 0
        for k, x in v.items()
    )
    return None if ok else f"a table of positive numbers with keys {', '.join(keys)}"


def _subset(*choices: str) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        ok = isinstance(v, list) and v and all(c in choices for c in v)
        return None if ok else f"a non-empty list of {', '.join(choices)}"

    return check


def _label(v: Any) -> str | None:
    ok = isinstance(v, (str, int, bool))
    return None if ok else "a class label (string, integer or boolean)"


def _one_of(*choices: str) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        return None if v in choices else f"one of {', '.join(choices)}"

    return check


_SECTIONS: dict[str, tuple[type, dict[str, Callable[[Any], str | None]]]] = {
    "job": (
        JobConfig,
        {
            "name": _name,
            "seed": _int(0),
            "task": _one_of("classification", "regression"),
            "progress_s": _num(0),
            "metrics_port": _int(0),
        },
    ),
    "source": (
        SourceConfig,
        {
            "kind": _one_of("file", "kafka", "synthetic"),
            "brokers": _name,
            "events_topic": _name,
            "labels_topic": _str,
            "start": _one_of("earliest", "latest"),
            "stop_at_end": _bool,
            "startup_timeout_s": _num(0.1),
            "merge_wait_ms": _int(0),
            "path": _str,
            "format": _one_of("jsonl", "csv"),
            "events": _int(1),
            "drift_at": _int(0),
            "drift_width": _int(1),
            "label_delay": _int(0),
            "allowed_lateness_ms": _int(0),
        },
    ),
    "schema": (
        SchemaConfig,
        {"id_field": _str, "time_field": _str, "label_field": _name, "weight_field": _str},
    ),
    "features": (
        FeaturesConfig,
        {
            "numeric": _names,
            "categorical": _names,
            "required": _names,
            "impute": _strategies,
            "impute_default": _one_of(*STRATEGIES),
            "fill_value": _num(-float("inf")),
            "scaler": _one_of(*SCALERS),
            "clip": _num(0),
            "bins": _int(2),
            "max_categories": _int(1),
            "min_count": _int(1),
            "hash_width": _int(1),
            "numeric_indicator": _bool,
            "categorical_indicator": _bool,
        },
    ),
    "batch": (BatchConfig, {"max_events": _int(1), "max_ms": _int(1)}),
    "sampling": (
        SamplingConfig,
        {
            "kind": _one_of("none", *SAMPLE_KINDS),
            "size": _int(1),
            "field": _str,
            "max_strata": _int(1),
            "every_events": _int(0),
            "every_s": _num(0),
        },
    ),
    "labels": (
        LabelsConfig,
        {"ttl_ms": _int(0), "early_ttl_ms": _int(0), "max_pending": _int(1)},
    ),
    "selection": (
        SelectionConfig,
        {
            "policy": _one_of(*POLICIES),
            "feedback": _one_of("full", "bandit"),
            "params": _table,
        },
    ),
    "deployment": (
        DeploymentConfig,
        {"mode": _one_of("bandit", *DEPLOYMENTS), "key_field": _str, "params": _table},
    ),
    "latency": (
        LatencyConfig,
        {"budget_ms": _num(0), "fallback": _str, "cost_per_ms": _num(0)},
    ),
    "metrics": (
        MetricsConfig,
        {
            "window": _int(1),
            "pos_label": _label,
            "slices": _names,
            "max_slices": _int(1),
            "top_k": _int(0),
            "monitor_window": _int(1),
        },
    ),
    "model_checkpoints": (
        ModelCheckpointConfig,
        {"directory": _str, "every_events": _int(0), "every_s": _num(0), "warm_start": _str},
    ),
    "drift": (
        DriftConfig,
        {
            "detector": _one_of(*sorted(DETECTORS)),
            "params": _table,
            "warmup": _int(0),
            "action": _one_of("alert", "reset_model", "challenger"),
            "challenger": _challenger,
        },
    ),
    "feature_drift": (
        FeatureDriftConfig,
        {
            "enabled": _bool,
            "numeric": _names,
            "categorical": _names,
            "window": _int(2),
            "stride": _int(0),
            "window_ms": _int(0),
            "reference": _one_of(*FD_REFERENCES),
            "reference_size": _int(0),
            "warmup": _int(0),
            "detectors": _subset(*FD_DETECTORS),
            "alpha": _num(0, 1),
            "correction": _one_of("bh", "bonferroni"),
            "critical_alpha": _num(0, 1),
            "psi_bins": _int(2),
            "psi_warning": _num(0),
            "psi_critical": _num(0),
            "min_count": _int(1),
            "action": _one_of(*FD_ACTIONS),
        },
    ),
    "checkpoint": (CheckpointConfig, {"directory": _str, "interval_s": _num(0.1)}),
}
_MODEL_KEYS: dict[str, Callable[[Any], str | None]] = {
    "name": _name,
    "estimator": _name,
    "params": _table,
    "class_weights": _bool,
    "sampler": _one_of("", *SAMPLERS),
    "sampler_params": _table,
}
_SINK_KEYS: dict[str, Callable[[Any], str | None]] = {
    "kind": _one_of("jsonl", "kafka", "stdout", "none"),
    "path": _str,
    "brokers": _str,
    "topic": _str,
    "retries": _int(0),
    "delivery_timeout_s": _num(0.1),
    "max_message_bytes": _int(1024),
    "oversize": _one_of("dead_letter", "skip", "fail"),
}
_TOP = sorted([*_SECTIONS, "models", "sinks"])


def _unknown(where: str, key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(known)}"
    return f"{where}{key}: unknown key{hint}"


def _check_table(
    where: str,
    raw: Any,
    checks: dict[str, Callable[[Any], str | None]],
    errors: list[str],
) -> dict[str, Any]:
    if not isinstance(raw, dict):
        errors.append(f"{where.rstrip('.')}: expected a table, got {raw!r}")
        return {}
    good = {}
    for key, value in raw.items():
        check = checks.get(key)
        if check is None:
            errors.append(_unknown(where, key, sorted(checks)))
            continue
        expected = check(value)
        if expected is not None:
            errors.append(f"{where}{key}: expected {expected}, got {value!r}")
            continue
        good[key] = tuple(value) if isinstance(value, list) else value
    return good


def parse(raw: dict[str, Any]) -> Config:
    """Validate a parsed TOML document; raise :class:`ConfigError` listing every problem."""
    errors: list[str] = []
    for key in raw:
        if key not in _TOP:
            errors.append(_unknown("", key, _TOP))
    sections: dict[str, Any] = {}
    for name, (cls, checks) in _SECTIONS.items():
        sections[name] = cls(**_check_table(f"{name}.", raw.get(name, {}), checks, errors))
    models = _parse_models(raw.get("models"), errors)
    sinks = _parse_sinks(raw.get("sinks", {}), errors)
    _cross_checks(sections, sinks, errors)
    if models:
        _model_side_checks(sections, [m.name for m in models], errors)
    if errors:
        n = len(errors)
        lines = "\n".join(f"  - {e}" for e in sorted(errors))
        raise ConfigError(f"configuration has {n} error{'s' if n > 1 else ''}:\n{lines}")
    return Config(models=models, sinks=sinks, **sections)


def _parse_models(raw: Any, errors: list[str]) -> tuple[ModelConfig, ...]:
    if not raw:
        errors.append("models: expected at least one [[models]] table")
        return ()
    if not isinstance(raw, list):
        errors.append(f"models: expected an array of tables ([[models]]), got {raw!r}")
        return ()
    models = []
    for i, table in enumerate(raw):
        where = f"models[{i}]."
        good = _check_table(where, table, _MODEL_KEYS, errors)
        missing = [k for k in ("name", "estimator") if k not in good and k not in (table or {})]
        errors.extend(f"{where}{k}: required key is missing" for k in missing)
        if "name" in good and "estimator" in good:
            try:
                resolve(good["estimator"])
            except ModelError as exc:
                reason = str(exc).split(": ", 1)[-1]
                errors.append(f"{where}estimator: {reason}")
            models.append(ModelConfig(**good))
    names = [m.name for m in models]
    errors.extend(
        f"models: model name {n!r} is used more than once"
        for n in sorted(set(names))
        if names.count(n) > 1
    )
    return tuple(models)


def _parse_sinks(raw: Any, errors: list[str]) -> dict[str, SinkConfig]:
    if not isinstance(raw, dict):
        errors.append(f"sinks: expected a table, got {raw!r}")
        raw = {}
    sinks = {}
    for name in raw:
        if name not in SINK_NAMES:
            errors.append(_unknown("sinks.", name, list(SINK_NAMES)))
    for name in SINK_NAMES:
        where = f"sinks.{name}."
        good = _check_table(where, raw.get(name, {}), _SINK_KEYS, errors)
        sink = SinkConfig(**good)
        if sink.kind == "jsonl" and not sink.path:
            errors.append(f"{where}path: required when kind = 'jsonl'")
        if sink.kind == "kafka" and not (sink.brokers and sink.topic):
            errors.append(f"{where}brokers/topic: both required when kind = 'kafka'")
        sinks[name] = sink
    return sinks


def _cross_checks(
    sections: dict[str, Any], sinks: dict[str, SinkConfig], errors: list[str]
) -> None:
    source: SourceConfig = sections["source"]
    features: FeaturesConfig = sections["features"]
    if source.kind == "file" and not source.path:
        errors.append("source.path: required when source.kind = 'file'")
    if source.labels_topic and not sections["schema"].id_field:
        errors.append("schema.id_field: required when labels come on their own topic")
    if source.kind == "kafka" and source.label_delay:
        errors.append("source.label_delay: only for file and synthetic sources")
    if source.kind != "synthetic" and not (features.numeric or features.categorical):
        errors.append("features: expected at least one name in numeric or categorical")
    both = set(features.numeric) & set(features.categorical)
    if both:
        errors.append(f"features: {sorted(both)} listed as both numeric and categorical")
    named = set(features.numeric) | set(features.categorical)
    for key in ("required", "impute"):
        stray = sorted(set(getattr(features, key)) - named)
        if stray:
            errors.append(f"features.{key}: {stray} are not listed in numeric or categorical")
    fd: FeatureDriftConfig = sections["feature_drift"]
    named_all = set(features.numeric) | set(features.categorical)
    for key in ("numeric", "categorical"):
        stray = sorted(set(getattr(fd, key) or ()) - named_all)
        if stray:
            errors.append(f"feature_drift.{key}: {stray} are not listed in [features]")
    if fd.enabled:
        try:
            feature_drift_monitor(features, fd)
        except OperatorError as exc:
            errors.append(f"feature_drift: {exc}")
    if fd.enabled and fd.reference == "external" and sections["sampling"].kind == "none":
        errors.append(
            "feature_drift.reference: 'external' takes the reservoir sample; set [sampling]"
        )
    sampling: SamplingConfig = sections["sampling"]
    if sampling.kind in ("weighted", "stratified") and not sampling.field:
        errors.append(f"sampling.field: required when sampling.kind = {sampling.kind!r}")
    uses_constant = "constant" in (features.impute_default, *features.impute.values())
    if uses_constant and features.fill_value is None:
        errors.append("features.fill_value: required when a field uses the 'constant' strategy")


def _model_side_checks(sections: dict[str, Any], names: list[str], errors: list[str]) -> None:
    """Build the policy, deployment and latency budget once, so their own checks name keys."""
    selection: SelectionConfig = sections["selection"]
    deployment: DeploymentConfig = sections["deployment"]
    latency: LatencyConfig = sections["latency"]
    attempts: list[Callable[[], Any]] = [
        lambda: make_policy(selection.policy, names, 0, **selection.params)
    ]
    if deployment.mode != "bandit":
        attempts.append(lambda: make_deployment(deployment.mode, names, **deployment.params))
    elif deployment.params:
        errors.append("deployment.params: the bandit mode takes its settings from [selection]")
    if latency.budget_ms:
        attempts.append(
            lambda: LatencyBudget(names, latency.budget_ms, latency.fallback or names[0])
        )
    for attempt in attempts:
        try:
            attempt()
        except ModelError as exc:
            errors.append(str(exc))
        except TypeError as exc:
            errors.append(f"bad setting: {exc}")


def feature_drift_monitor(features: FeaturesConfig, fd: FeatureDriftConfig) -> FeatureDriftMonitor:
    """The feature-drift monitor of ``[feature_drift]`` (raises OperatorError on bad settings)."""
    return FeatureDriftMonitor(
        features.numeric if fd.numeric is None else fd.numeric,
        features.categorical if fd.categorical is None else fd.categorical,
        window=None if fd.window_ms else fd.window,
        stride=fd.stride or None,
        window_ms=fd.window_ms or None,
        reference=fd.reference,
        reference_size=fd.reference_size or None,
        warmup=fd.warmup,
        detectors=fd.detectors,
        alpha=fd.alpha,
        correction=fd.correction,
        critical_alpha=fd.critical_alpha,
        psi_bins=fd.psi_bins,
        psi_warning=fd.psi_warning,
        psi_critical=fd.psi_critical,
        min_count=fd.min_count,
    )


def load(path: str | Path) -> Config:
    """Read and validate a TOML configuration file."""
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"cannot read configuration {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"configuration {path} is not valid TOML: {exc}") from None
    return parse(raw)
