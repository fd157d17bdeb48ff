"""Training runs as the core records them: arguments refused before any work, trials written
as they finish, an interrupted search recorded as cancelled with its trials, and the trials
ranked best first by the metric's direction."""

from __future__ import annotations

import pandas as pd
import pytest

from modelbay import Bay, ValidationError
from modelbay.train.search import rank_trials
from modelbay.train.trainer import Progress


@pytest.mark.parametrize("trials", [0, -3])
def test_train_refuses_fewer_than_one_trial_before_any_work(
    sqlite_bay: Bay, iris: pd.DataFrame, trials: int
) -> None:
    with pytest.raises(ValidationError, match=f"trials must be at least 1, not {trials}"):
        sqlite_bay.train(iris, "species", trials=trials)
    assert sqlite_bay.datasets.list() == [] and sqlite_bay.runs.list() == []
    assert sqlite_bay.models.list() == []


def test_train_text_refuses_fewer_than_one_trial(sqlite_bay: Bay, iris: pd.DataFrame) -> None:
    with pytest.raises(ValidationError, match="trials must be at least 1, not 0"):
        sqlite_bay.train_text(iris, "species", encoder="nope", trials=0)
    assert sqlite_bay.datasets.list() == []


def test_trials_are_written_while_the_search_runs(sqlite_bay: Bay, iris: pd.DataFrame) -> None:
    seen: list[int] = []

    def on_progress(p: Progress) -> None:
        if p.trial is not None:
            (run,) = sqlite_bay.runs.list()
            assert run.status == "running"
            seen.append(len(run.trials))

    sqlite_bay.train(
        iris, "species", algorithm="logistic_regression", trials=4, cv=2, on_progress=on_progress
    )
    assert seen == [1, 2, 3, 4]  # each trial is in the runs table before the caller hears of it
    (run,) = sqlite_bay.runs.list()
    assert run.status == "succeeded" and [t["number"] for t in run.trials] == [0, 1, 2, 3]


def test_an_interrupt_from_the_progress_callback_cancels_the_run_and_keeps_its_trials(
    sqlite_bay: Bay, iris: pd.DataFrame
) -> None:
    def on_progress(p: Progress) -> None:
        if p.trial is not None and p.done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sqlite_bay.train(
            iris,
            "species",
            algorithm="logistic_regression",
            trials=20,
            cv=2,
            on_progress=on_progress,
        )
    (run,) = sqlite_bay.runs.list()
    assert run.status == "cancelled" and run.finished_at is not None
    assert [t["number"] for t in run.trials] == [0, 1, 2]
    assert "KeyboardInterrupt" in run.error and "after 3 trial(s)" in run.error
    assert sqlite_bay.models.list() == []  # nothing registered


def test_a_failure_after_the_search_is_failed_with_every_trial(
    sqlite_bay: Bay, iris: pd.DataFrame
) -> None:
    def on_progress(p: Progress) -> None:
        if p.phase == "fit":
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        sqlite_bay.train(
            iris,
            "species",
            algorithm="logistic_regression",
            trials=3,
            cv=2,
            on_progress=on_progress,
        )
    (run,) = sqlite_bay.runs.list()
    assert run.status == "failed" and "disk full" in run.error and len(run.trials) == 3


def test_a_run_ends_only_in_a_known_state(sqlite_bay: Bay) -> None:
    run_id = sqlite_bay.runs.start(dataset_id=None, model_name="m", config={})
    with pytest.raises(ValidationError, match="succeeded, failed, cancelled"):
        sqlite_bay.runs.finish(run_id, status="done")


def _trial(number: int, score: float | None) -> dict[str, object]:
    return {"number": number, "score": score, "state": "complete" if score else "failed"}


@pytest.mark.parametrize(("greater", "order"), [(True, [2, 0, 3, 1, 4]), (False, [1, 0, 3, 2, 4])])
def test_trials_rank_best_first_by_the_metrics_direction_failed_last(
    greater: bool, order: list[int]
) -> None:
    trials = [_trial(0, 0.5), _trial(1, 0.1), _trial(2, 0.9), _trial(3, 0.5), _trial(4, None)]
    assert [t["number"] for t in rank_trials(trials, greater)] == order
