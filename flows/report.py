"""The run report: counters, latency and throughput, progress lines, and the run summary.

:class:`RunReport` is the dataflow's last step. It sees every batch after the learn step and,
when the input ends, emits the run summary of DESIGN.md ("Contracts"). Counts are cumulative
over resumed executions (the report is in the recovery snapshot); ``elapsed_s`` and
``throughput_eps`` describe the current execution. It also records the time series of the run
page (:mod:`flows.timeline`, in the summary's ``timeline`` section; :mod:`flows.run_page`
draws them).

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
from collections.abc import Callable
from typing import Any

import numpy as np

from flows import shutdown
from flows.errors import SourceError
from flows.prometheus import JobMetrics
from flows.sources import PartitionProgress
from flows.timeline import TestSeries, Timeline
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
        self.timeline = Timeline()
        self.feature_tests = TestSeries()
        self.executions = 0
        # For the timeline: latency sums (cumulative) and maxima (since the last point).
        self.sums = {"latency_ms": 0.0, "latencies": 0, "label_latency_ms": 0.0, "labels": 0}
        self.maxima: dict[str, float | None] = {"latency_ms": None, "label_latency_ms": None}
        self.begin_execution()
        self.attach(None)

    def begin_execution(self) -> None:
        """Start this execution's clock (at build, and on resume)."""
        self.started = time.monotonic()
        self.events_this_execution = 0
        self.executions += 1
        self.last_tick = (self.started, 0)

    def attach(
        self,
        metrics: JobMetrics | None,
        source: Callable[[], list[PartitionProgress]] | None = None,
    ) -> None:
        """Attach what is not state: this process's Prometheus metrics, and the source's
        progress (its lag, for the progress line)."""
        self.metrics = metrics
        self.source = source
        if metrics is not None:
            metrics.begin(self.learn)

    _TRANSIENT = ("metrics", "source")

    def __getstate__(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k not in self._TRANSIENT}
        return state | dict.fromkeys(self._TRANSIENT)

    def on_snapshot(self) -> None:
        self.snapshots += 1

    def on_snapshot_done(self, seconds: float, size: int) -> None:
        if self.metrics is not None:
            self.metrics.snapshot_done(seconds, size)

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
        sums, maxima = self.sums, self.maxima
        if n:
            latency_ms = (time.time() - batch.read_at) * 1000.0
            self.latency_counts[np.searchsorted(_EDGES_MS, latency_ms)] += n
            sums["latency_ms"] += latency_ms * n
            sums["latencies"] += n
            high = maxima["latency_ms"]
            maxima["latency_ms"] = latency_ms if high is None else max(high, latency_ms)
        waited = batch.label_latency_ms
        if waited is not None and len(waited):
            sums["label_latency_ms"] += float(waited.sum())
            sums["labels"] += len(waited)
            high, top = maxima["label_latency_ms"], float(waited.max())
            maxima["label_latency_ms"] = top if high is None else max(high, top)
        for t in batch.drift_tests:
            self.feature_tests.add(t.detector, t.feature, t.position, t.p_value, t.statistic)
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
        position = self.learn.get("predictions", self.events_in)
        if self.timeline.due(position):
            self._point(position)
        return [batch]

    def _point(self, position: int) -> None:
        """A point of the timeline: counts so far, the served and per-model rolling metrics."""
        learn = self.learn
        served = learn.get("served", {})
        self.timeline.add(
            position,
            {
                "t": time.time(),
                "execution": self.executions,
                "events": self.events_in,
                "served": _rolling(served),
                "served_cumulative": served.get("value"),
                "models": {k: _rolling(m) for k, m in learn.get("models", {}).items()},
                "selection": dict(learn.get("selection", {})),
                **self.sums,
                **{f"max_{k}": v for k, v in self.maxima.items()},
            },
        )
        self.maxima = dict.fromkeys(self.maxima)

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
        """Events so far, the rate since the last line, the source's lag, the served metric
        over its rolling window, and the alerts so far."""
        now, events = time.monotonic(), self.events_this_execution
        then, before = self.last_tick
        self.last_tick = (now, events)
        rate = (events - before) / (now - then) if now > then else 0.0
        lags = [p.lag for p in self.source()] if self.source is not None else []
        known = [lag for lag in lags if lag is not None]
        lag = f"lag {sum(known):>9,}" if known else "lag         -"
        served = self.learn.get("served", {})
        value = _rolling(served)
        window = served.get("metrics", {}).get("rolling", {}).get("window")
        shown = "-" if value is None else f"{value:.3f}"
        over = f" (last {window:,})" if window else ""
        return (
            f"riverbed: {self.events_in:>11,} events | {rate:>9,.0f} events/s | {lag} | "
            f"served {served.get('metric', 'metric')} {shown}{over} | {self.alerts_total} alerts"
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
            "timeline": {
                "stride": self.timeline.stride,
                "points": list(self.timeline.points),
                "feature_tests": {k: list(v) for k, v in self.feature_tests.series.items()},
            },
        }


def _rolling(section: dict[str, Any]) -> float | None:
    """A metrics section's main metric over its rolling window (else its cumulative value)."""
    rolling = section.get("metrics", {}).get("rolling", {})
    value = rolling.get(section.get("metric", ""))
    return section.get("value") if value is None else value


def _alert_line(a: dict[str, Any]) -> str:
    at = f"at position {a['position']:>9,}"
    if a["kind"] != "drift":  # a deployment event or a drift action
        moved = f"{a.get('from')} -> {a.get('to')}" if "from" in a or "to" in a else ""
        subject = a.get("model") or a.get("feature") or ""
        p = a.get("p_value")
        return f"{a['kind']:<18} {moved or subject:<24} {at}" + (
            "" if p is None else f" p-value {p:.3g}"
        )
    if a.get("feature") is not None:
        w = a.get("window") or {}
        p = a.get("p_value")
        test = f"p-value {p:.3g}" if p is not None else f"statistic {a.get('statistic', 0):.3g}"
        return (
            f"{'drift ' + a['detector']:<18} feature {a['feature']:<16} {at} window "
            f"{w.get('start_position', '?'):,}-{w.get('end_position', '?'):,} {test} "
            f"({a.get('severity')})"
        )
    return (
        f"{'drift ' + a['detector']:<18} model {a['model']:<18} {at} "
        f"(event {a.get('event_id', '-')}) {a.get('severity')}"
    )


def _alerts_header(s: dict[str, Any]) -> str:
    """``alerts: N (k drift on models, ...)``: the kinds that are there, counted (over the
    alerts the summary keeps; all of them are in the alerts sink)."""
    counts: dict[str, int] = {}
    for a in s["drift"]:
        if a["kind"] == "drift":
            key = "drift on features" if a.get("feature") is not None else "drift on models"
        else:
            key = a["kind"].replace("_", " ")
        counts[key] = counts.get(key, 0) + 1
    parts = ", ".join(f"{n:,} {k}" for k, n in counts.items())
    return f"alerts: {s['drift_alerts']:,}" + (f" ({parts})" if parts else "")


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
    lines.append(_alerts_header(s))
    ordered = sorted(s["drift"], key=lambda a: a["position"])
    for a in ordered[:20]:
        lines.append(f"  {_alert_line(a)}")
    if s["drift_alerts"] > 20:
        lines.append(f"  ... {s['drift_alerts'] - 20:,} more in the alerts sink")
    if s["bad_reasons"]:
        lines.append("dead letters by reason:")
        lines.extend(f"  {n:>8,}  {r}" for r, n in s["bad_reasons"].items())
    return "\n".join(lines)
