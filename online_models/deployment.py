"""Deployment modes: which model serves each event, and when that changes.

Every mode is a picklable state machine with the same calls, batch by batch:

- ``route(keys)``: at prediction time, the index (into ``models``) of the model that serves
  each event;
- ``update(served, rewards, positions=None)``: when the labels are in, the indices that served
  (as routed then), a ``(n_events, n_models)`` reward matrix ("higher is better": 0/1
  correctness, or a negative error; NaN where a model did not predict or is not scored) and
  optionally each event's position (offset, id); returns event records for the alerts sink;
- ``summary()``: the metrics of the served predictions and of every model.

Modes:

- :class:`Shadow`: the champion serves; the other models predict and are scored, never served.
- :class:`ChampionChallenger`: as shadow, and a challenger replaces the champion when it beats it
  on paired outcomes over a sliding window (McNemar's test, see
  :mod:`online_models.significance`).
- :class:`Canary`: a fixed share of the keys is served by the canary, chosen by a stable hash of
  the key, and the canary is rolled back when its windowed metric falls behind the champion's.

Event records are flat dicts (see :func:`event_record`)::

    {"kind": "promotion" | "rollback", "from": str, "to": str, "statistic": float,
     "p_value": float | None, "position": <position of the batch's last event>, ...details}

>>> d = ChampionChallenger(["old", "new"], window=100, min_events=100, alpha=0.01)
>>> d.route(["k1", "k2"]).tolist()
[0, 0]
>>> rewards = np.array([[0.0, 1.0]] * 20 + [[1.0, 1.0]] * 80)  # new is right where old is wrong
>>> [(r["kind"], r["from"], r["to"], r["p_value"] < 0.01) for r in d.update([0] * 100, rewards)]
[('promotion', 'old', 'new', True)]
>>> d.serving
'new'
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from online_models.errors import ModelError
from online_models.significance import discordant, mcnemar
from online_models.validate import (
    arm_indices,
    construct,
    integer,
    name_index,
    names,
    number,
    values,
)

__all__ = [
    "Deployment",
    "Shadow",
    "ChampionChallenger",
    "Canary",
    "DEPLOYMENTS",
    "make_deployment",
    "event_record",
    "stable_units",
]


def event_record(
    kind: str,
    from_model: str,
    to_model: str,
    position: Any,
    statistic: float | None = None,
    p_value: float | None = None,
    **details: Any,
) -> dict[str, Any]:
    """An event record for the alerts sink (promotion, rollback, or a caller's policy change).

    >>> r = event_record("policy_change", "ucb1", "thompson", 1200, reason="config")
    >>> list(r), r["position"]
    (['kind', 'from', 'to', 'statistic', 'p_value', 'position', 'reason'], 1200)
    """
    return {
        "kind": kind,
        "from": from_model,
        "to": to_model,
        "statistic": statistic,
        "p_value": p_value,
        "position": position.item() if isinstance(position, np.generic) else position,
        **details,
    }


class Deployment:
    """Base of the modes: the champion serves every event; every scored model has a metric.

    Args:
        models: the candidates' names, in the column order of ``rewards``.
        champion: the model serving at start; None for the first.
        window: number of most recent scored events behind each windowed metric.
    """

    mode = "deployment"

    def __init__(
        self, models: Sequence[str], champion: str | None = None, window: int = 1000
    ) -> None:
        self.models = names("deployment.models", models)
        self.champion = champion
        self.window = integer("deployment.window", window, low=1)
        self._serving = (
            0 if champion is None else name_index("deployment.champion", champion, self.models)
        )
        k = len(self.models)
        self.events = 0
        self.served_counts = np.zeros(k, dtype=np.int64)
        self._served = np.zeros(2)  # sum and count of the served rewards
        self._sums = np.zeros(k)
        self._counts = np.zeros(k, dtype=np.int64)
        self._recent = [np.zeros(0) for _ in range(k)]  # last `window` scored rewards per model

    @property
    def serving(self) -> str:
        """The model that serves (the champion)."""
        return self.models[self._serving]

    def route(self, keys: Sequence[Any]) -> np.ndarray:
        """Index of the model serving each event."""
        return np.full(len(keys), self._serving, dtype=np.int64)

    def update(
        self,
        served: Sequence[int] | np.ndarray,
        rewards: Sequence[Sequence[float]] | np.ndarray,
        positions: Sequence[Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Score a batch of labeled events and return the event records it triggers.

        Args:
            served: index of the model that served each event (as :meth:`route` said).
            rewards: ``rewards[i, m]`` is model ``m``'s reward on event ``i``, NaN if none.
            positions: each event's position, for the records; None counts events from 1.
        """
        idx = arm_indices("update(served)", served, len(self.models))
        r = values("update(rewards)", rewards, (len(idx), len(self.models)), allow_nan=True)
        if positions is not None and len(positions) != len(idx):
            raise ModelError(
                f"update(positions): expected {len(idx)} positions, got {len(positions)}"
            )
        if not len(idx):
            return []
        self.events += len(idx)
        self.served_counts += np.bincount(idx, minlength=len(self.models))
        own = r[np.arange(len(idx)), idx]
        own = own[np.isfinite(own)]
        self._served += (own.sum(), own.size)
        scored = self._scored(idx, r)
        ok = np.isfinite(scored)
        self._sums += np.where(ok, scored, 0.0).sum(axis=0)
        self._counts += ok.sum(axis=0)
        for m in range(len(self.models)):
            self._recent[m] = np.concatenate([self._recent[m], scored[ok[:, m], m]])[-self.window :]
        position = self.events if positions is None else positions[-1]
        return self._decide(r, position)

    def window_means(self) -> np.ndarray:
        """Mean reward of each model over its last ``window`` scored events (NaN if none)."""
        return np.array([w.mean() if w.size else np.nan for w in self._recent])

    def summary(self) -> dict[str, Any]:
        """The served metric and, per model: times served, mean reward, windowed mean reward."""
        window_means = self.window_means()
        served_sum, served_n = self._served
        return {
            "mode": self.mode,
            "serving": self.serving,
            "events": self.events,
            "served": {
                "mean_reward": _mean(served_sum, served_n),
                "events": int(served_n),
            },
            "models": {
                name: {
                    "served": int(self.served_counts[m]),
                    "mean_reward": _mean(self._sums[m], self._counts[m]),
                    "events": int(self._counts[m]),
                    "window_mean_reward": None
                    if np.isnan(window_means[m])
                    else float(window_means[m]),
                    "window_events": int(self._recent[m].size),
                }
                for m, name in enumerate(self.models)
            },
        }

    def _scored(self, served: np.ndarray, rewards: np.ndarray) -> np.ndarray:
        """The rewards that count for each model's metric (all of them, by default)."""
        return rewards

    def _decide(self, rewards: np.ndarray, position: Any) -> list[dict[str, Any]]:
        return []


def _mean(total: float, count: float) -> float | None:
    return float(total / count) if count else None


class Shadow(Deployment):
    """The champion serves every event; the others predict and are scored, never served.

    Args:
        models: the candidates' names, in the column order of ``rewards``.
        champion: the serving model; None for the first.
        window: number of most recent events behind each windowed metric.

    >>> d = Shadow(["live", "shadow"])
    >>> d.update(d.route(["a", "b"]), [[1.0, 0.0], [1.0, 1.0]])
    []
    >>> d.summary()["models"]["shadow"]["mean_reward"]
    0.5
    """

    mode = "shadow"


class ChampionChallenger(Deployment):
    """The champion serves; a challenger replaces it when it is significantly better.

    Every ``check_every`` events, once the sliding window holds ``min_events`` paired events,
    each challenger is compared with the champion by McNemar's test on the events of the window
    where one has a strictly higher reward than the other (for 0/1 rewards, McNemar's discordant
    pairs; for real rewards, the sign test). A challenger with more wins and a p-value below
    ``alpha / (number of challengers)`` (Bonferroni) is promoted; among several, the smallest
    p-value wins. With ``min_gain``, the challenger's mean reward over the window's paired events
    must also exceed the champion's by that much (practical, not only statistical, significance).
    The window then restarts, so the new champion has to be beaten afresh.

    False promotions: the test is two-sided and only a win promotes, so at each check the chance
    that an equally good challenger is promoted is at most ``alpha / 2``. Checks on disjoint
    windows (the default ``check_every = window``) are independent: over ``m`` checks the chance
    is at most ``1 - (1 - alpha / 2) ** m``; choose ``alpha`` for the checks a run will make, or
    set ``min_gain``, which an equal challenger's gain crosses ever more rarely as the window grows.

    Args:
        models: the candidates' names, in the column order of ``rewards`` (at least two).
        champion: the serving model at start; None for the first.
        alpha: significance level, in (0, 1).
        window: number of most recent events in the test.
        min_events: events the window needs before any test, in [1, window].
        check_every: events between tests; None for ``window`` (disjoint windows).
        method: McNemar's method: ``"auto"``, ``"exact"`` or ``"chi2"``.
        min_gain: least gain in mean reward a promotion needs, >= 0.

    Records: ``{"kind": "promotion", "from", "to", "statistic", "p_value", "position",
    "test": "mcnemar", "method", "champion_better", "challenger_better", "gain", "events",
    "alpha"}``.
    """

    mode = "champion_challenger"

    def __init__(
        self,
        models: Sequence[str],
        champion: str | None = None,
        *,
        alpha: float = 0.01,
        window: int = 2000,
        min_events: int = 500,
        check_every: int | None = None,
        method: str = "auto",
        min_gain: float = 0.0,
    ) -> None:
        super().__init__(models, champion, window)
        if len(self.models) < 2:
            raise ModelError("deployment.models: champion/challenger needs at least two models")
        self.min_gain = number("deployment.min_gain", min_gain, low=0.0)
        self.alpha = number(
            "deployment.alpha", alpha, low=0.0, high=1.0, low_open=True, high_open=True
        )
        self.min_events = integer("deployment.min_events", min_events, low=1)
        if self.min_events > self.window:
            raise ModelError(
                f"deployment.min_events: expected at most deployment.window ({self.window}), "
                f"got {min_events}"
            )
        self.check_every = check_every
        if check_every is not None:
            integer("deployment.check_every", check_every, low=1)
        mcnemar(0, 0, method=method)  # checks the name
        self.method = method
        self.promotions = 0
        self.last_check: dict[str, dict[str, Any]] = {}
        self._pairs = np.zeros((0, len(self.models)))
        self._since_check = 0

    def summary(self) -> dict[str, Any]:
        """The base summary, plus promotions, the window's size and the last test per model."""
        out = super().summary()
        out.update(
            promotions=self.promotions, window_events=len(self._pairs), last_check=self.last_check
        )
        return out

    def _decide(self, rewards: np.ndarray, position: Any) -> list[dict[str, Any]]:
        self._pairs = np.concatenate([self._pairs, rewards])[-self.window :]
        self._since_check += len(rewards)
        every = self.window if self.check_every is None else self.check_every
        if self._since_check < every or len(self._pairs) < self.min_events:
            return []
        self._since_check = 0
        champion = self._pairs[:, self._serving]
        level = self.alpha / (len(self.models) - 1)
        self.last_check, best = {}, None
        for m, name in enumerate(self.models):
            if m == self._serving:
                continue
            test = mcnemar(*discordant(champion, self._pairs[:, m]), method=self.method)
            diff = self._pairs[:, m] - champion
            diff = diff[np.isfinite(diff)]
            gain = float(diff.mean()) if diff.size else 0.0
            self.last_check[name] = {
                "p_value": test.p_value,
                "wins": test.c,
                "losses": test.b,
                "gain": gain,
            }
            if test.c > test.b and test.p_value < level and gain >= self.min_gain:
                if best is None or test.p_value < best[1].p_value:
                    best = (m, test, gain)
        if best is None:
            return []
        m, test, gain = best
        record = event_record(
            "promotion",
            self.serving,
            self.models[m],
            position,
            test.statistic,
            test.p_value,
            test="mcnemar",
            method=test.method,
            champion_better=test.b,
            challenger_better=test.c,
            gain=gain,
            events=len(self._pairs),
            alpha=self.alpha,
        )
        self._serving = m
        self.promotions += 1
        self._pairs = self._pairs[:0]
        return [record]


def stable_units(keys: Sequence[str | bytes | int], salt: str = "") -> np.ndarray:
    """For each key, a number in [0, 1) that depends only on the key and ``salt``, the same in
    every process and after a restart.

    BLAKE2b (8-byte digest, keyed with ``salt``) of the key's bytes: UTF-8 for a string, decimal
    digits for an integer (so ``12`` and ``"12"`` agree), divided by 2**64. Never Python's
    ``hash()``, which is salted per process. Costs about 2 us per key.

    >>> stable_units(["user-42", b"user-42", 42, "42"]).round(6).tolist()
    [0.436047, 0.436047, 0.342594, 0.342594]
    """
    keyed = hashlib.blake2b(digest_size=8, key=salt.encode())
    out = np.empty(len(keys))
    for i, key in enumerate(keys):
        if isinstance(key, str):
            data = key.encode()
        elif isinstance(key, bytes):
            data = key
        elif isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            data = str(int(key)).encode()
        else:
            raise ModelError(f"canary key: expected a string, bytes or an integer, got {key!r}")
        h = keyed.copy()
        h.update(data)
        out[i] = int.from_bytes(h.digest(), "big")
    return out / 2.0**64


class Canary(Deployment):
    """A share of the keys meets the canary; it is rolled back if it does worse than the champion.

    A key is routed to the canary when ``stable_units([key], salt)[0] < share``, so one key always
    meets the same model, in every process and after a restart. The canary is scored on the
    events it served, the champion on the events it served (other columns of ``rewards`` are
    ignored). After each batch, once both have ``min_events`` events in their windows, the
    canary is rolled back (all keys go to the champion from then on) if its windowed mean reward
    is below the champion's by more than ``margin``. The rule is a margin, not a test: make
    ``window`` large enough that noise stays well inside it (the standard error of a windowed
    mean of 0/1 rewards is at most ``0.5 / sqrt(window)``).

    Args:
        models: the candidates' names, in the column order of ``rewards`` (at least two).
        share: share of the keys routed to the canary, in (0, 1).
        champion: the main model; None for the first.
        canary: the model under trial; None for the first model that is not the champion.
        salt: mixed into the hash (at most 64 bytes): another salt, another set of keys.
        window: number of most recent served events behind each windowed metric.
        min_events: events each window needs before a rollback, in [1, window].
        margin: how far behind the champion (in reward units) the canary may fall, >= 0.

    Records: ``{"kind": "rollback", "from": canary, "to": champion, "statistic": canary window
    mean - champion window mean, "p_value": None, "position", "canary_mean", "champion_mean",
    "canary_events", "champion_events", "margin"}``.

    >>> d = Canary(["main", "trial"], share=0.5, window=10, min_events=10, margin=0.1)
    >>> served = d.route([f"user-{i}" for i in range(40)])
    >>> rewards = np.column_stack([np.ones(40), np.zeros(40)])  # the trial is always wrong
    >>> [(r["kind"], r["from"], r["to"]) for r in d.update(served, rewards)]
    [('rollback', 'trial', 'main')]
    >>> d.route(["user-1", "user-2"]).tolist()
    [0, 0]
    """

    mode = "canary"

    def __init__(
        self,
        models: Sequence[str],
        share: float = 0.05,
        *,
        champion: str | None = None,
        canary: str | None = None,
        salt: str = "",
        window: int = 1000,
        min_events: int = 200,
        margin: float = 0.02,
    ) -> None:
        super().__init__(models, champion, window)
        if len(self.models) < 2:
            raise ModelError("deployment.models: a canary needs at least two models")
        self.share = number(
            "deployment.share", share, low=0.0, high=1.0, low_open=True, high_open=True
        )
        self.canary = canary
        self._canary = (
            (1 if self._serving == 0 else 0)
            if canary is None
            else name_index("deployment.canary", canary, self.models)
        )
        if self._canary == self._serving:
            raise ModelError(
                f"deployment.canary: expected a model other than the champion, got {canary!r}"
            )
        if not isinstance(salt, str) or len(salt.encode()) > 64:
            raise ModelError(
                f"deployment.salt: expected a string of at most 64 bytes, got {salt!r}"
            )
        self.salt = salt
        self.min_events = integer("deployment.min_events", min_events, low=1)
        if self.min_events > self.window:
            raise ModelError(
                f"deployment.min_events: expected at most deployment.window ({self.window}), "
                f"got {min_events}"
            )
        self.margin = number("deployment.margin", margin, low=0.0)
        self.rolled_back = False

    def route(self, keys: Sequence[Any]) -> np.ndarray:
        """The canary for keys in its share (until a rollback), the champion for the others."""
        if self.rolled_back:
            return super().route(keys)
        units = stable_units(keys, self.salt)
        return np.where(units < self.share, self._canary, self._serving)

    def summary(self) -> dict[str, Any]:
        """The base summary, plus the canary, its share and whether it was rolled back."""
        out = super().summary()
        out.update(canary=self.models[self._canary], share=self.share, rolled_back=self.rolled_back)
        return out

    def _scored(self, served: np.ndarray, rewards: np.ndarray) -> np.ndarray:
        rows = np.arange(len(served))
        own = np.full(rewards.shape, np.nan)
        own[rows, served] = rewards[rows, served]
        return own

    def _decide(self, rewards: np.ndarray, position: Any) -> list[dict[str, Any]]:
        trial, main = self._recent[self._canary], self._recent[self._serving]
        if self.rolled_back or min(trial.size, main.size) < self.min_events:
            return []
        gap = float(trial.mean() - main.mean())
        if gap >= -self.margin:
            return []
        self.rolled_back = True
        return [
            event_record(
                "rollback",
                self.models[self._canary],
                self.serving,
                position,
                gap,
                None,
                canary_mean=float(trial.mean()),
                champion_mean=float(main.mean()),
                canary_events=int(trial.size),
                champion_events=int(main.size),
                margin=self.margin,
            )
        ]


DEPLOYMENTS: dict[str, type[Deployment]] = {
    "shadow": Shadow,
    "champion_challenger": ChampionChallenger,
    "canary": Canary,
}


def make_deployment(mode: str, models: Sequence[str], **params: Any) -> Deployment:
    """Build the deployment ``mode`` (a key of :data:`DEPLOYMENTS`) over ``models``.

    Raises:
        ModelError: naming ``deployment.mode`` for an unknown mode, ``deployment.<key>`` for a
            setting the mode does not have or a bad value.

    >>> make_deployment("canary", ["a", "b"], share=0.1).share
    0.1
    """
    deployment: Deployment = construct(
        "deployment", "deployment.mode", DEPLOYMENTS, mode, models, **params
    )
    return deployment
