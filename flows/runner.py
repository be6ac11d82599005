"""Run a configured job in this process, with recovery when a checkpoint directory is set.

The recovery store is created on the first run (one SQLite partition per worker) and resumed
from its last snapshot after that; there is nothing to initialize by hand.
"""

from __future__ import annotations

import os
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.run import cli_main

from flows.config import Config
from flows.dataflow import build_dataflow
from flows.prometheus import serve

__all__ = ["run_job", "recovery_store"]


def recovery_store(directory: str) -> RecoveryConfig:
    """The recovery store in ``directory``, created there if it has no partitions yet."""
    path = Path(directory)
    if not any(path.glob("part-*.sqlite3")):
        path.mkdir(parents=True, exist_ok=True)
        init_db_dir(path, 1)
    return RecoveryConfig(path)


def run_job(cfg: Config, summary_path: str | None = None) -> dict[str, Any]:
    """Run ``cfg`` until its input ends; return the run summary (also written to the path)."""
    tmp = None
    if summary_path is None:
        fd, tmp = tempfile.mkstemp(prefix="riverbed-summary-", suffix=".json")
        os.close(fd)
        summary_path = tmp
    try:
        metrics = serve(cfg.job.metrics_port) if cfg.job.metrics_port else None
        flow = build_dataflow(cfg, summary_path, metrics)
        recovery = recovery_store(cfg.checkpoint.directory) if cfg.checkpoint.directory else None
        cli_main(
            flow,
            epoch_interval=timedelta(seconds=cfg.checkpoint.interval_s),
            recovery_config=recovery,
        )
        with open(summary_path, "rb") as f:
            summary: dict[str, Any] = orjson.loads(f.read())
        return summary
    finally:
        if tmp is not None:
            os.unlink(tmp)
