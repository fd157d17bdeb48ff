"""Starting a real `modelbay serve` process for end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests import procs
from tests.polling import wait_for

BIN = Path(sys.executable).parent
START_S = 90.0  # a server's start on a loaded machine: 2 workers importing scikit-learn, ONNX


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_server(
    home: Path, *args: str, auth: bool = False, scheme: str = "http", **env_extra: str
) -> Iterator[str]:
    """``modelbay serve`` on a free port of 127.0.0.1 over ``home``; yields its URL.

    Without API keys unless ``auth`` (then set MODELBAY_ADMIN_KEY to know the admin key).
    The server and its workers are one process group, stopped on the way out however the
    test ends (see ``tests.procs``).
    """
    port = free_port()
    if not auth:
        args = ("--no-auth", *args)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELBAY_")}
    env.update(MODELBAY_HOME=str(home), **env_extra)
    log_path = home / f"server-{port}.log"
    url = f"{scheme}://127.0.0.1:{port}"
    with open(log_path, "w") as log:
        proc = procs.start(
            [BIN / "modelbay", "serve", "--port", str(port), *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:

            def ready() -> bool:
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"the server exited ({proc.returncode}):\n{log_path.read_text()}"
                    )
                r = httpx.get(f"{url}/v2/health/ready", timeout=1, verify=False)
                return r.status_code == 200

            wait_for(
                ready,
                START_S,
                0.2,
                lambda: f"{url} to be ready; its log:\n{log_path.read_text()}",
                ignore=(httpx.HTTPError,),
            )
            yield url
        finally:
            procs.stop_group(proc)
