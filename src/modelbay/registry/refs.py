"""Validated references to models and versions: ``name``, ``name@alias``, ``name:version``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from modelbay.errors import ValidationError

__all__ = ["ModelRef", "check_alias", "check_name"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_ALIAS = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


def check_name(name: str, what: str = "model name") -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValidationError(
            f"{what} {name!r} is not valid: use 1-128 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return name


def check_alias(alias: str) -> str:
    if not isinstance(alias, str) or not _ALIAS.match(alias) or alias == "latest":
        raise ValidationError(
            f"alias {alias!r} is not valid: use lower-case letters, digits, '_' or '-', "
            "starting with a letter ('latest' is reserved)"
        )
    return alias


@dataclass(frozen=True)
class ModelRef:
    """A parsed model reference.

    ``churn`` means the ``champion`` alias if it is set, else the latest version;
    ``churn@challenger`` an alias; ``churn:3`` a version number; ``churn@latest``
    the newest version.
    """

    name: str
    alias: str | None = None
    version: int | None = None

    @classmethod
    def parse(cls, text: str | ModelRef) -> ModelRef:
        if isinstance(text, ModelRef):
            return text
        if not isinstance(text, str) or not text:
            raise ValidationError(
                "a model reference is needed, like 'churn', 'churn@champion' or 'churn:3'"
            )
        if "@" in text:
            name, _, alias = text.partition("@")
            check_name(name)
            if alias != "latest":
                check_alias(alias)
            return cls(name=name, alias=alias)
        if ":" in text:
            name, _, ver = text.partition(":")
            check_name(name)
            if not ver.isdigit() or int(ver) < 1:
                raise ValidationError(
                    f"version in {text!r} must be a positive whole number, like '{name}:1'"
                )
            return cls(name=name, version=int(ver))
        return cls(name=check_name(text))

    def __str__(self) -> str:
        if self.alias:
            return f"{self.name}@{self.alias}"
        if self.version is not None:
            return f"{self.name}:{self.version}"
        return self.name
