"""LatenessFilter: late events become dead letters, the rest pass in order; the state is the
watermark (pickling and no mutation: tests/test_step_contract.py)."""

from __future__ import annotations

import pytest

from operators.errors import OperatorError
from operators.lateness import LatenessFilter
from operators.records import Batch, Event


def batch(*times: int) -> Batch:
    return Batch(events=tuple(Event(f"e{t}", t, {"x": float(t)}, f"t/0@{t}") for t in times))


def test_out_of_order_within_the_lateness_passes_and_later_is_a_dead_letter():
    f = LatenessFilter(allowed_lateness_ms=10)
    (out,) = f.update(batch(100, 91, 90, 89, 120))
    assert [e.ts_ms for e in out.events] == [100, 91, 90, 120]
    assert [(d.kind, d.source) for d in out.dead_letters] == [("late_event", "t/0@89")]
    assert out.dead_letters[0].id == "t/0@89"
    (out,) = f.update(batch(110, 109))  # the watermark is 120 now
    assert [e.ts_ms for e in out.events] == [110] and f.late == 2 and f.watermark_ms == 120


def test_zero_lateness_turns_away_anything_behind_and_nothing_else():
    f = LatenessFilter(0)
    (out,) = f.update(batch(5, 5, 4, 6))
    assert [e.ts_ms for e in out.events] == [5, 5, 6]


def test_a_batch_without_late_events_is_passed_on_as_it_is():
    f = LatenessFilter(1000)
    b = batch(1, 2, 3)
    assert f.update(b)[0] is b


@pytest.mark.parametrize("bad", [-1, 1.5, True, "10"])
def test_the_lateness_must_be_a_non_negative_integer(bad):
    with pytest.raises(OperatorError, match="allowed_lateness_ms"):
        LatenessFilter(bad)
