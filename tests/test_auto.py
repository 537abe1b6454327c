"""`nasforge auto`: ASHA's promotion logic, the time-limited trainer, and the whole
budgeted pipeline on real data (digits, and a user .npz of 1-D sequences)."""

import json
import math
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import nasforge
from nasforge import data, spaces, strategies
from nasforge.core import Fidelity, Result, TrialStatus, UserInputError
from nasforge.estimation import TrainConfig, train_model
from nasforge.estimation._trainer import lr_factor
from nasforge.strategies._asha import rung_resources

from synthetic import MatchTarget


def test_rung_resources_grow_by_eta_and_end_at_the_maximum():
    assert rung_resources(1, 9, 3) == [1, 3, 9]
    assert rung_resources(2, 10, 3) == [2, 6, 10]
    assert rung_resources(5, 5, 3) == [5]


def test_longer_budgets_buy_more_candidates_as_well_as_longer_looks():
    from nasforge.auto import ETA, LONG_SEARCH_S, RUNG0_SHARE, make_plan

    short = make_plan(300, 300, search_fraction=0.5)  # 150 s of search: rung 0 is its tenth
    assert short.rung_seconds[0] == pytest.approx(150 * RUNG0_SHARE)
    assert short.rung_seconds[1] == pytest.approx(ETA * short.rung_seconds[0])
    at_reference = make_plan(2 * LONG_SEARCH_S, 2 * LONG_SEARCH_S, search_fraction=0.5)
    four_times = make_plan(8 * LONG_SEARCH_S, 8 * LONG_SEARCH_S, search_fraction=0.5)
    assert four_times.search_s == pytest.approx(4 * at_reference.search_s)
    # four times the search time: looks twice as long, and room for twice as many of them
    assert four_times.rung_seconds[0] == pytest.approx(2 * at_reference.rung_seconds[0], abs=0.01)
    assert four_times.search_s / four_times.rung_seconds[0] == pytest.approx(
        2 * at_reference.search_s / at_reference.rung_seconds[0], rel=1e-3)


def test_asha_promotes_the_top_third_once_even_with_pending_asks():
    space = spaces.get("macro-cnn")
    est = MatchTarget(space)
    asha = strategies.get("asha", space, seed=0, resource="epochs", min_resource=1, max_resource=9, eta=3)
    first = [asha.ask() for _ in range(9)]  # nine asked before any result: all new, all rung 0
    assert [r.meta["rung"] for r in first] == [0] * 9
    scores = {}
    for req in first:
        res = est.evaluate(req.arch, Fidelity(), 0)
        scores[req.arch] = res.metrics["val_accuracy"]
        asha.tell(req, res)
    promoted = [asha.ask() for _ in range(5)]  # floor(9/3) = 3 promotions, then new archs
    assert [r.meta["rung"] for r in promoted] == [1, 1, 1, 0, 0]
    assert all(r.fidelity == {"epochs": 3} for r in promoted[:3])
    top3 = sorted(scores.values(), reverse=True)[:3]
    assert sorted((scores[r.arch] for r in promoted[:3]), reverse=True) == top3
    assert len({r.arch for r in promoted[:3]}) == 3


def test_asha_winner_comes_from_the_highest_rung_and_failures_are_never_promoted():
    space = spaces.get("macro-cnn")
    est = MatchTarget(space)
    asha = strategies.get("asha", space, seed=1, resource="seconds", min_resource=1, max_resource=9, eta=3,
                          sampler="evolution")
    for i in range(60):
        req = asha.ask()
        res = Result(TrialStatus.FAILED, error="boom") if i % 5 == 0 else est.evaluate(req.arch, Fidelity(), 0)
        asha.tell(req, res)
    arch, score, rung = asha.best_at_top()
    assert rung == 2 and asha.levels[rung] == 9
    assert score == max(s for _, s in asha.rungs[2])
    failed = {a for a, s in asha.rungs[0] if s == -math.inf}
    assert failed and not failed & asha.promoted[0]


