"""Monitoring against a real `modelbay serve` (two worker processes) on 127.0.0.1: drift that
flags exactly the shifted features and fires an alert to a real webhook receiver, live
accuracy from feedback, /metrics that agrees with the requests sent, and the report."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from modelbay import Bay, Client, NotFoundError
from tests import procs
from tests.e2e.servers import BIN, free_port, running_server
from tests.polling import wait_for

ADMIN = "monitoring-admin-key-0123456789abcdef"
H = {"Authorization": f"Bearer {ADMIN}"}


class Receiver:
    """A webhook receiver on loopback: records every POST; fails the first ``fail`` ones."""

    def __init__(self, fail: int = 0) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.fail = fail
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                outer.calls.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = 500 if len(outer.calls) <= outer.fail else 200
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


DEPLOYMENTS = ("churn-train", "churn-shifted", "churn-gauged", "bc-feedback", "bc-graded")


@pytest.fixture(scope="module")
def home(own_serve_home: Path) -> Path:
    return own_serve_home  # the deployments, logs and alerts made here stay here


@pytest.fixture(scope="module")
def server(home: Path) -> Iterator[str]:
    with Bay(home=home) as bay:
        for name in (*DEPLOYMENTS, "bc-counted"):
            bay.deployments.put(name, "churn" if name.startswith("churn") else "bc-logistic")
    with running_server(
        home,
        "--workers",
        "2",
        auth=True,
        MODELBAY_ADMIN_KEY=ADMIN,
        MODELBAY_ALERT_INTERVAL_S="0.5",
    ) as url:
        yield url


def shifted(frame: pd.DataFrame) -> pd.DataFrame:
    """A known shift: +25 years of age, +40 months of tenure, a new plan on 40% of rows."""
    out = frame.copy()
    out["age"] = out["age"] + 25
    out["tenure"] = out["tenure"] + 40
    rng = np.random.default_rng(1)
    out.loc[rng.random(len(out)) < 0.4, "plan"] = "enterprise"
    return out


def send(url: str, name: str, frame: pd.DataFrame, chunk: int = 8) -> None:
    with Client(url, ADMIN) as client:
        for i in range(0, len(frame), chunk):
            client.predict(name, frame.iloc[i : i + chunk])


def logged(home: Path, deployment: str, feedback: bool = False) -> int:
    """The rows of ``deployment``'s requests in the prediction log (with truth, if
    ``feedback``), read in this process: unlike a server's check, it sets no gauge."""
    with Bay(home=home) as bay:
        if feedback:
            found = bay.monitor.quality(deployment, "1h")["versions"].values()
            return sum(v["rows"] for v in found)
        try:
            return int(bay.monitor.drift(deployment, "1h", store=False)["rows"])
        except NotFoundError:
            return 0  # not one request of it is in the log yet


def check(url: str, home: Path, what: str, deployment: str, rows: int) -> dict[str, Any]:
    """The server's ``what`` check ("drift" or "quality") of ``deployment`` once the log holds
    ``rows`` rows: the log is written in batches, and each check sets the gauges of the worker
    that answers it, so the server is asked once, when the rows are there."""
    wait_for(
        lambda: logged(home, deployment, what == "quality") >= rows,
        30,
        0.25,
        f"{rows} rows in the log of {deployment}",
    )
    r = httpx.get(f"{url}/api/monitor/{deployment}/{what}?window=1h", headers=H)
    assert r.status_code == 200, r.text
    return dict(r.json())


def predict_then_grade(url: str, deployment: str, rows: pd.DataFrame, right: int) -> list[Any]:
    """One request a row, then the truth of each: the first ``right`` as predicted, the rest
    not, in one bulk call and one single call. The answers of those two calls."""
    ids, predicted = [], []
    for i in range(len(rows)):
        one = {c: float(v) for c, v in rows.iloc[i].items()}
        body = {
            "inputs": [
                {"name": k, "shape": [1], "datatype": "FP64", "data": [v]} for k, v in one.items()
            ]
        }
        r = httpx.post(f"{url}/v2/models/{deployment}/infer", json=body, headers=H).json()
        ids.append(r["id"])
        predicted.append(r["outputs"][0]["data"][0])
    truth = [p if i < right else 1 - p for i, p in enumerate(predicted)]
    items = [{"request_id": i, "truth": t} for i, t in zip(ids, truth, strict=True)]
    bulk = httpx.post(f"{url}/v1/feedback", json={"feedback": items[:-1]}, headers=H)
    return [bulk, httpx.post(f"{url}/v1/feedback", json=items[-1], headers=H)]


