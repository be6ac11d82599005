"""The main dataflow, built from a validated configuration.

::

    source -> [ decode -> label check -> lateness -> label delay -> sampling -> feature drift
                -> featurize -> learn + serve -> output guard -> report ]
                                    -> sinks (one item per batch each)
                                    -> run summary

The steps in brackets are :mod:`operators` and :mod:`flows.learn` state machines composed as
one :class:`~operators.pipeline.Pipeline`, which :func:`operators.adapter.stateful_step` runs as
a single recoverable Bytewax step (the steps in brackets that the configuration does not ask
for are left out). What passes from step to step is a typed
:class:`~operators.records.Batch`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.inputs import Source
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from flows.config import Config
from flows.learn.lane import Lane
from flows.learn.model_checkpointing import ModelCheckpointing
from flows.learn.serving import Serving
from flows.learn.step import LearnStep
from flows.outputs import SINK_NAMES, output_guard
from flows.prometheus import JobMetrics
from flows.report import RunReport
from flows.shutdown import StopAwareLabelDelay
from flows.sinks import JsonlFileSink, KafkaSink, SinkSettings, StdoutSink, dumps
from flows.sources import FileSource, KafkaSource, SyntheticSource
from online_models import checkpoints
from online_models.learner import Learner
from online_models.scoring import Scoring
from online_models.tasks import task
from operators.adapter import stateful_step
from operators.decode import Decoder, DecodeStep
from operators.feature_drift_step import FeatureDriftStep
from operators.feature_step import FeatureStep
from operators.featurize import Featurizer
from operators.label_check import LabelCheck
from operators.label_join import LabelJoin
from operators.lateness import LatenessFilter
from operators.pipeline import Pipeline
from operators.records import Batch, RawBatch
from operators.sampling import StreamSample

__all__ = [
    "build_dataflow",
    "build_pipeline",
    "learn_step",
    "feature_schema",
    "recovery_summary",
    "SummarySink",
]


class SummarySink(DynamicSink[dict[str, Any]]):
    """Write the run summary JSON to ``path`` (atomically: write, then rename)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _SummaryPartition:
        return _SummaryPartition(self.path)


class _SummaryPartition(StatelessSinkPartition[dict[str, Any]]):
    def __init__(self, path: str) -> None:
        self.path = path

    def write_batch(self, items: list[dict[str, Any]]) -> None:
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        with tempfile.NamedTemporaryFile("wb", dir=directory, delete=False) as f:
            f.write(dumps(items[-1]) + b"\n")
        os.replace(f.name, self.path)


def _source(cfg: Config) -> Source[RawBatch]:
    s, b = cfg.source, cfg.batch
    if s.kind == "kafka":
        return KafkaSource.of(s, b)
    if s.kind == "file":
        return FileSource(s.path, s.format, b.max_events)
    return SyntheticSource(s.events, s.drift_at, s.drift_width, cfg.job.seed, b.max_events)


def _sink(name: str, sink: SinkSettings, up: Any) -> None:
    if sink.kind == "none":
        return
    records = op.filter_map(
        f"sink_{name}_records",
        up,
        lambda item: item.sinks.get(name) or None if isinstance(item, Batch) else None,
    )
    if sink.kind == "jsonl":
        keyed = op.key_on(f"sink_{name}_key", records, lambda _r: "file")
        op.output(f"sink_{name}", keyed, JsonlFileSink(sink.path))
    elif sink.kind == "kafka":  # one stateful partition: its snapshot holds the topic's ends
        keyed = op.key_on(f"sink_{name}_key", records, lambda _r: "kafka")
        kafka = KafkaSink(
            sink.brokers,
            sink.topic,
            retries=sink.retries,
            delivery_timeout_s=sink.delivery_timeout_s,
            max_message_bytes=sink.max_message_bytes,
            oversize=sink.oversize,
            name=name,
        )
        op.output(f"sink_{name}", keyed, kafka)
    else:
        op.output(f"sink_{name}", records, StdoutSink())


