"""Registry reads run a fixed number of SQL statements, however many rows they return.

``versions()`` used to ask for each version's artifacts one query at a time, and ``list()``
for each model's versions and aliases: 2 versions cost a few statements and 200 cost hundreds.
Statements are counted on the registry's engine (``bay.db.engine``), on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from modelbay import Bay, ModelVersion, NotFoundError
from modelbay.data.signature import ColumnSpec, OutputSpec, Signature

SIG = Signature(
    [ColumnSpec("x", "numeric", "float64", False)], OutputSpec("regression", "y", "float64")
)


@contextmanager
def counted(bay: Bay) -> Iterator[list[str]]:
    """The SQL statements run on the registry's engine inside the block."""
    statements: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(bay.db.engine, "before_cursor_execute", note)
    try:
        yield statements
    finally:
        event.remove(bay.db.engine, "before_cursor_execute", note)


def statements_of(bay: Bay, call: Callable[[], object]) -> int:
    with counted(bay) as statements:
        call()
    return len(statements)


def add_versions(bay: Bay, name: str, n: int, *, onnx_every: int = 2) -> None:
    """``n`` versions of a new model ``name`` (placeholder bytes: nothing here loads them),
    every ``onnx_every``-th with a second artifact, and an alias ``v<i>`` on each."""
    for i in range(n):
        with bay.models.register(name) as draft:
            draft.signature = SIG
            draft.save_bytes(f"{name} model {i}".encode(), "skops")
            if i % onnx_every == 0:
                draft.add_artifact("onnx", f"{name} onnx {i}".encode(), "onnx", {"opset": 17})
            draft.aliases = [f"v{i}", "challenger"] if i % 3 == 0 else [f"v{i}"]


def test_versions_runs_as_many_statements_for_12_versions_as_for_2(bay: Bay) -> None:
    add_versions(bay, "small", 2)
    add_versions(bay, "big", 12)
    small = statements_of(bay, lambda: bay.models.versions("small"))
    big = statements_of(bay, lambda: bay.models.versions("big"))
    assert (small, big) == (small, small), f"2 versions: {small} statements, 12: {big}"
    assert small <= 3


def test_list_runs_one_statement_for_2_models_or_12(bay: Bay) -> None:
    for i in range(2):
        add_versions(bay, f"model-{i}", 3)
    two = statements_of(bay, bay.models.list)
    for i in range(2, 12):
        add_versions(bay, f"model-{i}", 1 + i % 4)
    twelve = statements_of(bay, bay.models.list)
    assert (two, twelve) == (1, 1), f"2 models: {two} statements, 12: {twelve}"


def test_versions_answers_what_get_answers_for_each_version(bay: Bay) -> None:
    add_versions(bay, "m", 7)
    bay.models.set_alias("m", "champion", 4)
    bay.models.delete_alias("m", "v2")
    listed = bay.models.versions("m")
    assert [v.version for v in listed] == list(range(1, 8))
    assert listed == [bay.models.get(f"m:{n}") for n in range(1, 8)]
    assert [v.aliases for v in listed] == [
        ("v0",),
        ("v1",),
        (),
        ("champion", "v3"),
        ("v4",),
        ("v5",),
        ("challenger", "v6"),
    ]
    assert [sorted(v.artifacts) for v in listed] == [["model", "onnx"], ["model"]] * 3 + [
        ["model", "onnx"]
    ]
    assert listed[0].artifacts["onnx"].info == {"opset": 17}
    assert len({v.artifacts["model"].digest for v in listed}) == 7


def test_list_answers_each_models_aliases_and_latest_version(bay: Bay) -> None:
    add_versions(bay, "b", 4)
    add_versions(bay, "a", 1)
    bay.models.set_alias("b", "champion", 3)
    models = bay.models.list()
    assert [(m.name, m.description, m.aliases, m.latest_version) for m in models] == [
        ("a", "", {"challenger": 1, "champion": 1, "v0": 1}, 1),
        ("b", "", {"challenger": 4, "champion": 3, "v0": 1, "v1": 2, "v2": 3, "v3": 4}, 4),
    ]
    assert models[0].id != models[1].id and all(m.created_at.tzinfo for m in models)


def test_versions_of_an_unknown_model_says_which_exist(bay: Bay) -> None:
    add_versions(bay, "known", 1)
    with pytest.raises(NotFoundError, match="model 'nope' does not exist; models: known"):
        bay.models.versions("nope")
    assert isinstance(bay.models.versions("known")[0], ModelVersion)
