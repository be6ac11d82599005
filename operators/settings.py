"""Settings owned by their step: one frozen dataclass per step holds its defaults once and
validates itself.

A settings class is a frozen dataclass deriving from :class:`Settings`, each field declared
with :func:`setting` (its default and its check). Building one checks every field and then
the class's own cross-field rules (:meth:`Settings.problems`), and raises
:class:`SettingsError` listing every problem. The configuration loader only maps TOML tables
to settings classes with :meth:`Settings.parse`, which collects the problems (unknown keys with
a "did you mean", wrong values, cross-field rules) instead of raising, so a job's whole
configuration is reported at once.

A check is a function of the value that returns None when the value is fine, else what was
expected (``"an integer >= 1"``), or a :class:`Reason` to be shown as it is.

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Window(Settings):
...     size: int = setting(100, at_least(1))
...     kind: str = setting("count", one_of("count", "time"))
>>> Window().size
100
>>> errors: list[str] = []
>>> Window.parse("window", {"size": 0, "kinf": "x"}, errors) is None
True
>>> errors
["window.kinf: unknown key; did you mean 'kind'?", 'window.size: expected an integer >= 1, got 0']
>>> Window(size=0)
Traceback (most recent call last):
...
operators.settings.SettingsError: size: expected an integer >= 1, got 0
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, TypeVar

from operators.errors import OperatorError

__all__ = [
    "Check",
    "Reason",
    "Settings",
    "SettingsError",
    "setting",
    "unknown_key",
    "at_least",
    "integer_in",
    "number_in",
    "one_of",
    "subset_of",
    "string",
    "name",
    "boolean",
    "table",
    "names",
]

Check = Callable[[Any], "str | None"]
S = TypeVar("S", bound="Settings")


class Reason(str):
    """What a check returns when the problem is not "expected X, got Y": shown as it is."""


class SettingsError(OperatorError):
    """Settings that do not validate; ``problems`` lists each as ``"key: what was expected"``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def setting(default: Any = dataclasses.MISSING, check: Check | None = None) -> Any:
    """A settings field: its default (lists and dicts are copied per instance) and its check.
    A default that is itself a :class:`Settings` makes the field a sub-table of that class."""
    meta = {"check": check}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=partial(type(default), default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def unknown_key(where: str, key: str, known: list[str]) -> str:
    """The message for an unknown key, with the closest known key suggested."""
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(known)}"
    return f"{where}{key}: unknown key{hint}"


