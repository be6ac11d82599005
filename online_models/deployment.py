"""Deployment modes: which model serves each event, and when that changes.

Every mode is a :class:`~online_models.serving.ServingRule`: :meth:`Deployment.run` walks a
batch's items (events to serve, labels whose rewards arrive) one at a time in stream order in a
compiled loop (:mod:`online_models.deployment_loop`). Events are routed, labels score the
models ("higher is better" rewards: 0/1 correctness or a negative error; NaN where a model did
not predict), and a decision (a promotion, a rollback) is taken at the exact label that makes
it due and recorded at that label's position: the same for any batch size or cut. With
``feedback="bandit"`` a label scores only the model that served its event.

Modes:

- :class:`Shadow`: the champion serves; the other models predict and are scored, never served.
- :class:`ChampionChallenger`: as shadow, and a challenger replaces the champion when it beats it
  on paired outcomes over a sliding window of labels (McNemar's test, see
  :mod:`online_models.significance`), tested every ``check_every`` labels.
- :class:`Canary`: a fixed share of the keys is served by the canary, chosen by a stable hash of
  the key, and the canary is rolled back at the first label after which its windowed metric is
  behind the champion's by more than the margin.

Where the routed model has no answer for an event (its prediction is None), the champion
serves it, else the first model with an answer (the routed model's ``passed_over`` count
grows); the latency budget's fallback then replaces a model that is not allowed. Routing is
deterministic: ``Served.probs`` is all ones.

Event records are flat dicts (see :func:`event_record`)::

    {"kind": "promotion" | "rollback", "from": str, "to": str, "statistic": float,
     "p_value": float | None, "position": <label_position of the deciding label>, ...details}

>>> d = ChampionChallenger(["old", "new"], window=100, min_events=100, alpha=0.01)
>>> rewards = [[0.0, 1.0]] * 20 + [[1.0, 1.0]] * 80  # new is right where old is wrong
>>> served = d.run([0, 1] * 100, [[True, True]] * 100, rewards, range(100), [-1] * 100,
...                [np.nan] * 100, range(1, 101))
>>> served.arms[:3].tolist()
[0, 0, 0]
>>> [(r["kind"], r["from"], r["to"], r["position"], r["p_value"] < 0.01) for r in served.records]
[('promotion', 'old', 'new', 100, True)]
>>> d.serving
'new'
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from online_models.deployment_loop import (
    CANARY,
    CHAMPION_CHALLENGER,
    DONE,
    SHADOW,
    run_deployment,
)
from online_models.errors import ModelError
from online_models.serving import Items, Served, check_items, feedback_mode
from online_models.significance import mcnemar
from online_models.validate import construct, integer, name_index, names, number

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

# the compiled loop's champion/challenger state: pairs, (kept, next), better, diff, diff_n, since
Pairs = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
_NO_PAIRS: Pairs = (  # for the other modes
    np.zeros((0, 1)),
    np.zeros(2, dtype=np.int64),
    np.zeros((2, 1), dtype=np.int64),
    np.zeros(1),
    np.zeros(1, dtype=np.int64),
    np.zeros(1, dtype=np.int64),
)


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

    Attributes ``served_counts`` (events each model served) and ``passed_over`` (events routed
    to a model that had no answer) are public.

    Args:
        models: the candidates' names, in the column order of ``rewards``.
        champion: the model serving at start; None for the first.
        window: number of most recent scored labels behind each model's windowed metric.
        feedback: ``"full"`` (a label scores every model) or ``"bandit"`` (only the served one).
    """

    mode = "deployment"
    _code = SHADOW

    def __init__(
        self,
        models: Sequence[str],
        champion: str | None = None,
        window: int = 1000,
        *,
        feedback: str = "full",
    ) -> None:
        self.models = names("deployment.models", models)
        self.champion = champion
        self.window = integer("deployment.window", window, low=1)
        self.feedback = feedback_mode(feedback)
        self._serving = (
            0 if champion is None else name_index("deployment.champion", champion, self.models)
        )
        k = len(self.models)
        self.served_counts = np.zeros(k, dtype=np.int64)
        self.passed_over = np.zeros(k, dtype=np.int64)
        self._labels = np.zeros(1, dtype=np.int64)
        self._served = np.zeros(2)  # sum and count of the served rewards
        self._sums = np.zeros(k)
        self._counts = np.zeros(k, dtype=np.int64)
        # the last `window` scored rewards of each model: ring, kept, next slot, running total
        self._recent = np.full((self.window, k), np.nan)
        self._recent_n = np.zeros(k, dtype=np.int64)
        self._recent_pos = np.zeros(k, dtype=np.int64)
        self._recent_sum = np.zeros(k)

    @property
    def serving(self) -> str:
        """The model that serves (the champion)."""
        return self.models[self._serving]

    @property
    def events(self) -> int:
        """Labels scored so far."""
        return int(self._labels[0])

    def run(
        self,
        kinds: Sequence[int] | np.ndarray,
        available: Sequence[Sequence[bool]] | np.ndarray,
        rewards: Sequence[Sequence[float]] | np.ndarray,
        label_event: Sequence[int] | np.ndarray,
        label_arm: Sequence[int] | np.ndarray,
        label_prob: Sequence[float] | np.ndarray,
        label_position: Sequence[Any],
        event_keys: Sequence[Any] | None = None,
        allowed: Sequence[bool] | np.ndarray | None = None,
        fallback: int = -1,
    ) -> Served:
        """Route the events and score the labels of one batch, one item at a time in order.

        Args:
            kinds: the items in stream order: 0 an event to serve, 1 a label.
            available: ``(n_events, n_models)``: which models have an answer for each event.
            rewards: ``(n_labels, n_models)``: every model's reward for each label, NaN where
                the model did not predict its event.
            label_event: per label, the index of its event among this batch's events, or -1
                for an event of an earlier batch.
            label_arm: per label of an earlier batch's event, the model that served it.
            label_prob: unused (routing is deterministic).
            label_position: per label, its event's stream position: a decision taken at a
                label is recorded there.
            event_keys: per event, its routing key (the canary needs them).
            allowed: the latency budget's verdict per model; None allows every model.
            fallback: the model serving in place of one that is not allowed; -1: none.

        Returns:
            The served models, the routed ones (after passing over models with no answer),
            probabilities of 1, and the event records the labels decided.
        """
        items = check_items(
            len(self.models), kinds, available, rewards, label_event, label_arm, label_prob,
            label_position, allowed, fallback,
        )  # fmt: skip
        units = self._units(items, event_keys)
        n = items.n_events
        arms, chosen = np.empty(n, np.int64), np.empty(n, np.int64)
        records: list[dict[str, Any]] = []
        i = e = j = 0
        while True:
            canary, rolled_back, share, every, min_events, margin = self._loop_settings()
            i, e, j, status = run_deployment(
                self._code, i, e, j, self._serving, canary, rolled_back, share, units,
                self.feedback == "bandit", every, min_events, margin,
                items.kinds, items.available, items.rewards, items.label_event, items.label_arm,
                items.allowed, items.fallback,
                self.served_counts, self.passed_over, self._served, self._sums, self._counts,
                self._labels, self._recent, self._recent_n, self._recent_pos, self._recent_sum,
                *self._pairs_state(), arms, chosen,
            )  # fmt: skip
            if status == DONE:
                return Served(arms, chosen, np.ones(n), records)
            records.extend(self._decide(status, items.label_position[j - 1]))

    def window_means(self) -> np.ndarray:
        """Mean reward of each model over its last ``window`` scored labels (NaN if none)."""
        n = self._recent_n
        return np.divide(self._recent_sum, n, out=np.full(n.shape, np.nan), where=n > 0)

    def summary(self) -> dict[str, Any]:
        """The served metric and, per model: times served, times passed over, mean reward,
        windowed mean reward."""
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
                    "passed_over": int(self.passed_over[m]),
                    "mean_reward": _mean(self._sums[m], self._counts[m]),
                    "events": int(self._counts[m]),
                    "window_mean_reward": None
                    if np.isnan(window_means[m])
                    else float(window_means[m]),
                    "window_events": int(self._recent_n[m]),
                }
                for m, name in enumerate(self.models)
            },
        }

    def _units(self, items: Items, event_keys: Sequence[Any] | None) -> np.ndarray:
        """The canary's hash of each event's key (nothing for the other modes)."""
        return np.zeros(0)

    def _loop_settings(self) -> tuple[int, bool, float, int, int, float]:
        """canary, rolled_back, share, every, min_events, margin for the compiled loop."""
        return 0, True, 0.0, 0, 0, 0.0

    def _pairs_state(self) -> Pairs:
        return _NO_PAIRS

    def _decide(self, status: int, position: Any) -> list[dict[str, Any]]:
        raise NotImplementedError  # pragma: no cover - only modes with decision points stop


