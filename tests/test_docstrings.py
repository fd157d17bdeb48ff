"""What ``help(modelbay)`` and ``help(modelbay.Bay)`` say is what the code has.

The package docstring names every public name; ``Bay``'s lists its attributes (instance
attributes, which ``help()`` cannot find on its own) with the methods it names for each;
``train()``'s lists its parameters; and ``Bay``'s example runs as written.
"""

from __future__ import annotations

import inspect
import re
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import modelbay
from modelbay import Bay

CLASS_REF = re.compile(r":class:`~?(?:modelbay\.)?(\w+)`")


def _section(doc: str, title: str) -> dict[str, str]:
    """The ``name: text`` entries of a Google-style section (``Args:``, ``Attributes:``)."""
    body = inspect.cleandoc(doc).partition(f"\n{title}:\n")[2]
    entries: dict[str, str] = {}
    name = None
    for line in body.splitlines():
        if line and not line.startswith(" "):
            break  # the next section or paragraph
        m = re.match(r"^    (\w+): (.*)$", line)
        if m:
            name = m.group(1)
            entries[name] = m.group(2)
        elif name is not None and line.strip():
            entries[name] += " " + line.strip()
    return entries


def test_the_package_docstring_names_every_public_name() -> None:
    doc = modelbay.__doc__ or ""
    named = set(CLASS_REF.findall(doc))
    errors = {
        n
        for n in modelbay.__all__
        if isinstance(getattr(modelbay, n), type)
        and issubclass(getattr(modelbay, n), modelbay.ModelbayError)
    }
    assert set(modelbay.__all__) - errors <= named, set(modelbay.__all__) - errors - named
    assert named <= set(modelbay.__all__), (
        f"named but not exported: {named - set(modelbay.__all__)}"
    )


def test_the_bay_docstring_lists_its_attributes_and_their_methods(tmp_path: Path) -> None:
    documented = _section(Bay.__doc__ or "", "Attributes")
    assert documented, "Bay's docstring has no Attributes section"
    with Bay(home=tmp_path / "home") as bay:
        instance = {n for n in vars(bay) if not n.startswith("_")}
        properties = {
            n
            for n, v in inspect.getmembers(Bay, lambda v: isinstance(v, property))
            if not n.startswith("_")
        }
        assert instance | properties == set(documented)
        for name, text in documented.items():
            part = getattr(bay, name)
            for method in re.findall(r"``(\w+)``", text):
                assert hasattr(part, method), f"bay.{name}.{method} is not there"


def test_the_train_docstring_lists_exactly_its_parameters() -> None:
    documented = _section(Bay.train.__doc__ or "", "Args")
    parameters = [p for p in inspect.signature(Bay.train).parameters if p != "self"]
    assert list(documented) == parameters


def test_the_bay_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    example = textwrap.dedent((Bay.__doc__ or "").partition("Example::\n")[2])
    assert "bay.train(" in example
    rng = np.random.default_rng(0)
    n = 200
    tenure = rng.integers(1, 60, n)
    churn = pd.DataFrame(
        {
            "tenure_months": tenure,
            "monthly_fee": rng.normal(40, 10, n).round(2),
            "plan": rng.choice(["basic", "pro"], n),
            "churned": (tenure < 12).astype(int),
        }
    )
    churn.to_csv(tmp_path / "churn.csv", index=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MODELBAY_HOME", str(tmp_path / "home"))
    exec(compile(example, "Bay.__doc__", "exec"), {"__name__": "example"})
    with Bay() as bay:
        assert bay.models.get("churn@champion").version == 1
