"""The adapter runs a state machine as a recoverable Bytewax step: a run aborted midway and
resumed from its recovery store emits what an uninterrupted run emits."""

from __future__ import annotations

from datetime import timedelta

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSink, TestingSource, run_main

from operators.adapter import stateful_step


class RunningSum:
    def __init__(self) -> None:
        self.total = 0
        self.seen = 0

    def update(self, batch: list[int]) -> list[tuple[int, int]]:
        self.seen += len(batch)
        self.total += sum(batch)
        return [(self.seen, self.total)]

    def on_eof(self) -> list[tuple[str, int]]:
        return [("eof", self.total)]


def flow(items, out):
    f = Dataflow("adapter_test")
    s = op.input("inp", f, TestingSource(items))
    summed = stateful_step("sum", s, RunningSum)
    op.output("out", summed, TestingSink(out))
    return f


def batches():
    return [[i, i + 1, i + 2] for i in range(0, 60, 3)]


def test_resumed_run_equals_uninterrupted_run(tmp_path):
    expected: list = []
    run_main(flow(batches(), expected))

    items = batches()
    aborted = items[:9] + [TestingSource.ABORT()] + items[9:]
    (tmp_path / "recovery").mkdir()
    init_db_dir(tmp_path / "recovery", 1)
    store = RecoveryConfig(tmp_path / "recovery")
    first: list = []
    run_main(flow(aborted, first), epoch_interval=timedelta(0), recovery_config=store)
    assert ("eof", sum(range(60))) not in first  # it really stopped early
    second: list = []
    run_main(flow(aborted, second), epoch_interval=timedelta(0), recovery_config=store)
    # The resumed run continues from the last snapshot: first + second covers the stream once.
    assert second[-1] == expected[-1] == ("eof", sum(range(60)))
    assert [x for x in first + second if x[0] != "eof"] == expected[:-1]
