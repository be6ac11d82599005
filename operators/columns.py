"""The base of the column-wise operators, which work on float matrices (n_events x n_columns).

The first batch sets the number of columns; a later batch of another width is a usage error.
A missing value is NaN.

>>> class Double(ColumnOperator):
...     def run(self, matrix):
...         return 2 * self._matrix(matrix)
>>> d = Double()
>>> d.run([[1.0, 2.0]]).tolist(), d.width
([[2.0, 4.0]], 2)
>>> d.run([[1.0]])
Traceback (most recent call last):
...
operators.errors.OperatorError: Double: input must be a 2-D array of 2 columns, got shape (1, 1)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from operators.errors import OperatorError

__all__ = ["ColumnOperator"]


class ColumnOperator:
    """Remembers the width of the first matrix and checks every later one against it.

    Attributes:
        width: the number of columns, or None before the first batch.
    """

    width: int | None = None

    def _matrix(self, matrix: Any) -> np.ndarray:
        """Return ``matrix`` as a 2-D float64 array of the operator's width, else raise.

        The array is the input itself when it already is one; operators never write into it.
        """
        owner = type(self).__name__
        try:
            array = np.asarray(matrix, dtype=np.float64)
        except (TypeError, ValueError) as error:
            message = f"{owner}: input must be a 2-D array of numbers ({error})"
            raise OperatorError(message) from None
        if array.ndim != 2 or (self.width is not None and array.shape[1] != self.width):
            columns = "any number of" if self.width is None else str(self.width)
            message = (
                f"{owner}: input must be a 2-D array of {columns} columns, got shape {array.shape}"
            )
            raise OperatorError(message)
        self.width = array.shape[1]
        return array
