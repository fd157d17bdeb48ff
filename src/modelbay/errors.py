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

All of them are plain picklable exceptions carrying only a message, so they cross
process boundaries unchanged.
"""

from __future__ import annotations

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
    """A dataset, model, version or alias does not exist."""


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
