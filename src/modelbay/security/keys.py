"""API keys: principals with scopes, a model allow-list, a rate limit and a quota.

A key is shown once, when it is made (``mbk_`` + 43 random URL-safe characters).
The registry keeps only ``HMAC-SHA256(server secret, key)``; the server secret is
derived from the master key (HKDF), so every process that can open the registry
can check keys and nothing on disk can be replayed as a key. A key's row is found
by the first 16 hex digits of its hash, and the whole hash is compared in constant
time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from modelbay.errors import ConflictError, NotFoundError, ValidationError
from modelbay.registry.audit import AuditLog
from modelbay.registry.db import KEYS, Database, bump_generation
from modelbay.registry.refs import check_name
from modelbay.registry.tables import ApiKeyRow, DeploymentRow, KeyUsageRow, ModelRow, utcnow
from modelbay.security.notation import (
    SCOPES,
    parse_expiry,
    parse_models,
    parse_quota,
    parse_rate,
    parse_scopes,
)

if TYPE_CHECKING:
    from modelbay.registry.home import Registry

__all__ = [
    "ANONYMOUS",
    "KEY_PURPOSE",
    "ApiKey",
    "KeyCatalog",
    "Principal",
    "period_of",
]

TOKEN_PREFIX = "mbk_"
MIN_TOKEN_LENGTH = 24


KEY_PURPOSE = b"modelbay api keys v1"  # the server secret: Registry.secret(KEY_PURPOSE)


def period_of(when: datetime, period: str) -> str:
    """The quota period a moment falls in: ``2026-11`` (month) or ``2026-11-23`` (day)."""
    return when.strftime("%Y-%m-%d" if period == "day" else "%Y-%m")


@dataclass(frozen=True)
class Principal:
    """Who is calling, and what they may do. ``models=None`` means every model."""

    key_id: str
    name: str
    scopes: frozenset[str]
    models: frozenset[str] | None = None
    rate: float | None = None
    burst: int | None = None
    quota: int | None = None
    quota_period: str = "month"
    expires_at: float | None = None  # a POSIX timestamp

    def allows(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes

    def sees(self, *names: str) -> bool:
        """True if the allow-list is open or names any of ``names`` (a model or deployment)."""
        # one C-level set operation: this runs on every request of an allow-listed key
        return self.models is None or not self.models.isdisjoint(names)

    @cached_property
    def limited(self) -> bool:
        return self.rate is not None or self.quota is not None


ANONYMOUS = Principal("", "anonymous", frozenset(SCOPES))


@dataclass(frozen=True)
class ApiKey:
    """What the registry knows of a key (never the key itself)."""

    id: str
    name: str
    prefix: str
    scopes: tuple[str, ...]
    models: tuple[str, ...] | None
    rate: float | None
    burst: int | None
    quota: int | None
    quota_period: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    usage: dict[str, int] = field(default_factory=dict)
    # said once, by ``create``: what the caller should know (an allow-list naming a model
    # that does not exist yet); not stored, and not part of ``to_dict``
    warnings: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return self.revoked_at is None and (
            self.expires_at is None or self.expires_at > datetime.now(UTC)
        )

    def principal(self) -> Principal:
        return Principal(
            key_id=self.id,
            name=self.name,
            scopes=frozenset(self.scopes),
            models=frozenset(self.models) if self.models is not None else None,
            rate=self.rate,
            burst=self.burst,
            quota=self.quota,
            quota_period=self.quota_period,
            expires_at=self.expires_at.timestamp() if self.expires_at else None,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "prefix": self.prefix,
            "scopes": list(self.scopes),
            "models": list(self.models) if self.models is not None else None,
            "rate": self.rate,
            "burst": self.burst,
            "quota": self.quota,
            "quota_period": self.quota_period,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "active": self.active,
            "usage": dict(self.usage),
        }


def _record(row: ApiKeyRow, usage: dict[str, int] | None = None) -> ApiKey:
    return ApiKey(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        scopes=tuple(row.scopes),
        models=tuple(row.models) if row.models is not None else None,
        rate=row.rate,
        burst=row.burst,
        quota=row.quota,
        quota_period=row.quota_period,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        usage=usage or {},
    )


def _unknown_models(s: Any, models: tuple[str, ...] | None) -> tuple[str, ...]:
    """A warning when an allow-list names what is neither a model nor a deployment: allowed
    (the key may be made before the model), but most often a typo, so it is said."""
    if not models:
        return ()
    known_models = list(s.scalars(select(ModelRow.name).order_by(ModelRow.name)))
    deployments = list(s.scalars(select(DeploymentRow.name).order_by(DeploymentRow.name)))
    unknown = sorted(set(models) - set(known_models) - set(deployments))
    if not unknown:
        return ()
    return (
        f"no model or deployment is named {', '.join(map(repr, unknown))} yet: the key will "
        f"see {'it' if len(unknown) == 1 else 'them'} once created; models: "
        f"{', '.join(known_models) or 'none'}; deployments: {', '.join(deployments) or 'none'}",
    )


def _active_named(s: Any, name: str) -> bool:
    """Whether an active (unrevoked) key has this name, in the caller's transaction."""
    query = select(ApiKeyRow.id).where(ApiKeyRow.name == name, ApiKeyRow.revoked_at.is_(None))
    return s.scalar(query) is not None


