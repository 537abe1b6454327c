"""The DARTS-space supernet: mixed ops, DARTS's derivation rule, resume after a kill, export, CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import full_and_killed_then_resumed, train_oneshot

from nasforge import spaces
from nasforge.core import UserInputError
from nasforge.oneshot import DartsMixedOp, DartsSupernet, GradientSearch, recalibrate_batch_norm
from nasforge.oneshot._darts_supernet import EDGES, NONE, OPS
from nasforge.spaces import darts

SPACE = spaces.get("darts", C=2, layers=3)  # a normal cell, then two reduction cells
SHAPE = (1, 6, 6)


def tiny_data(n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, *SHAPE, generator=g), torch.randint(0, 3, (n,), generator=g)


def supernet(seed=0):
    torch.manual_seed(seed)
    return DartsSupernet(SPACE, SHAPE, 3)


@pytest.mark.parametrize("stride", [1, 2])
def test_mixed_op_with_one_hot_weights_is_the_chosen_op(stride):
    torch.manual_seed(0)
    op = DartsMixedOp(2, 4, stride).eval()
    x = torch.randn(2, 4, 6, 6)
    for k, name in enumerate(OPS):
        one_hot = torch.nn.functional.one_hot(torch.tensor(k), len(OPS)).float()
        expected = op.ops[k](x)
        assert expected.shape == (2, 4, 6 // stride, 6 // stride), name
        assert torch.equal(op(x, weights=one_hot), expected), name
        assert torch.equal(op(x, index=k), expected), name
        assert torch.equal(op(x, weights=one_hot, index=k), expected), name  # GDAS: one path, weight 1
    assert not torch.allclose(op(x, weights=torch.full((len(OPS),), 1 / len(OPS))), op.ops[4](x))


def assert_follows_the_rules(arch):
    SPACE.validate(arch)
    for cell in darts.CELLS:
        nodes, concat = darts.cell_spec(arch, cell)
        assert len(nodes) == darts.NODES and concat == (2, 3, 4, 5)
        for k, node in zip(range(2, 6), nodes):
            (op_a, src_a), (op_b, src_b) = node
            assert src_a < src_b < k, (cell, k, node)  # two distinct earlier nodes, in increasing order
            assert "none" not in (op_a, op_b) and {op_a, op_b} <= set(darts.SEARCH_OPS)


def test_derived_genotypes_obey_the_space_rules():
    rng = np.random.default_rng(0)
    for _ in range(20):
        assert_follows_the_rules(DartsSupernet.derive(torch.from_numpy(rng.normal(size=DartsSupernet.alpha_shape))))
    alpha = torch.zeros(DartsSupernet.alpha_shape)
    alpha[..., NONE] = 10.0  # 'none' dominates every edge: it is still never chosen
    assert_follows_the_rules(DartsSupernet.derive(alpha))


def test_derive_keeps_the_two_strongest_inputs_and_their_strongest_real_op():
    alpha = torch.zeros(DartsSupernet.alpha_shape)
    e = {edge: i for i, edge in enumerate(EDGES)}
    alpha[0, e[(4, 3)], OPS.index("dil_conv_5x5")] = 3.0
    alpha[0, e[(4, 1)], OPS.index("skip_connect")] = 2.0
    alpha[0, e[(4, 0)], OPS.index("sep_conv_3x3")] = 1.0  # third strongest: dropped
    alpha[0, e[(4, 2)], NONE] = 9.0  # strong only in 'none': its real ops are weak, dropped
    alpha[1, e[(2, 1)], OPS.index("max_pool_3x3")] = 2.0
    arch = DartsSupernet.derive(alpha)
    assert arch["normal.node4"] == (("skip_connect", 1), ("dil_conv_5x5", 3))
    assert arch["reduce.node2"][1] == ("max_pool_3x3", 1)
    assert DartsSupernet.parameter_free_edges(arch) >= 2
    choice = DartsSupernet.arch_to_choice(arch)
    assert sum(c != NONE for c in choice[0]) == 8 and choice[0][e[(4, 3)]] == OPS.index("dil_conv_5x5")


def test_cells_the_supernet_cannot_hold_are_refused():
    with pytest.raises(UserInputError, match="4 nodes"):
        DartsSupernet.arch_to_choice(darts.genotype("NASNet"))  # 5 nodes
    v2 = darts.genotype("DARTS_V2")
    DartsSupernet.arch_to_choice(v2)
    with pytest.raises(UserInputError, match="not a DARTS search op"):
        DartsSupernet.arch_to_choice(v2.replace(**{"normal.node2": (("conv_1x1", 0), ("skip_connect", 1))}))
    with pytest.raises(UserInputError, match="'darts' space"):
        DartsSupernet(spaces.get("nb201"), SHAPE, 3)


def train(method, epochs_run, x, y, checkpoint=None, load=None, **options):
    return train_oneshot(supernet(), method, epochs_run, x, y, 8, checkpoint, load, **options)


def state(t):
    return {**{k: v.clone() for k, v in t.supernet.state_dict().items()}, "alpha": t.alpha.detach().clone()}


@pytest.mark.parametrize("method", ["darts", "gdas", "beta-darts"])
def test_a_killed_search_resumes_from_its_checkpoint_to_the_same_state(tmp_path, method):
    x, y = tiny_data()
    straight = train(method, 2, x, y)
    assert isinstance(straight, GradientSearch) and straight.alpha.shape == (2, 14, 8)
    path = tmp_path / "supernet.pt"
    first = train(method, 1, x, y, checkpoint=path)
    reloaded = train(method, 0, x, y, load=path)  # a new process after the kill
    assert reloaded.epoch == 1 and reloaded.history == first.history
    reloaded.run_epoch()
    a, b = state(straight), state(reloaded)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), "resumed run differs"
    assert_follows_the_rules(reloaded.derive())


def test_second_order_runs_on_the_darts_supernet():
    x, y = tiny_data()
    first, second = train("darts", 1, x, y, arch_lr=0.01), train("darts2", 1, x, y, arch_lr=0.01)
    assert torch.isfinite(second.alpha).all() and not torch.equal(first.alpha, second.alpha)


def test_a_derived_path_is_the_standalone_network_and_exports_to_onnx(tmp_path):
    x, y = tiny_data()
    t = train("darts", 1, x, y, arch_lr=0.05)
    arch = t.derive()
    choice = t.supernet.arch_to_choice(arch)
    recalibrate_batch_norm(t.supernet, [x[:8], x[8:]], choice=choice)
    model = t.supernet.extract(arch).eval()
    with torch.no_grad():
        assert torch.allclose(model(x), t.supernet(x, choice=choice), atol=1e-5)
    onnxruntime = pytest.importorskip("onnxruntime", reason="the onnx extra (pip install 'nasforge[onnx]') is "
                                                            "not installed")
    pytest.importorskip("onnxscript", reason="the onnx extra (pip install 'nasforge[onnx]') is not installed")
    from nasforge.export import export_model

    out = export_model(model, SHAPE, "onnx", tmp_path / "derived.onnx")
    got = onnxruntime.InferenceSession(str(out)).run(None, {"input": x[:5].numpy()})[0]
    with torch.no_grad():
        np.testing.assert_allclose(got, model(x[:5]).numpy(), rtol=1e-4, atol=1e-5)


def cli_args(study, method="beta-darts", *extra):
    return ["oneshot", "--space", "darts", "--method", method, "--dataset", "digits", "--study", str(study),
            "--epochs", "2", "--subset", "0.03", "--space-option", "C=2", "--space-option", "layers=2",
            "--option", "batch_size=16", "--quiet", *extra]


@pytest.mark.slow  # three CLI runs of the supernet (over 5 s on a shared 2-core machine)
def test_cli_searches_the_darts_space_and_resumes_after_a_kill(tmp_path):
    from nasforge import cli  # for the export below

    full, spec, resumed = full_and_killed_then_resumed(cli_args, tmp_path)
    assert full.best().arch == resumed.best().arch and full.best().objective == resumed.best().objective
    assert [t.request_meta.get("kind") for t in resumed.trials()] == ["supernet-epoch", "supernet-epoch", "derived"]
    assert_follows_the_rules(resumed.best().arch)
    epochs = resumed.meta()["oneshot_epochs"]
    assert len(epochs) == 2 and all(r["activation_mb"] > 0 and r["cpu_seconds"] > 0 for r in epochs)
    assert spec.space == "darts" and spec.space_options == {"C": 2, "layers": 2}
    assert cli.main(["export", "--study", str(tmp_path / "killed.db"), "--weights",
                     f"{tmp_path / 'killed.db'}.derived.pt", "--format", "pytorch",
                     "--out", str(tmp_path / "m.pt")]) == 0


@pytest.mark.parametrize("method", ["spos", "enas", "sandwich"])
def test_cli_refuses_methods_the_darts_space_has_no_supernet_for(tmp_path, method, capsys):
    from nasforge import cli

    assert cli.main(cli_args(tmp_path / "s.db", method)) == 2
    err = capsys.readouterr().err
    assert f"--method {method}" in err and "darts / darts2 / gdas / beta-darts" in err
    assert not (tmp_path / "s.db").exists()
