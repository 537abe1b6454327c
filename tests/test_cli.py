"""The CLI contract, run as a user would: real subprocesses on real data."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from conftest import EXAMPLES, run_cli, run_cli_here

# each trial trains for at most 4 s (one epoch of 2% of the data) and is scored on 2,000 validation
# samples: with --epochs alone, the large networks evolution samples took ~40 CPU-s each. The space
# options keep the stages narrow (at most 16/32/48 channels): at the default widths the best net of
# this search had 103 MFLOPs, and scoring it on the 10,000 test images took 54 of the module's 124 s
NARROW = ['stem=[8, 16]', 'stages=[{"width": [8, 16]}, {"width": [16, 32]}, {"width": [32, 48]}]']
SEARCH = ["search", "--space", "macro-cnn", "--dataset", "fashion-mnist", "--epochs", "1", "--seconds", "4",
          "--subset", "0.02", "--val-samples", "2000", "--seed", "0",
          *(arg for option in NARROW for arg in ("--space-option", option))]


@pytest.fixture(scope="module")
def fmnist_study(tmp_path_factory):
    """A real evolution search on a small Fashion-MNIST subset, then final training."""
    root = tmp_path_factory.mktemp("cli")
    study = root / "fmnist.db"
    proc = run_cli(*SEARCH, "--strategy", "evolution", "--strategy-option", "population_size=3",
                   "--trials", "4", "--time-budget", "900", "--study", study)
    assert proc.returncode == 0, proc.stderr
    train = run_cli("train", "--study", study, "--trial", "best", "--time-budget", "6", "--out", root / "best")
    assert train.returncode == 0, train.stderr
    return root, study, proc.stdout, train.stdout


def test_search_shows_progress_and_summary(fmnist_study):
    _, _, out, _ = fmnist_study
    lines = [l for l in out.splitlines() if l.startswith("[")]
    assert len(lines) == 4
    for field in ("acc 0.", "params", "latency", "best", "ETA", "stem"):
        assert field in lines[-1]
    assert "Stopped: 4 trials finished" in out and "Best: trial" in out


def test_show_json_lists_every_trial_best_first(fmnist_study):
    _, study, _, _ = fmnist_study
    proc = run_cli("show", "--study", study, "--json")
    doc = json.loads(proc.stdout)
    trials = doc["trials"]
    assert len(trials) == 4 and doc["spec"]["strategy"] == "evolution" and doc["spec"]["val_samples"] == 2000
    assert doc["spec"]["space_options"]["stem"] == [8, 16]  # the options were kept, and they held:
    assert all(t["arch"]["decisions"]["stem"] in (8, 16) and t["arch"]["decisions"]["s2.width"] in (32, 48)
               for t in trials)
    accs = [t["metrics"]["val_accuracy"] for t in trials]
    assert accs == sorted(accs, reverse=True)
    for t in trials:
        assert {"id", "status", "arch", "metrics", "curve", "fidelity"} <= set(t)
        assert {"val_accuracy", "params", "flops", "latency_ms", "train_seconds"} <= set(t["metrics"])
        assert t["fidelity"] == {"epochs": 1, "subset": 0.02, "width_multiplier": 1.0, "seconds": 4.0}
    table = run_cli("show", "--study", study)
    assert table.returncode == 0 and "val acc" in table.stdout
    csv = run_cli("show", "--study", study, "--format", "csv")
    assert len(csv.stdout.strip().splitlines()) == 5


def test_train_writes_model_and_summary(fmnist_study):
    root, study, _, out = fmnist_study
    summary = json.loads((root / "best" / "summary.json").read_text())
    assert summary["train_samples"] == 60000 and summary["test_samples"] == 10000
    assert 0.5 < summary["test_accuracy"] <= 1.0
    assert f"{summary['test_accuracy']:.4f}" in out
    from nasforge import load_model

    model = load_model(root / "best" / "model.pt")
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_export_formats_agree_with_pytorch(fmnist_study):
    import onnxruntime as ort

    root, study, _, _ = fmnist_study
    from nasforge import load_model

    reference = load_model(root / "best" / "model.pt")
    x = torch.randn(5, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = reference(x).numpy()
    for fmt, name in (("onnx", "m.onnx"), ("torchscript", "m.ts"), ("pytorch", "m.pt")):
        proc = run_cli("export", "--study", study, "--trial", "best", "--format", fmt, "--out", root / name)
        assert proc.returncode == 0, proc.stderr
        assert "no trained weights" not in proc.stderr
    session = ort.InferenceSession(str(root / "m.onnx"))
    got = session.run(None, {"input": x.numpy()})[0]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    with torch.no_grad():
        np.testing.assert_allclose(torch.jit.load(str(root / "m.ts"))(x).numpy(), expected, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(load_model(root / "m.pt")(x).numpy(), expected, rtol=1e-6, atol=1e-6)


def test_missing_onnx_names_the_install_command(fmnist_study, tmp_path):
    _, study, _, _ = fmnist_study
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "onnxscript.py").write_text("raise ImportError('blocked for this test')")
    proc = run_cli("export", "--study", study, "--format", "onnx", "--out", tmp_path / "x.onnx",
                   env={"PYTHONPATH": str(blocker)})
    assert proc.returncode == 2
    assert "pip install 'nasforge[onnx]'" in proc.stderr and "Traceback" not in proc.stderr


def test_rerunning_a_finished_search_adds_nothing_and_extending_resumes(fmnist_study):
    _, study, _, _ = fmnist_study
    again = run_cli(*SEARCH, "--strategy", "evolution", "--strategy-option", "population_size=3", "--trials", "4",
                    "--study", study)
    assert again.returncode == 0 and "4 trial(s) already finished" in again.stdout
    assert "[" not in "".join(l[:1] for l in again.stdout.splitlines())
    doc = json.loads(run_cli("show", "--study", study, "--json").stdout)
    assert len(doc["trials"]) == 4


@pytest.mark.parametrize("args,expected", [
    (["search", "--space", "nope", "--study", "{tmp}/a.db"], "unknown space 'nope'; known: darts, hierarchical, macro-cnn"),
    (["search", "--strategy", "evolutoin", "--dataset", "digits", "--study", "{tmp}/a.db"],
     "unknown strategy 'evolutoin'; known: asha, bananas, bohb, cost-random, evolution, gp-bo, hyperband, local, mo-asha, mo-bo, mo-evolution, mo-local, nsga2, parego, random, reinforce, tpe. Did you mean 'evolution', 'mo-evolution'?"),
    (["search", "--dataset", "cifar", "--study", "{tmp}/a.db"], "unknown dataset 'cifar'; known: digits"),
    (["search", "--dataset", "digits", "--subset", "1.5", "--study", "{tmp}/a.db"], "'subset' fidelity"),
    (["search", "--dataset", "digits", "--strategy-option", "population_size=1", "--study", "{tmp}/a.db"],
     "population_size"),
    (["search", "--dataset", "digits", "--strategy-option", "nonsense", "--study", "{tmp}/a.db"], "KEY=VALUE"),
    (["search", "--epochs", "0", "--study", "{tmp}/a.db"], "positive integer"),
    (["show", "--study", "{tmp}/notes.txt"], "not a nasforge study"),
    (["show", "--study", "{tmp}/missing.db"], "does not exist"),
    (["train", "--study", "{tmp}/notes.txt"], "not a nasforge study"),
    (["export", "--study", "{tmp}/notes.txt", "--format", "onnx", "--out", "{tmp}/x"], "not a nasforge study"),
    (["export", "--study", "{tmp}/notes.txt", "--format", "keras", "--out", "{tmp}/x"], "invalid choice"),
])
def test_user_errors_are_one_line_with_status_2(tmp_path, args, expected):
    (tmp_path / "notes.txt").write_text("not a study")
    proc = run_cli_here(*[a.format(tmp=tmp_path) for a in args])
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert expected in proc.stderr
    assert "Traceback" not in proc.stderr
    assert (tmp_path / "notes.txt").read_text() == "not a study"
    assert not (tmp_path / "a.db").exists()


def test_listings():
    for cmd, names in (("spaces", ["macro-cnn", "nb201"]), ("strategies", ["random", "evolution", "local", "reinforce"]),
                       ("datasets", ["fashion-mnist", "digits", "mnist1d"])):
        proc = run_cli_here(cmd)  # listings end before any work: no subprocess needed
        assert proc.returncode == 0
        assert all(n in proc.stdout for n in names)


def test_define_by_run_space_from_a_file(tmp_path):
    study = tmp_path / "mlp.db"
    proc = run_cli("search", "--space", f"{EXAMPLES / 'kerastuner_mlp.py'}:build_model", "--dataset", "digits",
                   "--strategy", "random", "--trials", "3", "--epochs", "1", "--study", study)
    assert proc.returncode == 0, proc.stderr
    trials = json.loads(run_cli("show", "--study", study, "--json").stdout)["trials"]
    assert len(trials) == 3 and all("learning_rate" in t["arch"]["decisions"] for t in trials)


@pytest.mark.slow  # over 45 s; run with -m slow (the default suite must stay near 15 min on 2 cores)
def test_ctrl_c_stops_gracefully_and_resume_repeats_nothing(tmp_path):
    study = tmp_path / "c.db"
    args = ["search", "--dataset", "digits", "--strategy", "random", "--epochs", "3", "--trials", "12",
            "--study", str(study), "--seed", "1"]
    # a test run started as a background job (`cmd &`) inherits an ignored SIGINT; a user's terminal does not
    proc = subprocess.Popen([sys.executable, "-m", "nasforge.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    lines = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if line.startswith("[  2/12]"):
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Resume with: nasforge search" in out and "Traceback" not in err
    done = json.loads(run_cli("show", "--study", study, "--json").stdout)["trials"]
    ok_before = {t["arch"]["decisions"].__repr__() for t in done if t["status"] == "ok"}
    assert len(ok_before) >= 2
    resumed = run_cli(*args)
    assert resumed.returncode == 0, resumed.stderr
    trials = json.loads(run_cli("show", "--study", study, "--json").stdout)["trials"]
    ok = [t for t in trials if t["status"] == "ok"]
    assert len(ok) == 12
    assert len({json.dumps(t["arch"], sort_keys=True) for t in ok}) == 12
    reference = tmp_path / "ref.db"
    assert run_cli(*args[:-4], "--study", reference, "--seed", "1").returncode == 0
    ref = json.loads(run_cli("show", "--study", reference, "--json").stdout)["trials"]
    key = lambda ts: sorted((t["number"], json.dumps(t["arch"], sort_keys=True), t["metrics"]["val_accuracy"])
                            for t in ts if t["status"] == "ok")
    assert key(ok) == key(ref)


def test_max_failures_stops_with_a_clear_message(tmp_path):
    proc = run_cli("search", "--dataset", "digits", "--epochs", "1", "--trials", "20", "--max-failures", "2",
                   "--train-option", "lr=1e12", "--train-option", "optimizer=sgd", "--study", tmp_path / "f.db")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "2 trials failed (limit 2)" in proc.stderr and "training loss became" in proc.stderr
    trials = json.loads(run_cli("show", "--study", tmp_path / "f.db", "--json").stdout)["trials"]
    assert [t["status"] for t in trials] == ["failed", "failed"]


def test_parallel_workers_on_real_data(tmp_path):
    study = tmp_path / "w.db"
    proc = run_cli("search", "--dataset", "digits", "--strategy", "evolution", "--epochs", "1", "--trials", "6",
                   "--workers", "2", "--trial-timeout", "300", "--study", study)
    assert proc.returncode == 0, proc.stderr
    trials = json.loads(run_cli("show", "--study", study, "--json").stdout)["trials"]
    assert len(trials) == 6 and all(t["status"] == "ok" for t in trials)
    assert max(t["metrics"]["val_accuracy"] for t in trials) > 0.8  # real training happened in the workers
