"""Security against a real `modelbay serve` on 127.0.0.1: keys across worker processes, rate
limits under load, huge bodies, TLS, gRPC metadata, uploads and tampered artifacts."""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import skops.io as sio
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

from modelbay import Bay
from tests import procs
from tests.e2e.servers import BIN, free_port, running_server
from tests.polling import wait_for

ADMIN = "admin-key-for-the-security-tests-0123456789"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("secure")
    frame = load_breast_cancer(as_frame=True).frame
    with Bay(home=path) as bay:
        for name in ("bc", "other"):
            bay.train(frame, "target", name=name, algorithm="logistic_regression", trials=1, cv=2)
    return path


@pytest.fixture(scope="module")
def row() -> dict[str, float]:
    x = load_breast_cancer(as_frame=True).frame.drop(columns="target")
    return {k: float(v) for k, v in x.iloc[0].items()}


def body(row: dict[str, float]) -> dict[str, object]:
    return {
        "inputs": [
            {"name": k, "shape": [1], "datatype": "FP64", "data": [v]} for k, v in row.items()
        ]
    }


@pytest.fixture(scope="module")
def server(home: Path) -> Iterator[str]:
    with running_server(
        home,
        "--workers",
        "2",
        auth=True,
        MODELBAY_ADMIN_KEY=ADMIN,
        MODELBAY_KEY_POLL_INTERVAL_S="0.3",
    ) as url:
        yield url


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def new_key(url: str, **spec: object) -> tuple[str, str]:
    r = httpx.post(f"{url}/api/keys", json=spec, headers=auth(ADMIN))
    assert r.status_code == 201, r.text
    return r.json()["id"], r.json()["key"]


def fresh_statuses(url: str, token: str, row: dict[str, float], n: int) -> list[int]:
    """``n`` inferences, each on a new connection (so both worker processes answer some)."""
    out = []
    for _ in range(n):
        with httpx.Client(base_url=url) as c:
            out.append(
                c.post("/v2/models/bc/infer", json=body(row), headers=auth(token)).status_code
            )
    return out


def test_a_revoked_key_stops_working_within_a_second_in_every_worker(
    server: str, row: dict[str, float]
) -> None:
    key_id, token = new_key(server, name="soon-revoked", scopes=["predict"])
    assert fresh_statuses(server, token, row, 40) == [200] * 40  # cached in both workers
    r = httpx.delete(f"{server}/api/keys/{key_id}", headers=auth(ADMIN))
    assert r.status_code == 200 and r.json()["active"] is False
    revoked_at = time.monotonic()
    time.sleep(1.0)  # the promise under test: within a second, every worker refuses it
    assert fresh_statuses(server, token, row, 40) == [401] * 40
    assert time.monotonic() - revoked_at < 5


def test_an_expired_key_stops_working_in_every_worker(server: str, row: dict[str, float]) -> None:
    _, token = new_key(server, name="short-lived", scopes=["predict"], expires="3s")
    assert fresh_statuses(server, token, row, 10) == [200] * 10
    time.sleep(3.2)  # the key's 3 s life runs out (a window that must pass, not a condition)
    statuses = fresh_statuses(server, token, row, 30)
    assert statuses == [401] * 30


