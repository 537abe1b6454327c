"""How nasforge runs code in child processes: one process context for every child, a
plain-words exit status, and :class:`Supervised`, a persistent helper process whose
calls survive a crash or hang of the code they run.

No torch here: children import what they need; the fork server preloads it.
"""

from __future__ import annotations

import multiprocessing as mp
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# What every nasforge child needs, imported once by the fork server that forks them all. One
# list for trial workers and helpers alike: the first child started fixes it for the process.
PRELOAD = ["torch", "nasforge.spaces", "nasforge.estimation", "nasforge.study", "nasforge.execution"]


def process_context():
    """Fork-server processes with :data:`PRELOAD` imported where the platform has them (Linux,
    macOS): a child then starts as a fork of a clean, single-threaded server that already
    imported torch, in milliseconds instead of the ~1.5 s of CPU a fresh import costs (8
    workers on 2 cores spent ~7 s starting), and never as a fork of a multi-threaded
    process. Spawn elsewhere."""
    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def describe_exit(code: int | None) -> str:
    """A process's exit code in words: "killed by signal SIGSEGV", "exit code 3"."""
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


@dataclass
class Outcome:
    """What one call of a :class:`Supervised` helper gave: the ``parts`` it streamed, then its
    return ``value``, or ``failure`` (how the helper stopped: a signal, an exit, a timeout)."""

    parts: list = field(default_factory=list)
    value: Any = None
    failure: str | None = None
    timed_out: bool = False


class CannotLoad(Exception):
    """The helper process could not set itself up (e.g. the function cannot be unpickled there)."""


def _serve(conn, make: Callable, payload: Any) -> None:
    """The helper's loop: ``handler = make(payload)``, then answer each request with
    ``handler(request, emit)``, where ``emit(part)`` streams a part before the answer."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    try:
        handler = make(payload)
    except Exception as exc:
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", None))

    def emit(part):
        conn.send(("part", part))

    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):  # the parent went away
            return
        try:
            conn.send(("done", handler(request, emit)))
        except Exception as exc:  # a nasforge error the caller re-raises
            conn.send(("raised", exc))


class Supervised:
    """A persistent child process that answers calls of ``make(payload)``'s handler.

    A call that crashes the child (segfault, ``os._exit``) or runs past ``timeout``
    seconds ends with an :class:`Outcome` saying so, keeping the parts streamed before;
    the child is then replaced on the next call. The child starts on the first call and
    gets ``start_timeout`` seconds to be ready (the fork server's first start imports
    torch). A handler's exception is re-raised here.
    """

    def __init__(self, make: Callable, payload: Any, timeout: float, start_timeout: float = 120.0):
        self.make, self.payload = make, payload
        self.timeout, self.start_timeout = timeout, start_timeout
        self._proc = self._conn = None

    def call(self, request: Any) -> Outcome:
        """Run one request; raise :class:`CannotLoad` if the child cannot start."""
        if self._proc is not None and not self._proc.is_alive():  # died while idle
            self.close()
        if self._proc is None:
            self._start()
        try:
            self._conn.send(request)
            return self._answer()
        except (KeyboardInterrupt, SystemExit):  # a call cut short: its answer must not be read as the next one's
            self.close(kill=True)
            raise

    def _answer(self) -> Outcome:
        out = Outcome()
        deadline = time.monotonic() + self.timeout
        while True:
            kind, value = self._receive(self.timeout, deadline)
            if kind == "part":
                out.parts.append(value)
            elif kind == "done":
                out.value = value
                return out
            elif kind == "raised":
                raise value
            else:
                out.failure, out.timed_out = value, kind == "timeout"
                return out

    def _start(self) -> None:
        """Start the child and wait until it is ready. One that fails, dies or hangs on the way
        is a setup problem (say, a main module without an ``if __name__ == "__main__"`` guard):
        :class:`CannotLoad`."""
        ctx = process_context()
        conn, child = ctx.Pipe()
        proc = ctx.Process(target=_serve, args=(child, self.make, self.payload), daemon=True)
        try:
            proc.start()
        finally:
            child.close()
        self._proc, self._conn = proc, conn
        kind, value = self._receive(self.start_timeout)
        if kind != "ready":
            self.close(kill=True)
            raise CannotLoad(value if kind == "failed" else f"it did not start: {value}; a script that uses "
                             "nasforge needs an `if __name__ == \"__main__\":` guard")

    def _receive(self, limit: float, deadline: float | None = None) -> tuple[str, Any]:
        """The child's next message before ``deadline`` (default: ``limit`` seconds from now), or
        ("died" | "timeout", why), after which the child is gone."""
        deadline = time.monotonic() + limit if deadline is None else deadline
        if self._conn.poll(max(0.0, deadline - time.monotonic())):
            try:
                return self._conn.recv()
            except (EOFError, OSError):
                pass
            return "died", describe_exit(self.close())
        self.close(kill=True)
        return "timeout", f"ran past its {limit:g}s limit and was stopped"

    def close(self, kill: bool = False) -> int | None:
        """Stop the child (killed if ``kill`` or if it does not stop by itself); its exit code."""
        proc, conn = self._proc, self._conn
        self._proc = self._conn = None
        if proc is None:
            return None
        if kill:
            proc.kill()
        conn.close()  # a waiting child sees the end of its input and exits
        proc.join(1.0)
        if proc.is_alive():
            proc.kill()
            proc.join(5)
        return proc.exitcode
