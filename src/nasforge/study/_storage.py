"""SQLite storage of a study: every trial, the strategy state, and final models.

One file, WAL mode, one transaction per finished trial (the trial's result
and the strategy state that includes it are committed together), so a kill
at any moment loses at most the trial in flight.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core import Arch, StudyBusyError, StudyError, StudyExistsError, TrialStatus
from ._lock import WriterLock, describe_writer, this_process

SCHEMA_VERSION = 1
SQLITE_HEADER = b"SQLite format 3\x00"

SCHEMA = """
CREATE TABLE nasforge_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE trials (
    id INTEGER PRIMARY KEY,
    number INTEGER NOT NULL,
    status TEXT NOT NULL,
    arch TEXT NOT NULL,
    fidelity TEXT NOT NULL,
    seed INTEGER NOT NULL,
    request_meta TEXT NOT NULL DEFAULT '{}',
    metrics TEXT NOT NULL DEFAULT '{}',
    curve TEXT NOT NULL DEFAULT '[]',
    objective REAL,
    error TEXT,
    started_at REAL NOT NULL,
    finished_at REAL,
    duration_s REAL
);
CREATE INDEX trials_status ON trials (status);
CREATE INDEX trials_best ON trials (status, objective);
CREATE TABLE final_models (
    id INTEGER PRIMARY KEY,
    trial_id INTEGER NOT NULL REFERENCES trials (id),
    path TEXT NOT NULL,
    summary TEXT NOT NULL,
    created_at REAL NOT NULL
);
"""

# Zero-cost proxy scores (``nasforge proxies``, a search's proxy warm start): made on first use,
# so study files without them, older ones included, open and work unchanged.
PROXY_TABLE = """
CREATE TABLE IF NOT EXISTS proxy_scores (
    id INTEGER PRIMARY KEY,
    arch TEXT NOT NULL,
    proxy TEXT NOT NULL,
    score REAL,
    seconds REAL NOT NULL,
    seed INTEGER NOT NULL,
    batch_size INTEGER NOT NULL,
    created_at REAL NOT NULL
)"""


@dataclass
class TrialRecord:
    """One stored trial."""

    id: int
    number: int
    status: str
    arch: Arch
    fidelity: dict[str, Any]
    seed: int
    request_meta: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    curve: list[dict[str, float]] = field(default_factory=list)
    objective: float | None = None
    error: str | None = None
    started_at: float = 0.0
    finished_at: float | None = None
    duration_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["arch"] = self.arch.to_dict()
        return d


def _side_files(path: Path) -> list[Path]:
    """The files SQLite keeps beside a database while it is in use (write-ahead log, index, journal)."""
    return [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal")]


def _not_writable(path: Path) -> tuple[str | None, str]:
    """Why this process cannot write the study at ``path`` (or None), and the mode to open it in: with a
    writable file in a read-only folder SQLite cannot create its side files, so the file is read as immutable."""
    if not os.access(path, os.W_OK):
        return "the file is not writable", "ro"
    if not os.access(path.parent, os.W_OK | os.X_OK):
        return f"its folder {str(path.parent)!r} is not writable", "immutable"
    return None, "rw"


def _failure(path: Path, what: str, exc: BaseException) -> str:
    """One line saying why SQLite or the file system refused to ``what``, and what the user can do."""
    text = str(exc.strerror if isinstance(exc, OSError) and exc.strerror else exc)
    if "full" in text.lower() or getattr(exc, "errno", None) == errno.ENOSPC:
        if what == "create the study":
            return f"could not create the study {str(path)!r}: the disk is full; no file was left behind"
        return (f"could not {what} in {str(path)!r}: the disk is full. Every trial finished before is stored and "
                "the file is intact: free some space and run the same command again to resume")
    if "readonly" in text or "read-only" in text or "ermission" in text:
        return (f"could not {what} in {str(path)!r}: permission denied ({text}); choose a writable --study "
                "path, or copy the study to a writable folder")
    return f"could not {what} in {str(path)!r}: {text}"


def _check_file(path: Path) -> None:
    if not path.exists():
        raise StudyError(f"study file {str(path)!r} does not exist")
    if not path.is_file():
        raise StudyError(f"{str(path)!r} is not a file")
    with open(path, "rb") as f:
        header = f.read(16)
    if header != SQLITE_HEADER:
        raise StudyError(f"{str(path)!r} is not a nasforge study (not an SQLite database); "
                         "it was left untouched — choose another --study path")


class Storage:
    """A study file. Use :meth:`create` for a new one and :meth:`open` for an existing one.

    Any process may read a study; only one at a time may write it (see
    ``_lock.py``): the first write takes the writer lock, and a second
    writer is refused with a message naming the first.
    """

    def __init__(self, path: Path, conn: sqlite3.Connection, read_only: str | None = None,
                 lock: WriterLock | None = None):
        self.path = path
        self.conn = conn
        self.read_only = read_only  # why this process cannot write the file, or None
        self._lock = lock

    @staticmethod
    def _connect(path: Path, mode: str = "rw") -> sqlite3.Connection:
        """``mode``: "rw"; "ro" for a read-only file; "immutable" where SQLite cannot create its
        side files beside it either (a read-only folder, a full disk)."""
        if mode == "rw":
            conn = sqlite3.connect(str(path), timeout=30.0, isolation_level=None)
        else:
            uri = f"{path.resolve().as_uri()}?mode=ro" + ("&immutable=1" if mode == "immutable" else "")
            conn = sqlite3.connect(uri, uri=True, timeout=30.0, isolation_level=None)
        conn.row_factory = sqlite3.Row
        return conn

    @classmethod
    def create(cls, path: str | Path, meta: dict[str, Any]) -> Storage:
        """A new study file, written whole under a temporary name, locked for this writer, then
        linked into place: a crash never leaves a half-made study, and of several processes
        creating the same study at once exactly one succeeds (the others get StudyExistsError)."""
        path = Path(path)
        if path.exists():
            raise StudyExistsError(f"{str(path)!r} already exists; open it to resume, or choose a new path")
        leftovers = [side.name for side in _side_files(path) if side.exists()]
        if leftovers:  # SQLite would replay a stale write-ahead log into the new file and corrupt it
            raise StudyError(f"{str(path)!r} does not exist but its SQLite side files do ({', '.join(leftovers)}): "
                             "they belong to a study file that was moved or deleted. Move them back beside "
                             "that file (they may hold its latest trials) or delete them, then retry")
        tmp = path.with_name(f".{path.name}.{os.getpid()}.creating")
        if path.parent.is_dir() and not os.access(path.parent, os.W_OK | os.X_OK):
            raise StudyError(f"cannot create the study {str(path)!r}: its folder {str(path.parent)!r} is not "
                             "writable; choose a --study path in a writable folder")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.unlink(missing_ok=True)
            cls._write_new(tmp, {**meta, "writer": this_process()})
        except (OSError, sqlite3.Error) as exc:
            tmp.unlink(missing_ok=True)
            raise StudyError(_failure(path, "create the study", exc)) from None
        lock = WriterLock.try_acquire(tmp)  # nobody else knows this file yet
        try:
            os.link(tmp, path)  # fails if the path exists: no study is ever replaced
        except FileExistsError:
            lock.release()
            raise StudyExistsError(f"{str(path)!r} was created by another process meanwhile") from None
        finally:
            tmp.unlink(missing_ok=True)
        return cls.open(path, lock=lock)

    @classmethod
    def _write_new(cls, tmp: Path, meta: dict[str, Any]) -> None:
        conn = cls._connect(tmp)
        try:
            conn.executescript("BEGIN;" + SCHEMA + "COMMIT;")
            cls(tmp, conn)._put_meta({"schema_version": SCHEMA_VERSION, "created_at": time.time(),
                                      "elapsed_s": 0.0, **meta})
        finally:
            conn.close()

    @classmethod
    def open(cls, path: str | Path, lock: WriterLock | None = None, *, read_only: bool = False) -> Storage:
        """An existing study, checked (SQLite header, integrity, our tables, schema version) before use.

        With ``read_only``, SQLite opens the file read-only: a reader (a report, a dashboard following
        a running search) can never write it nor take its writer lock, and, the file being in WAL mode,
        never blocks the writer; it sees each trial once the writer commits it."""
        path = Path(path)
        _check_file(path)
        reason, mode = _not_writable(path)
        if read_only and reason is None:
            reason, mode = "it was opened read-only", "ro"
        read_only = reason
        try:
            try:
                conn, check, tables = cls._read_header(path, mode)
            except sqlite3.OperationalError as exc:  # e.g. a full disk: SQLite cannot create its side files
                if read_only is not None:
                    raise
                read_only = f"SQLite cannot write beside it: {exc}; the disk may be full"
                conn, check, tables = cls._read_header(path, "immutable")
        except sqlite3.OperationalError as exc:
            raise StudyError(_failure(path, "open the study", exc)) from None
        except sqlite3.DatabaseError as exc:
            raise StudyError(f"{str(path)!r} is a corrupted SQLite file ({exc}); it was left untouched") from None
        if check != "ok":
            raise StudyError(f"{str(path)!r} is corrupted (SQLite integrity check: {check}); it was left untouched")
        if not {"nasforge_meta", "trials"} <= tables:
            raise StudyError(f"{str(path)!r} is an SQLite database but not a nasforge study; it was left untouched")
        store = cls(path, conn, read_only, lock)
        version = store.meta().get("schema_version")
        if version != SCHEMA_VERSION:
            raise StudyError(f"{str(path)!r} has study schema version {version!r}; "
                             f"this nasforge reads version {SCHEMA_VERSION}")
        if read_only is None:
            try:
                conn.execute("PRAGMA journal_mode=WAL")
            except sqlite3.OperationalError as exc:
                raise StudyError(_failure(path, "open the study", exc)) from None
        return store

    @classmethod
    def _read_header(cls, path: Path, mode: str):
        conn = cls._connect(path, mode)
        check = conn.execute("PRAGMA quick_check").fetchone()[0]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        return conn, check, tables

    def close(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        self.conn.close()

    # -- the one writer ---------------------------------------------------------
    def claim(self) -> None:
        """Become this study's writer, or raise: it is read-only here, or another process writes it."""
        if self._lock is not None:
            return
        if self.read_only is not None:
            raise StudyError(f"study {str(self.path)!r} is read-only here ({self.read_only}); it can be shown but "
                             "not continued: copy it to a writable folder to resume it")
        lock = WriterLock.try_acquire(self.path)
        if lock is None:
            raise StudyBusyError(
                f"study {str(self.path)!r} is being written by {describe_writer(self.meta().get('writer'))}; "
                "a study has one writer at a time. Wait for it or stop it, use another --study path (and "
                "`nasforge merge` the studies later), or read this one with `nasforge show` meanwhile")
        self._lock = lock
        with self._transaction("record the writer"):  # so that a refused process can name this one
            self._put_meta({"writer": this_process()})

    @contextlib.contextmanager
    def _transaction(self, what: str):
        """An immediate write transaction, SQLite's write failures turned into one actionable line."""
        try:
            with self.conn:
                self.conn.execute("BEGIN IMMEDIATE")
                yield
        except sqlite3.OperationalError as exc:
            raise StudyError(_failure(self.path, what, exc)) from None

    @contextlib.contextmanager
    def _writing(self, what: str):
        """A write by this study's writer (claimed on first use)."""
        self.claim()
        with self._transaction(what):
            yield

    # -- metadata -----------------------------------------------------------
    def meta(self) -> dict[str, Any]:
        return {r["key"]: json.loads(r["value"]) for r in self.conn.execute("SELECT key, value FROM nasforge_meta")}

    def set_meta(self, values: dict[str, Any]) -> None:
        with self._writing("update the study's settings"):
            self._put_meta(values)

    def _put_meta(self, values: dict[str, Any]) -> None:
        self.conn.executemany("INSERT OR REPLACE INTO nasforge_meta (key, value) VALUES (?, ?)",
                              [(k, json.dumps(v)) for k, v in values.items()])

    # -- trials ---------------------------------------------------------------
    def start_trial(self, number: int, arch: Arch, fidelity: dict, seed: int, request_meta: dict,
                    meta: dict[str, Any] | None = None) -> int:
        """Record a running trial and, in the same transaction, the study state in ``meta``."""
        with self._writing(f"start trial {number}"):
            cur = self.conn.execute(
                "INSERT INTO trials (number, status, arch, fidelity, seed, request_meta, started_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (number, TrialStatus.RUNNING, arch.to_json(), json.dumps(fidelity), seed, json.dumps(request_meta),
                 time.time()))
            if meta:
                self._put_meta(meta)
            return cur.lastrowid

    def finish_trial(self, trial_id: int, status: str, metrics: dict, curve: list, objective: float | None,
                     error: str | None, duration_s: float, meta: dict[str, Any]) -> None:
        """Store a finished trial and, in the same transaction, the study state in ``meta``."""
        with self._writing(f"store trial {trial_id}"):
            self.conn.execute(
                "UPDATE trials SET status=?, metrics=?, curve=?, objective=?, error=?, finished_at=?, duration_s=? "
                "WHERE id=?",
                (status, json.dumps(metrics, allow_nan=True), json.dumps(curve), objective, error, time.time(),
                 duration_s, trial_id))
            self._put_meta(meta)

    def mark_interrupted(self, trial_id: int | None = None, reason: str = "interrupted") -> int:
        """Mark one (or every) running trial as interrupted; returns how many."""
        sql = "UPDATE trials SET status=?, error=?, finished_at=? WHERE status=?"
        args: tuple = (TrialStatus.INTERRUPTED, reason, time.time(), TrialStatus.RUNNING)
        if trial_id is not None:
            sql += " AND id=?"
            args += (trial_id,)
        with self._writing("mark interrupted trials"):
            return self.conn.execute(sql, args).rowcount

    def _record(self, row: sqlite3.Row, curve: bool = True) -> TrialRecord:
        return TrialRecord(
            id=row["id"], number=row["number"], status=TrialStatus(row["status"]), arch=Arch.from_json(row["arch"]),
            fidelity=json.loads(row["fidelity"]), seed=row["seed"], request_meta=json.loads(row["request_meta"]),
            metrics=json.loads(row["metrics"]), curve=json.loads(row["curve"]) if curve else [],
            objective=row["objective"],
            error=row["error"], started_at=row["started_at"], finished_at=row["finished_at"],
            duration_s=row["duration_s"])

    def trials(self, statuses: tuple[str, ...] | None = None, after_id: int = 0,
               curves: bool = True) -> list[TrialRecord]:
        """The stored trials in id order; only those with an id above ``after_id`` (a reader following a
        running study reads only what is new); without ``curves``, each trial's curve is left empty
        (it is most of a trial's size: a reader of 50,000 trials reads the few curves it shows with
        :meth:`trial`)."""
        sql = "SELECT * FROM trials WHERE id > ?"
        args: tuple = (after_id,)
        if statuses:
            sql += f" AND status IN ({','.join('?' * len(statuses))})"
            args += tuple(statuses)
        return [self._record(r, curves) for r in self.conn.execute(sql + " ORDER BY id", args)]

    def trial(self, trial_id: int) -> TrialRecord:
        row = self.conn.execute("SELECT * FROM trials WHERE id=?", (trial_id,)).fetchone()
        if row is None:
            count = self.conn.execute("SELECT COUNT(*) FROM trials").fetchone()[0]
            raise StudyError(f"study {str(self.path)!r} has no trial {trial_id} ({count} trials stored)")
        return self._record(row)

    def best(self) -> TrialRecord | None:
        row = self.conn.execute(
            "SELECT * FROM trials WHERE status=? AND objective IS NOT NULL ORDER BY objective DESC, id LIMIT 1",
            (TrialStatus.OK,)).fetchone()
        return self._record(row) if row else None

    def last_trial_id(self) -> int:
        """The id of the newest trial (0 for an empty study)."""
        return self.conn.execute("SELECT COALESCE(MAX(id), 0) FROM trials").fetchone()[0]

    def next_number(self) -> int:
        return self.conn.execute("SELECT COALESCE(MAX(number), -1) + 1 FROM trials").fetchone()[0]

    def count(self, statuses: tuple[str, ...]) -> int:
        return self.conn.execute(
            f"SELECT COUNT(*) FROM trials WHERE status IN ({','.join('?' * len(statuses))})", statuses).fetchone()[0]

    # -- zero-cost proxy scores -------------------------------------------------------
    def add_proxy_scores(self, rows: list[tuple[Arch, str, float, float]], seed: int, batch_size: int) -> None:
        """Store ``(arch, proxy, score, seconds)`` rows scored with ``seed`` on a batch of ``batch_size``."""
        with self._writing("store proxy scores"):
            self.conn.execute(PROXY_TABLE)
            now = time.time()
            self.conn.executemany(
                "INSERT INTO proxy_scores (arch, proxy, score, seconds, seed, batch_size, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(arch.to_json(), proxy, score, seconds, seed, batch_size, now)
                 for arch, proxy, score, seconds in rows])

    def proxy_scores(self, proxy: str | None = None) -> list[dict[str, Any]]:
        """Stored proxy scores, oldest first (none in a study that never scored any)."""
        exists = "SELECT 1 FROM sqlite_master WHERE type='table' AND name='proxy_scores'"
        if self.conn.execute(exists).fetchone() is None:
            return []
        sql, args = "SELECT * FROM proxy_scores", ()
        if proxy is not None:
            sql, args = sql + " WHERE proxy=?", (proxy,)
        return [{"arch": Arch.from_json(r["arch"]), "proxy": r["proxy"], "score": r["score"], "seconds": r["seconds"],
                 "seed": r["seed"], "batch_size": r["batch_size"]}
                for r in self.conn.execute(sql + " ORDER BY id", args)]

    # -- final models -----------------------------------------------------------
    def add_final_model(self, trial_id: int, path: str, summary: dict) -> None:
        """Record a trained final model. Not a study write (it adds no trial), so it needs no
        writer lock: `nasforge train` may record a model while a search continues the study."""
        if self.read_only is not None:
            return
        with self._transaction("record the final model"):
            self.conn.execute("INSERT INTO final_models (trial_id, path, summary, created_at) VALUES (?, ?, ?, ?)",
                              (trial_id, path, json.dumps(summary), time.time()))

    def final_models(self, trial_id: int | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM final_models", ()
        if trial_id is not None:
            sql, args = sql + " WHERE trial_id=?", (trial_id,)
        return [{"trial_id": r["trial_id"], "path": r["path"], "summary": json.loads(r["summary"]),
                 "created_at": r["created_at"]} for r in self.conn.execute(sql + " ORDER BY id", args)]
