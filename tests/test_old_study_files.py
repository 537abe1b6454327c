"""Study files written by earlier nasforge versions open, show and resume unchanged.

``assets/study-0.1.0.db`` was written by nasforge 0.1.0 (commit 6d98287, before the core
layer existed) with: ``nasforge search --space macro-cnn --dataset digits --strategy
evolution --trials 3 --epochs 1 --subset 0.3 --seed 0``.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from nasforge.api import SearchSpec, open_study
from nasforge.core import TrialStatus
from nasforge.study import Storage

ASSET = Path(__file__).parent / "assets" / "study-0.1.0.db"
SPEC = SearchSpec(space="macro-cnn", dataset="digits", strategy="evolution", seed=0, epochs=1, subset=0.3)


def stored_rows(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT id, number, status, arch, metrics, objective FROM trials ORDER BY id").fetchall()


def test_old_study_opens_with_its_statuses_and_trials():
    storage = Storage.open(ASSET)
    trials = storage.trials()
    assert [t.status for t in trials] == [TrialStatus.OK] * 3
    assert all(t.status == "ok" for t in trials)  # the stored words are still the enum's values
    assert storage.best().objective == max(t.objective for t in trials)
    storage.close()


def test_old_study_resumes_where_it_stopped(tmp_path):
    path = tmp_path / "old.db"
    shutil.copy(ASSET, path)
    before = stored_rows(path)
    study = open_study(path, SPEC)
    study.optimize(n_trials=5)
    after = stored_rows(path)
    assert after[:3] == before  # the old trials are untouched
    assert [row[1] for row in after] == [0, 1, 2, 3, 4]
    assert [row[2] for row in after[3:]] == ["ok", "ok"]
    assert len({row[3] for row in after}) == 5  # the resumed strategy did not repeat an architecture
