"""Errors raised by riverbed's model side."""

from __future__ import annotations

__all__ = ["ModelError"]


class ModelError(ValueError):
    """A bad model setting; the message names the model, the setting and what was expected."""
