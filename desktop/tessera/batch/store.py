"""The results store: SQLite in WAL mode, one result per (content hash, model).

Two tables do the work:

- `files`: every path a run has met, with the size, mtime and content hash it had then (so an
  unchanged file is recognised without reading it again) or, when it could not be read at
  all, the reason. `seen_run` is the last run that met the path: a run's exports are the
  files it met.
- `results`: per content hash and model, the top-K (or the error) and where it came from:
  path, size, mtime, backend, time. A renamed or copied file has the same hash, so it is
  never classified twice; a re-run skips every hash that already has a result.

Each batch of results is written in one transaction together with its `files` rows, so after
a crash (even kill -9) a file is either fully recorded or not at all; WAL keeps committed
transactions and lets exports read while a run writes. Paths are stored as the bytes the OS
uses (file names need not be UTF-8). One connection, guarded by a lock, serves the runner and
the watcher's thread; exports read through their own connection.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from tessera import paths
from tessera.errors import TesseraError

STORE_NAME = "results.sqlite3"
BUSY_TIMEOUT_S = 30

# Migration N (1-based) takes the schema from version N-1 to N. Append, never edit: a user's
# store at version N-1 must reach the same schema as a new one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            model TEXT NOT NULL,
            started_at REAL NOT NULL)""",
        """CREATE TABLE files (
            path BLOB PRIMARY KEY,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            hash TEXT,
            error TEXT,
            seen_run INTEGER NOT NULL)""",
        "CREATE INDEX files_by_hash ON files(hash)",
        "CREATE INDEX files_by_run ON files(seen_run)",
        """CREATE TABLE results (
            hash TEXT NOT NULL,
            model TEXT NOT NULL,
            path BLOB NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            top TEXT,
            backend TEXT,
            ms REAL,
            error TEXT,
            finished_at REAL NOT NULL,
            PRIMARY KEY (hash, model))""",
    ),
)


class StoreError(TesseraError):
    pass


@dataclass(frozen=True)
class NewResult:
    """One file's outcome, as the runner hands it to the store."""
    path: str
    size: int
    mtime_ns: int
    hash: str
    top: list[dict] | None = None     # [{"index", "label", "score"}, …], best first
    backend: str | None = None
    ms: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class StoredResult:
    """One file as exports see it: its result, or why there is none."""
    path: str
    size: int
    mtime_ns: int
    hash: str | None
    top: list[dict]
    backend: str | None
    ms: float | None
    error: str | None
    finished_at: float | None

    @property
    def ok(self) -> bool:
        return self.error is None


def default_store_path() -> Path:
    return paths.user_data_dir() / STORE_NAME


def _key(path: str) -> bytes:
    return os.fsencode(path)


def _under(folder: str) -> tuple[bytes, bytes]:
    """A range of keys holding exactly the paths inside folder ('/' + 1 is '0')."""
    prefix = _key(folder.rstrip(os.sep)) + os.fsencode(os.sep)
    return prefix, prefix[:-1] + bytes([prefix[-1] + 1])


