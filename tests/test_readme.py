"""The README's tour runs as written: its Python blocks, then its CLI block, in one home."""

from __future__ import annotations

import os
import re
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

from tests import procs
from tests.e2e.servers import free_port

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)


def blocks(lang: str) -> list[str]:
    return [body for kind, body in BLOCK.findall(README.read_text()) if kind == lang]


def test_the_quick_start_is_exactly_two_commands() -> None:
    first = blocks("bash")[0]
    commands = [line.split("#")[0].strip() for line in first.splitlines() if line.strip()]
    assert commands == ["make quickstart", "make test"]


def run_script(script: str, tmp_path: Path, timeout: float, **popen: Any) -> tuple[int, str, str]:
    """Run a README block with bash: its exit status, stdout and stderr.

    The output goes to files, not pipes: a server the block started with ``&`` holds them
    open, so a failed block would otherwise wait for the server until the timeout. The block
    runs as one process group (``tests.procs``): whatever it left running is stopped.
    """
    out, err = tmp_path / "block.out", tmp_path / "block.err"
    with open(out, "w") as stdout, open(err, "w") as stderr:
        proc = procs.run(
            ["bash", "-c", "set -e\n" + script],
            timeout=timeout,
            stdout=stdout,
            stderr=stderr,
            **popen,
        )
    return proc.returncode, out.read_text(), err.read_text()


# 40-70 s on an idle machine, half of it the first training's search (12 trials of 5-fold CV
# with iterative imputation); a full `make test` on a loaded machine ran out of 300 s
@pytest.mark.slow
@pytest.mark.timeout(600)
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
        proc = procs.run([bin_dir / "modelbay", *argv[1:]], env=env, timeout=300)
        assert proc.returncode == 0, f"{line}\n{proc.stdout}\n{proc.stderr}"
    from modelbay import Bay

    with Bay() as bay:
        assert [v.version for v in bay.models.versions("wine")] == [1, 2, 3]
        assert bay.models.get("wine@champion").version == 3
        assert bay.models.get("wine@candidate").version == 3

    serving = blocks("bash")[2].replace("8000", str(free_port()))
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    status, out, err = run_script(serving, tmp_path, 300, env=env)
    assert status == 0, out + err
    assert (
        '{"ready":true}' in out and '"predictions":[0]' in out and '"name":"predict_proba"' in out
    )
    assert "deployment wine-prod -> wine@champion (now wine:3" in out
    assert out.count("\n") > 178  # 178 predictions from the server, in CSV
    assert "\n401\n" in out and "deploy" in out  # a request without a key; the audit log