def feature_schema(cfg: Config) -> dict[str, Any]:
    """What decides the feature columns a model is trained on (hashed into checkpoints)."""
    f = cfg.features
    return {
        "numeric": f.numeric,
        "categorical": f.categorical,
        "scaler": f.scaler,
        "max_categories": f.max_categories,
        "hash_width": f.hash_width,
        "numeric_indicator": f.numeric_indicator,
        "categorical_indicator": f.categorical_indicator,
    }


def _featurizer(cfg: Config) -> Featurizer:
    """A fresh featurizer, or the one saved with the warm start's newest model checkpoint."""
    warm = cfg.model_checkpoints.warm_start
    found = checkpoints.latest(warm, cfg.models[0].name) if warm else None
    saved = checkpoints.load_features(found) if found is not None else None
    return saved if isinstance(saved, Featurizer) else Featurizer(cfg.features.spec(cfg.job.seed))


def _learners(cfg: Config, schema_hash: str) -> list[Learner]:
    """The candidate models: fresh, or warm-started from the newest model checkpoints."""
    warm = cfg.model_checkpoints.warm_start
    learners = []
    for m in cfg.models:
        found = checkpoints.latest(warm, m.name) if warm else None
        if found is not None:
            learners.append(checkpoints.load(found, schema_hash))
        else:
            learners.append(Learner(m, task(cfg.job.task), cfg.metrics))
    return learners


def _serving(cfg: Config, names: list[str]) -> Serving:
    """A fresh serving rule, or, on a warm start, the policy (or deployment mode) saved with
    the first model's newest checkpoint when it is the same rule over the same models."""
    serving = Serving.build(cfg.serving, names, cfg.job.seed)
    warm = cfg.model_checkpoints.warm_start
    found = checkpoints.latest(warm, names[0]) if warm else None
    saved = checkpoints.load_serving(found) if found is not None else None

    def arms(rule: Any) -> Any:  # a policy's arms, a deployment mode's models
        return getattr(rule, "arms", getattr(rule, "models", None))

    if type(saved) is type(serving.rule) and arms(saved) == arms(serving.rule):
        serving.rule = saved
    return serving


def learn_step(cfg: Config, features: FeatureStep, frozen: bool = False) -> LearnStep:
    """The learn-and-serve step of ``cfg`` (raises ModelError for a bad warm start);
    ``features`` is the feature step whose state model checkpoints save."""
    names = [m.name for m in cfg.models]
    job_task = task(cfg.job.task)
    schema_hash = checkpoints.feature_schema_hash(feature_schema(cfg))
    mc = cfg.model_checkpoints
    d = cfg.drift
    monitor = d.monitor(names)
    lanes = [
        Lane(m, learner, job_task, monitor, d.action, d.challenger)
        for m, learner in enumerate(_learners(cfg, schema_hash))
    ]
    serving = _serving(cfg, names)
    return LearnStep(
        lanes,
        serving,
        LabelJoin(cfg.labels),
        Scoring(cfg.metrics, job_task, names),
        job_task,
        key_field=cfg.deployment.key_field,
        weight_field=cfg.schema.weight_field,
        top_k=cfg.metrics.top_k,
        frozen=frozen,
        checkpointing=ModelCheckpointing(mc, schema_hash, features, serving)
        if mc.directory
        else None,
    )


def _decoder(cfg: Config) -> Decoder:
    f = cfg.features
    meta = [*cfg.metrics.slices, cfg.deployment.key_field, cfg.sampling.field]
    return Decoder(
        f.numeric,
        f.categorical,
        f.required,
        cfg.schema,
        cfg.job.task,
        numbers_from_text=cfg.source.kind == "file" and cfg.source.format == "csv",
        meta=tuple(dict.fromkeys(filter(None, meta))),
    )


