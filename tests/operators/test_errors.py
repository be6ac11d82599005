"""Argument checks: what passes, and messages that name the operator, setting and expectation."""

from __future__ import annotations

import math

import pytest

from operators.errors import (
    OperatorError,
    RiverbedError,
    StepError,
    check_choice,
    check_float,
    check_int,
)


def test_errors_derive_from_the_root_with_their_exit_codes() -> None:
    assert issubclass(OperatorError, RiverbedError) and OperatorError.exit_code == 2
    error = StepError("learn", ZeroDivisionError("division by zero"))
    assert error.exit_code == 1 and isinstance(error.__cause__, ZeroDivisionError)
    assert error.lines() == ["step learn failed: ZeroDivisionError: division by zero"]


@pytest.mark.parametrize("value", [0, -3, 2.0, True, "3", None])
def test_check_int_rejects(value: object) -> None:
    with pytest.raises(OperatorError, match=r"^Op: size must be an int >= 1, got "):
        check_int("Op", "size", value, minimum=1)


@pytest.mark.parametrize("value", [0.0, -1, math.inf, math.nan, False, "1"])
def test_check_float_rejects(value: object) -> None:
    with pytest.raises(OperatorError, match=r"^Op: clip must be a finite number > 0.0, got "):
        check_float("Op", "clip", value, minimum=0.0)


def test_checks_pass_good_values() -> None:
    assert check_int("Op", "size", 1, minimum=1) == 1
    assert check_float("Op", "clip", 2, minimum=0.0) == 2.0
    assert check_choice("Op", "kind", "a", ("a", "b")) == "a"
    with pytest.raises(OperatorError, match="^Op: kind must be one of 'a', 'b', got 'c'$"):
        check_choice("Op", "kind", "c", ("a", "b"))
