"""Encoding categorical columns: capped one-hot and ordinal vocabularies, and signed hashing.

Values are hashable (the featurizer gives strings); ``None`` is a missing value and encodes to
nothing (an all-zero one-hot row, ordinal code -1). Unseen categories are never errors.

**Vocabulary rule.** Each feature has ``max_categories`` slots, filled in stream order (first
come, first served) by the categories that reach ``min_count`` occurrences; the occurrence
that reaches ``min_count`` is the first one encoded in the new slot (with ``min_count = 1`` a
category is encoded as itself from its first occurrence, as River's OneHotEncoder does).
Everything else - occurrences before that, categories arriving once the slots are full, and
the literal value ``"__other__"`` - goes to the overflow slot. Counts of categories still
below ``min_count`` are kept for at most ``10 * max_categories`` categories, with the per-item
Misra-Gries rule (an occurrence of a category not counted, when the table is full, lowers
every count by one and drops those at zero), and dropped once all slots are taken. Rows are
processed one at a time in stream order (in a compiled loop over integer codes), so the codes
and the vocabulary's state do not depend on how the stream is cut into batches.

**Fixed width.** A one-hot feature always has ``max_categories + 1`` columns: slot ``j`` is
``f"{feature}={category}"`` once filled and the placeholder ``f"{feature}=__slot{j}__"``
(always 0) before, and the last column is ``f"{feature}=__other__"``. A consumer that needs a
fixed matrix width (a numpy learner) uses the column positions, which never change; a consumer
that wants names (River, through dicts without the zero entries) reads the names of each batch.

>>> enc = OneHotEncoder(max_categories=2)
>>> enc.transform_then_learn("color", ["red", "blue", None, "green", "red"]).tolist()
[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
>>> enc.names("color")
('color=red', 'color=blue', 'color=__other__')
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Mapping, Sequence

import numpy as np
from numba import njit

from operators.errors import OperatorError, check_int
from operators.groups import factorize

__all__ = ["OTHER", "Vocabulary", "OneHotEncoder", "OrdinalEncoder", "FeatureHasher"]

OTHER = "__other__"
"""The overflow category: categories beyond the cap or below ``min_count``."""

_PENDING_PER_SLOT = 10


@njit(cache=True)
def _admit(
    local: np.ndarray,
    slot: np.ndarray,
    table: np.ndarray,
    count: np.ndarray,
    stamp: np.ndarray,
    in_table: np.ndarray,
    n_table: int,
    free: int,
    min_count: int,
    capacity: int,
    overflow: int,
) -> tuple[np.ndarray, np.ndarray]:
    # Codes of a batch, row by row. local: row -> distinct value (-1 missing); slot: distinct ->
    # its slot, -1 if it has none yet, -2 if it never gets one; table: distinct -> entry of the
    # pending-count table. count, stamp (insertion order) and in_table describe the entries.
    codes = np.empty(len(local), dtype=np.int64)
    admitted = np.empty(len(slot), dtype=np.int64)
    n_admitted = 0
    for i in range(len(local)):
        u = local[i]
        if u < 0:
            codes[i] = -1
            continue
        if slot[u] == -1 and free > 0:
            e = table[u]
            seen = count[e] + 1 if in_table[e] else 1
            if seen >= min_count:
                slot[u] = overflow - free
                free -= 1
                admitted[n_admitted] = u
                n_admitted += 1
                if in_table[e]:
                    in_table[e] = False
                    n_table -= 1
            elif in_table[e]:
                count[e] = seen
            elif n_table < capacity:
                in_table[e], count[e], stamp[e] = True, 1, i
                n_table += 1
            else:  # Misra-Gries: the new occurrence cancels one of every counted category
                for f in range(len(count)):
                    if in_table[f]:
                        count[f] -= 1
                        if count[f] == 0:
                            in_table[f] = False
                            n_table -= 1
        codes[i] = slot[u] if slot[u] >= 0 else overflow
    return codes, admitted[:n_admitted]


class Vocabulary:
    """The capped, first-come vocabulary of one categorical feature (see the module rule).

    Args:
        max_categories: how many categories get a slot of their own (>= 1).
        min_count: occurrences a category needs to get a slot (>= 1).

    Attributes:
        categories: the categories that have a slot, by slot.

    >>> v = Vocabulary(max_categories=2, min_count=2)
    >>> v.encode_then_learn(["a", "b", "a", "c", "c", "b", None]).tolist()
    [2, 2, 0, 2, 1, 2, -1]
    >>> v.categories
    ['a', 'c']
    """

    def __init__(self, max_categories: int, min_count: int = 1) -> None:
        self.max_categories = check_int("Vocabulary", "max_categories", max_categories, 1)
        self.min_count = check_int("Vocabulary", "min_count", min_count, 1)
        self.categories: list[Hashable] = []
        self._slots: dict[Hashable, int] = {}
        self._pending: dict[Hashable, int] = {}  # counts below min_count, in insertion order

    def encode_then_learn(self, values: Sequence[Hashable | None]) -> np.ndarray:
        """Slot of each value: 0 .. max_categories-1, ``max_categories`` for the overflow, -1
        for missing; categories that qualify get their slots on the way, in stream order.

        Args:
            values: the batch's values, in stream order.

        Returns:
            An int64 array of codes.
        """
        distinct, local = factorize(values)
        # -1: no slot yet, -2: never gets one (the overflow's own name)
        slots = [self._slots.get(d, -2 if d == OTHER else -1) for d in distinct]
        free = self.max_categories - len(self.categories)
        if free == 0 or -1 not in slots:
            overflow = self.max_categories
            # local -1 (missing) picks the last entry, -1
            return np.array([c if c >= 0 else overflow for c in slots] + [-1])[local]
        slot = np.array(slots, dtype=np.int64)
        # The pending table's entries: the counted categories, then the batch's other values.
        keys = list(self._pending)
        entry = {key: e for e, key in enumerate(keys)}
        table = np.empty(len(distinct), dtype=np.int64)
        for u, d in enumerate(distinct):
            e = entry.get(d)
            if e is None:
                e = entry[d] = len(keys)
                keys.append(d)
            table[u] = e
        counted = len(self._pending)
        count = np.zeros(len(keys), dtype=np.int64)
        count[:counted] = list(self._pending.values())
        stamp = np.arange(len(keys), dtype=np.int64) - counted  # earlier entries first
        in_table = np.arange(len(keys)) < counted
        capacity = _PENDING_PER_SLOT * self.max_categories
        codes, admitted = _admit(
            local,
            slot,
            table,
            count,
            stamp,
            in_table,
            counted,
            free,
            self.min_count,
            capacity,
            self.max_categories,
        )
        for u in admitted.tolist():
            self._slots[distinct[u]] = len(self.categories)
            self.categories.append(distinct[u])
        kept = np.flatnonzero(in_table)
        kept = kept[np.argsort(stamp[kept], kind="stable")]
        full = len(self.categories) == self.max_categories
        self._pending = {} if full else {keys[e]: int(count[e]) for e in kept.tolist()}
        return codes


class _PerFeature:
    """A vocabulary per feature name, created when the feature first appears."""

    def __init__(self, max_categories: int, min_count: int = 1) -> None:
        owner = type(self).__name__
        self.max_categories = check_int(owner, "max_categories", max_categories, minimum=1)
        self.min_count = check_int(owner, "min_count", min_count, minimum=1)
        self.vocabularies: dict[str, Vocabulary] = {}

    def _codes(self, feature: str, values: Sequence[Hashable | None]) -> np.ndarray:
        vocabulary = self.vocabularies.get(feature)
        if vocabulary is None:
            vocabulary = Vocabulary(self.max_categories, self.min_count)
            self.vocabularies[feature] = vocabulary
        return vocabulary.encode_then_learn(values)

    def categories(self, feature: str) -> list[Hashable]:
        """The categories of ``feature`` that have a slot, by slot (empty if never seen)."""
        vocabulary = self.vocabularies.get(feature)
        return [] if vocabulary is None else list(vocabulary.categories)


class OneHotEncoder(_PerFeature):
    """One-hot encoding with a capped vocabulary per feature and an overflow column.

    Args:
        max_categories: categories with a column of their own, per feature (>= 1).
        min_count: occurrences a category needs before it gets a column (>= 1).

    >>> enc = OneHotEncoder(max_categories=1)
    >>> enc.transform_then_learn("size", ["S", "M"]).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    >>> enc.names("size"), enc.names("new")
    (('size=S', 'size=__other__'), ('new=__slot0__', 'new=__other__'))
    """

    def transform_then_learn(
        self, feature: str, values: Sequence[Hashable | None], out: np.ndarray | None = None
    ) -> np.ndarray:
        """Encode one feature's batch of values, learning new categories in stream order.

        Args:
            feature: the feature's name (its vocabulary is created on first use).
            values: the batch's values; ``None`` is missing (an all-zero row).
            out: if given, a zero-filled ``len(values) x (max_categories + 1)`` float array
                (e.g. a slice of a larger matrix) that receives the ones, instead of a new one.

        Returns:
            The ``len(values) x (max_categories + 1)`` float array of zeros and ones.
        """
        codes = self._codes(feature, values)
        target = np.zeros((len(codes), self.max_categories + 1)) if out is None else out
        present = np.flatnonzero(codes >= 0)
        target[present, codes[present]] = 1.0
        return target

    def names(self, feature: str) -> tuple[str, ...]:
        """The ``max_categories + 1`` column names of ``feature`` (see the fixed-width rule)."""
        filled = [f"{feature}={c}" for c in self.categories(feature)]
        unused = [f"{feature}=__slot{j}__" for j in range(len(filled), self.max_categories)]
        return (*filled, *unused, f"{feature}={OTHER}")


class OrdinalEncoder(_PerFeature):
    """Integer codes from a capped vocabulary per feature.

    Codes are ``0 .. max_categories-1`` by order of admission, ``max_categories`` for the
    overflow and -1 for a missing value.

    Args:
        max_categories: categories with a code of their own, per feature (>= 1).
        min_count: occurrences a category needs before it gets a code (>= 1).

    >>> enc = OrdinalEncoder(max_categories=2)
    >>> enc.transform_then_learn("city", ["Oslo", "Lima", "Oslo", "Pune", None]).tolist()
    [0, 1, 0, 2, -1]
    """

    def transform_then_learn(self, feature: str, values: Sequence[Hashable | None]) -> np.ndarray:
        """Code one feature's batch of values, learning new categories in stream order.

        Args:
            feature: the feature's name (its vocabulary is created on first use).
            values: the batch's values; ``None`` is missing.

        Returns:
            A new int64 array of codes.
        """
        return self._codes(feature, values)


class FeatureHasher:
    """Signed feature hashing of categorical features into a fixed number of columns.

    The string ``f"{feature}={value}"`` is hashed with BLAKE2b (64-bit digest, keyed by the
    seed), which is stable across processes and Python versions, unlike ``hash()``. The digest
    modulo ``width`` picks the column and its top bit the sign (+1 or -1), so collisions cancel
    out on average. All features share the columns, named ``hashed[j]``.

    Args:
        width: the number of columns (>= 1).
        seed: the hash key (>= 0); another seed gives another, independent hashing.

    >>> h = FeatureHasher(width=4, seed=0)
    >>> m = h.transform({"color": ["red", None], "size": ["S", "S"]})
    >>> m.shape, int(np.abs(m[1]).sum())
    ((2, 4), 1)
    """

    def __init__(self, width: int, seed: int = 0) -> None:
        self.width = check_int("FeatureHasher", "width", width, minimum=1)
        self.seed = check_int("FeatureHasher", "seed", seed, minimum=0)

    def names(self) -> tuple[str, ...]:
        """The column names ``hashed[0] .. hashed[width-1]``."""
        return tuple(f"hashed[{j}]" for j in range(self.width))

    def column_and_sign(self, feature: str, value: Hashable) -> tuple[int, float]:
        """Where ``feature=value`` goes: its column and its sign.

        >>> FeatureHasher(8).column_and_sign("color", "red") == FeatureHasher(8).column_and_sign(
        ...     "color", "red")
        True
        """
        key = self.seed.to_bytes(8, "little")
        data = f"{feature}={value}".encode()
        digest = int.from_bytes(hashlib.blake2b(data, digest_size=8, key=key).digest(), "little")
        return digest % self.width, -1.0 if digest >> 63 else 1.0

    def transform(
        self, columns: Mapping[str, Sequence[Hashable | None]], out: np.ndarray | None = None
    ) -> np.ndarray:
        """Hash a batch: each feature's value adds its sign to its column.

        Args:
            columns: the batch's values by feature name, all of the same length; ``None``
                is missing and adds nothing.
            out: if given, a zero-filled ``n_events x width`` float array (e.g. a slice of a
                larger matrix) that receives the result, instead of a new one.

        Returns:
            The ``n_events x width`` float array.

        Raises:
            OperatorError: if the columns differ in length.
        """
        lengths = {len(values) for values in columns.values()}
        if len(lengths) > 1:
            message = f"FeatureHasher: columns must have the same length, got {sorted(lengths)}"
            raise OperatorError(message)
        n = lengths.pop() if lengths else 0
        target = np.zeros((n, self.width)) if out is None else out
        for feature, values in columns.items():
            distinct, local = factorize(values)
            placed = [self.column_and_sign(feature, d) for d in distinct]
            column = np.array([c for c, _ in placed], dtype=np.int64)
            sign = np.array([s for _, s in placed])
            rows = np.flatnonzero(local >= 0)
            np.add.at(target, (rows, column[local[rows]]), sign[local[rows]])
        return target
