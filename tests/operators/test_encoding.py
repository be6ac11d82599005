"""Encoders: exact outputs of the capped vocabularies, River's one-hot as an oracle, hashing
checked against hashlib directly."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from river import preprocessing

from operators.encoding import OTHER, FeatureHasher, OneHotEncoder, OrdinalEncoder, Vocabulary
from operators.errors import OperatorError
from tests.cuts import check_cut_invariance

ROOT = Path(__file__).resolve().parents[2]


def test_one_hot_cap_overflow_and_missing() -> None:
    enc = OneHotEncoder(max_categories=2)
    out = enc.transform_then_learn("c", ["x", None, "y", "z", "x", "__other__", "z"])
    expected = np.zeros((7, 3))
    expected[[0, 4], 0] = 1.0  # x: slot 0
    expected[2, 1] = 1.0  # y: slot 1
    expected[[3, 5, 6], 2] = 1.0  # z (cap reached) and the literal "__other__": overflow
    np.testing.assert_array_equal(out, expected)
    assert enc.names("c") == ("c=x", "c=y", "c=__other__")
    assert enc.categories("c") == ["x", "y"]


def test_one_hot_names_fill_placeholders_in_order() -> None:
    enc = OneHotEncoder(max_categories=3)
    assert enc.names("f") == ("f=__slot0__", "f=__slot1__", "f=__slot2__", "f=__other__")
    enc.transform_then_learn("f", ["b"])
    assert enc.names("f") == ("f=b", "f=__slot1__", "f=__slot2__", "f=__other__")
    enc.transform_then_learn("f", ["a", "b"])
    assert enc.names("f") == ("f=b", "f=a", "f=__slot2__", "f=__other__")
    assert enc.transform_then_learn("g", []).shape == (0, 4)


def test_one_hot_min_count() -> None:
    enc = OneHotEncoder(max_categories=2, min_count=3)
    first = enc.transform_then_learn("c", ["a", "b", "a", "b"])
    assert first.argmax(axis=1).tolist() == [2, 2, 2, 2]  # nobody has 3 occurrences yet
    second = enc.transform_then_learn("c", ["b", "a", "c", "a", "c", "c", "d"])
    # b reaches 3 first (slot 0), then a (slot 1); c reaches 3 when the slots are gone
    assert second.argmax(axis=1).tolist() == [0, 1, 2, 1, 2, 2, 2]
    assert enc.names("c") == ("c=b", "c=a", "c=__other__")


def _vocabulary_oracle(
    values: list[str | None], max_categories: int, min_count: int
) -> tuple[list[int], list[str], dict[str, int]]:
    """The module's rule, one value at a time in plain Python: codes, slots, pending counts."""
    slots: dict[str, int] = {}
    pending: dict[str, int] = {}
    codes = []
    for v in values:
        if v is None:
            codes.append(-1)
        elif v in slots:
            codes.append(slots[v])
        elif v == OTHER or len(slots) == max_categories:
            codes.append(max_categories)
        elif pending.get(v, 0) + 1 >= min_count:
            pending.pop(v, None)
            slots[v] = len(slots)
            codes.append(slots[v])
            if len(slots) == max_categories:
                pending.clear()
        else:
            codes.append(max_categories)
            if v in pending:
                pending[v] += 1
            elif len(pending) < 10 * max_categories:
                pending[v] = 1
            else:  # Misra-Gries
                pending = {k: c - 1 for k, c in pending.items() if c > 1}
    return codes, list(slots), pending


def _zipf_values(n: int, seed: int, modulo: int, uniform: bool = False) -> list[str | None]:
    rng = np.random.default_rng(seed)
    raw = (rng.integers(0, modulo, n) if uniform else rng.zipf(1.3, n) % modulo).tolist()
    return [None if v == 0 else OTHER if v == 1 else f"v{v}" for v in raw]


@pytest.mark.parametrize(
    ("max_categories", "min_count", "modulo", "uniform"),
    [
        (10, 4, 40, False),
        (3, 5, 500, False),
        (8, 1, 100, False),
        (2, 30, 1000, False),
        (5, 12, 1000, True),
    ],
)
def test_vocabulary_follows_the_rule_one_value_at_a_time_for_any_cut(
    max_categories: int, min_count: int, modulo: int, uniform: bool
) -> None:
    # modulo 500 and 1000: far more categories below min_count than the pending table holds;
    # the uniform case never fills its slots and keeps overflowing its pending table
    values = _zipf_values(4000, max_categories, modulo, uniform)
    codes = check_cut_invariance(
        lambda: Vocabulary(max_categories, min_count),
        lambda v, a, b: v.encode_then_learn(values[a:b]),
        len(values),
    )
    want_codes, want_slots, want_pending = _vocabulary_oracle(values, max_categories, min_count)
    assert codes.tolist() == want_codes
    vocabulary = Vocabulary(max_categories, min_count)
    vocabulary.encode_then_learn(values)
    assert vocabulary.categories == want_slots
    assert vocabulary._pending == want_pending


