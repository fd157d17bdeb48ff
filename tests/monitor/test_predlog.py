"""The prediction log: bounded, sampled, batched, and dropping (counted) when the database is down."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sklearn.datasets import load_iris
from sqlalchemy import select

from modelbay import Bay, NotFoundError, Settings
from modelbay.api.app import create_app
from modelbay.monitor.metrics import Metrics
from modelbay.monitor.predlog import Logged, LoggedRequest, PredictionLog, logged
from modelbay.monitor.quality import LOG_WAIT_S, add_feedback
from modelbay.registry.db import Database
from modelbay.registry.tables import FeedbackRow, PredictionBatchRow
from tests.conftest import PG_URL

EVER = datetime(2000, 1, 1, tzinfo=UTC)

ROW = {"sepal length (cm)": 5.1, "sepal width (cm)": 3.5, "petal length (cm)": 1.4}
ROW |= {"petal width (cm)": 0.2}
BODY = {
    "inputs": [{"name": k, "shape": [1], "datatype": "FP64", "data": [v]} for k, v in ROW.items()]
}


def entry(i: int) -> LoggedRequest:
    return LoggedRequest(
        f"r-{i}",
        time.time(),
        "d",
        "m",
        1,
        "k",
        0.001,
        np.array([[1.0, 2.0]]),
        ["a", "b"],
        np.array([i]),
    )


def read(db: Database, deployment: str = "d", since: datetime = EVER) -> list[Logged]:
    with db.session() as s:
        return logged(s, deployment, since, inputs=True)


def sample_value(metrics: Metrics, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


def test_a_full_queue_drops_and_counts_without_blocking(bay: Bay) -> None:
    metrics = Metrics()
    log = PredictionLog(bay.db, metrics, capacity=5)
    started = time.perf_counter()
    kept = [log.record(entry(i)) for i in range(12)]
    assert time.perf_counter() - started < 0.05
    assert kept == [True] * 5 + [False] * 7
    assert sample_value(metrics, "modelbay_prediction_log_dropped_total", reason="queue_full") == 7
    assert log.flush() == 5
    rows = read(bay.db)
    assert [r.request_id for r in rows] == [f"r-{i}" for i in range(5)]
    assert rows[0].inputs == [[1.0, 2.0]] and rows[0].outputs == [0]
    assert [r.outputs for r in rows] == [[i] for i in range(5)]
    assert rows[0].actor == "k" and rows[0].latency_ms == pytest.approx(1.0) and rows[0].rows == 1
    with bay.db.session() as s:  # one database row for the flush
        assert s.query(PredictionBatchRow).count() == 1


def test_a_flush_writes_what_was_queued_when_it_began(sqlite_bay: Bay) -> None:
    """Requests that arrive while a flush writes wait for the next flush, so that under
    load every commit carries a full batch, not whatever came during the last commit."""
    arrived = iter(range(100, 200))

    class Busy(PredictionLog):
        def _insert(self, entries: list[LoggedRequest]) -> None:
            super()._insert(entries)
            for _ in range(2):  # requests come in while the batch is written
                self.record(entry(next(arrived)))

    log = Busy(sqlite_bay.db, batch=3)
    for i in range(7):
        log.record(entry(i))
    assert log.flush() == 7  # three batches: 3 + 3 + 1
    assert len(log._queue) == 6  # two for each batch written, left for the next flush
    with sqlite_bay.db.session() as s:
        assert s.query(PredictionBatchRow).count() == 3
    assert log.flush() == 6
    ids = [r.request_id for r in read(sqlite_bay.db)]
    assert ids == [f"r-{i}" for i in [*range(7), *range(100, 106)]]


def test_sampling_logs_about_the_share_asked(sqlite_bay: Bay) -> None:
    log = PredictionLog(sqlite_bay.db, sample=0.25, capacity=10_000)
    kept = sum(log.record(entry(i)) for i in range(4000))
    assert 800 < kept < 1200


def test_retention_by_count_removes_whole_batches_oldest_first(sqlite_bay: Bay) -> None:
    log = PredictionLog(sqlite_bay.db, max_rows=10)
    for flush in range(5):  # five flushes of five
        for i in range(5 * flush, 5 * flush + 5):
            log.record(entry(i))
        log.flush()
    assert log.trim() == 15
    assert [r.request_id for r in read(sqlite_bay.db)] == [f"r-{i}" for i in range(15, 25)]
    log.max_rows = 7  # inside the newest batch but one: that batch stays (at most a batch over)
    assert log.trim() == 0 and len(read(sqlite_bay.db)) == 10


def test_retention_by_age(sqlite_bay: Bay) -> None:
    log = PredictionLog(sqlite_bay.db, retention_days=30)
    for i, days in enumerate([40, 35, 31, 29, 1, 0]):
        e = entry(i)
        e.at = time.time() - days * 86400
        log.record(e)
        log.flush()  # a batch each: a batch goes once its newest request is past retention
    assert log.trim() == 3
    assert [r.request_id for r in read(sqlite_bay.db)] == ["r-3", "r-4", "r-5"]


@pytest.fixture
def pg_served(pg_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    from modelbay.registry.keys import generate_master_key

    settings = Settings(
        home=tmp_path / "bay", database_url=pg_url, master_key=generate_master_key(), auth=False
    )
    with Bay(settings) as bay:
        iris = load_iris(as_frame=True).frame
        bay.train(iris, "target", name="iris", algorithm="logistic_regression", trials=1, cv=2)
    with TestClient(create_app(settings)) as client:
        yield client, pg_url.rsplit("/", 1)[1]


def test_a_stopped_database_makes_logging_drop_and_count_not_fail_requests(
    pg_served: tuple[TestClient, str],
) -> None:
    client, name = pg_served
    assert all(client.post("/v2/models/iris/infer", json=BODY).status_code == 200 for _ in range(5))
    predlog = client.app.server.predlog  # type: ignore[attr-defined]
    predlog.flush()
    assert predlog.written == 5
    admin = psycopg.connect(PG_URL, autocommit=True)
    try:  # the database goes away: no connection to it is allowed any more
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        statuses = [client.post("/v2/models/iris/infer", json=BODY).status_code for _ in range(20)]
        assert statuses == [200] * 20
        predlog.flush()
        assert predlog.dropped == 20 and predlog.written == 5
        metrics = client.app.server.metrics  # type: ignore[attr-defined]
        assert (
            sample_value(metrics, "modelbay_prediction_log_dropped_total", reason="database") == 20
        )
    finally:
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        admin.close()
    assert client.post("/v2/models/iris/infer", json=BODY).status_code == 200
    predlog.flush()
    assert predlog.written == 6  # back to logging once the database is back


def iris_and_1000_rows(home: Path) -> tuple[np.ndarray, dict[str, Any]]:
    """An iris classifier registered under ``home``, and a v2 body of 1,000 of its rows."""
    iris = load_iris(as_frame=True).frame
    with Bay(home=home) as bay:
        bay.train(iris, "target", name="iris", algorithm="logistic_regression", trials=1, cv=2)
    x = iris.drop(columns="target").to_numpy()[np.arange(1000) % 150]
    body = {
        "inputs": [
            {"name": "x", "shape": [1000, 4], "datatype": "FP64", "data": x.ravel().tolist()}
        ]
    }
    return x, body


def test_a_large_request_is_logged_every_kth_row_and_feedback_stays_aligned(tmp_path: Path) -> None:
    x, body = iris_and_1000_rows(tmp_path / "bay")
    with TestClient(create_app(Settings(home=tmp_path / "bay", auth=False))) as client:
        r = client.post("/v2/models/iris/infer", json=body).json()
        predicted = r["outputs"][0]["data"]
        client.app.server.predlog.flush()  # type: ignore[attr-defined]
        # every 10th row is logged (100 of 1,000); of those, the first 30 get a wrong truth
        truth = [p if i % 10 or i >= 300 else (p + 1) % 3 for i, p in enumerate(predicted)]
        client.post("/v1/feedback", json={"request_id": r["id"], "truth": truth})
        quality = client.get("/api/monitor/iris/quality?window=1h").json()
    (only,) = quality["versions"].values()
    assert only["rows"] == 100 and only["live"]["accuracy"] == pytest.approx(0.70)
    with Bay(home=tmp_path / "bay") as bay:
        (row,) = read(bay.db, "iris")
    assert row.rows == 1000 and row.inputs is not None
    assert len(row.inputs) == 100 and len(row.outputs) == 100
    assert row.inputs[1] == x[10].tolist() and row.request_id == r["id"]


def test_bulk_feedback_is_one_upsert_and_keeps_the_last_answer_per_request(bay: Bay) -> None:
    log = PredictionLog(bay.db, capacity=7000, batch=7000)
    for i in range(7000):
        log.record(entry(i))
    log.flush()
    items = [{"request_id": f"r-{i % 7000}", "truth": [i]} for i in range(10_000)]
    assert add_feedback(bay.db, items).to_dict() == {  # the most one call takes
        "stored": 10_000,
        "matched": 10_000,
        "unmatched": [],
    }
    assert add_feedback(bay.db, [{"request_id": "r-1", "truth": "late"}]).stored == 1
    with bay.db.session() as s:
        found = dict(s.execute(select(FeedbackRow.request_id, FeedbackRow.truth)).all())
    assert len(found) == 7000
    assert found["r-0"] == [7000] and found["r-6999"] == [6999] and found["r-1"] == ["late"]


def test_feedback_says_which_ids_match_no_logged_prediction_and_keeps_only_matches(
    bay: Bay,
) -> None:
    log = PredictionLog(bay.db)
    for i in range(3):
        log.record(entry(i))
    log.flush()
    items = [{"request_id": i, "truth": 1} for i in ("r-0", "typo", "r-2", "typo", "r-9")]
    found = bay.monitor.feedback(items)
    assert found.to_dict() == {"stored": 2, "matched": 2, "unmatched": ["typo", "r-9"]}
    with bay.db.session() as s:
        assert set(s.scalars(select(FeedbackRow.request_id))) == {"r-0", "r-2"}


def test_feedback_that_matches_nothing_is_an_error_and_stores_nothing(bay: Bay) -> None:
    log = PredictionLog(bay.db)
    log.record(entry(0))
    log.flush()
    started = time.monotonic()
    with pytest.raises(NotFoundError, match=r"none of the 2 request id\(s\).*'nope', 'r-7'"):
        add_feedback(
            bay.db, [{"request_id": "nope", "truth": 1}, {"request_id": "r-7", "truth": 0}]
        )
    assert time.monotonic() - started >= LOG_WAIT_S  # looked again while writers catch up
    with bay.db.session() as s:
        assert s.scalar(select(FeedbackRow.request_id)) is None


def test_feedback_waits_for_a_prediction_still_in_a_writers_queue(sqlite_bay: Bay) -> None:
    """A server's workers write the log every half second: feedback sent right after its
    prediction, to another worker, is found once that worker's writer has written it."""
    import threading

    other_worker = PredictionLog(sqlite_bay.db)
    other_worker.record(entry(5))
    writer = threading.Timer(0.5, other_worker.flush)
    writer.start()
    try:
        found = add_feedback(sqlite_bay.db, [{"request_id": "r-5", "truth": 1}])
    finally:
        writer.join()
    assert found.to_dict() == {"stored": 1, "matched": 1, "unmatched": []}


