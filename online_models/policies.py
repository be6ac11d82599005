"""Selection policies: which candidate model serves each event, chosen per event in stream order.

A policy is a :class:`~online_models.serving.ServingRule`: :meth:`Policy.run` walks a batch's
items (events to serve, labels whose rewards arrive) one at a time in a compiled loop
(:mod:`online_models.policy_loop`), so every event is served from the rewards of the labels
before it and the result is the same for any batch size or cut. The feedback is a setting:

- **full** (every candidate predicted the event): a label teaches every arm its reward (NaN
  where a model did not predict); :class:`Exp3` then makes the full-information (Hedge) update;
- **bandit** (only the served arm's reward counts): a label teaches the served arm its
  reward; :class:`Exp3` importance-weights it, ``reward / prob``, with the probability the
  served arm had (``Served.probs``; kept by the caller for labels that come in a later batch).

Rewards are "higher is better": 0/1 correctness for classification, a negative error for
regression. UCB1, Exp3 and the Beta-Bernoulli Thompson sampler assume rewards in [0, 1].

Every policy keeps plain, discounted (``gamma``) or windowed (``window``) per-arm statistics
(:mod:`online_models.arm_stats`), so it can follow drift; time is counted in labels.

Per-event rules shared by the policies:

- **Random draws** come from the policy's own generator (seeded by ``seed``), per event in
  stream order, a fixed amount per event: epsilon-greedy 2 uniforms, softmax and Exp3 1, UCB1
  none, Thompson sampling one posterior draw per arm (drawn for every arm, whatever answers).
- **An arm with no reward kept** (never rewarded, or out of the window) is tried again:
  epsilon-greedy, UCB1 and softmax serve it at its next event where it has an answer (the
  lowest such arm first, probability 1), once: it is not forced again until a reward for it
  has arrived (with delayed labels, the events in between go to the others). Thompson
  sampling tries it by its prior, Exp3 by its uniform share. An arm forced and still waiting
  for its first reward is left out of the greedy, UCB and softmax choices.
- **Ties** go to the lowest arm index.

>>> p = EpsilonGreedy(["a", "b"], epsilon=0.0, seed=1)
>>> served = p.run([1, 0, 0, 0], [[True, True]] * 3, [[0.0, 1.0]], [-1], [0], [1.0], [0])
>>> served.arms.tolist()
[1, 1, 1]
>>> make_policy("ucb1", ["a", "b", "c"]).run([0] * 4, [[True] * 3] * 4, [], [], [], [], []).arms
array([0, 1, 2, 0])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from online_models.arm_stats import ArmStats
from online_models.errors import ModelError
from online_models.policy_loop import RULES, noise_scale, run_policy
from online_models.serving import Items, Served, check_items, feedback_mode
from online_models.validate import construct, integer, names, number

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

_NO_ESTIMATES = ArmStats(1)  # the compiled loop's Exp3 arguments, for the other policies


class Policy:
    """Base of the selection policies: arms, feedback, seeded generator, statistics, counts.

    Subclasses set :attr:`rule` (the compiled loop's rule) and :meth:`_params`. Attributes
    ``chosen`` (times each arm was chosen) and ``passed_over`` (times the policy's choice over
    all arms had no answer, so another arm served) are public.

    Args:
        arms: the candidates' names.
        seed: seed of the policy's random generator.
        feedback: ``"full"`` or ``"bandit"`` (see the module docstring).
        gamma: discount factor per label, in (0, 1); None for no discounting.
        window: statistics over the last ``window`` labels only; None for all labels.
    """

    rule = ""

    def __init__(
        self,
        arms: Sequence[str],
        seed: int = 0,
        *,
        feedback: str = "full",
        gamma: float | None = None,
        window: int | None = None,
    ) -> None:
        self.arms = names("selection.arms", arms)
        self.seed = integer("selection.seed", seed)
        self.feedback = feedback_mode(feedback)
        self.gamma = gamma
        self.window = window
        k = len(self.arms)
        self.stats = ArmStats(k, gamma=gamma, window=window)
        self.chosen = np.zeros(k, dtype=np.int64)
        self.passed_over = np.zeros(k, dtype=np.int64)
        self._pending = np.zeros(k, dtype=bool)  # forced once, waiting for a reward
        self._rng = np.random.default_rng(seed)

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
        """Serve the events and learn the labels of one batch, one item at a time in order.

        Args:
            kinds: the items in stream order: 0 an event to serve, 1 a label.
            available: ``(n_events, n_arms)``: which arms have an answer for each event.
            rewards: ``(n_labels, n_arms)``: every arm's reward for each label, NaN where the
                arm did not predict its event.
            label_event: per label, the index of its event among this batch's events, or -1
                for an event of an earlier batch.
            label_arm: per label of an earlier batch's event, the arm that served it.
            label_prob: per label of an earlier batch's event, the probability that arm had
                (``Served.probs``); Exp3 with bandit feedback needs it.
            label_position: per label, its event's stream position (unused: no records).
            event_keys: unused (routing keys are for the canary).
            allowed: the latency budget's verdict per arm; None allows every arm.
            fallback: the arm serving in place of a chosen arm that is not allowed; -1: none.

        Returns:
            The served arms, the policy's choices, the served arms' probabilities (None for
            Thompson sampling) and no records.
        """
        k = len(self.arms)
        items = check_items(
            k, kinds, available, rewards, label_event, label_arm, label_prob, label_position,
            allowed, fallback,
        )  # fmt: skip
        self._check(items)
        n = items.n_events
        arms, chosen, probs = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n)
        s, est = self.stats, self._estimates()
        run_policy(
            RULES[self.rule], self._params(), self.feedback == "bandit",
            items.kinds, items.available, items.rewards, items.label_event, items.label_arm,
            items.label_prob, items.allowed, items.fallback, self._rng,
            s.counts, s.sums, s.squares, s.ring, s.clock,
            est.counts, est.sums, est.squares, est.ring, est.clock, s.discount,
            self._pending, self.chosen, self.passed_over, arms, chosen, probs,
        )  # fmt: skip
        return Served(arms, chosen, None if self.rule.startswith("thompson") else probs, [])

    def means(self) -> np.ndarray:
        """Mean observed reward of each arm (0 for an arm never observed)."""
        return self.stats.means()

    def summary(self) -> dict[str, Any]:
        """Per arm: times chosen, times passed over, mean reward, (effective) rewards kept."""
        return {
            name: {
                "chosen": int(c),
                "passed_over": int(o),
                "mean_reward": float(m),
                "observations": float(w),
            }
            for name, c, o, m, w in zip(
                self.arms,
                self.chosen,
                self.passed_over,
                self.means(),
                self.stats.counts,
                strict=True,
            )  # fmt: skip
        }

    def _params(self) -> np.ndarray:
        raise NotImplementedError

    def _estimates(self) -> ArmStats:
        return _NO_ESTIMATES

    def _check(self, items: Items) -> None:
        """Refuse inputs this policy cannot learn from (beyond :func:`check_items`)."""


class EpsilonGreedy(Policy):
    """Serve the arm with the best mean reward; explore a uniform random arm with probability
    ``epsilon_t = max(min_epsilon, epsilon / (1 + decay * t))``, ``t`` the events served so far.

    ``decay = 0`` keeps epsilon constant; ``decay > 0`` is the 1/t schedule of Auer et al. (2002),
    whose exploration grows only logarithmically. Per event two uniforms ``u1, u2``: explore when
    ``u1 < epsilon_t``, and the explored arm is the ``floor(u2 * n)``-th of the ``n`` arms with an
    answer. While no arm with an answer has a reward kept, the choice is uniform (``u2``).

    Args:
        arms: the candidates' names.
        epsilon: exploration probability at the start, in [0, 1].
        seed: seed of the policy's random generator.
        decay: speed of the 1/t decay of epsilon, >= 0.
        min_epsilon: floor of the decayed epsilon, in [0, epsilon] (keeps exploring under drift).
        feedback: ``"full"`` or ``"bandit"``.
        gamma: discount factor per label; see :class:`Policy`.
        window: statistics window in labels; see :class:`Policy`.

    >>> p = EpsilonGreedy(["a", "b"], epsilon=1.0, seed=3, decay=1.0)
    >>> served = p.run([1, 0, 0, 0, 0], [[True, True]] * 4, [[0.0, 1.0]], [-1], [0], [1.0], [0])
    >>> served.arms.tolist()  # epsilon_t = 1, 1/2, 1/3, 1/4; arm 1 is greedy
    [0, 1, 0, 1]
    >>> served.probs.tolist()  # epsilon_t / 2, plus 1 - epsilon_t for the greedy arm
    [0.5, 0.75, 0.16666666666666666, 0.875]
    """

    rule = "epsilon_greedy"

    def __init__(
        self,
        arms: Sequence[str],
        epsilon: float = 0.1,
        seed: int = 0,
        *,
        decay: float = 0.0,
        min_epsilon: float = 0.0,
        feedback: str = "full",
        gamma: float | None = None,
        window: int | None = None,
    ) -> None:
        super().__init__(arms, seed, feedback=feedback, gamma=gamma, window=window)
        self.epsilon = number("selection.epsilon", epsilon, low=0.0, high=1.0)
        self.decay = number("selection.decay", decay, low=0.0)
        self.min_epsilon = number("selection.min_epsilon", min_epsilon, low=0.0, high=self.epsilon)

    def _params(self) -> np.ndarray:
        return np.array([self.epsilon, self.decay, self.min_epsilon])


class UCB1(Policy):
    """Upper confidence bound: serve the arm maximizing ``mean + c * sqrt(2 ln t / n_arm)``.

    Auer, Cesa-Bianchi & Fischer (2002); ``t`` is the (effective) number of rewards kept over
    all arms, ``n_arm`` the arm's. With ``gamma`` or ``window`` it is D-UCB or SW-UCB (Garivier
    & Moulines 2011). An arm with no reward kept is served once at its next event with an answer
    (then left out until its reward comes); while no arm with an answer has a reward kept, the
    lowest one serves. Deterministic, so the choice changes only when a label arrives: with
    delayed labels, the events in between all go to the same arm (exact sequential UCB1 under
    delay). Its probabilities are 1.

    Args:
        arms: the candidates' names.
        c: scale of the exploration bonus, > 0 (the range of the rewards; 1 for [0, 1]).
        seed: unused (UCB1 does not draw), kept for a uniform interface.
        feedback: ``"full"`` or ``"bandit"``.
        gamma: discount factor per label; see :class:`Policy`.
        window: statistics window in labels; see :class:`Policy`.

    >>> p = UCB1(["a", "b"])
    >>> p.run([1, 0, 0], [[True, True]] * 2, [[1.0, 0.0]], [-1], [0], [1.0], [0]).arms.tolist()
    [0, 0]
    """

    rule = "ucb1"

    def __init__(
        self,
        arms: Sequence[str],
        c: float = 1.0,
        seed: int = 0,
        *,
        feedback: str = "full",
        gamma: float | None = None,
        window: int | None = None,
    ) -> None:
        super().__init__(arms, seed, feedback=feedback, gamma=gamma, window=window)
        self.c = number("selection.c", c, low=0.0, low_open=True)

    def _params(self) -> np.ndarray:
        return np.array([self.c])


class Thompson(Policy):
    """Thompson sampling: serve the arm whose draw from its posterior mean reward is highest.

    - ``likelihood="bernoulli"``: rewards in [0, 1] (0/1 correctness), Beta(1 + successes,
      1 + failures) posteriors (fractional rewards count as fractional successes).
    - ``likelihood="gaussian"``: real rewards (e.g. negative squared error), posteriors
      N(sum / (n + 1), sigma^2 / (n + 1)) (Agrawal & Goyal 2013, a N(0, sigma^2) prior).
      ``sigma`` is the reward noise scale; None estimates it as the pooled within-arm standard
      deviation of the rewards kept (1 until there is any).

    Per event, one draw per arm (in arm order, every arm, from the policy's generator); the
    highest among the arms with an answer serves. ``Served.probs`` is None: the probability of
    a choice has no closed form.

    Args:
        arms: the candidates' names.
        seed: seed of the policy's random generator.
        likelihood: ``"bernoulli"`` or ``"gaussian"``.
        sigma: Gaussian noise scale, > 0, or None to estimate it.
        feedback: ``"full"`` or ``"bandit"``.
        gamma: discount factor per label; see :class:`Policy`.
        window: statistics window in labels; see :class:`Policy`.

    >>> p = Thompson(["a", "b"], seed=0)
    >>> items = [1] * 50 + [0] * 5
    >>> p.run(items, [[True, True]] * 5, [[1.0, 0.0]] * 50, [-1] * 50, [0] * 50, [1.0] * 50,
    ...       list(range(50))).arms.tolist()
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
        feedback: str = "full",
        gamma: float | None = None,
        window: int | None = None,
    ) -> None:
        super().__init__(arms, seed, feedback=feedback, gamma=gamma, window=window)
        if likelihood not in self.LIKELIHOODS:
            raise ModelError(
                f"selection.likelihood: expected one of {self.LIKELIHOODS}, got {likelihood!r}"
            )
        self.likelihood = likelihood
        self.sigma = sigma
        if sigma is not None:
            number("selection.sigma", sigma, low=0.0, low_open=True)
        self.rule = f"thompson_{likelihood}"

    def noise_scale(self) -> float:
        """The Gaussian noise scale in use: ``sigma``, or the pooled within-arm estimate."""
        if self.sigma is not None:
            return self.sigma
        s = self.stats
        return float(noise_scale(s.counts, s.sums, s.squares))

    def _params(self) -> np.ndarray:
        return np.array([0.0 if self.sigma is None else self.sigma])

    def _check(self, items: Items) -> None:
        r = items.rewards
        if self.likelihood == "bernoulli" and ((r < 0.0) | (r > 1.0)).any():
            raise ModelError(
                "selection.likelihood: 'bernoulli' expects rewards in [0, 1]; "
                "use 'gaussian' for real-valued rewards"
            )


