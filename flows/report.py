"""The run report: counters, latency and throughput, progress lines, and the run summary.

:class:`RunReport` is the dataflow's last step. It sees every batch after the learn step and,
when the input ends, emits the run summary of DESIGN.md ("Contracts"). Counts are cumulative
over resumed executions (the report is in the recovery snapshot); ``elapsed_s`` and
``throughput_eps`` describe the current execution.

>>> r = RunReport(progress=False)
>>> from operators.records import Batch, Events
>>> _ = r.update(Batch(events=Events.of([{}]), read_at=0.0))
>>> s = r.on_eof()[0]
>>> s["events_in"], s["events_bad"], sorted(s["latency_ms"])
(1, 0, ['p50', 'p95', 'p99'])
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np

from flows import shutdown
from flows.prometheus import JobMetrics
from operators.records import Batch

__all__ = ["RunReport", "format_summary"]

# Latency histogram: 700 log-spaced bins from 10 us to 100 s (2.3% relative resolution).
_EDGES_MS = np.logspace(-2, 5, 701)
_MAX_ALERTS = 1000
# Sections of the learn step's report that the run summary carries as they are.
_PASSED_ON = (
    "label_join", "policy", "deployment", "latency", "feedback_loop", "slices",
    "model_checkpoints", "drift_actions",
)  # fmt: skip


class RunReport:
    """Aggregate what the flow did; print progress; emit the run summary at the end.

    Batches pass through (the sinks take them after this step).

    Args:
        progress: print a progress line to stderr on every tick.
        checkpoint: the recovery settings, echoed in the summary.
    """

    def __init__(self, progress: bool = False, checkpoint: dict[str, Any] | None = None) -> None:
        self.progress = progress
        self.checkpoint = dict(checkpoint or {})
        self.events_in = 0
        self.events_bad = 0
        self.labels_in = 0
        self.labels_bad = 0
        self.reasons: dict[str, int] = {}
        self.latency_counts = np.zeros(len(_EDGES_MS) + 1, dtype=np.int64)
        self.alerts: list[dict[str, Any]] = []
        self.alerts_total = 0
        self.learn: dict[str, Any] = {}
        self.sample: dict[str, Any] | None = None
        self.snapshots = 0
        self.clipped: dict[str, int] = {}
        self.begin_execution(None)

    def begin_execution(self, metrics: JobMetrics | None) -> None:
        """Start this execution's clock and attach its Prometheus metrics (at build, on resume)."""
        self.started = time.monotonic()
        self.events_this_execution = 0
        self.metrics = metrics

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "metrics"} | {"metrics": None}

    def on_snapshot(self) -> None:
        self.snapshots += 1

    def update(self, batch: Batch) -> list[Batch]:
        n = len(batch.events)
        self.events_in += n
        self.events_this_execution += n
        self.labels_in += len(batch.labels)
        for dead in batch.dead_letters:
            if dead.role == "events":
                self.events_in += 1
                self.events_bad += 1
            elif dead.role == "labels":
                self.labels_bad += 1
            self.reasons[dead.kind] = self.reasons.get(dead.kind, 0) + 1
        if n:
            latency_ms = (time.time() - batch.read_at) * 1000.0
            self.latency_counts[np.searchsorted(_EDGES_MS, latency_ms)] += n
        alerts = batch.alerts
        self.alerts_total += len(alerts)
        room = max(0, _MAX_ALERTS - len(self.alerts))
        self.alerts.extend(a.to_record() for a in alerts[:room])
        if batch.learn is not None:
            self.learn = dict(batch.learn)
        if self.metrics is not None:
            self.metrics.observe(batch, self.learn)
        if batch.samples:
            self.sample = dict(batch.samples[-1].summary)
        features = batch.features
        if features is not None and any(features.clipped):
            for name, k in zip(features.names, features.clipped):
                self.clipped[name] = self.clipped.get(name, 0) + k
        return [batch]

    def on_tick(self, now: float) -> list[Any]:
        if self.progress:
            print(self.progress_line(), file=sys.stderr, flush=True)
        return []

    def on_eof(self) -> list[dict[str, Any]]:
        return [self.summary()]

    def progress_line(self) -> str:
        s = self.summary()
        served = s["served"]
        value = served.get("value")
        shown = "-" if value is None else f"{value:.3f}"
        return (
            f"riverbed: {s['events_in']:>9,} events | {s['throughput_eps']:>9,.0f} events/s | "
            f"served {served.get('metric', 'metric')} {shown} | {s['drift_alerts']} drift alerts"
        )

    def _percentile(self, q: float) -> float | None:
        total = int(self.latency_counts.sum())
        if not total:
            return None
        idx = int(np.searchsorted(np.cumsum(self.latency_counts), q * total))
        return float(_EDGES_MS[min(idx, len(_EDGES_MS) - 1)])

    def summary(self) -> dict[str, Any]:
        elapsed = time.monotonic() - self.started
        learn = self.learn
        models = learn.get("models", {})
        return {
            "events_in": self.events_in,
            "events_bad": self.events_bad,
            "labels_in": self.labels_in,
            "labels_bad": self.labels_bad,
            "bad_reasons": dict(sorted(self.reasons.items())),
            "predictions": learn.get("predictions", 0),
            "labels_joined": learn.get("labels_joined", 0),
            "served": learn.get("served", {}),
            "models": models,
            "selection": learn.get("selection", {}),
            **{k: learn[k] for k in _PASSED_ON if k in learn},
            "outliers_clipped": {k: v for k, v in sorted(self.clipped.items()) if v},
            "drift": self.alerts,
            "drift_alerts": self.alerts_total,
            "throughput_eps": self.events_this_execution / elapsed if elapsed > 0 else 0.0,
            "latency_ms": {
                "p50": self._percentile(0.50),
                "p95": self._percentile(0.95),
                "p99": self._percentile(0.99),
            },
            "sample": self.sample,
            "checkpoints": dict(self.checkpoint, recovery_snapshots=self.snapshots),
            "elapsed_s": elapsed,
            "stopped_by": shutdown.reason(),
        }


