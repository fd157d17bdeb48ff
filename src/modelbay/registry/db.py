"""Engine creation and automatic migrations, for SQLite (default) and PostgreSQL."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from modelbay.errors import ConfigError, StorageError

__all__ = ["KEYS", "SERVING", "Database", "bump_generation"]

SERVING, KEYS = 1, 2  # the change counters (rows of the generation table)

_MIGRATIONS = Path(__file__).parent / "migrations"
_PG_LOCK_ID = 0x6D6F64656C626179 & 0x7FFFFFFFFFFFFFFF  # "modelbay"


def _normalise(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"MODELBAY_DATABASE_URL {url!r} is not a database URL: {exc}") from exc
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


_SQLITE_WAIT_S = 30  # how long SQLite waits for another writer's lock before failing


class Database:
    """One engine and session factory; migrates the schema to the newest revision on open."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = _normalise(url)
        self.engine = self._create_engine(self.url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if migrate:
            self.migrate()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @staticmethod
    def _create_engine(url: URL) -> Engine:
        kwargs: dict[str, Any] = {}
        if url.get_backend_name() == "sqlite":
            if url.database and url.database != ":memory:":
                Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": _SQLITE_WAIT_S, "check_same_thread": False}
        else:
            kwargs["pool_pre_ping"] = True
        try:
            engine = create_engine(url, **kwargs)
        except (NoSuchModuleError, ImportError) as exc:
            raise ConfigError(
                f"no driver for {url.drivername}: install it (PostgreSQL: pip install "
                f"'modelbay[postgres]'): {exc}"
            ) from exc
        if url.get_backend_name() == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        return engine

    def migrate(self, revision: str = "head") -> None:
        """Apply every pending Alembic migration, up to ``revision`` (serialised across
        processes)."""
        cfg = Config()
        cfg.set_main_option("script_location", str(_MIGRATIONS))
        try:
            with self.engine.begin() as conn:
                if self.dialect == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
                elif self.dialect == "sqlite":
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
        except OperationalError as exc:
            raise StorageError(
                f"cannot open the registry database {self.url.render_as_string(hide_password=True)}:"
                f" {exc.orig}"
            ) from exc

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any error."""
        with self._sessions() as session:
            try:
                yield session
                session.commit()
            except SQLAlchemyError as exc:
                session.rollback()
                raise _translate(exc) from exc
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()

    def generation(self, counter: int = SERVING) -> int:
        """A change counter servers poll: ``SERVING`` (aliases, deployments) or ``KEYS``."""
        with self.engine.connect() as conn:
            query = text("SELECT value FROM generation WHERE id = :id")
            return int(conn.execute(query, {"id": counter}).scalar_one())


def bump_generation(session: Session, counter: int = SERVING) -> None:
    """Count a change that servers must notice, in the caller's transaction."""
    session.execute(text("UPDATE generation SET value = value + 1 WHERE id = :id"), {"id": counter})


def _translate(exc: SQLAlchemyError) -> Exception:
    from sqlalchemy.exc import IntegrityError as SAIntegrityError

    from modelbay.errors import ConflictError

    if isinstance(exc, SAIntegrityError):
        return ConflictError(f"a concurrent change conflicted with this one: {exc.orig}")
    return StorageError(f"registry database error: {getattr(exc, 'orig', exc)}")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # A server's workers open a new database at the same moment. Turning on WAL takes an
    # exclusive lock and does not wait on SQLite's busy timeout, so a worker that came
    # second was refused ("database is locked") and died at start: wait for it here.
    deadline = time.monotonic() + _SQLITE_WAIT_S
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()
