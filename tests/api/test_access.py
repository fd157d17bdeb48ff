"""Access control, generated from the route table: every route x scope x model allow-list.

Each route in ``modelbay.api.access.ROUTES`` must have a request recipe below (a new
route without one fails the suite), and every route the app serves must be in the
table. For each route the test sends the same valid request with no key, a bad key,
a key of each single scope, and a key whose allow-list holds one model, and checks
the exact status: the route's success code when the key may, 401/403 when it may
not, and 404 for a model outside the allow-list.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import skops.io as sio
from fastapi.testclient import TestClient
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sqlalchemy import select
from starlette.routing import Mount
from starlette.routing import Route as StarletteRoute

from modelbay import Bay, Settings
from modelbay.api.access import ANY_KEY, GRPC_METHODS, ROUTES, Route
from modelbay.api.app import create_app
from modelbay.api.grpc import METHODS
from modelbay.errors import NotFoundError
from modelbay.registry.tables import PredictionBatchRow
from modelbay.security.notation import SCOPES

IRIS_ROW = {"sepal length (cm)": 5.1, "sepal width (cm)": 3.5}
IRIS_ROW |= {"petal length (cm)": 1.4, "petal width (cm)": 0.2}


@dataclass
class Home:
    path: Path
    tokens: dict[str, str]
    skops: bytes


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Home:
    path = tmp_path_factory.mktemp("access")
    iris = load_iris(as_frame=True).frame
    tokens: dict[str, str] = {}
    with Bay(home=path) as bay:
        for name in ("a", "b"):
            bay.train(iris, "target", name=name, algorithm="logistic_regression", trials=1, cv=2)
        for scope in SCOPES:
            tokens[scope] = bay.keys.create(f"only-{scope}", [scope])[1]
        tokens["a-only"] = bay.keys.create(
            "a-only", ["predict", "read", "deploy", "train", "export"], models=["a"]
        )[1]
        tokens["a-admin"] = bay.keys.create("a-admin", ["admin"], models=["a"])[1]
    x, y = load_iris(return_X_y=True)
    buf = io.BytesIO()
    sio.dump(LogisticRegression(max_iter=500).fit(x, y), buf)
    return Home(path, tokens, buf.getvalue())


@pytest.fixture(scope="module")
def client(home: Home) -> Iterator[TestClient]:
    settings = Settings(home=home.path, key_poll_interval_s=0.1, poll_interval_s=0.1)
    with TestClient(create_app(settings)) as c:
        admin = {"Authorization": f"Bearer {home.tokens['admin']}"}
        for model in ("a", "b"):  # logged requests, so that drift has something to measure
            for _ in range(3):
                assert (
                    c.post(f"/v2/models/{model}/infer", json=V2_BODY, headers=admin).status_code
                    == 200
                )
        c.app.server.predlog.flush()  # type: ignore[attr-defined]
        yield c


def prepare(home: Home, names: dict[str, str]) -> None:
    """Put back what a previous request may have changed: alias, deployments, the victim
    key, the alert rule; and make sure each model has logged requests (for drift)."""
    with Bay(home=home.path) as bay:
        for model in ("a", "b"):
            bay.models.set_alias(model, "matrix", 1)
            bay.deployments.put(f"dep-{model}", model)
        bay.monitor.rules.put("matrix", "a", "drift.psi.max", ">", 0.2)
        bay.datasets.add(load_iris(as_frame=True).frame, name="matrix-data")
        try:
            if not bay.keys.get("victim").active:
                raise NotFoundError("revoked")
        except NotFoundError:
            bay.keys.create("victim", ["predict"])


# -- one valid request per route ----------------------------------------------------------------
Recipe = Callable[[Home, str], tuple[dict[str, str], dict[str, Any]]]


def _model(expected: int, **kwargs: Any) -> Recipe:
    """A request over model ``m`` (a or b): path parameters and request arguments."""

    def recipe(home: Home, m: str) -> tuple[dict[str, str], dict[str, Any]]:
        params = {"name": m, "version": "1", "alias": "matrix", "key": "victim", "rule": "matrix"}
        params["ref"] = "matrix-data"
        params["asset"] = "swagger-ui.css"
        extra = {k: (v(home) if callable(v) else v) for k, v in kwargs.items()}
        return params, extra

    recipe.expected = expected  # type: ignore[attr-defined]
    return recipe


def logged_id(home: Home) -> str:
    """The id of a request in the home's prediction log (feedback must name one)."""
    with Bay(home=home.path) as bay, bay.db.session() as s:
        ids = s.scalars(select(PredictionBatchRow.request_ids)).first()
    assert ids is not None, "the client fixture logs requests"
    return str(orjson.loads(ids)[0])


def _deployment(expected: int, **kwargs: Any) -> Recipe:
    def recipe(home: Home, m: str) -> tuple[dict[str, str], dict[str, Any]]:
        return {"name": f"dep-{m}"}, dict(kwargs)

    recipe.expected = expected  # type: ignore[attr-defined]
    return recipe


