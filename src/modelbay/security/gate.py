"""The gate every request passes: who is it (API key), may it (scope, model), how much (limits).

Protocol-free: the HTTP front and the gRPC face both call :class:`Gate`. Verified
keys are cached in memory, so the hot path does not touch the database; a poll of
the registry's key change counter (every ``poll_s``) empties the cache when a key is
created, revoked or rotated, so a revoked key stops working in every worker within
about a second. Expiry is checked on every request against the cached time.
Request counts are added up in memory and written to the registry in batches.
"""

from __future__ import annotations

import asyncio
import calendar
import logging
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import UTC, datetime

from modelbay.errors import Forbidden, NotFoundError, RateLimited, Unauthenticated
from modelbay.registry.db import KEYS, Database
from modelbay.security.keys import ANONYMOUS, KeyCatalog, Principal, period_of
from modelbay.security.limits import SharedLimits
from modelbay.tasks import cancel

__all__ = ["Gate", "current_principal", "token_from"]

log = logging.getLogger("modelbay.security")

current_principal: ContextVar[Principal] = ContextVar("modelbay_principal", default=ANONYMOUS)

MAX_CACHED = 10_000
FLUSH_S = 1.0  # request counts reach the registry this often


def token_from(authorization: str | None, api_key: str | None) -> str | None:
    """The key of a request: ``Authorization: Bearer …`` or ``x-api-key: …``."""
    if authorization and authorization.startswith("Bearer "):
        value = authorization[7:]
        if value and " " not in value and value[-1] > " ":
            return value  # the usual form, without the general parsing below
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    if api_key and api_key.strip():
        return api_key.strip()
    return None


def _unexpired(principal: Principal) -> bool:
    return principal.expires_at is None or time.time() < principal.expires_at


def _period(now: float, period: str) -> tuple[str, int, float]:
    """The period's name, its number and when it ends (POSIX time)."""
    when = datetime.fromtimestamp(now, UTC)
    name = period_of(when, period)
    if period == "day":
        end = datetime(when.year, when.month, when.day, tzinfo=UTC).timestamp() + 86400
    else:
        days = calendar.monthrange(when.year, when.month)[1]
        end = datetime(when.year, when.month, 1, tzinfo=UTC).timestamp() + days * 86400
    return name, int(name.replace("-", "")), end