def test_asha_options_are_checked():
    space = spaces.get("macro-cnn")
    for bad in ({"eta": 1}, {"resource": "hours"}, {"min_resource": 5, "max_resource": 2},
                {"resource": "subset", "max_resource": 3}, {"sampler": "bayes"}):
        with pytest.raises(UserInputError):
            strategies.get("asha", space, **bad)


def test_lr_schedule_warms_up_then_decays_to_zero():
    assert lr_factor(0.0, 0.1) < 0.01
    assert lr_factor(0.1, 0.1) == pytest.approx(1.0)
    assert lr_factor(0.55, 0.1) == pytest.approx(0.5, abs=1e-6)
    assert lr_factor(0.999, 0.1) < 1e-4


def test_time_limited_training_stops_at_the_limit():
    ds = data.load("digits")
    model = spaces.get("macro-cnn").build(spaces.get("macro-cnn").sample(np.random.default_rng(0)),
                                          ds.input_shape, ds.num_classes)
    start = time.perf_counter()
    curve = train_model(model, ds.x_train, ds.y_train, 10_000, TrainConfig(), 0, time_limit=2.0)
    elapsed = time.perf_counter() - start
    assert 2.0 <= elapsed < 6.0  # stops within a step of the limit (generous: shared CI cores)
    assert 0 < curve[-1]["epoch"] < 10_000
    with pytest.raises(UserInputError):
        Fidelity(seconds=0)


def test_auto_on_digits_keeps_the_budget_and_writes_a_working_model(tmp_path):
    # digits' 500-sample floor makes a rung-0 subset 39% of the final training's length: at the default
    # search share the search fits one trial, at half of the time two or three
    budget = 40
    start = time.monotonic()
    summary = nasforge.auto("digits", time_budget=budget, out=tmp_path / "run", log=lambda m: None, rungs="subset",
                            search_fraction=0.5)
    wall = time.monotonic() - start
    assert wall <= budget + 5, f"auto took {wall:.1f}s for a {budget}s budget"
    assert summary["search"]["trials"] >= 2 and summary["final_train_seconds"] > 5
    # default rungs: data subsets trained for the final time's share (as many epochs as the final training)
    subsets = {t.fidelity["subset"]: t.fidelity["seconds"] for t in nasforge.open_study(tmp_path / "run" / "study.db").trials}
    assert all(f < 1.0 or len(subsets) == 1 for f in subsets)
    ratios = {round(sec / f, 1) for f, sec in subsets.items()}
    plan = summary["search"]["plan"]
    planned_final_s = plan["available_s"] - plan["search_s"]
    assert len(ratios) == 1 and ratios.pop() == pytest.approx(planned_final_s, rel=0.02)
    # the final training gets at least its planned time's half; more when the search ends early or the
    # wrap-up takes less than the plan set aside (an upper bound is the budget, checked above)
    assert summary["final_train_seconds"] >= 0.5 * planned_final_s
    assert summary["test_accuracy"] > 0.5  # 10 classes: chance is 0.1
    out = tmp_path / "run"
    for name in ("model.pt", "model.onnx", "summary.json", "report.md", "study.db", "arch.json"):
        assert (out / name).is_file(), name
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["test_accuracy"] == summary["test_accuracy"]
    assert "Test accuracy" in (out / "report.md").read_text()
    precision = summary["training_conditions"]["final_precision"]  # what precision="auto" chose here
    assert precision in ("fp32", "bf16") and f"samples, in {precision})" in (out / "report.md").read_text()
    # the saved model is the tested one
    model = nasforge.load_model(out / "model.pt").eval()
    ds = data.load("digits")
    x_test, y_test = ds.test()
    with torch.inference_mode():
        logits = model(x_test)
    assert (logits.argmax(1) == y_test).float().mean().item() == pytest.approx(summary["test_accuracy"])
    ort = pytest.importorskip("onnxruntime")
    onnx_out = ort.InferenceSession(str(out / "model.onnx")).run(None, {"input": x_test[:16].numpy()})[0]
    np.testing.assert_allclose(onnx_out, logits[:16].numpy(), atol=1e-4)
    # every candidate of the Pareto fronts is a real trial of the study
    ids = {t.id for t in nasforge.open_study(out / "study.db").trials}
    assert all(p["trial_id"] in ids for front in summary["candidates"].values() for p in front)


