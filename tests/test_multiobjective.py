"""Multi-objective search: strategies resume exactly, constraints hold in every completed
trial, impossible constraints are refused up front, and the CLI end to end on a table."""

import io
import json

import numpy as np
import pytest
from rich.console import Console

from nasforge import benchmarks, spaces, strategies
from nasforge.api import SearchSpec, open_study
from nasforge.core import Fidelity, Result, TrialStatus, UserInputError
from nasforge.core.objectives import Constraint
from nasforge.core.pareto import dominates, hypervolume
from nasforge.progress import SearchReporter
from nasforge.study import REJECTED, hypervolume_by_trial, pareto_trials

from conftest import run_cli
from synthetic import MatchTarget

MO = ["nsga2", "mo-evolution", "parego", "mo-asha", "mo-local", "mo-bo", "cost-random"]


class TwoObjectives(MatchTarget):
    """MatchTarget's accuracy plus a cost that conflicts with it: the encoding's sum ("params")."""

    def evaluate(self, arch, fidelity, seed, on_epoch=None):
        result = super().evaluate(arch, fidelity, seed, on_epoch)
        if result.ok:
            epochs_bonus = 0.01 * fidelity.epochs  # partial results: more training, better accuracy
            result.metrics.update(val_accuracy=result.metrics["val_accuracy"] + epochs_bonus,
                                  params=float(np.sum(self.space.encode(arch))) * 1000)
        return result


@pytest.fixture
def space():
    return spaces.get("macro-cnn")


def drive(strategy, estimator, n):
    asked = []
    for _ in range(n):
        request = strategy.ask()
        fidelity = Fidelity.from_dict({**Fidelity().to_dict(), **(request.fidelity or {})})
        strategy.tell(request, estimator.evaluate(request.arch, fidelity, 0))
        asked.append((request.arch, json.dumps(request.fidelity, sort_keys=True)))
    return asked


@pytest.mark.parametrize("name", MO)
def test_multi_objective_strategies_resume_exactly(name, space):
    a = strategies.get(name, space, seed=1)
    a.set_objectives(["val_accuracy", "params"])
    history = drive(a, TwoObjectives(space, fail_every=7), 30)
    state = json.loads(json.dumps(a.state_dict()))
    b = strategies.get(name, space, seed=999)
    b.set_objectives(["val_accuracy", "params"])
    b.load_state_dict(state)
    b.remember(arch for arch, _ in history)
    assert drive(a, TwoObjectives(space), 20) == drive(b, TwoObjectives(space), 20)


@pytest.mark.parametrize("name", [m for m in MO if m != "cost-random"])  # without a cost lookup it is random search
def test_multi_objective_strategies_keep_the_front_diverse(name, space):
    """After the random start, the strategy's proposals are not all at one end of the trade-off."""
    s = strategies.get(name, space, seed=0)
    s.set_objectives(["val_accuracy", "params"])
    est = TwoObjectives(space)
    results = []
    for _ in range(60):
        request = s.ask()
        result = est.evaluate(request.arch, Fidelity(), 0)
        s.tell(request, result)
        results.append([-result.metrics["val_accuracy"], result.metrics["params"]])
    front = np.array(results)[[i for i in range(len(results)) if not any(
        dominates(results[j], results[i]) for j in range(len(results)))]]
    assert len(np.unique(front, axis=0)) >= 3


def test_single_objective_strategies_refuse_several_objectives(space):
    with pytest.raises(UserInputError, match="multi-objective strategy"):
        strategies.get("evolution", space).set_objectives(["val_accuracy", "params"])
    strategies.get("random", space).set_objectives(["val_accuracy", "params"])  # random ignores them


def test_a_minimised_single_objective_is_scored_higher_is_better(space):
    s = strategies.get("evolution", space)
    s.set_objectives(["params"])
    assert s.score(Result(TrialStatus.OK, {"val_accuracy": 0.5, "params": 100.0})) == -100.0


def test_mo_asha_promotes_by_pareto_rank_within_a_rung(space):
    s = strategies.get("mo-asha", space, seed=0, eta=3, min_resource=1, max_resource=9)
    s.set_objectives(["val_accuracy", "params"])
    values = [(0.9, 9000.0), (0.5, 1000.0), (0.4, 8000.0)]  # the third is dominated by both others
    for acc, params in values:
        request = s.ask()
        s.tell(request, Result(TrialStatus.OK, {"val_accuracy": acc, "params": params}))
    promoted = s.ask()
    assert promoted.meta["rung"] == 1
    first_two = [json.loads(a)["decisions"] for a, _ in s.rungs[0][:2]]
    assert dict(promoted.arch.decisions) in first_two


@pytest.fixture(scope="module")
def table():
    return benchmarks.get("mnist1d-nb201")


