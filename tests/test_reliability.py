"""What nasforge guarantees about a study file (docs/reliability.md), tried with real processes:
one writer at a time, nothing duplicated by concurrent runs or by resuming after a kill,
and read-only or full disks answered in one line with the study untouched."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import run_cli

NB201 = ("search", "--benchmark", "nb201-cifar10", "--strategy", "random", "--quiet")


def cli_command(*args) -> list[str]:
    return [sys.executable, "-m", "nasforge.cli", *map(str, args)]


def rows(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT number, status, arch, seed FROM trials ORDER BY id").fetchall()


def run_together(commands: list[list[str]], timeout: float = 240) -> list[subprocess.CompletedProcess]:
    """Start every command at once and wait for all of them."""
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in commands]
    done = []
    for c, p in zip(commands, procs):
        out, err = p.communicate(timeout=timeout)
        done.append(subprocess.CompletedProcess(c, p.returncode, out, err))
    return done


def assert_one_writer_outcome(results, path: Path, trials: int) -> None:
    """Each process either ran (exit 0) or was refused in one line naming the writer (exit 2);
    the study holds exactly ``trials`` trials, each number and architecture once."""
    for r in results:
        assert r.returncode in (0, 2), r.stderr
        if r.returncode == 2:
            assert "is being written by process" in r.stderr and "Traceback" not in r.stderr, r.stderr
            assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    stored = rows(path)
    assert [n for n, *_ in stored] == list(range(trials))
    assert all(status == "ok" for _, status, *_ in stored)
    assert len({arch for _, _, arch, _ in stored}) == trials
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_eight_processes_creating_one_study_leave_one_writer(tmp_path):
    path = tmp_path / "new.db"
    results = run_together([cli_command(*NB201, "--trials", 6, "--study", path)] * 8)
    assert any(r.returncode == 0 for r in results)
    assert_one_writer_outcome(results, path, 6)


@pytest.mark.slow  # 8 more interpreters; the creators' test above runs by default
def test_eight_processes_resuming_one_study_add_exactly_the_requested_trials(tmp_path):
    path = tmp_path / "old.db"
    assert run_cli(*NB201, "--trials", 3, "--study", path).returncode == 0
    results = run_together([cli_command(*NB201, "--trials", 9, "--study", path)] * 8)
    assert_one_writer_outcome(results, path, 9)


def test_a_second_writer_is_refused_while_the_first_runs_and_admitted_after_it_is_killed(tmp_path):
    from nasforge.core import StudyBusyError
    from nasforge.study import Storage

    path = tmp_path / "held.db"
    Storage.create(path, {"spec": {}}).close()
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from nasforge.study import Storage\n"
        f"s = Storage.open({str(path)!r}); s.set_meta({{'x': 1}}); print('holding', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        other = Storage.open(path)
        assert other.meta()["x"] == 1  # reading is always allowed
        with pytest.raises(StudyBusyError, match=rf"being written by process {holder.pid} on "):
            other.set_meta({"x": 2})
        holder.send_signal(signal.SIGKILL)  # the kernel releases the lock with the process
        holder.wait(10)
        other.set_meta({"x": 2})
        assert other.meta()["x"] == 2
        other.close()
    finally:
        holder.kill()


def test_the_same_process_reopening_its_study_is_the_same_writer(tmp_path):
    from nasforge.study import Storage

    path = tmp_path / "twice.db"
    first = Storage.create(path, {"spec": {}})
    second = Storage.open(path)
    second.set_meta({"a": 1})
    first.set_meta({"b": 2})
    assert {"a", "b"} <= set(second.meta())
    first.close()
    second.close()


SEARCH_WORKERS = ("search", "--space", "macro-cnn", "--dataset", "digits", "--strategy", "evolution",
                  "--epochs", "1", "--subset", "0.2", "--workers", "2", "--seed", "1")


def kill_while_running(command: list[str], path: Path, running: int = 2, timeout: float = 180) -> bool:
    """Start ``command`` in its own process group and SIGKILL the group once ``running`` of its
    trials run at the same time; False if it finished first."""
    started = time.time()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if path.exists():
                try:
                    with sqlite3.connect(path, timeout=1) as conn:
                        n = conn.execute("SELECT COUNT(*) FROM trials WHERE status='running' AND started_at > ?",
                                         (started,)).fetchone()[0]
                except sqlite3.Error:
                    n = 0
                if n >= running:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(30)
                    return True
            time.sleep(0.05)
        return False
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)


@pytest.mark.slow  # ~2 min: three SIGKILLs of a real --workers 2 study and a resume
def test_a_killed_parallel_study_resumes_without_running_an_architecture_twice(tmp_path):
    path = tmp_path / "p.db"
    command = cli_command(*SEARCH_WORKERS, "--trials", 8, "--study", path)
    kills = sum(kill_while_running(command, path) for _ in range(3))
    assert kills >= 1
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    stored = rows(path)
    done = [(n, arch, seed) for n, status, arch, seed in stored if status == "ok"]
    interrupted = [(n, arch, seed) for n, status, arch, seed in stored if status == "interrupted"]
    assert len(interrupted) >= 2 * kills
    assert sorted(n for n, _, _ in done) == list(range(8))  # every number once
    assert len({arch for _, arch, _ in done}) == 8  # no architecture trained twice
    assert {(n, arch, seed) for n, arch, seed in interrupted} <= set(done)  # each was run again as itself


needs_dropped_privileges = pytest.mark.skipif(
    os.geteuid() == 0 and shutil.which("setpriv") is None,
    reason="as root, read-only files need setpriv (util-linux) to drop the override capabilities")


def without_overrides(command: list[str]) -> list[str]:
    """Run ``command`` so file permissions apply to it even as root (root ignores them otherwise)."""
    if os.geteuid() != 0:
        return command
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]


@needs_dropped_privileges
def test_read_only_studies_are_shown_but_never_changed(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "s.db"
    assert run_cli(*NB201, "--trials", 3, "--study", path).returncode == 0
    before = path.read_bytes()
    try:
        path.chmod(0o444)
        search = subprocess.run(without_overrides(cli_command(*NB201, "--trials", 5, "--study", path)),
                                capture_output=True, text=True)
        assert search.returncode == 2 and "is read-only here (the file is not writable)" in search.stderr
        assert len(search.stderr.strip().splitlines()) == 1
        folder.chmod(0o555)  # a read-only file in a read-only folder: still readable, never "corrupted"
        show = subprocess.run(without_overrides(cli_command("show", "--study", path, "--format", "csv")),
                              capture_output=True, text=True)
        assert show.returncode == 0 and len(show.stdout.strip().splitlines()) == 4, show.stderr
        new = subprocess.run(without_overrides(cli_command(*NB201, "--trials", 2, "--study", folder / "new.db")),
                             capture_output=True, text=True)
        assert new.returncode == 2 and "is not writable" in new.stderr and "Traceback" not in new.stderr
        assert not (folder / "new.db").exists()
    finally:
        folder.chmod(0o755)
        path.chmod(0o644)
    assert path.read_bytes() == before


@pytest.fixture
def tiny_disk(tmp_path):
    """A 200 kB file system, to fill up (needs the right to mount a tmpfs)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_stops_the_study_in_one_line_and_it_resumes_after(tiny_disk):
    ballast = tiny_disk / "ballast"
    ballast.write_bytes(b"\0" * (60 << 10))
    path = tiny_disk / "s.db"
    full = run_cli(*NB201, "--trials", 2000, "--study", path)
    assert full.returncode == 2 and "the disk is full. Every trial finished before is stored" in full.stderr
    assert "Traceback" not in full.stderr and len(full.stderr.strip().splitlines()) == 1
    stored = [r for r in rows(path) if r[1] == "ok"]
    in_flight = [r for r in rows(path) if r[1] != "ok"]
    assert stored and len(in_flight) <= 1 and all(r[1] == "running" for r in in_flight)  # its result found no room
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with open(tiny_disk / "filler", "wb", buffering=0) as filler, pytest.raises(OSError):  # not a byte left
        while True:
            filler.write(b"\0" * 1024)
    new = run_cli(*NB201, "--trials", 2, "--study", tiny_disk / "new.db")
    assert new.returncode == 2 and "the disk is full; no file was left behind" in new.stderr
    assert not [p.name for p in tiny_disk.iterdir() if "new.db" in p.name]
    ballast.unlink()  # free space: the same command resumes
    (tiny_disk / "filler").unlink()
    resumed = run_cli(*NB201, "--trials", len(stored) + 2, "--study", path)
    assert resumed.returncode == 0, resumed.stderr
    after = [r for r in rows(path) if r[1] == "ok"]
    assert after[:len(stored)] == stored and len(after) == len(stored) + 2
    assert {r[2] for r in in_flight} <= {r[2] for r in after}  # the trial whose result was lost was run again
