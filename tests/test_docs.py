"""The settings table in docs/configuration.md says what the code does: one row per field of
core.config.Settings, with the default the code has (a reader copies these into `.env`)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from core.config import Settings

CONFIGURATION = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
_ROW = re.compile(r"^\| `STORYFOLD_([A-Z0-9_]+)` \| ([^|]+) \|", re.MULTILINE)


def _documented() -> dict[str, str]:
    table = CONFIGURATION.read_text().split("## Outside `Settings`")[0]
    return {name.lower(): default.strip() for name, default in _ROW.findall(table)}


def _as_written(value: Any) -> str:
    """A default the way the table writes it."""
    if value is None:
        return "unset"
    if value in ("", []):
        return "empty"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def _same(doc: str, value: Any) -> bool:
    if doc == _as_written(value):
        return True
    if isinstance(value, int | float) and not isinstance(value, bool):
        return doc.startswith("`") and float(doc.strip("`")) == float(value)
    return False


def test_every_setting_has_a_row_and_every_row_a_setting() -> None:
    assert set(_documented()) == set(Settings.model_fields)


def test_the_table_gives_each_setting_its_default_in_the_code() -> None:
    wrong = {
        name: (doc, field.get_default(call_default_factory=True))
        for name, doc in _documented().items()
        if (field := Settings.model_fields.get(name)) is not None
        and not _same(doc, field.get_default(call_default_factory=True))
    }
    assert wrong == {}


CLI = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def test_the_cli_page_names_every_command_and_option() -> None:
    """docs/cli.md has a section per command naming each of its options."""
    import typer.main

    from storyfold.cli import app

    root: Any = typer.main.get_command(app)  # typer's own click: a group with .commands
    text = CLI.read_text()
    sections = dict(
        (m.group(1), m.group(2))
        for m in re.finditer(r"^### `storyfold ([a-z-]+)[^`]*`\n(.*?)(?=^##|\Z)", text, re.M | re.S)
    )
    missing: dict[str, list[str]] = {}
    for name, command in root.commands.items():
        if name not in sections:
            missing[name] = ["(no section)"]
            continue
        # an option shared by a group of commands may be in the page's shared table
        seen = sections[name] + text.split("###")[0] + _shared_tables(text)
        options = [o for p in command.params if p.param_type_name == "option"
                   for o in p.opts if o.startswith("--") and o != "--help"]
        if lost := [o for o in options if f"`{o}" not in seen]:
            missing[name] = lost
    assert missing == {}
    assert set(sections) == set(root.commands)


def _shared_tables(text: str) -> str:
    """The tables that sit under a `##` heading before its first command (options several
    commands share)."""
    return "".join(re.findall(r"^## [^\n]*\n(.*?)(?=^###)", text, re.M | re.S))
