"""`riverbed demo`: the main job end to end on an embedded Kafka-protocol broker.

Starts noida-db on a free loopback port, creates the topics, produces the drifting synthetic
stream with late labels (and a few bad records), runs the job from Kafka until it has drained
while printing progress, prints the run summary as a table, and leaves the summary JSON, the
predictions, the alerts, the dead letters and the run report page (``report.html``) under
``./runs/<run-id>/``. The broker is stopped
at the end, whatever happens.
"""

from __future__ import annotations

import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any

import tomllib

from flows.broker import EmbeddedBroker, create_topics
from flows.config import Config, parse
from flows.produce import produce_synthetic
from flows.report import format_summary
from flows.run_page import write_page
from flows.runner import run_job

__all__ = ["demo_config", "run_demo"]


def demo_config(brokers: str, run_dir: Path, overrides: dict[str, Any] | None = None) -> Config:
    """The packaged demo configuration, pointed at ``brokers`` and writing under ``run_dir``."""
    raw = tomllib.loads(resources.files("flows").joinpath("configs/demo.toml").read_text())
    raw["source"]["brokers"] = brokers
    for name, sink in raw["sinks"].items():
        sink["path"] = str(run_dir / f"{name}.jsonl")
    for section, values in (overrides or {}).items():
        raw.setdefault(section, {}).update(values)
    return parse(raw)


def run_demo(
    events: int = 100_000,
    runs_dir: str = "runs",
    seed: int = 42,
    label_delay: int = 500,
    bad_every: int = 1000,
    progress_s: float = 2.0,
) -> dict[str, Any]:
    run_id = time.strftime("%Y%m%d-%H%M%S")
    run_dir = Path(runs_dir) / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    say = lambda msg: print(f"riverbed demo: {msg}", file=sys.stderr, flush=True)  # noqa: E731
    with EmbeddedBroker(run_dir / "broker") as broker:
        say(f"broker noida-db at {broker.address} (pid {broker.proc.pid if broker.proc else '-'})")
        create_topics(broker.address, ["events", "labels"])
        t0 = time.monotonic()
        produced = produce_synthetic(
            broker.address, "events", "labels", events, events // 2,
            seed=seed, label_delay=label_delay, bad_every=bad_every,
        )  # fmt: skip
        say(
            f"produced {produced:,} records ({events:,} events, drift at event {events // 2:,}, "
            f"labels {label_delay} events late) in {time.monotonic() - t0:.1f} s"
        )
        cfg = demo_config(
            broker.address, run_dir, {"job": {"seed": seed, "progress_s": progress_s}}
        )
        summary = run_job(cfg, str(run_dir / "summary.json"))
    print(format_summary(summary))
    page = write_page(summary, run_dir)
    print(
        f"\nrun directory: {run_dir}/ (summary.json, predictions.jsonl, alerts.jsonl, "
        f"dead_letters.jsonl)\nrun report: {page}"
    )
    return summary
