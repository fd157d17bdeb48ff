"""Opening the registry database while another process holds a write lock on a new SQLite
file, as a server's workers do when they start together on a new home."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from modelbay.registry.db import Database


def test_opening_waits_for_a_writer_instead_of_failing(tmp_path: Path) -> None:
    """Turning on WAL needs an exclusive lock. While another connection holds a write lock
    on a database not yet in WAL mode, SQLite refuses at once ("database is locked"),
    without waiting on its busy timeout: a server worker that started second died so
    (seen once in CI). Opening now waits for the writer to finish."""
    path = tmp_path / "new.db"
    sqlite3.connect(path).close()  # a new file, not yet in WAL mode
    locked, done = threading.Event(), threading.Event()

    def writer() -> None:  # another worker, in the middle of creating the schema
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("CREATE TABLE other (x)")
        locked.set()
        time.sleep(0.5)  # the lock is held this long: the thing under test is waiting it out
        conn.execute("COMMIT")
        conn.close()
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    assert locked.wait(5)
    started = time.monotonic()
    db = Database(f"sqlite:///{path}")
    try:
        assert done.is_set() and time.monotonic() - started >= 0.3  # it waited for the writer
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            tables = {r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master")}
        assert {"other", "generation"} <= tables  # the writer's work and the migration's
    finally:
        db.dispose()
        thread.join()
