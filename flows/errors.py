"""The errors of :mod:`flows`, each with the command line's exit code.

All derive from :class:`FlowError`, itself under the project's root
:class:`operators.errors.RiverbedError`:

- :class:`ConfigError` (exit code 2): the configuration file cannot be read or does not
  validate (every problem at once, one line each).
- :class:`OptionsError` (2): a command-line option is invalid (``replay --from``,
  ``--warm-start``, ``init``'s data file).
- :class:`CheckpointError` (2): the recovery store (``checkpoint.directory``) cannot be used.
- :class:`SourceError` (1): the source cannot start or read; names the broker, topic or file.
- :class:`SinkError` (1): a sink could not write a record; names the sink and the record.
- :class:`BrokerError` (1): the embedded broker could not start or answer.

>>> err = ConfigError(["job.nmae: unknown key; did you mean 'name'?"], "job.toml")
>>> err.exit_code, err.lines()
(2, ["job.toml: job.nmae: unknown key; did you mean 'name'?"])
"""

from __future__ import annotations

from collections.abc import Sequence

from operators.errors import RiverbedError

__all__ = [
    "FlowError",
    "ConfigError",
    "OptionsError",
    "CheckpointError",
    "SourceError",
    "SinkError",
    "BrokerError",
]


class FlowError(RiverbedError):
    """An error of a job's wiring, inputs or outputs (exit code 1 unless a subclass says)."""


class ConfigError(FlowError):
    """The configuration is invalid; ``problems`` lists each as ``"key: what was expected"``.

    ``path`` is the configuration file, when there is one; the command line prints one line per
    problem, prefixed by it.
    """

    exit_code = 2

    def __init__(self, problems: str | Sequence[str], path: str = "") -> None:
        self.problems = [problems] if isinstance(problems, str) else sorted(problems)
        self.path = path
        n = len(self.problems)
        listing = "\n".join(f"  - {p}" for p in self.problems)
        where = f" {path}" if path else ""
        super().__init__(f"configuration{where} has {n} error{'s' if n > 1 else ''}:\n{listing}")

    def lines(self) -> list[str]:
        prefix = f"{self.path}: " if self.path else ""
        return [f"{prefix}{' '.join(p.split())}" for p in self.problems]


class OptionsError(FlowError):
    """A command-line option is invalid; the message names the option and what was expected."""

    exit_code = 2


class CheckpointError(FlowError):
    """The recovery store cannot be used; the message names the directory and why."""

    exit_code = 2


class SourceError(FlowError):
    """The source cannot start or read: the message names the broker, topic or file."""


class SinkError(FlowError):
    """A sink could not write a record; the message names the sink and the record."""


class BrokerError(FlowError):
    """The embedded broker could not start or answer."""
