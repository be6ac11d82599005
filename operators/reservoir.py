"""Fixed-size random samples of an unbounded stream: uniform, weighted and stratified.

All three take micro-batches and touch only the items they keep: the random skips of Vitter's
Algorithm L and of Efraimidis-Spirakis A-ExpJ jump over whole stretches of a batch, so the cost
per event falls as the stream grows. ``update`` returns ``[]``; the flow decides when to emit
:meth:`sample`. Merging two reservoirs of disjoint streams (e.g. two partitions) gives a sample
of the union with the same guarantees, and leaves both inputs unchanged.

>>> r = UniformReservoir(size=3, seed=1)
>>> r.update(list(range(100)))
[]
>>> (r.seen, len(r.sample()))
(100, 3)
"""

from __future__ import annotations

import copy
import heapq
import math
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from operators.errors import OperatorError, check_int
from operators.groups import factorize, positions
from operators.seeding import child_seed, merge_generator

__all__ = ["OVERFLOW", "UniformReservoir", "WeightedReservoir", "StratifiedReservoir"]

OVERFLOW = "__overflow__"
"""The key under which :class:`StratifiedReservoir` keeps the strata beyond ``max_strata``."""


class UniformReservoir:
    """A uniform random sample without replacement of fixed size (Vitter's Algorithm L).

    After ``n`` items every ``size``-subset of them is equally likely to be the sample. Once the
    reservoir is full, the number of items to skip before the next replacement is drawn
    directly (a geometric jump), so a batch costs O(1) plus O(number of items taken from it);
    about ``size * ln(n / size)`` items are ever taken from a stream of ``n``. The random draws
    do not depend on how the stream is cut into batches: the same seed and stream give the same
    sample for any batching.

    Args:
        size: how many items the sample holds (>= 1).
        seed: seed of the numpy random generator (>= 0).

    Attributes:
        seen: how many items the reservoir has been offered.

    >>> r = UniformReservoir(size=2, seed=7)
    >>> _ = r.update(["a", "b", "c"])
    >>> _ = r.update(["d"])
    >>> (r.seen, len(r.sample()), set(r.sample()) <= {"a", "b", "c", "d"})
    (4, 2, True)
    """

    def __init__(self, size: int, seed: int = 0) -> None:
        self.size = check_int("UniformReservoir", "size", size, minimum=1)
        self.seed = check_int("UniformReservoir", "seed", seed, minimum=0)
        self.seen = 0
        self._items: list[Any] = []
        self._rng = np.random.default_rng(seed)
        self._log_w = 0.0  # log of Algorithm L's W: the largest key in the sample, once full
        self._next = 0  # stream position of the next item to take, once full

    def update(self, items: Sequence[Any]) -> list[Any]:
        """Offer a batch of items, in stream order.

        Only ``len(items)`` and ``items[i]`` for the kept positions are used, so numpy arrays
        and lists both work; items are stored as given (not copied).

        Args:
            items: the batch.

        Returns:
            ``[]``: the sample is read with :meth:`sample`.
        """
        start = self.seen
        end = start + len(items)
        missing = self.size - len(self._items)
        if missing > 0:
            taken = min(missing, len(items))
            self._items.extend(items[i] for i in range(taken))
            if len(self._items) == self.size:
                self._arm(start + taken)
        if len(self._items) == self.size:
            while self._next < end:
                u = self._rng.random(3)
                self._items[int(u[0] * self.size)] = items[self._next - start]
                self._log_w += math.log1p(-u[1]) / self.size
                self._next += self._skip(u[2]) + 1
        self.seen = end
        return []

    def sample(self) -> list[Any]:
        """The current sample (a new list; its order carries no meaning)."""
        return list(self._items)

    def merge(self, other: UniformReservoir) -> UniformReservoir:
        """A uniform sample of the union of this reservoir's stream and ``other``'s.

        How many items come from each side is a hypergeometric draw given the two counts (the
        number of this side's positions among ``size`` positions drawn without replacement
        from all ``seen + other.seen``); each side then contributes a uniform subset of its
        sample. Neither input changes; the result continues the union stream.

        Args:
            other: a reservoir of the same ``size`` over a disjoint stream.

        Returns:
            A new reservoir with ``seen = self.seen + other.seen``.

        Raises:
            OperatorError: if ``other`` is not a UniformReservoir of the same size.

        >>> a, b = UniformReservoir(2, seed=1), UniformReservoir(2, seed=2)
        >>> _ = a.update([1, 2, 3]); _ = b.update([4])
        >>> m = a.merge(b)
        >>> (m.seen, len(m.sample()))
        (4, 2)
        """
        if not isinstance(other, UniformReservoir) or other.size != self.size:
            message = f"UniformReservoir: merge expects a UniformReservoir of size {self.size}"
            raise OperatorError(message)
        rng = merge_generator(self.seed, other.seed, self.seen, other.seen)
        total = self.seen + other.seen
        wanted = min(self.size, total)
        ours = int(np.count_nonzero(rng.choice(total, wanted, replace=False) < self.seen))
        mine = rng.permutation(len(self._items))[:ours]
        theirs = rng.permutation(len(other._items))[: wanted - ours]
        out = UniformReservoir(self.size, self.seed)
        out._rng = rng
        out.seen = total
        out._items = [self._items[i] for i in mine] + [other._items[i] for i in theirs]
        if len(out._items) == out.size:
            out._arm(total)
        return out

    def _arm(self, n: int) -> None:
        # After n items the largest of the size smallest uniform keys is Beta(size, n - size + 1)
        # and independent of which items hold them; at n == size this is Algorithm L's start.
        self._log_w = math.log(self._rng.beta(self.size, n - self.size + 1))
        self._next = n + self._skip(self._rng.random())

    def _skip(self, u: float) -> int:
        # Items passed over before the next one whose key falls below W: geometric in W.
        return math.floor(math.log1p(-u) / math.log1p(-math.exp(self._log_w)))


