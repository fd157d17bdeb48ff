"""The serving core: policies, the admin-key bootstrap, the settings workers get, and a server
started from Python that behaves like `modelbay serve`."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from modelbay import Bay, Settings
from modelbay.errors import Forbidden, Unauthenticated, ValidationError
from modelbay.security.admission import Admission
from modelbay.server import Server, is_loopback
from tests.e2e.servers import free_port


@pytest.mark.parametrize(
    ("host", "ok"),
    [("127.0.0.1", True), ("127.8.0.1", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("10.1.2.3", False), ("example.org", False)],
)  # fmt: skip
def test_serving_without_keys_is_allowed_on_loopback_only(
    tmp_path: Path, host: str, ok: bool
) -> None:
    assert is_loopback(host) is ok
    settings = Settings(home=tmp_path, host=host, auth=False)
    if ok:
        Server(settings)
    else:
        with pytest.raises(ValidationError, match="loopback"):
            Server(settings)
    Server(Settings(home=tmp_path, host=host, auth=True))  # keys on: any address


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ssl_certfile": "cert.pem"}, "both --ssl-certfile and --ssl-keyfile"),
        ({"workers": -1}, "workers"),
        ({"port": 0}, "not a TCP port"),
    ],
)
def test_bad_serving_settings_say_what_to_fix(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    with Bay(home=tmp_path) as bay, pytest.raises(ValidationError, match=message):
        bay.serve(**change)


def test_a_misspelt_server_setting_is_refused(tmp_path: Path) -> None:
    with Bay(home=tmp_path) as bay, pytest.raises(ValidationError, match="'wokers'"):
        bay.serve(wokers=2)


def test_the_bootstrap_makes_one_admin_key_and_only_with_keys_on(tmp_path: Path) -> None:
    with Bay(home=tmp_path) as bay:
        assert bay.serve(auth=False).bootstrap() is None
        assert bay.keys.list() == []
        token = bay.serve().bootstrap()
        assert token is not None
        assert bay.serve().bootstrap() is None  # made once
        assert bay.keys.verify(token) is not None


def test_workers_get_settings_explicitly_and_a_fresh_metrics_folder(tmp_path: Path) -> None:
    with Bay(home=tmp_path) as bay:
        server = bay.serve(port=8123, workers=0)
        stale = tmp_path / "run" / "metrics-8123" / "old-worker"
        stale.parent.mkdir(parents=True)
        stale.write_text("left by a server before")
        given = server.for_workers()
        assert given.workers == server.workers >= 1  # resolved, not 0
        assert given.metrics_dir == stale.parent and not stale.exists()
        assert server.settings.workers == 0  # the server's own settings are not changed


def test_one_admission_audits_a_denial_on_any_face(tmp_path: Path) -> None:
    with Bay(home=tmp_path) as bay:
        _, reader = bay.keys.create("reader", ["read"])
        server = bay.serve()

        async def main() -> None:
            await server.gate.start()
            try:
                with pytest.raises(Unauthenticated):
                    await server.admission.admit(
                        ("predict",), "grpc ModelInfer", authorization=None, api_key="nope"
                    )
                with pytest.raises(Forbidden):
                    await server.admission.admit(
                        ("predict",),
                        "grpc ModelInfer",
                        authorization=f"Bearer {reader}",
                        api_key=None,
                        model="bc",
                    )
                ok = await server.admission.admit(
                    ("read",), "GET /api/models", authorization=None, api_key=reader
                )
                assert ok.name == "reader"
            finally:
                await server.gate.stop()

        asyncio.run(main())
        seen = {(e.actor, e.action, e.target, e.outcome) for e in bay.audit.list(limit=10)}
        assert ("unauthenticated", "grpc ModelInfer", "", "denied") in seen
        assert ("reader", "grpc ModelInfer", "bc", "denied") in seen


def test_denials_past_the_budget_are_counted_not_written(tmp_path: Path) -> None:
    with Bay(home=tmp_path) as bay:
        server = bay.serve()
        admission = Admission(
            server.gate, bay.audit, server.manager.model_of, denial_burst=3, denials_per_s=0.01
        )

        async def main() -> None:
            for _ in range(10):
                with pytest.raises(Unauthenticated):
                    await admission.admit(("predict",), "x", authorization=None, api_key=None)

        asyncio.run(main())
        assert len([e for e in bay.audit.list(limit=100) if e.outcome == "denied"]) == 3
        assert admission.unrecorded == 7


def test_a_server_started_from_python_serves_like_the_command(tmp_path: Path) -> None:
    port = free_port()
    code = (
        "from modelbay import Bay\n"
        "from modelbay.api.host import serve\n"
        f"serve(Bay(home={str(tmp_path)!r}).serve(port={port}, auth=False, workers=2))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, "the server ended"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=1).is_success:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        r = httpx.post(
            f"http://127.0.0.1:{port}/v1/models/ghost:predict", json={"instances": [[1]]}
        )
        assert r.status_code == 404 and "ghost" in r.json()["error"]
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0  # SIGTERM: the workers stop and it exits cleanly
