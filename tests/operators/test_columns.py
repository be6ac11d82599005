"""The fixed-width rule shared by the column-wise operators."""

from __future__ import annotations

import numpy as np
import pytest

from operators.errors import OperatorError
from operators.scaling import MinMaxScaler


def test_width_is_set_by_the_first_batch_and_enforced() -> None:
    scaler = MinMaxScaler()
    assert scaler.width is None
    scaler.transform_then_learn(np.zeros((0, 3)))
    assert scaler.width == 3
    with pytest.raises(OperatorError, match="MinMaxScaler: input must be a 2-D array of 3 col"):
        scaler.transform_then_learn(np.zeros((2, 4)))
    with pytest.raises(OperatorError, match="MinMaxScaler: input must be a 2-D array of 3 col"):
        scaler.transform_then_learn(np.zeros(3))


def test_non_numbers_are_reported() -> None:
    with pytest.raises(OperatorError, match="MinMaxScaler: input must be a 2-D array of numbers"):
        MinMaxScaler().transform_then_learn([["a"]])
