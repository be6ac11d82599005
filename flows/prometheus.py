"""Prometheus metrics of a running job, served over HTTP when ``job.metrics_port`` is set.

The report step hands :class:`JobMetrics` every batch (:meth:`JobMetrics.observe` does a few
additions and one vectorized histogram update per batch); the metric families are built when
Prometheus scrapes (:meth:`JobMetrics.collect`), from those counts, the learn step's latest
summary, the source's positions and lag, and the pipeline's step timings. Counters describe
this process: they start at 0 when it starts (on resume too), as Prometheus expects; gauges
show the job's state (cumulative metrics over resumed executions included).

The metric names, units and labels are tabled in docs/OPERATIONS.md ("Metrics").

>>> m = JobMetrics(CollectorRegistry())
>>> from operators.records import Batch, Events
>>> m.observe(Batch(events=Events.of([{}]), read_at=0.0), {})
>>> b"riverbed_events_total 1.0" in generate_latest(m.registry)
True
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from flows.sources import PartitionProgress
from operators.records import Batch

__all__ = ["JobMetrics", "serve", "generate_latest", "CollectorRegistry"]

# Histogram buckets (upper bounds, seconds or events).
_LATENCY_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_LABEL_LATENCY_S = (0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200, 21600, 86400)
_BATCH_EVENTS = (1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
_CHECKPOINT_S = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class _Histogram:
    """Bucket counts and a sum, filled a whole batch at a time (numpy)."""

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = np.asarray(bounds, dtype=float)
        self.counts = np.zeros(len(bounds) + 1, dtype=np.int64)  # the last: above every bound
        self.sum = 0.0

    def add(self, values: np.ndarray) -> None:
        if len(values):
            self.counts += np.bincount(
                np.searchsorted(self.bounds, values, side="left"), minlength=len(self.counts)
            )
            self.sum += float(values.sum())

    def add_one(self, value: float, times: int = 1) -> None:
        self.counts[int(np.searchsorted(self.bounds, value, side="left"))] += times
        self.sum += value * times

    def family(self, name: str, doc: str) -> HistogramMetricFamily:
        cumulative = np.cumsum(self.counts).tolist()
        buckets = [(_bound(b), c) for b, c in zip(self.bounds.tolist(), cumulative)]
        buckets.append(("+Inf", cumulative[-1]))
        return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=self.sum)


def _bound(b: float) -> str:
    return str(int(b)) if float(b).is_integer() else repr(b)


def _stream(source: str) -> tuple[str, str]:
    """A dead letter's source position ``"topic/partition@offset"`` (or ``"file@line"``) as
    ``(source, partition)``."""
    stream = source.rsplit("@", 1)[0]
    topic, _, part = stream.rpartition("/")
    return (topic, part) if topic and part.isdigit() else (stream, "0")


class JobMetrics(Collector):
    """The job's Prometheus metrics, registered in ``registry`` (with the process, platform
    and garbage-collector collectors when ``process`` is true)."""

    def __init__(self, registry: CollectorRegistry, process: bool = False) -> None:
        self.registry = registry
        self.lock = threading.Lock()
        self.events = 0
        self.labels = 0
        self.dead: dict[tuple[str, str, str], int] = {}
        self.sinks: dict[str, int] = {}
        self.alerts: dict[tuple[str, str, str, str], int] = {}
        self.latency = _Histogram(_LATENCY_S)
        self.batch_seconds = _Histogram(_LATENCY_S)
        self.batch_events = _Histogram(_BATCH_EVENTS)
        self.label_latency = _Histogram(_LABEL_LATENCY_S)
        self.checkpoint = _Histogram(_CHECKPOINT_S)
        self.checkpoint_bytes = 0
        self.checkpoint_at: float | None = None
        self.drift: dict[tuple[str, str], tuple[float, float | None]] = {}
        self.learn: Mapping[str, Any] = {}
        self.baseline: dict[str, Any] = {}
        self.started = time.time()
        self.source: Callable[[], list[PartitionProgress]] | None = None
        self.steps: Mapping[str, float] = {}
        registry.register(self)
        if process:
            ProcessCollector(registry=registry)
            PlatformCollector(registry=registry)
            GCCollector(registry=registry)

    def watch(
        self,
        source: Callable[[], list[PartitionProgress]] | None = None,
        steps: Mapping[str, float] | None = None,
    ) -> None:
        """Read the source's progress and the pipeline's step seconds at each scrape."""
        if source is not None:
            self.source = source
        if steps is not None:
            self.steps = steps

    def begin(self, learn: Mapping[str, Any]) -> None:
        """Counters from the learn step's summary count from ``learn`` (the state this process
        starts from)."""
        with self.lock:
            self.baseline = _counts(learn)
            self.learn = learn

    # --- per batch ---------------------------------------------------------------------------

    def observe(self, batch: Batch, learn: Mapping[str, Any]) -> None:
        now = time.time()
        n = len(batch.events)
        with self.lock:
            self.events += n
            self.labels += len(batch.labels)
            for dead in batch.dead_letters:
                key = (dead.kind, *_stream(dead.source))
                self.dead[key] = self.dead.get(key, 0) + 1
            for name, records in batch.sinks.items():
                self.sinks[name] = self.sinks.get(name, 0) + len(records)
            for a in batch.alerts:
                key = (
                    a.kind,
                    a.detector,
                    a.subject if a.model else "",
                    "" if a.model else a.subject,
                )
                self.alerts[key] = self.alerts.get(key, 0) + 1
            for t in batch.drift_tests:
                self.drift[(t.detector, t.feature)] = (t.statistic, t.p_value)
            if n:
                self.latency.add(now - batch.events.ts_ms / 1000.0)
                self.batch_seconds.add_one(max(0.0, now - batch.read_at))
                self.batch_events.add_one(n)
            if batch.label_latency_ms is not None:
                self.label_latency.add(batch.label_latency_ms / 1000.0)
            self.learn = learn

    def snapshot_done(self, seconds: float, size: int) -> None:
        with self.lock:
            self.checkpoint.add_one(seconds)
            self.checkpoint_bytes = size
            self.checkpoint_at = time.time()

    # --- per scrape --------------------------------------------------------------------------

    def collect(self) -> Iterator[Metric]:
        with self.lock:
            yield from self._runtime()
            yield from self._learning()

    def _runtime(self) -> Iterator[Metric]:
        progress = self.source() if self.source is not None else []
        read = CounterMetricFamily(
            "riverbed_source_records", "Records handed over by the source, per partition",
            labels=["source", "partition"],
        )  # fmt: skip
        lag = GaugeMetricFamily(
            "riverbed_consumer_lag_records", "Records behind the partition's high watermark",
            labels=["source", "partition"],
        )  # fmt: skip
        lag_s = GaugeMetricFamily(
            "riverbed_consumer_lag_seconds", "Age of the next record to read (0: caught up)",
            labels=["source", "partition"],
        )  # fmt: skip
        for p in progress:
            part = [p.source, str(p.partition)]
            read.add_metric(part, p.records)
            if p.lag is not None:
                lag.add_metric(part, p.lag)
            if p.lag_s is not None:
                lag_s.add_metric(part, p.lag_s)
        yield from (read, lag, lag_s)
        yield _counter("riverbed_events", "Valid events read", self.events)
        yield _counter("riverbed_labels", "Labels read", self.labels)
        dead = CounterMetricFamily(
            "riverbed_dead_letters", "Records sent to the dead letters",
            labels=["kind", "source", "partition"],
        )  # fmt: skip
        for key, v in sorted(self.dead.items()):
            dead.add_metric(list(key), v)
        yield dead
        sinks = CounterMetricFamily(
            "riverbed_sink_records", "Records handed to each sink", labels=["sink"]
        )
        for name, v in sorted(self.sinks.items()):
            sinks.add_metric([name], v)
        yield sinks
        yield self.batch_events.family("riverbed_batch_events", "Events per batch")
        yield self.batch_seconds.family(
            "riverbed_batch_seconds", "Time from the source's read to the end of the pipeline"
        )
        yield self.latency.family(
            "riverbed_event_latency_seconds",
            "Time from the event's time to its prediction, per event",
        )
        steps = CounterMetricFamily(
            "riverbed_step_seconds", "Time spent in each step of the pipeline", labels=["step"]
        )
        for name, v in self.steps.items():
            steps.add_metric([name], v)
        yield steps
        yield self.checkpoint.family(
            "riverbed_checkpoint_duration_seconds", "Time to serialize a recovery snapshot"
        )
        yield _gauge(
            "riverbed_checkpoint_size_bytes", "Size of the last recovery snapshot",
            self.checkpoint_bytes,
        )  # fmt: skip
        since = self.checkpoint_at if self.checkpoint_at is not None else self.started
        yield _gauge(
            "riverbed_checkpoint_age_seconds",
            "Time since the last recovery snapshot (since the start before the first)",
            time.time() - since,
        )

    def _learning(self) -> Iterator[Metric]:
        learn, base = self.learn, self.baseline
        now = _counts(learn)
        metric = GaugeMetricFamily(
            "riverbed_model_metric", "Prequential metric per model (cumulative, rolling)",
            labels=["model", "metric", "window"],
        )  # fmt: skip
        for name, m in learn.get("models", {}).items():
            _metric_samples(metric, [name], m.get("metrics", {}))
        yield metric
        served = GaugeMetricFamily(
            "riverbed_served_metric", "Metric of the served predictions (cumulative, rolling)",
            labels=["metric", "window"],
        )  # fmt: skip
        _metric_samples(served, [], learn.get("served", {}).get("metrics", {}))
        yield served
        sliced = GaugeMetricFamily(
            "riverbed_slice_metric", "Served metric per slice (cumulative)",
            labels=["field", "slice", "metric"],
        )  # fmt: skip
        for field, slices in learn.get("slices", {}).items():
            for name, report in slices.items():
                for k, v in report.get("cumulative", {}).items():
                    if isinstance(v, (int, float)) and k != "roc_auc_error_bound":
                        sliced.add_metric([field, name, k], v)
        yield sliced
        learned = GaugeMetricFamily(
            "riverbed_model_events_learned", "Labels learned by each model", labels=["model"]
        )
        for name, m in learn.get("models", {}).items():
            learned.add_metric([name], m.get("events_learned", 0))
        yield learned
        chosen = CounterMetricFamily(
            "riverbed_predictions", "Predictions served, by the model that served them",
            labels=["model"],
        )  # fmt: skip
        for name, c in now["selection"].items():
            chosen.add_metric([name], c - base.get("selection", {}).get(name, 0))
        yield chosen
        total = sum(now["selection"].values())
        share = GaugeMetricFamily(
            "riverbed_arm_share", "Share of the predictions each model served (recent window)",
            labels=["model"],
        )  # fmt: skip
        shares = learn.get("feedback_loop", {}).get("arm_shares")
        for name, c in now["selection"].items():
            value = shares.get(name, 0.0) if shares else (c / total if total else 0.0)
            share.add_metric([name], value)
        yield share
        reward = GaugeMetricFamily(
            "riverbed_arm_reward", "Mean reward of each arm (selection policy)", labels=["model"]
        )
        for name, p in learn.get("policy", {}).items():
            if isinstance(p, Mapping) and p.get("mean_reward") is not None:
                reward.add_metric([name], p["mean_reward"])
        yield reward
        alerts = CounterMetricFamily(
            "riverbed_alerts", "Alerts: drift (per detector, model or feature), promotions, "
            "rollbacks, resets, challengers", labels=["kind", "detector", "model", "feature"],
        )  # fmt: skip
        for key, v in sorted(self.alerts.items()):
            alerts.add_metric(list(key), v)
        yield alerts
        challengers = learn.get("drift_actions", {}).get("challengers", {})
        yield _gauge("riverbed_challengers", "Challengers running now", len(challengers))
        stat = GaugeMetricFamily(
            "riverbed_feature_drift_statistic", "Last window test's statistic per feature",
            labels=["detector", "feature"],
        )  # fmt: skip
        pval = GaugeMetricFamily(
            "riverbed_feature_drift_p_value", "Last window test's p-value per feature",
            labels=["detector", "feature"],
        )  # fmt: skip
        for (detector, feature), (s, p) in sorted(self.drift.items()):
            stat.add_metric([detector, feature], s)
            if p is not None:
                pval.add_metric([detector, feature], p)
        yield from (stat, pval)
        join = learn.get("label_join", {})
        yield _gauge(
            "riverbed_label_join_pending", "Predictions and labels waiting to be joined",
            join.get("pending", 0),
        )  # fmt: skip
        expired = CounterMetricFamily(
            "riverbed_label_join_expired", "Predictions and labels that expired unjoined",
            labels=["kind"],
        )  # fmt: skip
        for kind in ("predictions", "labels"):
            key = f"expired_{kind}"
            expired.add_metric([kind], now[key] - base.get(key, 0))
        yield expired
        yield _counter(
            "riverbed_labels_joined", "Labels joined with their prediction",
            now["joined"] - base.get("joined", 0),
        )  # fmt: skip
        yield self.label_latency.family(
            "riverbed_label_latency_seconds", "Time from an event's time to its label's time"
        )


def _counts(learn: Mapping[str, Any]) -> dict[str, Any]:
    """The learn summary's counts that the counters show (this process's share of them)."""
    join = learn.get("label_join", {})
    return {
        "selection": dict(learn.get("selection", {})),
        "joined": join.get("joined", 0),
        "expired_predictions": join.get("expired_predictions", 0),
        "expired_labels": join.get("expired_labels", 0),
    }


def _metric_samples(family: GaugeMetricFamily, labels: list[str], report: Any) -> None:
    """A metrics report's numbers (``cumulative`` and ``rolling``) as samples."""
    for window in ("cumulative", "rolling"):
        for k, v in report.get(window, {}).items():
            if k not in ("window", "roc_auc_error_bound") and isinstance(v, (int, float)):
                family.add_metric([*labels, k, window], v)


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def serve(port: int, host: str = "127.0.0.1") -> JobMetrics:
    """Start the HTTP endpoint on ``host:port`` and return the job's metrics (with the
    process collectors)."""
    registry = CollectorRegistry()
    metrics = JobMetrics(registry, process=True)
    start_http_server(port, addr=host, registry=registry)
    return metrics