def _alert_line(a: dict[str, Any]) -> str:
    if a["kind"] != "drift":  # a deployment event or a drift action
        return (
            f"{a['kind']:<10} {a.get('from')} -> {a.get('to')} at position {a['position']} "
            f"(p-value {a.get('p_value')})"
        )
    subject = a.get("model") or a.get("feature")
    return (
        f"{a['detector']:<10} {subject:<20} at position {a['position']} "
        f"(event {a.get('event_id', '-')}) severity {a.get('severity')}"
    )


def format_summary(s: dict[str, Any]) -> str:
    """The run summary as a readable table."""

    def pct(v: Any) -> str:
        return "-" if v is None else f"{v:.4f}"

    lat = s["latency_ms"]
    lines = [
        f"events in       {s['events_in']:>12,}   bad {s['events_bad']:,} "
        f"(labels in {s['labels_in']:,}, bad {s['labels_bad']:,})",
        f"predictions     {s['predictions']:>12,}   labels joined {s['labels_joined']:,}",
        f"served          {s['served'].get('metric', '-'):>12}   {pct(s['served'].get('value'))}",
        f"throughput      {s['throughput_eps']:>12,.0f}   events/s over {s['elapsed_s']:.1f} s",
        f"latency ms      p50 {pct(lat['p50'])}  p95 {pct(lat['p95'])}  p99 {pct(lat['p99'])}",
        "",
        f"{'model':<24}{'estimator':<44}{'metric':>10}{'learned':>12}{'served':>10}",
    ]
    for name, m in s["models"].items():
        lines.append(
            f"{name:<24}{m['estimator']:<44}{pct(m['value']):>10}{m['events_learned']:>12,}"
            f"{s['selection'].get(name, 0):>10,}"
        )
    lines.append("")
    lines.append(f"alerts: {s['drift_alerts']} (drift, promotions, rollbacks)")
    for a in s["drift"][:20]:
        lines.append(f"  {_alert_line(a)}")
    if len(s["drift"]) > 20:
        lines.append(f"  ... {len(s['drift']) - 20} more in the alerts sink")
    if s["bad_reasons"]:
        lines.append("dead letters by reason:")
        lines.extend(f"  {n:>8,}  {r}" for r, n in s["bad_reasons"].items())
    return "\n".join(lines)
