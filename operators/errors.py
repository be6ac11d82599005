"""Errors raised by riverbed's operators."""

from __future__ import annotations

__all__ = ["OperatorError"]


class OperatorError(ValueError):
    """A bad setting or input for an operator; the message names the operator and the setting."""