def test_http_feedback_reports_matches_and_answers_404_when_nothing_matched(
    tmp_path: Path,
) -> None:
    iris_and_1000_rows(tmp_path / "bay")
    with TestClient(create_app(Settings(home=tmp_path / "bay", auth=False))) as client:
        one = client.post("/v2/models/iris/infer", json=BODY).json()
        # no flush here: the server writes its own queued log before it matches feedback
        r = client.post(
            "/v1/feedback",
            json={
                "feedback": [{"request_id": one["id"], "truth": 0}, {"request_id": "x", "truth": 1}]
            },
        )
        assert r.status_code == 200 and r.json() == {
            "stored": 1,
            "matched": 1,
            "unmatched": ["x"],
        }
        r = client.post("/v1/feedback", json={"request_id": "x", "truth": 1})
        assert r.status_code == 404 and "none of the 1 request id(s)" in r.json()["error"]


def test_the_rows_budget_strides_large_requests_further_and_feedback_stays_aligned(
    tmp_path: Path,
) -> None:
    x, body = iris_and_1000_rows(tmp_path / "bay")
    settings = Settings(home=tmp_path / "bay", auth=False, log_rows_per_s=137)
    with TestClient(create_app(settings)) as client:
        started = time.monotonic()
        answers = [client.post("/v2/models/iris/infer", json=body).json() for _ in range(3)]
        elapsed = time.monotonic() - started
        client.post("/v2/models/iris/infer", json=BODY).raise_for_status()  # 1 row: always
        client.app.server.predlog.flush()  # type: ignore[attr-defined]
        with Bay(home=tmp_path / "bay") as bay:
            found = {r.request_id: r for r in read(bay.db, "iris")}
        assert len(found) == 4  # every request is logged, at least one row each
        counts = [len(found[a["id"]].outputs) for a in answers]
        assert counts[0] == 100  # a full bucket: the per-request cap
        assert 1 <= counts[1] < 100 and counts[2] <= counts[1]  # then what the budget left
        # the budget, plus one row a request and what refilled while the requests ran (a slow
        # machine refills more)
        assert sum(counts) <= 137 + 3 + 137 * elapsed, (counts, elapsed)
        second = found[answers[1]["id"]]
        k = -(-1000 // counts[1])
        assert second.inputs == x[::k].tolist() and second.rows == 1000
        predicted = answers[1]["outputs"][0]["data"]
        wrong = set(range(0, 1000, k)[:5])  # the first five logged rows get a wrong truth
        truth = [(p + 1) % 3 if i in wrong else p for i, p in enumerate(predicted)]
        client.post("/v1/feedback", json={"request_id": answers[1]["id"], "truth": truth})
        quality = client.get("/api/monitor/iris/quality?window=1h").json()
    (only,) = quality["versions"].values()
    assert only["rows"] == counts[1]
    assert only["live"]["accuracy"] == pytest.approx(1 - 5 / counts[1])


def test_a_window_holds_the_requests_in_it_whatever_order_writers_flushed_them(
    sqlite_bay: Bay,
) -> None:
    log = PredictionLog(sqlite_bay.db)
    base = time.time() - 3600
    # times an hour apart; two writers' batches a few seconds apart flushed out of order,
    # and batches that straddle the window's start
    flushes = [[0, 10, 5], [600], [1200, 1190], [1180, 1800], [2400, 2390], [3000]]
    offsets = {}
    for batch in flushes:
        for off in batch:
            i = len(offsets)
            offsets[i] = off
            e = entry(i)
            e.at = base + off
            e.deployment = "d" if i % 3 else "other"
            log.record(e)
        log.flush()
    since = datetime.fromtimestamp(base + 1195, UTC)
    found = [r.request_id for r in read(sqlite_bay.db, "d", since)]
    assert sorted(found) == sorted(
        f"r-{i}" for i, off in offsets.items() if i % 3 and base + off >= since.timestamp()
    )
    everything = read(sqlite_bay.db, "d", datetime.fromtimestamp(base - 10, UTC))
    assert sorted(r.request_id for r in everything) == sorted(f"r-{i}" for i in offsets if i % 3)
    assert read(sqlite_bay.db, "d", datetime.now(UTC) + timedelta(hours=1)) == []
    with sqlite_bay.db.session() as s:  # the newest n, by time
        newest = logged(s, "d", EVER, newest=2)
    assert [r.at - base for r in newest] == pytest.approx([2400, 3000])


def test_every_kind_of_entry_reads_back_as_it_was_logged(sqlite_bay: Bay) -> None:
    def made(i: int, rows: Any, labels: np.ndarray, total: int = 0) -> LoggedRequest:
        return LoggedRequest(
            f"r-{i}",
            1_700_000_000.25 + i / 3,
            "d",
            "m",
            1,
            f"k{i}",
            0.002,
            rows,
            ["a", "b"],
            labels,
            total,
        )

    big = np.arange(20.0).reshape(10, 2)
    numeric = [
        made(0, np.array([[1.0, np.nan]]), np.array([3])),
        made(1, big[::4], np.arange(10)[::4], total=10),  # a strided large request
        made(2, np.array([[0.5, 2.0]], dtype=np.float32), np.array([7])),
        made(3, np.ones((2, 2)), np.array([0.5, np.nan])),
    ]
    texts = [made(4, np.array([["hello"]], dtype=object), np.array(["greeting"]))]
    mixed = [made(5, np.ones((1, 3)), np.array([1])), made(6, np.ones((1, 2)), np.array([True]))]
    frame = [made(7, pd.DataFrame({"b": [2.0], "a": [1.0]}), np.array([0]))]
    log = PredictionLog(sqlite_bay.db)
    for group in (numeric, texts, mixed, frame):
        for e in group:
            log.record(e)
        log.flush()  # a batch each
    rows = {r.request_id: r for r in read(sqlite_bay.db)}
    assert rows["r-0"].inputs == [[1.0, None]] and rows["r-0"].outputs == [3]
    assert rows["r-1"].inputs == big[::4].tolist() and rows["r-1"].outputs == [0, 4, 8]
    assert rows["r-1"].rows == 10 and rows["r-0"].rows == 1
    assert rows["r-2"].inputs == [[0.5, 2.0]] and rows["r-2"].outputs == [7]
    assert rows["r-3"].outputs[0] == 0.5 and rows["r-3"].outputs[1] is None  # NaN: JSON null
    assert rows["r-4"].inputs == [["hello"]] and rows["r-4"].outputs == ["greeting"]
    assert rows["r-5"].inputs == [[1.0, 1.0, 1.0]] and rows["r-6"].inputs == [[1.0, 1.0]]
    assert rows["r-6"].outputs == [True]
    assert rows["r-7"].inputs == [[1.0, 2.0]]  # in the signature's order
    assert [rows[f"r-{i}"].actor for i in range(8)] == [f"k{i}" for i in range(8)]
    assert rows["r-3"].at == pytest.approx(1_700_000_000.25 + 1.0)


def test_an_old_log_is_carried_over_by_the_migration(tmp_path: Path) -> None:
    from sqlalchemy import text

    db = Database(f"sqlite:///{tmp_path / 'old.db'}", migrate=False)
    db.migrate("0004")
    insert = text(
        "INSERT INTO prediction_log (request_id, at, deployment, model, version, actor, "
        "latency_ms, rows, inputs, inputs_f64, outputs) VALUES (:rid, :at, :d, 'm', :v, 'k', "
        "1.5, :rows, :inputs, :f64, :outputs)"
    )
    old = [
        (
            "a",
            "2026-11-30 10:00:00.000000",
            "d",
            1,
            1,
            None,
            np.array([[1.0, 2.0]]).tobytes(),
            "[0]",
        ),
        ("b", "2026-11-30 10:00:01.000000", "d", 1, 10, None, np.ones((2, 2)).tobytes(), "[1, 1]"),
        ("c", "2026-11-30 10:00:02.000000", "d", 2, 1, "[[3.0, 4.0]]", None, '["x"]'),
        ("e", "2026-11-30 10:00:03.000000", "other", 1, 1, None, np.zeros((1, 2)).tobytes(), "[2]"),
    ]
    with db.engine.begin() as conn:
        for rid, at, d, v, rows, inputs, f64, outputs in old:
            conn.execute(
                insert,
                {
                    "rid": rid,
                    "at": at,
                    "d": d,
                    "v": v,
                    "rows": rows,
                    "inputs": inputs,
                    "f64": f64,
                    "outputs": outputs,
                },
            )
    db.migrate()
    found = read(db)
    assert [(r.request_id, r.version, r.rows, r.outputs) for r in found] == [
        ("a", 1, 1, [0]),
        ("b", 1, 10, [1, 1]),
        ("c", 2, 1, ["x"]),
    ]
    assert [r.inputs for r in found] == [[[1.0, 2.0]], [[1.0, 1.0], [1.0, 1.0]], [[3.0, 4.0]]]
    assert found[0].at == datetime(2026, 11, 30, 10, tzinfo=UTC).timestamp()
    assert [r.request_id for r in read(db, "other")] == ["e"]
    db.dispose()
