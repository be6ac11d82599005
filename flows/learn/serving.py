"""Serving: who answers each event (the selection policy, or a deployment mode), the latency
budget's swaps, and the rewards that flow back when labels come.

>>> s = Serving.build(ServingSettings(), ["a", "b"], seed=0)
>>> arms, probs = s.route(["e1", "e2"], np.array([1.0, 1.0]))
>>> arms.tolist()
[0, 1]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from online_models.deployment import DEPLOYMENTS, Deployment, make_deployment
from online_models.errors import ModelError
from online_models.latency import LatencyBudget
from online_models.policies import POLICIES, Policy, make_policy
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
    """Route events to a model, count what served, and feed rewards back.

    Args:
        policy: the selection policy (serves in bandit mode; learns in every mode).
        feedback: ``"full"`` (a label reveals every model's reward) or ``"bandit"``.
        deployment: the deployment mode, or None for bandit mode.
        latency: the latency budget, or None.
    """

    def __init__(
        self,
        policy: Policy,
        feedback: str = "full",
        deployment: Deployment | None = None,
        latency: LatencyBudget | None = None,
    ) -> None:
        self.policy = policy
        self.feedback = feedback
        self.deployment = deployment
        self.latency = latency
        self.chosen = np.zeros(len(policy.arms), dtype=np.int64)

    @classmethod
    def build(cls, settings: ServingSettings, models: Sequence[str], seed: int) -> Serving:
        """The serving rule of ``settings`` over ``models`` (raises ModelError on bad params)."""
        sel, dep, lat = settings.selection, settings.deployment, settings.latency
        names = list(models)
        return cls(
            make_policy(sel.policy, names, seed, **sel.params),
            sel.feedback,
            None if dep.mode == "bandit" else make_deployment(dep.mode, names, **dep.params),
            LatencyBudget(
                names, lat.budget_ms, lat.fallback or names[0], cost_per_ms=lat.cost_per_ms
            )
            if lat.budget_ms
            else None,
        )

    def route(self, keys: Sequence[str], batch_ms: np.ndarray) -> tuple[np.ndarray, Any]:
        """The arm serving each event (routing ``keys``), and the policy's probability of each
        choice (None outside bandit mode); ``batch_ms`` is each model's prediction time."""
        probs = None
        if self.deployment is None:
            arms = self.policy.choose(len(keys))
            probs = self.policy.last_probs
        else:
            arms = self.deployment.route(keys)
        if self.latency is not None:
            self.latency.observe(batch_ms, len(keys))
            arms = self.latency.apply(arms)
        arms = np.asarray(arms, dtype=np.int64)
        self.chosen += np.bincount(arms, minlength=len(self.chosen))
        return arms, probs

    def reward(
        self,
        served: np.ndarray,
        rewards: np.ndarray,
        probs: Sequence[float | None],
        positions: Sequence[int],
    ) -> list[Alert]:
        """Feed the rewards of joined labels back; return the deployment's alerts.

        Args:
            served: the arm that served each labeled event.
            rewards: ``(n_labels, n_models)``: every model's reward.
            probs: the probability each served arm had (bandit feedback).
            positions: each labeled event's stream position.
        """
        if self.latency is not None:
            rewards = self.latency.penalize(rewards)
        rows = np.arange(len(served))
        if self.feedback == "full":
            self.policy.update_full(rewards)
            seen = rewards
        else:
            own = rewards[rows, served]
            self.policy.update(served, own, None if None in probs else probs)
            seen = np.full_like(rewards, np.nan)
            seen[rows, served] = own
        if self.deployment is None:
            return []
        records = self.deployment.update(served, seen, positions)
        return [_deployment_alert(r) for r in records]

    def summary(self, names: Sequence[str]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "selection": {m: int(c) for m, c in zip(names, self.chosen)},
            "policy": self.policy.summary(),
        }
        if self.deployment is not None:
            out["deployment"] = self.deployment.summary()
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
    attempts: list[Any] = [lambda: make_policy(sel.policy, names, 0, **sel.params)]
    if dep.mode != "bandit":
        attempts.append(lambda: make_deployment(dep.mode, names, **dep.params))
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
