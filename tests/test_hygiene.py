"""No test leaves a process behind: a test that fails, times out or is killed with its server
running stops that server and its workers, and the session stops what a test forgot.

Each case is a real pytest run, in a subprocess and with this suite's settings, of a small
generated test file that starts `modelbay serve` through the suite's own helpers
(`tests.procs`, `tests.e2e.servers.running_server`) and writes the pids it started to files;
the outer test then checks that none of them is still alive.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import procs
from tests.polling import wait_for

ROOT = Path(__file__).resolve().parents[1]
Inner = tuple[str, str, dict[str, list[int]]]  # an inner run's stdout, stderr, pids by case

# the inner run's conftest: this suite's process hooks (the timeout check, the safety net)
CONFTEST = "from tests.conftest import pytest_configure, pytest_sessionfinish  # noqa: F401\n"

HELPERS = """
import json
import os
from pathlib import Path

import pytest

from tests import procs
from tests.e2e.servers import BIN, free_port, running_server
from tests.polling import wait_for

OUT = Path(os.environ["HYGIENE_OUT"])


def record(name, pids):
    (OUT / f"{name}.tmp").write_text(json.dumps(pids))
    (OUT / f"{name}.tmp").rename(OUT / f"{name}.json")


def server_group(url):
    \"\"\"The pids of the server on ``url``'s port, and of its workers.\"\"\"
    flag = b"--port\\x00" + url.rsplit(":", 1)[1].encode()
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and flag in (entry / "cmdline").read_bytes():
                return procs.members(os.getpgid(int(entry.name)))
        except OSError:
            pass
    raise AssertionError(f"no process serves {url}")


def shell_pids(name):
    \"\"\"The pids a shell script wrote to OUT/name.pid, one a line, once it wrote them.\"\"\"
    path = OUT / f"{name}.pid"
    wait_for(lambda: path.exists() and path.read_text().count("\\n") == 2, 30, 0.05, path)
    return [int(line) for line in path.read_text().split()]
"""

CASES = """
def test_fails_with_its_server_running(tmp_path):
    with running_server(tmp_path, "--workers", "2") as url:
        record("failed", server_group(url))
        assert False, "this test fails while its server runs"


@pytest.mark.timeout(5)
def test_times_out_with_a_server_in_the_background(tmp_path):
    # as the README tour does: a shell starts a server with & and pytest-timeout fires
    pids = OUT / "timed-out.pid"
    script = f"echo $$ > {pids}; {BIN}/modelbay serve --no-auth --port {free_port()} &"
    script += f" echo $! >> {pids}; wait"
    procs.run(["bash", "-c", script], timeout=300, env={**os.environ, "MODELBAY_HOME": str(tmp_path)})


def test_forgets_to_stop_what_it_started():
    pids = OUT / "forgotten.pid"
    procs.start(["bash", "-c", f"echo $$ > {pids}; sleep 600 & echo $! >> {pids}; wait"])
    record("forgotten", shell_pids("forgotten"))
"""

KILLED = """
def test_is_killed_with_its_server_running(tmp_path):
    with running_server(tmp_path, "--workers", "2") as url:
        record("killed", server_group(url))
        procs.run(["sleep", "600"], timeout=900)  # until the run is sent SIGTERM
"""


def start_inner(tmp_path: Path, cases: str) -> tuple[subprocess.Popen[str], Path]:
    """``python -m pytest`` on a generated file of ``cases``; its pid files go to the path."""
    inner, out = tmp_path / "inner", tmp_path / "out"
    inner.mkdir()
    out.mkdir()
    (inner / "conftest.py").write_text(CONFTEST)
    (inner / "test_inner.py").write_text(HELPERS + textwrap.dedent(cases))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELBAY_")}
    env.update(PYTHONPATH=str(ROOT), HYGIENE_OUT=str(out), COLUMNS="160")
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"]
    argv += ["-c", str(ROOT / "pyproject.toml"), "--rootdir", str(inner), str(inner)]
    pipe = subprocess.PIPE
    return procs.start(argv, cwd=inner, env=env, stdout=pipe, stderr=pipe, text=True), out


def recorded(out: Path) -> dict[str, list[int]]:
    """What each inner case started: its pid files, after the run."""
    found = {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}
    for path in out.glob("*.pid"):
        found.setdefault(path.stem, [int(line) for line in path.read_text().split()])
    return found


def alive(pids: list[int]) -> list[int]:
    return [p for p in pids if procs.alive(p)]


def kill_leftovers(out: Path) -> None:
    """Should the helpers fail, this test itself still leaves nothing running."""
    for group in recorded(out).values():
        for pid in alive(group):
            os.kill(pid, signal.SIGKILL)


def netted(stderr: str) -> set[int]:
    """The process groups the inner session's safety net had to stop."""
    return {int(pgid) for pgid in re.findall(r"^  (\d+): ", stderr, re.M)}


@pytest.fixture(scope="module")
def inner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Inner]:
    """One inner run of the three cases: its output, and the pids each case started."""
    proc, out = start_inner(tmp_path_factory.mktemp("hygiene"), CASES)
    try:
        stdout, stderr = proc.communicate(timeout=240)
        assert proc.returncode == 1, stdout + stderr  # two tests failed, as they should
        yield stdout, stderr, recorded(out)
    finally:
        procs.stop_group(proc)
        kill_leftovers(out)


@pytest.mark.timeout(300)
def test_a_failing_test_stops_its_server_and_the_workers(inner: Inner) -> None:
    stdout, stderr, pids = inner
    assert "FAILED test_inner.py::test_fails_with_its_server_running - AssertionError" in stdout
    server = pids["failed"]
    assert len(server) >= 3, server  # the server and its two workers
    assert alive(server) == []
    assert not netted(stderr) & set(server)  # its finalizer stopped it, not the safety net


@pytest.mark.timeout(300)
def test_a_timed_out_test_stops_the_server_its_shell_started(inner: Inner) -> None:
    stdout, stderr, pids = inner
    line = "FAILED test_inner.py::test_times_out_with_a_server_in_the_background - Failed: Timeout"
    assert line in stdout, stdout
    shell, server = pids["timed-out"]
    assert alive([shell, server]) == []
    assert shell not in netted(stderr)


@pytest.mark.timeout(300)
def test_the_session_stops_what_a_test_forgot(inner: Inner) -> None:
    _, stderr, pids = inner
    shell, sleeper = pids["forgotten"]
    assert netted(stderr) == {shell}, stderr  # named, as the only group the net stopped
    assert alive([shell, sleeper]) == []  # the shell and its background job


@pytest.mark.timeout(300)
def test_a_run_killed_with_sigterm_stops_its_servers(tmp_path: Path) -> None:
    proc, out = start_inner(tmp_path, KILLED)
    try:
        wait_for(lambda: (out / "killed.json").exists(), 120, 0.2, "the inner test's server")
        proc.send_signal(signal.SIGTERM)  # to pytest alone, as a CI job's timeout sends it
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == pytest.ExitCode.INTERRUPTED, stdout + stderr
        server = recorded(out)["killed"]
        assert len(server) >= 3 and alive(server) == []
        assert netted(stderr) == set()  # the test's own finalizers stopped it all
    finally:
        procs.stop_group(proc)
        kill_leftovers(out)
