"""The one table from domain errors to exit codes, and the group that applies it."""

from __future__ import annotations

from typing import Any

import typer
import typer.core
from rich.console import Console

from modelbay.cli.help import quiet_flags
from modelbay.errors import (
    AccessError,
    ConfigError,
    ConflictError,
    DataError,
    LimitExceeded,
    ModelbayError,
    NotFoundError,
    StorageError,
    TrainingError,
    ValidationError,
)

__all__ = ["EXIT_CODES", "INTERRUPTED", "ModelbayGroup", "exit_code"]

INTERRUPTED = 130  # the shell's code for a command ended by Ctrl-C (128 + SIGINT)

EXIT_CODES: dict[type[ModelbayError], int] = {
    ModelbayError: 1,
    ValidationError: 2,
    NotFoundError: 4,
    DataError: 5,
    TrainingError: 6,
    ConfigError: 7,
    StorageError: 8,
    ConflictError: 9,
    AccessError: 10,
    LimitExceeded: 5,
}


def exit_code(exc: ModelbayError) -> int:
    for cls in type(exc).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return 1


class ModelbayGroup(typer.core.TyperGroup):
    """Prints a modelbay error as one line on stderr and exits with its code; Ctrl-C exits
    130 with one line, not a traceback.

    The root group also tidies the help of the whole tree it holds (``quiet_flags``).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        quiet_flags(self)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except ModelbayError as exc:
            Console(stderr=True, highlight=False).print(
                f"[bold red]error:[/] {exc}", markup=True, soft_wrap=True
            )
            raise typer.Exit(exit_code(exc)) from None
        except KeyboardInterrupt:
            # the core has recorded what it stopped (a training run ends "cancelled")
            Console(stderr=True, highlight=False).print("interrupted", soft_wrap=True)
            raise typer.Exit(INTERRUPTED) from None
