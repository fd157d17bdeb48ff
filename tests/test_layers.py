"""ARCHITECTURE.md's import rules, as import-linter checks them (`make layers`).

The contracts live in pyproject.toml. The real tree keeps them; a copy of the package
with one forbidden import added breaks the contract that states the rule, whether the
import is at the top of a module or inside a function.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "pyproject.toml"
LINT = Path(sys.executable).with_name("lint-imports")

LAYERS = "a later stage may import an earlier one, never the reverse"
SERVE = "serve never imports train, not even through another package"
FACES = "no core package imports a face"
ACYCLIC = "no import cycle between the modules of any package"


def lint(src: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports over the ``modelbay`` package found in ``src``, with the project's contracts."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run(
        [str(LINT), "--no-cache", "--no-logo", str(CONFIG)],
        cwd=src,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_tree_keeps_every_contract() -> None:
    run = lint(ROOT / "src")
    assert run.returncode == 0, run.stdout + run.stderr
    report = " ".join(run.stdout.split())
    assert "Contracts: 4 kept, 0 broken." in report, run.stdout
    for contract in (LAYERS, SERVE, FACES, ACYCLIC):
        assert f"{contract} KEPT" in report, run.stdout


# (module of the copy, line added to it, contract that must break, what the report names)
VIOLATIONS = [
    pytest.param(
        "registry/models.py",
        "import modelbay.serve.manager",
        LAYERS,
        "modelbay.registry is not allowed to import modelbay.serve",
        id="registry-imports-serve",
    ),
    pytest.param(
        "text/encoder.py",
        "from modelbay.registry.predictor import Predictor",
        LAYERS,
        "modelbay.text is not allowed to import modelbay.registry",
        id="text-runtime-imports-registry",
    ),
    pytest.param(
        "train/text.py",
        "def _late() -> None:\n    from modelbay.registry.home import Registry  # noqa: F401",
        LAYERS,
        "modelbay.train is not allowed to import modelbay.registry",
        id="train-imports-registry-inside-a-function",
    ),
    pytest.param(
        "api/errors.py",
        "import modelbay.cli.common",
        LAYERS,
        "modelbay.api is not allowed to import modelbay.cli",
        id="a-face-imports-another",
    ),
    pytest.param(
        "serve/runtimes.py",
        "def _late() -> None:\n    import modelbay.optimize.optimizer  # noqa: F401",
        SERVE,
        "modelbay.serve is not allowed to import modelbay.train",
        id="serve-reaches-train-through-optimize",
    ),
    pytest.param(
        "monitor/alerts.py",
        "import modelbay.cli",
        FACES,
        "modelbay.monitor is not allowed to import modelbay.cli",
        id="core-imports-the-cli",
    ),
    pytest.param(
        "artifacts/bundle.py",
        "import modelbay.artifacts.formats",
        ACYCLIC,
        "modelbay.artifacts",
        id="bundle-and-formats-import-each-other",
    ),
]


@pytest.mark.parametrize(("module", "line", "contract", "named"), VIOLATIONS)
def test_a_forbidden_import_breaks_its_contract(
    tmp_path: Path, module: str, line: str, contract: str, named: str
) -> None:
    copy = tmp_path / "modelbay"
    shutil.copytree(ROOT / "src" / "modelbay", copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / module
    target.write_text(target.read_text() + f"\n\n{line}\n")
    run = lint(tmp_path)
    assert run.returncode != 0, run.stdout
    assert f"{contract} BROKEN" in " ".join(run.stdout.split()), run.stdout
    assert named in run.stdout, run.stdout


def test_a_new_top_level_package_must_be_given_a_layer(tmp_path: Path) -> None:
    copy = tmp_path / "modelbay"
    shutil.copytree(ROOT / "src" / "modelbay", copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "explain").mkdir()
    (copy / "explain" / "__init__.py").write_text('"""Attributions."""\n')
    run = lint(tmp_path)
    assert run.returncode != 0, run.stdout
    assert f"{LAYERS} BROKEN" in " ".join(run.stdout.split()), run.stdout
    assert "not listed as layers:\n\n- modelbay.explain" in run.stdout, run.stdout
