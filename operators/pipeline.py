"""A pipeline: steps run in order as one state machine.

Each step is a state machine as :mod:`operators.adapter` describes (``update(item) -> list``,
optionally ``on_tick``, ``on_eof``, ``on_snapshot``, ``on_snapshot_done``). What a step
returns is handed to the next one; what a step emits on a tick or at the end of input goes
through the steps after it. The pipeline is itself such a state machine, so the adapter runs a
whole job's steps as ONE Bytewax step: one snapshot holds every step's state, a step can hold a
reference to another (the model checkpoints save the feature step's state) and it survives the
snapshot as the same object, and a batch pays Bytewax's cost once, not once per step.

An exception a step raises that is not a riverbed error becomes a
:class:`~operators.errors.StepError` naming that step.

>>> class Double:
...     def update(self, x): return [2 * x]
>>> class Split:
...     def update(self, x): return [x, x + 1]
...     def on_eof(self): return [100]
>>> p = Pipeline({"double": Double(), "split": Split(), "again": Double()})
>>> p.update(1), p.on_eof(), type(p["split"]).__name__
([4, 6], [200], 'Split')
>>> Pipeline({"double": Double()}).update(None)
Traceback (most recent call last):
...
operators.errors.StepError: step double failed: TypeError: unsupported operand type(s) for *: \
'int' and 'NoneType'

``seconds`` holds the time each step has spent on items in this process (not in the state).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from itertools import islice
from typing import Any

from operators.errors import RiverbedError, StepError

__all__ = ["Pipeline"]


class Pipeline:
    """Steps, by name, in the order items go through them."""

    def __init__(self, steps: Mapping[str, Any]) -> None:
        self.steps = dict(steps)
        self.seconds = dict.fromkeys(self.steps, 0.0)

    def __getstate__(self) -> dict[str, Any]:
        return {"steps": self.steps}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.steps = state["steps"]
        self.seconds = dict.fromkeys(self.steps, 0.0)

    def __getitem__(self, name: str) -> Any:
        return self.steps[name]

    def __contains__(self, name: str) -> bool:
        return name in self.steps

    def update(self, item: Any) -> list[Any]:
        return self._through(0, [item])

    def on_tick(self, now: float) -> list[Any]:
        return self._emit("on_tick", now)

    def on_eof(self) -> list[Any]:
        return self._emit("on_eof")

    def on_snapshot(self) -> None:
        for step in self.steps.values():
            hook = getattr(step, "on_snapshot", None)
            if hook is not None:
                hook()

    def on_snapshot_done(self, seconds: float, size: int) -> None:
        for step in self.steps.values():
            hook = getattr(step, "on_snapshot_done", None)
            if hook is not None:
                hook(seconds, size)

    def _emit(self, hook: str, *args: Any) -> list[Any]:
        out: list[Any] = []
        for i, (name, step) in enumerate(self.steps.items()):
            method = getattr(step, hook, None)
            if method is not None:
                try:
                    emitted = method(*args)
                except RiverbedError:
                    raise
                except Exception as exc:
                    raise StepError(name, exc) from exc
                out.extend(self._through(i + 1, emitted))
        return out

    def _through(self, start: int, items: list[Any]) -> list[Any]:
        seconds, clock = self.seconds, time.perf_counter
        for name, step in islice(self.steps.items(), start, None):
            if not items:
                break
            began = clock()
            try:
                items = [out for item in items for out in step.update(item)]
            except RiverbedError:
                raise
            except Exception as exc:
                raise StepError(name, exc) from exc
            seconds[name] += clock() - began
        return items
