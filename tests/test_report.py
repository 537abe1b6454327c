"""nasforge.report: the numbers behind the pictures, the read-only following of a study, the HTML
report (every space, tabular benchmarks, failures) and the dashboard's HTTP answers. The same
views in a real browser: test_dashboard_browser.py."""

import json
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest
from conftest import EXAMPLES, run_cli

from nasforge import spaces
from nasforge.core import StudyError, TrialStatus
from nasforge.report import (Dashboard, Follower, decision_importance, load, make_server, pareto_front_2d, url_of,
                             write_report)
from nasforge.report import _analysis as an
from nasforge.report import _figures as fg
from nasforge.report import _page, _svg
from nasforge.study import Storage

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SPEC = {"space": "nb201", "dataset": "synthetic", "strategy": "random", "seed": 0, "epochs": 3, "space_options": {}}


def add_trial(storage, arch, status=TrialStatus.OK, acc=0.5, params=1000, error=None, curve=None):
    """One finished trial written through the public storage API, as a study writes it."""
    number = storage.next_number()
    trial_id = storage.start_trial(number, arch, {"epochs": 3}, number, {})
    if status == TrialStatus.RUNNING:
        return trial_id
    metrics = {} if status == TrialStatus.FAILED else {"val_accuracy": acc, "params": params, "flops": 10 * params,
                                                       "latency_ms": params / 1e4}
    curve = curve if curve is not None else ([] if status == TrialStatus.FAILED else
                                             [{"epoch": e, "val_accuracy": acc * e / 3} for e in (1, 2, 3)])
    storage.finish_trial(trial_id, status, metrics, curve, acc if status == TrialStatus.OK else None, error, 1.5,
                         {"elapsed_s": 1.5 * trial_id})
    return trial_id


def make_study(path, space_name="nb201", n=12, seed=0, spec=None, **space_options):
    space = spaces.get(space_name, **space_options)
    rng = np.random.default_rng(seed)
    storage = Storage.create(path, {"spec": {**SPEC, "space": space_name, "space_options": space_options,
                                             **(spec or {})}})
    for i in range(n):
        add_trial(storage, space.sample(rng), acc=float(rng.uniform(0.3, 0.9)), params=int(rng.integers(1e3, 1e6)))
    return storage


# -- the numbers ----------------------------------------------------------------------------

def brute_front(gain, cost):
    ids = []
    for i in range(len(gain)):
        if not (np.isfinite(gain[i]) and np.isfinite(cost[i])):
            continue
        dominated = any(np.isfinite(gain[j]) and np.isfinite(cost[j]) and gain[j] >= gain[i] and cost[j] <= cost[i]
                        and (gain[j] > gain[i] or cost[j] < cost[i] or j < i) for j in range(len(gain)) if j != i)
        if not dominated:
            ids.append(i)
    return sorted(ids, key=lambda i: cost[i])


@pytest.mark.parametrize("seed", range(5))
def test_the_pareto_front_is_the_set_of_non_dominated_points(seed):
    rng = np.random.default_rng(seed)
    gain, cost = rng.integers(0, 8, 60).astype(float), rng.integers(0, 8, 60).astype(float)  # many ties
    gain[3], cost[7] = np.nan, np.nan
    assert pareto_front_2d(gain, cost).tolist() == brute_front(gain, cost)


def test_best_so_far_and_its_improvements_skip_missing_values():
    y = np.array([np.nan, 0.2, 0.1, 0.5, np.nan, 0.5, 0.7])
    np.testing.assert_allclose(an.best_so_far(y), [np.nan, 0.2, 0.2, 0.5, 0.5, 0.5, 0.7])
    assert an.improvements(y).tolist() == [1, 3, 6]


