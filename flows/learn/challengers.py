"""The challenger pool: fresh challengers for models that drifted, trained on a uniform sample of
the labeled examples since the drift, then raced against their incumbent
(:class:`~online_models.challenger.Challenger`).

When a drift action asks for a challenger for a model, the reservoir of labeled examples
restarts (the challenger learns the regime after the drift); once it has seen ``sample``
examples, a fresh copy of the model is trained on that sample, then predicts each joined
example before learning it (test-then-train on the frozen features), and replaces the model in
its arm once it is significantly better (McNemar's test), or is dropped after ``max_events``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from online_models.challenger import Challenger
from online_models.learner import Learner
from online_models.tasks import Task
from operators.records import Alert
from operators.reservoir import UniformReservoir
from operators.settings import Settings, at_least, setting

__all__ = ["ChallengerSettings", "ChallengerPool", "Example"]


def _probability(v: Any) -> str | None:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and 0.0 < v < 1.0
    return None if ok else "a number in (0, 1)"


@dataclass(frozen=True)
class ChallengerSettings(Settings):
    """``[drift.challenger]``: how challengers are trained and judged."""

    sample: int = setting(2000, at_least(1))
    alpha: float = setting(0.01, _probability)
    min_events: int = setting(500, at_least(1))
    max_events: int = setting(20_000, at_least(1))


@dataclass(frozen=True, slots=True)
class Example:
    """A labeled example: the frozen features of an event (dict for River models, and row)
    with its label."""

    x: dict[str, float] | None
    row: np.ndarray
    y: Any


class ChallengerPool:
    """Challengers waiting for their sample, and challengers racing their incumbent.

    Args:
        settings: the ``[drift.challenger]`` settings.
        task: the job's task (errors and rewards).
    """

    def __init__(self, settings: ChallengerSettings, task: Task) -> None:
        self.settings = settings
        self.task = task
        self.examples = UniformReservoir(settings.sample, seed=0)
        self.racing: dict[int, Challenger] = {}
        self.awaiting: set[int] = set()

    def request(self, model: int, labels_joined: int) -> None:
        """Ask for a challenger for model ``model`` (no-op while it has one racing)."""
        if model in self.racing:
            return
        self.awaiting.add(model)
        self.examples = UniformReservoir(self.examples.size, seed=labels_joined)

    def learners(self) -> list[Learner]:
        """The racing challengers (they learn every joined example beside the models)."""
        return [c.learner for c in self.racing.values()]

    def race(
        self,
        learners: list[Learner],
        examples: Sequence[Example],
        names: Sequence[str],
        rewards: np.ndarray,
        position: int,
    ) -> list[Alert]:
        """Score each challenger on the joined examples (before it learns them), then decide;
        a promoted challenger replaces its model in ``learners``."""
        alerts = []
        for m, ch in list(self.racing.items()):
            xs = [e.x for e in examples]
            X = np.vstack([e.row for e in examples])
            ys = [e.y for e in examples]
            preds, probas = ch.learner.predict_batch(xs, X, names)
            ch.learner.score(ys, preds, probas)
            mine = self.task.rewards(self.task.errors(ys, preds))
            decision = ch.observe(rewards[:, m], mine)
            if decision == "wait":
                continue
            alerts.append(_alert(ch.record(decision, position)))
            if decision == "promote":
                learners[m] = ch.learner
            del self.racing[m]
        return alerts

    def add(self, examples: Sequence[Example]) -> None:
        """Offer the joined examples to the sample."""
        self.examples.update(list(examples))

    def start(
        self, learners: Sequence[Learner], names: Sequence[str], position: int
    ) -> list[Alert]:
        """Start the awaited challengers once the sample is full."""
        if not self.awaiting or self.examples.seen < self.examples.size:
            return []
        sample: list[Example] = self.examples.sample()
        xs = [e.x for e in sample]
        X = np.vstack([e.row for e in sample])
        ys = [e.y for e in sample]
        s = self.settings
        alerts = []
        for m in sorted(self.awaiting):
            learner = learners[m].fresh()
            learner.learn(xs, ys, X, names)
            name = learner.name
            self.racing[m] = Challenger(learner, name, s.alpha, s.min_events, s.max_events)
            alerts.append(
                Alert(
                    "challenger_start",
                    "challenger",
                    name,
                    position,
                    details={"from": name, "to": f"{name} (challenger)", "trained_on": len(sample)},
                )
            )
        self.awaiting.clear()
        return alerts

    def summary(self, names: Sequence[str]) -> dict[str, Any]:
        return {
            names[m]: {"events": c.events, "p_value": c.p_value} for m, c in self.racing.items()
        }


def _alert(record: dict[str, Any]) -> Alert:
    """A challenger's promotion or drop record as an alert."""
    details = {
        k: v
        for k, v in record.items()
        if k not in ("id", "kind", "statistic", "p_value", "position")
    }
    return Alert(
        record["kind"],
        "challenger",
        record["from"],
        int(record["position"]),
        statistic=record.get("statistic"),
        p_value=record.get("p_value"),
        details=details,
    )