def run_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "nasforge.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


@pytest.mark.slow  # over 45 s; run with -m slow (the default suite must stay near 15 min on 2 cores)
def test_auto_cli_on_a_user_npz_of_sequences_resumes_and_rejects_tiny_budgets(tmp_path):
    ds = data.load("digits")
    x = torch.cat([ds.x_train, ds.x_val]).reshape(-1, 1, 64).numpy()  # 1-D sequences of 64 steps
    y = torch.cat([ds.y_train, ds.y_val]).numpy()
    xt, yt = ds.test()
    np.savez(tmp_path / "seq.npz", x=x, y=y, x_test=xt.reshape(-1, 1, 64).numpy(), y_test=yt.numpy())
    first = run_cli("auto", "--dataset", "seq.npz", "--time-budget", "20", "--out", "r", "--no-onnx", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "Test accuracy" in (tmp_path / "r" / "report.md").read_text()
    trials = json.loads((tmp_path / "r" / "summary.json").read_text())["search"]["trials"]
    again = run_cli("auto", "--dataset", "seq.npz", "--time-budget", "20", "--out", "r", "--no-onnx", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "Resuming the search" in again.stdout
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["search"]["trials"] > trials
    tiny = run_cli("auto", "--dataset", "seq.npz", "--time-budget", "5", "--out", "t", cwd=tmp_path)
    assert tiny.returncode == 2 and "at least 10 seconds" in tiny.stderr
    other = run_cli("auto", "--dataset", "digits", "--time-budget", "20", "--out", "r", cwd=tmp_path)
    assert other.returncode == 2 and "choose another --out" in other.stderr


def test_asha_asks_initial_architectures_first_once_each():
    space = spaces.get("macro-cnn")
    priors = space.priors()
    assert len(priors) >= 3
    asha = strategies.get("asha", space, seed=0, initial=[a.to_dict() for a in priors])
    first = [asha.ask() for _ in range(len(priors) + 3)]
    assert [r.arch for r in first[:len(priors)]] == priors
    assert all(r.meta["origin"] == "initial" for r in first[:len(priors)])
    assert not set(r.arch for r in first[len(priors):]) & set(priors)
    bad = priors[0].to_dict()
    bad["decisions"]["s0.op"] = "conv9x9"
    with pytest.raises(Exception, match="conv9x9"):
        strategies.get("asha", space, initial=[bad])


def test_macro_priors_hold_the_standard_hand_cnn_and_a_small_model_to_offer():
    """The search must see the hand design it has to beat and a design 3x smaller than it."""
    space = spaces.get("macro-cnn")
    sizes = {space.describe(a): sum(p.numel() for p in space.build(a, (1, 28, 28), 10).parameters())
             for a in space.priors()}
    hand = sizes["stem32 conv3x3x1@32 conv3x3x2@64/2 conv3x3x2@128/2"]  # two convs per resolution, as the hand CNN
    assert hand == 288_170  # benchmarks/budgeted_search.py's hand_cnn(1, 10, 2), strided instead of max-pooled
    assert 3 * min(sizes.values()) <= hand


def test_hyperband_brackets_follow_the_paper_and_promote_only_complete_rungs():
    space = spaces.get("macro-cnn")
    est = MatchTarget(space)
    hb = strategies.get("hyperband", space, seed=0, min_resource=1, max_resource=27, eta=3)
    assert hb.s_max == 3
    assert [hb._size(3, k) for k in range(4)] == [27, 9, 3, 1]  # Li et al. 2018, Table 1 with R=27
    assert [hb._size(0, 0)] == [4]
    asked = [hb.ask() for _ in range(27)]
    assert {r.fidelity["epochs"] for r in asked} == {1} and len({r.arch for r in asked}) == 27
    nxt = hb.ask()  # rung 0 of bracket 3 is not complete: the next bracket starts
    assert nxt.meta["bracket"] == 1 and nxt.fidelity == {"epochs": 3}
    scores = {}
    for req in asked:
        res = est.evaluate(req.arch, Fidelity(), 0)
        scores[req.arch] = res.metrics["val_accuracy"]
        hb.tell(req, res)
    promoted = [hb.ask() for _ in range(9)]
    assert all(r.meta == {"bracket": 0, "rung": 1, "origin": "promoted"} for r in promoted)
    assert sorted(scores[r.arch] for r in promoted) == sorted(scores.values())[-9:]


def test_bohb_samples_from_its_model_once_a_resource_has_enough_results():
    space = spaces.get("macro-cnn")
    est = MatchTarget(space, noise=0.01)
    bohb = strategies.get("bohb", space, seed=0, min_resource=1, max_resource=9, eta=3, random_fraction=0.0,
                          min_points=10)
    by_origin = {"model": [], "random": []}
    for i in range(120):
        req = bohb.ask()
        res = est.evaluate(req.arch, Fidelity(), 0)
        bohb.tell(req, res)
        if req.meta["origin"] in by_origin:
            by_origin[req.meta["origin"]].append(res.metrics["val_accuracy"])
    assert len(by_origin["random"]) >= 9 and len(by_origin["model"]) >= 20
    # new architectures proposed by the model are better than the random ones before it
    assert np.mean(by_origin["model"]) > np.mean(by_origin["random"]) + 0.05, by_origin


def test_hyperband_brackets_finish_when_some_trials_fail():
    space = spaces.get("macro-cnn")
    est = MatchTarget(space)
    hb = strategies.get("hyperband", space, seed=0, min_resource=1, max_resource=9, eta=3)
    fail = lambda arch: int(arch.digest, 16) % 3 == 0  # a third of the architectures always fail
    rungs_reached = set()
    for _ in range(120):
        req = hb.ask()
        rungs_reached.add((req.meta["bracket"], req.meta["rung"]))
        res = Result(TrialStatus.FAILED, error="boom") if fail(req.arch) else est.evaluate(req.arch, Fidelity(), 0)
        assert not (req.meta["rung"] > 0 and fail(req.arch)), "a failed architecture was promoted"
        hb.tell(req, res)
    assert (0, 2) in rungs_reached  # the first bracket got to its top rung despite failures


def test_auto_default_time_rungs_continue_the_winner_into_the_final_training(tmp_path):
    budget = 30
    start = time.monotonic()
    summary = nasforge.auto("digits", time_budget=budget, out=tmp_path / "run", log=lambda m: None)
    assert time.monotonic() - start <= budget + 5
    assert summary["continued_from_search_seconds"] > 0  # the winner went on from its search training
    assert summary["test_accuracy"] > 0.5
    trials = nasforge.open_study(tmp_path / "run" / "study.db").trials
    assert all(t.fidelity["subset"] == 1.0 for t in trials)
    # the final phase shifts the digits but does not mirror them: the winner fails the mirror test
    assert summary["train_config"]["augment"] == "shift"
    plain, mirrored = (float(v) for v in summary["search"]["augment_reason"].replace(",", "").split()[2::2])
    assert mirrored < 0.9 * plain
    with pytest.raises(UserInputError, match="unknown rungs"):
        nasforge.auto("digits", time_budget=30, out=tmp_path / "x", rungs="epochs")
    with pytest.raises(UserInputError, match="unknown augment"):
        nasforge.auto("digits", time_budget=30, out=tmp_path / "y", augment="rotate")


def test_nasforge_auto_stays_callable_once_its_package_is_imported(tmp_path):
    import nasforge.auto.plan  # noqa: F401  (importing a submodule makes nasforge.auto the package itself)

    assert nasforge.auto is sys.modules["nasforge.auto"] and callable(nasforge.auto)
    with pytest.raises(UserInputError, match="at least 10 seconds"):
        nasforge.auto("digits", time_budget=5, out=tmp_path / "tiny")


@pytest.mark.slow  # ~20 s: the benchmarks' ablation mode, not a user path
def test_random_ablation_continues_its_winner_and_honours_a_requested_augmentation(tmp_path):
    summary = nasforge.auto("digits", time_budget=20, out=tmp_path / "run", log=lambda m: None, search="random",
                            augment="none")
    assert summary["continued_from_search_seconds"] > 0
    assert summary["train_config"]["augment"] == "none" and summary["search"]["augment_reason"] == "as requested"
