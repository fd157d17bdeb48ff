"""Token buckets and quotas shared by processes, and the gate that uses them."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from pathlib import Path

import pytest

from modelbay import Bay, Forbidden, RateLimited, Unauthenticated
from modelbay.security.gate import Gate, token_from
from modelbay.security.keys import KeyCatalog
from modelbay.security.limits import SharedLimits

PERIOD, END = 202611, 2e9


def admit(limits: SharedLimits, now: float, **kw: object) -> object:
    args = {"rate": None, "burst": None, "quota": None, "period": PERIOD, "period_end": END}
    args.update(kw)
    return limits.admit("k1", now=now, **args)  # type: ignore[arg-type]


def test_a_bucket_lets_a_burst_through_then_refills_at_the_rate(tmp_path: Path) -> None:
    limits = SharedLimits(tmp_path / "l.bin")
    got = [admit(limits, 100.0, rate=10.0, burst=5).ok for _ in range(7)]  # type: ignore[attr-defined]
    assert got == [True] * 5 + [False] * 2
    refused = admit(limits, 100.0, rate=10.0, burst=5)
    assert refused.reason == "rate" and refused.retry_after == pytest.approx(0.1)  # type: ignore[attr-defined]
    assert [admit(limits, 100.35, rate=10.0, burst=5).ok for _ in range(4)] == [True] * 3 + [False]  # type: ignore[attr-defined]
    limits.close()


def test_a_quota_counts_from_the_registry_baseline_and_renews_with_the_period(
    tmp_path: Path,
) -> None:
    limits = SharedLimits(tmp_path / "l.bin")
    first = admit(limits, 1.0, quota=5, baseline=3)
    assert first.ok and first.used == 4  # type: ignore[attr-defined]
    assert admit(limits, 1.0, quota=5).ok  # type: ignore[attr-defined]
    over = admit(limits, 1.0, quota=5, period_end=3601.0)
    assert not over.ok and over.reason == "quota" and over.retry_after == 3600.0  # type: ignore[attr-defined]
    assert admit(limits, 2.0, quota=5, period=202612).ok  # type: ignore[attr-defined]
    limits.close()


def _hammer(path: str, n: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    limits = SharedLimits(Path(path))
    ok = 0
    for _ in range(n):
        decision = limits.admit(
            "shared",
            now=time.time(),
            rate=0.001,
            burst=25,
            quota=None,
            period=PERIOD,
            period_end=END,
        )
        ok += decision.ok
    out.put(ok)


def test_limits_are_exact_across_processes(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_hammer, args=(str(tmp_path / "l.bin"), 200, queue)) for _ in range(3)
    ]
    for p in procs:
        p.start()
    admitted = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(30)
    assert sum(admitted) == 25  # one bucket of 25 for the three of them, not 25 each


# -- the gate -------------------------------------------------------------------------------------
def test_token_from_headers() -> None:
    assert token_from("Bearer abc", None) == "abc"
    assert token_from("bearer  abc ", "other") == "abc"
    assert token_from(None, "xyz") == "xyz"
    assert token_from("Basic dXNlcg==", None) is None
    assert token_from(None, None) is None


def test_the_gate_caches_keys_and_drops_a_revoked_one_within_a_poll(tmp_path: Path) -> None:
    async def main() -> None:
        with Bay(home=tmp_path / "bay") as bay:
            _, token = bay.keys.create("ci", ["predict"])
            gate = Gate(
                KeyCatalog.of(bay),
                bay.db,
                limits=SharedLimits(tmp_path / "l.bin"),
                poll_s=0.05,
            )
            await gate.start()
            principal = await gate.authenticate(token)
            assert principal.name == "ci"
            gate.authorize(principal, ("predict",))
            with pytest.raises(Forbidden, match="'deploy' scope"):
                gate.authorize(principal, ("deploy",))
            with pytest.raises(Unauthenticated, match="needs an API key"):
                await gate.authenticate(None)
            with Bay(home=tmp_path / "bay") as other:  # another process's CLI, say
                other.keys.revoke("ci")
            await asyncio.sleep(0.3)
            with pytest.raises(Unauthenticated, match="not valid"):
                await gate.authenticate(token)
            await gate.stop()

    asyncio.run(main())


def test_the_gate_limits_and_counts_requests(tmp_path: Path) -> None:
    async def main() -> None:
        with Bay(home=tmp_path / "bay") as bay:
            key, token = bay.keys.create("small", ["predict"], rate="2/s", quota="3/day")
            gate = Gate(KeyCatalog.of(bay), bay.db, limits=SharedLimits(tmp_path / "l.bin"))
            await gate.start()
            p = await gate.authenticate(token)
            gate.admit(p, token)
            gate.admit(p, token)
            with pytest.raises(RateLimited, match="rate limit of 2") as rate:
                gate.admit(p, token)
            assert 0 < rate.value.retry_after <= 0.5
            await asyncio.sleep(0.6)
            gate.admit(p, token)
            await asyncio.sleep(0.6)
            with pytest.raises(RateLimited, match="quota of 3 requests this day"):
                gate.admit(p, token)
            await gate.stop()  # flushes the counts
            assert sum(bay.keys.get(key.id).usage.values()) == 3

    asyncio.run(main())


def test_leases_never_let_two_processes_admit_more_than_the_bucket(tmp_path: Path) -> None:
    a, b = SharedLimits(tmp_path / "l.bin"), SharedLimits(tmp_path / "l.bin")
    admitted, refused_in_a_row = 0, 0
    turn = 0
    while refused_in_a_row < 4:  # alternate until both are refused twice
        limits = (a, b)[turn % 2]
        turn += 1
        decision = limits.admit(
            "k", now=50.0, rate=100.0, burst=100, quota=None, period=PERIOD, period_end=END
        )
        admitted += decision.ok
        refused_in_a_row = 0 if decision.ok else refused_in_a_row + 1
    assert admitted == 100
    later = a.admit("k", now=50.5, rate=100.0, burst=100, quota=None, period=PERIOD, period_end=END)
    assert later.ok  # the refusal was remembered only until tokens were due again
    a.close()
    b.close()