def test_drift_flags_exactly_the_shifted_features_and_an_alert_reaches_a_webhook(
    server: str, serve_data: dict[str, pd.DataFrame], home: Path, tmp_path: Path
) -> None:
    receiver = Receiver(fail=1)  # the first delivery fails: the alert is retried
    try:
        for rule, deployment in (("shift-alarm", "churn-shifted"), ("calm", "churn-train")):
            r = httpx.put(
                f"{server}/api/alerts/rules/{rule}",
                json={
                    "deployment": deployment,
                    "metric": "drift.features",
                    "op": ">",
                    "threshold": 0,
                    "window_s": 3600,
                    "webhook": receiver.url,
                },
                headers=H,
            )
            assert r.status_code == 200, r.text
            if rule == "shift-alarm":
                secret = r.json()["secret"]
        rows = serve_data["churn"].sample(240, random_state=0)
        send(server, "churn-train", rows)
        send(server, "churn-shifted", shifted(rows))

        calm = check(server, home, "drift", "churn-train", 240)
        assert calm["rows"] == 240 and calm["drifted"] == []
        moved = check(server, home, "drift", "churn-shifted", 240)
        inputs = {f["feature"]: f for f in moved["features"] if f["feature"] != "__prediction__"}
        assert {n for n in moved["drifted"] if n != "__prediction__"} == {"age", "tenure", "plan"}
        assert set(inputs) == {"age", "tenure", "plan", "active", "notes", "signup"}
        assert inputs["signup"]["test"] == "ks" and inputs["signup"]["kind"] == "datetime"
        assert inputs["plan"]["test"] == "chi2" and "enterprise" in inputs["plan"]["detail"]
        assert inputs["age"]["test"] == "ks" and inputs["age"]["p_value"] < 1e-6
        assert inputs["active"]["p_value"] > 0.001 and inputs["active"]["n_cur"] == 240

        # the alert on the shifted deployment fires (once), the calm one does not
        events = wait_for(
            lambda: [
                e
                for e in httpx.get(f"{server}/api/alerts/events", headers=H).json()
                if e["delivered"]
            ],
            30,
            0.25,
            "a delivered alert event",
        )
        assert (
            len(events) == 1 and events[0]["rule"] == "shift-alarm" and events[0]["attempts"] == 2
        )

        def firing() -> list[tuple[dict[str, str], bytes]]:
            return [c for c in receiver.calls if json.loads(c[1])["state"] == "firing"]

        calls = wait_for(lambda: firing() if len(firing()) >= 2 else [], 30, 0.25, "2 deliveries")
        assert len(calls) == 2  # one failed delivery, one accepted retry
        headers, body = calls[-1]
        assert json.loads(body)["rule"] == "shift-alarm" and json.loads(body)["value"] >= 3
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["x-modelbay-signature"], expected)

        out = procs.run(
            [BIN / "modelbay", "--home", str(home), "alerts", "events", "--json"],
            timeout=120,
            check=True,
        ).stdout
        assert json.loads(out)[0]["rule"] == "shift-alarm"
        report = tmp_path / "report.html"
        procs.run(
            [BIN / "modelbay", "--home", str(home), "report", "churn-shifted", "-o", str(report)],
            timeout=120,
            check=True,
        )
        page = report.read_text()
        # throughput, latency and drift charts; no feedback here, so no quality chart
        assert page.count("<svg") == 3 and "no data in this window" in page
        assert page.count('class="drifted"') >= 3
        for feature in ("age", "tenure", "plan"):
            assert f'<tr class="drifted"><td>{feature}</td>' in page
        assert '<tr class=""><td>active</td>' in page
        cli = procs.run(
            [BIN / "modelbay", "--home", str(home), "drift", "churn-shifted", "--window", "1h"],
            timeout=120,
            check=True,
            env={"COLUMNS": "200", "PATH": ""},
        ).stdout
        assert "drifted: age, plan, tenure" in cli and "enterprise" in cli
    finally:
        receiver.close()
        for rule in ("shift-alarm", "calm"):
            httpx.delete(f"{server}/api/alerts/rules/{rule}", headers=H)


def test_feedback_gives_the_expected_live_accuracy(
    server: str, serve_data: dict[str, pd.DataFrame], home: Path
) -> None:
    rows = serve_data["bc-logistic"].head(100)
    bulk, single = predict_then_grade(server, "bc-feedback", rows, right=80)  # 20 wrong
    assert bulk.status_code == 200
    assert bulk.json() == {"stored": 99, "matched": 99, "unmatched": []}
    assert single.json() == {"stored": 1, "matched": 1, "unmatched": []}
    (only,) = check(server, home, "quality", "bc-feedback", 100)["versions"].values()
    assert only["rows"] == 100 and only["live"]["accuracy"] == pytest.approx(0.80)
    assert "accuracy" in only["holdout"]
    bad = httpx.post(f"{server}/v1/feedback", json={"feedback": [{"truth": 1}]}, headers=H)
    assert bad.status_code == 422


