"""Selection policies: which candidate model serves each prediction.

A policy chooses an arm (a candidate's index) for each event of a batch with :meth:`choose`
and learns from rewards. The caller picks the feedback mode:

- **bandit** feedback (only the served arm's reward is known):
  ``update(arms, rewards, probs)`` with the served arm, its reward and the probability that arm
  had of being chosen, one entry per event. ``probs`` is what :attr:`Policy.last_probs` held
  for that event right after :meth:`choose`; the caller keeps it with the prediction (label
  delays mean the policy has moved on when the reward arrives). Only :class:`Exp3` needs it (it
  importance-weights the reward, ``reward / prob``); the others ignore it.
- **full** feedback (every candidate predicted every event, so every arm's reward is known):
  ``update_full(rewards)`` with a ``(n_events, n_arms)`` matrix. :class:`Exp3` then makes the
  full-information (Hedge) update, without importance weights.

Rewards are "higher is better": 0/1 correctness for classification, a negative error for
regression. UCB1, Exp3 and the Beta-Bernoulli Thompson sampler assume rewards in [0, 1].

Every policy keeps plain, discounted (``gamma``) or windowed (``window``) per-arm statistics
(see :mod:`online_models.arm_stats`), so it can follow drift. Time is counted in events. An arm
with no reward kept (never served, or out of the window) is tried again: UCB1 by its infinite
bound, Thompson sampling by its prior, Exp3 by its uniform share, and epsilon-greedy and softmax
serve it once at the head of the next batch (an optimistic start, so a rarely served arm is
neither starved nor scored as a reward of 0).

>>> p = EpsilonGreedy(["a", "b"], epsilon=0.0, seed=1)
>>> p.update([0, 1, 1], [0.0, 1.0, 1.0])
>>> p.choose(3).tolist()
[1, 1, 1]
>>> make_policy("ucb1", ["a", "b", "c"], seed=0).choose(4).tolist()
[0, 1, 2, 0]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from online_models.arm_stats import ArmStats
from online_models.errors import ModelError
from online_models.validate import arm_indices, construct, integer, names, number, values

__all__ = [
    "Policy",
    "EpsilonGreedy",
    "UCB1",
    "Thompson",
    "Softmax",
    "Exp3",
    "POLICIES",
    "make_policy",
]


class Policy:
    """Base of the selection policies: arms, seeded generator, statistics and bookkeeping.

    Subclasses implement :meth:`_pick`. Attributes ``chosen`` (times each arm was chosen) and
    ``last_probs`` (for each event of the last :meth:`choose`, the probability its arm had of
    being chosen; None where the policy cannot tell, e.g. Thompson sampling) are public.

    Args:
        arms: the candidates' names.
        seed: seed of the policy's random generator.
        gamma: discount factor per event, in (0, 1); None for no discounting.
        window: statistics over the last ``window`` events only; None for all events.
    """

    def __init__(
        self,
        arms: Sequence[str],
        seed: int = 0,
        *,
        gamma: float | None = None,
        window: int | None = None,
    ) -> None:
        self.arms = names("selection.arms", arms)
        self.seed = integer("selection.seed", seed)
        self.gamma = gamma
        self.window = window
        self.stats = ArmStats(len(self.arms), gamma=gamma, window=window)
        self.chosen = np.zeros(len(self.arms), dtype=np.int64)
        self.last_probs: np.ndarray | None = None
        self._rng = np.random.default_rng(seed)

    def choose(self, n: int) -> np.ndarray:
        """Arms (indices into ``arms``) for the next ``n`` events."""
        arms, probs = self._pick(integer("choose(n)", n))
        self.chosen += np.bincount(arms, minlength=len(self.arms))
        self.last_probs = probs
        return arms

    def update(
        self,
        arms: Sequence[int] | np.ndarray,
        rewards: Sequence[float] | np.ndarray,
        probs: Sequence[float] | np.ndarray | None = None,
    ) -> None:
        """Learn from bandit feedback: one (served arm, reward, probability) per event, in order.

        Args:
            arms: the arm served for each event.
            rewards: the reward of that arm for that event.
            probs: the probability the served arm had (``last_probs``); needed by Exp3 only.
        """
        idx = arm_indices("update(arms)", arms, len(self.arms))
        r = values("update(rewards)", rewards, idx.shape)
        p = None if probs is None else values("update(probs)", probs, idx.shape)
        if p is not None and ((p <= 0.0) | (p > 1.0)).any():
            raise ModelError("update(probs): expected probabilities in (0, 1]")
        self._observe(idx, r, np.arange(idx.size), idx.size, p)

    def update_full(self, rewards: Sequence[Sequence[float]] | np.ndarray) -> None:
        """Learn from full feedback: ``rewards[i, a]`` is arm ``a``'s reward for event ``i``."""
        r = values("update_full(rewards)", rewards, (None, len(self.arms)))
        n, k = r.shape
        self._observe(np.tile(np.arange(k), n), r.ravel(), np.repeat(np.arange(n), k), n, None)

    def means(self) -> np.ndarray:
        """Mean observed reward of each arm (0 for an arm never observed)."""
        return self.stats.means()

    def summary(self) -> dict[str, Any]:
        """Per arm: times chosen, mean reward, (effective) number of rewards observed."""
        return {
            name: {"chosen": int(c), "mean_reward": float(m), "observations": float(w)}
            for name, c, m, w in zip(
                self.arms, self.chosen, self.means(), self.stats.counts, strict=True
            )
        }

    def _observe(
        self,
        arms: np.ndarray,
        rewards: np.ndarray,
        steps: np.ndarray,
        n_steps: int,
        probs: np.ndarray | None,
    ) -> None:
        self.stats.add(arms, rewards, steps, n_steps)

    def _pick(self, n: int) -> tuple[np.ndarray, np.ndarray | None]:
        raise NotImplementedError

    def _untried_first(self, arms: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Serve each arm with no reward kept once, at the head of the batch (probability 1)."""
        untried = np.flatnonzero(self.stats.counts == 0)[: len(arms)]
        arms[: len(untried)] = untried
        probs[: len(untried)] = 1.0
        return arms, probs

    def _draw(self, p: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` arms drawn from the distribution ``p``, with their probabilities."""
        cdf = np.cumsum(p)
        arms = np.searchsorted(cdf, self._rng.random(n) * cdf[-1], side="right")
        arms = np.minimum(arms, len(p) - 1)
        return arms, p[arms]


class EpsilonGreedy(Policy):
    """Serve the arm with the best mean reward; explore a uniform random arm with probability
    ``epsilon_t = max(min_epsilon, epsilon / (1 + decay * t))``, ``t`` the events chosen so far.

    ``decay = 0`` keeps epsilon constant; ``decay > 0`` is the 1/t schedule of Auer et al. (2002),
    whose exploration grows only logarithmically. Ties between means go to the first arm.

    Args:
        arms: the candidates' names.
        epsilon: exploration probability at the start, in [0, 1].
        seed: seed of the policy's random generator.
        decay: speed of the 1/t decay of epsilon, >= 0.
        min_epsilon: floor of the decayed epsilon, in [0, epsilon] (keeps exploring under drift).
        gamma: discount factor per event; see :class:`Policy`.
        window: statistics window in events; see :class:`Policy`.

    >>> p = EpsilonGreedy(["a", "b"], epsilon=1.0, seed=3, decay=1.0)
    >>> p.update([0, 1], [0.0, 1.0])
    >>> p.choose(4).tolist()  # epsilon_t = 1, 1/2, 1/3, 1/4; arm 1 is greedy
    [0, 0, 1, 1]
    >>> p.last_probs.tolist()  # epsilon_t / 2, plus 1 - epsilon_t for the greedy arm
    [0.5, 0.25, 0.8333333333333334, 0.875]
    """

    def __init__(
        self,
        arms: Sequence[str],
        epsilon: float = 0.1,
        seed: int = 0,
        *,
        decay: float = 0.0,
        min_epsilon: float = 0.0,
        gamma: float | None = None,
        window: int | None = None,
    ) -> None:
        super().__init__(arms, seed, gamma=gamma, window=window)
        self.epsilon = number("selection.epsilon", epsilon, low=0.0, high=1.0)
        self.decay = number("selection.decay", decay, low=0.0)
        self.min_epsilon = number("selection.min_epsilon", min_epsilon, low=0.0, high=self.epsilon)

    def _pick(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        t = self.chosen.sum() + np.arange(n)
        eps = np.maximum(self.epsilon / (1.0 + self.decay * t), self.min_epsilon)
        explore = self._rng.random(n) < eps
        random_arms = self._rng.integers(0, len(self.arms), size=n)
        best = int(np.argmax(np.where(self.stats.counts > 0, self.means(), -np.inf)))
        arms = np.where(explore, random_arms, best)
        return self._untried_first(arms, eps / len(self.arms) + (1.0 - eps) * (arms == best))


class UCB1(Policy):
    """Upper confidence bound: serve the arm maximizing ``mean + c * sqrt(2 ln t / n_arm)``.

    Auer, Cesa-Bianchi & Fischer (2002); ``t`` is the (effective) number of rewards observed,
    ``n_arm`` the arm's. Untried arms come first. With ``gamma`` or ``window`` it is D-UCB or
    SW-UCB (Garivier & Moulines 2011). Within a batch, each event counts as a pull of the arm
    already assigned ("hallucinated" counts, the means unchanged), so a batch spreads over arms
    whose bounds are close; with batches of one event this is exactly UCB1. Deterministic:
    ``last_probs`` is all ones.

    Args:
        arms: the candidates' names.
        c: scale of the exploration bonus, > 0 (the range of the rewards; 1 for [0, 1]).
        seed: unused (UCB1 does not draw), kept for a uniform interface.
        gamma: discount factor per event; see :class:`Policy`.
        window: statistics window in events; see :class:`Policy`.

    >>> p = UCB1(["a", "b"])
    >>> p.update([0, 1], [1.0, 0.0])
    >>> p.choose(3).tolist()
    [0, 0, 0]
    """

    def __init__(
        self,
        arms: Sequence[str],
        c: float = 1.0,
        seed: int = 0,
        *,
        gamma: float | None = None,
        window: int | None = None,
    ) -> None:
        super().__init__(arms, seed, gamma=gamma, window=window)
        self.c = number("selection.c", c, low=0.0, low_open=True)

    def _pick(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        counts = self.stats.counts
        log_t = math.log(max(counts.sum(), 1.0))
        pulls = counts + np.arange(n)[:, None]  # (n, arms): counts if the k-th pull went there
        bonus = np.full(pulls.shape, np.inf)
        np.divide(2.0 * log_t, pulls, out=bonus, where=pulls > 0)
        np.sqrt(bonus, out=bonus)
        index = self.means() + self.c * bonus
        # the n best (arm, k) pairs: each column decreases in k, so this is sequential UCB
        top = np.argsort(-index, axis=None, kind="stable")[:n]
        return top % len(self.arms), np.ones(n)


class Thompson(Policy):
    """Thompson sampling: serve the arm whose draw from its posterior mean reward is highest.

    - ``likelihood="bernoulli"``: rewards in [0, 1] (0/1 correctness), Beta(1 + successes,
      1 + failures) posteriors (fractional rewards count as fractional successes).
    - ``likelihood="gaussian"``: real rewards (e.g. negative squared error), posteriors
      N(sum / (n + 1), sigma^2 / (n + 1)) (Agrawal & Goyal 2013, a N(0, sigma^2) prior).
      ``sigma`` is the reward noise scale; None estimates it as the pooled within-arm standard
      deviation of the rewards kept (1 until there is any).

    ``last_probs`` is None: the probability of each choice has no closed form.

    Args:
        arms: the candidates' names.
        seed: seed of the policy's random generator.
        likelihood: ``"bernoulli"`` or ``"gaussian"``.
        sigma: Gaussian noise scale, > 0, or None to estimate it.
        gamma: discount factor per event; see :class:`Policy`.
        window: statistics window in events; see :class:`Policy`.

    >>> p = Thompson(["a", "b"], seed=0)
    >>> p.update([0] * 50 + [1] * 50, [1.0] * 50 + [0.0] * 50)
    >>> p.choose(5).tolist()
    [0, 0, 0, 0, 0]
    """

    LIKELIHOODS = ("bernoulli", "gaussian")

    def __init__(
        self,
        arms: Sequence[str],
        seed: int = 0,
        *,
        likelihood: str = "bernoulli",
        sigma: float | None = None,
        gamma: float | None = None,
        window: int | None = None,
    ) -> None:
        super().__init__(arms, seed, gamma=gamma, window=window)
        if likelihood not in self.LIKELIHOODS:
            raise ModelError(
                f"selection.likelihood: expected one of {self.LIKELIHOODS}, got {likelihood!r}"
            )
        self.likelihood = likelihood
        self.sigma = sigma
        if sigma is not None:
            number("selection.sigma", sigma, low=0.0, low_open=True)

    def _observe(
        self,
        arms: np.ndarray,
        rewards: np.ndarray,
        steps: np.ndarray,
        n_steps: int,
        probs: np.ndarray | None,
    ) -> None:
        if self.likelihood == "bernoulli" and ((rewards < 0.0) | (rewards > 1.0)).any():
            raise ModelError(
                "selection.likelihood: 'bernoulli' expects rewards in [0, 1]; "
                "use 'gaussian' for real-valued rewards"
            )
        super()._observe(arms, rewards, steps, n_steps, probs)

    def noise_scale(self) -> float:
        """The Gaussian noise scale in use: ``sigma``, or the pooled within-arm estimate."""
        if self.sigma is not None:
            return self.sigma
        s = self.stats
        total = s.counts.sum()
        if total <= 0.0:
            return 1.0
        means = s.means()
        within = s.squares - means * s.sums  # per arm: sum of squared deviations
        var = max(float(within.sum()) / total, 0.0)
        return math.sqrt(var) if var > 0.0 else 1.0

    def _pick(self, n: int) -> tuple[np.ndarray, None]:
        s, k = self.stats, len(self.arms)
        if self.likelihood == "bernoulli":
            draws = self._rng.beta(1.0 + s.sums, 1.0 + s.counts - s.sums, size=(n, k))
        else:
            scale = self.noise_scale() / np.sqrt(s.counts + 1.0)
            draws = s.sums / (s.counts + 1.0) + scale * self._rng.standard_normal((n, k))
        return np.argmax(draws, axis=1), None


class Softmax(Policy):
    """Boltzmann exploration: serve arm ``a`` with probability proportional to
    ``exp(mean_a / tau)``.

    Args:
        arms: the candidates' names.
        tau: temperature, > 0, in reward units (small: greedy; large: uniform).
        seed: seed of the policy's random generator.
        gamma: discount factor per event; see :class:`Policy`.
        window: statistics window in events; see :class:`Policy`.

    >>> p = Softmax(["a", "b"], tau=0.1, seed=0)
    >>> p.update([0, 1], [1.0, 0.0])
    >>> p.probabilities().round(5).tolist()
    [0.99995, 5e-05]
    """

    def __init__(
        self,
        arms: Sequence[str],
        tau: float = 0.1,
        seed: int = 0,
        *,
        gamma: float | None = None,
        window: int | None = None,
    ) -> None:
        super().__init__(arms, seed, gamma=gamma, window=window)
        self.tau = number("selection.tau", tau, low=0.0, low_open=True)

    def probabilities(self) -> np.ndarray:
        """The current probability of choosing each arm (arms with no reward kept are left out
        while any arm has one)."""
        tried = self.stats.counts > 0
        if not tried.any():
            return np.full(len(self.arms), 1.0 / len(self.arms))
        return _softmax(np.where(tried, self.means() / self.tau, -np.inf))

    def _pick(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        return self._untried_first(*self._draw(self.probabilities(), n))


class Exp3(Policy):
    """Exponential weights for exploration and exploitation (Auer et al. 2002), for
    adversarial or drifting rewards in [0, 1].

    Arm ``a`` is chosen with probability ``(1 - explore) * w_a / sum(w) + explore / n_arms``,
    ``w_a = exp(eta * S_a)``, ``S_a`` the arm's estimated total reward. With bandit feedback
    ``S_a`` adds ``reward / prob`` of each served event (``update`` requires ``probs``); with
    full feedback (``update_full``) it adds every arm's reward (Hedge). ``gamma`` or ``window``
    make ``S`` forget (discounted or sliding-window Exp3).

    Args:
        arms: the candidates' names.
        explore: uniform exploration share, in (0, 1].
        seed: seed of the policy's random generator.
        eta: learning rate, > 0; None for ``explore / n_arms`` (the original Exp3).
        gamma: discount factor per event; see :class:`Policy`.
        window: statistics window in events; see :class:`Policy`.

    >>> p = Exp3(["a", "b"], explore=0.2, seed=0)
    >>> p.update_full([[1.0, 0.0]] * 20)
    >>> p.probabilities().round(3).tolist()
    [0.805, 0.195]
    """

    def __init__(
        self,
        arms: Sequence[str],
        explore: float = 0.1,
        seed: int = 0,
        *,
        eta: float | None = None,
        gamma: float | None = None,
        window: int | None = None,
    ) -> None:
        super().__init__(arms, seed, gamma=gamma, window=window)
        self.explore = number("selection.explore", explore, low=0.0, high=1.0, low_open=True)
        self.eta = eta
        if eta is not None:
            number("selection.eta", eta, low=0.0, low_open=True)
        self.estimates = ArmStats(len(self.arms), gamma=gamma, window=window)

    def update(
        self,
        arms: Sequence[int] | np.ndarray,
        rewards: Sequence[float] | np.ndarray,
        probs: Sequence[float] | np.ndarray | None = None,
    ) -> None:
        """Learn from bandit feedback; ``probs`` (the served arms' ``last_probs``) is required."""
        if probs is None:
            raise ModelError(
                "update(probs): Exp3 with bandit feedback needs the probability of each served "
                "arm (last_probs at choose time); use update_full for full feedback"
            )
        super().update(arms, rewards, probs)

    def probabilities(self) -> np.ndarray:
        """The current probability of choosing each arm."""
        k = len(self.arms)
        eta = self.explore / k if self.eta is None else self.eta
        return (1.0 - self.explore) * _softmax(eta * self.estimates.sums) + self.explore / k

    def _observe(
        self,
        arms: np.ndarray,
        rewards: np.ndarray,
        steps: np.ndarray,
        n_steps: int,
        probs: np.ndarray | None,
    ) -> None:
        super()._observe(arms, rewards, steps, n_steps, probs)
        estimated = rewards if probs is None else rewards / probs
        self.estimates.add(arms, estimated, steps, n_steps)

    def _pick(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        return self._draw(self.probabilities(), n)


def _softmax(z: np.ndarray) -> np.ndarray:
    w = np.exp(z - z.max())
    return w / w.sum()


POLICIES: dict[str, type[Policy]] = {
    "epsilon_greedy": EpsilonGreedy,
    "ucb1": UCB1,
    "thompson": Thompson,
    "softmax": Softmax,
    "exp3": Exp3,
}


def make_policy(name: str, arms: Sequence[str], seed: int = 0, **params: Any) -> Policy:
    """Build the policy called ``name`` (a key of :data:`POLICIES`) with its settings.

    Raises:
        ModelError: naming ``selection.policy`` for an unknown name, ``selection.<key>`` for a
            setting the policy does not have or a bad value.

    >>> make_policy("softmax", ["a", "b"], seed=1, tau=0.5).tau
    0.5
    >>> make_policy("softmax", ["a", "b"], temperature=0.5)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    online_models.errors.ModelError: selection.temperature: not a setting of 'softmax'; ...
    """
    policy: Policy = construct(
        "selection", "selection.policy", POLICIES, name, arms, seed=seed, **params
    )
    return policy