def _mean(total: float, count: float) -> float | None:
    return float(total / count) if count else None


class Shadow(Deployment):
    """The champion serves every event; the others predict and are scored, never served.

    Args:
        models: the candidates' names, in the column order of ``rewards``.
        champion: the serving model; None for the first.
        window: number of most recent scored labels behind each windowed metric.
        feedback: ``"full"`` or ``"bandit"``.

    >>> d = Shadow(["live", "shadow"])
    >>> d.run([0, 1, 0, 1], [[True, True]] * 2, [[1.0, 0.0], [1.0, 1.0]], [0, 1], [-1, -1],
    ...       [np.nan] * 2, [1, 2]).records
    []
    >>> d.summary()["models"]["shadow"]["mean_reward"]
    0.5
    """

    mode = "shadow"


class ChampionChallenger(Deployment):
    """The champion serves; a challenger replaces it when it is significantly better.

    Every ``check_every`` labels, once the sliding window holds ``min_events`` labels, each
    challenger is compared with the champion by McNemar's test on the labels of the window
    where one has a strictly higher reward than the other (for 0/1 rewards, McNemar's discordant
    pairs; for real rewards, the sign test). A challenger with more wins and a p-value below
    ``alpha / (number of challengers)`` (Bonferroni) is promoted at that label; among several,
    the smallest p-value wins. With ``min_gain``, the challenger's mean reward over the window's
    paired labels must also exceed the champion's by that much (practical, not only
    statistical, significance). The window then restarts, so the new champion has to be beaten
    afresh. The count of labels to the next test restarts at every test; while the window holds
    fewer than ``min_events`` labels, the test waits for the label that completes it.

    False promotions: the test is two-sided and only a win promotes, so at each check the chance
    that an equally good challenger is promoted is at most ``alpha / 2``. Checks on disjoint
    windows (the default ``check_every = window``) are independent: over ``m`` checks the chance
    is at most ``1 - (1 - alpha / 2) ** m``; choose ``alpha`` for the checks a run will make, or
    set ``min_gain``, which an equal challenger's gain crosses ever more rarely as the window grows.

    Args:
        models: the candidates' names, in the column order of ``rewards`` (at least two).
        champion: the serving model at start; None for the first.
        alpha: significance level, in (0, 1).
        window: number of most recent labels in the test.
        min_events: labels the window needs before any test, in [1, window].
        check_every: labels between tests; None for ``window`` (disjoint windows).
        method: McNemar's method: ``"auto"``, ``"exact"`` or ``"chi2"``.
        min_gain: least gain in mean reward a promotion needs, >= 0.
        feedback: ``"full"`` or ``"bandit"`` (with bandit feedback only the champion is scored,
            so no challenger is ever promoted).

    Records: ``{"kind": "promotion", "from", "to", "statistic", "p_value", "position",
    "test": "mcnemar", "method", "champion_better", "challenger_better", "gain", "events",
    "alpha"}``.
    """

    mode = "champion_challenger"
    _code = CHAMPION_CHALLENGER

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
        feedback: str = "full",
    ) -> None:
        super().__init__(models, champion, window, feedback=feedback)
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
        k = len(self.models)
        # the paired window: ring of reward rows, (rows kept, next slot), discordant counts
        # against the champion (row 0: champion better, row 1: challenger better), sums and
        # counts of the finite differences challenger - champion, labels since the last test
        self._pairs = np.full((self.window, k), np.nan)
        self._pairs_at = np.zeros(2, dtype=np.int64)
        self._better = np.zeros((2, k), dtype=np.int64)
        self._diff = np.zeros(k)
        self._diff_n = np.zeros(k, dtype=np.int64)
        self._since = np.zeros(1, dtype=np.int64)

    def summary(self) -> dict[str, Any]:
        """The base summary, plus promotions, the window's size and the last test per model."""
        out = super().summary()
        out.update(
            promotions=self.promotions,
            window_events=int(self._pairs_at[0]),
            last_check=self.last_check,
        )
        return out

    def _loop_settings(self) -> tuple[int, bool, float, int, int, float]:
        every = self.window if self.check_every is None else self.check_every
        return 0, True, 0.0, every, self.min_events, 0.0

    def _pairs_state(self) -> Pairs:
        return self._pairs, self._pairs_at, self._better, self._diff, self._diff_n, self._since

    def _decide(self, status: int, position: Any) -> list[dict[str, Any]]:
        self._since[0] = 0
        level = self.alpha / (len(self.models) - 1)
        self.last_check, best = {}, None
        for m, name in enumerate(self.models):
            if m == self._serving:
                continue
            b, c = int(self._better[0, m]), int(self._better[1, m])
            test = mcnemar(b, c, method=self.method)
            gain = float(self._diff[m] / self._diff_n[m]) if self._diff_n[m] else 0.0
            self.last_check[name] = {"p_value": test.p_value, "wins": c, "losses": b, "gain": gain}
            if c > b and test.p_value < level and gain >= self.min_gain:
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
            events=int(self._pairs_at[0]),
            alpha=self.alpha,
        )
        self._serving = m
        self.promotions += 1
        self._pairs[:] = np.nan  # the window restarts
        self._pairs_at[:] = 0
        self._better[:] = 0
        self._diff[:] = 0.0
        self._diff_n[:] = 0
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
    meets the same model, in every process and after a restart (unless that model has no answer
    for an event: then the champion serves it). Each model is scored on the labels of the events
    it served (other columns of ``rewards`` are ignored). After every label, once both the
    canary's and the champion's windows hold ``min_events`` labels, the canary is rolled back
    (every key goes to the champion from the next event on) if its windowed mean reward is below
    the champion's by more than ``margin``. The rule is a margin, not a test: make ``window``
    large enough that noise stays well inside it (the standard error of a windowed mean of 0/1
    rewards is at most ``0.5 / sqrt(window)``).

    Args:
        models: the candidates' names, in the column order of ``rewards`` (at least two).
        share: share of the keys routed to the canary, in (0, 1).
        champion: the main model; None for the first.
        canary: the model under trial; None for the first model that is not the champion.
        salt: mixed into the hash (at most 64 bytes): another salt, another set of keys.
        window: number of most recent served labels behind each windowed metric.
        min_events: labels each window needs before a rollback, in [1, window].
        margin: how far behind the champion (in reward units) the canary may fall, >= 0.
        feedback: ``"full"`` or ``"bandit"`` (the same here: only served models are scored).

    Records: ``{"kind": "rollback", "from": canary, "to": champion, "statistic": canary window
    mean - champion window mean, "p_value": None, "position", "canary_mean", "champion_mean",
    "canary_events", "champion_events", "margin"}``.

    >>> d = Canary(["main", "trial"], share=0.5, window=10, min_events=10, margin=0.1)
    >>> keys = [f"user-{i}" for i in range(40)]
    >>> rewards = [[1.0, 0.0]] * 40  # the trial is always wrong
    >>> served = d.run([0, 1] * 40, [[True, True]] * 40, rewards, range(40), [-1] * 40,
    ...                [np.nan] * 40, range(40), event_keys=keys)
    >>> [(r["kind"], r["from"], r["to"], r["position"]) for r in served.records]
    [('rollback', 'trial', 'main', 19)]
    >>> served.arms[20:].any()  # from the next event on, every key meets the champion
    np.False_
    """

    mode = "canary"
    _code = CANARY

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
        feedback: str = "full",
    ) -> None:
        super().__init__(models, champion, window, feedback=feedback)
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

    def summary(self) -> dict[str, Any]:
        """The base summary, plus the canary, its share and whether it was rolled back."""
        out = super().summary()
        out.update(canary=self.models[self._canary], share=self.share, rolled_back=self.rolled_back)
        return out

    def _units(self, items: Items, event_keys: Sequence[Any] | None) -> np.ndarray:
        if self.rolled_back or items.n_events == 0:
            return np.zeros(0)
        if event_keys is None or len(event_keys) != items.n_events:
            raise ModelError(
                f"run(event_keys): a canary routes by key: expected {items.n_events} keys, got "
                f"{None if event_keys is None else len(event_keys)}"
            )
        return stable_units(event_keys, self.salt)

    def _loop_settings(self) -> tuple[int, bool, float, int, int, float]:
        return self._canary, self.rolled_back, self.share, 0, self.min_events, self.margin

    def _decide(self, status: int, position: Any) -> list[dict[str, Any]]:
        self.rolled_back = True
        trial, main = int(self._recent_n[self._canary]), int(self._recent_n[self._serving])
        canary_mean = float(self._recent_sum[self._canary] / trial)
        champion_mean = float(self._recent_sum[self._serving] / main)
        return [
            event_record(
                "rollback",
                self.models[self._canary],
                self.serving,
                position,
                canary_mean - champion_mean,
                None,
                canary_mean=canary_mean,
                champion_mean=champion_mean,
                canary_events=trial,
                champion_events=main,
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
