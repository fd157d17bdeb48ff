"""Alert rules: pending, firing after the for-duration, resolved; signed, retried deliveries."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from modelbay import Bay, ValidationError
from modelbay.monitor.alerts import AlertRules, deliver, evaluate_rules
from modelbay.monitor.predlog import LoggedRequest, PredictionLog
from modelbay.registry.tables import PredictionBatchRow


def log_requests(bay: Bay, n: int) -> None:
    log = PredictionLog(bay.db)
    for i in range(n):
        log.record(
            LoggedRequest(
                f"r{i}",
                time.time(),
                "svc",
                "m",
                1,
                "k",
                0.002,
                np.zeros((1, 2)),
                ["a", "b"],
                np.array([1]),
            )
        )
    log.flush()


def test_a_rule_waits_for_its_duration_fires_once_and_resolves(bay: Bay) -> None:
    sent: list[tuple[dict[str, Any], str, str]] = []

    def send(payload: dict[str, Any], url: str, secret: str) -> tuple[bool, int, str]:
        sent.append((payload, url, secret))
        return True, 1, "HTTP 204"

    rules = AlertRules(bay.db)
    _, secret = rules.put(
        "busy",
        "svc",
        "requests.count",
        ">",
        5,
        window_s=600,
        for_s=60,
        webhook="http://127.0.0.1:9/x",
    )
    log_requests(bay, 8)
    t0 = datetime.now(UTC)
    assert evaluate_rules(bay.db, bay.models, send=send, now=t0) == []
    assert rules.list()[0].state == "pending" and rules.list()[0].value == 8
    assert evaluate_rules(bay.db, bay.models, send=send, now=t0 + timedelta(seconds=30)) == []
    fired = evaluate_rules(bay.db, bay.models, send=send, now=t0 + timedelta(seconds=61))
    assert [e["state"] for e in fired] == ["firing"] and sent[0][2] == secret
    assert evaluate_rules(bay.db, bay.models, send=send, now=t0 + timedelta(seconds=90)) == []
    with bay.db.session() as s:
        s.query(PredictionBatchRow).delete()
    resolved = evaluate_rules(bay.db, bay.models, send=send, now=t0 + timedelta(seconds=120))
    assert [e["state"] for e in resolved] == ["resolved"]
    events = rules.events()
    assert [(e["state"], e["delivered"], e["attempts"]) for e in events] == [
        ("resolved", True, 1),
        ("firing", True, 1),
    ]


def test_bad_rules_say_what_to_fix(bay: Bay) -> None:
    rules = AlertRules(bay.db)
    with pytest.raises(ValidationError, match="metric 'cpu'"):
        rules.put("r", "svc", "cpu", ">", 1)
    with pytest.raises(ValidationError, match="op '=='"):
        rules.put("r", "svc", "requests.count", "==", 1)
    with pytest.raises(ValidationError, match="http"):
        rules.put("r", "svc", "requests.count", ">", 1, webhook="ftp://x")
    assert rules.list() == []


def test_delivery_signs_the_body_and_backs_off_until_accepted() -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[tuple[float, bytes, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            seen.append((time.monotonic(), body, self.headers["x-modelbay-signature"]))
            self.send_response(200 if len(seen) >= 3 else 503)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        ok, attempts, detail = deliver({"id": 7, "rule": "r"}, url, "s3cret", backoff_s=0.1)
        assert (ok, attempts, detail) == (True, 3, "HTTP 200")
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(seen)]
        assert gaps[0] >= 0.09 and gaps[1] >= 0.19  # 0.1 s, then 0.2 s
        body, signature = seen[-1][1], seen[-1][2]
        assert signature == "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
        ok, attempts, _ = deliver({"id": 8}, "http://127.0.0.1:9/", "s", attempts=2, backoff_s=0.01)
        assert not ok and attempts == 2
    finally:
        server.shutdown()
        server.server_close()


def test_rules_on_one_deployment_share_one_drift_measurement_per_pass(bay: Bay) -> None:
    calls: list[tuple[str, float]] = []

    def drift(deployment: str, window_s: float) -> dict[str, Any]:
        calls.append((deployment, window_s))
        features = [{"feature": "x", "psi": 0.5}, {"feature": "__prediction__", "psi": 0.1}]
        return {"drifted": ["x"], "features": features}

    rules = AlertRules(bay.db)
    rules.put("max-psi", "svc", "drift.psi.max", ">", 0.2, window_s=600)
    rules.put("count", "svc", "drift.features", ">", 0, window_s=600)
    rules.put("other-window", "svc", "drift.features", ">", 0, window_s=60)
    fired = evaluate_rules(bay.db, bay.models, drift=drift)
    assert sorted(e["rule"] for e in fired) == ["count", "max-psi", "other-window"]
    assert sorted(calls) == [("svc", 60.0), ("svc", 600.0)]
    assert {r.name: r.value for r in rules.list()} == {
        "count": 1.0,
        "max-psi": 0.5,
        "other-window": 1.0,
    }
