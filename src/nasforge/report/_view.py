"""A study as the report sees it: its trials as columns, read-only, and kept current.

:class:`StudyView` is a snapshot (numpy columns, one row per trial in id
order) that every picture and table is computed from. :class:`Follower`
opens the study file read-only and, on each :meth:`Follower.refresh`, reads
only the trials that are new or were still running, so a dashboard can
follow a search of 50,000 trials that another process is writing.
"""

from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core import FINISHED, TrialStatus
from ..study import Storage, TrialRecord

# the cost metrics trials record; each gets a trade-off picture when a study has it
COSTS = {"params": "parameters", "latency_ms": "latency (ms)", "flops": "FLOPs"}
TOP_CURVES = 5  # learning curves drawn: of the best trials,
PRUNED_CURVES = 10  # and of the latest pruned ones


@dataclass
class StudyView:
    """Everything drawn about one study, computed from its stored trials."""

    path: str
    meta: dict[str, Any]
    records: list[TrialRecord]
    loaded_at: float = field(default_factory=time.time)

    def __post_init__(self):
        recs = self.records
        self.ids = np.array([t.id for t in recs], dtype=np.int64)
        self.status = np.array([str(t.status) for t in recs], dtype=object)
        self.objective = np.array([np.nan if t.objective is None else t.objective for t in recs], dtype=float)
        self.accuracy = self.metric("val_accuracy")
        self.finished_at = np.array([np.nan if t.finished_at is None else t.finished_at for t in recs], dtype=float)
        self.duration = np.array([t.duration_s or 0.0 for t in recs], dtype=float)

    # -- what the study is -------------------------------------------------------------
    @property
    def spec(self) -> dict[str, Any]:
        return self.meta.get("spec") or {}

    @property
    def simulated_time(self) -> bool:
        """A tabular-benchmark study counts simulated training seconds; any other, the wall clock."""
        return self.spec.get("benchmark") is not None

    def metric(self, name: str) -> np.ndarray:
        """One recorded metric of every trial (NaN where a trial lacks it); computed once per view."""
        if "_metrics" not in self.__dict__:  # every metric in one pass over the trials
            columns: dict[str, np.ndarray] = {}
            for i, t in enumerate(self.records):
                for key, value in t.metrics.items():
                    if isinstance(value, (int, float)) and math.isfinite(value):
                        if key not in columns:
                            columns[key] = np.full(len(self.records), np.nan)
                        columns[key][i] = value
            self._metrics = columns
        return self._metrics.get(name, np.full(len(self.records), np.nan))

    def counts(self) -> dict[str, int]:
        return {str(s): int(np.sum(self.status == s)) for s in TrialStatus}

    @property
    def scored(self) -> np.ndarray:
        """Rows of successful trials with an objective (what 'best' is chosen among)."""
        return np.flatnonzero((self.status == TrialStatus.OK) & np.isfinite(self.objective))

    def best_rows(self, k: int) -> list[int]:
        """The ``k`` best rows by objective (ties: the earlier trial), as `nasforge show` orders them."""
        rows = self.scored
        order = np.lexsort((self.ids[rows], -self.objective[rows]))
        return [int(r) for r in rows[order[:k]]]

    def finished_order(self) -> np.ndarray:
        """Rows of finished trials in the order they finished (ties by id)."""
        done = np.flatnonzero(np.isin(self.status, [str(s) for s in FINISHED]) & np.isfinite(self.finished_at))
        return done[np.lexsort((self.ids[done], self.finished_at[done]))]

    def search_seconds(self, rows: np.ndarray) -> np.ndarray:
        """When each of ``rows`` (finished order) finished, in seconds of search: simulated training
        seconds summed in finishing order on a benchmark, else wall-clock seconds since the first trial began."""
        if self.simulated_time:
            return np.cumsum(self.duration[rows])
        start = min((t.started_at for t in self.records), default=0.0)
        return self.finished_at[rows] - start


class Follower:
    """Keeps a :class:`StudyView` of the study at ``path`` current, reading it read-only.

    The first :meth:`refresh` reads every trial; later ones read the trials added
    since, and re-read those that were running. A missing, foreign or corrupted
    file is not an exception here: :attr:`problem` says what is wrong, and the
    next refresh tries again (the file may appear once a search starts).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.storage: Storage | None = None
        self.records: dict[int, TrialRecord] = {}
        self.meta: dict[str, Any] = {}
        self.problem: str | None = None
        self.version = 0  # grows whenever what is shown changes
        self._curves: set[int] = set()  # trials read with their curve
        self.view: StudyView | None = None

    def refresh(self) -> bool:
        """Read what changed; True when the view changed (or the problem did)."""
        from ..core import NasforgeError

        try:
            changed = self._read()
        except NasforgeError as exc:
            self._forget()
            changed = self.problem != str(exc)
            self.problem = str(exc).splitlines()[0]
        except Exception as exc:  # noqa: BLE001 - a reader shows any failure as text and keeps running
            self._forget()
            changed = True
            self.problem = f"could not read {str(self.path)!r}: {type(exc).__name__}: {exc}"
        if changed:
            self.version += 1
            self.view = None if self.problem else StudyView(str(self.path), dict(self.meta),
                                                            list(self.records.values()))
        return changed

    def _forget(self) -> None:
        if self.storage is not None:
            self.storage.close()
        self.storage, self.records, self.meta, self._curves = None, {}, {}, set()

    def _read(self) -> bool:
        first = self.storage is None
        if first:
            self.storage = Storage.open(self.path, read_only=True)
            self.problem = None
        storage = self.storage
        meta = storage.meta()
        if "spec" not in meta:
            raise _not_a_search(self.path)
        unfinished = [i for i, t in self.records.items() if t.status == TrialStatus.RUNNING]
        last = max(self.records, default=0)
        new = storage.trials(after_id=last, curves=False)
        updated = [t for t in map(storage.trial, unfinished) if t.status != TrialStatus.RUNNING]
        changed = first or bool(new) or bool(updated) or _meta_changed(self.meta, meta)
        for t in (*updated, *new):
            self.records[t.id] = t
            self._curves.discard(t.id)
        for trial_id in self._shown_curves() - self._curves:  # the few curves a view draws
            self.records[trial_id] = storage.trial(trial_id)
            self._curves.add(trial_id)
        self.meta = meta
        return changed

    def _shown_curves(self) -> set[int]:
        """Trials whose learning curves are drawn: the best (as StudyView.best_rows orders them) and the
        latest pruned."""
        ok = [t for t in self.records.values() if t.status == TrialStatus.OK and t.objective is not None
              and math.isfinite(t.objective)]
        best = heapq.nlargest(TOP_CURVES, ok, key=lambda t: (t.objective, -t.id))
        pruned = [i for i, t in self.records.items() if t.status == TrialStatus.PRUNED][-PRUNED_CURVES:]
        return {t.id for t in best} | set(pruned)

    def close(self) -> None:
        self._forget()


def _meta_changed(old: dict, new: dict) -> bool:
    """Whether the parts of the study's settings that are shown changed (not the strategy's state)."""
    keys = ("spec", "spec_history", "elapsed_s")
    return any(old.get(k) != new.get(k) for k in keys)


def _not_a_search(path: Path):
    from ..core import StudyError

    return StudyError(f"{str(path)!r} has no search specification; it was not written by `nasforge search`")


def load(path: str | Path) -> StudyView:
    """A snapshot of the study at ``path``, read read-only; raises StudyError if it cannot be read."""
    from ..core import StudyError

    follower = Follower(path)
    follower.refresh()
    follower.close()
    if follower.problem:
        raise StudyError(follower.problem)
    return follower.view
