"""What metrics cost a served 1-row request: modelbay's snapshots against prometheus-client's
multiprocess mode, in one process, no HTTP.

    .venv/bin/python bench/metrics.py [--requests 40000] [--rounds 7]

A 1-row inference request updates, through the server's real hooks (``ServingMonitor``
and the front's ``metrics.http``): the in-flight gauge up and down, the outcome counter,
the latency and queue histograms, then for its model call (one per request: at load,
1-row requests merge, so this is the most a request pays) the call-duration, rows and
requests-per-call histograms and one predicted-class counter; and the HTTP counter.

Modes, each doing exactly those updates:

- ``snapshots``: modelbay's ``Metrics`` (plain Python per worker; a snapshot file a second).
- ``prometheus multiprocess``: prometheus-client with ``PROMETHEUS_MULTIPROC_DIR``, one
  mmap file per process and kind, gauges ``livesum`` / ``livemax`` / ``livemostrecent``
  (``mark_process_dead`` would drop a dead pid's live gauges), read by
  ``MultiProcessCollector``.
- ``prometheus one process``: prometheus-client without multiprocess mode, for reference
  (it cannot add up workers).

The render rows time ``/metrics``'s body with two workers' data (8 deployments, drift and
quality gauges, ~2,000 requests each): for snapshots, one ``Metrics`` live in this process
and another's published file in the same folder; for multiprocess, two pids' mmap files.
A served 1-row request costs about 100 us of one core (~10,000 req/s on 2 cores); the
share column is the metric work against that.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from modelbay.monitor.hooks import ServingMonitor
from modelbay.monitor.metrics import BATCH_BUCKETS, LATENCY_BUCKETS, VALUE_BUCKETS, Metrics

REQUEST_US = 100.0  # one served 1-row request, one core
WORKER_RPS = 5_000  # each of 2 workers at ~10,000 req/s: one snapshot publish a second
ROUTE = "/v2/models/{name}/infer"
DEPLOYMENTS = 8


class Prom:
    """modelbay's families, as prometheus-client metrics (same names, labels, buckets)."""

    def __init__(self) -> None:
        dv = ["deployment", "version"]

        def hist(name: str, buckets: tuple[float, ...]) -> Histogram:
            return Histogram(name, name, dv, buckets=buckets, registry=None)

        self.http_requests = Counter(
            "modelbay_http_requests", "h", ["route", "status"], registry=None
        )
        self.requests = Counter("modelbay_inference_requests", "r", [*dv, "outcome"], registry=None)
        self.latency = hist("modelbay_inference_duration_seconds", LATENCY_BUCKETS)
        self.queue = hist("modelbay_inference_queue_seconds", LATENCY_BUCKETS)
        self.model = hist("modelbay_model_call_seconds", LATENCY_BUCKETS)
        self.batch = hist("modelbay_batch_rows", BATCH_BUCKETS)
        self.batch_requests = hist("modelbay_batch_requests", BATCH_BUCKETS[:10])
        self.values = hist("modelbay_prediction_value", VALUE_BUCKETS)
        self.inflight = Gauge(
            "modelbay_inflight_requests", "i", ["deployment"], multiprocess_mode="livesum",
            registry=None,
        )  # fmt: skip
        self.load = Gauge("modelbay_model_load_seconds", "l", dv, multiprocess_mode="livemax",
                          registry=None)  # fmt: skip
        self.drift = Gauge("modelbay_drift_score", "d", ["deployment", "feature", "test"],
                           multiprocess_mode="livemostrecent", registry=None)  # fmt: skip
        self.quality = Gauge("modelbay_live_quality", "q", [*dv, "metric"],
                             multiprocess_mode="livemostrecent", registry=None)  # fmt: skip
        self.predicted = Counter("modelbay_predictions", "p", [*dv, "label"], registry=None)
        self._http: dict[tuple[str, int], Any] = {}
        self._endpoint: dict[tuple[str, int], tuple[Any, ...]] = {}
        self._calls: dict[tuple[str, int], tuple[Any, ...]] = {}
        self._inflight: dict[str, Any] = {}

    def http(self, route: str, status: int) -> None:  # as Metrics.http: children cached
        child = self._http.get((route, status))
        if child is None:
            child = self._http[route, status] = self.http_requests.labels(route, str(status))
        child.inc()