def test_constraints_hold_in_every_completed_trial(tmp_path, table):
    constraints = ["params<=40000", "latency_ms<=0.45", "val_accuracy>=0.9"]
    spec = SearchSpec(benchmark="mnist1d-nb201", strategy="nsga2", epochs=12, seed=3,
                      objectives=["val_accuracy", "latency_ms"], constraints=constraints)
    study = open_study(tmp_path / "s.db", spec)
    assert "of all 4930 architectures of the table meet" in study.feasibility
    printed = io.StringIO()
    study.optimize(n_trials=30, reporter=SearchReporter(Console(file=printed, width=300), study, 30, None))
    trials = study.trials
    ok = [t for t in trials if t.status == TrialStatus.OK]
    rejected = [t for t in trials if t.request_meta.get("rejected")]
    pruned_after = [t for t in trials if t.status == TrialStatus.PRUNED and not t.request_meta.get("rejected")]
    assert ok and rejected  # both kinds happen with these limits
    for t in ok:
        assert t.metrics["params"] <= 40000 and t.metrics["latency_ms"] <= 0.45 and t.metrics["val_accuracy"] >= 0.9
    for t in rejected:  # never trained: no accuracy, zero cost, the reason recorded
        assert t.status == TrialStatus.PRUNED and "val_accuracy" not in t.metrics and t.duration_s == 0.0
        assert t.error.startswith(REJECTED) and any(c in t.request_meta["rejected"] for c in constraints[:2])
    for t in pruned_after:
        assert t.metrics["val_accuracy"] < 0.9 and "trained, then pruned" in t.error
    assert len(ok) + len(pruned_after) == 30  # rejected architectures do not use the trial budget
    numbers = [line.split("]")[0] for line in printed.getvalue().splitlines() if line.startswith("[")]
    assert numbers == [f"[{n:>3}/30" for n in range(1, 31)]  # the progress counts as the budget does
    assert printed.getvalue().count("rejected before training") == len(rejected)
    front = pareto_trials(trials, ["val_accuracy", "latency_ms"])
    assert front and all(t.status == TrialStatus.OK for t in front)
    study.storage.close()
    again = open_study(tmp_path / "s.db", spec)  # resume counts the same way
    assert again.finished_count() == 30
    again.storage.close()


def test_an_impossible_constraint_is_refused_before_any_file(tmp_path, table):
    spec = SearchSpec(benchmark="mnist1d-nb201", strategy="nsga2", objectives=["val_accuracy", "latency_ms"],
                      constraints=["latency_ms<=0.1"])
    with pytest.raises(UserInputError, match=r"checked all 4930 architectures.*smallest latency_ms 0.238"):
        open_study(tmp_path / "s.db", spec)
    assert not (tmp_path / "s.db").exists()


def test_an_impossible_constraint_on_a_trained_space_is_found_by_sampling(tmp_path):
    spec = SearchSpec(space="macro-cnn", dataset="digits", strategy="random", constraints=["params<=10"])
    with pytest.raises(UserInputError, match="20 architectures sampled from the space"):
        open_study(tmp_path / "s.db", spec)


def test_old_specs_read_one_maximised_objective():
    spec = SearchSpec.from_dict({"space": "nb201", "dataset": "digits", "strategy": "evolution"})
    assert spec.objectives == ["val_accuracy"] and spec.constraints == []
    assert SearchSpec.from_dict(spec.to_dict()) == spec


def test_hypervolume_by_trial_is_monotone_and_ends_at_the_front(tmp_path, table):
    spec = SearchSpec(benchmark="mnist1d-nb201", strategy="mo-evolution", epochs=12,
                      objectives=["val_accuracy", "params"])
    study = open_study(tmp_path / "s.db", spec)
    study.optimize(n_trials=40)
    history = hypervolume_by_trial(study.trials, spec.objectives)
    volumes = [v for _, v in history]
    assert len(history) == 40 and all(b >= a for a, b in zip(volumes, volumes[1:])) and volumes[-1] > volumes[0]

    def point(t):
        return [-t.metrics["val_accuracy"], t.metrics["params"]]

    front = pareto_trials(study.trials, spec.objectives)
    front_ids = {t.id for t in front}
    for t in study.trials:
        dominated = any(dominates(point(f), point(t)) for f in front)
        if t.id in front_ids:
            assert not any(dominates(point(o), point(t)) for o in study.trials)
        else:
            assert dominated or any(point(f) == point(t) for f in front)
    study.storage.close()