def test_a_rate_limit_holds_across_workers_under_concurrent_load(
    server: str, row: dict[str, float]
) -> None:
    _, token = new_key(server, name="limited", scopes=["predict"], rate="10/s", burst=10)
    counts = {"ok": 0, "limited": 0, "other": 0}
    retry_after: set[str] = set()
    lock = threading.Lock()
    started = time.monotonic()

    def going() -> bool:  # 2 s at least, and until the limit bit (a slow machine sends less)
        spent = time.monotonic() - started
        with lock:
            return spent < 2.0 or (counts["limited"] == 0 and spent < 30.0)

    def hammer() -> None:
        while going():
            with httpx.Client(base_url=server) as c:  # new connections: both workers take some
                r = c.post("/v2/models/bc/infer", json=body(row), headers=auth(token))
            with lock:
                if r.status_code == 200:
                    counts["ok"] += 1
                elif r.status_code == 429:
                    counts["limited"] += 1
                    retry_after.add(r.headers["retry-after"])
                else:
                    counts["other"] += 1

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    assert counts["other"] == 0
    assert counts["limited"] > 0 and retry_after == {"1"}
    assert 10 <= counts["ok"] <= 10 + 10 * elapsed + 2, (counts, elapsed)

    def counted() -> bool:  # the workers write their counts to the registry each second
        usage = httpx.get(f"{server}/api/keys/limited", headers=auth(ADMIN)).json()["usage"]
        return sum(usage.values()) >= counts["ok"]

    wait_for(counted, 30, 0.2, f"the key's usage to count the {counts['ok']} answered")


def _rss_kb(pid: int) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", text).group(1))  # type: ignore[union-attr]


