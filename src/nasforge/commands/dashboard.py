"""``nasforge dashboard``: serve a study's views live on a local web server."""

from __future__ import annotations


def _port(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number 0-65535, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0-65535, got {text!r}")
    return value


def add_parser(sub) -> None:
    p = sub.add_parser("dashboard", help="serve a live dashboard of a study (read-only) in the browser",
                       description="Serve the report's views of a study on a local web server, refreshed while "
                                   "a search writes the study in another process. The study is opened read-only "
                                   "and never locks the search out.")
    p.add_argument("--study", default="runs/study.db", help="SQLite study file (default: runs/study.db)")
    p.add_argument("--host", default="127.0.0.1",
                   help="interface to listen on (default 127.0.0.1: this machine only; 0.0.0.0: every interface)")
    p.add_argument("--port", type=_port, default=8050, help="port (default 8050; 0 picks a free one)")
    p.add_argument("--interval", type=float, default=1.0, metavar="SECONDS",
                   help="how often to look for new trials (default 1)")


def run(args, console) -> int:
    from ..core import check_float
    from ..report import Dashboard, make_server, url_of

    check_float(None, "interval", args.interval, 0.05, 3600.0, kind="option", want="between 0.05 and 3600 seconds")
    server = make_server(Dashboard(args.study, args.interval), args.host, args.port)
    dashboard = server.RequestHandlerClass.dashboard.start(timeout=120)
    if dashboard.views and 'id="problem"' in dashboard.views:
        console.print(f"Warning: the study {args.study!r} cannot be read yet; the page says why and "
                      "retries.", markup=False)
    console.print(f"Dashboard of {args.study} at {url_of(server)} (Ctrl-C to stop)", markup=False)
    console.file.flush()  # the address must show now, not when the server stops
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        console.print("Stopped.")
    finally:
        server.server_close()
        dashboard.stop()
    return 0