def test_a_decision_that_decides_the_objective_outranks_one_that_does_not():
    rng = np.random.default_rng(0)
    decisions = [{"op": str(rng.choice(["a", "b", "c"])), "noise": str(rng.choice(["x", "y"])),
                  "width": int(rng.integers(1, 100))} for _ in range(400)]
    y = np.array([{"a": 0.2, "b": 0.5, "c": 0.9}[d["op"]] for d in decisions]) + rng.normal(0, 0.01, 400)
    table = {imp.decision: imp for imp in decision_importance(decisions, y)}
    assert table["op"].eta2 > 0.99 and table["op"].best_value == "c"
    assert table["noise"].eta2 < 0.02 and table["noise"].chance == pytest.approx(1 / 399)
    assert table["width"].levels == an.IMPORTANCE_BINS  # many numbers: binned into deciles
    assert list(table)[0] == "op"


def test_sampling_keeps_the_points_that_matter_and_caps_the_rest():
    rows = np.arange(10_000)
    shown = an.sample_rows(rows, limit=500, keep=[9_999, 5])
    assert 500 <= len(shown) <= 502 and {9_999, 5} <= set(shown.tolist())
    assert an.sample_rows(rows, limit=500).tolist() == an.sample_rows(rows, limit=500).tolist()  # no flicker
    assert an.sample_rows(rows[:20], limit=500).tolist() == list(range(20))


def test_ticks_are_round_and_cover_the_range():
    assert _svg.nice_ticks(0.0, 1.0) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert _svg.log_ticks(1e3, 1e6) == [1e3, 1e4, 1e5, 1e6]
    assert len(_svg.log_ticks(26_000, 87_000)) >= 3


def test_the_reason_of_a_failure_is_where_the_traceback_names_the_exception():
    assert an.first_line("Traceback (most recent call last):\n  File x\nValueError: bad") == "ValueError: bad"
    assert an.first_line("WorkerCrashed: it died\nmore") == "WorkerCrashed: it died"
    assert an.first_line(None) == "no error text was recorded"


# -- reading a study read-only ----------------------------------------------------------------

def test_a_read_only_storage_never_writes_nor_takes_the_writer_lock(tmp_path):
    make_study(tmp_path / "s.db").close()
    reader = Storage.open(tmp_path / "s.db", read_only=True)
    with pytest.raises(StudyError, match="read-only"):
        reader.claim()
    # a writer in another process is not locked out while the reader is open
    code = ("import sys; from nasforge.study import Storage; from nasforge.core import Arch; "
            "s = Storage.open(sys.argv[1]); s.claim(); "
            "i = s.start_trial(12, Arch('nb201', {'0->1': 'none'}), {'epochs': 3}, 0, {}); "
            "s.finish_trial(i, 'ok', {'val_accuracy': 0.5}, [], 0.5, None, 1.0, {}); print(s.last_trial_id())")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "s.db")], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert reader.last_trial_id() == int(out.stdout) == 13
    reader.close()


def test_the_follower_reads_new_and_finished_trials_only_and_shows_problems_as_text(tmp_path):
    follower = Follower(tmp_path / "s.db")
    assert follower.refresh() and follower.view is None and "does not exist" in follower.problem
    assert not follower.refresh()  # the same problem: nothing changed
    storage = make_study(tmp_path / "s.db", n=3)
    running = add_trial(storage, spaces.get("nb201").sample(np.random.default_rng(5)), status=TrialStatus.RUNNING)
    assert follower.refresh() and follower.problem is None and len(follower.view.records) == 4
    assert not follower.refresh()
    storage.finish_trial(running, TrialStatus.OK, {"val_accuracy": 0.99}, [], 0.99, None, 1.0, {})
    add_trial(storage, spaces.get("nb201").sample(np.random.default_rng(6)), acc=0.1)
    assert follower.refresh()
    view = follower.view
    assert len(view.records) == 5 and view.ids[view.best_rows(1)[0]] == running
    follower.close()
    storage.close()


def test_load_refuses_a_file_that_is_not_a_study(tmp_path):
    (tmp_path / "x.db").write_text("hello")
    with pytest.raises(StudyError, match="not a nasforge study"):
        load(tmp_path / "x.db")


# -- the report ---------------------------------------------------------------------------------

