"""riverbed's exception root, the error class of :mod:`operators`, and the argument checks
that raise it.

Every riverbed error derives from :class:`RiverbedError` and carries the exit code of the
command line (``exit_code``): 2 when the configuration, a command-line option or a checkpoint
is wrong (nothing ran, or the job refused to start), 1 when the job failed at run time. Each
package has its own subclass: :class:`OperatorError` here (a bad setting or use of a step),
``online_models.errors.ModelError``, and the classes of ``flows.errors`` (configuration,
options, checkpoints, sources, sinks, the broker). :class:`StepError` is what a step's
unexpected exception becomes: the step's name, the exception, exit code 1.

Every error message names the operator, the setting or field, and what was expected, e.g.
``UniformReservoir: size must be an int >= 1, got 0``.

>>> check_int("UniformReservoir", "size", 0, minimum=1)
Traceback (most recent call last):
...
operators.errors.OperatorError: UniformReservoir: size must be an int >= 1, got 0
>>> OperatorError("x").exit_code, StepError("learn", KeyError("y")).exit_code
(2, 1)
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

__all__ = [
    "RiverbedError",
    "OperatorError",
    "StepError",
    "check_int",
    "check_choice",
    "check_float",
]


class RiverbedError(Exception):
    """The root of riverbed's errors; ``exit_code`` is the command line's exit code for it.

    Its message is what the user reads: one line naming the step, the setting or the record,
    and what was expected. :meth:`lines` is how the command line prints it.
    """

    exit_code = 1

    def lines(self) -> list[str]:
        """The error as the lines the command line prints, one per problem."""
        return [" ".join(str(self).split())]


class OperatorError(RiverbedError):
    """A configuration or usage error of an operator (bad setting, mismatched input)."""

    exit_code = 2


class StepError(RiverbedError):
    """An exception a step did not expect, raised while it ran; the message names the step.

    ``step`` is the step's name and ``__cause__`` the original exception.

    >>> str(StepError("learn", KeyError("price")))
    "step learn failed: KeyError: 'price'"
    """

    exit_code = 1

    def __init__(self, step: str, error: BaseException) -> None:
        detail = str(error)
        what = f"{type(error).__name__}: {detail}" if detail else type(error).__name__
        super().__init__(f"step {step} failed: {what}")
        self.step = step
        self.__cause__ = error


def check_int(owner: str, name: str, value: Any, minimum: int) -> int:
    """Return ``value`` if it is an int (not a bool) at least ``minimum``, else raise.

    Args:
        owner: the operator's name, used in the message.
        name: the setting's name, used in the message.
        value: the value to check.
        minimum: the smallest allowed value.

    Returns:
        ``value`` unchanged.

    Raises:
        OperatorError: if ``value`` is not an int or is below ``minimum``.

    >>> check_int("X", "k", 3, minimum=1)
    3
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        message = f"{owner}: {name} must be an int >= {minimum}, got {value!r}"
        raise OperatorError(message)
    return value


def check_float(owner: str, name: str, value: Any, minimum: float) -> float:
    """Return ``value`` as a float if it is a finite real number above ``minimum``, else raise.

    Args:
        owner: the operator's name, used in the message.
        name: the setting's name, used in the message.
        value: the value to check.
        minimum: ``value`` must be strictly greater than this.

    Returns:
        ``float(value)``.

    Raises:
        OperatorError: if ``value`` is not a finite number greater than ``minimum``.

    >>> check_float("X", "clip", 3, minimum=0.0)
    3.0
    """
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value <= minimum:
        message = f"{owner}: {name} must be a finite number > {minimum}, got {value!r}"
        raise OperatorError(message)
    return float(value)


def check_choice(owner: str, name: str, value: Any, choices: Collection[str]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise.

    Args:
        owner: the operator's name, used in the message.
        name: the setting's name, used in the message.
        value: the value to check.
        choices: the allowed values.

    Returns:
        ``value`` unchanged.

    Raises:
        OperatorError: if ``value`` is not in ``choices``.

    >>> check_choice("X", "kind", "b", ("a", "b"))
    'b'
    """
    if value not in choices:
        expected = ", ".join(repr(c) for c in choices)
        message = f"{owner}: {name} must be one of {expected}, got {value!r}"
        raise OperatorError(message)
    return str(value)