class Softmax(Policy):
    """Boltzmann exploration: serve arm ``a`` with probability proportional to
    ``exp(mean_a / tau)``, over the arms with an answer and a reward kept (uniform over the
    arms with an answer while none has a reward kept). One uniform per event picks the arm
    from the cumulated probabilities, in arm order.

    Args:
        arms: the candidates' names.
        tau: temperature, > 0, in reward units (small: greedy; large: uniform).
        seed: seed of the policy's random generator.
        feedback: ``"full"`` or ``"bandit"``.
        gamma: discount factor per label; see :class:`Policy`.
        window: statistics window in labels; see :class:`Policy`.

    >>> p = Softmax(["a", "b"], tau=0.1, seed=0)
    >>> _ = p.run([1], [], [[1.0, 0.0]], [-1], [0], [1.0], [0])
    >>> p.probabilities().round(5).tolist()
    [0.99995, 5e-05]
    """

    rule = "softmax"

    def __init__(
        self,
        arms: Sequence[str],
        tau: float = 0.1,
        seed: int = 0,
        *,
        feedback: str = "full",
        gamma: float | None = None,
        window: int | None = None,
    ) -> None:
        super().__init__(arms, seed, feedback=feedback, gamma=gamma, window=window)
        self.tau = number("selection.tau", tau, low=0.0, low_open=True)

    def probabilities(self) -> np.ndarray:
        """The probability of each arm at an event where every arm has an answer and none is
        forced (arms with no reward kept are left out while any arm has one)."""
        tried = self.stats.counts > 0
        if not tried.any():
            return np.full(len(self.arms), 1.0 / len(self.arms))
        return _softmax(np.where(tried, self.means() / self.tau, -np.inf))

    def _params(self) -> np.ndarray:
        return np.array([self.tau])


