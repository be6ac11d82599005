"""Graceful stop: SIGTERM or SIGINT end the job's input, and the dataflow completes normally.

Bytewax 0.21.1 has no API to stop a running dataflow cleanly: its own Ctrl-C handling aborts the
workers without a final snapshot. So :func:`handle_signals` installs handlers that only set a
flag; every source partition of :mod:`flows.sources` checks :func:`requested` before it reads
a batch and, once it is set, ends its input (``StopIteration``). The dataflow then completes as
if the input had ended: the batches in flight are finished, Bytewax writes the final recovery
snapshot (the source positions of the last batch handed over, every step's state), the steps'
``on_eof`` run (the report emits the run summary), and ``riverbed run`` exits 0. Resuming
continues exactly after the last batch of the stopped run.

A second signal stops the process at once (the signal's default action): nothing more is
written, and the next run resumes from the last snapshot taken.

``on_eof`` therefore means "this execution's input ends", not "the stream is over". A step
whose ``on_eof`` changes its state must not do so when :func:`requested` is true: see
:class:`StopAwareLabelDelay`, which keeps its held labels on a stop (they belong to events
that come after the stop) and releases them only at the real end of a bounded input.

>>> reset(); requested(), reason()
(False, None)
>>> request("test"); requested(), reason()
(True, 'test')
>>> reset()
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from operators.label_delay import LabelDelay
from operators.records import Batch

__all__ = ["handle_signals", "request", "requested", "reason", "reset", "StopAwareLabelDelay"]

_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_state: dict[str, str | None] = {"reason": None}


def request(why: str) -> None:
    """Ask the running job to stop after the batch in hand (what a signal handler does)."""
    if _state["reason"] is None:
        _state["reason"] = why


def requested() -> bool:
    """Whether a graceful stop was asked for."""
    return _state["reason"] is not None


def reason() -> str | None:
    """Why the job was asked to stop (``"SIGTERM"``, ``"SIGINT"``), None if it was not."""
    return _state["reason"]


def reset() -> None:
    """Forget a stop request (a new job in the same process starts afresh)."""
    _state["reason"] = None


def _on_signal(signum: int, frame: object) -> None:
    name = signal.Signals(signum).name
    if requested():
        # The second signal: stop at once, with the signal's default action.
        for sig in _SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    request(name)
    print(
        f"riverbed: {name} received: stopping after the current batch (final snapshot, run "
        "summary); send it again to stop at once",
        file=sys.stderr,
        flush=True,
    )


@contextmanager
def handle_signals() -> Iterator[None]:
    """Within the block, SIGTERM and SIGINT request a graceful stop (main thread only).

    The stop flag is cleared on entry; the previous handlers are restored on exit.
    """
    reset()
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, Any] = {sig: signal.getsignal(sig) for sig in _SIGNALS}
    for sig in _SIGNALS:
        signal.signal(sig, _on_signal)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class StopAwareLabelDelay(LabelDelay):
    """:class:`~operators.label_delay.LabelDelay` that keeps its held labels on a graceful stop.

    At the real end of a bounded input the held labels are released (learned after the last
    predictions, as River's ``progressive_val_score`` does); at a stop they stay in the state,
    so the resumed run releases them where an uninterrupted run would.
    """

    def on_eof(self) -> list[Batch]:
        if requested():
            return []
        return super().on_eof()
