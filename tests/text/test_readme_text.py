"""The README's text-model block runs as written, against a real server."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.e2e.servers import free_port
from tests.test_readme import README, blocks, run_script


# 50 s on an idle machine (an int8 quantization checked against fp32, two trainings on MiniLM
# embeddings, one fine-tuning it): the default 300 s is too tight for a loaded one
@pytest.mark.timeout(600)
def test_the_text_block_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    [block] = [b for b in blocks("bash") if "models import" in b and "--task embeddings" in b]
    assert "### Text models" in README.read_text()
    bin_dir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELBAY_")}
    env.update(MODELBAY_HOME=str(tmp_path / "home"), PATH=f"{bin_dir}:{env['PATH']}", COLUMNS="160")
    script = block.replace("8000", str(free_port()))
    status, out, err = run_script(script, tmp_path, 540, cwd=tmp_path, env=env)
    assert status == 0, out + err
    assert "registered minilm:2" in out and "not registered: mean_cosine" in out
    assert '{"object":"list","data":[{"object":"embedding","index":0,"embedding":[' in out
    assert '"datatype":"BYTES","data":["cooking"]' in out
