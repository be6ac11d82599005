"""Run a configured job in this process, with recovery when a checkpoint directory is set.

The recovery store is created on the first run (one SQLite partition per worker) and resumed
from its last snapshot after that; there is nothing to initialize by hand.

While the job runs, SIGTERM and SIGINT stop it gracefully (:mod:`flows.shutdown`): the input
ends after the current batch, the final snapshot is taken and the run summary is written.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import orjson
from bytewax.inputs import Source
from bytewax.run import cli_main

from flows import shutdown
from flows.config import Config
from flows.dataflow import build_dataflow, recovery_summary
from flows.errors import ConfigError
from flows.learn.step import LearnStep
from flows.panics import dataflow_error
from flows.prometheus import JobMetrics, serve
from flows.recovery import recovery_store
from flows.report import RunReport
from flows.sinks import dumps

__all__ = ["run_job", "metrics_server"]


def metrics_server(port: int, host: str = "127.0.0.1") -> JobMetrics | None:
    """The Prometheus endpoint on ``host:port`` (None for port 0); one that cannot be bound is
    a :class:`ConfigError` naming ``job.metrics_port`` (and ``job.metrics_host`` if set)."""
    if not port:
        return None
    try:
        return serve(port, host)
    except OSError as exc:
        on = "" if host == "127.0.0.1" else f" of {host} (job.metrics_host)"
        problem = f"job.metrics_port: cannot serve on port {port}{on}: {exc.strerror}"
        raise ConfigError(problem) from None


def run_job(
    cfg: Config,
    summary_path: str | None = None,
    *,
    source: Source[Any] | None = None,
    adjust_learn: Callable[[LearnStep], LearnStep] | None = None,
) -> dict[str, Any]:
    """Run ``cfg`` until its input ends or it is stopped; return the run summary (also
    written to ``summary_path``).

    Args:
        cfg: the validated configuration.
        summary_path: where the run summary goes (a temporary file when None).
        source: a source to use instead of the configured one (replay).
        adjust_learn: applied to the learn step's state when it is built fresh (replay:
            frozen models, warm start).
    """
    tmp = None
    if summary_path is None:
        fd, tmp = tempfile.mkstemp(prefix="riverbed-summary-", suffix=".json")
        os.close(fd)
        summary_path = tmp
    try:
        directory = cfg.checkpoint.directory
        recovery = recovery_store(directory, cfg) if directory else None
        metrics = metrics_server(cfg.job.metrics_port, cfg.job.metrics_host)
        flow = build_dataflow(cfg, summary_path, metrics, source=source, adjust_learn=adjust_learn)
        with shutdown.handle_signals():
            try:
                cli_main(
                    flow,
                    epoch_interval=timedelta(seconds=cfg.checkpoint.interval_s),
                    recovery_config=recovery,
                )
            except Exception as exc:
                cause = dataflow_error(exc, flow.flow_id)
                if cause is exc:
                    raise
                raise cause from exc
        if not os.path.exists(summary_path) or os.path.getsize(summary_path) == 0:
            # The input was empty from the start (no batch reached the pipeline, so it never
            # ran): the summary of nothing.
            _write(summary_path, RunReport(checkpoint=recovery_summary(cfg)).summary())
        with open(summary_path, "rb") as f:
            summary: dict[str, Any] = orjson.loads(f.read())
        return summary
    finally:
        if tmp is not None:
            os.unlink(tmp)


def _write(path: str, summary: dict[str, Any]) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with tempfile.NamedTemporaryFile("wb", dir=directory, delete=False) as f:
        f.write(dumps(summary) + b"\n")
    os.replace(f.name, path)
