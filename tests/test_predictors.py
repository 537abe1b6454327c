"""Surrogate predictors (nasforge.predictors): each family ranks held-out architectures far
better than chance, is more uncertain away from its data, is deterministic for a seed, and
refuses misuse with a one-line error."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from nasforge import predictors
from nasforge.core import UnknownNameError, UserInputError
from nasforge.predictors import kendall_tau, spearman

FAMILIES = ("mlp-ensemble", "gp", "gbt", "proxy-features")
MACRO = Path(os.environ.get("NASFORGE_NASBENCH_MACRO",
                            Path(__file__).resolve().parents[2] / "shared/data/nas-bench-macro_cifar10.json"))


def make(name, **options):
    if name == "gbt":
        pytest.importorskip("sklearn")
        options = {"members": 3, "max_iter": 50, **options}  # fewer trees: the tests stay fast on a busy machine
    if name == "proxy-features":
        options.setdefault("features", 1)
    return predictors.get(name, **options)


def synthetic(n, rng, decisions=6, options=5, noise=0.05):
    """One-hot encodings of ``decisions`` choices among ``options`` (as NB201's 6 edges x 5 ops),
    scored by fixed additive effects, one pairwise interaction and noise; plus a feature column
    (a noisy "proxy" of the score, on a parameter-count-like scale)."""
    effects = np.random.default_rng(0).normal(size=(decisions, options))
    choice = rng.integers(options, size=(n, decisions))
    x = np.zeros((n, decisions * options))
    x[np.arange(n)[:, None], choice + options * np.arange(decisions)] = 1.0
    y = effects[np.arange(decisions), choice].sum(1) + 0.5 * (choice[:, 0] == choice[:, 1])
    y = y + noise * rng.normal(size=n)
    proxy = np.exp(y + 0.3 * rng.normal(size=n)) * 1e5
    return x, y, proxy


def with_feature(name, x, proxy):
    return np.hstack([x, proxy[:, None]]) if name == "proxy-features" else x


@pytest.mark.parametrize("name", FAMILIES)
def test_ranks_held_out_synthetic_architectures_better_than_chance(name):
    rng = np.random.default_rng(1)
    x, y, proxy = synthetic(600, rng)
    model = make(name).fit(with_feature(name, x[:100], proxy[:100]), y[:100])
    mean, std = model.predict(with_feature(name, x[100:], proxy[100:]))
    assert mean.shape == std.shape == (500,) and (std >= 0).all()
    assert kendall_tau(mean, y[100:]) > 0.5


@pytest.mark.skipif(not MACRO.is_file(), reason=f"NAS-Bench-Macro table not found at {MACRO}")
@pytest.mark.parametrize("name", FAMILIES)
def test_ranks_held_out_nasbench_macro_architectures(name):
    """Trained on 100 of the 6,561 real networks, each family orders 1,000 others by their
    mean test accuracy with Kendall tau > 0.3 (the proxy feature: the table's FLOPs)."""
    table = json.loads(MACRO.read_text())
    keys = sorted(table)
    rng = np.random.default_rng(2)
    picked = rng.choice(len(keys), 1100, replace=False)
    x = np.array([np.eye(3)[[int(c) for c in keys[i]]].ravel() for i in picked])
    y = np.array([table[keys[i]]["mean_acc"] for i in picked])
    flops = np.array([float(table[keys[i]]["flops"]) for i in picked])
    model = make(name).fit(with_feature(name, x[:100], flops[:100]), y[:100])
    assert kendall_tau(model.predict(with_feature(name, x[100:], flops[100:]))[0], y[100:]) > 0.3


def test_an_informative_feature_helps():
    """With a feature that tracks the score, proxy-features ranks better than the GP without it."""
    rng = np.random.default_rng(3)
    x, y, proxy = synthetic(400, rng, noise=0.3)
    plain = make("gp").fit(x[:30], y[:30]).predict(x[30:])[0]
    proxied = make("proxy-features").fit(with_feature("proxy-features", x[:30], proxy[:30]), y[:30])
    assert spearman(proxied.predict(with_feature("proxy-features", x[30:], proxy[30:]))[0], y[30:]) > \
        spearman(plain, y[30:]) + 0.05


@pytest.mark.parametrize("name", FAMILIES)
def test_more_uncertain_far_from_the_data(name):
    """Trained where the first three decisions take option 0 only; architectures whose first three
    decisions all differ get a clearly larger std (1.5x) than the training architectures."""
    x, y, proxy = synthetic(4000, np.random.default_rng(4))
    first3 = x[:, [0, 5, 10]]
    train, far = np.flatnonzero(first3.sum(1) == 3), first3.sum(1) == 0
    assert len(train) >= 20
    # gbt at its defaults: its spread over subsampled members is the weakest of the four (about 2x here,
    # against ~15x for the GP and ~70x for the MLP ensemble), and a smaller ensemble does not show it
    model = make(name, **({"members": 5, "max_iter": 100} if name == "gbt" else {}))
    model.fit(with_feature(name, x[train], proxy[train]), y[train])
    _, std_train = model.predict(with_feature(name, x[train], proxy[train]))
    _, std_far = model.predict(with_feature(name, x[far], proxy[far]))
    assert np.median(std_far) > 1.5 * np.median(std_train), (np.median(std_far), np.median(std_train))


@pytest.mark.parametrize("name", FAMILIES)
def test_deterministic_for_a_seed(name):
    rng = np.random.default_rng(5)
    x, y, proxy = synthetic(120, rng)
    xs = with_feature(name, x, proxy)
    a = make(name, seed=7).fit(xs[:60], y[:60]).predict(xs[60:])
    b = make(name, seed=7).fit(xs[:60], y[:60]).predict(xs[60:])
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    if name in ("mlp-ensemble", "gbt"):  # seeded families: another seed gives another ensemble
        c = make(name, seed=8).fit(xs[:60], y[:60]).predict(xs[60:])
        assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("name", FAMILIES)
def test_predict_before_fit_is_refused(name):
    with pytest.raises(UserInputError, match="not fitted yet: call fit"):
        make(name).predict(np.zeros((2, 4)))


@pytest.mark.parametrize("name", FAMILIES)
def test_shape_mismatches_name_the_problem(name):
    model = make(name)
    x = np.eye(6)[[0, 1, 2, 3, 4, 5, 0, 1]]
    y = np.arange(8.0)
    with pytest.raises(UserInputError, match="one score per row of X"):
        model.fit(x, y[:5])
    with pytest.raises(UserInputError, match="2-D array"):
        model.fit(x[0], y[:1])
    with pytest.raises(UserInputError, match="non-finite"):
        model.fit(x, np.where(y == 3, np.nan, y))
    model.fit(x, y)
    with pytest.raises(UserInputError, match="fitted on 6 columns, but X has 5"):
        model.predict(x[:, :5])


def test_bad_options_and_names():
    with pytest.raises(UnknownNameError):
        predictors.get("random-forest")
    with pytest.raises(UserInputError, match="'members' parameter of mlp-ensemble"):
        predictors.get("mlp-ensemble", members=1)
    with pytest.raises(UserInputError, match="'features' parameter of proxy-features"):
        predictors.get("proxy-features", features=0)
    with pytest.raises(UserInputError, match="last 3 columns are features"):
        predictors.get("gp", features=3).fit(np.eye(2), [0.0, 1.0])


def test_rank_correlations_on_hand_checkable_cases():
    assert kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    assert kendall_tau([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)
    assert spearman([1, 2, 3, 4], [1, 4, 9, 16]) == pytest.approx(1.0)
    assert spearman([1, 2, 3], [3, 1, 2]) == pytest.approx(-0.5)


def test_feature_columns_are_scaled_not_the_encoding():
    """A positive, heavy-tailed feature column is logged and standardised; encoding columns pass through."""
    x = np.array([[1.0, 0.0, 1e3], [0.0, 1.0, 1e5], [1.0, 0.0, 1e7]])
    model = predictors.get("gp", features=1).fit(x, [0.0, 1.0, 2.0])
    scaled = model._scaled(x)
    np.testing.assert_array_equal(scaled[:, :2], x[:, :2])
    np.testing.assert_allclose(scaled[:, 2], [-np.sqrt(1.5), 0.0, np.sqrt(1.5)], rtol=1e-6)


def test_an_op_unseen_in_training_does_not_blow_up_the_mlp():
    """A one-hot column constant (0) on every training row is scaled by 1, not by ~0: a candidate
    with that op gets a prediction on the scale of the data. ``constant_scale=0`` is BANANAS's
    scaling (1e-6), under which the same candidate's ensemble spread explodes."""
    x, y, _ = synthetic(200, np.random.default_rng(6))
    seen = x[:, 0] == 0  # option 0 of the first decision never appears in training
    unseen = x[~seen][:20]
    mean, std = make("mlp-ensemble").fit(x[seen], y[seen]).predict(unseen)
    assert np.abs(mean).max() < 5 * np.abs(y).max() and std.max() < np.ptp(y)
    _, std_bananas = make("mlp-ensemble", constant_scale=0.0).fit(x[seen], y[seen]).predict(unseen)
    assert std_bananas.min() > 5 * np.ptp(y)