def test_report_of_a_benchmark_study_matches_the_study(tmp_path):
    pytest.importorskip("matplotlib")
    import nasforge

    study = nasforge.search(study=tmp_path / "b.db", trials=25, benchmark="mnist1d-nb201", strategy="random")
    best = study.best()
    study.storage.close()
    out = tmp_path / "report"
    assert write_report(tmp_path / "b.db", out) == out / "index.html"
    html = (out / "index.html").read_text()
    assert not re.search(r"""(src|href)=["']?https?:""", html), "the report must work offline"
    assert f'<span data-key="best-trial">{best.id}</span>' in html
    assert f'<span data-key="best-objective">{best.objective:.4f}</span>' in html
    assert '<span data-key="trials">25</span>' in html
    assert "simulated training seconds" in html  # a benchmark study runs on simulated time
    for name in ("best-vs-trials", "best-vs-time", "trade-off-params", "trade-off-flops", "trade-off-latency-ms",
                 "learning-curves", "decision-importance", f"arch-trial-{best.id}"):
        assert (out / f"{name}.png").read_bytes()[:8] == PNG_MAGIC, name
    front = re.search(r'data-view="trade-off-params" data-front="([\d,]+)"', html).group(1)
    trials = [t for t in load(tmp_path / "b.db").records if t.status == TrialStatus.OK]
    gain = np.array([t.metrics["val_accuracy"] for t in trials])
    cost = np.array([t.metrics["params"] for t in trials], dtype=float)
    assert front == ",".join(str(trials[i].id) for i in brute_front(gain, cost))


def test_failed_pruned_and_interrupted_trials_are_shown_with_their_reasons(tmp_path):
    storage = make_study(tmp_path / "s.db", n=5)
    rng = np.random.default_rng(1)
    space = spaces.get("nb201")
    for _ in range(3):
        add_trial(storage, space.sample(rng), TrialStatus.FAILED,
                  error="Traceback (most recent call last):\n  File 'x'\nRuntimeError: out of memory <42>")
    pruned = add_trial(storage, space.sample(rng), TrialStatus.PRUNED, acc=0.2)
    add_trial(storage, space.sample(rng), status=TrialStatus.RUNNING)
    storage.mark_interrupted(reason="the study stopped")
    storage.set_meta({"spec_history": [{"at": 1.7e9, "changes": ["strategy: study has 'random', this run asks "
                                                                 "for 'evolution'"]}]})
    storage.close()
    view = load(tmp_path / "s.db")
    html = _page.sections(view, _page.Architectures(view.spec))
    assert "<td>3</td><td class=\"l\">failed: RuntimeError: out of memory &lt;42&gt;</td>" in html
    assert "interrupted: the study stopped" in html
    curves = fg.learning_curves(view)
    assert [s.ids[0] for s in curves.series if s.dashed] == [pruned]
    assert "asks for &#x27;evolution&#x27;" in html and "&quot;space&quot;: &quot;nb201&quot;" in html


