"""Group the rows of a batch by a key, in the order the keys first appear.

Keys are arbitrary hashable values (category strings, stratum keys); ``None`` means missing.
Coding them is the one per-row Python loop (a dict lookup per row); everything after it works on
integer arrays.

>>> keys, codes = factorize(["b", "a", None, "b"])
>>> keys, codes.tolist()
(['b', 'a'], [0, 1, -1, 0])
>>> occurrences(codes).tolist()
[0, 0, 0, 1]
>>> [p.tolist() for p in positions(codes, len(keys))]
[[0, 3], [1]]
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

__all__ = ["factorize", "occurrences", "positions"]


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
    index: dict[Hashable, int] = {}
    codes = [-1 if v is None else index.setdefault(v, len(index)) for v in values]
    return list(index), np.array(codes, dtype=np.int64)


def occurrences(codes: np.ndarray) -> np.ndarray:
    """Number of earlier rows with the same code, for each row.

    Args:
        codes: integer codes, one per row.

    Returns:
        An int64 array: 0 for the first row of each code, 1 for the second, and so on.

    >>> occurrences(np.array([5, 5, 2, 5])).tolist()
    [0, 1, 0, 2]
    """
    n = len(codes)
    order = np.argsort(codes, kind="stable")
    ordered = codes[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    run_start = np.repeat(starts, np.diff(np.r_[starts, n]))
    out = np.empty(n, dtype=np.int64)
    out[order] = np.arange(n) - run_start
    return out


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
