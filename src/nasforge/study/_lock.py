"""One writer per study: an exclusive advisory lock on the study file.

The lock is ``flock`` on the study file itself, held for as long as a
process writes the study. The kernel releases it when that process ends,
however it ends (SIGKILL included), so a killed study never leaves a stale
lock behind and a rerun of the same command resumes at once. Readers
(`nasforge show`, reports, merges) never take it. Who holds the lock is
written into the study (``meta["writer"]``) so a refused process can name it.
"""

from __future__ import annotations

import datetime
import fcntl
import os
import socket
import sys
from pathlib import Path
from typing import Any


class WriterLock:
    """An exclusive lock on one study file, held through an open file descriptor.

    Within one process the lock is shared: opening the same study again (a
    notebook re-running a cell, a test reopening a file) is the same writer,
    not a second one, so it gets the lock too, and the file is released when
    its last holder releases it.
    """

    _held: dict[tuple[int, int], list] = {}  # (device, inode) -> [descriptor, holders] in this process

    def __init__(self, key: tuple[int, int]):
        self._key = key

    @classmethod
    def try_acquire(cls, path: Path) -> WriterLock | None:
        """The lock, or None when another process holds it."""
        fd = os.open(path, os.O_RDONLY)  # not inherited by child processes (PEP 446)
        st = os.fstat(fd)
        key = (st.st_dev, st.st_ino)
        if key in cls._held:
            os.close(fd)
            cls._held[key][1] += 1
            return cls(key)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        cls._held[key] = [fd, 1]
        return cls(key)

    def release(self) -> None:
        if self._key is None:
            return
        entry = self._held[self._key]
        entry[1] -= 1
        if entry[1] == 0:
            os.close(entry[0])  # closing the descriptor releases the flock
            del self._held[self._key]
        self._key = None


def this_process() -> dict[str, Any]:
    """What a refused process is told about the writer: pid, host, command line, start time."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv)[:200],
            "since": datetime.datetime.now().isoformat(timespec="seconds")}


def describe_writer(writer: dict[str, Any] | None) -> str:
    if not writer:
        return "another process"
    command = os.path.basename(writer.get("command", "").split(" ")[0]) + " " + \
        " ".join(writer.get("command", "").split(" ")[1:])
    return (f"process {writer.get('pid')} on {writer.get('host')} (`{command.strip()}`, "
            f"since {writer.get('since')})")
