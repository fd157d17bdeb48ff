"""Rate limits and quotas that hold across every server process on a machine.

Each key with a limit owns a 64-byte slot in a small memory-mapped file under
``$MODELBAY_HOME/run/``: its token bucket (tokens, last refill) and its request
count in the current quota period. Every worker process of ``modelbay serve`` maps
the same file and updates a slot under an exclusive ``flock``, so the limits are
exact across workers for the price of two system calls per request (a few
microseconds), and a process takes them in small leases so that most requests need
no lock at all. The count is seeded from the registry the first time a key is seen
and the registry is told of every request (batched each second), so a quota
survives restarts; servers on other machines see each other's use through the
registry.
"""

from __future__ import annotations

import fcntl
import math
import mmap
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

__all__ = ["Admission", "SharedLimits"]

_SLOT = struct.Struct("<16sddiiq")  # key id, tokens, stamp, period code, unused, used
SLOT_BYTES = 64
SLOTS = 4096


class Admission(NamedTuple):
    ok: bool
    reason: str = ""  # "rate" or "quota" when refused
    retry_after: float = 0.0  # seconds until a request would be admitted
    used: int = 0  # requests counted in the quota period, this one included


LEASE_S = 1.0  # how long a process may hold tokens or quota it took from the shared slot


@dataclass
class _Lease:
    """What one process holds of a key's shared bucket and quota."""

    tokens: float
    quota: int
    used: int  # the period's count as this process last saw it, plus what it spent since
    period: int
    expires: float
    blocked_until: float  # a refusal remembered here (0: none)
    reason: str


class SharedLimits:
    """Token buckets and period counters shared by processes through one mapped file."""

    def __init__(self, path: Path, slots: int = SLOTS) -> None:
        self.path = Path(path)
        self.slots = slots
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        size = slots * SLOT_BYTES
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            if os.fstat(self._fd).st_size < size:
                os.ftruncate(self._fd, size)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._map = mmap.mmap(self._fd, size)
        self._index: dict[str, tuple[int, bytes]] = {}  # key id -> (slot, id bytes)
        self._leases: dict[str, _Lease] = {}

    def close(self) -> None:
        self._map.close()
        os.close(self._fd)

    def _slot(self, key: bytes) -> int:
        """The slot of ``key`` (claimed if new), by open addressing; -1 when the file is full."""
        start = zlib.crc32(key) % self.slots
        for i in range(self.slots):
            n = (start + i) % self.slots
            owner = self._map[n * SLOT_BYTES : n * SLOT_BYTES + 16]
            if owner == key:
                return n
            if owner == b"\0" * 16:
                self._map[n * SLOT_BYTES : (n + 1) * SLOT_BYTES] = b"\0" * SLOT_BYTES
                self._map[n * SLOT_BYTES : n * SLOT_BYTES + 16] = key
                return n
        return -1

    def admit(
        self,
        key_id: str,
        *,
        now: float,
        rate: float | None,
        burst: int | None,
        quota: int | None,
        period: int,
        period_end: float,
        baseline: int = 0,
    ) -> Admission:
        """Take one request from ``key_id``'s bucket and quota, or say why not and for how long.

        ``period`` is a number naming the quota period (``202611``); when it changes the
        count starts again. ``baseline`` is the count the registry knew when this
        process first saw the key (used when the slot is new).

        A process takes tokens and quota from the shared slot in small leases (a
        twentieth of the burst, a hundredth of the quota left, 1 for small limits) and
        spends them without locking, for at most ``LEASE_S``; a refusal is remembered
        locally until it would end. Leases are taken before they are spent, so no
        process ever admits more than the shared limit allows.
        """
        if self.take(key_id, now, period, rate is not None, quota is not None):
            return Admission(True, used=self._leases[key_id].used)
        lease = self._leases.get(key_id)
        if (
            lease is not None
            and lease.period == period
            and now < min(lease.expires, lease.blocked_until)
        ):
            return Admission(False, lease.reason, lease.blocked_until - now, lease.used)
        return self._admit_shared(key_id, now, rate, burst, quota, period, period_end, baseline)

    def take(self, key_id: str, now: float, period: int, rated: bool, quoted: bool) -> bool:
        """Spend one request from this process's lease, without locking: True if it could.

        False means :meth:`admit` must decide (no lease, an expired or spent one, a new
        period, or a remembered refusal). The hot path of every limited request.
        """
        lease = self._leases.get(key_id)
        if (
            lease is None
            or lease.period != period
            or now >= lease.expires
            or now < lease.blocked_until
            or (rated and lease.tokens < 1.0)
            or (quoted and lease.quota < 1)
        ):
            return False
        lease.tokens -= 1.0
        lease.quota -= 1
        lease.used += 1
        return True

    def _admit_shared(
        self,
        key_id: str,
        now: float,
        rate: float | None,
        burst: int | None,
        quota: int | None,
        period: int,
        period_end: float,
        baseline: int,
    ) -> Admission:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            found = self._index.get(key_id)  # a claimed slot is never given to another key
            if found is None:
                key = key_id.encode()[:16].ljust(16, b"\0")
                n = self._slot(key)
                if n < 0:
                    return Admission(True)  # no room: let the request through, unlimited
                self._index[key_id] = found = (n, key)
            n, key = found
            off = n * SLOT_BYTES
            _, tokens, stamp, slot_period, _, used = _SLOT.unpack_from(self._map, off)
            cap = float(burst or max(1, math.ceil(rate or 1)))
            if stamp == 0.0:  # a new slot: a full bucket, the registry's count
                tokens, stamp, slot_period, used = cap, now, period, baseline
            if slot_period != period:
                slot_period, used = period, 0
            if rate is not None:
                tokens = min(cap, tokens + max(0.0, now - stamp) * rate)
            stamp = now
            refusal: Admission | None = None
            if quota is not None and used >= quota:
                refusal = Admission(False, "quota", max(1.0, period_end - now), used)
            elif rate is not None and tokens < 1.0:
                refusal = Admission(False, "rate", (1.0 - tokens) / rate, used)
            if refusal is not None:
                _SLOT.pack_into(self._map, off, key, tokens, stamp, slot_period, 0, used)
                # remember it here; look again within a second (a quota may be raised)
                self._leases[key_id] = _Lease(
                    0.0,
                    0,
                    used,
                    period,
                    now + LEASE_S,
                    now + min(refusal.retry_after, LEASE_S),
                    refusal.reason,
                )
                return refusal
            take_t = min(math.floor(tokens), max(1, int(cap // 20))) if rate is not None else 0
            take_q = (
                min(quota - used, max(1, min(1000, (quota - used) // 100)))
                if quota is not None
                else 0
            )
            tokens -= take_t
            used += max(take_q, 1)
            _SLOT.pack_into(self._map, off, key, tokens, stamp, slot_period, 0, used)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        counted = used - max(take_q, 1) + 1  # this request's place in the period
        self._leases[key_id] = _Lease(
            float(take_t - 1), take_q - 1, counted, period, now + LEASE_S, 0.0, ""
        )
        return Admission(True, used=counted)
