"""How long `nasforge report` and the dashboard's first paint take on studies of 1k, 10k and 50k trials.

    nice -n 10 python3 benchmarks/report_timing.py            # 1k, 10k, 50k trials
    nice -n 10 python3 benchmarks/report_timing.py --sizes 1000 --no-browser

For each size it writes a synthetic NB201 study (random cells; accuracy,
params, FLOPs, latency, 12-epoch curves; 2% failed with a traceback, 5%
pruned) and measures, each in a fresh process:

* report: `nasforge report` from start to exit (the PNGs and drawings included);
* dashboard start: `nasforge dashboard` from start until it answers (it reads
  and renders the whole study before it serves);
* first paint: a headless Chromium (Debian's, driven by Selenium) loads the
  page of a running dashboard, from navigation start to the load event
  (``performance.timing``), and to the first contentful paint
  (``performance.getEntriesByType('paint')``), median of 3 loads;
* server response: the time to fetch ``/`` and ``/views`` with urllib.

The reference in the same run is the same measurement at the smallest size:
the table shows how each cost grows with the study. Target: first paint under
2 s at 50,000 trials. Results: docs/results/report.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
EDGES = ["0->1", "0->2", "0->3", "1->2", "1->3", "2->3"]
TRACEBACK = ("Traceback (most recent call last):\n  File \"trainer.py\", line 120, in train\n    loss.backward()\n"
             "RuntimeError: CUDA out of memory (synthetic failure)")


def make_study(path: Path, n: int, seed: int = 0) -> Path:
    """A synthetic NB201 study of ``n`` finished trials, written in one transaction (the documented schema)."""
    from nasforge.api import SearchSpec
    from nasforge.study import Storage

    rng = np.random.default_rng(seed)
    spec = SearchSpec(space="nb201", dataset="synthetic", strategy="random", epochs=12).to_dict()
    storage = Storage.create(path, {"spec": spec, "nasforge_version": "bench"})
    weights = {"none": -0.08, "skip_connect": 0.0, "nor_conv_1x1": 0.04, "nor_conv_3x3": 0.08, "avg_pool_3x3": 0.01}
    t0, rows = 1.7e9, []
    for i in range(n):
        ops = rng.choice(OPS, size=len(EDGES))
        arch = json.dumps({"space": "nb201", "decisions": dict(zip(EDGES, ops.tolist()))}, sort_keys=True,
                          separators=(",", ":"))
        convs = sum(o.startswith("nor_conv") for o in ops)
        acc = float(np.clip(0.6 + sum(weights[o] for o in ops) + rng.normal(0, 0.03), 0.05, 0.99))
        status = "failed" if rng.random() < 0.02 else ("pruned" if rng.random() < 0.05 else "ok")
        epochs = 12 if status == "ok" else 4
        curve = [{"epoch": e + 1, "val_accuracy": round(acc * (1 - np.exp(-(e + 1) / 3)), 4)} for e in range(epochs)]
        metrics = {"val_accuracy": round(curve[-1]["val_accuracy"], 4), "params": 20000 + 15000 * convs,
                   "flops": 400000 + 350000 * convs + int(rng.integers(0, 5000)),
                   "latency_ms": round(0.3 + 0.1 * convs + rng.random() * 0.05, 4)}
        if status == "failed":
            metrics, curve = {}, []
        duration = float(rng.uniform(0.5, 2.0))
        rows.append((i + 1, i, status, arch, json.dumps({"epochs": epochs, "subset": 1.0, "width_multiplier": 1.0}),
                     i, "{}", json.dumps(metrics), json.dumps(curve),
                     metrics.get("val_accuracy") if status == "ok" else None,
                     TRACEBACK if status == "failed" else None, t0 + i * 2.0, t0 + i * 2.0 + duration, duration))
    with storage.conn:
        storage.conn.execute("BEGIN IMMEDIATE")
        storage.conn.executemany(
            "INSERT INTO trials (id, number, status, arch, fidelity, seed, request_meta, metrics, curve, objective, "
            "error, started_at, finished_at, duration_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        storage.conn.execute("INSERT OR REPLACE INTO nasforge_meta (key, value) VALUES ('elapsed_s', ?)",
                             (json.dumps(n * 2.0),))
    storage.close()
    return path


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}


def time_report(study: Path, out: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "nasforge.cli", "report", "--study", str(study), "--out", str(out)],
                   check=True, capture_output=True, env=_env())
    return time.perf_counter() - start


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_dashboard(study: Path) -> tuple[subprocess.Popen, str, float]:
    """A dashboard process, its URL, and the seconds it took to answer its first request."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "nasforge.cli", "dashboard", "--study", str(study), "--port",
                             str(port)], env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            urllib.request.urlopen(url, timeout=5).read()
            return proc, url, time.perf_counter() - start
        except OSError:
            if proc.poll() is not None or time.perf_counter() - start > 300:
                raise RuntimeError("the dashboard did not start")
            time.sleep(0.1)


def time_fetch(url: str, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        urllib.request.urlopen(url, timeout=30).read()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1300,1000"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)


def time_first_paint(driver, url: str, repeats: int = 3) -> tuple[float, float]:
    """Median (load event, first contentful paint) seconds of ``repeats`` fresh loads of ``url``."""
    loads, paints = [], []
    for _ in range(repeats):
        driver.get("about:blank")
        driver.get(url)  # returns after the load event
        t = driver.execute_script(
            "const t = performance.timing; const p = performance.getEntriesByType('paint')"
            ".find(e => e.name === 'first-contentful-paint');"
            "return [t.loadEventEnd - t.navigationStart, p ? p.startTime : null];")
        loads.append(t[0] / 1000)
        paints.append((t[1] or float("nan")) / 1000)
    return statistics.median(loads), statistics.median(paints)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 50_000])
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium first-paint measurement")
    args = parser.parse_args()
    driver = None if args.no_browser else browser()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            study = make_study(Path(tmp) / f"s{n}.db", n)
            mb = study.stat().st_size / 1e6
            report_s = time_report(study, Path(tmp) / f"r{n}")
            proc, url, start_s = start_dashboard(study)
            try:
                page_s, views_s = time_fetch(url), time_fetch(url + "views?since=-1")
                load_s, paint_s = time_first_paint(driver, url) if driver else (float("nan"), float("nan"))
                page_kb = len(urllib.request.urlopen(url).read()) / 1e3
            finally:
                proc.terminate()
                proc.wait()
            rows.append((n, mb, report_s, start_s, page_s, views_s, load_s, paint_s, page_kb))
            print(f"done {n} trials", flush=True)
    if driver:
        driver.quit()
    print("\n| trials | study MB | report s | dashboard start s | GET / s | GET /views s | page load s (Chromium) "
          "| first contentful paint s | page kB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r[0]:,} | {r[1]:.1f} | {r[2]:.1f} | {r[3]:.1f} | {r[4]:.3f} | {r[5]:.3f} | {r[6]:.2f} | "
              f"{r[7]:.2f} | {r[8]:.0f} |")
    base = rows[0]
    for r in rows[1:]:
        print(f"{r[0]:,} vs {base[0]:,} trials: report x{r[2] / base[2]:.1f}, dashboard start x{r[3] / base[3]:.1f}, "
              f"page load x{r[6] / base[6]:.1f}")


if __name__ == "__main__":
    main()
