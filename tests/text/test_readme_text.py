"""The README's text-model block runs as written, against a real server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_readme import README, blocks


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_text_block_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    [block] = [b for b in blocks("bash") if "models import" in b and "--task embeddings" in b]
    assert "### Text models" in README.read_text()
    bin_dir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELBAY_")}
    env.update(MODELBAY_HOME=str(tmp_path / "home"), PATH=f"{bin_dir}:{env['PATH']}", COLUMNS="160")
    script = "set -e\n" + block.replace("8000", str(_port()))
    proc = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "registered minilm:2" in out and "not registered: mean_cosine" in out
    assert '{"object":"list","data":[{"object":"embedding","index":0,"embedding":[' in out
    assert '"datatype":"BYTES","data":["cooking"]' in out
