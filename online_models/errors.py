"""The error class of riverbed's model side (under :class:`operators.errors.RiverbedError`)."""

from __future__ import annotations

from operators.errors import RiverbedError

__all__ = ["ModelError"]


class ModelError(RiverbedError):
    """A bad model setting or model checkpoint; the message names the model, the setting and
    what was expected (exit code 2)."""

    exit_code = 2