def _embeddings(expected: int) -> Recipe:
    """/v1/embeddings names its model in the body; the tabular models here answer 400."""

    def recipe(home: Home, m: str) -> tuple[dict[str, str], dict[str, Any]]:
        return {"name": m}, {"json": {"model": m, "input": "a sentence"}}

    recipe.expected = expected  # type: ignore[attr-defined]
    return recipe


V2_BODY = {
    "inputs": [
        {"name": k, "shape": [1], "datatype": "FP64", "data": [v]} for k, v in IRIS_ROW.items()
    ]
}

RECIPES: dict[tuple[str, str], Recipe] = {
    ("POST", "/v2/models/{name}/infer"): _model(200, json=V2_BODY),
    ("POST", "/v1/models/{name}:predict"): _model(200, json={"instances": [IRIS_ROW]}),
    ("POST", "/v1/embeddings"): _embeddings(400),
    ("POST", "/v2/models/{name}/versions/{version}/infer"): _model(200, json=V2_BODY),
    ("GET", "/v2/health/live"): _model(200),
    ("GET", "/v2/health/ready"): _model(200),
    ("GET", "/v2"): _model(200),
    ("GET", "/v2/"): _model(200),
    ("GET", "/v2/models/{name}"): _model(200),
    ("GET", "/v2/models/{name}/ready"): _model(200),
    ("GET", "/v2/models/{name}/versions/{version}"): _model(200),
    ("GET", "/v2/models/{name}/versions/{version}/ready"): _model(200),
    ("GET", "/api/models"): _model(200),
    ("GET", "/api/models/{name}/versions"): _model(200),
    ("POST", "/api/models/{name}/versions"): _model(
        201,
        content=lambda h: h.skops,
        headers={"content-type": "application/octet-stream"},
    ),
    ("GET", "/api/models/{name}/versions/{version}"): _model(200),
    ("GET", "/api/models/{name}/export"): _model(200),
    # deleting or archiving what deployment dep-a and alias matrix need is refused (409):
    # the handler ran, and the model stays for the next request
    ("DELETE", "/api/models/{name}"): _model(409),
    ("DELETE", "/api/models/{name}/versions/{version}"): _model(409),
    ("POST", "/api/models/{name}/versions/{version}/archive"): _model(409),
    ("POST", "/api/models/{name}/versions/{version}/unarchive"): _model(200),
    ("GET", "/api/models/{name}/aliases"): _model(200),
    ("DELETE", "/api/datasets/{ref}"): _model(200),
    ("PUT", "/api/models/{name}/aliases/{alias}"): _model(200, json={"version": 1}),
    ("DELETE", "/api/models/{name}/aliases/{alias}"): _model(204),
    ("GET", "/api/deployments"): _model(200),
    ("GET", "/api/deployments/{name}"): _deployment(200),
    ("PUT", "/api/deployments/{name}"): _deployment(200, json={"model": "a"}),
    ("DELETE", "/api/deployments/{name}"): _deployment(204),
    ("GET", "/api/keys/me"): _model(200),
    ("GET", "/api/keys"): _model(200),
    ("POST", "/api/keys"): _model(201, json={"name": "made-by-matrix", "scopes": ["read"]}),
    ("GET", "/api/keys/{key}"): _model(200),
    ("DELETE", "/api/keys/{key}"): _model(200),
    ("POST", "/api/keys/{key}/rotate"): _model(201),
    ("GET", "/api/audit"): _model(200),
    ("GET", "/metrics"): _model(200),
    ("POST", "/v1/feedback"): _model(200, json=lambda h: {"request_id": logged_id(h), "truth": 0}),
    ("GET", "/api/monitor/{name}/quality"): _model(200),
    ("GET", "/api/monitor/{name}/drift"): _model(200),
    ("GET", "/api/monitor/{name}/drift/history"): _model(200),
    ("GET", "/api/monitor/{name}/report"): _model(200),
    ("GET", "/api/alerts/rules"): _model(200),
    ("PUT", "/api/alerts/rules/{rule}"): _model(
        200, json={"deployment": "a", "metric": "drift.psi.max", "threshold": 0.2}
    ),
    ("DELETE", "/api/alerts/rules/{rule}"): _model(204),
    ("GET", "/api/alerts/events"): _model(200),
    ("GET", "/openapi.json"): _model(200),
    ("GET", "/docs"): _model(200),
    ("GET", "/docs/oauth2-redirect"): _model(200),
    ("GET", "/docs/static/{asset}"): _model(200),
}