def build_pipeline(
    cfg: Config,
    metrics: JobMetrics | None = None,
    adjust_learn: Callable[[LearnStep], LearnStep] | None = None,
) -> Pipeline:
    """The job's steps for ``cfg``, fresh (raises ModelError for a bad warm start).

    ``adjust_learn`` is applied to the learn step (replay: frozen models).
    """
    features = FeatureStep(_featurizer(cfg))
    learn = learn_step(cfg, features)
    if adjust_learn is not None:
        learn = adjust_learn(learn)
    steps: dict[str, Any] = {"decode": DecodeStep(_decoder(cfg), cfg.source.max_future_ms)}
    if task(cfg.job.task).probabilistic:
        steps["label_check"] = LabelCheck([m.name for m in learn.learners if m.binary])
    lateness = cfg.source.allowed_lateness_ms
    if lateness is not None:
        steps["lateness"] = LatenessFilter(lateness)
    if cfg.source.label_delay:
        steps["label_delay"] = StopAwareLabelDelay(cfg.source.label_delay)
    if cfg.sampling.kind != "none":
        steps["sampling"] = StreamSample(cfg.sampling, cfg.job.seed)
    f = cfg.features
    if cfg.feature_drift.enabled:
        steps["feature_drift"] = FeatureDriftStep(cfg.feature_drift, f.numeric, f.categorical)
    steps["featurize"] = features
    steps["learn"] = learn
    steps["output_guard"] = output_guard(cfg.sinks)
    labels = (
        f"source.labels_topic {cfg.source.labels_topic!r}"
        if cfg.source.labels_topic
        else f"schema.label_field {cfg.schema.label_field!r}"
    )
    report = RunReport(
        cfg.job.progress_s > 0, recovery_summary(cfg), cfg.job.max_dead_letter_ratio, labels
    )
    report.attach(metrics)
    steps["report"] = report
    return Pipeline(steps)


def recovery_summary(cfg: Config) -> dict[str, Any]:
    """The recovery settings as the run summary's ``checkpoints`` section shows them."""
    settings: dict[str, Any] = {"directory": cfg.checkpoint.directory or None}
    if cfg.checkpoint.directory:
        settings["interval_s"] = cfg.checkpoint.interval_s
    return settings


def build_dataflow(
    cfg: Config,
    summary_path: str,
    metrics: JobMetrics | None = None,
    *,
    source: Source[RawBatch] | None = None,
    adjust_learn: Callable[[LearnStep], LearnStep] | None = None,
) -> Dataflow:
    """The main job for ``cfg``; the run summary is written to ``summary_path`` at the end, and
    ``metrics`` (Prometheus) are updated as batches go by.

    ``source`` replaces the configured source, and ``adjust_learn`` is applied to a freshly
    built learn step (both for :mod:`flows.replay`).
    """
    flow = Dataflow(cfg.job.name)
    src = source if source is not None else _source(cfg)
    raw = op.input("source", flow, src)
    fresh = build_pipeline(cfg, metrics, adjust_learn)  # now: a bad warm start fails at once
    where = getattr(src, "progress", None)

    def attach(pipeline: Pipeline, resumed: bool) -> None:
        if resumed:
            pipeline["report"].begin_execution()
        pipeline["report"].attach(metrics, where)
        if metrics is not None:
            metrics.watch(where, pipeline.seconds)

    attach(fresh, resumed=False)
    progress = cfg.job.progress_s
    out = stateful_step(
        "pipeline",
        raw,
        lambda: fresh,
        tick=timedelta(seconds=progress) if progress > 0 else None,
        on_resume=lambda pipeline: attach(pipeline, resumed=True),
    )
    for name in SINK_NAMES:
        _sink(name, cfg.sinks[name], out)
    summary = op.filter("summary_only", out, lambda item: isinstance(item, dict))
    op.output("summary", summary, SummarySink(summary_path))
    return flow
