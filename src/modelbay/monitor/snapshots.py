"""Metric snapshots of a server's worker processes: their types, their merge, their folder.

A worker's metrics are a :class:`Snapshot`: per family name, per label values, a
:class:`Scalar` (a counter's or a gauge's value) or :class:`Buckets` (a histogram's).
:func:`merge` makes one snapshot of several workers': counters and histograms add up over
every worker, live or gone, so a total never goes down when a worker exits; a gauge follows
its family's :class:`Across` rule over the live workers only (it describes a live process:
its requests in flight, the versions it loaded), so a gone worker's gauges are dropped.

The folder the workers share (``Settings.metrics_dir``, made fresh by ``modelbay serve``)::

    worker-<token>.lock   flocked exclusively by its worker for the worker's whole life
    worker-<token>.json   the worker's snapshot, replaced whole (write, then rename)
    retired.json          counters and histograms of every worker gone, and their tokens
    fold.lock             shared while a worker reads the folder, exclusive while one folds

``<token>`` is the worker's pid and 8 random hex digits, so a token is never reused. A
worker is alive while its lock is held: a reader that can take it (shared, not waiting)
knows the writer is gone, since the kernel releases a process's flocks when it exits,
``kill -9`` included. No pid is asked about (``os.kill(pid, 0)`` took a new process with
a reused pid for the old worker). The lock file is made under another name, locked, then
renamed into place, so a reader never sees a live worker's lock free.

Folding: a reader that finds a worker gone, and a worker leaving (:meth:`WorkerFolder.retire`,
with its last values), take ``fold.lock`` exclusively, add the gone worker's counters and
histograms into ``retired.json`` with its token, then delete its files. A snapshot whose
token ``retired.json`` lists is counted from there only, so a fold cut short between the two
steps counts nothing twice. Readers hold ``fold.lock`` shared while they read, so one read
sees a worker in its own file or in ``retired.json``, never in both or neither. What a
worker counted after its last publish and before a ``kill -9`` is lost (at most a
publishing interval's worth); a worker that stops folds its live values.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import os
import secrets
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

__all__ = [
    "Across",
    "Buckets",
    "Kind",
    "Labels",
    "Sample",
    "Scalar",
    "Snapshot",
    "Spec",
    "WorkerFolder",
    "decode",
    "encode",
    "held",
    "merge",
]

Labels = tuple[str, ...]


class Kind(enum.Enum):
    """What a metric family is."""

    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"


class Across(enum.Enum):
    """How one gauge's values in several live workers make one value."""

    SUM = "sum"  # every worker's part adds up (requests in flight)
    MAX = "max"  # the largest (the slowest worker's load time of a version)
    LATEST = "latest"  # the value set last, by whichever worker (a drift or quality check)


@dataclass(frozen=True, slots=True)
class Spec:
    """What a merge needs to know of a family."""

    name: str
    kind: Kind
    across: Across = Across.SUM  # gauges only


@dataclass(frozen=True, slots=True)
class Scalar:
    """A counter's or a gauge's value; ``stamp`` is when a gauge was last set (0: never)."""

    value: float
    stamp: float = 0.0


@dataclass(frozen=True, slots=True)
class Buckets:
    """A histogram's observations per bucket (not cumulative; the last is +Inf), sum, count."""

    counts: tuple[int, ...]
    sum: float
    count: int