class PromMonitor:
    """ServingMonitor's begin, end and model_call, line for line, on prometheus-client."""

    def __init__(self, p: Prom) -> None:
        self.p = p

    def begin(self, name: str) -> None:
        child = self.p._inflight.get(name)
        if child is None:
            child = self.p._inflight[name] = self.p.inflight.labels(name)
        child.inc()

    def end(self, name: str, prediction: Any, error: Any, seconds: float) -> None:
        self.p._inflight[name].dec()
        version = prediction.served.version.version
        found = self.p._endpoint.get((name, version))
        if found is None:
            v = str(version)
            found = self.p._endpoint[name, version] = (
                self.p.requests.labels(name, v, "ok"),
                self.p.latency.labels(name, v),
                self.p.queue.labels(name, v),
            )
        ok, latency, queue = found
        ok.inc()
        latency.observe(seconds)
        queue.observe(prediction.batch.queue_s)

    def model_call(self, served: Any, outputs: Any, rows: int, requests: int, s: float) -> None:
        key = (served.name, served.version.version)
        found = self.p._calls.get(key)
        if found is None:
            v = str(key[1])
            p = self.p
            found = self.p._calls[key] = (
                p.model.labels(key[0], v), p.batch.labels(key[0], v),
                p.batch_requests.labels(key[0], v), {}, v,
            )  # fmt: skip
        model, batch, batch_requests, classes, v = found
        model.observe(s)
        batch.observe(rows)
        batch_requests.observe(requests)
        for label in outputs.predict.tolist():
            child = classes.get(label)
            if child is None:
                child = classes[label] = self.p.predicted.labels(served.name, v, str(label))
            child.inc()


def fakes(deployment: str, label: int) -> tuple[Any, Any, Any]:
    """A served version, a 1-row prediction and its outputs, as the hooks read them."""
    version = SimpleNamespace(version=1, task="classification", model="m")
    served = SimpleNamespace(name=deployment, version=version)
    outputs = SimpleNamespace(predict=np.array([label]), extra=None)
    prediction = SimpleNamespace(
        served=served, batch=SimpleNamespace(queue_s=0.0004), rows=None, outputs=outputs
    )
    return served, outputs, prediction


def request_fn(monitor: Any, http: Callable[[str, int], None]) -> Callable[[int], None]:
    """One 1-row request's metric updates (``i`` picks the deployment and class)."""
    cases = [fakes(f"d{d}", c) for d in range(DEPLOYMENTS) for c in (0, 1)]

    def one(i: int) -> None:
        served, outputs, prediction = cases[i % len(cases)]
        monitor.begin(served.name)
        monitor.model_call(served, outputs, 1, 1, 0.0003 + (i % 7) * 1e-4)
        monitor.end(served.name, prediction, None, 0.0009 + (i % 5) * 1e-4)
        http(ROUTE, 200 if i % 50 else 400)

    return one


def fill_gauges(load: Callable[..., None], drift: Callable[..., None], quality: Any) -> None:
    """What a server sets besides requests: load times, drift and quality per deployment."""
    for d in range(DEPLOYMENTS):
        load(f"d{d}", 0.2 + d / 100)
        for f in range(10):
            for test in ("psi", "ks"):
                drift(f"d{d}", f"feature{f}", test, f / 10)
        for metric in ("accuracy", "f1", "log_loss"):
            quality(f"d{d}", metric, 0.9)


def snapshots_worker(folder: Path, requests: int) -> Metrics:
    m = Metrics(folder)
    one = request_fn(ServingMonitor(m), m.http)
    for i in range(requests):
        one(i)
    fill_gauges(
        lambda d, s: m.load.labels(d, "1").set(s),
        lambda d, f, t, s: m.drift.labels(d, f, t).set(s),
        lambda d, metric, s: m.quality.labels(d, "1", metric).set(s),
    )
    return m


def prom_worker(requests: int) -> Prom:
    p = Prom()
    one = request_fn(PromMonitor(p), p.http)
    for i in range(requests):
        one(i)
    fill_gauges(
        lambda d, s: p.load.labels(d, "1").set(s),
        lambda d, f, t, s: p.drift.labels(d, f, t).set(s),
        lambda d, metric, s: p.quality.labels(d, "1", metric).set(s),
    )
    return p


@contextlib.contextmanager
def value_class(made: Any) -> Iterator[None]:
    """prometheus-client picks a metric child's value class when the child is made."""
    before = values.ValueClass
    values.ValueClass = made
    try:
        yield
    finally:
        values.ValueClass = before


def per_request_us(one: Callable[[int], None], n: int, rounds: int) -> list[float]:
    for i in range(2_000):  # children made, caches warm
        one(i)
    out = []
    for _ in range(rounds):
        gc.collect()
        start = time.perf_counter_ns()
        for i in range(n):
            one(i)
        out.append((time.perf_counter_ns() - start) / n / 1_000)
    return out


