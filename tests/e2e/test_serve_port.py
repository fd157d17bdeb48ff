"""``modelbay serve`` on a port that is taken: an error naming the port and a non-zero exit,
before it says it is serving (and before it makes an admin key)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelbay import Bay
from tests import procs
from tests.e2e.servers import BIN


@pytest.fixture(params=["plain", "reuse_port"])
def taken(request: pytest.FixtureRequest) -> Iterator[int]:
    """A port something listens on: a plain socket, or one with SO_REUSEPORT (as another
    modelbay server's workers have, which a second server could otherwise share)."""
    with socket.socket() as sock:
        if request.param == "reuse_port":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("auth", [False, True])
def test_serve_on_a_taken_port_fails_naming_it_before_saying_anything(
    tmp_path: Path, taken: int, workers: str, auth: bool
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELBAY_")}
    env["MODELBAY_HOME"] = str(tmp_path / "home")
    argv = [BIN / "modelbay", "serve", "--port", str(taken), "--workers", workers]
    done = procs.run([*argv] if auth else [*argv, "--no-auth"], timeout=60, env=env)
    assert done.returncode == 7, done.stdout + done.stderr
    assert f"port {taken} on 127.0.0.1 is in use" in done.stderr
    assert done.stdout == ""  # no "modelbay serving on ...", no admin key
    if auth:
        with Bay(home=tmp_path / "home") as bay:
            assert bay.keys.list() == []


def test_a_taken_grpc_port_is_refused_too(tmp_path: Path) -> None:
    pytest.importorskip("grpc")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELBAY_")}
    env["MODELBAY_HOME"] = str(tmp_path / "home")
    with socket.socket() as http, socket.socket() as grpc:
        http.bind(("127.0.0.1", 0))
        port = http.getsockname()[1]
        http.close()  # free: only gRPC's port is taken
        grpc.bind(("127.0.0.1", 0))
        grpc.listen()
        grpc_port = grpc.getsockname()[1]
        argv = [BIN / "modelbay", "serve", "--no-auth", "--port", str(port)]
        done = procs.run([*argv, "--grpc-port", str(grpc_port)], timeout=60, env=env)
    assert done.returncode == 7 and f"port {grpc_port} on 127.0.0.1 is in use" in done.stderr
    assert done.stdout == ""
