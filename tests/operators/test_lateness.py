"""LatenessFilter: late events become dead letters, the rest pass in order; the state is the
watermark (pickling and no mutation: tests/test_step_contract.py)."""

from __future__ import annotations

import numpy as np
import pytest

from operators.errors import OperatorError
from operators.lateness import LatenessFilter
from operators.records import Batch, Events


def batch(*times: int) -> Batch:
    return Batch(
        events=Events.of(
            [{"x": float(t)} for t in times], ["x"],
            ids=[f"e{t}" for t in times], ts_ms=times, sources=[f"t/0@{t}" for t in times],
        )
    )  # fmt: skip


def test_out_of_order_within_the_lateness_passes_and_later_is_a_dead_letter():
    f = LatenessFilter(allowed_lateness_ms=10)
    (out,) = f.update(batch(100, 91, 90, 89, 120))
    assert out.events.ts_ms.tolist() == [100, 91, 90, 120]
    assert [(d.kind, d.source) for d in out.dead_letters] == [("late_event", "t/0@89")]
    assert out.dead_letters[0].id == "t/0@89"
    (out,) = f.update(batch(110, 109))  # the watermark is 120 now
    assert out.events.ts_ms.tolist() == [110] and f.late == 2 and f.watermark_ms == 120


def test_zero_lateness_turns_away_anything_behind_and_nothing_else():
    f = LatenessFilter(0)
    (out,) = f.update(batch(5, 5, 4, 6))
    assert out.events.ts_ms.tolist() == [5, 5, 6]


def test_a_batch_without_late_events_is_passed_on_as_it_is():
    f = LatenessFilter(1000)
    b = batch(1, 2, 3)
    assert f.update(b)[0] is b


@pytest.mark.parametrize("bad", [-1, 1.5, True, "10"])
def test_the_lateness_must_be_a_non_negative_integer(bad):
    with pytest.raises(OperatorError, match="allowed_lateness_ms"):
        LatenessFilter(bad)


def test_any_cut_of_the_stream_gives_what_one_event_at_a_time_gives():
    rng = np.random.default_rng(0)
    times = (np.arange(2000) * 5 + rng.integers(-60, 60, 2000)).tolist()
    mark, oracle = None, []  # the rule, one event at a time
    for t in times:
        late = mark is not None and t < mark - 40
        oracle.append(late)
        if not late:
            mark = t if mark is None else max(mark, t)
    for cuts in ([2000], [1] * 2000, [7] * 285 + [5], rng.multinomial(2000, [0.1] * 10)):
        f, start, late = LatenessFilter(40), 0, []
        for size in cuts:
            part = times[start : start + size]
            where = [f"t/0@{start + i}" for i in range(len(part))]
            (out,) = f.update(Batch(events=Events.of([{}] * len(part), ts_ms=part, sources=where)))
            late += [w not in set(out.events.sources) for w in where]
            start += size
        assert late == oracle and f.late == sum(oracle)
