"""A fresh challenger for a model that drifted: trained on a sample, promoted if it proves itself.

When a drift action asks for one, a challenger is a fresh copy of the incumbent's estimator,
first trained on a recent sample of labeled examples (so it catches up in the background),
then scored and trained on every labeled event beside the incumbent, without serving. Their
paired rewards go through McNemar's test (the sign test for real-valued rewards, see
:mod:`online_models.significance`): once ``min_events`` pairs are in and the challenger is
better with p < ``alpha``, it takes the incumbent's place (same name, same arm); after
``max_events`` pairs without that, it is dropped.

>>> from online_models.learner import Learner, ModelSettings
>>> c = Challenger(Learner(ModelSettings("lr", "logistic_regression")), "lr", 0.05, 10)
>>> c.observe([0.0] * 20, [1.0] * 20)
'promote'
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from online_models.errors import ModelError
from online_models.learner import Learner
from online_models.significance import discordant, mcnemar

__all__ = ["Challenger"]


class Challenger:
    """A challenger learner racing its incumbent on paired rewards.

    Args:
        learner: the challenger (already trained on the catch-up sample).
        incumbent: the name of the model it challenges.
        alpha: significance level of the promotion test.
        min_events: paired events before the first test.
        max_events: paired events after which an unproven challenger is dropped.
    """

    def __init__(
        self,
        learner: Learner,
        incumbent: str,
        alpha: float = 0.01,
        min_events: int = 500,
        max_events: int = 20_000,
    ) -> None:
        if not 0.0 < alpha < 1.0:
            raise ModelError(f"drift.challenger_alpha: expected a number in (0, 1), got {alpha}")
        self.learner = learner
        self.incumbent = incumbent
        self.alpha = alpha
        self.min_events = min_events
        self.max_events = max_events
        self.events = 0
        self.better = 0  # events where the incumbent did better
        self.worse = 0  # events where the challenger did better
        self.p_value: float | None = None

    def observe(
        self, incumbent_rewards: Sequence[float], challenger_rewards: Sequence[float]
    ) -> str:
        """Add paired rewards; return ``"promote"``, ``"drop"`` or ``"wait"``."""
        b, c = discordant(np.asarray(incumbent_rewards), np.asarray(challenger_rewards))
        self.better += b
        self.worse += c
        self.events += len(incumbent_rewards)
        if self.events < self.min_events:
            return "wait"
        self.p_value = mcnemar(self.better, self.worse).p_value
        if self.worse > self.better and self.p_value < self.alpha:
            return "promote"
        return "drop" if self.events >= self.max_events else "wait"

    def record(self, kind: str, position: int) -> dict[str, object]:
        """The alert record of a promotion or a drop."""
        return {
            "kind": f"challenger_{kind}",
            "from": self.incumbent,
            "to": f"{self.incumbent} (challenger)",
            "statistic": {"incumbent_better": self.better, "challenger_better": self.worse},
            "p_value": self.p_value,
            "position": position,
            "events": self.events,
        }
