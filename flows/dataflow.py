"""The main dataflow, built from a validated configuration.

::

    source -> decode -> [label delay] -> featurize -> learn+serve -> report -> summary
                 |                                       |
                 +-> dead letters sink                   +-> predictions sink, alerts sink

Every stateful step is an :mod:`operators` or :mod:`online_models` state machine run by
:func:`operators.adapter.stateful_step`, so its state is in the recovery snapshots.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import fields, replace
from datetime import timedelta
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream
from bytewax.inputs import Source
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from flows.config import SINK_NAMES, Config, SinkConfig, feature_drift_monitor
from flows.learn_serve import LearnServe, ModelCheckpointing, Serving
from flows.outputs import output_guard
from flows.prometheus import JobMetrics
from flows.report import RunReport
from flows.shutdown import StopAwareLabelDelay
from flows.sinks import JsonlFileSink, KafkaSink, StdoutSink, dumps
from flows.sources import FileSource, KafkaSource, RawBatch, SyntheticSource
from online_models import checkpoints
from online_models.deployment import make_deployment
from online_models.latency import LatencyBudget
from online_models.learner import Learner
from online_models.policies import make_policy
from operators.adapter import stateful_step
from operators.decode import Decoder
from operators.error_drift import ErrorDriftMonitor
from operators.feature_drift_step import FeatureDriftStep
from operators.featurize import FeatureSpec, Featurizer
from operators.label_join import LabelJoin
from operators.lateness import LatenessFilter
from operators.records import Batch, FeatureBlock
from operators.sampling import StreamSample

__all__ = ["build_dataflow", "learn_serve", "feature_schema", "SummarySink"]


class _Decode:
    """Raw micro-batch -> :class:`Batch`; rejected records go to the dead-letter output."""

    def __init__(self, decoder: Decoder) -> None:
        self.decoder = decoder

    def __call__(self, raw: RawBatch) -> Batch:
        read_at, records = raw
        events, labels, dead = self.decoder.decode(records)
        outputs = {"dead_letters": [d.to_record() for d in dead]} if dead else {}
        return Batch(tuple(events), tuple(labels), tuple(dead), read_at, outputs=outputs)


class _FeatureStep:
    """Attach the featurizer's output to each batch (and the featurizer itself, which the learn
    step saves with model checkpoints; both steps run in one worker, so this is a reference)."""

    def __init__(self, featurizer: Featurizer) -> None:
        self.featurizer = featurizer

    def update(self, batch: Batch) -> list[Batch]:
        names, matrix = self.featurizer.update([e.fields for e in batch.events])
        block = FeatureBlock(names, matrix, self.featurizer.sparse)
        report = {**batch.report, "featurizer": self.featurizer}
        return [replace(batch, features=block, report=report)]


def _featurizer(cfg: Config, spec: FeatureSpec) -> Featurizer:
    """A fresh featurizer, or the one saved with the warm start's newest model checkpoint."""
    warm = cfg.model_checkpoints.warm_start
    found = checkpoints.latest(warm, cfg.models[0].name) if warm else None
    saved = checkpoints.load_features(found) if found is not None else None
    return saved if isinstance(saved, Featurizer) else Featurizer(spec)


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
        return KafkaSource(
            s.brokers,
            s.events_topic,
            s.labels_topic,
            start=s.start,
            stop_at_end=s.stop_at_end,
            max_events=b.max_events,
            max_ms=b.max_ms,
            startup_timeout_s=s.startup_timeout_s,
            merge_wait_ms=s.merge_wait_ms,
        )
    if s.kind == "file":
        return FileSource(s.path, s.format, b.max_events)
    return SyntheticSource(s.events, s.drift_at, s.drift_width, cfg.job.seed, b.max_events)


def _sink(name: str, sink: SinkConfig, up: Stream[Any]) -> None:
    if sink.kind == "none":
        return
    records = op.flat_map(f"sink_{name}_records", up, lambda batch: batch.outputs.get(name, ()))
    if sink.kind == "jsonl":
        keyed = op.key_on(f"sink_{name}_key", records, lambda _r: "file")
        op.output(f"sink_{name}", keyed, JsonlFileSink(sink.path))
    elif sink.kind == "kafka":
        kafka = KafkaSink(
            sink.brokers,
            sink.topic,
            retries=sink.retries,
            delivery_timeout_s=sink.delivery_timeout_s,
            max_message_bytes=sink.max_message_bytes,
            oversize=sink.oversize,
            name=name,
        )
        op.output(f"sink_{name}", records, kafka)
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


def _learners(cfg: Config, schema_hash: str) -> list[Learner]:
    """The candidate models: fresh, or warm-started from the newest model checkpoints."""
    warm = cfg.model_checkpoints.warm_start
    pos_label = cfg.metrics.pos_label
    learners = []
    for m in cfg.models:
        found = checkpoints.latest(warm, m.name) if warm else None
        if found is not None:
            learners.append(checkpoints.load(found, schema_hash))
            continue
        learners.append(
            Learner(
                m.name,
                m.estimator,
                m.params,
                cfg.job.task,
                window=cfg.metrics.window,
                pos_label=pos_label,
                class_weights=m.class_weights,
                sampler=m.sampler or None,
                sampler_params=m.sampler_params,
            )
        )
    return learners