class WeightedReservoir:
    """A weighted sample without replacement of fixed size (Efraimidis-Spirakis A-ExpJ).

    Each item gets the key ``u ** (1 / weight)`` (kept as its log) and the sample holds the
    ``size`` largest keys, which is the same as drawing items one after another with
    probability proportional to weight among those not yet drawn. Once full, the total weight
    to pass over before the next insertion is drawn directly (exponential jump), and located in
    the batch with a binary search in the running total of the weights offered since the
    reservoir filled (a sequential cumulative sum carried from batch to batch, so the positions
    and draws, hence the sample, are the same for any cut of the stream into batches). Items
    whose weight is not a finite positive number are skipped and counted in ``skipped``.

    Args:
        size: how many items the sample holds (>= 1).
        seed: seed of the numpy random generator (>= 0).

    Attributes:
        seen: how many items with a valid weight were offered.
        skipped: how many items were skipped for a non-positive or non-finite weight.

    >>> r = WeightedReservoir(size=2, seed=3)
    >>> r.update(["a", "b", "c", "d"], [1.0, 0.0, 5.0, float("nan")])
    []
    >>> (r.seen, r.skipped, sorted(r.sample()))
    (2, 2, ['a', 'c'])
    """

    def __init__(self, size: int, seed: int = 0) -> None:
        self.size = check_int("WeightedReservoir", "size", size, minimum=1)
        self.seed = check_int("WeightedReservoir", "seed", seed, minimum=0)
        self.seen = 0
        self.skipped = 0
        self._heap: list[tuple[float, int]] = []  # (log key, slot in _items), smallest first
        self._items: list[Any] = []
        self._rng = np.random.default_rng(seed)
        self._passed = 0.0  # total weight offered since the reservoir filled
        self._target = 0.0  # the total at which the next insertion happens, once full

    def update(self, items: Sequence[Any], weights: Sequence[float] | np.ndarray) -> list[Any]:
        """Offer a batch of items with their weights, in stream order.

        Args:
            items: the batch (only ``len`` and ``items[i]`` for kept positions are used).
            weights: one weight per item.

        Returns:
            ``[]``: the sample is read with :meth:`sample`.

        Raises:
            OperatorError: if there is not exactly one weight per item.
        """
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (len(items),):
            message = (
                f"WeightedReservoir: weights must be one number per item ({len(items)}), "
                f"got shape {w.shape}"
            )
            raise OperatorError(message)
        valid = np.flatnonzero(np.isfinite(w) & (w > 0))
        self.skipped += len(w) - len(valid)
        self.seen += len(valid)
        w = w[valid]
        start = min(self.size - len(self._items), len(valid))
        if start > 0:
            keys = -self._rng.standard_exponential(start) / w[:start]
            for key, position in zip(keys.tolist(), valid[:start].tolist(), strict=True):
                heapq.heappush(self._heap, (key, len(self._items)))
                self._items.append(items[position])
            if len(self._items) == self.size:
                self._target = self._jump()
        if start == len(valid):
            return []
        # np.cumsum adds in order: the totals are those of one running sum over the stream
        passed = np.cumsum(np.concatenate(([self._passed], w[start:])))[1:]
        j = int(np.searchsorted(passed, self._target))
        while j < len(passed):
            self._insert(items[valid[start + j]], float(w[start + j]))
            self._target = float(passed[j]) + self._jump()
            j += 1 + int(np.searchsorted(passed[j + 1 :], self._target))
        self._passed = float(passed[-1])
        return []

    def sample(self) -> list[Any]:
        """The current sample (a new list; its order carries no meaning)."""
        return list(self._items)

    def _jump(self) -> float:
        # Weight to pass before the next insertion: log(u) / log(T) with T the smallest key.
        return float(self._rng.standard_exponential()) / -self._heap[0][0]

    def _insert(self, item: Any, weight: float) -> None:
        # The new key is drawn from u ** (1 / weight) conditioned on beating T: with
        # t = T ** weight, r ~ U(t, 1] and key = r ** (1 / weight), here in logs.
        log_t, slot = self._heap[0]
        u = float(self._rng.random())
        key = math.log1p(math.expm1(weight * log_t) * u) / weight
        heapq.heapreplace(self._heap, (key, slot))
        self._items[slot] = item


