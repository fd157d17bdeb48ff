"""Starting a real `modelbay serve` process for end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent


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
    """
    port = free_port()
    if not auth:
        args = ("--no-auth", *args)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELBAY_")}
    env.update(MODELBAY_HOME=str(home), **env_extra)
    log_path = home / f"server-{port}.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [BIN / "modelbay", "serve", "--port", str(port), *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"{scheme}://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    raise RuntimeError(log_path.read_text())
                try:
                    ready = httpx.get(f"{url}/v2/health/ready", timeout=1, verify=False)
                    if ready.status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            else:
                raise RuntimeError(log_path.read_text())
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=30)
