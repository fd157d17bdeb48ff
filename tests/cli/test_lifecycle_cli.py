"""The first hour through the CLI: dataset names, the alias a deployment serves, archive and
delete, ``alias list`` and ``keys list --all``."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import skops.io as sio
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from modelbay import Bay
from modelbay.registry.tables import ApiKeyRow


@pytest.fixture
def cli_columns() -> int:
    return 250  # the deployments table with its state column


@pytest.fixture
def wine(run, tmp_path: Path) -> None:
    """Model ``wine`` with versions 1 and 2 (champion on 1), and ``wine-prod`` serving
    ``wine@champion``."""
    x, y = load_iris(return_X_y=True)
    for c in (0.1, 1.0):
        path = tmp_path / f"wine-{c}.skops"
        buf = io.BytesIO()
        sio.dump(LogisticRegression(C=c, max_iter=500).fit(x, y), buf)
        path.write_bytes(buf.getvalue())
        run("models", "import", str(path), "--name", "wine")
    run("deploy", "wine-prod", "--model", "wine@champion")


def test_data_add_under_a_new_name_of_stored_content_then_show_and_train_by_it(
    run, tmp_path: Path, iris: pd.DataFrame
) -> None:
    crm, leads = tmp_path / "crm.csv", tmp_path / "leads.csv"
    iris.to_csv(crm, index=False)
    iris.to_csv(leads, index=False)
    run("data", "add", str(crm))
    out = run("data", "add", str(leads), "--name", "leads").output
    assert "dataset leads #" in out and "the same content as crm: stored once" in out
    assert "dataset leads #" in run("data", "show", "leads").output
    trained = run(
        "train", "leads", "--target", "species", "--trials", "1", "--cv", "2",
        "--algorithm", "logistic_regression",
    ).output  # fmt: skip
    assert "registered leads:1" in trained
    assert "crm, leads" in run("data", "list").output


def test_a_name_on_two_datasets_is_refused_with_each_candidate(
    run, tmp_path: Path, iris: pd.DataFrame
) -> None:
    path = tmp_path / "leads.csv"
    iris.to_csv(path, index=False)
    run("data", "add", str(path))
    iris.head(90).to_csv(path, index=False)
    added = run("data", "add", str(path))
    assert "2 datasets are named 'leads' now" in added.stderr
    err = run("data", "show", "leads", code=2).stderr
    assert "dataset 'leads' is ambiguous" in err and "(id 1, 150 rows" in err
    assert "(id 2, 90 rows" in err and "leads#<fingerprint prefix>" in err
    assert "90 rows" in run("data", "show", "2").output
    run("data", "delete", "1")
    assert "90 rows" in run("data", "show", "leads").output


def test_an_alias_a_deployment_serves_needs_force_and_then_the_listing_shows_it_broken(
    run, wine: None
) -> None:
    err = run("alias", "delete", "wine", "champion", code=9).stderr
    assert "alias wine@champion is served by deployment wine-prod" in err
    assert "wine@champion -> version 2" in run("alias", "set", "wine", "champion", "2").output
    forced = run("alias", "delete", "wine", "champion", "--force")
    assert "removed wine@champion" in forced.output
    assert "deployment wine-prod now serves nothing" in " ".join(forced.stderr.split())
    listing = run("deployments").output
    assert "broken: model 'wine' has no alias 'champion'" in " ".join(listing.split())


def test_alias_list_shows_each_alias_and_its_version(run, wine: None) -> None:
    run("alias", "set", "wine", "challenger", "2")
    out = run("alias", "list", "wine").output
    assert "champion" in out and "wine:1" in out and "challenger" in out and "wine:2" in out
    run("alias", "list", "nope", code=4)


def test_models_archive_delete_and_undeploy(run, wine: None) -> None:
    err = run("models", "archive", "wine:1", code=9).stderr
    assert "cannot archive wine:1: alias wine@champion needs it" in err
    assert "archived wine:2" in run("models", "archive", "wine:2").output
    versions = run("versions", "wine").output
    assert "archived" in versions and "active" in versions
    assert "wine:2 is archived" in run("deploy", "old", "--model", "wine:2", code=4).stderr
    assert "wine:2 is active again" in run("models", "unarchive", "wine:2").output
    assert "deleted version wine:2" in run("models", "delete", "wine:2").output
    err = run("models", "delete", "wine", code=9).stderr
    assert "deployment wine-prod serves it; undeploy first" in err
    run("undeploy", "wine-prod")
    assert "deleted model wine and its versions" in run("models", "delete", "wine").output
    with Bay(home=run.home) as bay:  # type: ignore[attr-defined]
        actions = [e.action for e in bay.audit.list(limit=6)]
        assert actions[:3] == ["model.delete", "undeploy", "model.delete"]
        assert list(bay.store.digests()) == []


def test_alerts_delete_is_audited(run, wine: None) -> None:
    with Bay(home=run.home) as bay:  # type: ignore[attr-defined]
        bay.monitor.rules.put("slow", "wine-prod", "latency.p99_ms", ">", 50)
    run("alerts", "delete", "slow")
    with Bay(home=run.home) as bay:  # type: ignore[attr-defined]
        assert [e.action for e in bay.audit.list(limit=2)] == ["alert.delete", "alert.put"]


def test_keys_list_all_shows_revoked_and_expired_keys_with_dates(run) -> None:
    with Bay(home=run.home) as bay:  # type: ignore[attr-defined]
        bay.keys.create("live", ["read"])
        old, _ = bay.keys.create("old", ["read"], expires="1h")
        with bay.db.session() as s:  # as if an hour had passed
            row = s.get(ApiKeyRow, old.id)
            assert row is not None
            row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        bay.keys.create("gone", ["read"])
        bay.keys.revoke("gone")
    default = run("keys", "list").output
    assert "live" in default and "old" not in default and "gone" not in default
    every = run("keys", "list", "--all").output
    assert "expired" in every and "revoked" in every and "live" in every
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    gone = next(line for line in every.splitlines() if "gone" in line)
    assert gone.count(today) == 2  # created and revoked
