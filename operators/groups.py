"""Group the rows of a batch by a key, in the order the keys first appear.

Keys are arbitrary hashable values (category strings, stratum keys); ``None`` means missing.
Coding them is the one per-row step in Python (dict lookups in C loops); everything after it
works on integer arrays.

>>> keys, codes = factorize(["b", "a", None, "b"])
>>> keys, codes.tolist()
(['b', 'a'], [0, 1, -1, 0])
>>> [p.tolist() for p in positions(codes, len(keys))]
[[0, 3], [1]]
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

__all__ = ["factorize", "positions"]


def factorize(values: Sequence[Hashable | None]) -> tuple[list[Hashable], np.ndarray]:
    """Code values by order of first appearance.

    Args:
        values: hashable values; ``None`` marks a missing value.

    Returns:
        The distinct values in order of first appearance, and an int64 array giving for each
        value its index in that list (-1 for ``None``).

    >>> factorize([3, 3, 1])[1].tolist()
    [0, 0, 1]
    """
    distinct = dict.fromkeys(values)  # in order of first appearance
    distinct.pop(None, None)
    index: dict[Hashable | None, int] = {v: i for i, v in enumerate(distinct)}
    index[None] = -1
    codes = np.fromiter(map(index.__getitem__, values), dtype=np.int64, count=len(values))
    return list(distinct), codes


def positions(codes: np.ndarray, n_groups: int) -> list[np.ndarray]:
    """Row positions of each code ``0 .. n_groups - 1``, each in increasing (stream) order.

    Args:
        codes: integer codes, one per row; negative codes are left out.
        n_groups: how many codes there are.

    Returns:
        One int64 array of row positions per code.

    >>> [p.tolist() for p in positions(np.array([1, -1, 0, 1]), 2)]
    [[2], [0, 3]]
    """
    if n_groups == 0:
        return []
    kept = np.flatnonzero(codes >= 0)
    order = kept[np.argsort(codes[kept], kind="stable")]
    counts = np.bincount(codes[kept], minlength=n_groups)
    return np.split(order, np.cumsum(counts)[:-1])