def timed_ms(fn: Callable[[], object], times: int) -> float:
    fn()
    laps = []
    for _ in range(times):
        start = time.perf_counter_ns()
        fn()
        laps.append((time.perf_counter_ns() - start) / 1e6)
    return statistics.median(laps)


def requests_total(text: str) -> float:
    families = {f.name: f for f in text_string_to_metric_families(text)}
    return sum(
        s.value
        for s in families["modelbay_inference_requests"].samples
        if s.name.endswith("_total")
    )


class Null:
    """The hooks with no metric behind them: what the calls alone cost."""

    def begin(self, name: str) -> None:
        pass

    def end(self, *args: Any) -> None:
        pass

    def model_call(self, *args: Any) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=40_000, help="requests a round")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    n, rounds = args.requests, args.rounds
    fill = 2_000  # requests each worker has answered when /metrics is rendered
    with tempfile.TemporaryDirectory() as tmp:
        snap_dir, prom_dir = Path(tmp, "snapshots"), Path(tmp, "prometheus")
        prom_dir.mkdir()
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(prom_dir)

        work: dict[str, list[float]] = {}
        work["no metrics (the hook calls alone)"] = per_request_us(
            request_fn(Null(), lambda route, status: None), n, rounds
        )
        a = Metrics(snap_dir)
        work["snapshots (modelbay)"] = per_request_us(
            request_fn(ServingMonitor(a), a.http), n, rounds
        )
        with value_class(values.MultiProcessValue()):  # this process's pid, as a worker's
            p = Prom()
            work["prometheus-client multiprocess"] = per_request_us(
                request_fn(PromMonitor(p), p.http), n, rounds
            )
        with value_class(values.MutexValue):
            q = Prom()
            work["prometheus-client, one process"] = per_request_us(
                request_fn(PromMonitor(q), q.http), n, rounds
            )

        # two workers' data for /metrics
        a.close()
        for path in snap_dir.iterdir():
            path.unlink()
        for path in prom_dir.iterdir():
            path.unlink()
        a, b = snapshots_worker(snap_dir, fill), snapshots_worker(snap_dir, fill)
        b.publish()  # b holds its lock: a live worker to a's /metrics
        publish_ms = timed_ms(b.publish, 50)
        snap_ms = timed_ms(a.render, 30)
        snap_text = a.render().decode()
        for pid in (os.getpid(), 999_999):  # the second "worker" writes under another pid
            with value_class(values.MultiProcessValue(lambda pid=pid: pid)):
                prom_worker(fill)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, str(prom_dir))
        prom_ms = timed_ms(lambda: generate_latest(registry), 30)
        prom_text = generate_latest(registry).decode()
        a.close()
        b.close()

    base = statistics.median(work["no metrics (the hook calls alone)"])
    snap = statistics.median(work["snapshots (modelbay)"])
    publish_us = publish_ms * 1000 / WORKER_RPS
    print(f"\n### Metric work of one 1-row request ({rounds} rounds of {n:,} requests)\n")
    print(
        "| mode | us/request (median; best) | metric work us (less the calls alone) "
        f"| share of a {REQUEST_US:.0f} us request | extra over snapshots |"
    )
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, runs in work.items():
        med = statistics.median(runs)
        extra = "" if label.startswith("no metrics") else f"{(med - snap) / REQUEST_US:+.1%}"
        print(
            f"| {label} | {med:.2f}; {min(runs):.2f} | {med - base:.2f} "
            f"| {(med - base) / REQUEST_US:.1%} | {extra} |"
        )
    print(
        f"| snapshots: publishing, a second at {WORKER_RPS:,} req/s a worker "
        f"({publish_ms:.2f} ms each) | {publish_us:.3f} | {publish_us:.3f} "
        f"| {publish_us / REQUEST_US:.2%} | |"
    )
    print(
        f"\n### /metrics with 2 workers' data ({2 * fill:,} requests, {DEPLOYMENTS} deployments)\n"
    )
    print("| mode | render ms (median of 30) | bytes | inference requests counted |")
    print("| --- | ---: | ---: | ---: |")
    for label, ms, text in (
        ("snapshots (modelbay)", snap_ms, snap_text),
        ("prometheus-client multiprocess", prom_ms, prom_text),
    ):
        print(f"| {label} | {ms:.2f} | {len(text):,} | {requests_total(text):,.0f} |")


if __name__ == "__main__":
    main()