def migrate(conn: sqlite3.Connection, migrations: Sequence[Sequence[str]] = MIGRATIONS) -> int:
    """Bring the schema up to len(migrations), one transaction per step; returns the version."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    while True:
        conn.execute("BEGIN IMMEDIATE")     # read and bump under the write lock: two processes
        try:                                # opening a new store don't both migrate it
            row = conn.execute("SELECT version FROM schema_version").fetchone()
            version = row[0] if row else 0
            if version > len(migrations):
                raise StoreError(f"The results store was written by a newer Tessera (schema "
                                 f"{version}; this one knows up to {len(migrations)}).")
            if version == len(migrations):
                conn.execute("COMMIT")
                return version
            for statement in migrations[version]:
                conn.execute(statement)
            conn.execute("DELETE FROM schema_version")
            conn.execute("INSERT INTO schema_version VALUES (?)", (version + 1,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _connect(db_path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                           check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")   # with WAL: no corruption, only the newest
    return conn                                 # commits at risk, and only on power loss


class ResultStore:
    def __init__(self, db_path: Path | None = None):
        self.path = Path(db_path) if db_path else default_store_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = _connect(self.path)
            migrate(self._conn)
        except sqlite3.DatabaseError as e:
            raise StoreError(f"The results store {self.path} can't be opened ({e}).") from None
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _query(self, sql: str, args: tuple) -> tuple | None:
        with self._lock:
            return self._conn.execute(sql, args).fetchone()

    # ---- a run ----

    def begin_run(self, model: str) -> int:
        with self._transaction() as c:
            return c.execute("INSERT INTO runs (model, started_at) VALUES (?, ?)",
                             (model, time.time())).lastrowid

    def known_hash(self, path: str, size: int, mtime_ns: int) -> str | None:
        """The content hash recorded for this path, if the file is unchanged since."""
        row = self._query("SELECT hash FROM files WHERE path = ? AND size = ? AND mtime_ns = ?",
                          (_key(path), size, mtime_ns))
        return row[0] if row else None

    def is_done(self, hash: str, model: str, *, errors_count: bool = True) -> bool:
        """Whether this content has a result for this model (an error result too, unless not errors_count)."""
        sql = "SELECT 1 FROM results WHERE hash = ? AND model = ?"
        return self._query(sql + ("" if errors_count else " AND error IS NULL"), (hash, model)) is not None

    def mark_seen(self, paths_seen: Sequence[str], run: int) -> None:
        with self._transaction() as c:
            c.executemany("UPDATE files SET seen_run = ? WHERE path = ?",
                          [(run, _key(p)) for p in paths_seen])

    def record_files(self, files: Sequence[tuple[str, int, int, str]], run: int) -> None:
        """(path, size, mtime_ns, hash) of files whose content already has a result."""
        with self._transaction() as c:
            self._upsert_files(c, [(p, s, m, h, None) for p, s, m, h in files], run)

    def record_file_errors(self, errors: Sequence[tuple[str, str]], run: int) -> None:
        """(path, reason) of paths that could not be read at all (so have no content hash)."""
        with self._transaction() as c:
            self._upsert_files(c, [(p, 0, 0, None, reason) for p, reason in errors], run)

    def record_results(self, results: Sequence[NewResult], run: int) -> None:
        """Results and their files' rows, all or nothing."""
        now = time.time()
        with self._transaction() as c:
            (model,) = c.execute("SELECT model FROM runs WHERE id = ?", (run,)).fetchone()
            c.executemany(
                "INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(r.hash, model, _key(r.path), r.size, r.mtime_ns,
                  None if r.top is None else json.dumps(r.top), r.backend, r.ms, r.error, now)
                 for r in results])
            self._upsert_files(c, [(r.path, r.size, r.mtime_ns, r.hash, None) for r in results], run)

    @staticmethod
    def _upsert_files(c: sqlite3.Connection, rows: list[tuple], run: int) -> None:
        c.executemany(
            "INSERT OR REPLACE INTO files (path, size, mtime_ns, hash, error, seen_run) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(_key(path), size, mtime_ns, hash, error, run) for path, size, mtime_ns, hash, error in rows])

    # ---- what the watcher and sorting change ----

    def forget(self, path: str) -> None:
        """The file (or folder, with everything in it) is gone; results stay, keyed by content."""
        low, high = _under(path)
        with self._transaction() as c:
            c.execute("DELETE FROM files WHERE path = ? OR (path >= ? AND path < ?)",
                      (_key(path), low, high))

    def rename(self, old: str, new: str) -> None:
        """The file (or folder, with everything in it) at old is now at new."""
        old_key, new_key = _key(old), _key(new)
        low, high = _under(old)
        with self._transaction() as c:
            moved = c.execute("SELECT path FROM files WHERE path = ? OR (path >= ? AND path < ?)",
                              (old_key, low, high)).fetchall()
            for (key,) in moved:
                target = new_key + key[len(old_key):]
                c.execute("DELETE FROM files WHERE path = ?", (target,))
                c.execute("UPDATE files SET path = ? WHERE path = ?", (target, key))

    # ---- reading ----

    def run_results(self, run: int) -> Iterator[StoredResult]:
        """The files the run met, with their result for its model (or their error), by path.

        Files still waiting for a result are left out. Streams from its own connection, so a
        long export neither holds the lock nor stops the run from writing.
        """
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S)
        try:
            (model,) = conn.execute("SELECT model FROM runs WHERE id = ?", (run,)).fetchone()
            rows = conn.execute(_RESULT_SELECT + "WHERE f.seen_run = ? " + _HAS_OUTCOME +
                                "ORDER BY f.path", (model, run))
            yield from map(_stored, rows)
        finally:
            conn.close()

    def result_for(self, path: str, model: str) -> StoredResult | None:
        """What the store says about the file at path for model, if it has an outcome."""
        row = self._query(_RESULT_SELECT + "WHERE f.path = ? " + _HAS_OUTCOME, (model, _key(path)))
        return _stored(row) if row else None


# Files with the result of their content for a model (the first parameter); _HAS_OUTCOME
# leaves out those still waiting for one.
_RESULT_SELECT = (
    "SELECT f.path, f.size, f.mtime_ns, f.hash, r.top, r.backend, r.ms, "
    "       coalesce(f.error, r.error), r.finished_at "
    "FROM files f LEFT JOIN results r ON r.hash = f.hash AND r.model = ? ")
_HAS_OUTCOME = "AND (f.error IS NOT NULL OR r.hash IS NOT NULL) "


def _stored(row: tuple) -> StoredResult:
    path, size, mtime_ns, hash, top, backend, ms, error, finished_at = row
    return StoredResult(os.fsdecode(path), size, mtime_ns, hash, json.loads(top) if top else [],
                        backend, ms, error, finished_at)
