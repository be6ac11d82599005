"""Derived seeds and merge generators are deterministic and distinct."""

from __future__ import annotations

from operators.seeding import child_seed, merge_generator


def test_child_seeds_are_deterministic_and_distinct() -> None:
    seeds = [child_seed(7, i) for i in range(100)]
    assert seeds == [child_seed(7, i) for i in range(100)]
    assert len(set(seeds)) == 100
    assert child_seed(8, 0) != child_seed(7, 0)


def test_merge_generator_depends_on_every_part() -> None:
    draw = merge_generator(1, 2, 3, 4).random()
    assert draw == merge_generator(1, 2, 3, 4).random()
    assert draw != merge_generator(1, 2, 3, 5).random()
    assert draw != merge_generator(2, 1, 3, 4).random()
