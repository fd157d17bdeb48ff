"""How options read in ``--help``: a flag shows no value type.

Typer 0.29 prints a type beside every option, ``<bool>`` for a flag and for ``--help``
itself, though a flag takes no value. Options that take one name it with a ``metavar``
where they are declared (``--trials N``, ``--alias ALIAS``); flags get an empty one here,
once, over the whole command tree, so a flag added later reads the same.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperOption

__all__ = ["quiet_flags"]


def quiet_flags(command: Any) -> None:
    """Give every flag of ``command`` and of its subcommands, ``--help`` too, no metavar.

    ``command`` is a Typer command or group (Typer's own Click types, which recent Typer
    versions vendor: hence duck typing rather than Click's classes).
    """
    ctx = typer.Context(command, **(command.context_settings or {}))
    params = list(command.params)
    help_option = command.get_help_option(ctx)  # made on first use, then kept by the command
    if help_option is not None:
        params.append(help_option)
    for param in params:
        if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""
    for sub in (getattr(command, "commands", None) or {}).values():
        quiet_flags(sub)
