"""The settings of the job as a whole: its name and seed, the task, progress and metrics, and
its recovery (Bytewax snapshots). The runner (:mod:`flows.runner`) owns them."""

from __future__ import annotations

from dataclasses import dataclass

from online_models.tasks import TASKS
from operators.settings import (
    Settings,
    at_least,
    integer_in,
    name,
    number_in,
    one_of,
    setting,
    string,
)

__all__ = ["JobSettings", "CheckpointSettings"]


@dataclass(frozen=True)
class JobSettings(Settings):
    """``[job]``: the dataflow's name, the seed of every random choice, the task, progress
    lines, the Prometheus endpoint (port and the address it binds), and the share of
    dead-letter events that stops a run."""

    name: str = setting("riverbed", name)
    seed: int = setting(42, at_least(0))
    task: str = setting("classification", one_of(*TASKS))
    progress_s: float = setting(0.0, number_in(0))
    metrics_port: int = setting(0, integer_in(0, 65535))
    metrics_host: str = setting("127.0.0.1", string)
    max_dead_letter_ratio: float = setting(1.0, number_in(0, 1))


@dataclass(frozen=True)
class CheckpointSettings(Settings):
    """``[checkpoint]``: where the recovery store is and how often it is written (empty: no
    recovery)."""

    directory: str = setting("", string)
    interval_s: float = setting(10.0, number_in(0.1))