def test_metrics_parse_and_agree_with_the_requests_sent(
    server: str, serve_data: dict[str, pd.DataFrame], home: Path
) -> None:
    rows = serve_data["bc-logistic"].head(1)
    one = {c: float(v) for c, v in rows.iloc[0].items()}
    body = {
        "inputs": [
            {"name": k, "shape": [1], "datatype": "FP64", "data": [v]} for k, v in one.items()
        ]
    }
    sent = 37
    for _ in range(sent):  # new connections: both workers answer some
        with httpx.Client() as c:
            assert (
                c.post(f"{server}/v2/models/bc-counted/infer", json=body, headers=H).status_code
                == 200
            )
    wrong = {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]}]}
    bad = httpx.post(f"{server}/v2/models/bc-counted/infer", json=wrong, headers=H)
    assert bad.status_code == 400  # 3 columns for a 30-column model
    # the gauges: a drift check sets the drift gauges in the worker that answers it, and a
    # quality check the live-quality gauge; this test makes the traffic both need
    send(server, "churn-gauged", shifted(serve_data["churn"].sample(240, random_state=0)))
    moved = check(server, home, "drift", "churn-gauged", 240)
    assert "age" in moved["drifted"], moved
    predict_then_grade(server, "bc-graded", serve_data["bc-logistic"].head(100), right=80)
    check(server, home, "quality", "bc-graded", 100)
    families = wait_for(lambda: published(server, sent), 30, 0.25, "every value to be published")

    def total(family: str, **labels: str) -> float:
        return counted(families, family, **labels)

    assert total("modelbay_inference_requests", deployment="bc-counted", outcome="ok") == sent
    assert total("modelbay_inference_requests", deployment="bc-counted", outcome="SchemaError") == 1
    assert total("modelbay_http_requests", route="/v2/models/{name}/infer", status="200") >= sent
    assert total("modelbay_http_requests", route="/v2/models/{name}/infer", status="400") >= 1
    latency = [
        s
        for s in families["modelbay_inference_duration_seconds"].samples
        if s.name.endswith("_count") and s.labels["deployment"] == "bc-counted"
    ]
    assert sum(s.value for s in latency) == sent
    assert "modelbay_batch_rows" in families and "modelbay_model_load_seconds" in families
    psi = drift_gauges(families, "churn-gauged")
    assert psi["age"] >= 0.2 and psi["active"] < 0.1
    assert quality_gauges(families, "bc-graded") == [pytest.approx(0.8)]
    assert httpx.get(f"{server}/metrics").status_code == 401  # a key with read scope is needed


def counted(families: dict[str, Metric], family: str, **labels: str) -> float:
    """The sum of ``family``'s ``_total`` samples with ``labels``."""
    return sum(
        s.value
        for s in families[family].samples
        if s.name.endswith("_total") and all(s.labels.get(k) == v for k, v in labels.items())
    )


def drift_gauges(families: dict[str, Metric], deployment: str) -> dict[str, float]:
    return {
        s.labels["feature"]: s.value
        for s in families["modelbay_drift_score"].samples
        if s.labels["deployment"] == deployment and s.labels["test"] == "psi"
    }


def quality_gauges(families: dict[str, Metric], deployment: str) -> list[float]:
    return [
        s.value
        for s in families["modelbay_live_quality"].samples
        if s.labels["deployment"] == deployment and s.labels["metric"] == "accuracy"
    ]


def published(url: str, sent: int) -> dict[str, Metric] | None:
    """/metrics once it holds every value the test reads (each worker publishes its values
    every second), else None."""
    text = httpx.get(f"{url}/metrics", headers=H).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    wanted = ("modelbay_inference_requests", "modelbay_drift_score", "modelbay_live_quality")
    if not all(name in families for name in wanted):
        return None
    ok = counted(families, "modelbay_inference_requests", deployment="bc-counted", outcome="ok")
    bad = counted(
        families, "modelbay_inference_requests", deployment="bc-counted", outcome="SchemaError"
    )
    psi = drift_gauges(families, "churn-gauged")
    gauged = "age" in psi and "active" in psi and quality_gauges(families, "bc-graded")
    return families if ok >= sent and bad >= 1 and gauged else None
