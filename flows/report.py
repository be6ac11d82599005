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
from flows.errors import SourceError
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
CHECK_AFTER = 1000
"""Events after which a job that cannot be right says so (all dead letters, no label)."""


class RunReport:
    """Aggregate what the flow did; print progress; emit the run summary at the end.

    Batches pass through (the sinks take them after this step).

    A job that cannot be right says so, once, on stderr and in the summary's ``warnings``:
    when every one of the first :data:`CHECK_AFTER` events (or of all of them, if the input
    is shorter) is a dead letter, and when no label came with the first :data:`CHECK_AFTER`
    events. With ``max_dead_letter_ratio`` below 1, a run whose share of dead-letter events
    exceeds it (checked from :data:`CHECK_AFTER` events on, and at the end) stops with an
    error.

    Args:
        progress: print a progress line to stderr on every tick.
        checkpoint: the recovery settings, echoed in the summary.
        max_dead_letter_ratio: the largest share of events that may be dead letters.
        label_source: where labels are expected, named in the warning when none comes.
    """

    def __init__(
        self,
        progress: bool = False,
        checkpoint: dict[str, Any] | None = None,
        max_dead_letter_ratio: float = 1.0,
        label_source: str = "",
    ) -> None:
        self.progress = progress
        self.checkpoint = dict(checkpoint or {})
        self.max_dead_letter_ratio = max_dead_letter_ratio
        self.label_source = label_source
        self.warnings: dict[str, str] = {}  # by kind: all_dead_letters, no_labels
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
        if self.events_in >= CHECK_AFTER:
            self._sanity(CHECK_AFTER)
        return [batch]

    def _sanity(self, after: int) -> None:
        """Warn (once each) about a job that cannot be right; enforce the dead-letter ratio."""
        reasons = ", ".join(f"{k}: {n:,}" for k, n in sorted(self.reasons.items()))
        good = self.events_in - self.events_bad
        if self.events_in and not good:
            self._warn(
                "all_dead_letters",
                f"the first {self.events_in:,} events are all dead letters ({reasons}); check "
                "[schema] and [features] against the records (a file without ids needs "
                'schema.id_field = "")',
            )
        if good and not (self.labels_in or self.labels_bad) and self.events_in >= after:
            self._warn(
                "no_labels",
                f"no label came with the first {self.events_in:,} events ({self.label_source})",
            )
        ratio = self.events_bad / self.events_in if self.events_in else 0.0
        if ratio > self.max_dead_letter_ratio:
            raise SourceError(
                f"job.max_dead_letter_ratio = {self.max_dead_letter_ratio:g}: "
                f"{self.events_bad:,} of {self.events_in:,} events are dead letters "
                f"({ratio:.1%}; {reasons}); the job stops"
            )

    def _warn(self, key: str, message: str) -> None:
        if key in self.warnings:
            return
        self.warnings[key] = message
        print(f"riverbed: warning: {message}", file=sys.stderr, flush=True)

    def on_tick(self, now: float) -> list[Any]:
        if self.progress:
            print(self.progress_line(), file=sys.stderr, flush=True)
        return []

    def on_eof(self) -> list[dict[str, Any]]:
        if not shutdown.requested():  # the input really ended: judge what there was
            self._sanity(CHECK_AFTER)
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
            "warnings": dict(self.warnings),
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
