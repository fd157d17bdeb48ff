"""``GET /api/models/{name}/export``: the export as a tar, for keys with the ``export`` scope.

``read`` shows a version's metadata and ``predict`` its answers; the weights themselves
are the model, so they need a scope of their own (``admin`` holds it too). A model
outside the key's allow-list answers 404 as if it did not exist, and no 404 names one.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from modelbay import Bay, Settings
from modelbay.api.app import create_app
from modelbay.registry.exports import MANIFEST


@dataclass
class Home:
    path: Path
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, iris: pd.DataFrame) -> Home:
    path = tmp_path_factory.mktemp("export-http")
    with Bay(home=path) as bay:
        for name in ("wine", "secret"):
            bay.train(iris, "species", name=name, algorithm="logistic_regression", trials=1, cv=2)
        tokens = {
            "export": bay.keys.create("exporter", ["export"])[1],
            "admin": bay.keys.create("boss", ["admin"])[1],
            "others": bay.keys.create("everything-else", ["predict", "read", "deploy", "train"])[1],
            "wine-only": bay.keys.create("wine-only", ["export"], models=["wine", "ghost"])[1],
        }
    return Home(path, tokens)


@pytest.fixture(scope="module")
def client(home: Home) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(home=home.path))) as c:
        yield c


def get(client: TestClient, home: Home, key: str, path: str, **params: object):
    auth = {"Authorization": f"Bearer {home.tokens[key]}"}
    return client.get(path, headers=auth, params=params)


@pytest.mark.parametrize("key", ["export", "admin", "wine-only"])
def test_a_key_with_the_export_scope_gets_a_tar_that_imports_back(
    client: TestClient, home: Home, iris: pd.DataFrame, tmp_path: Path, key: str
) -> None:
    r = get(client, home, key, "/api/models/wine/export")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/x-tar"
    assert 'filename="wine-1.tar"' in r.headers["content-disposition"]
    with tarfile.open(fileobj=io.BytesIO(r.content)) as tar:
        assert f"wine-1/{MANIFEST}" in tar.getnames() and "wine-1/model.skops" in tar.getnames()
        tar.extractall(tmp_path, filter="data")
    with Bay(home=tmp_path / "elsewhere") as other:  # another home, another master key
        copy = other.import_model(tmp_path / "wine-1")
        assert copy.ref == "wine:1" and copy.lineage["imported"]["export_of"] == "wine:1"
        rows = iris.drop(columns="species")
        with Bay(home=home.path) as bay:
            want = bay.load("wine").predict_proba(rows)
        assert np.array_equal(other.load("wine").predict_proba(rows), want)


def test_a_version_or_an_alias_picks_what_is_exported(client: TestClient, home: Home) -> None:
    with Bay(home=home.path) as bay:
        bay.models.set_alias("wine", "staging", 1)
    for params in ({"version": 1}, {"alias": "staging"}):
        r = get(client, home, "export", "/api/models/wine/export", **params)
        assert r.status_code == 200 and 'filename="wine-1.tar"' in r.headers["content-disposition"]
    r = get(client, home, "export", "/api/models/wine/export", version=9)
    assert r.status_code == 404 and "no version 9; versions are 1 to 1" in r.json()["error"]
    r = get(client, home, "export", "/api/models/wine/export", version=1, alias="staging")
    assert r.status_code == 422 and "not both" in r.json()["error"]


def test_the_archive_uploads_back_as_a_new_version(client: TestClient, home: Home) -> None:
    tar = get(client, home, "admin", "/api/models/wine/export").content
    r = client.post(
        "/api/models/wine-copy/versions",
        content=tar,
        headers={
            "Authorization": f"Bearer {home.tokens['admin']}",
            "content-type": "application/octet-stream",
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["ref"] == "wine-copy:1"
    assert r.json()["lineage"]["imported"]["export_of"] == "wine:1"


def test_read_predict_deploy_and_train_do_not_export(client: TestClient, home: Home) -> None:
    r = get(client, home, "others", "/api/models/wine/export")
    assert r.status_code == 403 and "scope" in r.json()["error"]
    assert client.get("/api/models/wine/export").status_code == 401


def test_a_hidden_model_answers_as_a_missing_one_and_no_404_names_one(
    client: TestClient, home: Home
) -> None:
    hidden = get(client, home, "wine-only", "/api/models/secret/export")
    missing = get(client, home, "wine-only", "/api/models/nothing/export")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["error"].replace("secret", "nothing") == missing.json()["error"]
    # a name on the key's list that no model has: the 404 lists only what the key may see
    ghost = get(client, home, "wine-only", "/api/models/ghost/export")
    assert ghost.status_code == 404
    assert "'ghost' does not exist" in ghost.json()["error"]
    assert "wine" in ghost.json()["error"] and "secret" not in ghost.json()["error"]
    unrestricted = get(client, home, "export", "/api/models/ghost/export").json()["error"]
    assert "secret" in unrestricted  # a key that sees every model is told every name
