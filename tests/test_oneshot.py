"""One-shot NAS: the NB201 supernet, its trainings, checkpoints, SPOS in a study, and the CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import ctrl_c_in_supernet_epoch, train_oneshot

from nasforge import spaces, strategies
from nasforge.core import Fidelity, TrialStatus, UserInputError
from nasforge.oneshot import (METHODS, GradientSearch, MixedOp, NB201Supernet, OneShotConfig, SupernetEstimator,
                              arch_to_choice, choice_to_arch, parameter_free_edges,
                              recalibrate_batch_norm)
from nasforge.spaces import nb201
from nasforge.study import Storage, Study

SPACE = spaces.get("nb201", channels=4, cells_per_stage=1)


def tiny_data(shape=(1, 12), n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, *shape, generator=g)
    return x, torch.randint(0, 3, (n,), generator=g)


def supernet(shape=(1, 12), seed=0):
    torch.manual_seed(seed)
    return NB201Supernet(SPACE, shape, 3)


@pytest.mark.parametrize("dims", [1, 2])
def test_mixed_op_with_one_hot_weights_is_the_chosen_op(dims):
    torch.manual_seed(0)
    op = MixedOp(dims, 4).eval()
    x = torch.randn(2, 4, *([6] * dims))
    for k, name in enumerate(nb201.OPS):
        one_hot = torch.nn.functional.one_hot(torch.tensor(k), len(nb201.OPS)).float()
        expected = op.ops[k](x)
        assert torch.equal(op(x, weights=one_hot), expected), name
        assert torch.equal(op(x, index=k), expected), name
        assert torch.equal(op(x, weights=one_hot, index=k), expected), name  # GDAS: one path, weight 1
    mixed = op(x, weights=torch.full((5,), 0.2))
    assert not torch.allclose(mixed, op.ops[3](x))  # a real mixture differs from any one op


@pytest.mark.parametrize("shape", [(1, 12), (1, 8, 8)])
def test_derived_cells_are_valid_nb201_archs_and_extract_with_the_supernets_weights(shape):
    net = supernet(shape)
    rng = np.random.default_rng(0)
    for _ in range(5):
        arch = NB201Supernet.derive(torch.from_numpy(rng.normal(size=(6, 5))))
        SPACE.validate(arch)
        assert arch.space == "nb201" and choice_to_arch(arch_to_choice(arch)) == arch
    x, _ = tiny_data(shape)
    for text in ("|nor_conv_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|",
                 "|none~0|+|skip_connect~0|nor_conv_3x3~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|"):  # dead edges
        arch = nb201.from_string(text)
        recalibrate_batch_norm(net, [x[:16], x[16:32]], choice=arch_to_choice(arch))
        standalone = net.extract(arch).eval()
        with torch.no_grad():
            assert torch.allclose(standalone(x), net(x, choice=arch_to_choice(arch)), atol=1e-5), text
        assert parameter_free_edges(arch) == 4


def test_derive_follows_the_largest_weight_including_none():
    alpha = torch.zeros(6, 5)
    alpha[:, 1] = 1.0  # skip everywhere: DARTS's collapse
    alpha[2, 0] = 2.0  # 'none' wins on edge 1->2
    arch = NB201Supernet.derive(alpha)
    assert arch["1->2"] == "none" and all(arch[e] == "skip_connect" for e in nb201.EDGE_NAMES if e != "1->2")
    assert parameter_free_edges(arch) == 6


def train(method, epochs_run, x, y, checkpoint=None, load=None, **options):
    return train_oneshot(supernet(), method, epochs_run, x, y, 16, checkpoint, load, **options)


def state(t):
    s = {k: v.clone() for k, v in t.supernet.state_dict().items()}
    if isinstance(t, GradientSearch):
        s["alpha"] = t.alpha.detach().clone()
    return s


@pytest.mark.parametrize("method", ["darts", "gdas", "spos", "beta-darts"])
def test_a_killed_search_resumes_from_its_checkpoint_to_the_same_state(tmp_path, method):
    x, y = tiny_data()
    straight = train(method, 2, x, y)
    path = tmp_path / "supernet.pt"
    first = train(method, 1, x, y, checkpoint=path)
    reloaded = train(method, 0, x, y, load=path)  # a new process after the kill
    assert reloaded.epoch == 1 and reloaded.history == first.history
    assert all(torch.equal(a, b) for a, b in zip(state(first).values(), state(reloaded).values()))
    reloaded.run_epoch()
    a, b = state(straight), state(reloaded)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), "resumed run differs"
    assert [r["train_loss"] for r in reloaded.history] == [r["train_loss"] for r in straight.history]


def test_second_order_darts_moves_alpha_differently_from_first_order():
    x, y = tiny_data()
    first = train("darts", 1, x, y, arch_lr=0.01)
    second = train("darts2", 1, x, y, arch_lr=0.01)
    assert torch.isfinite(second.alpha).all()
    assert not torch.equal(first.alpha, second.alpha)
    assert second.history[0]["activation_mb"] > first.history[0]["activation_mb"]  # the unrolled step costs more


def test_beta_decay_keeps_alpha_small():
    x, y = tiny_data()
    plain = train("darts", 3, x, y, arch_lr=0.05)
    beta = train("beta-darts", 3, x, y, arch_lr=0.05, beta_lambda=50.0)
    lse = lambda t: torch.logsumexp(t.alpha.detach(), dim=-1).mean().item()  # noqa: E731
    assert lse(beta) < lse(plain)


def test_options_are_checked():
    with pytest.raises(UserInputError, match="method"):
        OneShotConfig(method="enas-v2")
    with pytest.raises(UserInputError, match="unknown one-shot option"):
        OneShotConfig.from_options({"learning_rate": 0.1})
    assert set(METHODS) == {"darts", "darts2", "gdas", "beta-darts", "spos", "sandwich", "progressive", "enas"}


def test_spos_estimator_scores_cells_in_a_study(tmp_path):
    x, y = tiny_data()
    t = train("spos", 1, x, y)
    estimator = SupernetEstimator(t.supernet, x, x[:16], y[:16], calibration_batches=2, batch_size=8)
    strategy = strategies.get("evolution", SPACE, seed=0, population_size=4, tournament_size=2)
    study = Study(Storage.create(tmp_path / "s.db", {}), strategy, estimator, Fidelity(epochs=1), seed=0)
    study.optimize(n_trials=6)
    trials = study.trials
    assert len(trials) == 6 and all(tr.status == TrialStatus.OK for tr in trials)
    assert all(0.0 <= tr.metrics["val_accuracy"] <= 1.0 and tr.metrics["params"] > 0 for tr in trials)
    again = estimator.evaluate(trials[0].arch, Fidelity(epochs=1), seed=123)
    assert again.metrics["val_accuracy"] == trials[0].metrics["val_accuracy"]  # BN recalibrated the same way


def test_bn_recalibration_changes_the_score_of_a_path():
    x, y = tiny_data()
    t = train("spos", 1, x, y)
    arch = choice_to_arch([3] * 6)
    choice = arch_to_choice(arch)
    net = t.supernet.eval()
    with torch.no_grad():
        before = net(x, choice=choice)
        recalibrate_batch_norm(net, [x[:16], x[16:]], choice=choice)  # equal batches: mean of means = mean
        after = net(x, choice=choice)
    assert not torch.allclose(before, after)
    stem_bn = net.stem[1]
    with torch.no_grad():
        z = net.stem[0](x)
    assert torch.allclose(stem_bn.running_mean, z.mean(dim=(0, 2)), atol=1e-5)  # exact average over the batches


def test_a_derived_cell_exports_to_onnx_with_matching_outputs(tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime", reason="the onnx extra (pip install 'nasforge[onnx]') is "
                                                            "not installed")
    pytest.importorskip("onnxscript", reason="the onnx extra (pip install 'nasforge[onnx]') is not installed")
    from nasforge.export import export_model

    x, y = tiny_data()
    t = train("darts", 1, x, y, arch_lr=0.05)
    arch = t.derive()
    recalibrate_batch_norm(t.supernet, [x[:24], x[24:]], choice=arch_to_choice(arch))
    model = t.supernet.extract(arch).eval()
    out = export_model(model, (1, 12), "onnx", tmp_path / "derived.onnx")
    session = onnxruntime.InferenceSession(str(out))
    got = session.run(None, {"input": x[:5].numpy()})[0]
    with torch.no_grad():
        np.testing.assert_allclose(got, model(x[:5]).numpy(), rtol=1e-4, atol=1e-5)


def cli_args(study, method="darts", *extra):
    return ["oneshot", "--method", method, "--dataset", "digits", "--study", str(study), "--epochs", "2",
            "--subset", "0.05", "--space-option", "channels=4", "--space-option", "cells_per_stage=1",
            "--option", "batch_size=32", "--quiet", *extra]


def test_cli_resumes_after_a_kill_and_ends_in_a_trainable_study(tmp_path):
    from nasforge import cli
    from nasforge.api import open_storage

    assert cli.main(cli_args(tmp_path / "full.db")) == 0
    with ctrl_c_in_supernet_epoch(2):
        assert cli.main(cli_args(tmp_path / "killed.db")) == 130
    storage, _ = open_storage(tmp_path / "killed.db")
    assert [t.request_meta["epoch"] for t in storage.trials()] == [1] and storage.best() is None
    storage.close()
    assert cli.main(cli_args(tmp_path / "killed.db")) == 0
    full, spec = open_storage(tmp_path / "full.db")
    resumed, _ = open_storage(tmp_path / "killed.db")
    assert full.best().arch == resumed.best().arch
    assert full.best().objective == resumed.best().objective
    timing = {"seconds", "cpu_seconds", "peak_rss_mb"}
    assert [{k: v for k, v in r.items() if k not in timing} for r in full.meta()["oneshot_epochs"]] == \
        [{k: v for k, v in r.items() if k not in timing} for r in resumed.meta()["oneshot_epochs"]]
    assert [t.request_meta.get("kind") for t in resumed.trials()] == ["supernet-epoch", "supernet-epoch", "derived"]
    assert spec.space == "nb201" and spec.space_options == {"channels": 4, "cells_per_stage": 1}
    assert cli.main(["export", "--study", str(tmp_path / "killed.db"), "--weights", f"{tmp_path / 'killed.db'}.derived.pt",
                     "--format", "pytorch", "--out", str(tmp_path / "m.pt")]) == 0
    assert cli.main(cli_args(tmp_path / "killed.db", "gdas")) == 2  # another method on the same study is refused


def test_cli_spos_searches_the_supernet_with_a_strategy(tmp_path):
    from nasforge import cli
    from nasforge.api import open_storage

    study = tmp_path / "spos.db"
    assert cli.main(cli_args(study, "spos", "--strategy", "random", "--trials", "4")) == 0
    storage, _ = open_storage(study)
    assert len(storage.trials((TrialStatus.OK,))) == 4 and len(storage.meta()["oneshot_epochs"]) == 2
    storage.close()
    assert cli.main(cli_args(study, "spos", "--strategy", "random", "--trials", "6")) == 0  # resumes: 2 more cells
    storage, _ = open_storage(study)
    assert len(storage.trials((TrialStatus.OK,))) == 6
