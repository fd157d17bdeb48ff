"""Real processes: the quickstart command, and crashes in the middle of train and register."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from modelbay import Bay
from modelbay.train.search import SEARCH_SHARE
from tests import procs
from tests.polling import wait_for

BIN = Path(sys.executable).parent


def env_for(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELBAY_")}
    env["MODELBAY_HOME"] = str(home)
    env["COLUMNS"] = "160"
    return env


# 40 s on an idle machine: a 25-trial search within a 90 s budget, then holdout and reload
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_quickstart_command(tmp_path: Path) -> None:
    home = tmp_path / "qs"
    proc = procs.run([BIN / "modelbay", "quickstart"], env=env_for(home), timeout=500)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "registered breast-cancer:1" in out and "aliases: champion" in out
    for algorithm in ("logistic_regression", "random_forest", "gradient_boosting", "svm", "mlp"):
        assert algorithm in out
    assert "holdout (114 rows, scored once)" in out and "on 5 rows" in out
    with Bay(home=home) as bay:
        v = bay.models.get("breast-cancer@champion")
        assert v.metrics["holdout"]["accuracy"] > 0.9
        run = bay.runs.get(v.lineage["training_run"])
        # 25 trials, or fewer when the search hit its share of quickstart's 90 s budget (a
        # loaded machine; the re-scoring of its best candidates has the rest)
        assert run.finished_at is not None
        spent = (run.finished_at - run.started_at).total_seconds()
        assert len(run.trials) == 25 or (len(run.trials) >= 5 and spent >= 90 * SEARCH_SHARE)
        assert v.metrics["selection"]["rule"] == "one-standard-error"


def test_a_crash_inside_register_leaves_the_registry_consistent(tmp_path: Path) -> None:
    home = tmp_path / "crash"
    script = textwrap.dedent(
        """
        import os
        from sklearn.linear_model import LinearRegression
        from modelbay import Bay
        from modelbay.data.signature import ColumnSpec, OutputSpec, Signature

        bay = Bay()
        with bay.models.register("half") as draft:
            draft.signature = Signature([ColumnSpec("x", "numeric", "float64", False)],
                                        OutputSpec("regression", "y", "float64"))
            draft.save_model(LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0]))
            print(draft.artifact.digest, flush=True)
            os._exit(9)  # the process dies: no cleanup, no commit
        """
    )
    proc = procs.run([sys.executable, "-c", script], env=env_for(home), timeout=120)
    assert proc.returncode == 9, proc.stderr
    digest = proc.stdout.strip()
    with Bay(home=home) as bay:
        assert bay.models.list() == []
        assert list(bay.store.digests()) == [digest]  # durable, but nothing points at it
        assert bay.gc() == [digest]
        assert list(bay.store.digests()) == []


def test_a_killed_training_leaves_no_version_and_the_next_one_works(
    tmp_path: Path, iris: pd.DataFrame
) -> None:
    home = tmp_path / "killed"
    data = tmp_path / "iris.csv"
    iris.to_csv(data, index=False)
    proc = procs.start(
        [BIN / "modelbay", "train", str(data), "--target", "species", "--trials", "100000"],
        env=env_for(home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: started(home), 120, 0.25, "the training run to be recorded")
        searching_from = cpu_seconds(proc.pid)  # the run is recorded as the search begins
        wait_for(
            lambda: cpu_seconds(proc.pid) - searching_from >= 1.0,
            60,
            0.1,
            "a second of the search's CPU time",
        )
        os.kill(proc.pid, signal.SIGKILL)  # well inside the search
        proc.wait(timeout=30)
    finally:
        procs.stop_group(proc)
    with Bay(home=home) as bay:
        assert bay.models.list() == []
        [run] = bay.runs.list()
        assert run.status == "running" and run.version_id is None
        version = bay.train("iris", "species", trials=1, cv=2)
        assert version.ref == "iris:1"
        assert bay.load("iris").predict(iris.drop(columns="species").head(2)).shape == (2,)


def started(home: Path) -> bool:
    if not (home / "modelbay.db").exists():
        return False
    with Bay(home=home) as bay:
        return bool(bay.runs.list())


def cpu_seconds(pid: int) -> float:
    """The CPU time ``pid`` has used: a clock of its work, which a loaded machine slows too."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            if f"\nPPid:\t{pid}\n" in status:
                found.append(int(entry.name))
    return found


@pytest.mark.parametrize(("workers", "expected"), [(None, None), ("1", 1)])
def test_serve_starts_one_worker_per_usable_cpu_unless_told(
    tmp_path: Path, workers: str | None, expected: int | None
) -> None:
    from modelbay.settings import MAX_AUTO_WORKERS, usable_cpus
    from tests.e2e.servers import running_server

    want = expected or min(MAX_AUTO_WORKERS, usable_cpus())
    env = {"MODELBAY_WORKERS": workers} if workers else {}
    home = tmp_path / "h"
    home.mkdir()
    with running_server(home, **env) as url:
        (log,) = home.glob("server-*.log")
        plural = "s" if want > 1 else ""
        assert f"{want} worker{plural};" in log.read_text()
        port = url.rsplit(":", 1)[1]
        (server,) = [
            int(p.name)
            for p in Path("/proc").iterdir()
            if p.name.isdigit() and f"--port\x00{port}".encode() in _cmdline(p)
        ]
        workers_alive = [
            c for c in _children(server) if b"spawn_main" in _cmdline(Path(f"/proc/{c}"))
        ]
        assert len(workers_alive) == (want if want > 1 else 0)  # one process serves alone


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:
        return b""