def cli(capsys, *args):
    """Run the nasforge command in this process (a subprocess would import torch again each time)."""
    from nasforge.cli import main

    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_multi_objective_search_show_pareto_and_picture(tmp_path, capsys):
    study = tmp_path / "mo.db"
    code, out, err = cli(capsys, "search", "--study", study, "--benchmark", "mnist1d-nb201", "--strategy", "nsga2",
                         "--epochs", "12", "--objective", "val_accuracy", "--objective", "latency_ms",
                         "--constraint", "params<=60000", "--trials", "30", "--quiet")
    assert code == 0, err
    assert "Objectives: val_accuracy, latency_ms; constraints: params<=60000" in out
    assert "Hypervolume" in out
    code, out, err = cli(capsys, "show", "--study", study, "--pareto", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["objectives"] == {"val_accuracy": "maximize", "latency_ms": "minimize"}
    points = [[-t["metrics"]["val_accuracy"], t["metrics"]["latency_ms"]] for t in doc["front"]]
    assert points and not any(dominates(p, q) for p in points for q in points)
    assert all(t["metrics"]["params"] <= 60000 for t in doc["front"])
    ref = [-doc["reference"]["val_accuracy"], doc["reference"]["latency_ms"]]
    assert doc["hypervolume"] == pytest.approx(hypervolume(points, ref))
    assert doc["history"][-1][1] == pytest.approx(doc["hypervolume"])
    pytest.importorskip("matplotlib")
    code, out, err = cli(capsys, "show", "--study", study, "--pareto", "--plot")
    assert code == 0, err
    assert (tmp_path / "mo-pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_refuses_bad_objective_and_constraint_use(tmp_path, capsys):
    code, _, err = cli(capsys, "search", "--study", tmp_path / "x.db", "--benchmark", "mnist1d-nb201", "--strategy",
                       "evolution", "--objective", "val_accuracy", "--objective", "latency_ms", "--trials", "2")
    assert code == 2 and "multi-objective strategy" in err and not (tmp_path / "x.db").exists()
    code, _, err = cli(capsys, "search", "--study", tmp_path / "y.db", "--benchmark", "mnist1d-nb201", "--strategy",
                       "nsga2", "--constraint", "latency_ms=1", "--trials", "2")
    assert code == 2 and "METRIC<=NUMBER" in err
    code, _, err = cli(capsys, "search", "--study", tmp_path / "z.db", "--benchmark", "mnist1d-nb201", "--objective",
                       "latency", "--trials", "2")
    assert code == 2 and "Did you mean 'latency_ms'" in err


@pytest.mark.slow  # two interpreters importing torch: ~20 s on a loaded machine
def test_cli_end_to_end_in_a_subprocess(tmp_path):
    study = tmp_path / "p.db"
    out = run_cli("search", "--study", study, "--benchmark", "mnist1d-nb201", "--strategy", "mo-asha", "--objective",
                  "val_accuracy", "--objective", "params", "--strategy-option", "max_resource=12", "--trials", "20",
                  "--quiet")
    assert out.returncode == 0, out.stderr
    shown = run_cli("show", "--study", study, "--pareto")
    assert shown.returncode == 0 and "Pareto front on val_accuracy, params" in shown.stdout


def test_training_estimator_knows_params_and_flops_before_training(digits):
    from nasforge.estimation import TrainingEstimator
    from nasforge.study import precheck

    space = spaces.get("macro-cnn")
    estimator = TrainingEstimator(space, digits, measure_latency=False)
    arch = space.sample(np.random.default_rng(0))
    costs = estimator.costs(arch, ["params", "flops", "latency_ms", "val_accuracy"])
    assert set(costs) == {"params", "flops"} and costs["params"] > 0 and costs["flops"] > 0
    model = space.build(arch, digits.input_shape, digits.num_classes)
    assert costs["params"] == sum(p.numel() for p in model.parameters())
    limit = Constraint.parse(f"params<={costs['params'] - 1:.0f}")
    assert precheck(estimator, [limit], arch)[1] == [f"params={costs['params']:.6g} breaks {limit}"]
    assert precheck(estimator, [Constraint.parse(f"params<={costs['params']:.0f}")], arch)[1] == []


def test_training_estimator_measures_latency_before_training_as_its_trials_do(digits):
    from nasforge.estimation import MeasureConfig, TrainingEstimator

    space = spaces.get("macro-cnn")
    arch = space.sample(np.random.default_rng(0))
    fast = MeasureConfig(repeats=3, rounds=2, warmup=1)
    costs = TrainingEstimator(space, digits, measure=fast).costs(arch, ["latency_ms"])
    assert set(costs) == {"latency_ms"} and costs["latency_ms"] > 0
    # the trials' own measurement settings apply: a batch of 64 takes longer than a batch of 1
    batched = TrainingEstimator(space, digits, measure=MeasureConfig(repeats=3, rounds=2, warmup=1, batch_size=64))
    assert batched.costs(arch, ["latency_ms"])["latency_ms"] > costs["latency_ms"]


def test_show_pareto_of_a_single_objective_study_uses_its_recorded_costs(tmp_path, capsys):
    study = tmp_path / "one.db"
    code, _, err = cli(capsys, "search", "--study", study, "--benchmark", "mnist1d-nb201", "--strategy", "evolution",
                       "--epochs", "12", "--trials", "15", "--quiet")
    assert code == 0, err
    code, out, err = cli(capsys, "show", "--study", study, "--pareto")
    assert code == 0, err
    assert "optimised val_accuracy alone; its front is shown against latency_ms, params" in out
    assert "Hypervolume" in out
    code, _, err = cli(capsys, "show", "--study", study, "--plot")
    assert code == 2 and "--plot draws the Pareto front: use it with --pareto" in err