def test_one_hot_and_hashing_give_the_same_bits_for_any_cut() -> None:
    values = _zipf_values(3000, 0, 200)
    other = _zipf_values(3000, 1, 7)
    check_cut_invariance(
        lambda: OneHotEncoder(max_categories=6, min_count=3),
        lambda enc, a, b: enc.transform_then_learn("f", values[a:b]),
        len(values),
    )
    check_cut_invariance(
        lambda: FeatureHasher(width=8, seed=5),
        lambda h, a, b: h.transform({"f": values[a:b], "g": other[a:b]}),
        len(values),
    )


def test_one_hot_matches_river_within_the_cap() -> None:
    # Below the cap and with min_count 1, the active column of each row is River's.
    rng = np.random.default_rng(1)
    rows = [{"a": f"a{rng.integers(5)}", "b": f"b{rng.integers(8)}"} for _ in range(300)]
    river = preprocessing.OneHotEncoder(drop_zeros=True)
    ours = OneHotEncoder(max_categories=8)
    blocks = {f: ours.transform_then_learn(f, [r[f] for r in rows]) for f in ("a", "b")}
    for i, row in enumerate(rows):
        river.learn_one(row)
        want = {name.replace("_", "=", 1) for name, v in river.transform_one(row).items() if v}
        got = {ours.names(f)[j] for f, block in blocks.items() for j in np.flatnonzero(block[i])}
        assert got == want


def test_ordinal_codes() -> None:
    enc = OrdinalEncoder(max_categories=2, min_count=2)
    codes = enc.transform_then_learn("c", ["p", "q", "p", None, "q", "r", "r", "p"])
    assert codes.tolist() == [2, 2, 0, -1, 1, 2, 2, 0]
    assert enc.transform_then_learn("other", ["z"]).tolist() == [2]  # below min_count
    assert enc.categories("c") == ["p", "q"] and enc.categories("never") == []


def _oracle(feature: str, value: str, width: int, seed: int) -> tuple[int, float]:
    digest = hashlib.blake2b(
        f"{feature}={value}".encode(), digest_size=8, key=seed.to_bytes(8, "little")
    ).digest()
    h = int.from_bytes(digest, "little")
    return h % width, (-1.0 if h >= 2**63 else 1.0)


def test_hasher_exact_against_hashlib() -> None:
    hasher = FeatureHasher(width=16, seed=7)
    columns = {"color": ["red", "blue", None, "red"], "size": ["S", "M", "L", None]}
    expected = np.zeros((4, 16))
    for feature, values in columns.items():
        for i, value in enumerate(values):
            if value is not None:
                j, sign = _oracle(feature, value, 16, 7)
                expected[i, j] += sign
    np.testing.assert_array_equal(hasher.transform(columns), expected)
    assert hasher.names()[:2] == ("hashed[0]", "hashed[1]")


def test_hasher_is_stable_across_processes_and_depends_on_the_seed() -> None:
    code = (
        "from operators.encoding import FeatureHasher;"
        "print([FeatureHasher(1000, 3).column_and_sign('f', v) for v in 'abc'])"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": str(seed), "PYTHONPATH": str(ROOT)},
        ).stdout
        for seed in (1, 2)
    }
    assert runs == {str([FeatureHasher(1000, 3).column_and_sign("f", v) for v in "abc"]) + "\n"}
    values = [str(i) for i in range(50)]
    a = [FeatureHasher(1000, 0).column_and_sign("f", v) for v in values]
    b = [FeatureHasher(1000, 1).column_and_sign("f", v) for v in values]
    assert sum(x != y for x, y in zip(a, b, strict=True)) > 40


def test_hasher_rejects_ragged_columns() -> None:
    with pytest.raises(OperatorError, match="FeatureHasher: columns must have the same length"):
        FeatureHasher(4).transform({"a": ["x"], "b": ["y", "z"]})
    assert FeatureHasher(4).transform({}).shape == (0, 4)


def test_settings_are_checked() -> None:
    with pytest.raises(OperatorError, match="OneHotEncoder: max_categories must be an int >= 1"):
        OneHotEncoder(0)
    with pytest.raises(OperatorError, match="OrdinalEncoder: min_count must be an int >= 1"):
        OrdinalEncoder(3, min_count=0)
    assert OTHER == "__other__"
