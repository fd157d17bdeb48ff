"""Prometheus metrics of a server, correct across its worker processes, cheap per request.

Each worker counts in plain Python (a dictionary update per counter, a ``bisect`` per
histogram observation: well under a microsecond) and publishes a typed snapshot of its
values every second to its own file in a folder all workers share
(``Settings.metrics_dir``, made fresh by ``modelbay serve``). ``/metrics`` merges this
worker's live values with the others' snapshots (:func:`~modelbay.monitor.snapshots.merge`)
and renders them with prometheus-client's exposition code. Counters and histograms add up
over every worker, gone ones included (a worker that exits or is killed is folded into a
retained file, so totals never go down); gauges follow a rule per family over live workers
only: requests in flight add up, a version's load and warm-up times take the slowest
worker's, drift and live-quality scores the value set last. A worker is alive while it
holds the flock on its lock file, never by its pid (see :mod:`modelbay.monitor.snapshots`).

Why not prometheus-client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``,
``MultiProcessCollector``, ``mark_process_dead``): ``make bench-metrics`` runs a 1-row
request's metric updates (in flight up and down, outcome counter, latency and queue
histograms, the model call's three histograms and its class counter, the HTTP counter)
through the server's hooks in each mode, in one process. Here (2 shared cores, 7 rounds of
40,000 requests, medians; a served 1-row request is ~100 us of one core):

    snapshots (this module)             1.3 us a request  1.3% of a request
      + publishing, 0.47 ms a second    0.1 us a request at 5,000 req/s a worker
    prometheus-client multiprocess     13.1 us a request  13.1%: 11.8 points more
    prometheus-client, one process      5.4 us a request  (cannot add up workers)
    /metrics, 2 workers' data (8 deployments): 5.0 ms here, 7.8 ms multiprocess

Multiprocess mode writes to a memory-mapped file, under a lock and after an
``os.getpid()`` check, on every update (0.69 us; a histogram observation is two), so it
costs ten times the snapshots; it would also need ``mark_process_dead`` called by a
process supervisor uvicorn does not offer, by pid. So the snapshots stay.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from modelbay.monitor.snapshots import (
    Across,
    Buckets,
    Kind,
    Labels,
    Sample,
    Scalar,
    Snapshot,
    Spec,
    WorkerFolder,
    merge,
)
from modelbay.tasks import cancel

__all__ = ["CONTENT_TYPE_LATEST", "Across", "Child", "Family", "Kind", "Metrics"]

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384)
VALUE_BUCKETS = (-1e3, -100, -10, -1, 0, 1, 10, 100, 1e3, 1e4, 1e5)
VALUE_SAMPLE = 64  # regression values observed per model call (a sample, to stay cheap)
PUBLISH_S = 1.0
PENDING_ROWS = 65_536  # labels of large calls counted together once this many wait


class Child:
    __slots__ = ("buckets", "count", "counts", "stamp", "sum", "value")

    def __init__(self, buckets: tuple[float, ...] | None) -> None:
        self.value = 0.0
        self.stamp = 0.0
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1) if buckets else []
        self.sum = 0.0
        self.count = 0

    def inc(self, n: float = 1.0) -> None:
        self.value += n

    def dec(self, n: float = 1.0) -> None:
        self.value -= n

    def set(self, value: float) -> None:
        self.value = value
        self.stamp = time.time()

    def observe(self, value: float) -> None:
        assert self.buckets is not None
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sum += value
        self.count += 1


class Family:
    """One metric and its children by label values: ``labels(*values)`` then inc/set/observe.

    ``across`` says how a gauge's values in several workers make one (see :class:`Across`).
    """

    def __init__(
        self,
        name: str,
        help: str,
        kind: Kind,
        labels: tuple[str, ...] = (),
        buckets: tuple[float, ...] | None = None,
        across: Across = Across.SUM,
    ) -> None:
        if (kind is Kind.HISTOGRAM) != (buckets is not None):
            raise ValueError(f"{name}: a histogram needs buckets, and only a histogram has them")
        self.name, self.help, self.kind, self.labelnames = name, help, kind, labels
        self.buckets = buckets
        self.spec = Spec(name, kind, across)
        self.children: dict[Labels, Child] = {}

    def labels(self, *values: str) -> Child:
        child = self.children.get(values)
        if child is None:
            child = self.children[values] = Child(self.buckets)
        return child

    def inc(self, n: float = 1.0) -> None:  # a family without labels is its own child
        self.labels().inc(n)

    def snapshot(self) -> dict[Labels, Sample]:
        if self.kind is Kind.HISTOGRAM:
            return {
                key: Buckets(tuple(c.counts), c.sum, c.count)
                for key, c in list(self.children.items())
            }
        return {key: Scalar(c.value, c.stamp) for key, c in list(self.children.items())}


class Metrics:
    """Every metric a server exports. ``render()`` gives the Prometheus text format."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = Path(folder) if folder else None
        self.families: list[Family] = []
        dv = ("deployment", "version")

        def family(*args: Any, **kwargs: Any) -> Family:
            made = Family(*args, **kwargs)
            self.families.append(made)
            return made

        self.http_requests = family(
            "modelbay_http_requests",
            "HTTP requests by route and status",
            Kind.COUNTER,
            ("route", "status"),
        )
        self.requests = family(
            "modelbay_inference_requests",
            "Inference requests by deployment, version and outcome (ok or the error's name)",
            Kind.COUNTER,
            (*dv, "outcome"),
        )
        self.latency = family(
            "modelbay_inference_duration_seconds",
            "Time from a request's arrival at the data plane to its answer",
            Kind.HISTOGRAM,
            dv,
            LATENCY_BUCKETS,
        )
        self.queue = family(
            "modelbay_inference_queue_seconds",
            "Time a request waited in the batcher",
            Kind.HISTOGRAM,
            dv,
            LATENCY_BUCKETS,
        )
        self.model = family(
            "modelbay_model_call_seconds",
            "Duration of one (merged) model call",
            Kind.HISTOGRAM,
            dv,
            LATENCY_BUCKETS,
        )
        self.batch = family(
            "modelbay_batch_rows", "Rows per model call", Kind.HISTOGRAM, dv, BATCH_BUCKETS
        )
        self.batch_requests = family(
            "modelbay_batch_requests",
            "Requests merged into one model call",
            Kind.HISTOGRAM,
            dv,
            BATCH_BUCKETS[:10],
        )
        self.inflight = family(
            "modelbay_inflight_requests",
            "Inference requests being answered",
            Kind.GAUGE,
            ("deployment",),
            across=Across.SUM,
        )
        self.load = family(
            "modelbay_model_load_seconds",
            "Time to load a version",
            Kind.GAUGE,
            dv,
            across=Across.MAX,
        )
        self.warmup = family(
            "modelbay_model_warmup_seconds",
            "Time of a version's warm-up prediction",
            Kind.GAUGE,
            dv,
            across=Across.MAX,
        )
        self.predicted = family(
            "modelbay_predictions",
            "Predicted rows by class (classifiers and clusterers)",
            Kind.COUNTER,
            (*dv, "label"),
        )
        self.values = family(
            "modelbay_prediction_value",
            f"Predicted values of regressors (up to {VALUE_SAMPLE} a model call)",
            Kind.HISTOGRAM,
            dv,
            VALUE_BUCKETS,
        )
        self.drift = family(
            "modelbay_drift_score",
            "Latest drift statistic per feature and test (psi, ks, chi2)",
            Kind.GAUGE,
            ("deployment", "feature", "test"),
            across=Across.LATEST,
        )
        self.quality = family(
            "modelbay_live_quality",
            "Latest live quality from feedback, per version and metric",
            Kind.GAUGE,
            (*dv, "metric"),
            across=Across.LATEST,
        )
        self.unseen = family(
            "modelbay_unseen_categories",
            "Values of categorical inputs training never saw, by column (the model takes "
            "them as no category, or the infrequent one)",
            Kind.COUNTER,
            (*dv, "column"),
        )
        self.unparsable = family(
            "modelbay_unparsable_dates",
            "Values of date inputs that do not parse as dates, by column (the model takes "
            "them as missing)",
            Kind.COUNTER,
            (*dv, "column"),
        )
        self.logged = family(
            "modelbay_prediction_log_entries", "Prediction log entries written", Kind.COUNTER
        )
        self.dropped = family(
            "modelbay_prediction_log_dropped",
            "Prediction log entries dropped (queue full, encoding or database failing)",
            Kind.COUNTER,
            ("reason",),
        )
        self.alerts = family(
            "modelbay_alert_events",
            "Alert events by rule and state",
            Kind.COUNTER,
            ("rule", "state"),
        )
        self._children: dict[tuple[str, str | int], tuple[Child, ...]] = {}
        self._calls: dict[tuple[str, str | int], tuple[Any, ...]] = {}
        self._pending: dict[tuple[str, str | int], list[np.ndarray]] = {}  # labels not counted
        self._pending_rows = 0
        self._http: dict[tuple[str, int], Child] = {}
        self._task: asyncio.Task[None] | None = None
        self._specs = [f.spec for f in self.families]
        self._shared = WorkerFolder(self.folder, self._specs) if self.folder else None

    # -- the request path ---------------------------------------------------------------------
    def endpoint(self, deployment: str, version: str | int) -> tuple[Child, ...]:
        """The per-(deployment, version) children a request updates, looked up once (the
        version may be given as its number: its label is made once, not per request)."""
        key = (deployment, version)
        found = self._children.get(key)
        if found is None:
            v = str(version)
            found = self._children[key] = (
                self.requests.labels(deployment, v, "ok"),
                self.latency.labels(deployment, v),
                self.queue.labels(deployment, v),
            )
        return found

    def http(self, route: str, status: int) -> None:
        """One answered HTTP request, by route template and status."""
        key = (route, status)
        child = self._http.get(key)
        if child is None:
            child = self._http[key] = self.http_requests.labels(route, str(status))
        child.value += 1

    def model_call(
        self,
        deployment: str,
        version: str | int,
        labels: np.ndarray,
        rows: int,
        requests: int,
        seconds: float,
        task: str,
    ) -> None:
        """One merged model call: its duration, size and what it predicted."""
        key = (deployment, version)
        found = self._calls.get(key)
        if found is None:
            v = str(version)
            found = self._calls[key] = (
                self.model.labels(deployment, v),
                self.batch.labels(deployment, v),
                self.batch_requests.labels(deployment, v),
                self.values.labels(deployment, v),
                {},
                v,
            )
        model, batch, batch_requests, values, classes, v = found
        model.observe(seconds)
        batch.observe(rows)
        batch_requests.observe(requests)
        if task in ("embeddings", "tensor"):  # vectors, a graph's tensors: no classes to count
            return
        if task == "regression":
            sample = labels[:: max(1, len(labels) // VALUE_SAMPLE)][:VALUE_SAMPLE]
            for v in np.asarray(sample, dtype=np.float64).tolist():
                values.observe(v)
            return
        if len(labels) <= 64:  # counted one by one: 0.3 us for 4 labels, np.unique 5.4 us
            for label in labels.tolist():
                child = classes.get(label)
                if child is None:
                    child = classes[label] = self.predicted.labels(deployment, v, str(label))
                child.value += 1
            return
        # a large call's labels wait, by reference, to be counted with others in one pass
        # (a few numpy calls per call cost more than the counting); every read of the
        # metrics counts what waits first
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = []
        pending.append(labels)
        self._pending_rows += len(labels)
        if self._pending_rows >= PENDING_ROWS:
            self.settle()

    def settle(self) -> None:
        """Count the labels that wait (see :meth:`model_call`); reads of the metrics call it."""
        for key, arrays in self._pending.items():
            if not arrays:
                continue
            labels = arrays[0] if len(arrays) == 1 else np.concatenate(arrays)
            arrays.clear()
            deployment = key[0]
            classes, version = self._calls[key][4:]
            known = list(classes)
            if (
                labels.dtype.kind in "iu"
                and 0 < len(known) <= 8
                and all(type(k) is int for k in known)
            ):
                # the classes seen before, one comparison each: for a few classes that is
                # faster than bincount (24 against 97 us for 65,536 labels of two classes)
                tallies = [int(np.count_nonzero(labels == k)) for k in known]
                if sum(tallies) == len(labels):  # else a new class: counted below
                    for k, n in zip(known, tallies, strict=True):
                        classes[k].value += n
                    continue
            counts = None
            if labels.dtype.kind in "iu" and labels.max() < 1024:
                try:
                    counts = np.bincount(labels)  # class ids: a count, not a sort
                except ValueError:  # a negative id
                    counts = None
            if counts is not None:
                kinds = np.flatnonzero(counts)
                counts = counts[kinds]
            else:
                kinds, counts = np.unique(labels, return_counts=True)
            for label, n in zip(kinds.tolist(), counts.tolist(), strict=True):
                child = classes.get(label)
                if child is None:
                    child = classes[label] = self.predicted.labels(deployment, version, str(label))
                child.value += n
        self._pending_rows = 0

    def novel(
        self, deployment: str, version: str | int, found: Mapping[str, Mapping[str, int]]
    ) -> None:
        """One request's values training never saw (see :mod:`modelbay.data.unseen`): only
        requests that have some get here, so the label lookups cost nothing otherwise."""
        families = {"unseen_categories": self.unseen, "unparsable_dates": self.unparsable}
        v = str(version)
        for kind, columns in found.items():
            for column, n in columns.items():
                families[kind].labels(deployment, v, column).inc(n)

    def drift_result(self, found: dict[str, Any]) -> None:
        """Set the drift gauges from a drift result (per feature: PSI and the test's statistic)."""
        for f in found["features"]:
            self.drift.labels(found["deployment"], f["feature"], "psi").set(f["psi"])
            self.drift.labels(found["deployment"], f["feature"], f["test"]).set(f["statistic"])

    def quality_result(self, found: dict[str, Any]) -> None:
        """Set the live quality gauges from a quality result."""
        for version, q in found["versions"].items():
            for metric, value in q["live"].items():
                self.quality.labels(found["deployment"], version, metric).set(value)

    # -- publishing and rendering ---------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """This worker's values (what waits to be counted counted first)."""
        self.settle()
        return Snapshot({f.name: f.snapshot() for f in self.families})

    def start(self) -> None:
        """Join the shared folder, if any, and publish every PUBLISH_S seconds."""
        if self._shared is not None and self._task is None:
            self.publish()
            self._task = asyncio.get_running_loop().create_task(self._publish_loop())

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None
        self.close()

    def close(self) -> None:
        """Leave the shared folder: this worker's counters and histograms are folded into what
        the other workers go on rendering, its gauges dropped. Final: later updates are not
        published, and :meth:`render` shows the folder only."""
        if self._shared is not None:
            self._shared.retire(self.snapshot())

    async def _publish_loop(self) -> None:
        while True:
            await asyncio.sleep(PUBLISH_S)
            self.publish()

    def publish(self) -> None:
        """Write this worker's values where the other workers' /metrics will read them."""
        if self._shared is not None and not self._shared.retired:
            self._shared.publish(self.snapshot())

    def render(self, deployments: Callable[[str], bool] | None = None) -> bytes:
        """The Prometheus text of every worker: this one's live values and the folder's;
        with ``deployments``, only the samples of the deployments it passes (what a key
        with a model allow-list may see)."""
        live: list[Snapshot] = []
        gone: list[Snapshot] = []
        if self._shared is None or not self._shared.retired:
            live.append(self.snapshot())
        if self._shared is not None:
            others, gone = self._shared.others()
            live.extend(others)
        merged = merge(self._specs, live, gone).values
        registry = CollectorRegistry(auto_describe=False)
        registry.register(
            _Collector([_family(f, _of(f, merged[f.name], deployments)) for f in self.families])
        )
        return bytes(generate_latest(registry))


def _of(
    f: Family, values: Mapping[Labels, Sample], deployments: Callable[[str], bool] | None
) -> Mapping[Labels, Sample]:
    """The samples of a family whose deployment label ``deployments`` passes (all: None)."""
    if deployments is None or "deployment" not in f.labelnames:
        return values
    at = f.labelnames.index("deployment")
    return {k: v for k, v in values.items() if deployments(k[at])}


def _family(f: Family, values: Mapping[Labels, Sample]) -> Metric:
    labels = list(f.labelnames)
    if f.kind is Kind.HISTOGRAM:
        histogram = HistogramMetricFamily(f.name, f.help, labels=labels)
        assert f.buckets is not None
        edges = [*(str(float(b)) for b in f.buckets), "+Inf"]
        for key, sample in sorted(values.items()):
            assert isinstance(sample, Buckets)
            cumulative = np.cumsum(sample.counts).tolist()
            histogram.add_metric(list(key), list(zip(edges, cumulative, strict=True)), sample.sum)
        return histogram
    scalar = CounterMetricFamily if f.kind is Kind.COUNTER else GaugeMetricFamily
    family = scalar(f.name, f.help, labels=labels)
    for key, sample in sorted(values.items()):
        assert isinstance(sample, Scalar)
        family.add_metric(list(key), sample.value)
    return family


class _Collector:
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        yield from self.families
