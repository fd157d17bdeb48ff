"""A real `modelbay serve` process on 127.0.0.1, driven by real clients."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from modelbay import Bay, Client, NotFoundError, SchemaError
from tests import procs
from tests.e2e.servers import BIN, running_server
from tests.polling import wait_for


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    from sklearn.datasets import load_breast_cancer

    home = tmp_path_factory.mktemp("server-home")
    cancer = load_breast_cancer(as_frame=True).frame
    with Bay(home=home) as bay:
        bay.train(cancer, "target", name="cancer", algorithm="logistic_regression", trials=1, cv=2)
        bay.train(cancer, "target", name="cancer", algorithm="random_forest", trials=1, cv=2)
        for _ in range(2):  # the alias-move test's own model: no other test sees it move
            bay.train(
                cancer, "target", name="moving", algorithm="logistic_regression", trials=1, cv=2
            )
    with running_server(home, MODELBAY_POLL_INTERVAL_S="0.2") as url:
        yield url, home


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer(as_frame=True).frame.drop(columns="target")


def test_tritonclient_works_unchanged_with_binary_tensors(
    server: tuple[str, Path], rows: pd.DataFrame
) -> None:
    import tritonclient.http as triton

    url, home = server
    client = triton.InferenceServerClient(url.removeprefix("http://"))
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("cancer")
    meta = client.get_model_metadata("cancer")
    assert meta["name"] == "cancer" and len(meta["inputs"]) == 30
    x = rows.head(25).to_numpy(dtype=np.float32)
    inp = triton.InferInput("input-0", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=True)
    outs = [
        triton.InferRequestedOutput("predict", binary_data=True),
        triton.InferRequestedOutput("predict_proba", binary_data=True),
    ]
    result = client.infer("cancer", [inp], outputs=outs, request_id="t-1")
    with Bay(home=home) as bay:
        predictor = bay.load("cancer")
        want = predictor.predict(rows.head(25))
        want_p = predictor.predict_proba(rows.head(25)).to_numpy()
    assert result.as_numpy("predict").tolist() == want.tolist()
    np.testing.assert_allclose(result.as_numpy("predict_proba"), want_p, atol=1e-4)
    assert result.get_response()["id"] == "t-1"
    json_inp = triton.InferInput("input-0", list(x.shape), "FP32")
    json_inp.set_data_from_numpy(x, binary_data=False)
    again = client.infer(
        "cancer", [json_inp], outputs=[triton.InferRequestedOutput("predict", binary_data=False)]
    )
    assert again.as_numpy("predict").tolist() == want.tolist()
    client.close()


def test_python_client_and_cli_predict_url(
    server: tuple[str, Path], rows: pd.DataFrame, tmp_path: Path
) -> None:
    url, home = server
    with Client(url) as client, Bay(home=home) as bay:
        assert client.ready()
        labels, proba = client.predict("cancer", rows.head(10), proba=True)
        assert labels.tolist() == bay.load("cancer").predict(rows.head(10)).tolist()
        assert list(proba.columns) == ["0", "1"] and np.allclose(proba.sum(axis=1), 1)
        assert client.predict("cancer", rows.head(3).to_dict("records"), version=2).shape == (3,)
        with pytest.raises(NotFoundError, match="no model of that name"):
            client.predict("ghost", rows.head(1))
        with pytest.raises(SchemaError, match="missing column"):
            client.predict("cancer", rows.head(1).drop(columns="mean radius"))
    path = tmp_path / "rows.csv"
    rows.head(6).assign(id=range(6)).to_csv(path, index=False)
    argv = ["predict", "cancer", "--url", url, "--input", str(path), "--format", "csv", "--proba"]
    proc = procs.run([BIN / "modelbay", *argv], timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "ignoring column(s) the model does not use: id" in proc.stderr
    out = pd.read_csv(pd.io.common.StringIO(proc.stdout))
    assert list(out.columns) == ["target", "p_0", "p_1"] and len(out) == 6


def test_concurrent_requests_are_merged_and_answered_in_order(
    server: tuple[str, Path], rows: pd.DataFrame
) -> None:
    import asyncio

    url, home = server
    x = rows.head(64)
    with Bay(home=home) as bay:
        want = bay.load("cancer").predict(x).tolist()

    async def main() -> list[dict[str, object]]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as c:

            async def one(i: int) -> dict[str, object]:
                body = {"instances": [x.iloc[i].to_dict()]}
                r = await c.post("/v1/models/cancer:predict", json=body)
                return {"i": i, "pred": r.json()["predictions"][0]}

            return await asyncio.gather(*[one(i) for i in range(64)])

    results = asyncio.run(main())
    assert [r["pred"] for r in sorted(results, key=lambda r: r["i"])] == want

    async def v2() -> list[int]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as c:
            body = {
                "inputs": [
                    {"name": "x", "shape": [1, 30], "datatype": "FP64", "data": x.iloc[0].tolist()}
                ]
            }
            rs = await asyncio.gather(
                *[c.post("/v2/models/cancer/infer", json=body) for _ in range(48)]
            )
            return [r.json()["parameters"]["batch_requests"] for r in rs]

    merged = asyncio.run(v2())
    assert max(merged) > 1  # several requests shared one model call


def test_an_alias_move_under_load_loses_no_request(
    server: tuple[str, Path], rows: pd.DataFrame
) -> None:
    url, home = server
    body = {
        "inputs": [
            {
                "name": "x",
                "shape": [2, 30],
                "datatype": "FP64",
                "data": rows.head(2).to_numpy().ravel().tolist(),
            }
        ]
    }
    seen: list[tuple[int, str]] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=url, timeout=30) as c:
            while not stop.is_set():
                r = c.post("/v2/models/moving/infer", json=body)
                seen.append((r.status_code, r.json().get("model_version", "?")))

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: len(seen) >= 40, 30, 0.05, "40 answers before the move")
        with Bay(home=home) as bay:
            before = bay.models.get("moving@champion").version
            bay.models.set_alias("moving", "champion", 2 if before == 1 else 1)
        after = str(2 if before == 1 else 1)
        wait_for(lambda: any(v == after for _, v in seen), 30, 0.05, f"version {after}")
        moved = next(i for i, (_, v) in enumerate(seen) if v == after)
        # each worker polls the registry on its own (within a poll interval): wait until the
        # last answers all come from the new version, whichever worker gave them
        wait_for(
            lambda: len(seen) - moved > 40 and all(v == after for _, v in seen[-20:]),
            30,
            0.05,
            "40 answers after the move, the last 20 from the new version",
        )
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert seen and all(status == 200 for status, _ in seen), {s for s, _ in seen}
    versions = [v for _, v in seen]
    assert str(before) in versions and after in versions
    first_new = versions.index(after)
    assert versions[-1] == after and len(versions) - first_new > 10


def test_bad_requests_over_the_wire_and_the_server_lives_on(
    server: tuple[str, Path], rows: pd.DataFrame
) -> None:
    url, _ = server
    with httpx.Client(base_url=url, timeout=30) as c:
        for body, status in [
            (b"", 400),
            (b"\xff\xfe", 400),
            (b'{"inputs": 5}', 400),
            (b'{"inputs": [{"name": "x", "shape": [1, 30], "datatype": "FP64", "data": []}]}', 400),
        ]:
            r = c.post("/v2/models/cancer/infer", content=body)
            assert r.status_code == status and "error" in r.json()
        assert c.get("/v2/models/ghost").status_code == 404
        ok = c.post("/v1/models/cancer:predict", json={"instances": [rows.iloc[0].to_dict()]})
        assert ok.status_code == 200