class Settings:
    """Base of the settings classes (mix into a ``@dataclass(frozen=True)``)."""

    def __post_init__(self) -> None:
        problems: list[str] = []
        bad: list[str] = []
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, list):  # TOML arrays arrive as lists: keep settings hashable
                value = tuple(value)
                object.__setattr__(self, f.name, value)
            nested = f.default if isinstance(f.default, Settings) else None
            if nested is not None and isinstance(value, Mapping):  # a sub-table
                known = type(nested).keys()
                stray = [
                    unknown_key(f"{f.name}.", k, sorted(known)) for k in value if k not in known
                ]
                if stray:
                    problems.extend(stray)
                    bad.append(f.name)
                    continue
                try:
                    value = type(nested)(**value)
                except SettingsError as exc:
                    problems.extend(f"{f.name}.{p}" for p in exc.problems)
                    bad.append(f.name)
                    continue
                object.__setattr__(self, f.name, value)
            if nested is not None and not isinstance(value, type(nested)):
                problems.append(f"{f.name}: expected a table, got {value!r}")
                bad.append(f.name)
                continue
            check = f.metadata.get("check")
            expected = check(value) if check is not None and value is not None else None
            if isinstance(expected, Reason):
                problems.append(f"{f.name}: {expected}")
                bad.append(f.name)
            elif expected is not None:
                problems.append(f"{f.name}: expected {expected}, got {value!r}")
                bad.append(f.name)
        defaults = self.defaults()
        if all(name in defaults for name in bad):
            # The cross-field rules see the defaults in place of the values that failed, so
            # that every problem is reported at once.
            for name in bad:
                object.__setattr__(self, name, defaults[name])
            problems.extend(self.problems())
        if problems:
            raise SettingsError(problems)

    def problems(self) -> list[str]:
        """Cross-field rules, each broken one as ``"key: message"`` (none by default)."""
        return []

    @classmethod
    def keys(cls) -> list[str]:
        """The setting names, in declaration order."""
        return [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Each setting's default (the ones without a default are left out)."""
        out = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if f.default is not dataclasses.MISSING:
                out[f.name] = f.default
            elif f.default_factory is not dataclasses.MISSING:
                out[f.name] = f.default_factory()
        return out

    @classmethod
    def parse(cls: type[S], where: str, raw: Any, errors: list[str]) -> S | None:
        """Build from a TOML table, adding every problem (prefixed ``where.``) to ``errors``;
        None if there was any."""
        if not isinstance(raw, Mapping):
            errors.append(f"{where}: expected a table, got {raw!r}")
            return None
        known = cls.keys()
        before = len(errors)
        errors.extend(unknown_key(f"{where}.", k, sorted(known)) for k in raw if k not in known)
        required = [k for k in known if k not in cls.defaults()]
        missing = [k for k in required if k not in raw]
        errors.extend(f"{where}.{k}: required key is missing" for k in missing)
        if missing:
            return None
        try:
            made = cls(**{k: v for k, v in raw.items() if k in known})
        except SettingsError as exc:
            errors.extend(f"{where}.{p}" for p in exc.problems)
            return None
        return made if len(errors) == before else None


# --- checks ------------------------------------------------------------------------------------


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def at_least(low: int) -> Check:
    """An integer (not a bool) >= ``low``."""

    def check(v: Any) -> str | None:
        ok = isinstance(v, int) and not isinstance(v, bool) and v >= low
        return None if ok else f"an integer >= {low}"

    return check


def integer_in(low: int, high: int) -> Check:
    """An integer (not a bool) in ``[low, high]``."""

    def check(v: Any) -> str | None:
        ok = isinstance(v, int) and not isinstance(v, bool) and low <= v <= high
        return None if ok else f"an integer in [{low}, {high}]"

    return check


def number_in(low: float, high: float = math.inf) -> Check:
    """A number (not a bool) in ``[low, high]``."""

    def check(v: Any) -> str | None:
        ok = _is_number(v) and low <= v <= high
        return None if ok else f"a number in [{low:g}, {high:g}]"

    return check


def one_of(*choices: Any) -> Check:
    """One of ``choices``."""

    def check(v: Any) -> str | None:
        ok = isinstance(v, (str, int, float, bool)) and v in choices
        return None if ok else f"one of {', '.join(map(str, choices))}"

    return check


def subset_of(*choices: str) -> Check:
    """A non-empty list of some of ``choices``."""

    def check(v: Any) -> str | None:
        ok = isinstance(v, (list, tuple)) and bool(v) and all(c in choices for c in v)
        return None if ok else f"a non-empty list of {', '.join(choices)}"

    return check


def string(v: Any) -> str | None:
    """A string (maybe empty)."""
    return None if isinstance(v, str) else "a string"


def name(v: Any) -> str | None:
    """A non-empty string."""
    return None if isinstance(v, str) and v else "a non-empty string"


def boolean(v: Any) -> str | None:
    """true or false."""
    return None if isinstance(v, bool) else "true or false"


def table(v: Any) -> str | None:
    """A TOML table."""
    return None if isinstance(v, Mapping) else "a table"


def names(v: Any) -> str | None:
    """A list of non-empty strings."""
    ok = isinstance(v, (list, tuple)) and all(isinstance(s, str) and s for s in v)
    return None if ok else "a list of non-empty strings"
