"""``modelbay keys``, ``audit`` and ``models import`` through Typer's runner."""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path

import skops.io as sio
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier

from modelbay import Bay


def test_keys_create_list_rotate_revoke_and_the_audit_log(run) -> None:
    out = run(
        "keys",
        "create",
        "--name",
        "ci",
        "--scopes",
        "predict,read",
        "--models",
        "churn",
        "--rate",
        "50/s",
        "--quota",
        "1000000/month",
        "--expires",
        "90d",
    ).output
    token = out.strip().splitlines()[-1]
    assert token.startswith("mbk_") and "not shown again" in out
    listed = json.loads(run("keys", "list", "--json").output)
    assert [(k["name"], k["scopes"], k["models"], k["rate"], k["quota"]) for k in listed] == [
        ("ci", ["predict", "read"], ["churn"], 50.0, 1_000_000)
    ]
    assert token not in run("keys", "list").output
    rotated = run("keys", "rotate", "ci").output.strip().splitlines()[-1]
    assert rotated.startswith("mbk_") and rotated != token
    with Bay(home=run.home) as bay:  # type: ignore[attr-defined]
        assert bay.keys.verify(token) is None and bay.keys.verify(rotated) is not None
    run("keys", "revoke", "ci")
    assert json.loads(run("keys", "list", "--json").output) == []
    assert len(json.loads(run("keys", "list", "--all", "--json").output)) == 2
    entries = json.loads(run("audit", "--json").output)
    assert [e["action"] for e in entries] == ["key.revoke", "key.rotate", "key.create"]
    assert all(e["actor"].startswith("local") and e["outcome"] == "ok" for e in entries)
    assert "key.rotate" in run("audit").output
    run("keys", "create", "--name", "x", "--scopes", "root", code=2)
    run("keys", "revoke", "nobody", code=4)


def test_models_import_takes_skops_and_refuses_pickles(run, tmp_path: Path) -> None:
    x, y = load_iris(return_X_y=True)
    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(x, y)
    pkl = tmp_path / "model.pkl"
    pkl.write_bytes(pickle.dumps(model))
    result = run("models", "import", str(pkl), "--name", "iris-rf", code=8)
    assert "pickle" in result.output + result.stderr
    good = tmp_path / "model.skops"
    buf = io.BytesIO()
    sio.dump(model, buf)
    good.write_bytes(buf.getvalue())
    out = run("models", "import", str(good), "--name", "iris-rf", "--alias", "champion").output
    assert "registered iris-rf:1 (RandomForestClassifier, classification)" in out
    with Bay(home=run.home) as bay:  # type: ignore[attr-defined]
        predictor = bay.load("iris-rf@champion")
        assert predictor.version.signature.names == ["x0", "x1", "x2", "x3"]
        import pandas as pd

        rows = pd.DataFrame(x[:5], columns=["x0", "x1", "x2", "x3"])
        assert predictor.predict(rows).tolist() == model.predict(x[:5]).tolist()
        outcomes = [(e.action, e.outcome) for e in bay.audit.list(action="import")]
        assert outcomes == [("import", "ok"), ("import", "error")]
