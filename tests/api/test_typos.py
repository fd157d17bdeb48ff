"""The HTTP face refuses the same typos as the CLI, with the same messages: monitoring and
alert rules on unknown names, unknown audit actions, feedback for unknown requests; a key
whose allow-list names a model that does not exist yet is made, with ``warnings``."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from modelbay import Bay, Settings
from modelbay.api.app import create_app


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, iris: pd.DataFrame) -> Iterator[TestClient]:
    home = tmp_path_factory.mktemp("typos") / "home"
    with Bay(home=home) as bay:
        bay.train(iris, "species", name="iris", algorithm="logistic_regression", trials=1, cv=2)
        bay.deployments.put("flowers", "iris")
    with TestClient(create_app(Settings(home=home, auth=False))) as c:
        yield c


@pytest.mark.parametrize("what", ["quality", "drift", "drift/history", "report"])
def test_monitoring_an_unknown_name_is_404_listing_what_exists(
    client: TestClient, what: str
) -> None:
    r = client.get(f"/api/monitor/nope/{what}")
    assert r.status_code == 404
    error = r.json()["error"]
    assert "no deployment or model is named 'nope'" in error
    assert "deployments: flowers; models: iris" in error


def test_an_alert_rule_on_an_unknown_deployment_is_404(client: TestClient) -> None:
    spec = {"metric": "requests.count", "threshold": 1}
    r = client.put("/api/alerts/rules/busy", json={"deployment": "nope", **spec})
    assert r.status_code == 404 and "'nope'" in r.json()["error"]
    assert client.get("/api/alerts/rules").json() == []
    ok = client.put("/api/alerts/rules/busy", json={"deployment": "iris", **spec})
    assert ok.status_code == 200
    client.delete("/api/alerts/rules/busy")


def test_key_creation_warns_of_models_that_do_not_exist_yet(client: TestClient) -> None:
    r = client.post("/api/keys", json={"name": "future", "models": ["iris", "nonexistentmodel"]})
    assert r.status_code == 201 and r.json()["key"].startswith("mbk_")
    (warning,) = r.json()["warnings"]
    assert "no model or deployment is named 'nonexistentmodel' yet" in warning
    assert "models: iris; deployments: flowers" in warning
    quiet = client.post("/api/keys", json={"name": "present", "models": ["flowers"]})
    assert quiet.status_code == 201 and quiet.json()["warnings"] == []


def test_the_audit_log_refuses_an_unknown_action(client: TestClient) -> None:
    r = client.get("/api/audit", params={"action": "nonsense"})
    assert r.status_code == 422
    assert "no audit action 'nonsense'; actions are:" in r.json()["error"]
    assert [e["action"] for e in client.get("/api/audit", params={"action": "train"}).json()] == [
        "train"
    ]


def test_feedback_for_unknown_requests_only_is_404(client: TestClient) -> None:
    r = client.post("/v1/feedback", json={"feedback": [{"request_id": "nope", "truth": 1}]})
    assert r.status_code == 404
    assert "none of the 1 request id(s) is in the prediction log ('nope')" in r.json()["error"]


@pytest.mark.parametrize("path", ["/v2", "/v2/"])
def test_server_metadata_answers_with_and_without_the_trailing_slash(
    client: TestClient, path: str
) -> None:
    r = client.get(path)
    assert r.status_code == 200
    meta = r.json()
    # the protocol's metadata_server_response: name, version, extensions (strings)
    assert set(meta) >= {"name", "version", "extensions"}
    assert isinstance(meta["name"], str) and isinstance(meta["version"], str)
    assert all(isinstance(e, str) for e in meta["extensions"])
    assert meta == client.get("/v2").json()
