"""What a user can manage, on SQLite and PostgreSQL: dataset names that resolve, aliases a
deployment follows, archived versions, deletion that frees what nothing uses, the audit."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
import skops.io as sio
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sqlalchemy import text

from modelbay import Bay, ConflictError, NotFoundError, ValidationError
from modelbay.registry.db import Database


@pytest.fixture(scope="module")
def skops_files() -> list[bytes]:
    """Three fitted models of different content (so each version has its own artifact)."""
    x, y = load_iris(return_X_y=True)
    out = []
    for c in (0.1, 1.0, 10.0):
        buf = io.BytesIO()
        sio.dump(LogisticRegression(C=c, max_iter=500).fit(x, y), buf)
        out.append(buf.getvalue())
    return out


def versions(bay: Bay, files: list[bytes], name: str = "wine", n: int = 2) -> None:
    for data in files[:n]:
        bay.import_model(data, name)


def blobs(bay: Bay) -> set[str]:
    return set(bay.store.digests())


# -- 1. dataset names ------------------------------------------------------------------------
def test_a_name_given_to_content_stored_under_another_name_resolves(
    bay: Bay, iris: pd.DataFrame
) -> None:
    old = bay.datasets.add(iris, name="crm-export")
    leads = bay.datasets.add(iris.copy(), name="leads")
    assert leads.name == "leads" and leads.id == old.id  # one dataset, one stored table
    assert leads.names == ("crm-export", "leads")
    assert bay.datasets.get("leads").name == "leads"
    assert bay.datasets.get("crm-export").name == "crm-export"
    assert len(blobs(bay)) == 1 and len(bay.datasets.list()) == 1
    pd.testing.assert_frame_equal(bay.datasets.load("leads"), iris)
    assert bay.datasets.get(f"leads#{old.fingerprint[:8]}").id == old.id


def test_a_name_on_two_datasets_is_ambiguous_and_lists_how_to_name_each(
    bay: Bay, iris: pd.DataFrame
) -> None:
    first = bay.datasets.add(iris, name="leads")
    second = bay.datasets.add(iris.head(100), name="leads")
    assert first.id != second.id
    with pytest.raises(ValidationError, match="dataset 'leads' is ambiguous: 2 datasets") as err:
        bay.datasets.get("leads")
    for d in (first, second):
        assert f"leads#{d.fingerprint[:12]} (id {d.id}, {d.n_rows} rows" in str(err.value)
    assert "leads#<fingerprint prefix>" in str(err.value)
    assert bay.datasets.get(f"leads#{second.fingerprint[:12]}").n_rows == 100
    assert bay.datasets.get(second.id).n_rows == 100
    assert [d.id for d in bay.datasets.candidates("leads")] == [first.id, second.id]


def test_deleting_a_name_keeps_the_content_its_other_names_need(
    bay: Bay, iris: pd.DataFrame
) -> None:
    bay.datasets.add(iris, name="crm-export")
    bay.datasets.add(iris, name="leads")
    assert bay.datasets.delete("leads") is None  # the name went, the table stays
    with pytest.raises(NotFoundError, match="dataset 'leads' does not exist; datasets: crm"):
        bay.datasets.get("leads")
    assert len(blobs(bay)) == 1
    gone = bay.datasets.delete("crm-export")
    assert gone is not None and gone.name == "crm-export"
    assert bay.datasets.list() == [] and blobs(bay) == set()
    assert [e.action for e in bay.audit.list(action="dataset.delete")] == ["dataset.delete"] * 2


def test_deleting_a_dataset_keeps_runs_and_lineage_of_models_trained_on_it(
    bay: Bay, iris: pd.DataFrame
) -> None:
    v = bay.train(iris, "species", name="flowers", algorithm="logistic_regression", trials=1, cv=2)
    ds = bay.datasets.get(v.lineage["dataset"]["id"])
    bay.datasets.delete(ds.id)
    assert bay.models.get("flowers:1").lineage["dataset"]["fingerprint"] == ds.fingerprint
    assert bay.runs.list()[0].dataset_id is None
    assert bay.load("flowers").predict(iris.drop(columns="species").head(2)) is not None


# -- 2. the alias a deployment follows -------------------------------------------------------
def test_an_alias_a_deployment_serves_is_not_removed_without_force(
    bay: Bay, skops_files: list[bytes]
) -> None:
    versions(bay, skops_files)
    bay.deployments.put("wine-prod", "wine@champion")
    with pytest.raises(
        ConflictError, match="alias wine@champion is served by deployment wine-prod"
    ):
        bay.models.delete_alias("wine", "champion")
    assert bay.models.get("wine@champion").version == 1
    assert bay.models.set_alias("wine", "champion", 2).version == 2  # promotion stays allowed
    assert bay.models.delete_alias("wine", "champion", force=True) == ["wine-prod"]
    [entry] = bay.audit.list(action="alias.delete", limit=1)
    assert entry.outcome == "ok" and "wine-prod" in entry.detail


def test_deployments_list_a_broken_one_with_why_instead_of_failing(
    bay: Bay, skops_files: list[bytes]
) -> None:
    versions(bay, skops_files)
    bay.deployments.put("wine-prod", "wine@champion")
    bay.deployments.put("wine-pinned", "wine:2")
    bay.models.delete_alias("wine", "champion", force=True)
    states = {s.deployment.name: s for s in bay.deployments.states()}
    assert states["wine-pinned"].state == "ok" and states["wine-pinned"].version is not None
    assert states["wine-prod"].version is None
    assert states["wine-prod"].state.startswith("broken: model 'wine' has no alias 'champion'")


def test_alias_list_names_each_alias_and_its_version(bay: Bay, skops_files: list[bytes]) -> None:
    versions(bay, skops_files)
    bay.models.set_alias("wine", "challenger", 2)
    assert bay.models.aliases("wine") == {"challenger": 2, "champion": 1}
    with pytest.raises(NotFoundError, match="model 'nope' does not exist"):
        bay.models.aliases("nope")


# -- 3. archive ----------------------------------------------------------------------------------
def test_an_archived_version_is_kept_and_marked_but_never_served(
    bay: Bay, skops_files: list[bytes]
) -> None:
    versions(bay, skops_files, n=3)
    archived = bay.models.archive("wine:3")
    assert archived.archived and archived.to_dict()["archived"] is True
    assert [v.archived for v in bay.models.versions("wine")] == [False, False, True]
    assert bay.models.get("wine:3").lineage == archived.lineage  # still there to inspect
    assert bay.models.get("wine@latest").version == 2  # resolution passes it by
    with pytest.raises(NotFoundError, match="wine:3 is archived: it is kept for lineage"):
        bay.load("wine:3")
    with pytest.raises(NotFoundError, match="wine:3 is archived"):
        bay.deployments.put("old", "wine:3")
    with pytest.raises(ConflictError, match="an alias never points at an archived version"):
        bay.models.set_alias("wine", "challenger", 3)
    assert not bay.models.unarchive("wine:3").archived
    assert bay.models.get("wine@latest").version == 3
    actions = [e.action for e in bay.audit.list(limit=20)]
    assert "version.archive" in actions and "version.unarchive" in actions


def test_archiving_what_an_alias_or_deployment_needs_is_refused(
    bay: Bay, skops_files: list[bytes]
) -> None:
    versions(bay, skops_files)
    with pytest.raises(ConflictError, match="cannot archive wine:1: alias wine@champion needs it"):
        bay.models.archive("wine:1")
    bay.deployments.put("pinned", "wine:2")
    with pytest.raises(ConflictError, match="deployment pinned needs it"):
        bay.models.archive("wine:2")
    with pytest.raises(ValidationError, match="names one version by number, like 'wine:1'"):
        bay.models.archive("wine")


def test_a_model_whose_versions_are_all_archived_says_so(
    bay: Bay, skops_files: list[bytes]
) -> None:
    versions(bay, skops_files)
    bay.models.delete_alias("wine", "champion")
    bay.models.archive("wine:1")
    bay.models.archive("wine:2")
    with pytest.raises(NotFoundError, match=r"every version of model 'wine' is archived \(1, 2\)"):
        bay.models.get("wine")


# -- 3. delete -----------------------------------------------------------------------------------
def test_deleting_a_version_frees_its_artifacts_and_its_number_is_not_reused(
    bay: Bay, skops_files: list[bytes]
) -> None:
    versions(bay, skops_files, n=3)
    before = blobs(bay)
    v3 = bay.models.get("wine:3")
    assert bay.models.delete("wine:3") >= 1
    assert v3.artifact_digest not in blobs(bay) and blobs(bay) < before
    with pytest.raises(NotFoundError, match="model 'wine' has no version 3"):
        bay.models.get("wine:3")
    assert bay.import_model(skops_files[2], "wine").version == 4  # not 3 again
    [entry] = bay.audit.list(action="version.delete")
    assert entry.target == "wine:3" and "artifact(s) freed" in entry.detail


def test_an_artifact_another_version_shares_is_kept(bay: Bay, skops_files: list[bytes]) -> None:
    bay.import_model(skops_files[0], "wine")
    twin = bay.import_model(skops_files[0], "twin")  # the same bytes: one blob
    bay.models.delete_alias("wine", "champion")
    bay.models.delete("wine")
    assert twin.artifact_digest in blobs(bay)
    row = pd.DataFrame([[5.1, 3.5, 1.4, 0.2]], columns=["x0", "x1", "x2", "x3"])
    assert bay.load("twin").predict(row) is not None


def test_deletion_refuses_while_an_alias_or_deployment_needs_it(
    bay: Bay, skops_files: list[bytes]
) -> None:
    versions(bay, skops_files)
    with pytest.raises(ConflictError, match="cannot delete wine:1: alias wine@champion needs it"):
        bay.models.delete("wine:1")
    bay.deployments.put("wine-prod", "wine@latest")
    with pytest.raises(ConflictError, match="cannot delete wine:2: deployment wine-prod needs it"):
        bay.models.delete("wine:2")
    with pytest.raises(ConflictError, match="deployment wine-prod serves it; undeploy first"):
        bay.models.delete("wine")
    with pytest.raises(ValidationError, match="not an alias reference"):
        bay.models.delete("wine@champion")
    bay.deployments.delete("wine-prod")
    bay.models.delete("wine")
    assert bay.models.list() == [] and blobs(bay) == set()
    assert [e.action for e in bay.audit.list(limit=2)] == ["model.delete", "undeploy"]


def test_undeploy_refuses_while_alert_rules_watch_it(bay: Bay, skops_files: list[bytes]) -> None:
    versions(bay, skops_files, n=1)
    bay.deployments.put("wine-prod", "wine")
    bay.monitor.rules.put("drifty", "wine-prod", "drift.psi.max", ">", 0.2)
    with pytest.raises(ConflictError, match="watched by alert rule drifty"):
        bay.deployments.delete("wine-prod")
    assert bay.deployments.delete("wine-prod", force=True) == ["drifty"]
    with pytest.raises(NotFoundError, match="deployment 'wine-prod' does not exist; deployments"):
        bay.deployments.delete("wine-prod")


def test_alert_rule_changes_are_audited(bay: Bay, skops_files: list[bytes]) -> None:
    versions(bay, skops_files, n=1)
    bay.deployments.put("d", "wine")  # a rule must watch something that exists
    bay.monitor.rules.put("slow", "d", "latency.p99_ms", ">", 50)
    bay.monitor.rules.put("slow", "d", "latency.p99_ms", ">", 80)
    bay.monitor.rules.delete("slow")
    found = [(e.action, e.detail) for e in reversed(bay.audit.list(limit=3))]
    assert found == [
        ("alert.put", "created: d latency.p99_ms > 50"),
        ("alert.put", "replaced: d latency.p99_ms > 80"),
        ("alert.delete", ""),
    ]


# -- the migration -----------------------------------------------------------------------------
@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return str(request.getfixturevalue("pg_url"))
    return f"sqlite:///{tmp_path / 'old.db'}"


def test_the_migration_carries_names_and_version_numbers_over(empty_url: str) -> None:
    db = Database(empty_url, migrate=False)
    db.migrate("0005")
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO datasets (id, name, fingerprint, artifact_digest, format, n_rows, "
                "n_columns, schema, source, created_at) VALUES (7, 'leads', 'ff', 'aa', "
                "'parquet', 1, 1, '{}', '', '2026-12-01 10:00:00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO models (id, name, description, created_at) VALUES (1, 'm', '', '2026-12-01')"
            )
        )
    db.migrate()
    with db.engine.connect() as conn:
        assert list(conn.execute(text("SELECT name, dataset_id FROM dataset_names"))) == [
            ("leads", 7)
        ]
        assert conn.execute(text("SELECT top_version FROM models")).scalar_one() == 0
    db.migrate("0005")  # and back
    db.migrate()
    db.dispose()
