"""Keep Bytewax's Rust panic reports out of stderr, and unwrap what they carried.

An exception raised inside a Bytewax step comes back from ``cli_main`` as a chain of
``BytewaxRuntimeError`` (``error calling `on_batch` in step "job.pipeline.stateful_batch"``)
around the original exception, after Rust's panic hook has written its report (``thread
'<unnamed>' panicked at src/operators.rs:...``, the payload, a backtrace or a note) straight
to file descriptor 2. :func:`dataflow_error` finds the riverbed error in the chain (or names
the step of a foreign exception with :class:`~operators.errors.StepError`);
:func:`quiet_panics` drops the panic reports from stderr while a command runs, passing every
other line through as it comes (progress lines, warnings).
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from operators.errors import RiverbedError, StepError

__all__ = ["dataflow_error", "quiet_panics"]

_STEP = re.compile(r'in step "([^"]+)"')
_PANIC = re.compile(rb"^thread '.*' panicked at ")


def dataflow_error(error: BaseException, flow_id: str) -> BaseException:
    """The error behind ``error``, raised by ``cli_main`` running the dataflow ``flow_id``.

    The first riverbed error along its causes; else, when Bytewax names the step that raised,
    a :class:`StepError` naming it (without the flow's prefix) around the original exception;
    else ``error`` itself.

    >>> inner = KeyError("price")
    >>> outer = RuntimeError('error calling `mapper` in step "job.enrich.flat_map_batch"')
    >>> outer.__cause__ = inner
    >>> str(dataflow_error(outer, "job"))
    "step enrich failed: KeyError: 'price'"
    """
    step = None
    chain: list[BaseException] = []
    e: BaseException | None = error
    while e is not None and all(e is not seen for seen in chain):
        if isinstance(e, RiverbedError):
            return e
        found = _STEP.search(str(e)) if step is None else None
        if found:
            step = found.group(1).removeprefix(f"{flow_id}.").split(".")[0]
        chain.append(e)
        e = e.__cause__ or e.__context__
    if step is None:
        return error
    return StepError(step, chain[-1])


@contextmanager
def quiet_panics() -> Iterator[None]:
    """Drop Rust's panic reports from file descriptor 2 while the block runs.

    Sets ``RUST_BACKTRACE=0`` so that a report is its first line, the payload and maybe one
    ``note:`` line. Lines go through a pipe read by a thread, which copies every other line
    to the real stderr at once.
    """
    os.environ["RUST_BACKTRACE"] = "0"
    sys.stderr.flush()
    read, write = os.pipe()
    out = os.dup(2)
    saved = os.dup(2)
    os.dup2(write, 2)
    os.close(write)
    copier = threading.Thread(target=_copy, args=(read, out), daemon=True)
    copier.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # the pipe's last write end: the copier sees its end
        os.close(saved)
        copier.join(timeout=2.0)  # a child still holding the pipe keeps it open: do not wait


def _copy(read: int, out: int) -> None:
    tail = 3  # the next part of a report's tail a line may be: 0 payload, 1 note, 2 blank
    with os.fdopen(read, "rb") as pipe, os.fdopen(out, "wb", buffering=0) as err:
        for line in pipe:
            if _PANIC.match(line):
                tail = 0
            elif _in_tail(line, tail):
                tail = 3 if not line.strip() else 1 if tail == 0 else 2
            else:
                tail = 3
                err.write(line)


def _in_tail(line: bytes, tail: int) -> bool:
    """Whether ``line`` is part of a panic report's tail, at part ``tail`` or a later one:
    the payload (any line), a ``note:`` line, a blank line."""
    if tail == 0:
        return True
    return (tail <= 1 and line.startswith(b"note: ")) or (tail <= 2 and not line.strip())
