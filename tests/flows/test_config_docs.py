"""docs/CONFIG.md documents every setting of every table, with its default: the tables are
checked against the settings classes, so a setting added to a step without its line in the
docs (or a default changed without the docs) fails here."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import tomllib

from flows.config import _SECTIONS
from flows.sinks import SinkSettings
from online_models.learner import ModelSettings
from operators.settings import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "CONFIG.md"
TABLES: dict[str, type[Settings]] = {
    **{f"[{name}]": cls for name, cls in _SECTIONS.items()},
    "[[models]]": ModelSettings,
    "[sinks.predictions]": SinkSettings,
}


def documented() -> dict[str, dict[str, str]]:
    """For each table heading of CONFIG.md, its rows: key -> default as written."""
    out: dict[str, dict[str, str]] = {}
    current = None
    for line in DOC.read_text().splitlines():
        heading = re.match(r"## `(\[\[?[\w.]+\]\]?)`", line)
        if heading:
            current = out.setdefault(heading.group(1), {})
            continue
        row = re.match(r"\| `(\w+)` \| ([^|]+) \|", line)
        if row and current is not None:
            current[row.group(1)] = row.group(2).strip()
    return out


def literal(text: str) -> Any:
    """The TOML value of a default written as `code` (None for words like 'none')."""
    if not (text.startswith("`") and text.endswith("`")):
        return None
    return tomllib.loads(f"v = {text.strip('`')}")["v"]


@pytest.mark.parametrize("heading", sorted(TABLES))
def test_every_setting_is_documented_with_its_default(heading: str) -> None:
    cls = TABLES[heading]
    rows = documented().get(heading)
    assert rows is not None, f"docs/CONFIG.md has no table for {heading}"
    assert list(rows) == cls.keys(), f"{heading}: documented keys differ from the settings"
    defaults = cls.defaults()
    for key, text in rows.items():
        default = defaults.get(key)
        if isinstance(default, Settings) or literal(text) is None:
            continue  # a sub-table, or a default told in words ("none", "first model")
        expected = list(default) if isinstance(default, tuple) else default
        assert literal(text) == expected, f"{heading} {key}: the docs say {text}"
