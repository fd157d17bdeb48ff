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


def section(heading: str) -> str:
    """The README's text under ``heading`` (``## Title`` or ``### Title``), up to the next
    heading of the same level or higher (a ``#`` line inside a code block is no heading)."""
    lines = README.read_text().splitlines(keepends=True)
    start = lines.index(heading + "\n") + 1
    level = len(heading.split()[0])
    fenced = False
    for end in range(start, len(lines)):
        line = lines[end]
        fenced ^= line.startswith("```")
        marks = len(line) - len(line.lstrip("#"))
        if not fenced and 0 < marks <= level and line[marks : marks + 1] == " ":
            return "".join(lines[start:end])
    return "".join(lines[start:])


def blocks(lang: str, heading: str | None = None) -> list[str]:
    """The ``lang`` code blocks of the README, or of its section under ``heading``."""
    text = README.read_text() if heading is None else section(heading)
    return [body for kind, body in BLOCK.findall(text) if kind == lang]


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
# with iterative imputation), plus the Monitoring block's server and commands; a full `make
# test` on a loaded machine ran out of 300 s, and with the Monitoring block, at a load of 13
# on 2 cores, out of 600
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_tour_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MODELBAY_HOME", str(tmp_path / "home"))
    [python] = blocks("python", "### Python")
    exec(compile(python, str(README), "exec"), {"__name__": "readme"})
    [cli] = blocks("bash", "### CLI")
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

    # the Serving block, then the Monitoring block with a server of its own, in one shell;
    # `wait` lets the first server finish stopping, as it has by the time a reader types on
    [serving] = blocks("bash", "### Serving")
    [monitoring] = blocks("bash", "### Monitoring")
    script = (serving + "wait\n" + monitoring).replace("8000", str(free_port()))
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    status, out, err = run_script(script, tmp_path, 600, env=env)
    assert status == 0, out + err
    assert (
        '{"ready":true}' in out and '"predictions":[0]' in out and '"name":"predict_proba"' in out
    )
    assert "deployment wine-prod -> wine@champion (now wine:3" in out
    assert out.count("\n") > 178  # 178 predictions from the server, in CSV
    assert "\n401\n" in out and "deploy" in out  # a request without a key; the audit log
    assert "modelbay_inference_requests_total{" in out
    with Bay() as bay:
        [live] = bay.monitor.quality("wine", "24h")["versions"].values()
        assert live["rows"] == 2  # the feedback reached the two rows it names
        # every 2nd row of the 178-row request (at most 100 a request), and 4 sent by hand
        assert bay.monitor.drift("wine", "1h", store=False)["rows"] >= 89 + 4
        assert [r.name for r in bay.monitor.rules.list()] == ["drifting"]
    assert (tmp_path / "wine.html").stat().st_size > 1000


# 2-4 min: two trainings (6 and 4 trials of 3-fold CV), then a server
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_your_own_table_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The walkthrough: a mixed table of one's own to two served, watched models."""
    monkeypatch.chdir(tmp_path)
    bin_dir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELBAY_")}
    env.update(MODELBAY_HOME=str(tmp_path / "home"), PATH=f"{bin_dir}:{env['PATH']}", COLUMNS="160")
    [python] = blocks("python", "## Your own table")
    exec(compile(python, str(README), "exec"), {"__name__": "readme"})
    [shell] = blocks("bash", "## Your own table")
    status, out, err = run_script(
        shell.replace("8000", str(free_port())), tmp_path, 840, cwd=tmp_path, env=env
    )
    assert status == 0, out + err
    assert '"predictions":["' in out and '"probabilities":[[' in out  # the answer, shown
    from modelbay import Bay

    with Bay(home=tmp_path / "home") as bay:
        kinds = {c.kind for c in bay.datasets.get("customers").schema.columns}
        assert {"numeric", "categorical", "boolean", "datetime"} <= kinds
        churn, ltv = bay.models.get("churn@champion"), bay.models.get("ltv@champion")
        assert (churn.task, ltv.task) == ("classification", "regression")
        for version in (churn, ltv):
            assert "customer_id" not in version.signature.names
        [live] = bay.monitor.quality("churn", "1h")["versions"].values()
        assert live["rows"] == 2  # the feedback for the two customers sent by hand
        assert bay.monitor.drift("churn", "1h", store=False)["rows"] >= 100
        assert [r.name for r in bay.monitor.rules.list()] == ["churn-drift"]
    assert len((tmp_path / "ltv.csv").read_text().splitlines()) == 601
