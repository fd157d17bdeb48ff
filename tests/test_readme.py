"""The README's tour runs as written: its Python blocks, then its CLI block, in one home."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)


def blocks(lang: str) -> list[str]:
    return [body for kind, body in BLOCK.findall(README.read_text()) if kind == lang]


def test_the_quick_start_is_exactly_two_commands() -> None:
    first = blocks("bash")[0]
    commands = [line.split("#")[0].strip() for line in first.splitlines() if line.strip()]
    assert commands == ["make quickstart", "make test"]


@pytest.mark.slow
def test_the_tour_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MODELBAY_HOME", str(tmp_path / "home"))
    [python] = blocks("python")
    exec(compile(python, str(README), "exec"), {"__name__": "readme"})
    cli = blocks("bash")[1]
    env = {**os.environ, "COLUMNS": "160"}
    bin_dir = Path(sys.executable).parent
    for line in (line.strip() for line in cli.splitlines()):
        if not line:
            continue
        argv = shlex.split(line)
        assert argv[0] == "modelbay"
        proc = subprocess.run(
            [bin_dir / "modelbay", *argv[1:]], env=env, capture_output=True, text=True, timeout=300
        )
        assert proc.returncode == 0, f"{line}\n{proc.stdout}\n{proc.stderr}"
    from modelbay import Bay

    with Bay() as bay:
        assert [v.version for v in bay.models.versions("wine")] == [1, 2, 3]
        assert bay.models.get("wine@champion").version == 3
        assert bay.models.get("wine@candidate").version == 3

    serving = blocks("bash")[2].replace("8000", str(_free_port()))
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    proc = subprocess.run(
        ["bash", "-c", "set -e\n" + serving], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert (
        '{"ready":true}' in out and '"predictions":[0]' in out and '"name":"predict_proba"' in out
    )
    assert "deployment wine-prod -> wine@champion (now wine:3" in out
    assert out.count("\n") > 178  # 178 predictions from the server, in CSV
    assert "\n401\n" in out and "deploy" in out  # a request without a key; the audit log


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
