"""SQLite storage of a study: every trial, the strategy state, and final models.

One file, WAL mode, one transaction per finished trial (the trial's result
and the strategy state that includes it are committed together), so a kill
at any moment loses at most the trial in flight.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core import Arch, StudyError, TrialStatus

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
    """A study file. Use :meth:`create` for a new one and :meth:`open` for an existing one."""

    def __init__(self, path: Path, conn: sqlite3.Connection):
        self.path = path
        self.conn = conn

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        conn = sqlite3.connect(str(path), timeout=30.0, isolation_level=None)
        conn.row_factory = sqlite3.Row
        return conn

    @classmethod
    def create(cls, path: str | Path, meta: dict[str, Any]) -> Storage:
        """A new study file, written whole under a temporary name and then renamed into place."""
        path = Path(path)
        if path.exists():
            raise StudyError(f"{str(path)!r} already exists; open it to resume, or choose a new path")
        leftovers = [side.name for side in _side_files(path) if side.exists()]
        if leftovers:  # SQLite would replay a stale write-ahead log into the new file and corrupt it
            raise StudyError(f"{str(path)!r} does not exist but its SQLite side files do ({', '.join(leftovers)}): "
                             "they belong to a study file that was moved or deleted. Move them back beside "
                             "that file (they may hold its latest trials) or delete them, then retry")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.creating")
        tmp.unlink(missing_ok=True)
        conn = cls._connect(tmp)
        conn.executescript("BEGIN;" + SCHEMA + "COMMIT;")
        cls(tmp, conn).set_meta({"schema_version": SCHEMA_VERSION, "created_at": time.time(),
                                 "elapsed_s": 0.0, **meta})
        conn.close()
        os.replace(tmp, path)
        return cls.open(path)

    @classmethod
    def open(cls, path: str | Path) -> Storage:
        path = Path(path)
        _check_file(path)
        try:
            conn = cls._connect(path)
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            raise StudyError(f"{str(path)!r} is a corrupted SQLite file ({exc}); it was left untouched") from None
        if check != "ok":
            raise StudyError(f"{str(path)!r} is corrupted (SQLite integrity check: {check}); it was left untouched")
        if not {"nasforge_meta", "trials"} <= tables:
            raise StudyError(f"{str(path)!r} is an SQLite database but not a nasforge study; it was left untouched")
        store = cls(path, conn)
        version = store.meta().get("schema_version")
        if version != SCHEMA_VERSION:
            raise StudyError(f"{str(path)!r} has study schema version {version!r}; "
                             f"this nasforge reads version {SCHEMA_VERSION}")
        conn.execute("PRAGMA journal_mode=WAL")
        return store

    def close(self) -> None:
        self.conn.close()

    # -- metadata -----------------------------------------------------------
    def meta(self) -> dict[str, Any]:
        return {r["key"]: json.loads(r["value"]) for r in self.conn.execute("SELECT key, value FROM nasforge_meta")}

    def set_meta(self, values: dict[str, Any]) -> None:
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            self._put_meta(values)

    def _put_meta(self, values: dict[str, Any]) -> None:
        self.conn.executemany("INSERT OR REPLACE INTO nasforge_meta (key, value) VALUES (?, ?)",
                              [(k, json.dumps(v)) for k, v in values.items()])

    # -- trials ---------------------------------------------------------------
    def start_trial(self, number: int, arch: Arch, fidelity: dict, seed: int, request_meta: dict) -> int:
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            cur = self.conn.execute(
                "INSERT INTO trials (number, status, arch, fidelity, seed, request_meta, started_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (number, TrialStatus.RUNNING, arch.to_json(), json.dumps(fidelity), seed, json.dumps(request_meta), time.time()))
            return cur.lastrowid

    def finish_trial(self, trial_id: int, status: str, metrics: dict, curve: list, objective: float | None,
                     error: str | None, duration_s: float, meta: dict[str, Any]) -> None:
        """Store a finished trial and, in the same transaction, the study state in ``meta``."""
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
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
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            return self.conn.execute(sql, args).rowcount

    def _record(self, row: sqlite3.Row) -> TrialRecord:
        return TrialRecord(
            id=row["id"], number=row["number"], status=TrialStatus(row["status"]), arch=Arch.from_json(row["arch"]),
            fidelity=json.loads(row["fidelity"]), seed=row["seed"], request_meta=json.loads(row["request_meta"]),
            metrics=json.loads(row["metrics"]), curve=json.loads(row["curve"]), objective=row["objective"],
            error=row["error"], started_at=row["started_at"], finished_at=row["finished_at"],
            duration_s=row["duration_s"])

    def trials(self, statuses: tuple[str, ...] | None = None) -> list[TrialRecord]:
        sql = "SELECT * FROM trials"
        args: tuple = ()
        if statuses:
            sql += f" WHERE status IN ({','.join('?' * len(statuses))})"
            args = tuple(statuses)
        return [self._record(r) for r in self.conn.execute(sql + " ORDER BY id", args)]

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

    def next_number(self) -> int:
        return self.conn.execute("SELECT COALESCE(MAX(number), -1) + 1 FROM trials").fetchone()[0]

    def count(self, statuses: tuple[str, ...]) -> int:
        return self.conn.execute(
            f"SELECT COUNT(*) FROM trials WHERE status IN ({','.join('?' * len(statuses))})", statuses).fetchone()[0]

    # -- final models -----------------------------------------------------------
    def add_final_model(self, trial_id: int, path: str, summary: dict) -> None:
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute("INSERT INTO final_models (trial_id, path, summary, created_at) VALUES (?, ?, ?, ?)",
                              (trial_id, path, json.dumps(summary), time.time()))

    def final_models(self, trial_id: int | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM final_models", ()
        if trial_id is not None:
            sql, args = sql + " WHERE trial_id=?", (trial_id,)
        return [{"trial_id": r["trial_id"], "path": r["path"], "summary": json.loads(r["summary"]),
                 "created_at": r["created_at"]} for r in self.conn.execute(sql + " ORDER BY id", args)]