Sample = Scalar | Buckets


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The values of one worker (or of several, merged) by family name, then label values."""

    values: Mapping[str, Mapping[Labels, Sample]] = field(default_factory=dict)


def merge(
    specs: Iterable[Spec], live: Iterable[Snapshot], gone: Iterable[Snapshot] = ()
) -> Snapshot:
    """One snapshot of the ``live`` and ``gone`` workers' (the inputs are not changed).

    Counters and histograms add up over all of them; a gauge takes its family's
    :class:`Across` over the live ones, and the gone ones' gauges are dropped. Families
    not in ``specs`` are left out. A sample that does not fit its family's kind, or a
    histogram with other buckets than the same family elsewhere, is a ``ValueError``.
    """
    found = {s.name: s for s in specs}
    out: dict[str, dict[Labels, Sample]] = {name: {} for name in found}
    for snapshots, alive in ((live, True), (gone, False)):
        for snapshot in snapshots:
            for name, series in snapshot.values.items():
                spec = found.get(name)
                if spec is None or (spec.kind is Kind.GAUGE and not alive):
                    continue
                into = out[name]
                for key, sample in series.items():
                    into[key] = _add(spec, into.get(key), sample)
    return Snapshot(out)


def _add(spec: Spec, a: Sample | None, b: Sample) -> Sample:
    if spec.kind is Kind.HISTOGRAM:
        if not isinstance(b, Buckets):
            raise ValueError(f"histogram {spec.name} has a scalar sample {b}")
        if not isinstance(a, Buckets):
            return b
        if len(a.counts) != len(b.counts):
            raise ValueError(
                f"histogram {spec.name}: {len(a.counts)} buckets in one worker, "
                f"{len(b.counts)} in another"
            )
        counts = tuple(x + y for x, y in zip(a.counts, b.counts, strict=True))
        return Buckets(counts, a.sum + b.sum, a.count + b.count)
    if not isinstance(b, Scalar):
        raise ValueError(f"{spec.kind.value} {spec.name} has a histogram sample")
    if not isinstance(a, Scalar):
        return b
    if spec.kind is Kind.COUNTER or spec.across is Across.SUM:
        return Scalar(a.value + b.value, max(a.stamp, b.stamp))
    if spec.across is Across.MAX:
        return a if a.value >= b.value else b
    return b if b.stamp > a.stamp else a  # LATEST


def encode(snapshot: Snapshot, folded: Iterable[str] = ()) -> bytes:
    """A snapshot as a file's bytes, with the tokens of the workers folded into it."""
    families: dict[str, list[list[Any]]] = {}
    for name, series in snapshot.values.items():
        families[name] = [
            [list(key), s.value, s.stamp]
            if isinstance(s, Scalar)
            else [list(key), list(s.counts), s.sum, s.count]
            for key, s in series.items()
        ]
    return orjson.dumps({"families": families, "folded": sorted(folded)})


def decode(data: bytes, specs: Iterable[Spec], source: object = "") -> tuple[Snapshot, set[str]]:
    """The snapshot and folded tokens of :func:`encode`'s bytes; families not in specs are
    left out. Bytes of another shape are a ``ValueError`` naming ``source``."""
    try:
        raw = orjson.loads(data)
        families = raw["families"]
        values: dict[str, dict[Labels, Sample]] = {}
        for spec in specs:
            series = values[spec.name] = {}
            for key, *rest in families.get(spec.name, ()):
                labels = tuple(str(k) for k in key)
                if spec.kind is Kind.HISTOGRAM:
                    counts, total, count = rest
                    series[labels] = Buckets(tuple(int(c) for c in counts), total, int(count))
                else:
                    value, stamp = rest
                    series[labels] = Scalar(float(value), float(stamp))
        return Snapshot(values), {str(t) for t in raw["folded"]}
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(
            f"{source or 'data'} is not a metrics snapshot ({exc}); the folder belongs to "
            "modelbay serve, which makes it afresh at each start"
        ) from exc


