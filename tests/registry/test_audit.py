"""The audit log's list of actions is the code's: a filter on an action the code never records
is a typo (refused, listing the actions), so every action the code records must be listed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from modelbay import Bay, ValidationError
from modelbay.registry.audit import ACTIONS

SRC = Path(__file__).resolve().parents[2] / "src" / "modelbay"
RECORDED = re.compile(r"""audit\.(?:action|record)\(\s*["']([^"']+)["']""")


def test_every_action_the_code_records_is_a_known_action() -> None:
    recorded = {m for path in SRC.rglob("*.py") for m in RECORDED.findall(path.read_text())}
    assert recorded, "the pattern finds the audit calls"
    assert recorded <= set(ACTIONS), f"add to registry.audit.ACTIONS: {recorded - set(ACTIONS)}"


def test_an_unknown_action_is_refused_and_a_logged_one_is_known(sqlite_bay: Bay) -> None:
    with pytest.raises(
        ValidationError,
        match=re.escape("no audit action 'nonsense'; actions are: alert.delete, alert.put, alias"),
    ):
        sqlite_bay.audit.list(action="nonsense")
    assert sqlite_bay.audit.list(action="deploy") == []  # known, nothing yet
    sqlite_bay.audit.record("GET /api/keys", "", "denied", "no key")  # a denied route
    assert [e.outcome for e in sqlite_bay.audit.list(action="GET /api/keys")] == ["denied"]
