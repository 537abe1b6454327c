"""The dashboard in a real browser: headless Chromium (Debian's ``chromium`` + ``chromium-driver``)
driven by Selenium. The views must render with the numbers `nasforge show --json` gives, a study's new
trials must appear while the page is open, and a bad study path must give a clear page.

Skipped, with the reason, where Chromium, its driver or selenium are missing
(``apt-get install chromium chromium-driver``; ``pip install selenium``).
"""

import contextlib
import io
import json
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from conftest import run_cli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
if CHROMIUM is None or CHROMEDRIVER is None:
    pytest.skip("the browser tests need Debian's chromium and chromium-driver packages "
                "(apt-get install chromium chromium-driver)", allow_module_level=True)
webdriver = pytest.importorskip("selenium.webdriver", reason="the browser tests need selenium (pip install selenium)")
from selenium.webdriver.common.by import By  # noqa: E402

from nasforge import cli  # noqa: E402
from nasforge.report import Dashboard, make_server, url_of  # noqa: E402

from test_report import brute_front, make_study  # noqa: E402


@pytest.fixture(scope="module")
def browser():
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1300,1000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture
def dashboard():
    """Serve a study's dashboard in this process (the slow test runs the real command instead)."""
    running = []

    def start(path):
        board = Dashboard(path, interval=0.2)
        server = make_server(board, "127.0.0.1", 0)
        board.start(timeout=60)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        running.append((server, board))
        return url_of(server)

    yield start
    for server, board in running:
        server.shutdown()
        server.server_close()
        board.stop()


def show_json(path) -> dict:
    """What `nasforge show --json` prints for the study."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["show", "--study", str(path), "--json"]) == 0
    return json.loads(out.getvalue())


def text(driver, css) -> str:
    return driver.find_element(By.CSS_SELECTOR, css).text


def wait_for(condition, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with contextlib.suppress(Exception):
            if condition():
                return True
        time.sleep(0.2)
    return False


def severe_errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_the_views_render_with_the_numbers_of_show_json(tmp_path, browser, dashboard):
    import nasforge

    nasforge.search(study=tmp_path / "b.db", trials=25, benchmark="mnist1d-nb201", strategy="random").storage.close()
    doc = show_json(tmp_path / "b.db")
    trials = doc["trials"]  # best first
    browser.get(dashboard(tmp_path / "b.db"))
    assert text(browser, '[data-key="trials"]') == str(len(trials))
    assert text(browser, '[data-key="best-trial"]') == str(trials[0]["id"])
    assert text(browser, '[data-key="best-objective"]') == f"{trials[0]['objective']:.4f}"
    rows = browser.find_elements(By.CSS_SELECTOR, "#top tr[data-trial]")
    assert [int(r.get_attribute("data-trial")) for r in rows] == [t["id"] for t in trials[:10]]
    assert [r.find_elements(By.TAG_NAME, "td")[2].text for r in rows] == [f"{t['objective']:.4f}" for t in trials[:10]]

    ok = sorted((t for t in trials if t["status"] == "ok"), key=lambda t: t["id"])
    for metric, view in (("params", "trade-off-params"), ("latency_ms", "trade-off-latency-ms")):
        gain = np.array([t["metrics"]["val_accuracy"] for t in ok])
        cost = np.array([t["metrics"][metric] for t in ok], dtype=float)
        front = [ok[i]["id"] for i in brute_front(gain, cost)]
        drawn = browser.find_elements(By.CSS_SELECTOR, f'#{view} g[data-label="Pareto front"] circle')
        assert [int(c.get_attribute("data-trial")) for c in drawn] == front, view
        points = browser.find_element(By.CSS_SELECTOR, f'#{view} g[data-label="trial"]')
        assert points.get_attribute("data-n") == str(len(ok))
    steps = browser.find_elements(By.CSS_SELECTOR, '#best-vs-trials g[data-label="best so far"] circle')
    assert int(steps[-1].get_attribute("data-trial")) == trials[0]["id"]
    svg = browser.find_element(By.CSS_SELECTOR, "#best-vs-time svg")
    assert svg.size["width"] > 200 and svg.size["height"] > 100  # laid out and visible
    bars = browser.find_elements(By.CSS_SELECTOR, "#decision-importance rect[data-decision]")
    assert len(bars) == 6  # the six edges of an NB201 cell
    drawings = browser.find_elements(By.CSS_SELECTOR, "#architectures img")
    assert len(drawings) == 3 and all(browser.execute_script("return arguments[0].naturalWidth", img) > 0
                                      for img in drawings)
    assert not severe_errors(browser)


def test_a_bad_study_path_is_a_clear_page_that_shows_the_study_once_it_exists(tmp_path, browser, dashboard):
    browser.get(dashboard(tmp_path / "later.db"))
    problem = text(browser, "#problem")
    assert "Cannot show this study" in problem and "does not exist" in problem
    assert "Traceback" not in browser.page_source
    make_study(tmp_path / "later.db", n=4).close()
    assert wait_for(lambda: text(browser, '[data-key="trials"]') == "4"), "the page did not pick up the study"
    assert not browser.find_elements(By.CSS_SELECTOR, "#problem")
    assert not severe_errors(browser)


@pytest.mark.slow
def test_a_running_search_shows_its_new_trials(tmp_path, browser):
    study = tmp_path / "live.db"  # real training on digits: each trial takes a moment, as in real life
    search = ["search", "--study", study, "--dataset", "digits", "--space", "macro-cnn", "--strategy", "random",
              "--epochs", "1", "--subset", "0.5", "--quiet"]
    assert run_cli(*search, "--trials", "2").returncode == 0
    board = subprocess.Popen([sys.executable, "-m", "nasforge.cli", "dashboard", "--study", str(study), "--port", "0",
                              "--interval", "0.2"], stdout=subprocess.PIPE, text=True)
    try:
        url = board.stdout.readline().rsplit(" at ", 1)[1].split()[0]
        browser.get(url)
        assert text(browser, '[data-key="trials"]') == "2"
        version = int(browser.execute_script("return document.body.dataset.version"))
        writer = subprocess.Popen([sys.executable, "-m", "nasforge.cli", *map(str, search), "--trials", "10"])
        counts = set()
        while writer.poll() is None:
            with contextlib.suppress(Exception):
                counts.add(int(text(browser, '[data-key="trials"]')))
            time.sleep(0.3)
        assert writer.returncode == 0, "the dashboard must never lock the search out"
        total = len(show_json(study)["trials"])
        assert total == 10
        assert wait_for(lambda: text(browser, '[data-key="trials"]') == str(total), 30)
        assert int(browser.execute_script("return document.body.dataset.version")) > version
        assert counts - {2, total}, f"no count was seen while the search ran, only {counts}"
        assert not severe_errors(browser)
    finally:
        board.terminate()
        board.wait(timeout=30)
