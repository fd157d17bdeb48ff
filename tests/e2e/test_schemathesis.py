"""Property-based API testing (schemathesis) against the live server's own OpenAPI document.

Every operation is called with generated valid and invalid requests, once with an
admin key and once with a predict-only key. No response may be a 5xx, use an
undocumented status code or content type, or break its documented schema. Bounded:
a few examples per operation, a deterministic seed, a time limit.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from _pytest.nodes import Node
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sklearn.datasets import load_iris

from modelbay import Bay
from tests.e2e.servers import running_server

ADMIN = "schemathesis-admin-key-0123456789abcdef"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

# pytest 9.2 renamed Node._nodeid to Node._id; schemathesis 4.32's lazy loader still uses it
if not hasattr(Node, "_nodeid"):
    from _pytest.nodeid import NodeId

    Node._nodeid = property(  # type: ignore[attr-defined]
        lambda n: n.nodeid, lambda n, v: setattr(n, "_id", NodeId.parse(v))
    )


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    home: Path = tmp_path_factory.mktemp("fuzz")
    with Bay(home=home) as bay:
        iris = load_iris(as_frame=True).frame
        bay.train(iris, "target", name="iris", algorithm="logistic_regression", trials=1, cv=2)
    with running_server(home, auth=True, MODELBAY_ADMIN_KEY=ADMIN) as url:
        r = httpx.post(
            f"{url}/api/keys",
            json={"name": "fuzz-predict", "scopes": ["predict"]},
            headers={"Authorization": f"Bearer {ADMIN}"},
        )
        assert r.status_code == 201, r.text
        yield {"url": url, "admin": ADMIN, "predict": r.json()["key"]}


@pytest.fixture(scope="module")
def api_schema(live: dict[str, str]) -> object:
    schema = schemathesis.openapi.from_url(f"{live['url']}/openapi.json")
    schema.config.update(request_timeout=10)
    return schema


@pytest.fixture(params=["admin", "predict"])
def key(request: pytest.FixtureRequest, live: dict[str, str]) -> str:
    return live[request.param]


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.usefixtures("key")
@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_live_api_matches_its_openapi_document(case: object, key: str) -> None:
    case.call_and_validate(  # type: ignore[attr-defined]
        headers={"Authorization": f"Bearer {key}"}, checks=CHECKS
    )
