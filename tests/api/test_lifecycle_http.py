"""Delete, archive and the alias guard through the management API (the same rules as the
CLI and Python: see tests/registry/test_lifecycle.py)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
import skops.io as sio
from fastapi.testclient import TestClient
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from modelbay import Bay, Settings
from modelbay.api.app import create_app

ROW = {"instances": [{"x0": 5.1, "x1": 3.5, "x2": 1.4, "x3": 0.2}]}
V2 = {
    "inputs": [
        {"name": k, "shape": [1], "datatype": "FP64", "data": [v]}
        for k, v in ROW["instances"][0].items()
    ]
}
BINARY = {"content-type": "application/octet-stream"}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(home=tmp_path / "home", auth=False, poll_interval_s=0.1)
    with TestClient(create_app(settings)) as c:
        x, y = load_iris(return_X_y=True)
        for cost in (0.1, 1.0):
            buf = io.BytesIO()
            sio.dump(LogisticRegression(C=cost, max_iter=500).fit(x, y), buf)
            r = c.post("/api/models/wine/versions", content=buf.getvalue(), headers=BINARY)
            assert r.status_code == 201, r.text
        assert c.put("/api/deployments/wine-prod", json={"model": "wine@champion"}).is_success
        yield c


def test_an_alias_a_deployment_serves_needs_force_then_the_listing_says_broken(
    client: TestClient,
) -> None:
    assert client.post("/v1/models/wine-prod:predict", json=ROW).status_code == 200
    refused = client.delete("/api/models/wine/aliases/champion")
    assert refused.status_code == 409
    assert "served by deployment wine-prod" in refused.json()["error"]
    assert client.get("/api/models/wine/aliases").json() == {"champion": 1}
    assert client.delete("/api/models/wine/aliases/champion?force=true").status_code == 204
    [listed] = client.get("/api/deployments").json()
    assert listed["state"].startswith("broken: model 'wine' has no alias 'champion'")
    assert listed["now"] is None
    assert client.post("/v1/models/wine-prod:predict", json=ROW).status_code == 404


def test_archive_delete_and_the_refusals_in_between(client: TestClient) -> None:
    refused = client.post("/api/models/wine/versions/1/archive")
    assert refused.status_code == 409 and "alias wine@champion" in refused.json()["error"]
    archived = client.post("/api/models/wine/versions/2/archive").json()
    assert archived["archived"] is True
    assert client.post("/v2/models/wine/versions/1/infer", json=V2).status_code == 200
    pinned = client.post("/v2/models/wine/versions/2/infer", json=V2)
    assert pinned.status_code == 404 and "wine:2 is archived" in pinned.json()["error"]
    assert [v["archived"] for v in client.get("/api/models/wine/versions").json()] == [
        False,
        True,
    ]
    assert client.post("/api/models/wine/versions/2/unarchive").json()["archived"] is False
    gone = client.delete("/api/models/wine/versions/2")
    assert gone.status_code == 200 and gone.json() == {"deleted": "wine:2", "artifacts_freed": 2}
    refused = client.delete("/api/models/wine")
    assert refused.status_code == 409 and "undeploy first" in refused.json()["error"]
    assert client.delete("/api/deployments/wine-prod").status_code == 204
    assert client.delete("/api/models/wine").json()["deleted"] == "wine"
    assert client.get("/api/models").json() == []
    assert client.delete("/api/datasets/nothing").status_code == 404
    actions = [(e["action"], e["outcome"]) for e in client.get("/api/audit?limit=5").json()]
    assert actions == [
        ("dataset.delete", "error"),
        ("model.delete", "ok"),
        ("undeploy", "ok"),
        ("model.delete", "error"),
        ("version.delete", "ok"),
    ]


def test_a_dataset_name_is_removed_over_http(client: TestClient, tmp_path: Path) -> None:
    with Bay(home=tmp_path / "home") as bay:
        ds = bay.datasets.add(load_iris(as_frame=True).frame, name="leads")
        bay.datasets.add(load_iris(as_frame=True).frame, name="crm")
    assert client.delete("/api/datasets/leads").json() == {"removed": "leads", "deleted": None}
    r = client.delete(f"/api/datasets/crm%23{ds.fingerprint[:10]}")
    assert r.json()["deleted"] == f"crm#{ds.fingerprint[:12]}"
