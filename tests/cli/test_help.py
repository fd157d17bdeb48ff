"""Every command's ``--help`` reads as written: no Typer type labels, no reST markup, and a
line of help for every option and argument."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from modelbay.cli import build_cli

# what Typer prints for an option declared without a metavar: <bool> for a flag, <list[str]>
# for a repeatable option, <str>, <int>, <float>, <path> for the rest
TYPE_LABEL = re.compile(r"<(bool|str|int|float|path|list\[[^\]]*\])>")


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    for name, sub in sorted((getattr(command, "commands", None) or {}).items()):
        yield from _commands(sub, (*path, name))


COMMANDS = list(_commands(typer.main.get_command(build_cli())))


def test_the_walk_finds_every_command() -> None:
    paths = {" ".join(p) for p, _ in COMMANDS}
    assert {"", "train", "serve", "keygen", "alerts add", "keys create", "models import"} <= paths
    assert len(paths) > 30


@pytest.mark.parametrize(
    ("path", "command"), COMMANDS, ids=[" ".join(p) or "modelbay" for p, _ in COMMANDS]
)
def test_help_has_no_type_labels_or_markup(path: tuple[str, ...], command: Any) -> None:
    result = CliRunner().invoke(build_cli(), [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    shown = result.output
    # arguments keep Typer's label (it ignores their metavar); options name their value
    options = shown.partition("─ Options ─")[2].partition("─ Commands ─")[0]
    assert options, shown
    assert not TYPE_LABEL.findall(options), f"type labels in the options:\n{shown}"
    assert "``" not in shown, shown


@pytest.mark.parametrize(
    ("path", "command"), COMMANDS, ids=[" ".join(p) or "modelbay" for p, _ in COMMANDS]
)
def test_every_option_and_argument_says_what_it_is(path: tuple[str, ...], command: Any) -> None:
    assert (command.help or "").strip(), f"`modelbay {' '.join(path)}` has no help"
    for param in command.params:
        text = getattr(param, "help", None) or ""
        assert text.strip(), f"`modelbay {' '.join(path)}`: {param.name} has no help text"
        assert "[default" not in text, f"{param.name}: Rich reads [default ...] as markup, drops it"