class Gate:
    def __init__(
        self,
        keys: KeyCatalog,
        db: Database,
        *,
        enabled: bool = True,
        limits: SharedLimits | None = None,
        poll_s: float = 0.5,
    ) -> None:
        self.keys = keys
        self.db = db
        self.enabled = enabled
        self.limits = limits
        self.poll_s = poll_s
        self._cache: dict[str, tuple[Principal, int]] = {}  # token -> (principal, baseline)
        self._headers: dict[bytes, tuple[Principal, str]] = {}  # raw "Bearer …" -> (p, token)
        self._unknown: set[str] = set()
        self._usage: dict[tuple[str, str], int] = {}  # (key id, period) -> requests
        self._generation = -1
        self._task: asyncio.Task[None] | None = None
        self._next_flush = 0.0
        self._periods: dict[str, tuple[float, str, int, float]] = {}  # kind -> (start, ...)

    # -- life cycle --------------------------------------------------------------------------
    async def start(self) -> None:
        if not self.enabled:
            return
        self._generation = await asyncio.to_thread(self.db.generation, KEYS)
        self._task = asyncio.get_running_loop().create_task(self._poll())

    async def stop(self) -> None:
        await cancel(self._task)
        await asyncio.to_thread(self.flush)
        if self.limits is not None:
            self.limits.close()

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                generation = await asyncio.to_thread(self.db.generation, KEYS)
                if generation != self._generation:
                    self._generation = generation
                    self.forget()
                if time.monotonic() >= self._next_flush:
                    self._next_flush = time.monotonic() + FLUSH_S
                    await asyncio.to_thread(self.flush)
            except Exception:  # the next poll retries; requests keep being served
                log.exception("refreshing API keys failed")

    def forget(self) -> None:
        """Drop every cached key: the next request of each is checked against the registry."""
        self._cache = {}
        self._headers = {}
        self._unknown = set()

    def flush(self) -> None:
        """Write the request counts gathered since the last flush to the registry."""
        if not self._usage:
            return
        counts, self._usage = self._usage, {}
        try:
            self.keys.add_usage(counts)
        except Exception:
            for k, n in counts.items():  # keep them for the next flush
                self._usage[k] = self._usage.get(k, 0) + n
            raise

    # -- the checks -----------------------------------------------------------------------------
    def cached(self, token: str | None) -> Principal | None:
        """The principal of a key verified before and still valid, without awaiting (the hot
        path); None when the slow path (``authenticate``) must decide."""
        hit = self._cache.get(token) if token is not None and self.enabled else None
        return hit[0] if hit is not None and _unexpired(hit[0]) else None

    def cached_header(self, raw: bytes | None) -> tuple[Principal, str] | None:
        """(principal, token) for a raw ``Authorization`` header verified before and still
        valid: the hot path skips decoding and parsing the header. None: decide the long way."""
        hit = self._headers.get(raw) if raw is not None else None
        return hit if hit is not None and _unexpired(hit[0]) else None

    def remember_header(self, raw: bytes, principal: Principal, token: str) -> None:
        """Map a ``Bearer`` header to the key it carries (dropped with the cache on key changes)."""
        if principal.key_id and raw.startswith(b"Bearer ") and token in self._cache:
            if len(self._headers) >= MAX_CACHED:
                self._headers = {}
            self._headers[raw] = (principal, token)

    async def authenticate(self, token: str | None) -> Principal:
        """The principal of a request's key; 401 if it has none or a bad one."""
        if not self.enabled:
            return ANONYMOUS
        if token is None:
            raise Unauthenticated(
                "this server needs an API key: send 'Authorization: Bearer <key>' or 'x-api-key'"
            )
        hit = self._cache.get(token)
        if hit is None:
            if token in self._unknown:
                raise Unauthenticated("the API key is not valid (unknown, revoked or expired)")
            hit = await asyncio.to_thread(self._lookup, token)
            if hit is None:
                if len(self._unknown) >= MAX_CACHED:
                    self._unknown = set()
                self._unknown.add(token)
                raise Unauthenticated("the API key is not valid (unknown, revoked or expired)")
            if len(self._cache) >= MAX_CACHED:
                self._cache = {}
            self._cache[token] = hit
        principal = hit[0]
        if principal.expires_at is not None and time.time() >= principal.expires_at:
            raise Unauthenticated("the API key has expired")
        return principal

    def _lookup(self, token: str) -> tuple[Principal, int] | None:
        key = self.keys.verify(token)
        if key is None:
            return None
        baseline = 0
        if key.quota is not None:
            baseline = self.keys.used(key.id, period_of(datetime.now(UTC), key.quota_period))
        return key.principal(), baseline

    @staticmethod
    def authorize(principal: Principal, scopes: tuple[str, ...]) -> None:
        """403 unless the principal holds one of ``scopes``."""
        held = principal.scopes
        if "admin" not in held and held.isdisjoint(scopes):
            raise Forbidden(
                f"the key {principal.name!r} may not do this: it needs the "
                f"{' or '.join(repr(s) for s in scopes)} scope"
            )

    @staticmethod
    async def check_model(
        principal: Principal,
        name: str,
        model_of: Callable[[str], Awaitable[str]],
        new_name: bool = False,
    ) -> None:
        """404 unless the key's allow-list names ``name`` or the model it serves.

        A model outside the list answers exactly as one that does not exist, so a key
        does not learn which names exist. ``new_name``: the name is being created; a key
        may not create it, whether or not a hidden model or deployment of that name exists
        (one answer for both, or the refusal would tell them apart).
        """
        if principal.sees(name):
            return
        try:
            model: str | None = await model_of(name)
        except NotFoundError:
            if not new_name:
                raise
            model = None
        if model is not None and principal.sees(model):
            return
        if new_name:
            raise NotFoundError(
                f"the key {principal.name!r} may not create {name!r}: "
                "it is not on the key's model list"
            )
        raise NotFoundError(f"model {name!r} is not deployed and no model of that name exists")

    def admit(self, principal: Principal, token: str | None = None) -> None:
        """Count the request; 429 when the key's rate limit or quota is spent."""
        if not principal.key_id:
            return
        now = time.time()
        cached = self._periods.get(principal.quota_period)
        if cached is None or not cached[0] <= now < cached[3]:
            name, number, end = _period(now, principal.quota_period)
            cached = (now, name, number, end)  # good until the period ends
            self._periods[principal.quota_period] = cached
        _, name, number, end = cached
        limits = self.limits
        if (
            principal.limited
            and limits is not None
            and not limits.take(
                principal.key_id,
                now,
                number,
                principal.rate is not None,
                principal.quota is not None,
            )
        ):
            hit = self._cache.get(token) if token is not None else None
            baseline = hit[1] if hit is not None else 0
            decision = limits.admit(
                principal.key_id,
                now=now,
                rate=principal.rate,
                burst=principal.burst,
                quota=principal.quota,
                period=number,
                period_end=end,
                baseline=baseline,
            )
            if not decision.ok:
                if decision.reason == "quota":
                    raise RateLimited(
                        f"the key {principal.name!r} has used its quota of {principal.quota} "
                        f"requests this {principal.quota_period}; it renews in "
                        f"{decision.retry_after / 3600:.1f} h",
                        decision.retry_after,
                    )
                raise RateLimited(
                    f"the key {principal.name!r} is over its rate limit of "
                    f"{principal.rate:g} requests/s; retry after {decision.retry_after:.2f} s",
                    decision.retry_after,
                )
        usage, key = self._usage, (principal.key_id, name)
        usage[key] = usage.get(key, 0) + 1  # a plain dict: Counter's += costs twice as much
