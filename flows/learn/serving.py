"""Serving: who answers each event (the selection policy, or a deployment mode), the latency
budget's swaps, and the rewards that flow back when labels come.

>>> s = Serving.build(ServingSettings(), ["a", "b"], seed=0)
>>> served = s.run(np.array([0, 0], np.int8), np.ones((2, 2), bool), np.zeros((0, 2)),
...                np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), [], ["e1", "e2"],
...                [1.0, 1.0])
>>> served.arms.tolist(), s.summary(["a", "b"])["selection"]
([0, 1], {'a': 1, 'b': 1})
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from online_models.deployment import DEPLOYMENTS, make_deployment
from online_models.errors import ModelError
from online_models.latency import LatencyBudget
from online_models.policies import POLICIES, Policy, make_policy
from online_models.serving import Served, ServingRule
from operators.records import Alert
from operators.settings import Settings, number_in, one_of, setting, string, table

__all__ = [
    "SelectionSettings",
    "DeploymentSettings",
    "LatencySettings",
    "ServingSettings",
    "Serving",
    "check_serving",
]


@dataclass(frozen=True)
class SelectionSettings(Settings):
    """``[selection]``: the bandit policy that picks the serving model (bandit mode)."""

    policy: str = setting("epsilon_greedy", one_of(*POLICIES))
    feedback: str = setting("full", one_of("full", "bandit"))
    params: dict[str, Any] = setting({}, table)


@dataclass(frozen=True)
class DeploymentSettings(Settings):
    """``[deployment]``: bandit mode, or shadow, champion/challenger or canary."""

    mode: str = setting("bandit", one_of("bandit", *DEPLOYMENTS))
    key_field: str = setting("", string)
    params: dict[str, Any] = setting({}, table)

    def problems(self) -> list[str]:
        if self.mode == "bandit" and self.params:
            return ["params: the bandit mode takes its settings from [selection]"]
        return []


@dataclass(frozen=True)
class LatencySettings(Settings):
    """``[latency]``: a per-event latency budget with a fallback model (0: no budget)."""

    budget_ms: float = setting(0.0, number_in(0))
    fallback: str = setting("", string)
    cost_per_ms: float = setting(0.0, number_in(0))


@dataclass(frozen=True)
class ServingSettings:
    """The three sections that decide who serves."""

    selection: SelectionSettings = SelectionSettings()
    deployment: DeploymentSettings = DeploymentSettings()
    latency: LatencySettings = LatencySettings()


class Serving:
    """The serving rule (a selection policy in bandit mode, else a deployment mode), the
    latency budget, and how often each model served.

    Args:
        rule: the policy or deployment mode (:class:`~online_models.serving.ServingRule`).
        latency: the latency budget, or None.
        models: the models' names.
    """

    def __init__(
        self, rule: ServingRule, latency: LatencyBudget | None, models: Sequence[str]
    ) -> None:
        self.rule = rule
        self.latency = latency
        self.models = list(models)
        self.served = np.zeros(len(self.models), dtype=np.int64)

    @classmethod
    def build(cls, settings: ServingSettings, models: Sequence[str], seed: int) -> Serving:
        """The serving rule of ``settings`` over ``models`` (raises ModelError on bad params)."""
        sel, dep, lat = settings.selection, settings.deployment, settings.latency
        names = list(models)
        rule: ServingRule
        if dep.mode == "bandit":
            rule = make_policy(sel.policy, names, seed, feedback=sel.feedback, **sel.params)
        else:
            rule = make_deployment(dep.mode, names, feedback=sel.feedback, **dep.params)
        latency = None
        if lat.budget_ms:
            latency = LatencyBudget(
                names, lat.budget_ms, lat.fallback or names[0], cost_per_ms=lat.cost_per_ms
            )
        return cls(rule, latency, names)

    def run(
        self,
        kinds: np.ndarray,
        available: np.ndarray,
        rewards: np.ndarray,
        label_event: np.ndarray,
        label_arm: np.ndarray,
        label_prob: np.ndarray,
        label_position: Sequence[int],
        keys: Sequence[str],
        model_ms: Sequence[float],
        frozen: bool = False,
    ) -> Served:
        """Serve a batch's events and learn its labels' rewards, in stream order (frozen: serve
        only). ``model_ms`` is each model's time on the batch, for the latency budget."""
        n_events = len(available)
        allowed, fallback = None, -1
        if self.latency is not None:
            if n_events:
                self.latency.observe(np.asarray(model_ms, dtype=float), n_events)
            allowed, fallback = self.latency.allowed(), self.latency.fallback_index
            rewards = self.latency.penalize(rewards)
        if frozen:
            kinds = kinds[kinds == 0]
            rewards = rewards[:0]
            label_event, label_arm, label_prob = label_event[:0], label_arm[:0], label_prob[:0]
            label_position = []
        served = self.rule.run(
            kinds, available, rewards, label_event, label_arm, label_prob, label_position,
            keys, allowed, fallback,
        )  # fmt: skip
        self.served += np.bincount(served.arms, minlength=len(self.models))
        if self.latency is not None:
            self.latency.count_fallbacks(served)
        return served

    @staticmethod
    def alerts(records: Sequence[dict[str, Any]]) -> list[Alert]:
        """The rule's event records (promotions, rollbacks) as alerts."""
        return [_deployment_alert(r) for r in records]

    def summary(self, names: Sequence[str]) -> dict[str, Any]:
        out: dict[str, Any] = {"selection": {m: int(c) for m, c in zip(names, self.served)}}
        if isinstance(self.rule, Policy):
            out["policy"] = self.rule.summary()
        else:
            out["deployment"] = self.rule.summary()
        if self.latency is not None:
            out["latency"] = self.latency.summary()
        return out


def _deployment_alert(record: dict[str, Any]) -> Alert:
    """A deployment mode's event record (promotion, rollback) as an alert."""
    details = {k: v for k, v in record.items() if k not in ("kind", "statistic", "p_value")}
    kind = record["kind"]
    subject = record["to"] if kind == "promotion" else record["from"]
    detector = "champion_challenger" if kind == "promotion" else "canary"
    return Alert(
        kind,
        detector,
        subject,
        int(record.get("position") or 0),
        statistic=record.get("statistic"),
        p_value=record.get("p_value"),
        details=details,
    )


def check_serving(settings: ServingSettings, models: Sequence[str]) -> list[str]:
    """Every problem of the serving sections for these models: the policy, the deployment mode
    and the latency budget are built once each, so that their own checks name the keys."""
    sel, dep, lat = settings.selection, settings.deployment, settings.latency
    names = list(models)
    attempts: list[Any] = [
        lambda: make_policy(sel.policy, names, 0, feedback=sel.feedback, **sel.params)
    ]
    if dep.mode != "bandit":
        attempts.append(
            lambda: make_deployment(dep.mode, names, feedback=sel.feedback, **dep.params)
        )
    if lat.budget_ms:
        attempts.append(lambda: LatencyBudget(names, lat.budget_ms, lat.fallback or names[0]))
    problems = []
    for attempt in attempts:
        try:
            attempt()
        except ModelError as exc:
            problems.append(str(exc))
        except TypeError as exc:
            problems.append(f"bad setting: {exc}")
    return problems