@pytest.mark.parametrize("space_name", spaces.names())
def test_every_space_gets_its_views_and_drawings(tmp_path, space_name, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.setattr(_page, "TOP_DRAWINGS", 1)
    make_study(tmp_path / "s.db", space_name, n=8).close()
    view = load(tmp_path / "s.db")
    html = _page.sections(view, _page.Architectures(view.spec))
    best = view.records[view.best_rows(1)[0]]
    assert re.search(rf'<figure class="arch" data-trial="{best.id}"><img alt="architecture drawing" '
                     r'src="data:image/png;base64,', html), "the best architecture is drawn"
    assert html.count("<svg") >= 6 and "nothing to draw yet" not in html


@pytest.mark.slow  # the space replays the function in a helper process (~8 s on a busy 2-core machine)
def test_a_define_by_run_study_is_described_and_drawn(tmp_path):
    pytest.importorskip("matplotlib")
    mlp = f"{EXAMPLES / 'kerastuner_mlp.py'}:build_model"
    space = spaces.get(mlp)
    storage = Storage.create(tmp_path / "s.db", {"spec": {**SPEC, "space": mlp}})
    rng = np.random.default_rng(0)
    for _ in range(4):
        add_trial(storage, space.sample(rng), acc=float(rng.random()))
    storage.close()
    view = load(tmp_path / "s.db")
    archs = _page.Architectures(view.spec)
    best = view.records[view.best_rows(1)[0]].arch
    assert archs.describe(best) == space.describe(best)
    assert "data:image/png;base64," in archs.drawing(best)


def test_report_errors_are_one_line(tmp_path):
    result = run_cli("report", "--study", tmp_path / "missing.db", "--out", tmp_path / "r")
    assert result.returncode == 2 and "does not exist" in result.stderr and "Traceback" not in result.stderr
    make_study(tmp_path / "s.db", n=2).close()
    (tmp_path / "file").write_text("x")
    result = run_cli("report", "--study", tmp_path / "s.db", "--out", tmp_path / "file")
    assert result.returncode == 2 and "is a file" in result.stderr


# -- the dashboard over HTTP (the browser tests open it in Chromium) ---------------------------

@pytest.fixture
def serve():
    servers = []

    def start(path):
        dashboard = Dashboard(path, interval=0.1)
        server = make_server(dashboard, "127.0.0.1", 0)
        dashboard.start(timeout=60)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append((server, dashboard))
        return url_of(server), dashboard

    yield start
    for server, dashboard in servers:
        server.shutdown()
        server.server_close()
        dashboard.stop()


def get(url):
    with urllib.request.urlopen(url, timeout=30) as reply:
        return reply.status, reply.read().decode()


def test_the_dashboard_serves_the_views_and_only_sends_them_again_when_they_change(tmp_path, serve):
    storage = make_study(tmp_path / "s.db", n=6)
    url, dashboard = serve(tmp_path / "s.db")
    status, html = get(url)
    assert status == 200 and '<span data-key="trials">6</span>' in html and "setTimeout(poll" in html
    version = json.loads(get(url + "views?since=-1")[1])["version"]
    assert "html" not in json.loads(get(url + f"views?since={version}")[1])
    add_trial(storage, spaces.get("nb201").sample(np.random.default_rng(9)), acc=0.95)
    for _ in range(100):
        doc = json.loads(get(url + f"views?since={version}")[1])
        if "html" in doc:
            break
        threading.Event().wait(0.05)
    assert '<span data-key="trials">7</span>' in doc["html"] and "7 trials" in doc["status"]
    with pytest.raises(urllib.error.HTTPError) as err:
        get(url + "nothing-here")
    assert err.value.code == 404
    storage.close()


def test_the_dashboard_of_a_bad_path_is_a_clear_page(tmp_path, serve):
    (tmp_path / "notes.txt").write_text("not a study")
    url, _ = serve(tmp_path / "notes.txt")
    status, html = get(url)
    assert status == 200 and "Cannot show this study" in html and "not a nasforge study" in html
    assert "Traceback" not in html


def test_dashboard_options_are_checked(tmp_path):
    result = run_cli("dashboard", "--study", tmp_path / "s.db", "--port", "70000")
    assert result.returncode == 2 and "port number" in result.stderr


def test_a_study_without_trials_or_without_successes_still_has_a_page(tmp_path):
    pytest.importorskip("matplotlib")
    make_study(tmp_path / "empty.db", n=0).close()
    out = write_report(tmp_path / "empty.db", tmp_path / "empty")
    assert '<span data-key="trials">0</span>' in out.read_text() and "No successful trial yet" in out.read_text()
    storage = make_study(tmp_path / "failed.db", n=0)
    for seed in range(3):
        add_trial(storage, spaces.get("nb201").sample(np.random.default_rng(seed)), TrialStatus.FAILED,
                  error="ValueError: no")
    storage.close()
    html = write_report(tmp_path / "failed.db", tmp_path / "failed").read_text()
    assert "<td>3</td><td class=\"l\">failed: ValueError: no</td>" in html and "nothing to draw yet" in html
