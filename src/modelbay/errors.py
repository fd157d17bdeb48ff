"""The modelbay exception family.

Every error modelbay raises on purpose derives from :class:`ModelbayError`. Domain
errors know nothing of HTTP or exit codes: the faces map them (``cli.errors`` for
exit codes; the HTTP face has its own table).

    ModelbayError
    ├── ConfigError              settings or the master key are unusable
    ├── ValidationError          an argument is malformed (a model reference, an alias, an option)
    ├── DataError                a table cannot be read or used (unreadable file, empty, all-NaN)
    │   └── SchemaError          rows do not match a model's input signature
    ├── TrainingError            training cannot run or produced nothing (bad target, every trial failed)
    ├── NotFoundError            a dataset, model, version or alias does not exist
    ├── ConflictError            the thing exists already, or a concurrent writer won
    ├── LimitExceeded            a request is over a size limit (body, rows, tensor, nesting)
    ├── AccessError              the caller may not do this
    │   ├── Unauthenticated      no API key, or one that is unknown, revoked or expired
    │   ├── Forbidden            the key lacks the scope the action needs
    │   └── RateLimited          the key's rate limit or quota is spent (``retry_after`` s)
    └── StorageError             the registry database or artifact store failed
        ├── IntegrityError       an artifact is missing, truncated or tampered with (checksum, tag)
        ├── DecryptionError      the master key does not open an artifact
        └── UnsafeArtifactError  an artifact holds types that are not trusted for loading

All of them are plain picklable exceptions carrying a message (and, for a
``NotFoundError``, the names it lists as existing), so they cross process boundaries
unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

__all__ = [
    "AccessError",
    "ConfigError",
    "ConflictError",
    "DataError",
    "DecryptionError",
    "Forbidden",
    "IntegrityError",
    "LimitExceeded",
    "ModelbayError",
    "NotFoundError",
    "RateLimited",
    "SchemaError",
    "StorageError",
    "TrainingError",
    "Unauthenticated",
    "UnsafeArtifactError",
    "ValidationError",
]


class ModelbayError(Exception):
    """Root of every error modelbay raises on purpose."""


class ConfigError(ModelbayError):
    """Settings or the master key cannot be used."""


class ValidationError(ModelbayError):
    """An argument is malformed."""


class DataError(ModelbayError):
    """A table cannot be read or used for the asked purpose."""


class SchemaError(DataError):
    """Rows do not match a model's input signature."""


class TrainingError(ModelbayError):
    """Training cannot run, or produced no usable model."""


class NotFoundError(ModelbayError):
    """A dataset, model, version or alias does not exist.

    ``NotFoundError("model 'x' does not exist", names=("a", "b"), label="models", empty=
    "; train one ...")``: a message that lists what does exist keeps those names apart
    from its text, so a face can list a caller only the ones it may see (:meth:`shown`):
    a model outside an API key's allow-list is never named. ``str()`` lists them all.
    """

    def __init__(
        self,
        message: str,
        *,
        names: Sequence[str] = (),
        label: str = "",
        empty: str = "",
        groups: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        super().__init__(message)
        # several kinds of names ("deployments: ...; models: ..."): ``groups`` by label
        self.groups = {k: tuple(v) for k, v in (groups or {label: names}).items()}
        self.names = tuple(n for group in self.groups.values() for n in group)
        self.label = label
        self.empty = empty

    def shown(self, keep: Callable[[str], bool]) -> str:
        """The message listing only the names ``keep`` passes; with none left it reads as
        if there were none at all (``empty``), so hidden names are not even counted."""
        listed = {k: [n for n in v if keep(n)] for k, v in self.groups.items()}
        if not any(listed.values()):
            return f"{self.args[0]}{self.empty}"
        parts = [f"{k}: {', '.join(v[:20]) or 'none'}" for k, v in listed.items()]
        return f"{self.args[0]}; {'; '.join(parts)}"

    def __str__(self) -> str:
        return self.shown(lambda _: True)


class ConflictError(ModelbayError):
    """The thing exists already, or a concurrent writer changed it first."""


class LimitExceeded(ModelbayError):
    """A request is over a size limit: body bytes, rows, tensor elements or JSON nesting."""


class AccessError(ModelbayError):
    """The caller may not do this."""


class Unauthenticated(AccessError):
    """No API key, or one that is unknown, revoked or expired."""


class Forbidden(AccessError):
    """The key lacks the scope the action needs."""


class RateLimited(AccessError):
    """The key's rate limit or quota is spent; ``retry_after`` says for how long (seconds)."""

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message, retry_after)
        self.retry_after = float(retry_after)

    def __str__(self) -> str:
        return str(self.args[0])


class StorageError(ModelbayError):
    """The registry database or the artifact store failed."""


class IntegrityError(StorageError):
    """An artifact is missing, truncated or does not match its checksum."""


class DecryptionError(StorageError):
    """The master key does not open an artifact."""


class UnsafeArtifactError(StorageError):
    """An artifact contains types that are not trusted for loading."""
