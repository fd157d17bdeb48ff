"""Ctrl-C during a real ``modelbay train``: the run is recorded as cancelled with its trials."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pandas as pd

from modelbay import Bay
from tests import procs
from tests.e2e.servers import BIN
from tests.polling import wait_for


def _trials(home: Path) -> int:
    with Bay(home=home) as bay:
        runs = bay.runs.list()
        return len(runs[0].trials) if runs else 0


def test_sigint_during_train_records_a_cancelled_run_with_its_trials(
    tmp_path: Path, iris: pd.DataFrame
) -> None:
    home = tmp_path / "home"
    data = tmp_path / "iris.csv"
    iris.to_csv(data, index=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELBAY_")}
    env["MODELBAY_HOME"] = str(home)
    argv = [BIN / "modelbay", "train", data, "--target", "species", "--trials", "100000"]
    proc = procs.start(
        [*argv, "--algorithm", "logistic_regression", "--cv", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with proc:
        try:
            before = wait_for(lambda: _trials(home) >= 3, 90, 0.1, "3 trials in the runs table")
            assert before
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
        finally:
            procs.stop_group(proc)
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    with Bay(home=home) as bay:
        (run,) = bay.runs.list()
        assert bay.models.list() == []
    n = len(run.trials)
    assert run.status == "cancelled" and n >= 3
    assert [t["number"] for t in run.trials] == list(range(n))  # every trial, none twice
    assert f"after {n} trial(s)" in run.error
