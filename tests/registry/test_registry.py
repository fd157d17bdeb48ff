"""The registry on SQLite and PostgreSQL: versions, aliases, lineage, atomicity, safety."""

from __future__ import annotations

import pickle
import threading
from typing import Any

import pandas as pd
import pytest
import skops.io as sio
from sklearn.base import BaseEstimator
from sqlalchemy import text

from modelbay import (
    Bay,
    ConflictError,
    IntegrityError,
    ModelbayError,
    NotFoundError,
    SchemaError,
    UnsafeArtifactError,
    ValidationError,
)
from modelbay.registry.tables import VersionRow


def quick(bay: Bay, iris: pd.DataFrame, name: str = "iris", **kw: Any):
    return bay.train(
        iris, "species", name=name, algorithm="logistic_regression", trials=1, cv=2, **kw
    )


def test_versions_count_up_and_the_first_is_champion(bay: Bay, iris: pd.DataFrame) -> None:
    v1 = quick(bay, iris)
    v2 = quick(bay, iris, seed=1)
    assert (v1.version, v2.version) == (1, 2)
    assert v1.aliases == ("champion",) and v2.aliases == ()
    assert bay.models.get("iris").version == 1  # bare name -> champion
    assert bay.models.get("iris@latest").version == 2
    assert bay.models.get("iris:2").id == v2.id
    v3 = quick(bay, iris, aliases=["champion", "challenger"])
    assert bay.models.get("iris@champion").version == 3
    assert bay.models.get("iris@challenger").aliases == ("challenger", "champion")
    [model] = bay.models.list()
    assert model.latest_version == 3 and model.aliases == {"champion": 3, "challenger": 3}
    assert [v.version for v in bay.models.versions("iris")] == [1, 2, 3]
    assert v3.version == 3


def test_aliases_move_and_delete(bay: Bay, iris: pd.DataFrame) -> None:
    quick(bay, iris)
    quick(bay, iris, seed=1)
    assert bay.models.set_alias("iris", "champion", 2).version == 2
    assert bay.models.set_alias("iris", "previous", "@latest").version == 2
    assert bay.models.set_alias("iris", "previous", 1).version == 1
    bay.models.delete_alias("iris", "previous")
    with pytest.raises(NotFoundError, match="no alias 'previous'; its aliases: champion"):
        bay.models.get("iris@previous")


def test_lineage_records_where_a_version_came_from(bay: Bay, iris: pd.DataFrame) -> None:
    ds = bay.datasets.add(iris, name="iris-data")
    v1 = quick(bay, ds)
    v2 = quick(bay, ds, parent="iris@champion")
    lin = v2.lineage
    assert lin["dataset"] == {"id": ds.id, "name": "iris-data", "fingerprint": ds.fingerprint}
    assert lin["parent"] == {"model": "iris", "version": 1, "id": v1.id}
    assert lin["algorithm"] == "logistic_regression" and lin["target"] == "species"
    assert {"python", "scikit-learn", "numpy", "skops", "modelbay"} <= set(lin["libraries"])
    run = bay.runs.get(lin["training_run"])
    assert run.status == "succeeded" and run.version_id == v2.id and len(run.trials) == 1
    assert v2.signature.output.classes == ["setosa", "versicolor", "virginica"]
    assert v2.metrics["holdout"]["accuracy"] > 0.8
    assert set(v2.reference_stats["features"]) == set(iris.columns) - {"species"}


def test_versions_are_immutable_in_code_and_in_the_database(bay: Bay, iris: pd.DataFrame) -> None:
    v = quick(bay, iris)
    with pytest.raises(ConflictError, match="immutable"), bay.db.session() as s:
        row = s.get(VersionRow, v.id)
        assert row is not None
        row.algorithm = "something else"
        s.flush()
    with pytest.raises(Exception, match="immutable"), bay.db.engine.begin() as conn:
        conn.execute(text("UPDATE model_versions SET algorithm = 'x' WHERE id = :id"), {"id": v.id})
    assert bay.models.get(v.ref).algorithm == "logistic_regression"


def test_unknown_names_say_what_exists(bay: Bay, iris: pd.DataFrame) -> None:
    with pytest.raises(NotFoundError, match="train one"):
        bay.models.get("nothing")
    quick(bay, iris)
    with pytest.raises(NotFoundError, match="model 'nothing' does not exist; models: iris"):
        bay.load("nothing@champion")
    with pytest.raises(NotFoundError, match="no version 9; versions are 1 to 1"):
        bay.load("iris:9")
    with pytest.raises(ValidationError, match="alias 'Bad Alias' is not valid"):
        bay.load("iris@Bad Alias")
    with pytest.raises(ValidationError, match="positive whole number"):
        bay.load("iris:x")