def send(client: TestClient, home: Home, route: Route, m: str, token: str | None) -> Any:
    recipe = RECIPES[(route.method, route.path)]
    params, kwargs = recipe(home, m)
    prepare(home, params)
    path = route.path.format(**{k: v for k, v in params.items() if "{" + k + "}" in route.path})
    headers = dict(kwargs.pop("headers", {}))
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if route.path == "/api/keys" and route.method == "POST":
        with Bay(home=home.path) as bay:  # a name free for this call
            try:
                bay.keys.revoke("made-by-matrix")
            except NotFoundError:
                pass
    return client.request(route.method, path, headers=headers, **kwargs)


IDS = [f"{r.method} {r.path}" for r in ROUTES]


def test_every_route_of_the_app_is_in_the_table_with_a_recipe(client: TestClient) -> None:
    api = client.app.api  # type: ignore[attr-defined]
    served = {(m.upper(), p) for p, ops in api.openapi()["paths"].items() for m in ops}
    for r in api.routes:  # the docs pages are routes of their own, outside the schema
        if isinstance(r, StarletteRoute):
            served |= {(m, r.path) for m in r.methods or () if m != "HEAD"}
        elif isinstance(r, Mount):  # a folder of files: the docs pages' scripts
            served.add(("GET", f"{r.path}/{{asset}}"))
    declared = {(r.method, r.path) for r in ROUTES}
    assert served == declared, f"undeclared: {served - declared}; stale: {declared - served}"
    assert set(RECIPES) == declared
    assert set(GRPC_METHODS) == set(METHODS), "every gRPC method declares its scope"


@pytest.mark.parametrize("route", ROUTES, ids=IDS)
def test_no_key_and_a_bad_key_get_401_on_every_private_route(
    client: TestClient, home: Home, route: Route
) -> None:
    for token in (None, "mbk_not-a-real-key-at-all-0123456789"):
        r = send(client, home, route, "a", token)
        expected = RECIPES[(route.method, route.path)].expected  # type: ignore[attr-defined]
        if route.public:
            assert r.status_code == expected, r.text
        else:
            assert r.status_code == 401, r.text
            assert "API key" in r.json()["error"]
            assert r.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("route", ROUTES, ids=IDS)
def test_each_scope_opens_exactly_its_routes(
    client: TestClient, home: Home, route: Route, scope: str
) -> None:
    r = send(client, home, route, "a", home.tokens[scope])
    may = route.public or route.scopes == ANY_KEY or scope == "admin" or scope in route.scopes
    expected = RECIPES[(route.method, route.path)].expected  # type: ignore[attr-defined]
    if may:
        assert r.status_code == expected, r.text
    else:
        assert r.status_code == 403, r.text
        assert "scope" in r.json()["error"]


MODEL_ROUTES = [r for r in ROUTES if r.model is not None]


@pytest.mark.parametrize("route", MODEL_ROUTES, ids=[f"{r.method} {r.path}" for r in MODEL_ROUTES])
def test_an_allow_list_shows_its_models_and_hides_the_rest_as_404(
    client: TestClient, home: Home, route: Route
) -> None:
    expected = RECIPES[(route.method, route.path)].expected  # type: ignore[attr-defined]
    key = "a-admin" if route.scopes == ("admin",) else "a-only"
    allowed = send(client, home, route, "a", home.tokens[key])
    assert allowed.status_code == expected, allowed.text
    hidden = send(client, home, route, "b", home.tokens[key])
    assert hidden.status_code == 404, hidden.text
    assert "'b'" in hidden.json()["error"] or "dep-b" in hidden.json()["error"]


def test_the_embeddings_route_checks_the_allow_list_on_the_model_in_its_body(
    client: TestClient, home: Home
) -> None:
    route = next(r for r in ROUTES if r.path == "/v1/embeddings")
    allowed = send(client, home, route, "a", home.tokens["a-only"])
    assert allowed.status_code == 400 and "not an embeddings model" in allowed.json()["error"]
    hidden = send(client, home, route, "b", home.tokens["a-only"])
    assert hidden.status_code == 404 and "'b'" in hidden.json()["error"], hidden.text
    missing = send(client, home, route, "no-such-model", home.tokens["admin"])
    assert missing.json()["error"].replace("no-such-model", "b") == hidden.json()["error"]


def test_lists_show_only_allowed_models(client: TestClient, home: Home) -> None:
    prepare(home, {})
    auth = {"Authorization": f"Bearer {home.tokens['a-only']}"}
    names = {m["name"] for m in client.get("/api/models", headers=auth).json()}
    assert names == {"a"}
    deployments = {d["name"] for d in client.get("/api/deployments", headers=auth).json()}
    assert deployments == {"dep-a"}
    admin = {"Authorization": f"Bearer {home.tokens['admin']}"}
    assert {"a", "b"} <= {m["name"] for m in client.get("/api/models", headers=admin).json()}
    # deploying a model outside the list is refused as if it did not exist
    r = client.put("/api/deployments/dep-a", json={"model": "b"}, headers=auth)
    assert r.status_code == 404
