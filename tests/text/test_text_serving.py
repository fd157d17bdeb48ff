"""A real server on 127.0.0.1: OpenAI embeddings, v2 BYTES for both tasks, batching, bad input."""

from __future__ import annotations

import base64
import functools
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from modelbay import Bay
from modelbay.serve.runtimes import runtime_for
from tests.e2e.servers import running_server

# the first request for a model loads it (a transformer: seconds on a busy machine), so no
# request here is held to httpx's 5 s default
post = functools.partial(httpx.post, timeout=60)
get = functools.partial(httpx.get, timeout=60)

SENTENCES = [
    "The striker scored twice.",
    "Investors sold shares in the crash.",
    "Bake the bread slowly.",
]


@pytest.fixture(scope="module")
def server(text_home: Path) -> Iterator[str]:
    with Bay(home=text_home) as bay:
        bay.deployments.put("strict", "minilm:1", config={"truncate": False})
    with running_server(text_home, HF_HUB_OFFLINE="1") as url:
        yield url


@pytest.fixture(scope="module")
def expected(text_home: Path) -> np.ndarray:
    with Bay(home=text_home) as bay:
        runtime = runtime_for(bay.models.get("minilm:1")).load(bay.models)
        return runtime.predict(pd.DataFrame({"text": SENTENCES})).predict


def test_the_official_openai_client_works_unchanged(server: str, expected: np.ndarray) -> None:
    import openai

    client = openai.OpenAI(base_url=f"{server}/v1", api_key="unused")
    out = client.embeddings.create(model="minilm", input=SENTENCES)  # it asks for base64 itself
    got = np.array([d.embedding for d in out.data])
    assert got.shape == (3, 384) and np.allclose(got, expected, atol=1e-5)
    assert out.usage.prompt_tokens == out.usage.total_tokens > 3
    floats = client.embeddings.create(model="minilm", input=SENTENCES[0], encoding_format="float")
    assert np.allclose(floats.data[0].embedding, expected[0], atol=1e-5)
    raw = client.embeddings.create(model="minilm", input=SENTENCES[0], encoding_format="base64")
    vector = np.frombuffer(base64.b64decode(str(raw.data[0].embedding)), dtype="<f4")
    assert np.allclose(vector, expected[0], atol=1e-5)


def test_base64_is_little_endian_float32(server: str, expected: np.ndarray) -> None:
    r = post(
        f"{server}/v1/embeddings",
        json={"model": "minilm", "input": SENTENCES, "encoding_format": "base64"},
    )
    vecs = [np.frombuffer(base64.b64decode(d["embedding"]), dtype="<f4") for d in r.json()["data"]]
    assert np.allclose(np.stack(vecs), expected, atol=1e-5)


def test_v2_infer_takes_bytes_for_both_tasks(server: str, expected: np.ndarray) -> None:
    tensor = {"name": "text", "shape": [3], "datatype": "BYTES", "data": SENTENCES}
    emb = post(f"{server}/v2/models/minilm/infer", json={"inputs": [tensor]}).json()
    out = emb["outputs"][0]
    assert (out["name"], out["shape"], out["datatype"]) == ("embedding", [3, 384], "FP32")
    assert np.allclose(np.reshape(out["data"], (3, 384)), expected, atol=1e-5)
    for model in ("topics-head", "topics-ft"):
        body = {"inputs": [tensor], "outputs": [{"name": "predict"}, {"name": "predict_proba"}]}
        r = post(f"{server}/v2/models/{model}/infer", json=body).json()
        labels = r["outputs"][0]["data"]
        assert labels == ["sport", "finance", "cooking"], r
        assert r["outputs"][1]["shape"] == [3, 4]
    meta = get(f"{server}/v2/models/minilm").json()
    assert meta["outputs"] == [{"name": "embedding", "datatype": "FP32", "shape": [-1, 384]}]
    assert meta["inputs"] == [{"name": "text", "datatype": "BYTES", "shape": [-1]}]