def test_a_failing_register_block_leaves_nothing(bay: Bay) -> None:
    from sklearn.linear_model import LinearRegression

    from modelbay.data.signature import ColumnSpec, OutputSpec, Signature

    model = LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0])
    with pytest.raises(RuntimeError, match="boom"), bay.models.register("half") as draft:
        draft.signature = Signature(
            [ColumnSpec("x", "numeric", "float64", False)], OutputSpec("regression", "y", "float64")
        )
        draft.save_model(model)
        assert bay.store.exists(draft.artifact.digest)
        raise RuntimeError("boom")
    assert bay.models.list() == []
    assert list(bay.store.digests()) == []
    with (
        pytest.raises(ValidationError, match="alias 'NOT OK'"),
        bay.models.register("half") as draft,
    ):
        draft.signature = Signature(
            [ColumnSpec("x", "numeric", "float64", False)], OutputSpec("regression", "y", "float64")
        )
        draft.aliases = ["NOT OK"]
        draft.save_model(model)
    assert bay.models.list() == [] and list(bay.store.digests()) == []


def test_a_failed_training_registers_nothing_and_records_why(bay: Bay, iris: pd.DataFrame) -> None:
    with pytest.raises(ValidationError, match="unknown target column 'nope'"):
        bay.train(iris, "nope", name="broken")
    assert bay.models.list() == []
    [run] = bay.runs.list()
    assert run.status == "failed" and "unknown target column" in run.error


def test_concurrent_registrations_get_distinct_numbers(bay: Bay, iris: pd.DataFrame) -> None:
    quick(bay, iris)
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        try:
            quick(bay, iris, seed=seed)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [v.version for v in bay.models.versions("iris")] == [1, 2, 3, 4, 5]


def test_datasets_are_stored_once(bay: Bay, iris: pd.DataFrame) -> None:
    a = bay.datasets.add(iris, name="iris")
    b = bay.datasets.add(iris.copy(), name="other-name")
    assert a.id == b.id and a.name == "iris" and b.name == "other-name"
    assert len(bay.datasets.list()) == 1 and len(list(bay.store.digests())) == 1
    for ref in ("iris", a.id, str(a.id), a.fingerprint[:10], f"iris#{a.fingerprint[:8]}"):
        assert bay.datasets.get(ref).id == a.id
    with pytest.raises(NotFoundError, match="dataset 'irs' does not exist; datasets: iris"):
        bay.datasets.get("irs")
    loaded = bay.datasets.load("iris")
    pd.testing.assert_frame_equal(loaded, iris)
    assert a.schema["species"].kind == "categorical"


def test_a_tampered_model_is_refused_before_loading(bay: Bay, iris: pd.DataFrame) -> None:
    v = quick(bay, iris)
    path = bay.settings.artifacts_dir / v.artifact_digest[:2] / v.artifact_digest[2:]
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(IntegrityError, match="altered or truncated"):
        bay.load("iris")


class Sneaky(BaseEstimator):  # type: ignore[misc]
    def predict(self, X: Any) -> Any:
        return X


def test_untrusted_types_and_pickles_are_refused(bay: Bay) -> None:
    from modelbay.data.signature import ColumnSpec, OutputSpec, Signature

    sig = Signature(
        [ColumnSpec("x", "numeric", "float64", False)], OutputSpec("regression", "y", "float64")
    )
    for name, payload in [("sneaky", sio.dumps(Sneaky())), ("pickled", pickle.dumps(Sneaky()))]:
        with bay.models.register(name) as draft:
            draft.signature = sig
            draft.save_bytes(payload, "skops")
    with pytest.raises(UnsafeArtifactError, match=r"not trusted for loading: .*Sneaky"):
        bay.load("sneaky")
    with pytest.raises(UnsafeArtifactError, match="pickle"):
        bay.load("pickled")


def test_predictors_are_strict_unless_told(bay: Bay, iris: pd.DataFrame) -> None:
    quick(bay, iris)
    predictor = bay.load("iris")
    with pytest.raises(SchemaError, match="unexpected column\\(s\\): species"):
        predictor.predict(iris)
    assert predictor.predict(iris, allow_extra=True).shape == (150,)
    with pytest.raises(SchemaError, match="missing column\\(s\\): petal width"):
        predictor.predict(iris.drop(columns=["species", "petal width (cm)"]))


def test_gc_removes_only_orphans(bay: Bay, iris: pd.DataFrame) -> None:
    v = quick(bay, iris)
    orphan = bay.store.put(b"left behind by a crash").digest
    assert bay.gc() == [orphan]
    assert bay.load(v.ref).predict(iris.drop(columns="species").head(3)).shape == (3,)


def test_migrations_match_the_tables(bay: Bay) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from modelbay.registry.tables import Base

    with bay.db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_reopening_an_existing_registry_migrates_nothing_and_keeps_data(
    bay: Bay, iris: pd.DataFrame
) -> None:
    v = quick(bay, iris)
    with Bay(bay.settings) as again:
        assert again.models.get("iris").id == v.id


def test_errors_are_one_family(bay: Bay) -> None:
    with pytest.raises(ModelbayError):
        bay.models.get("missing")
