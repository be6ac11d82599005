"""The one adapter between riverbed's state machines and Bytewax.

A state machine is any picklable object with ``update(item) -> list`` (the only way its state
changes) and, optionally, ``on_tick(now) -> list`` (timers, called about every ``tick``) and
``on_eof() -> list`` (called when the input of this execution ends), ``on_snapshot()``
(called just before each recovery snapshot) and ``on_snapshot_done(seconds, size)`` (called
after it, with the time taken to serialize the state and its size in bytes).
:func:`stateful_step` runs such an object as a Bytewax ``stateful_batch`` step on a single
key: the object itself is the recovery snapshot, so a resumed run continues exactly where the
snapshot was taken.

This is the only module of ``operators`` that imports Bytewax.
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

import bytewax.operators as op
from bytewax.dataflow import Stream
from bytewax.operators import StatefulBatchLogic

__all__ = ["StateMachine", "stateful_step"]

_KEY = "all"


class StateMachine(Protocol):
    def update(self, item: Any) -> list[Any]: ...


class _Logic(StatefulBatchLogic):
    def __init__(self, machine: Any, tick: timedelta | None) -> None:
        self.machine = machine
        self.tick = tick
        self._on_tick = getattr(machine, "on_tick", None)
        self._on_eof = getattr(machine, "on_eof", None)
        self._next = datetime.now(timezone.utc) + tick if tick is not None else None

    def on_batch(self, values: list[Any]) -> tuple[Iterable[Any], bool]:
        out: list[Any] = []
        for value in values:
            out.extend(self.machine.update(value))
        return out, StatefulBatchLogic.RETAIN

    def on_notify(self) -> tuple[Iterable[Any], bool]:
        now = datetime.now(timezone.utc)
        assert self.tick is not None
        self._next = now + self.tick
        out = self._on_tick(now.timestamp()) if self._on_tick is not None else []
        return out, StatefulBatchLogic.RETAIN

    def on_eof(self) -> tuple[Iterable[Any], bool]:
        out = self._on_eof() if self._on_eof is not None else []
        return out, StatefulBatchLogic.RETAIN

    def notify_at(self) -> datetime | None:
        return self._next

    def snapshot(self) -> bytes:
        hook = getattr(self.machine, "on_snapshot", None)
        if hook is not None:
            hook()
        # Pickled bytes are an immutable copy, as Bytewax requires of a snapshot.
        began = time.perf_counter()
        state = pickle.dumps(self.machine, protocol=pickle.HIGHEST_PROTOCOL)
        done = getattr(self.machine, "on_snapshot_done", None)
        if done is not None:
            done(time.perf_counter() - began, len(state))
        return state


def stateful_step(
    step_id: str,
    up: Stream[Any],
    build: Callable[[], Any],
    *,
    tick: timedelta | None = None,
    on_resume: Callable[[Any], None] | None = None,
) -> Stream[Any]:
    """Run the state machine made by ``build`` as a recoverable Bytewax step.

    Args:
        step_id: the step's id; it names the state in the recovery store.
        up: the upstream (unkeyed) stream of items given to ``update``.
        build: makes a fresh state machine; used only when there is no snapshot to resume.
        tick: how often ``on_tick`` is called, if the machine has one.
        on_resume: called with the machine unpickled from a snapshot, before it runs
            (to reattach what does not belong in the state, e.g. a progress printer).

    Returns:
        The stream of what ``update``, ``on_tick`` and ``on_eof`` return, flattened.
    """

    def builder(resume: bytes | None) -> _Logic:
        if resume is None:
            machine = build()
        else:
            machine = pickle.loads(resume)
            if on_resume is not None:
                on_resume(machine)
        return _Logic(machine, tick)

    keyed = op.key_on(f"{step_id}_key", up, lambda _item: _KEY)
    out = op.stateful_batch(step_id, keyed, builder)
    return op.key_rm(f"{step_id}_unkey", out)