def test_a_50mb_body_is_refused_without_the_server_growing_by_50mb(
    home: Path, row: dict[str, float]
) -> None:
    with running_server(home, auth=True, MODELBAY_ADMIN_KEY=ADMIN) as url:
        pid = int(
            procs.run(
                ["pgrep", "-f", f"modelbay serve --port {url.rsplit(':', 1)[1]}"], timeout=30
            ).stdout.split()[0]
        )
        httpx.post(f"{url}/v2/models/bc/infer", json=body(row), headers=auth(ADMIN))  # warm
        before = _rss_kb(pid)
        huge = b"[" + b"1," * (25 * 2**20) + b"1]"  # 50 MB of JSON
        r = httpx.post(
            f"{url}/v2/models/bc/infer",
            content=huge,
            headers={**auth(ADMIN), "content-type": "application/json"},
        )
        assert r.status_code == 413 and "over the limit" in r.json()["error"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: the server must count
            for i in range(0, len(huge), 2**20):
                yield huge[i : i + 2**20]

        try:
            r = httpx.post(
                f"{url}/v2/models/bc/infer",
                content=chunks(),
                headers={**auth(ADMIN), "content-type": "application/json"},
            )
            assert r.status_code == 413
        except httpx.HTTPError:
            pass  # the server may close the connection before the client finishes sending
        grown_mb = (_rss_kb(pid) - before) / 1024
        assert grown_mb < 40, f"the server grew by {grown_mb:.0f} MB"
        ok = httpx.post(f"{url}/v2/models/bc/infer", json=body(row), headers=auth(ADMIN))
        assert ok.status_code == 200


def test_first_start_makes_an_admin_key_and_prints_it_once(tmp_path: Path, home: Path) -> None:
    fresh = tmp_path / "fresh"
    with Bay(home=fresh) as bay:
        bay.models  # noqa: B018 - an empty registry
    logs = []
    for _ in range(2):
        with running_server(fresh, auth=True) as url:
            log = next(fresh.glob(f"server-{url.rsplit(':', 1)[1]}.log")).read_text()
            logs.append(log)
    made = re.findall(r"^(mbk_\S+)$", logs[0], re.M)
    assert len(made) == 1 and "not shown again" in logs[0]
    assert not re.findall(r"^mbk_", logs[1], re.M)  # the second start prints no key
    with Bay(home=fresh) as bay:
        assert bay.keys.verify(made[0]) is not None


def test_no_auth_is_refused_off_loopback(home: Path) -> None:
    out = procs.run(
        [BIN / "modelbay", "--home", str(home), "serve", "--host", "0.0.0.0", "--no-auth"],
        timeout=60,  # were it to start serving after all, it is stopped then
    )
    assert out.returncode == 2 and "loopback" in out.stderr + out.stdout


def test_tls(home: Path, tmp_path: Path, row: dict[str, float]) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with running_server(
        home,
        "--ssl-certfile",
        str(cert_path),
        "--ssl-keyfile",
        str(key_path),
        auth=True,
        scheme="https",
        MODELBAY_ADMIN_KEY=ADMIN,
    ) as url:
        assert url.startswith("https://")
        trusted = ssl.create_default_context(cafile=str(cert_path))
        with httpx.Client(base_url=url, verify=trusted) as c:
            r = c.post("/v2/models/bc/infer", json=body(row), headers=auth(ADMIN))
            assert r.status_code == 200
            assert c.post("/v2/models/bc/infer", json=body(row)).status_code == 401
        with pytest.raises(httpx.HTTPError):
            httpx.get(url.replace("https", "http") + "/v2/health/live")


def test_grpc_takes_keys_from_metadata(home: Path, row: dict[str, float]) -> None:
    import tritonclient.grpc as grpcclient
    from tritonclient.utils import InferenceServerException

    port = free_port()
    with running_server(home, "--grpc-port", str(port), auth=True, MODELBAY_ADMIN_KEY=ADMIN) as url:
        _, only_bc = new_key(url, name="grpc-bc", scopes=["predict"], models=["bc"])
        client = grpcclient.InferenceServerClient(f"127.0.0.1:{port}")
        x = np.array([list(row.values())], dtype=np.float64)
        inp = grpcclient.InferInput("input-0", list(x.shape), "FP64")
        inp.set_data_from_numpy(x)
        ok = client.infer("bc", [inp], headers={"authorization": f"Bearer {only_bc}"})
        assert ok.as_numpy("predict").shape == (1,)
        ok = client.infer("bc", [inp], headers={"x-api-key": only_bc})
        assert ok.as_numpy("predict").shape == (1,)
        with pytest.raises(InferenceServerException, match=r"UNAUTHENTICATED|API key"):
            client.infer("bc", [inp])
        with pytest.raises(InferenceServerException, match=r"NOT_FOUND|not deployed"):
            client.infer("other", [inp], headers={"x-api-key": only_bc})
        assert client.is_server_live()  # health needs no key
        client.close()
        # the one admission step audits a denial on every face, gRPC's too
        entries = httpx.get(f"{url}/api/audit?limit=50", headers=auth(ADMIN)).json()
        seen = {(e["actor"], e["action"], e["outcome"]) for e in entries}
        assert ("unauthenticated", "grpc ModelInfer", "denied") in seen


class Gadget:
    """A type no reviewed trust list holds."""

    def __init__(self) -> None:
        self.payload = "would run on load"


def test_uploads_refuse_pickles_and_untrusted_skops_and_register_good_ones(
    server: str, home: Path
) -> None:
    import pickle

    _, trainer = new_key(server, name="uploader", scopes=["train", "read"])
    x, y = load_breast_cancer(return_X_y=True)
    model = LogisticRegression(max_iter=5000).fit(x, y)
    url = f"{server}/api/models/uploaded/versions"
    octet = {**auth(trainer), "content-type": "application/octet-stream"}
    r = httpx.post(url, content=pickle.dumps(model), headers=octet)
    assert r.status_code == 422 and "pickle" in r.json()["error"]
    buf = io.BytesIO()
    sio.dump(Gadget(), buf)
    r = httpx.post(url, content=buf.getvalue(), headers=octet)
    assert r.status_code == 422 and "Gadget" in r.json()["error"] and "trusted" in r.json()["error"]
    r = httpx.post(url, content=b"not a model at all", headers=octet)
    assert r.status_code == 422
    assert httpx.get(url, headers=auth(trainer)).status_code == 404  # nothing registered
    good = io.BytesIO()
    sio.dump(model, good)
    r = httpx.post(url + "?alias=champion", content=good.getvalue(), headers=octet)
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 1 and r.json()["serving"]["runtime"] == "onnx"
    infer = {
        "inputs": [
            {"name": "x", "shape": [2, 30], "datatype": "FP64", "data": x[:2].ravel().tolist()}
        ]
    }
    out = httpx.post(f"{server}/v2/models/uploaded/infer", json=infer, headers=auth(ADMIN)).json()
    assert out["outputs"][0]["data"] == model.predict(x[:2]).tolist()
    entries = httpx.get(f"{server}/api/audit?action=import", headers=auth(ADMIN)).json()
    assert [(e["actor"], e["outcome"]) for e in entries if e["target"] == "uploaded"] == [
        ("uploader", "ok"),
        ("uploader", "error"),
        ("uploader", "error"),
        ("uploader", "error"),
    ]


def test_a_tampered_artifact_is_refused_and_the_server_keeps_serving(
    server: str, home: Path, row: dict[str, float]
) -> None:
    frame = load_breast_cancer(as_frame=True).frame
    with Bay(home=home) as bay:
        v = bay.train(
            frame, "target", name="tampered", algorithm="logistic_regression", trials=1, cv=2
        )
        for role in ("model", "onnx"):
            digest = v.artifacts[role].digest
            blob = home / "artifacts" / digest[:2] / digest[2:]
            data = bytearray(blob.read_bytes())
            data[len(data) // 2] ^= 0x01
            os.chmod(blob, 0o600)
            blob.write_bytes(bytes(data))
    r = httpx.post(f"{server}/v2/models/tampered/infer", json=body(row), headers=auth(ADMIN))
    assert r.status_code == 503 and "altered" in r.json()["error"]
    ok = httpx.post(f"{server}/v2/models/bc/infer", json=body(row), headers=auth(ADMIN))
    assert ok.status_code == 200


def test_management_actions_are_audited_with_the_key_name_and_keys_never_logged(
    server: str, home: Path
) -> None:
    _, deployer = new_key(server, name="deployer", scopes=["deploy", "read"])
    _, reader = new_key(server, name="reader", scopes=["read"])
    r = httpx.put(
        f"{server}/api/models/bc/aliases/staging", json={"version": 1}, headers=auth(deployer)
    )
    assert r.status_code == 200
    r = httpx.put(f"{server}/api/deployments/bc-prod", json={"model": "bc"}, headers=auth(reader))
    assert r.status_code == 403
    entries = httpx.get(f"{server}/api/audit?limit=50", headers=auth(ADMIN)).json()
    seen = {(e["actor"], e["action"], e["target"], e["outcome"]) for e in entries}
    assert ("deployer", "alias.set", "bc@staging", "ok") in seen
    assert ("reader", "PUT /api/deployments/{name}", "bc-prod", "denied") in seen
    assert ("admin", "key.create", "deployer", "ok") in seen
    out = procs.run(
        [BIN / "modelbay", "--home", str(home), "audit", "--json", "--limit", "200"],
        timeout=120,
        check=True,
    ).stdout
    assert '"actor": "deployer"' in out
    for log in home.glob("server-*.log"):
        text = log.read_text()
        for token in (ADMIN, deployer, reader):
            assert token not in text
    assert ADMIN not in out and deployer not in out


def test_the_python_client_sends_its_key(server: str, row: dict[str, float]) -> None:
    from modelbay import Client, RateLimited, Unauthenticated

    _, token = new_key(server, name="client-user", scopes=["predict"], rate="1/s", burst=1)
    with Client(server, token) as client:
        assert client.predict("bc", row).tolist() in ([0], [1])
        with pytest.raises(RateLimited, match="rate limit"):
            client.predict("bc", row)
    with Client(server) as anonymous, pytest.raises(Unauthenticated, match="API key"):
        anonymous.predict("bc", row)
    time.sleep(1.1)  # the 1/s bucket refills: a window that must pass
    me = httpx.get(f"{server}/api/keys/me", headers=auth(token))
    assert me.status_code == 200 and me.json()["name"] == "client-user"
    assert "key" not in me.json()  # the key itself is never shown again