def held(path: Path) -> bool:
    """Whether some process holds an exclusive flock on ``path`` (False once it is gone)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # and with it the shared lock, if taken
    return False


class WorkerFolder:
    """This worker's part in the folder its server's workers share (see the module docstring).

    Nothing happens until :meth:`publish` or :meth:`claim`; :meth:`retire` ends it.
    """

    def __init__(self, path: Path, specs: Sequence[Spec]) -> None:
        self.path = Path(path)
        self.specs = tuple(specs)
        self.token: str | None = None
        self.retired = False
        self._fd: int | None = None

    def claim(self) -> None:
        """Join the folder: a new token, and its lock held until :meth:`retire` or exit."""
        if self._fd is not None:
            return
        if self.retired:
            raise RuntimeError(f"this worker left {self.path}; its metrics are in retired.json")
        self.path.mkdir(parents=True, exist_ok=True)
        token = f"{os.getpid()}-{secrets.token_hex(4)}"
        fresh = self.path / f"worker-{token}.lock.new"
        fd = os.open(fresh, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a file no one else has opened
        os.rename(fresh, self._lock(token))  # visible only once locked
        self.token, self._fd = token, fd

    def publish(self, snapshot: Snapshot) -> None:
        """Replace this worker's snapshot file (joining the folder first if need be)."""
        self.claim()
        assert self.token is not None
        self._write(self._snapshot(self.token), encode(snapshot))

    def others(self) -> tuple[list[Snapshot], list[Snapshot]]:
        """The snapshots of the other live workers, and of the gone ones (``retired.json``'s
        and any worker's whose lock is free: those are folded into it before returning)."""
        live: list[Snapshot] = []
        gone: list[Snapshot] = []
        dead: list[str] = []
        with self._folding(fcntl.LOCK_SH):
            retired, folded = self._retired()
            gone.append(retired)
            for path in self.path.glob("worker-*.json"):
                token = path.name.removeprefix("worker-").removesuffix(".json")
                if token == self.token:
                    continue
                if token in folded:  # a fold cut short: counted in retired.json
                    dead.append(token)
                    continue
                try:
                    data = path.read_bytes()
                except FileNotFoundError:  # deleted by hand: nothing to count
                    continue
                snapshot = decode(data, self.specs, path)[0]
                if held(self._lock(token)):
                    live.append(snapshot)
                else:
                    gone.append(snapshot)
                    dead.append(token)
        if dead:
            self._fold(dead)
        return live, gone

    def retire(self, last: Snapshot) -> None:
        """Leave: fold ``last`` (this worker's final values) into ``retired.json``, remove this
        worker's files and release its lock. Later publishes are refused."""
        if self.retired:
            return
        self.claim()
        self._fold([], last)
        if self._fd is not None:
            os.close(self._fd)
        self._fd, self.token, self.retired = None, None, True

    def _fold(self, tokens: Iterable[str], own: Snapshot | None = None) -> None:
        with self._folding(fcntl.LOCK_EX):
            retired, folded = self._retired()
            gone, added, done = [retired], [], []
            for token in tokens:
                if token in folded:  # counted already: only its files are left to delete
                    done.append(token)
                    continue
                try:
                    data = self._snapshot(token).read_bytes()
                except FileNotFoundError:  # folded by another worker meanwhile
                    continue
                gone.append(decode(data, self.specs, self._snapshot(token))[0])
                added.append(token)
            if own is not None and self.token is not None:
                gone.append(own)
                added.append(self.token)
            # a token is remembered while its snapshot file exists: up to the next fold
            keep = {t for t in folded if self._snapshot(t).exists()} | set(added)
            self._write(self.path / "retired.json", encode(merge(self.specs, (), gone), keep))
            for token in (*done, *added):
                self._snapshot(token).unlink(missing_ok=True)
                self._lock(token).unlink(missing_ok=True)

    def _retired(self) -> tuple[Snapshot, set[str]]:
        path = self.path / "retired.json"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return Snapshot(), set()
        return decode(data, self.specs, path)

    @contextlib.contextmanager
    def _folding(self, how: int) -> Iterator[None]:
        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path / "fold.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, how)  # a fold takes milliseconds
            yield
        finally:
            os.close(fd)

    def _write(self, path: Path, data: bytes) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def _lock(self, token: str) -> Path:
        return self.path / f"worker-{token}.lock"

    def _snapshot(self, token: str) -> Path:
        return self.path / f"worker-{token}.json"