def test_concurrent_requests_are_merged_and_answered_in_order(
    server: str, expected: np.ndarray
) -> None:
    def one(i: int) -> tuple[int, dict]:
        tensor = {"name": "text", "shape": [1], "datatype": "BYTES", "data": [SENTENCES[i % 3]]}
        r = post(f"{server}/v2/models/minilm/infer", json={"inputs": [tensor]})
        return i, r.json()

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, range(96)))
    merged = max(r["parameters"]["batch_requests"] for _, r in results)
    assert merged > 1
    for i, r in results:
        assert np.allclose(r["outputs"][0]["data"], expected[i % 3], atol=1e-5)


BAD = [
    ({"model": "minilm", "input": ""}, 400, "empty string"),
    ({"model": "minilm", "input": []}, 400, "'input' is empty"),
    ({"model": "minilm", "input": ["ok", 3]}, 400, "input[1] is int"),
    ({"model": "minilm", "input": ["a"] * 10_000}, 413, "10000 inputs"),
    ({"model": "minilm", "input": "x" * 1_000_000}, 413, "1000000 characters"),
    ({"model": "nope", "input": "hi"}, 404, "'nope'"),
    ({"model": "topics-ft", "input": "hi"}, 400, "classification model, not an embeddings model"),
    ({"model": "minilm", "input": "hi", "dimensions": 64}, 400, "cannot shorten"),
    ({"model": "minilm", "input": "hi", "encoding_format": "int8"}, 400, "encoding_format"),
    ({"input": "hi"}, 400, "'model' is required"),
    ({"model": "strict", "input": "word " * 400}, 413, "refuses long inputs"),
]


@pytest.mark.parametrize(("body", "status", "message"), BAD, ids=[b[2] for b in BAD])
def test_bad_input_gets_a_clear_4xx_and_the_server_keeps_serving(
    server: str, body: dict, status: int, message: str
) -> None:
    r = post(f"{server}/v1/embeddings", json=body)
    assert r.status_code == status and message in r.json()["error"], r.text
    ok = post(f"{server}/v1/embeddings", json={"model": "minilm", "input": "still here"})
    assert ok.status_code == 200


def test_long_inputs_are_truncated_and_the_response_says_so(server: str) -> None:
    r = post(f"{server}/v1/embeddings", json={"model": "minilm", "input": ["short", "word " * 400]})
    assert r.status_code == 200
    assert r.json()["modelbay"] == {"truncated": [1], "max_tokens": 256}
    assert r.headers["x-modelbay-truncated"] == "1"
    bad = post(
        f"{server}/v2/models/topics-ft/infer",
        json={"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": [""]}]},
    )
    assert bad.status_code == 400 and "empty text" in bad.json()["error"]


def test_the_convenience_route_classifies_text_rows(server: str) -> None:
    body = {
        "instances": [
            {"text": "Forecasters warned about heavy rain."},
            {"text": "The coach trained the home team."},
        ]
    }
    r = post(f"{server}/v1/models/topics-ft:predict?probabilities=true", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["predictions"] == ["weather", "sport"]
    assert sorted(r.json()["classes"]) == ["cooking", "finance", "sport", "weather"]


def test_asking_an_embeddings_model_for_classes_is_a_clear_400(server: str) -> None:
    tensor = {"name": "text", "shape": [1], "datatype": "BYTES", "data": ["hello"]}
    body = {"inputs": [tensor], "outputs": [{"name": "predict_proba"}]}
    r = post(f"{server}/v2/models/minilm/infer", json=body)
    assert r.status_code == 400
    assert "is an embeddings model; probabilities come only from classifiers" in r.json()["error"]
    body = {"inputs": [tensor], "outputs": [{"name": "predict"}]}
    r = post(f"{server}/v2/models/minilm/infer", json=body)
    assert r.status_code == 400 and "outputs are: embedding" in r.json()["error"]
    body = {"inputs": [tensor], "parameters": {"probabilities": True}}
    r = post(f"{server}/v2/models/minilm/infer", json=body)
    assert r.status_code == 400 and "probabilities come only from classifiers" in r.json()["error"]
    assert post(f"{server}/v2/models/minilm/infer", json={"inputs": [tensor]}).status_code == 200