class Exp3(Policy):
    """Exponential weights for exploration and exploitation (Auer et al. 2002), for
    adversarial or drifting rewards in [0, 1].

    Arm ``a`` is chosen with probability ``(1 - explore) * w_a / sum(w) + explore / n``,
    ``w_a = exp(eta * S_a)``, over the ``n`` arms with an answer; ``S_a`` is the arm's estimated
    total reward. With bandit feedback a label adds ``reward / prob`` to the served arm's ``S``
    (its importance weight: ``label_prob``, or the probability kept from this batch); with full
    feedback it adds every arm's reward (Hedge). ``gamma`` or ``window`` make ``S`` forget
    (discounted or sliding-window Exp3). One uniform per event.

    Args:
        arms: the candidates' names.
        explore: uniform exploration share, in (0, 1].
        seed: seed of the policy's random generator.
        eta: learning rate, > 0; None for ``explore / n_arms`` (the original Exp3).
        feedback: ``"full"`` or ``"bandit"``.
        gamma: discount factor per label; see :class:`Policy`.
        window: statistics window in labels; see :class:`Policy`.

    >>> p = Exp3(["a", "b"], explore=0.2, seed=0)
    >>> _ = p.run([1] * 20, [], [[1.0, 0.0]] * 20, [-1] * 20, [0] * 20, [1.0] * 20, [0] * 20)
    >>> p.probabilities().round(3).tolist()
    [0.805, 0.195]
    """

    rule = "exp3"

    def __init__(
        self,
        arms: Sequence[str],
        explore: float = 0.1,
        seed: int = 0,
        *,
        eta: float | None = None,
        feedback: str = "full",
        gamma: float | None = None,
        window: int | None = None,
    ) -> None:
        super().__init__(arms, seed, feedback=feedback, gamma=gamma, window=window)
        self.explore = number("selection.explore", explore, low=0.0, high=1.0, low_open=True)
        self.eta = eta
        if eta is not None:
            number("selection.eta", eta, low=0.0, low_open=True)
        self.estimates = ArmStats(len(self.arms), gamma=gamma, window=window)

    def probabilities(self) -> np.ndarray:
        """The probability of each arm at an event where every arm has an answer."""
        k = len(self.arms)
        return (1.0 - self.explore) * _softmax(self._eta() * self.estimates.sums) + self.explore / k

    def _eta(self) -> float:
        return self.explore / len(self.arms) if self.eta is None else self.eta

    def _params(self) -> np.ndarray:
        return np.array([self.explore, self._eta()])

    def _estimates(self) -> ArmStats:
        return self.estimates

    def _check(self, items: Items) -> None:
        if self.feedback != "bandit":
            return
        late = np.flatnonzero(items.label_event < 0)
        rewarded = np.isfinite(items.rewards[late, items.label_arm[late]])
        p = items.label_prob[late[rewarded]]
        if not ((p > 0.0) & (p <= 1.0)).all():
            raise ModelError(
                "run(label_prob): Exp3 with bandit feedback needs, for every label whose event "
                "was served in an earlier batch, the probability in (0, 1] its arm had "
                "(Served.probs)"
            )


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

    >>> make_policy("softmax", ["a", "b"], seed=1, tau=0.5, feedback="bandit").feedback
    'bandit'
    >>> make_policy("softmax", ["a", "b"], temperature=0.5)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    online_models.errors.ModelError: selection.temperature: not a setting of 'softmax'; ...
    """
    policy: Policy = construct(
        "selection", "selection.policy", POLICIES, name, arms, seed=seed, **params
    )
    return policy
