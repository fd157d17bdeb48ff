"""What training never saw is said in the answer and counted in /metrics, per column.

v2 says it in flat parameters (``unseen_categories.plan: 2``: a v2 parameter is a bool,
a number or a string, over REST and gRPC alike); v1 in a ``parameters`` object."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from modelbay import Settings
from modelbay.api.app import create_app
from modelbay.api.grpc import parameter
from tests.api.test_http import tensors


@pytest.fixture(scope="module")
def client(own_serve_home: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(home=own_serve_home, auth=False))) as c:
        yield c


def _rows(serve_data: dict[str, pd.DataFrame]) -> pd.DataFrame:
    rows = serve_data["churn"].head(4).copy()
    rows["plan"] = ["basic", "enterprise", "gold", None]  # two categories never trained on
    rows["signup"] = ["2024-01-05", "soon", "2024-02-30", "2024-03-01"]  # two are not dates
    return rows


def _records(rows: pd.DataFrame) -> list[dict[str, object]]:
    return rows.astype(object).where(rows.notna(), None).to_dict(orient="records")


def _counter(client: TestClient, name: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for s in family.samples:
            if s.name == f"{name}_total" and s.labels["deployment"] == "churn":
                found[s.labels["column"]] = s.value
    return found


def test_v2_and_v1_answers_name_unseen_categories_and_unparsable_dates(
    client: TestClient, serve_data: dict[str, pd.DataFrame]
) -> None:
    rows = _rows(serve_data)
    doc = client.post("/v2/models/churn/infer", json=tensors(rows)).json()
    params = doc["parameters"]
    assert params["unseen_categories.plan"] == 2 and params["unparsable_dates.signup"] == 2
    for key, value in params.items():  # what a v2 parameter may hold, over REST and gRPC
        assert isinstance(value, bool | int | float | str), key
        parameter(key, value)
    v1 = client.post("/v1/models/churn:predict", json={"instances": _records(rows)}).json()
    assert v1["parameters"] == {"unseen_categories": {"plan": 2}, "unparsable_dates": {"signup": 2}}
    assert _counter(client, "modelbay_unseen_categories") == {"plan": 4.0}
    assert _counter(client, "modelbay_unparsable_dates") == {"signup": 4.0}


def test_rows_like_the_training_ones_say_nothing(
    client: TestClient, serve_data: dict[str, pd.DataFrame]
) -> None:
    doc = client.post("/v2/models/churn/infer", json=tensors(serve_data["churn"].head(30))).json()
    assert not [k for k in doc["parameters"] if k.startswith(("unseen_", "unparsable_"))]
    v1 = client.post(
        "/v1/models/churn:predict",
        json={"instances": _records(serve_data["churn"].head(3))},
    ).json()
    assert "parameters" not in v1


def test_model_metadata_says_which_runtime_serves_and_why(client: TestClient) -> None:
    onnx = client.get("/v2/models/bc-forest").json()["parameters"]
    assert onnx["runtime"] == "onnx"
    assert onnx["runtime_reason"].startswith("parity check passed on ")
    sk = client.get("/v2/models/churn").json()["parameters"]
    assert sk["runtime"] == "sklearn" and "non-numeric inputs" in sk["runtime_reason"]