class KeyCatalog:
    """Create, find, verify, revoke and rotate API keys; count their use."""

    def __init__(self, db: Database, secret: bytes, audit: AuditLog | None = None) -> None:
        self._db = db
        self._secret = secret
        self._audit = audit or AuditLog(db)

    @classmethod
    def of(cls, registry: Registry) -> KeyCatalog:
        return cls(registry.db, registry.secret(KEY_PURPOSE), registry.audit)

    def ensure_admin(self, token: str | None = None) -> str | None:
        """Make sure an admin key exists: register ``token`` as one (``MODELBAY_ADMIN_KEY``)
        unless it is registered already, or create one when there is none. Returns a key
        made now (to print once), else None."""
        if token is not None:
            if self.verify(token) is None:
                with self._db.session() as s:
                    taken = _active_named(s, "admin")
                name = f"admin-{secrets.token_hex(3)}" if taken else "admin"
                try:
                    self.create(name, ["admin"], token=token)
                except ConflictError:  # another worker registered it first
                    pass
            return None
        if self.has_admin():
            return None
        try:
            return self.create("admin", ["admin"])[1]
        except ConflictError:
            return None

    def digest(self, token: str) -> str:
        return hmac.new(
            self._secret, token.encode("utf-8", "surrogatepass"), hashlib.sha256
        ).hexdigest()

    # -- changes ---------------------------------------------------------------------------
    def create(
        self,
        name: str,
        scopes: Any = ("predict",),
        *,
        models: Any = None,
        rate: float | str | None = None,
        burst: int | None = None,
        quota: int | str | None = None,
        quota_period: str = "month",
        expires: datetime | str | None = None,
        token: str | None = None,
    ) -> tuple[ApiKey, str]:
        """A new key; returns its record and the key itself (shown once, never stored)."""
        with self._audit.action("key.create", name) as note:
            row, token = self._new_row(
                name, scopes, models, rate, burst, quota, quota_period, expires, token
            )
            with self._db.session() as s:
                self._insert(s, row)
                key = _record(row)
                warnings = _unknown_models(s, key.models)
            note["detail"] = f"id {key.id}, scopes {','.join(key.scopes)}"
            return replace(key, warnings=warnings), token

    def _new_row(
        self,
        name: str,
        scopes: Any,
        models: Any,
        rate: float | str | None,
        burst: int | None,
        quota: int | str | None,
        quota_period: str,
        expires: datetime | str | None,
        token: str | None,
    ) -> tuple[ApiKeyRow, str]:
        """A checked, unsaved key row and its token (made here unless given)."""
        check_name(name, "key name")
        scope_list, model_list = parse_scopes(scopes), parse_models(models)
        rate_s = parse_rate(rate) if isinstance(rate, str) else (float(rate) if rate else None)
        if isinstance(quota, str):
            quota, quota_period = parse_quota(quota)
        if quota_period not in ("month", "day"):
            raise ValidationError("quota_period must be 'month' or 'day'")
        if burst is not None and burst < 1:
            raise ValidationError("burst must be at least 1 request")
        expires_at = parse_expiry(expires) if isinstance(expires, str) else expires
        if expires_at is not None and expires_at <= datetime.now(UTC):
            raise ValidationError("the expiry is in the past")
        if token is None:
            token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        elif len(token) < MIN_TOKEN_LENGTH:
            raise ValidationError(f"a key must be at least {MIN_TOKEN_LENGTH} characters long")
        digest = self.digest(token)
        row = ApiKeyRow(
            id=digest[:16],
            name=name,
            hash=digest,
            prefix=token[:8],
            scopes=scope_list,
            models=model_list,
            rate=rate_s,
            burst=int(burst) if burst else (max(1, round(rate_s)) if rate_s else None),
            quota=int(quota) if quota else None,
            quota_period=quota_period,
            expires_at=expires_at,
        )
        return row, token

    @staticmethod
    def _insert(s: Any, row: ApiKeyRow) -> None:
        """Add a new key row in the caller's transaction, refusing a taken name or key."""
        if _active_named(s, row.name):
            raise ConflictError(f"an active key named {row.name!r} exists; revoke or rotate it")
        if s.get(ApiKeyRow, row.id) is not None:
            raise ConflictError("that key is registered already")
        s.add(row)
        bump_generation(s, KEYS)
        s.flush()

    def revoke(self, ref: str) -> ApiKey:
        """Stop a key (by id or by the name of an active key); servers notice within a second."""
        with self._audit.action("key.revoke", ref) as note, self._db.session() as s:
            row = self._find(s, ref)
            if row.revoked_at is None:
                row.revoked_at = utcnow()
                bump_generation(s, KEYS)
            note["detail"] = f"id {row.id}"
            s.flush()
            return _record(row)

    def rotate(self, ref: str) -> tuple[ApiKey, str]:
        """Revoke a key and make a new one with the same name, scopes, models and limits.

        One transaction: if the new key cannot be made, the old one stays valid."""
        with self._audit.action("key.rotate", ref) as note, self._db.session() as s:
            row = self._find(s, ref)
            old = _record(row)
            if old.revoked_at is not None:
                raise ConflictError(f"key {old.id} ({old.name}) is revoked; create a new one")
            row.revoked_at = utcnow()
            s.flush()  # the name is free for the new key, in this transaction only
            remaining = old.expires_at - old.created_at if old.expires_at else None
            new, token = self._new_row(
                old.name,
                old.scopes,
                old.models,
                old.rate,
                old.burst,
                old.quota,
                old.quota_period,
                datetime.now(UTC) + remaining if remaining else None,
                None,
            )
            self._insert(s, new)  # bumps the key counter once, for both changes
            note["detail"] = f"id {old.id} -> {new.id}"
            return _record(new), token

    # -- reads -----------------------------------------------------------------------------
    def _find(self, s: Any, ref: str) -> ApiKeyRow:
        row = s.get(ApiKeyRow, ref)
        if row is None:
            row = s.scalar(
                select(ApiKeyRow)
                .where(ApiKeyRow.name == ref)
                .order_by(ApiKeyRow.revoked_at.is_(None).desc(), ApiKeyRow.created_at.desc())
                .limit(1)
            )
        if row is None:
            raise NotFoundError(f"no key with id or name {ref!r}")
        return row

    def get(self, ref: str) -> ApiKey:
        with self._db.session() as s:
            row = self._find(s, ref)
            return _record(row, self._usage(s, [row.id]).get(row.id))

    def list(
        self, *, include_revoked: bool = False, include_inactive: bool = False
    ) -> list[ApiKey]:
        """Active keys, oldest first; ``include_inactive`` (or its older name
        ``include_revoked``) adds the revoked and the expired ones."""
        with self._db.session() as s:
            query = select(ApiKeyRow).order_by(ApiKeyRow.created_at)
            if not (include_revoked or include_inactive):
                query = query.where(ApiKeyRow.revoked_at.is_(None)).where(
                    or_(ApiKeyRow.expires_at.is_(None), ApiKeyRow.expires_at > datetime.now(UTC))
                )
            rows = list(s.scalars(query))
            usage = self._usage(s, [r.id for r in rows])
            return [_record(r, usage.get(r.id)) for r in rows]

    def verify(self, token: str) -> ApiKey | None:
        """The active key this token is, or None. Constant-time in the hash comparison."""
        if not token or len(token) > 512:
            return None
        digest = self.digest(token)
        with self._db.session() as s:
            row = s.get(ApiKeyRow, digest[:16])
            if row is None or not hmac.compare_digest(row.hash, digest):
                return None
            key = _record(row)
        return key if key.active else None

    def has_admin(self) -> bool:
        return any("admin" in k.scopes for k in self.list())

    # -- usage -----------------------------------------------------------------------------
    @staticmethod
    def _usage(s: Any, ids: Sequence[str]) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        if not ids:
            return out
        for row in s.scalars(select(KeyUsageRow).where(KeyUsageRow.key_id.in_(ids))):
            out.setdefault(row.key_id, {})[row.period] = int(row.count)
        return out

    def used(self, key_id: str, period: str) -> int:
        with self._db.session() as s:
            row = s.get(KeyUsageRow, (key_id, period))
            return int(row.count) if row else 0

    def add_usage(self, counts: dict[tuple[str, str], int]) -> None:
        """Add request counts per (key id, period), in one transaction."""
        if not counts:
            return
        insert = pg_insert if self._db.dialect == "postgresql" else sqlite_insert
        with self._db.session() as s:
            for (key_id, period), n in sorted(counts.items()):
                stmt = insert(KeyUsageRow).values(key_id=key_id, period=period, count=n)
                s.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["key_id", "period"],
                        set_={"count": KeyUsageRow.count + stmt.excluded.count},
                    )
                )
