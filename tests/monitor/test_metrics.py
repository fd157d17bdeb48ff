"""Metrics: per-class counts of model calls whichever way they are counted, the typed merge of
workers' snapshots, and workers in real processes joining and leaving one folder (kill -9
included), with liveness by flock, never by pid."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from modelbay.monitor.metrics import Across, Family, Kind, Metrics
from modelbay.monitor.snapshots import (
    Buckets,
    Scalar,
    Snapshot,
    Spec,
    decode,
    encode,
    held,
    merge,
)

ROUTE = "/v2/models/{name}/infer"


def samples(m: Metrics, name: str, *labels: str) -> dict[tuple[str, ...], float]:
    """The samples called ``name`` of ``m``'s /metrics, keyed by the given label values."""
    text = m.render().decode()
    return {
        tuple(s.labels[k] for k in labels): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def _counts(m: Metrics) -> dict[str, float]:
    families = {f.name: f for f in text_string_to_metric_families(m.render().decode())}
    return {
        s.labels["label"]: s.value
        for s in families["modelbay_predictions"].samples
        if s.name.endswith("_total")
    }


@pytest.mark.parametrize(
    "labels",
    [
        np.array([1]),
        np.array([0, 1, 1, 2]),  # a small call: counted one by one
        np.random.default_rng(0).integers(0, 3, 1000),  # class ids: bincount
        np.random.default_rng(1).integers(0, 5000, 300),  # large ids: np.unique
        np.random.default_rng(2).integers(-1, 2, 200),  # a negative id (-1, 1): np.unique
        np.full(100, 7),  # one class only: bincount
        np.array(["setosa", "virginica", "setosa"] * 40, dtype=object),  # names: np.unique
        np.array([True, False, True]),
    ],
    ids=[
        "one",
        "small",
        "class-ids",
        "large-ids",
        "negative-ids",
        "one-class",
        "names",
        "booleans",
    ],
)
def test_every_way_of_counting_gives_the_same_counts(labels: np.ndarray) -> None:
    m = Metrics()
    m.model_call("d", "1", labels, len(labels), 1, 0.001, "classification")
    m.model_call("d", "1", labels[:1], 1, 1, 0.001, "classification")  # one more of the first
    values, counts = np.unique(labels, return_counts=True)
    expected = {str(v): float(n) for v, n in zip(values.tolist(), counts.tolist(), strict=True)}
    expected[str(labels[:1].tolist()[0])] += 1
    assert _counts(m) == expected


def test_large_calls_are_counted_together_and_every_read_sees_them(tmp_path: Path) -> None:
    """Labels of large calls wait to be counted in one pass: past PENDING_ROWS on their
    own, and before any read (/metrics, or the file another worker reads)."""
    from modelbay.monitor.metrics import PENDING_ROWS

    rng = np.random.default_rng(3)
    m = Metrics(tmp_path)
    calls = [rng.integers(0, 3, 1000) for _ in range(PENDING_ROWS // 1000 + 5)]
    for labels in calls:
        m.model_call("d", "1", labels, len(labels), 1, 0.001, "classification")
    assert m._pending_rows < PENDING_ROWS  # counted on the way, not all held
    m.model_call(
        "e", "2", np.array(["a", "b"] * 100, dtype=object), 200, 1, 0.001, "classification"
    )
    m.publish()  # what the other workers read includes what waited
    other = samples(Metrics(tmp_path), "modelbay_predictions_total", "deployment", "label")
    every = np.concatenate(calls)
    for label in range(3):
        assert other[("d", str(label))] == float((every == label).sum())
    assert other[("e", "a")] == 100.0
    more = rng.integers(0, 3, 500)
    m.model_call("d", "1", more, 500, 1, 0.001, "classification")
    got = _counts(m)  # a scrape counts what waits too
    assert got["0"] == float((every == 0).sum() + (more == 0).sum())
    m.close()


def test_classes_seen_before_are_counted_by_comparison_and_a_new_one_still_counts() -> None:
    """Once a deployment's classes are known, a large call's labels are counted one class at
    a time; a label never seen before sends the call to the general count, which is exact."""
    rng = np.random.default_rng(7)
    m = Metrics()
    first = rng.integers(0, 2, 5000)
    m.model_call("d", "1", first, len(first), 1, 0.001, "classification")
    assert _counts(m) == {"0": float((first == 0).sum()), "1": float((first == 1).sum())}
    known = rng.integers(0, 2, 3000)  # the same two classes: counted by comparison
    m.model_call("d", "1", known, len(known), 1, 0.001, "classification")
    got = _counts(m)
    assert got == {
        "0": float((first == 0).sum() + (known == 0).sum()),
        "1": float((first == 1).sum() + (known == 1).sum()),
    }
    new = np.concatenate([rng.integers(0, 2, 999), [2]])  # class 2 appears once
    m.model_call("d", "1", new, len(new), 1, 0.001, "classification")
    got = _counts(m)
    assert got["2"] == 1.0
    assert got["0"] + got["1"] + got["2"] == float(len(first) + len(known) + len(new))


# -- the merge -----------------------------------------------------------------------------------
SPECS = [
    Spec("c", Kind.COUNTER),
    Spec("h", Kind.HISTOGRAM),
    Spec("inflight", Kind.GAUGE, Across.SUM),
    Spec("load", Kind.GAUGE, Across.MAX),
    Spec("drift", Kind.GAUGE, Across.LATEST),
]


def test_counters_and_histograms_add_up_over_live_and_gone_workers() -> None:
    a = Snapshot({"c": {("x",): Scalar(2), ("y",): Scalar(1)}, "h": {(): Buckets((1, 0, 2), 3, 3)}})
    b = Snapshot({"c": {("x",): Scalar(5)}, "h": {(): Buckets((0, 4, 1), 7.5, 5)}})
    gone = Snapshot(
        {"c": {("x",): Scalar(10), ("z",): Scalar(4)}, "h": {(): Buckets((1, 1, 1), 1, 3)}}
    )
    out = merge(SPECS, [a, b], [gone]).values
    assert out["c"] == {("x",): Scalar(17), ("y",): Scalar(1), ("z",): Scalar(4)}
    assert out["h"] == {(): Buckets((2, 5, 4), 11.5, 11)}
    assert a.values["c"][("x",)] == Scalar(2)  # the inputs are left as they were


@pytest.mark.parametrize(
    ("family", "expected"),
    [
        ("inflight", Scalar(5, 20)),  # every live worker's in flight: 2 + 3, not the gone 7
        ("load", Scalar(3, 10)),  # the slowest live worker's load time, not the gone one's 9
        ("drift", Scalar(2, 20)),  # the value set last among live workers, not the gone one's
    ],
)
def test_a_gauge_follows_its_rule_over_live_workers_and_a_gone_workers_is_dropped(
    family: str, expected: Scalar
) -> None:
    a = Snapshot({family: {("d",): Scalar(2, stamp=20)}})
    b = Snapshot({family: {("d",): Scalar(3, stamp=10)}})
    gone = Snapshot({family: {("d",): Scalar(7 if family == "inflight" else 9, stamp=30)}})
    assert merge(SPECS, [a, b], [gone]).values[family] == {("d",): expected}
    assert merge(SPECS, [b, a], [gone]).values[family] == {("d",): expected}  # any order
    assert merge(SPECS, [], [gone]).values[family] == {}


def test_samples_that_do_not_fit_their_family_are_refused() -> None:
    with pytest.raises(ValueError, match="histogram h has a scalar sample"):
        merge(SPECS, [Snapshot({"h": {(): Scalar(1)}})])
    with pytest.raises(ValueError, match="counter c has a histogram sample"):
        merge(SPECS, [Snapshot({"c": {(): Buckets((1,), 1, 1)}})])
    two, three = Buckets((1, 1), 1, 2), Buckets((1, 1, 1), 1, 3)
    with pytest.raises(ValueError, match="2 buckets in one worker, 3 in another"):
        merge(SPECS, [Snapshot({"h": {(): two}}), Snapshot({"h": {(): three}})])
    assert "other" not in merge(SPECS, [Snapshot({"other": {(): Scalar(1)}})]).values
    with pytest.raises(ValueError, match="a histogram needs buckets"):
        Family("f", "f", Kind.HISTOGRAM)
    with pytest.raises(ValueError, match="only a histogram has them"):
        Family("f", "f", Kind.COUNTER, buckets=(1.0,))


def test_a_snapshot_file_round_trips_and_a_foreign_one_is_named() -> None:
    snap = Snapshot(
        {
            "c": {("x", "1"): Scalar(3)},
            "h": {(): Buckets((1, 2, 0), 0.5, 3)},
            "drift": {("d",): Scalar(0.25, 1700000000.5)},
            "inflight": {},
            "load": {},
        }
    )
    assert decode(encode(snap, {"t2", "t1"}), SPECS) == (snap, {"t1", "t2"})
    with pytest.raises(ValueError, match=r"worker-x\.json is not a metrics snapshot"):
        decode(b'{"families": {"c": [[["x"], "many"]]}}', SPECS, "worker-x.json")


# -- workers in real processes -------------------------------------------------------------------
WORKER = """
import sys
import numpy as np
from modelbay.monitor.metrics import Metrics

folder, name, n, load = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
m = Metrics(folder)
ok, latency, _ = m.endpoint(name, 1)
for i in range(n):
    m.http("/v2/models/{name}/infer", 200)
    ok.inc()
    latency.observe(0.001 * i)
m.model_call(name, 1, np.arange(n) % 2, n, n, 0.01, "classification")
m.inflight.labels(name).inc(2)  # two requests being answered
m.load.labels("shared", "1").set(load)
m.publish()
print("ready", flush=True)
if sys.stdin.readline().strip() == "close":
    m.close()
"""


@contextmanager
def worker(folder: Path, name: str, n: int, load: float) -> Iterator[subprocess.Popen[str]]:
    """A worker process that answered ``n`` requests of ``name``, published them, and has two
    in flight; it waits on stdin (``close``: leave the folder cleanly). Killed at the end."""
    with subprocess.Popen(
        [sys.executable, "-c", WORKER, str(folder), name, str(n), str(load)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline() == "ready\n", "the worker process failed"
            yield proc
        finally:
            proc.kill()


def record(m: Metrics, name: str, n: int, load: float) -> None:
    """What WORKER records, in this process."""
    ok, latency, _ = m.endpoint(name, 1)
    for i in range(n):
        m.http(ROUTE, 200)
        ok.inc()
        latency.observe(0.001 * i)
    m.model_call(name, 1, np.arange(n) % 2, n, n, 0.01, "classification")
    m.inflight.labels(name).inc(2)
    m.load.labels("shared", "1").set(load)


def scrape(m: Metrics) -> dict[str, dict[tuple[str, ...], float]]:
    return {
        "requests": samples(m, "modelbay_inference_requests_total", "deployment"),
        "latency": samples(m, "modelbay_inference_duration_seconds_count", "deployment"),
        "http": samples(m, "modelbay_http_requests_total", "status"),
        "classes": samples(m, "modelbay_predictions_total", "deployment", "label"),
        "inflight": samples(m, "modelbay_inflight_requests", "deployment"),
        "load": samples(m, "modelbay_model_load_seconds", "deployment"),
    }


def stop(proc: subprocess.Popen[str], how: str) -> None:
    if how == "kill -9":
        proc.send_signal(signal.SIGKILL)
    else:
        assert proc.stdin is not None
        proc.stdin.write("close\n")
        proc.stdin.close()
    assert proc.wait(timeout=30) == (-signal.SIGKILL if how == "kill -9" else 0)


@pytest.mark.parametrize("how", ["kill -9", "close"])
def test_a_worker_that_leaves_is_counted_once_and_its_gauges_dropped(
    tmp_path: Path, how: str
) -> None:
    folder = tmp_path / "metrics"
    me = Metrics(folder)
    record(me, "p", 3, load=0.1)
    me.publish()  # as start() does: the other workers see this one
    with worker(folder, "a", 5, 0.7) as a, worker(folder, "b", 11, 0.5) as b:
        before = scrape(me)
        assert before["requests"] == {("p",): 3, ("a",): 5, ("b",): 11}
        assert before["latency"] == before["requests"] and before["http"] == {("200",): 19}
        assert before["classes"][("b", "0")] == 6 and before["classes"][("b", "1")] == 5
        assert before["inflight"] == {("p",): 2, ("a",): 2, ("b",): 2}
        assert before["load"] == {("shared",): 0.7}  # the slowest live worker's

        stop(a, how)
        after = scrape(me)
        for counted in ("requests", "latency", "http", "classes"):
            assert after[counted] == before[counted], counted  # exactly once, none lost
        assert after["inflight"] == {("p",): 2, ("b",): 2}  # a's are not in flight
        assert after["load"] == {("shared",): 0.5}
        assert not list(folder.glob(f"worker-{a.pid}-*")), "a's files are folded away"
        assert scrape(Metrics(folder))["requests"] == before["requests"]  # a new worker's view
        assert scrape(me) == after  # and again, once folded

        stop(b, how)
        last = scrape(me)
        assert last["requests"] == before["requests"] and last["http"] == before["http"]
        assert last["inflight"] == {("p",): 2} and last["load"] == {("shared",): 0.1}
    me.close()
    assert sorted(p.name for p in folder.iterdir()) == ["fold.lock", "retired.json"]
    assert scrape(Metrics(folder))["requests"] == before["requests"]


def test_a_fold_cut_short_counts_nothing_twice(tmp_path: Path) -> None:
    """retired.json names the workers folded in: a snapshot file left behind by a fold that
    stopped before deleting it is counted from retired.json only."""
    folder = tmp_path / "metrics"
    me = Metrics(folder)
    with worker(folder, "a", 4, 0.2) as a:
        (left,) = folder.glob(f"worker-{a.pid}-*.json")
        stop(a, "kill -9")
        kept = left.read_bytes()
        assert scrape(me)["requests"] == {("a",): 4}  # folded
        left.write_bytes(kept)  # as if the fold had stopped before deleting it
        assert scrape(me)["requests"] == {("a",): 4}
        assert not left.exists()


def test_a_dead_worker_named_by_a_live_pid_is_still_dead(tmp_path: Path) -> None:
    """A reused pid: the gone worker's files carry the pid of a live process (this one), which
    ``os.kill(pid, 0)`` took for the old worker; its lock is free, so it is gone."""
    folder = tmp_path / "metrics"
    with worker(folder, "a", 4, 0.9) as a:
        stop(a, "kill -9")
    for path in folder.glob(f"worker-{a.pid}-*"):
        token = path.name.split("-", 2)[2].split(".", 1)[0]
        path.rename(folder / path.name.replace(f"{a.pid}-{token}", f"{os.getpid()}-{token}"))
    assert list(folder.glob(f"worker-{os.getpid()}-*.json"))
    seen = scrape(Metrics(folder))
    assert seen["requests"] == {("a",): 4} and seen["inflight"] == {} and seen["load"] == {}


HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.readline()
fcntl.flock(fd, fcntl.LOCK_UN)
print("released", flush=True)
sys.stdin.readline()
"""


@pytest.mark.parametrize("how", ["released", "kill -9"])
def test_a_live_lock_holder_is_alive_and_a_released_lock_is_dead(tmp_path: Path, how: str) -> None:
    lock = tmp_path / "worker-x.lock"
    assert not held(lock)  # no file: no worker
    with subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdin is not None and proc.stdout is not None
            assert proc.stdout.readline() == "locked\n"
            assert held(lock) and held(lock)  # asking does not take it
            if how == "kill -9":
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=30)
            else:
                proc.stdin.write("\n")
                proc.stdin.flush()
                assert proc.stdout.readline() == "released\n"  # alive, and unlocked
            assert not held(lock)
        finally:
            proc.kill()


def test_workers_in_one_process_see_each_other_by_their_locks(tmp_path: Path) -> None:
    """flock is per open file, so two Metrics of one process are two workers; start()
    joins the folder at once, stop() leaves it."""
    folder = tmp_path / "metrics"

    async def main() -> None:
        one, two = Metrics(folder), Metrics(folder)
        record(one, "one", 2, 0.1)
        record(two, "two", 3, 0.3)
        one.start()
        two.start()
        assert scrape(one)["inflight"] == {("one",): 2, ("two",): 2}
        await two.stop()
        seen = scrape(one)
        assert seen["requests"] == {("one",): 2, ("two",): 3} and seen["inflight"] == {("one",): 2}
        two.publish()  # refused quietly: two left, its values are in retired.json
        assert scrape(two)["requests"] == {("one",): 2, ("two",): 3}
        await one.stop()

    asyncio.run(main())
    assert sorted(p.name for p in folder.iterdir()) == ["fold.lock", "retired.json"]
