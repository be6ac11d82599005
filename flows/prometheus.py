"""Prometheus metrics of a running job, served over HTTP when ``job.metrics_port`` is set.

The report step feeds them batch by batch; they describe this process (counters restart with
it, as Prometheus expects), while the run summary is cumulative over resumed executions.

Metrics (prefix ``riverbed_``): ``events_total``, ``dead_letters_total{kind}``,
``labels_total``, ``predictions_total{model}`` (served), ``drift_alerts_total{detector}``,
``batch_latency_seconds`` (histogram, source read to served prediction, per event),
``served_metric{metric}``, ``model_metric{model,metric}``, ``label_join_pending``.

>>> m = JobMetrics(CollectorRegistry())
>>> from operators.records import Batch, Events
>>> m.observe(Batch(events=Events.of([{}]), read_at=0.0), {})
>>> b"riverbed_events_total 1.0" in generate_latest(m.registry)
True
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)

from operators.records import Batch

__all__ = ["JobMetrics", "serve", "generate_latest", "CollectorRegistry"]


class JobMetrics:
    """The job's Prometheus metrics in ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        r = {"registry": registry, "namespace": "riverbed"}
        self.events = Counter("events", "Valid events read", **r)
        self.dead = Counter("dead_letters", "Records sent to the dead letters", ["kind"], **r)
        self.labels = Counter("labels", "Labels read", **r)
        self.predictions = Counter("predictions", "Predictions served", ["model"], **r)
        self.alerts = Counter(
            "drift_alerts", "Drift alerts and deployment events", ["detector"], **r
        )
        self.latency = Histogram(
            "batch_latency_seconds",
            "Time from the source read to the served prediction, per event",
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            **r,
        )
        self.served = Gauge(
            "served_metric", "Cumulative metric of the served predictions", ["metric"], **r
        )
        self.model = Gauge(
            "model_metric", "Cumulative prequential metric per model", ["model", "metric"], **r
        )
        self.pending = Gauge(
            "label_join_pending", "Predictions and labels waiting to be joined", **r
        )

    def observe(self, batch: Batch, learn: dict[str, Any]) -> None:
        n = len(batch.events)
        self.events.inc(n)
        self.labels.inc(len(batch.labels))
        for dead in batch.dead_letters:
            self.dead.labels(dead.kind).inc()
        for record in batch.predictions:
            self.predictions.labels(record["model"]).inc()
        for alert in batch.alerts:
            self.alerts.labels(alert.detector).inc()
        if n:
            elapsed = max(0.0, time.time() - batch.read_at)
            for _ in range(n):
                self.latency.observe(elapsed)
        served = learn.get("served", {})
        if served.get("value") is not None:
            self.served.labels(served["metric"]).set(served["value"])
        for name, m in learn.get("models", {}).items():
            if m.get("value") is not None:
                self.model.labels(name, m["metric"]).set(m["value"])
        if "label_join" in learn:
            self.pending.set(learn["label_join"].get("pending", 0))


def serve(port: int) -> JobMetrics:
    """Start the HTTP endpoint on ``port`` (all interfaces) and return the job's metrics."""
    registry = CollectorRegistry()
    start_http_server(port, registry=registry)
    return JobMetrics(registry)