def learn_serve(cfg: Config, frozen: bool = False) -> LearnServe:
    """The learn-and-serve step of ``cfg`` (raises ModelError for a bad warm start)."""
    names = [m.name for m in cfg.models]
    sel, dep, lat, met = cfg.selection, cfg.deployment, cfg.latency, cfg.metrics
    schema_hash = checkpoints.feature_schema_hash(feature_schema(cfg))
    serving = Serving(
        make_policy(sel.policy, names, cfg.job.seed, **{"feedback": sel.feedback, **sel.params}),
        None
        if dep.mode == "bandit"
        else make_deployment(dep.mode, names, **{"feedback": sel.feedback, **dep.params}),
        dep.key_field,
        LatencyBudget(names, lat.budget_ms, lat.fallback or names[0], cost_per_ms=lat.cost_per_ms)
        if lat.budget_ms
        else None,
    )
    mc = cfg.model_checkpoints
    return LearnServe(
        _learners(cfg, schema_hash),
        serving,
        LabelJoin(cfg.labels.ttl_ms, cfg.labels.early_ttl_ms, cfg.labels.max_pending),
        ErrorDriftMonitor(names, cfg.drift.detector, cfg.drift.params, cfg.drift.warmup),
        cfg.job.task,
        window=met.window,
        pos_label=met.pos_label,
        slices=met.slices,
        max_slices=met.max_slices,
        top_k=met.top_k,
        monitor_window=met.monitor_window,
        weight_field=cfg.schema.weight_field,
        frozen=frozen,
        drift_action=cfg.drift.action,
        challenger=cfg.drift.challenger,
        model_checkpoints=ModelCheckpointing(mc.directory, schema_hash, mc.every_events, mc.every_s)
        if mc.directory
        else None,
    )


def build_dataflow(
    cfg: Config,
    summary_path: str,
    metrics: JobMetrics | None = None,
    *,
    source: Source[RawBatch] | None = None,
    adjust_learn: Callable[[LearnServe], LearnServe] | None = None,
) -> Dataflow:
    """The main job for ``cfg``; the run summary is written to ``summary_path`` at the end, and
    ``metrics`` (Prometheus) are updated as batches go by.

    ``source`` replaces the configured source, and ``adjust_learn`` is applied to a freshly
    built learn step (both for :mod:`flows.replay`).
    """
    flow = Dataflow(cfg.job.name)
    raw = op.input("source", flow, source if source is not None else _source(cfg))
    f = cfg.features
    decoder = Decoder(
        f.numeric,
        f.categorical,
        f.required,
        cfg.schema.id_field,
        cfg.schema.time_field,
        cfg.schema.label_field,
        cfg.job.task,
        numbers_from_text=cfg.source.kind == "file" and cfg.source.format == "csv",
        meta=tuple(
            dict.fromkeys(
                filter(None, [*cfg.metrics.slices, cfg.deployment.key_field, cfg.sampling.field])
            )
        ),
        weight_field=cfg.schema.weight_field,
    )
    batches = op.map("decode", raw, _Decode(decoder))
    lateness = cfg.source.allowed_lateness_ms
    if lateness is not None:
        batches = stateful_step("lateness", batches, lambda: LatenessFilter(lateness))
    if cfg.source.label_delay:
        delay = cfg.source.label_delay
        batches = stateful_step("label_delay", batches, lambda: StopAwareLabelDelay(delay))
    s = cfg.sampling
    if s.kind != "none":
        batches = stateful_step(
            "sampling",
            batches,
            lambda: StreamSample(
                s.kind,
                s.size,
                field=s.field,
                max_strata=s.max_strata,
                every_events=s.every_events,
                every_s=s.every_s,
                seed=cfg.job.seed,
            ),
        )
    d = cfg.feature_drift
    if d.enabled:
        monitor = feature_drift_monitor(f, d)
        batches = stateful_step(
            "feature_drift", batches, lambda: FeatureDriftStep(monitor, d.action)
        )
    # [features] holds every FeatureSpec setting under the same name (plus `required`).
    shared = {k.name: getattr(f, k.name) for k in fields(FeatureSpec) if hasattr(f, k.name)}
    spec = FeatureSpec(**shared | {"seed": cfg.job.seed})
    featured = stateful_step("featurize", batches, lambda: _FeatureStep(_featurizer(cfg, spec)))
    fresh = learn_serve(cfg)  # built now, so a bad warm start fails before the job starts
    if adjust_learn is not None:
        fresh = adjust_learn(fresh)
    learned = stateful_step("learn", featured, lambda: fresh)
    learned = op.map("output_guard", learned, output_guard(cfg.sinks))
    for name in SINK_NAMES:
        _sink(name, cfg.sinks[name], learned)
    checkpoint = {"directory": cfg.checkpoint.directory or None}
    if cfg.checkpoint.directory:
        checkpoint["interval_s"] = cfg.checkpoint.interval_s
    progress = cfg.job.progress_s > 0

    def fresh_report() -> RunReport:
        report = RunReport(progress, checkpoint)
        report.begin_execution(metrics)
        return report

    summary = stateful_step(
        "report",
        learned,
        fresh_report,
        tick=timedelta(seconds=cfg.job.progress_s) if progress else None,
        on_resume=lambda report: report.begin_execution(metrics),
    )
    op.output("summary", summary, SummarySink(summary_path))
    return flow
