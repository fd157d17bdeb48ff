"""Request parameters: one rule for yes/no values, whichever route or transport sends them.

A flag is ``true``/``1``/``yes`` or ``false``/``0``/``no`` (any case; JSON booleans and
the numbers 1 and 0 too); anything else is a 400 that names the parameter, so a typo
in a value is never taken as one or the other.
"""

from __future__ import annotations

from modelbay.errors import SchemaError

__all__ = ["FALSE", "TRUE", "flag"]

TRUE = frozenset({"true", "1", "yes"})
FALSE = frozenset({"false", "0", "no"})


def flag(name: str, value: object) -> bool:
    """``value`` of the parameter ``name`` as a bool, by the one rule above."""
    if value is True or value is False:
        return value
    if type(value) is int and value in (0, 1):
        return value == 1
    if isinstance(value, str):
        text = value.strip().lower()
        if text in TRUE:
            return True
        if text in FALSE:
            return False
    raise SchemaError(f"parameter {name!r} must be true or false (or 1/0, yes/no), not {value!r}")