class StratifiedReservoir:
    """One uniform reservoir per stratum key, with a bounded number of strata.

    The first ``max_strata`` distinct keys, in stream order, each get their own
    :class:`UniformReservoir` of ``size_per_stratum``. Items of any later new key, of the key
    ``None`` and of the reserved key ``"__overflow__"`` all go to one shared overflow reservoir
    (also of ``size_per_stratum``), reported under the key :data:`OVERFLOW`; a key that has
    overflowed stays in the overflow. Memory is therefore bounded by
    ``(max_strata + 1) * size_per_stratum`` items.

    Args:
        size_per_stratum: sample size of each stratum and of the overflow (>= 1).
        max_strata: how many keys get a reservoir of their own (>= 1).
        seed: seed from which each stratum's generator seed is derived (>= 0).

    >>> r = StratifiedReservoir(size_per_stratum=2, max_strata=1, seed=0)
    >>> r.update([1, 2, 3, 4], keys=["a", "b", "a", "c"])
    []
    >>> {k: sorted(v) for k, v in r.sample().items()}
    {'a': [1, 3], '__overflow__': [2, 4]}
    """

    def __init__(self, size_per_stratum: int, max_strata: int, seed: int = 0) -> None:
        owner = "StratifiedReservoir"
        self.size_per_stratum = check_int(owner, "size_per_stratum", size_per_stratum, minimum=1)
        self.max_strata = check_int(owner, "max_strata", max_strata, minimum=1)
        self.seed = check_int(owner, "seed", seed, minimum=0)
        self._strata: dict[Hashable, UniformReservoir] = {}
        self._overflow = UniformReservoir(size_per_stratum, child_seed(seed, 0))

    @property
    def seen(self) -> int:
        """How many items were offered, over all strata."""
        return self._overflow.seen + sum(r.seen for r in self._strata.values())

    def update(self, items: Sequence[Any], keys: Sequence[Hashable | None]) -> list[Any]:
        """Offer a batch of items with their stratum keys, in stream order.

        Args:
            items: the batch.
            keys: one hashable stratum key per item.

        Returns:
            ``[]``: the sample is read with :meth:`sample`.

        Raises:
            OperatorError: if there is not exactly one key per item.
        """
        if len(keys) != len(items):
            message = (
                f"StratifiedReservoir: keys must be one per item ({len(items)}), got {len(keys)}"
            )
            raise OperatorError(message)
        names, codes = factorize(keys)
        targets: list[UniformReservoir] = []
        index: dict[int, int] = {}
        destination = np.empty(len(names) + 1, dtype=np.int64)
        for i, reservoir in enumerate([self._reservoir_for(n) for n in names] + [self._overflow]):
            if id(reservoir) not in index:
                index[id(reservoir)] = len(targets)
                targets.append(reservoir)
            destination[i] = index[id(reservoir)]
        # codes == -1 (key None) picks the last entry, the overflow.
        for reservoir, rows in zip(
            targets, positions(destination[codes], len(targets)), strict=True
        ):
            reservoir.update([items[i] for i in rows.tolist()])
        return []

    def sample(self) -> dict[Hashable, list[Any]]:
        """The sample of each stratum, in order of first appearance, then the overflow's."""
        out = {key: r.sample() for key, r in self._strata.items()}
        if self._overflow.seen:
            out[OVERFLOW] = self._overflow.sample()
        return out

    def merge(self, other: StratifiedReservoir) -> StratifiedReservoir:
        """Stratified sample of the union of this reservoir's stream and ``other``'s.

        Shared keys merge their reservoirs; ``other``'s new keys are added in its order of
        first appearance while fewer than ``max_strata`` keys have a reservoir, and merged into
        the overflow after that (a sample of a key's stream merged into the overflow's is a
        uniform sample of their union). Neither input changes.

        Args:
            other: a stratified reservoir with the same ``size_per_stratum``.

        Returns:
            A new reservoir with this one's settings.

        Raises:
            OperatorError: if ``other`` is not a StratifiedReservoir of the same size.
        """
        if (
            not isinstance(other, StratifiedReservoir)
            or other.size_per_stratum != self.size_per_stratum
        ):
            message = (
                "StratifiedReservoir: merge expects a StratifiedReservoir with "
                f"size_per_stratum {self.size_per_stratum}"
            )
            raise OperatorError(message)
        out = copy.deepcopy(self)
        out._overflow = out._overflow.merge(other._overflow)
        for key, theirs in other._strata.items():
            if key in out._strata:
                out._strata[key] = out._strata[key].merge(theirs)
            elif len(out._strata) < out.max_strata:
                out._strata[key] = copy.deepcopy(theirs)
            else:
                out._overflow = out._overflow.merge(theirs)
        return out

    def _reservoir_for(self, key: Hashable) -> UniformReservoir:
        reservoir = self._strata.get(key)
        if reservoir is not None:
            return reservoir
        if key == OVERFLOW or len(self._strata) >= self.max_strata:
            return self._overflow
        reservoir = UniformReservoir(
            self.size_per_stratum, child_seed(self.seed, len(self._strata) + 1)
        )
        self._strata[key] = reservoir
        return reservoir
