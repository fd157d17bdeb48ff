"""A model outside a key's allow-list is never named, on any route or face.

The key here may see model ``a`` and the name ``ghost`` (on its list, but no model has
it); models ``a`` and ``secret`` exist, and deployment ``dep-secret`` serves ``secret``.
Every route that takes a model or deployment name (in its path or its body) is sent, for
the table below, a missing name on the list (``ghost``), the hidden names (``secret``,
``dep-secret``) and a missing name off the list (``nope``). A hidden name must answer
byte for byte as the missing one (404), and no answer may hold the string ``secret`` in
its body or headers: not in a "does not exist" message listing the models there are,
nor anywhere else. The gRPC face is held to the same.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from modelbay import Bay, Settings
from modelbay.api.access import ROUTES
from modelbay.api.app import create_app

HIDDEN = ("secret", "dep-secret")
MISSING = "nope"  # off the key's list, and no model or deployment has it
GHOST = "ghost"  # on the key's list, and no model or deployment has it
ROW = {"sepal length (cm)": 5.1, "sepal width (cm)": 3.5}
ROW |= {"petal length (cm)": 1.4, "petal width (cm)": 0.2}
V2_BODY = {
    "inputs": [{"name": k, "shape": [1], "datatype": "FP64", "data": [v]} for k, v in ROW.items()]
}


@dataclass
class Home:
    path: Path
    token: str  # the key that sees `a` and `ghost`
    admin: str
    listed_admin: str  # an admin key that sees `a` and `ghost` (deletion needs admin)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, iris: pd.DataFrame) -> Home:
    path = tmp_path_factory.mktemp("hidden")
    with Bay(home=path) as bay:
        for name in ("a", "secret"):
            bay.train(iris, "species", name=name, algorithm="logistic_regression", trials=1, cv=2)
        bay.deployments.put("dep-secret", "secret")
        for rule, deployment in (("watch-secret", "dep-secret"), ("watch-a", "a")):
            bay.monitor.rules.put(rule, deployment, "requests.count", ">=", 0)
        assert len(bay.monitor.evaluate_alerts()) == 2  # an event of each, firing
        scopes = ["predict", "read", "deploy", "train", "export"]
        token = bay.keys.create("a-only", scopes, models=["a", GHOST])[1]
        admin = bay.keys.create("boss", ["admin"])[1]
        listed_admin = bay.keys.create("a-boss", ["admin"], models=["a", GHOST])[1]
    return Home(path, token, admin, listed_admin)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def grpc_port() -> int:
    return _free_port()


@pytest.fixture(scope="module")
def client(home: Home, grpc_port: int) -> Iterator[TestClient]:
    settings = Settings(home=home.path, grpc_port=grpc_port, key_poll_interval_s=0.1)
    with TestClient(create_app(settings)) as c:
        admin = {"Authorization": f"Bearer {home.admin}"}
        for name in ("a", "secret", "dep-secret"):  # something for /metrics to show
            assert c.post(f"/v2/models/{name}/infer", json=V2_BODY, headers=admin).is_success
        yield c


# -- one request per route, for a name: (route, kwargs of the request) ----------------------------
Request = Callable[[str], tuple[str, str, dict[str, Any]]]


@dataclass(frozen=True)
class Case:
    """A request that names a model or deployment, and what ``ghost`` answers (the name is
    the key's, so a route that creates it may get past the allow-list)."""

    request: Request
    ghost: int = 404
    admin: bool = False  # sent with the listed admin key: the route needs the admin scope


def path(method: str, template: str, ghost: int = 404, admin: bool = False, **kwargs: Any) -> Case:
    def request(name: str) -> tuple[str, str, dict[str, Any]]:
        filled = template.format(name=name, version="1", alias="champion")
        return method, filled, dict(kwargs)

    return Case(request, ghost, admin)


def body(method: str, url: str, make: Callable[[str], Any], ghost: int = 404) -> Case:
    """A route that names its model in the JSON body."""

    def request(name: str) -> tuple[str, str, dict[str, Any]]:
        return method, url, {"json": make(name)}

    return Case(request, ghost)


# every route whose path names a model or deployment (a test keeps this complete), then the
# ones whose body does
CASES: dict[str, Case] = {
    "POST /v2/models/{name}/infer": path("POST", "/v2/models/{name}/infer", json=V2_BODY),
    "POST /v1/models/{name}:predict": path(
        "POST", "/v1/models/{name}:predict", json={"instances": [ROW]}
    ),
    "POST /v2/models/{name}/versions/{version}/infer": path(
        "POST", "/v2/models/{name}/versions/{version}/infer", json=V2_BODY
    ),
    "GET /v2/models/{name}": path("GET", "/v2/models/{name}"),
    "GET /v2/models/{name}/ready": path("GET", "/v2/models/{name}/ready"),
    "GET /v2/models/{name}/versions/{version}": path("GET", "/v2/models/{name}/versions/{version}"),
    "GET /v2/models/{name}/versions/{version}/ready": path(
        "GET", "/v2/models/{name}/versions/{version}/ready"
    ),
    "GET /api/models/{name}/versions": path("GET", "/api/models/{name}/versions"),
    # a version from a body that is not a model: the name is the key's, so it gets that far
    "POST /api/models/{name}/versions": path(
        "POST",
        "/api/models/{name}/versions",
        ghost=422,
        content=b"not a model",
        headers={"content-type": "application/octet-stream"},
    ),
    "GET /api/models/{name}/versions/{version}": path(
        "GET", "/api/models/{name}/versions/{version}"
    ),
    "GET /api/models/{name}/export": path("GET", "/api/models/{name}/export"),
    "PUT /api/models/{name}/aliases/{alias}": path(
        "PUT", "/api/models/{name}/aliases/{alias}", json={"version": 1}
    ),
    "DELETE /api/models/{name}/aliases/{alias}": path(
        "DELETE", "/api/models/{name}/aliases/{alias}"
    ),
    "GET /api/models/{name}/aliases": path("GET", "/api/models/{name}/aliases"),
    "POST /api/models/{name}/versions/{version}/archive": path(
        "POST", "/api/models/{name}/versions/{version}/archive"
    ),
    "POST /api/models/{name}/versions/{version}/unarchive": path(
        "POST", "/api/models/{name}/versions/{version}/unarchive"
    ),
    "DELETE /api/models/{name}": path("DELETE", "/api/models/{name}", admin=True),
    "DELETE /api/models/{name}/versions/{version}": path(
        "DELETE", "/api/models/{name}/versions/{version}", admin=True
    ),
    "GET /api/deployments/{name}": path("GET", "/api/deployments/{name}"),
    # a deployment of the name itself: the name is the key's, the model it names is missing
    "PUT /api/deployments/{name}": Case(
        lambda n: ("PUT", f"/api/deployments/{n}", {"json": {"model": n}})
    ),
    "DELETE /api/deployments/{name}": path("DELETE", "/api/deployments/{name}"),
    # a name that is neither deployed, nor a model, nor logged is a typo: 404
    "GET /api/monitor/{name}/quality": path("GET", "/api/monitor/{name}/quality"),
    "GET /api/monitor/{name}/drift": path("GET", "/api/monitor/{name}/drift"),
    "GET /api/monitor/{name}/drift/history": path("GET", "/api/monitor/{name}/drift/history"),
    "GET /api/monitor/{name}/report": path("GET", "/api/monitor/{name}/report"),
    "POST /v1/embeddings": body("POST", "/v1/embeddings", lambda n: {"model": n, "input": "hi"}),
    "PUT /api/deployments/{name} (model in the body)": body(
        "PUT", "/api/deployments/a", lambda n: {"model": n}
    ),
    "PUT /api/deployments/{name} (model:version in the body)": body(
        "PUT", "/api/deployments/a", lambda n: {"model": f"{n}:9"}
    ),
    # a rule on a name nothing has would never fire: refused as a typo
    "PUT /api/alerts/rules/{rule} (deployment in the body)": body(
        "PUT",
        "/api/alerts/rules/by-key",
        lambda n: {"deployment": n, "metric": "requests.count", "threshold": 1},
    ),
}


def send(client: TestClient, home: Home, case: Case, name: str) -> httpx.Response:
    token = home.listed_admin if case.admin else home.token
    method, url, kwargs = case.request(name)
    headers = {**kwargs.pop("headers", {}), "Authorization": f"Bearer {token}"}
    return client.request(method, url, headers=headers, **kwargs)


def leaks(r: httpx.Response) -> list[str]:
    """Where ``secret`` shows in a response: its body, or a header's name or value (an alert
    rule's webhook signing secret is a field named so, not a model's name)."""
    found = ["body"] if "secret" in r.text.replace('"secret":', "") else []
    return found + [k for k, v in r.headers.items() if "secret" in f"{k}: {v}"]


def test_every_route_that_names_a_model_is_in_the_table() -> None:
    named = {f"{r.method} {r.path}" for r in ROUTES if r.model is not None}
    assert named <= set(CASES), f"no case for {named - set(CASES)}"


@pytest.mark.parametrize("label", list(CASES))
def test_a_missing_name_on_the_keys_list_lists_no_hidden_model(
    client: TestClient, home: Home, label: str
) -> None:
    case = CASES[label]
    r = send(client, home, case, GHOST)
    assert r.status_code == case.ghost, r.text
    assert not leaks(r), f"{label} names a hidden model: {r.text} {dict(r.headers)}"


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("label", list(CASES))
def test_a_hidden_name_answers_exactly_as_a_missing_one(
    client: TestClient, home: Home, label: str, hidden: str
) -> None:
    case = CASES[label]
    missing, seen = send(client, home, case, MISSING), send(client, home, case, hidden)
    assert missing.status_code == seen.status_code == 404, (missing.text, seen.text)
    assert not leaks(missing), missing.text
    # the hidden name is only ever the caller's own, echoed back where the missing one is
    assert seen.text.replace(hidden, MISSING) == missing.text
    same = {k: v.replace(hidden, MISSING) for k, v in seen.headers.items()}
    assert same.keys() == missing.headers.keys()
    assert {k: v for k, v in same.items() if k != "content-length"} == {
        k: v for k, v in missing.headers.items() if k != "content-length"
    }


def test_a_key_that_sees_every_model_is_told_every_name(client: TestClient, home: Home) -> None:
    case = CASES["GET /api/models/{name}/versions"]
    r = client.get(case.request(GHOST)[1], headers={"Authorization": f"Bearer {home.admin}"})
    assert r.status_code == 404
    assert "models: a, secret" in r.json()["error"]  # the contrast: the filter is the key's


def test_alert_rules_and_events_on_a_hidden_deployment_are_not_shown(
    client: TestClient, home: Home
) -> None:
    auth = {"Authorization": f"Bearer {home.token}"}
    rules = client.get("/api/alerts/rules", headers=auth)
    assert "watch-a" in rules.text and not leaks(rules), rules.text
    events = client.get("/api/alerts/events", headers=auth)
    assert "watch-a" in events.text and not leaks(events), events.text
    hidden = client.delete("/api/alerts/rules/watch-secret", headers=auth)
    missing = client.delete("/api/alerts/rules/watch-nope", headers=auth)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.text.replace("secret", "nope") == missing.text
    spec = {"deployment": "a", "metric": "requests.count", "threshold": 1}
    taken = client.put("/api/alerts/rules/watch-secret", json=spec, headers=auth)
    assert taken.status_code == 409 and "may not see" in taken.json()["error"], taken.text
    admin = {"Authorization": f"Bearer {home.admin}"}
    everything = client.get("/api/alerts/rules", headers=admin).json()
    assert {"watch-a", "watch-secret"} <= {x["name"] for x in everything}
    assert "watch-secret" in client.get("/api/alerts/events", headers=admin).text


def test_metrics_show_only_the_deployments_the_key_may_see(client: TestClient, home: Home) -> None:
    r = client.get("/metrics", headers={"Authorization": f"Bearer {home.token}"})
    assert r.status_code == 200 and 'deployment="a"' in r.text and not leaks(r)
    everything = client.get("/metrics", headers={"Authorization": f"Bearer {home.admin}"})
    assert 'deployment="secret"' in everything.text and 'deployment="dep-secret"' in everything.text


# -- gRPC ---------------------------------------------------------------------------------------
GRPC_NAMES = (GHOST, MISSING, *HIDDEN)


@pytest.fixture(scope="module")
def stub(client: TestClient, grpc_port: int) -> Iterator[Any]:
    grpc = pytest.importorskip("grpc")
    from modelbay.api.grpc_v2 import grpc_predict_v2_pb2_grpc as pb_grpc

    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        yield pb_grpc.GRPCInferenceServiceStub(channel)


def grpc_calls(stub: Any, name: str) -> dict[str, Callable[[list[tuple[str, str]]], Any]]:
    from modelbay.api.grpc_v2 import grpc_predict_v2_pb2 as pb

    tensor = pb.ModelInferRequest.InferInputTensor
    inputs = [
        tensor(
            name=k, datatype="FP64", shape=[1], contents=pb.InferTensorContents(fp64_contents=[v])
        )
        for k, v in ROW.items()
    ]
    return {
        "ModelMetadata": lambda md: stub.ModelMetadata(
            pb.ModelMetadataRequest(name=name), metadata=md
        ),
        "ModelReady": lambda md: stub.ModelReady(pb.ModelReadyRequest(name=name), metadata=md),
        "ModelInfer": lambda md: stub.ModelInfer(
            pb.ModelInferRequest(model_name=name, inputs=inputs), metadata=md
        ),
        "ModelInfer (version 9)": lambda md: stub.ModelInfer(
            pb.ModelInferRequest(model_name=name, model_version="9", inputs=inputs), metadata=md
        ),
    }


def grpc_error(stub: Any, token: str, method: str, name: str) -> tuple[Any, str]:
    import grpc

    with pytest.raises(grpc.RpcError) as caught:
        grpc_calls(stub, name)[method]([("authorization", f"Bearer {token}")])
    return caught.value.code(), caught.value.details()


@pytest.mark.parametrize(
    "method", ["ModelMetadata", "ModelReady", "ModelInfer", "ModelInfer (version 9)"]
)
def test_grpc_answers_a_hidden_name_as_a_missing_one_and_names_no_hidden_model(
    stub: Any, home: Home, method: str
) -> None:
    import grpc

    answers = {n: grpc_error(stub, home.token, method, n) for n in GRPC_NAMES}
    for name, (code, details) in answers.items():
        assert code == grpc.StatusCode.NOT_FOUND, (name, details)
        if name not in HIDDEN:
            assert "secret" not in details, details
    for hidden in HIDDEN:
        assert answers[hidden][1].replace(hidden, MISSING) == answers[MISSING][1]
