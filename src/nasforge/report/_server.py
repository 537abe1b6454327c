"""``nasforge dashboard``: the report's views served live from a study another process may be writing.

One background thread follows the study (read-only, new trials only; see
``_view.Follower``) and renders the page whenever it changes; requests are
answered from that rendered copy, so a page costs the same at 50,000 trials
as at 50. The page asks ``/views`` every few seconds and swaps in the new
views when the study changed. Standard library only (``http.server``).
"""

from __future__ import annotations

import datetime
import json
import threading
import time
from html import escape
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from ..core import UserInputError
from ._page import Architectures, page, problem_section, sections
from ._view import Follower

POLL_S = 2.0  # how often the page asks for new views

SCRIPT = """<script>
let version = %d;
async function poll() {
  try {
    const reply = await fetch('/views?since=' + version, {cache: 'no-store'});
    const doc = await reply.json();
    if (doc.html !== undefined) {
      document.getElementById('views').innerHTML = doc.html;
      version = doc.version;
      document.body.dataset.version = version;
    }
    document.getElementById('status').textContent = doc.status;
  } catch (e) {
    document.getElementById('status').textContent = 'the dashboard server does not answer; retrying';
  }
  setTimeout(poll, %d);
}
document.body.dataset.version = version;
setTimeout(poll, %d);
</script>"""


class Dashboard:
    """Follows the study at ``path`` every ``interval`` seconds and keeps its rendered views."""

    def __init__(self, path: str | Path, interval: float = 1.0):
        self.path = str(path)
        self.interval = interval
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._stop = threading.Event()
        self.version, self.views, self.trials, self.updated = 0, "", 0, 0.0
        self._thread = threading.Thread(target=self._follow, name="nasforge-dashboard", daemon=True)

    def start(self, timeout: float | None = None) -> Dashboard:
        """Begin following; returns once the first views are rendered (or ``timeout`` passed)."""
        self._thread.start()
        self._ready.wait(timeout)
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def snapshot(self) -> tuple[int, str, str]:
        """The current (version, views HTML, status line)."""
        with self._lock:
            return self.version, self.views, self._status()

    def _status(self) -> str:
        when = datetime.datetime.fromtimestamp(self.updated).strftime("%H:%M:%S") if self.updated else "–"
        return (f"{self.path} · live · {self.trials:,} trials · last change seen {when} · "
                f"checked every {self.interval:g} s")

    def _follow(self) -> None:
        # the follower's SQLite connection belongs to this thread: it is made and used only here
        follower = Follower(self.path)
        archs = None
        try:
            while not self._stop.is_set():
                started = time.perf_counter()
                if follower.refresh():
                    if follower.view is not None and (archs is None or archs.spec != follower.view.spec):
                        archs = Architectures(follower.view.spec)
                    self._render(follower, archs)
                self._ready.set()
                # a big study that changes all the time would keep a core busy re-rendering: rest at
                # least twice as long as the last refresh took, so following costs at most a third of a core
                self._stop.wait(max(self.interval, 2 * (time.perf_counter() - started)))
        finally:
            follower.close()

    def _render(self, follower: Follower, archs) -> None:
        if follower.view is None:
            views, trials = problem_section(self.path, follower.problem or "unknown problem"), 0
        else:
            try:
                views, trials = sections(follower.view, archs), len(follower.view.records)
            except Exception as exc:  # noqa: BLE001 - a page saying what broke beats a dead dashboard
                views = problem_section(self.path, f"the views could not be drawn: {type(exc).__name__}: {exc}")
                trials = len(follower.view.records)
        with self._lock:
            self.version += 1
            self.views, self.trials, self.updated = views, trials, time.time()


class _Handler(BaseHTTPRequestHandler):
    dashboard: Dashboard  # set on the class made for each server
    server_version = "nasforge-dashboard"

    def do_GET(self):  # noqa: N802 - http.server's name
        try:
            url = urlparse(self.path)
            if url.path in ("/", "/index.html"):
                version, views, status = self.dashboard.snapshot()
                html = page(f"nasforge dashboard: {Path(self.dashboard.path).name}", views,
                            SCRIPT % (version, POLL_S * 1000, POLL_S * 1000), escape(status))
                self._send(HTTPStatus.OK, "text/html; charset=utf-8", html)
            elif url.path == "/views":
                since = parse_qs(url.query).get("since", ["-1"])[0]
                version, views, status = self.dashboard.snapshot()
                doc = {"version": version, "status": status}
                if since != str(version):
                    doc["html"] = views
                self._send(HTTPStatus.OK, "application/json", json.dumps(doc))
            elif url.path == "/favicon.ico":
                self._send(HTTPStatus.NO_CONTENT, "text/plain", "")
            else:
                self._send(HTTPStatus.NOT_FOUND, "text/html; charset=utf-8",
                           page("Not found", f'<section><p>No page {escape(url.path)} here; the dashboard is at '
                                             '<a href="/">/</a>.</p></section>'))
        except (BrokenPipeError, ConnectionResetError):  # the browser went away mid-answer
            pass

    def _send(self, status: HTTPStatus, kind: str, body: str) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # noqa: A002 - requests are not worth a line each
        pass


def make_server(dashboard: Dashboard, host: str = "127.0.0.1", port: int = 8050) -> ThreadingHTTPServer:
    """A server of ``dashboard`` bound to ``host:port`` (port 0: any free port); not yet serving."""
    handler = type("Handler", (_Handler,), {"dashboard": dashboard})
    try:
        server = ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise UserInputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --port "
                             "(or --host)") from None
    server.daemon_threads = True
    return server


def url_of(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/"
