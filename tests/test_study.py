import gc
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nasforge import spaces, strategies
from nasforge.api import SearchSpec, open_study
from nasforge.core import Fidelity, StudyError
from nasforge.study import Storage, Study

from synthetic import MatchTarget

TESTS = Path(__file__).parent


def new_study(path, estimator=None, strategy="evolution", seed=0):
    space = spaces.get("macro-cnn")
    storage = Storage.open(path) if Path(path).exists() else Storage.create(path, {"spec": {}})
    return Study(storage, strategies.get(strategy, space, seed=seed), estimator or MatchTarget(space, noise=0.05),
                 Fidelity(epochs=1), seed)


def finished(study):
    return [(t.number, t.arch, t.objective, t.seed) for t in study.trials if t.status in ("ok", "failed")]


def test_interrupted_study_resumes_exactly(tmp_path):
    reference = new_study(tmp_path / "ref.db")
    reference.optimize(n_trials=20)
    space = spaces.get("macro-cnn")
    path = tmp_path / "int.db"
    for interrupt in ((4,), (3,), (5,)):
        study = new_study(path, MatchTarget(space, noise=0.05, interrupt_at=interrupt))
        with pytest.raises(KeyboardInterrupt):
            study.optimize(n_trials=20)
        study.storage.close()
    resumed = new_study(path)
    resumed.optimize(n_trials=20)
    assert finished(resumed) == finished(reference)
    statuses = [t.status for t in resumed.trials]
    assert statuses.count("interrupted") == 3 and statuses.count("ok") == 20
    assert resumed.best().arch == reference.best().arch


def test_a_study_used_with_with_closes_its_file_when_the_block_ends(tmp_path):
    from nasforge.study._lock import WriterLock

    path = tmp_path / "c.db"
    with new_study(path) as study:
        study.optimize(n_trials=3)
        key = (path.stat().st_dev, path.stat().st_ino)
        assert Path(f"{path}-wal").exists() and key in WriterLock._held  # open: a log beside it, the lock held
    assert not Path(f"{path}-wal").exists() and key not in WriterLock._held
    digest = path.read_bytes()
    gc.collect()  # nothing is left to rewrite the file later
    assert path.read_bytes() == digest
    reopened = Storage.open(path, read_only=True)
    assert len([t for t in reopened.trials() if t.status == "ok"]) == 3
    reopened.close()


def test_failed_trials_are_stored_and_the_study_goes_on(tmp_path):
    study = new_study(tmp_path / "f.db", MatchTarget(spaces.get("macro-cnn"), fail_every=3))
    study.optimize(n_trials=9)
    failed = [t for t in study.trials if t.status == "failed"]
    assert len(failed) == 3 and len(study.trials) == 9
    assert all("injected failure" in t.error and t.objective is None for t in failed)


def test_time_budget_counts_across_runs(tmp_path):
    est = MatchTarget(spaces.get("macro-cnn"), sleep=0.2)
    study = new_study(tmp_path / "t.db", est)
    start = time.monotonic()
    stop = study.optimize(time_budget=1.0)
    assert stop.reason == "time" and time.monotonic() - start < 1.0 + 0.5
    n = study.finished_count()
    assert 3 <= n <= 6
    again = new_study(tmp_path / "t.db", est)
    assert again.optimize(time_budget=1.0).reason == "time" and again.finished_count() == n
    assert again.optimize(time_budget=1.5).reason == "time" and again.finished_count() > n


KILL_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from test_study import new_study
from synthetic import MatchTarget
from nasforge import spaces
study = new_study(sys.argv[1], MatchTarget(spaces.get("macro-cnn"), noise=0.05, sleep=0.03))
study.optimize(n_trials=int(sys.argv[2]))
"""


def _finished_in_file(path):
    if not Path(path).exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute("SELECT COUNT(*) FROM trials WHERE status='ok'").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


@pytest.mark.slow  # over 45 s; run with -m slow (the default suite must stay near 15 min on 2 cores)
def test_sigkill_at_random_moments_loses_and_repeats_nothing(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(KILL_SCRIPT.format(tests=str(TESTS)))
    path, n = tmp_path / "k.db", 200
    rng = np.random.default_rng(0)
    kills = 0
    for _ in range(22):
        before = _finished_in_file(path)
        proc = subprocess.Popen([sys.executable, str(script), str(path), str(n)])
        deadline = time.monotonic() + 60
        while _finished_in_file(path) <= before and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.2))  # then kill anywhere: mid-trial, mid-commit, mid-ask
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    subprocess.run([sys.executable, str(script), str(path), str(n)], check=True)
    assert kills >= 20
    resumed = new_study(path)
    reference = new_study(tmp_path / "ref.db")
    reference.optimize(n_trials=n)
    assert finished(resumed) == finished(reference)
    numbers = [t.number for t in resumed.trials if t.status == "ok"]
    assert numbers == list(range(n))


# -- the study file -----------------------------------------------------------------------

def test_a_file_that_is_not_a_study_is_refused_and_untouched(tmp_path):
    text = tmp_path / "notes.db"
    text.write_text("my precious notes")
    with pytest.raises(StudyError, match="not a nasforge study"):
        Storage.open(text)
    assert text.read_text() == "my precious notes"

    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    before = other.read_bytes()
    with pytest.raises(StudyError, match="SQLite database but not a nasforge study"):
        Storage.open(other)
    assert other.read_bytes() == before

    with pytest.raises(StudyError, match="already exists"):
        Storage.create(text, {})
    with pytest.raises(StudyError, match="does not exist"):
        Storage.open(tmp_path / "missing.db")


def test_corrupted_study_is_reported_and_untouched(tmp_path):
    path = tmp_path / "s.db"
    study = new_study(path)
    study.optimize(n_trials=3)
    study.storage.close()
    data = bytearray(path.read_bytes())
    data[100:len(data)] = os.urandom(len(data) - 100)
    path.write_bytes(bytes(data))
    with pytest.raises(StudyError, match="corrupt|not a nasforge study"):
        Storage.open(path)
    assert path.read_bytes() == bytes(data)


def test_a_new_study_beside_a_moved_studys_write_ahead_log_is_refused(tmp_path):
    """Moving a study file while its process is still writing (or after a kill) leaves its
    ``-wal`` behind; SQLite would replay it into a new file of that name and corrupt it."""
    path = tmp_path / "s.db"
    study = new_study(path)
    study.optimize(n_trials=3)
    wal = path.with_name("s.db-wal")
    assert wal.exists()  # the writer is still open
    path.rename(tmp_path / "moved.db")
    log = wal.read_bytes()
    with pytest.raises(StudyError, match=r"side files do \(s.db-wal"):
        Storage.create(path, {"spec": {}})
    assert wal.read_bytes() == log and not path.exists()
    study.storage.close()


def test_resuming_with_other_settings_is_refused(tmp_path):
    path = tmp_path / "spec.db"
    study = open_study(path, SearchSpec(dataset="digits", strategy="random", epochs=1))
    study.storage.close()
    with pytest.raises(StudyError, match="strategy: study has 'random', this run asks for 'evolution'"):
        open_study(path, SearchSpec(dataset="digits", strategy="evolution", epochs=1))
    assert open_study(path).strategy.name == "random"


def test_a_study_that_only_fails_stops_at_max_failures(tmp_path):
    study = new_study(tmp_path / "m.db", MatchTarget(spaces.get("macro-cnn"), fail_every=1))
    stop = study.optimize(n_trials=50, max_failures=4)
    assert stop.reason == "failures" and "injected failure" in stop.message
    assert study.storage.count(("failed",)) == 4 and len(study.trials) == 4
