"""API keys in the registry (SQLite and PostgreSQL): hashed, scoped, revocable, audited."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from modelbay import Bay, ConflictError, ModelbayError, NotFoundError, ValidationError
from modelbay.registry.db import KEYS
from modelbay.registry.tables import ApiKeyRow
from modelbay.security.keys import ApiKey
from modelbay.security.notation import parse_expiry, parse_quota, parse_rate


def test_a_key_is_shown_once_and_only_its_keyed_hash_is_stored(bay: Bay) -> None:
    key, token = bay.keys.create("ci", "predict,read", models="churn,fraud", rate="50/s")
    assert token.startswith("mbk_") and len(token) > 40
    assert key.scopes == ("predict", "read") and key.models == ("churn", "fraud")
    assert key.rate == 50.0 and key.burst == 50
    with bay.db.session() as s:
        row = s.scalars(select(ApiKeyRow)).one()
        stored = " ".join(str(v) for v in vars(row).values())
    assert token not in stored and token[8:] not in stored
    assert row.hash == bay.keys.digest(token) and len(row.hash) == 64
    assert bay.keys.verify(token) == bay.keys.get(key.id)
    assert bay.keys.verify(token + "x") is None
    assert bay.keys.verify("") is None


def test_the_hash_depends_on_the_master_key(tmp_path) -> None:
    with Bay(home=tmp_path / "one") as a, Bay(home=tmp_path / "two") as b:
        assert a.keys.digest("same-token") != b.keys.digest("same-token")


def test_revoke_and_rotate_bump_the_key_counter_and_are_audited(bay: Bay) -> None:
    _, token = bay.keys.create("ci", ["predict"], quota="1000/day", expires="30d")
    before = bay.db.generation(KEYS)
    new, new_token = bay.keys.rotate("ci")
    assert bay.db.generation(KEYS) > before
    assert bay.keys.verify(token) is None and bay.keys.verify(new_token) is not None
    assert (new.name, new.scopes, new.quota, new.quota_period) == ("ci", ("predict",), 1000, "day")
    assert new.expires_at is not None and new.expires_at > datetime.now(UTC) + timedelta(days=29)
    bay.keys.revoke(new.id)
    assert bay.keys.verify(new_token) is None
    with pytest.raises(ConflictError, match="revoked"):
        bay.keys.rotate(new.id)
    actions = [(e.action, e.outcome) for e in bay.audit.list(limit=10)]
    assert ("key.create", "ok") in actions and ("key.rotate", "ok") in actions
    assert ("key.revoke", "ok") in actions and ("key.rotate", "error") in actions
    assert all(token not in e.detail and token not in e.target for e in bay.audit.list())


REFUSE_NEW_KEYS = {  # a database that takes no new key: the INSERT fails inside the database
    "sqlite": [
        "CREATE TRIGGER refuse_keys BEFORE INSERT ON api_keys"
        " BEGIN SELECT RAISE(ABORT, 'no new keys today'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_keys() RETURNS trigger LANGUAGE plpgsql"
        " AS $$ BEGIN RAISE EXCEPTION 'no new keys today'; END $$",
        "CREATE TRIGGER refuse_keys BEFORE INSERT ON api_keys"
        " FOR EACH ROW EXECUTE FUNCTION refuse_keys()",
    ],
}


def assert_untouched(bay: Bay, key: ApiKey, token: str, generation: int) -> None:
    """The rotation left no trace: the old key still works and is the only one."""
    assert bay.keys.verify(token) == bay.keys.get(key.id) and bay.keys.get(key.id).active
    assert [k.id for k in bay.keys.list(include_revoked=True)] == [key.id]
    assert bay.db.generation(KEYS) == generation
    assert (bay.audit.list(limit=1)[0].action, bay.audit.list(limit=1)[0].outcome) == (
        "key.rotate",
        "error",
    )


def test_a_rotation_the_database_refuses_leaves_the_old_key_valid(bay: Bay) -> None:
    key, token = bay.keys.create("ci", ["predict"], rate="5/s")
    with bay.db.session() as s:
        for statement in REFUSE_NEW_KEYS[bay.db.dialect]:
            s.execute(text(statement))
    before = bay.db.generation(KEYS)
    with pytest.raises(ModelbayError, match="no new keys today"):
        bay.keys.rotate("ci")
    assert_untouched(bay, key, token, before)
    with bay.db.session() as s:
        s.execute(
            text("DROP TRIGGER refuse_keys" + (" ON api_keys" * (bay.db.dialect != "sqlite")))
        )
    new, new_token = bay.keys.rotate("ci")  # the same call succeeds once the database allows it
    assert bay.keys.verify(token) is None and bay.keys.verify(new_token) == new


def test_a_rotation_whose_new_key_collides_leaves_the_old_key_valid(
    bay: Bay, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, token = bay.keys.create("ci", ["predict"])
    before = bay.db.generation(KEYS)
    # fault injection at the random source: the "new" key comes out as the old one again
    monkeypatch.setattr(secrets, "token_urlsafe", lambda _n: token.removeprefix("mbk_"))
    with pytest.raises(ConflictError, match="registered already"):
        bay.keys.rotate("ci")
    assert_untouched(bay, key, token, before)


def test_names_are_unique_among_active_keys(bay: Bay) -> None:
    bay.keys.create("ci", ["predict"])
    with pytest.raises(ConflictError, match="active key named 'ci'"):
        bay.keys.create("ci", ["read"])
    bay.keys.revoke("ci")
    bay.keys.create("ci", ["read"])  # the name is free again
    assert [k.scopes for k in bay.keys.list()] == [("read",)]
    assert len(bay.keys.list(include_revoked=True)) == 2


def test_an_expired_key_does_not_verify(bay: Bay) -> None:
    key, token = bay.keys.create("short", ["predict"], expires="1s")
    assert bay.keys.verify(token) is not None
    with bay.db.session() as s:
        row = s.get(ApiKeyRow, key.id)
        assert row is not None
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    assert bay.keys.verify(token) is None
    assert not bay.keys.get(key.id).active


def test_usage_adds_up_across_writers(bay: Bay) -> None:
    key, _ = bay.keys.create("ci", ["predict"])
    bay.keys.add_usage({(key.id, "2026-11"): 3})
    bay.keys.add_usage({(key.id, "2026-11"): 4, (key.id, "2026-12"): 1})
    assert bay.keys.used(key.id, "2026-11") == 7
    assert bay.keys.get(key.id).usage == {"2026-11": 7, "2026-12": 1}


def test_ensure_admin_creates_one_once_or_registers_the_given_key(bay: Bay) -> None:
    made = bay.keys.ensure_admin()
    assert made is not None and bay.keys.verify(made).scopes == ("admin",)  # type: ignore[union-attr]
    assert bay.keys.ensure_admin() is None  # there is one already
    given = "a-long-admin-key-from-the-environment"
    assert bay.keys.ensure_admin(given) is None
    assert bay.keys.verify(given) is not None
    assert bay.keys.ensure_admin(given) is None  # idempotent
    with pytest.raises(ValidationError, match="at least"):
        bay.keys.create("weak", ["admin"], token="short")


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"scopes": "predict,root"}, "scopes must be some of"),
        ({"scopes": ""}, "scopes must be some of"),
        ({"rate": "fast"}, "rate 'fast'"),
        ({"rate": "0/s"}, "above zero"),
        ({"quota": "10/year"}, "quota '10/year'"),
        ({"expires": "soon"}, "expiry 'soon'"),
        ({"expires": "2001-01-01"}, "in the past"),
        ({"models": "bad name!"}, "model name"),
    ],
)
def test_bad_key_settings_say_what_to_fix(bay: Bay, bad: dict[str, str], message: str) -> None:
    args = {"scopes": "predict", **bad}
    with pytest.raises(ValidationError, match=message):
        bay.keys.create("k", args.pop("scopes"), **args)  # type: ignore[arg-type]
    assert bay.keys.list() == []


def test_unknown_keys_are_not_found(bay: Bay) -> None:
    with pytest.raises(NotFoundError, match="no key"):
        bay.keys.revoke("nobody")


def test_limit_notations() -> None:
    assert parse_rate("50/s") == 50 and parse_rate("600/min") == 10 and parse_rate("7200/h") == 2
    assert parse_rate("5") == 5 and parse_rate(None) is None
    assert parse_quota("1000000/month") == (1_000_000, "month")
    assert parse_quota("5000/day") == (5000, "day")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_expiry("90d", now) == now + timedelta(days=90)
    assert parse_expiry("12h", now) == now + timedelta(hours=12)
    assert parse_expiry("2027-01-01", now) == datetime(2027, 1, 1, tzinfo=UTC)


def test_the_default_list_holds_active_keys_only_and_inactive_adds_expired_and_revoked(
    bay: Bay,
) -> None:
    live, _ = bay.keys.create("live", ["read"])
    old, _ = bay.keys.create("old", ["read"], expires="1h")
    gone, _ = bay.keys.create("gone", ["read"])
    bay.keys.revoke("gone")
    with bay.db.session() as s:  # as if the hour had passed
        row = s.get(ApiKeyRow, old.id)
        assert row is not None
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    assert [k.id for k in bay.keys.list()] == [live.id]
    every = bay.keys.list(include_inactive=True)
    assert [k.id for k in every] == [live.id, old.id, gone.id]
    assert [k.active for k in every] == [True, False, False]
