"""The elastic mobilenet-elastic supernet: sandwich training, extraction with inherited weights,
BN recalibration, checkpoints, export, and `nasforge oneshot --method sandwich`."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nasforge import spaces, strategies
from nasforge.core import Fidelity, TrialStatus, UserInputError
from nasforge.oneshot import (ElasticEstimator, OneShotConfig, SandwichTraining, calibration_set, extract_subnet,
                              make_training, recalibrate_batch_norm, smallest_arch)
from nasforge.study import Storage, Study

SPACE = spaces.get("mobilenet-elastic", num_stages=2)
SHAPE = (1, 8, 8)


def tiny_data(n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, *SHAPE, generator=g), torch.randint(0, 3, (n,), generator=g)


def sandwich(epochs, x, y, load=None, **options):
    torch.manual_seed(0)
    net = SPACE.supernet(SHAPE, 3)
    config = OneShotConfig(method="sandwich", epochs=2, batch_size=16, calibration_batches=2, **options)
    t = make_training(net, config, x, y, x[:16], y[:16])
    if load is not None:
        t.load(load)
    for _ in range(epochs):
        t.run_epoch()
    return t


def test_the_largest_subnet_holds_exactly_the_supernets_weights():
    x, y = tiny_data()
    net = sandwich(1, x, y).supernet
    largest = net.extract(SPACE.largest())
    big, small = net.state_dict(), largest.state_dict()
    assert big.keys() == small.keys()
    assert all(torch.equal(big[k], small[k]) for k in big)
    assert not set(small) - {k for k, v in big.items() if v.numel()}  # nothing left out, nothing empty


def test_an_extracted_subnet_computes_what_the_supernet_does_at_that_arch():
    x, y = tiny_data()
    net = sandwich(1, x, y).supernet
    calibration = [x[:16], x[16:]]
    rng = np.random.default_rng(0)
    for arch in [smallest_arch(SPACE), SPACE.largest()] + [SPACE.sample(rng) for _ in range(4)]:
        model = extract_subnet(net, arch, calibration)
        assert not model.training
        net.set_active(arch)
        recalibrate_batch_norm(net, calibration)
        with torch.no_grad():
            assert torch.allclose(model(x), net(x), atol=1e-5), SPACE.describe(arch)
    assert sum(p.numel() for p in extract_subnet(net, smallest_arch(SPACE), calibration).parameters()) < \
        sum(p.numel() for p in net.parameters()) / 10


def test_recalibration_of_an_elastic_subnet_is_the_exact_average_of_its_batches():
    x, _ = tiny_data()
    net = SPACE.supernet(SHAPE, 3)
    model = extract_subnet(net, smallest_arch(SPACE), [x[:16], x[16:]])  # equal batches: mean of means = mean
    with torch.no_grad():
        stem = F.conv2d(x, model.stem.weight, padding=1)
    assert torch.allclose(model.stem_bn.running_mean, stem.mean(dim=(0, 2, 3)), atol=1e-5)
    assert model.stem_bn.momentum == net.stem_bn.momentum  # restored after recalibrating


def test_each_sandwich_step_trains_the_largest_the_smallest_and_random_subnets(monkeypatch):
    x, y = tiny_data()
    t = sandwich(0, x, y, sandwich_random=3)
    seen = []
    real = type(t.supernet).set_active
    monkeypatch.setattr(type(t.supernet), "set_active", lambda self, arch: seen.append(arch) or real(self, arch))
    t.step(x[:16], y[:16])
    assert seen[0] == SPACE.largest() and seen[1] == smallest_arch(SPACE)
    assert len(seen) == 2 + 3 + 1  # and back to the largest at the end
    assert all(p.grad is not None for p in t.supernet.parameters())  # the largest touches every weight


def test_distillation_changes_what_the_smaller_subnets_learn():
    x, y = tiny_data()
    plain = sandwich(1, x, y, distill=False).supernet.state_dict()
    distilled = sandwich(1, x, y, distill=True).supernet.state_dict()
    assert any(not torch.equal(plain[k], distilled[k]) for k in plain)


def test_a_killed_sandwich_training_resumes_from_its_checkpoint_to_the_same_state(tmp_path):
    x, y = tiny_data()
    straight = sandwich(2, x, y)
    path = tmp_path / "supernet.pt"
    sandwich(1, x, y).save(path)
    resumed = sandwich(0, x, y, load=path)  # a new process after the kill
    assert resumed.epoch == 1
    resumed.run_epoch()
    a, b = straight.supernet.state_dict(), resumed.supernet.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed run differs"
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in straight.history]


def test_an_extracted_subnet_exports_with_matching_outputs(tmp_path):
    from nasforge.export import export_model

    x, y = tiny_data()
    t = sandwich(1, x, y)
    arch = SPACE.sample(np.random.default_rng(3))
    model = extract_subnet(t.supernet, arch, t.calibration)
    with torch.no_grad():
        expected = model(x[:5]).numpy()
    try:
        import onnxruntime
        import onnxscript  # noqa: F401
    except ImportError:  # without the onnx extra, TorchScript
        out = export_model(model, SHAPE, "torchscript", tmp_path / "subnet.pt")
        got = torch.jit.load(str(out))(x[:5]).detach().numpy()
    else:
        out = export_model(model, SHAPE, "onnx", tmp_path / "subnet.onnx")
        got = onnxruntime.InferenceSession(str(out)).run(None, {"input": x[:5].numpy()})[0]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_the_elastic_estimator_scores_subnets_in_a_study(tmp_path):
    x, y = tiny_data()
    t = sandwich(1, x, y)
    estimator = ElasticEstimator(t.supernet, x, x[:16], y[:16], calibration_batches=2, batch_size=16)
    study = Study(Storage.create(tmp_path / "s.db", {}), strategies.get("random", SPACE, seed=0), estimator,
                  Fidelity(epochs=1), seed=0)
    study.optimize(n_trials=3)
    trials = study.trials
    assert len(trials) == 3 and all(tr.status == TrialStatus.OK for tr in trials)
    assert all(tr.metrics["params"] > 0 and tr.metrics["latency_ms"] > 0 for tr in trials)
    again = estimator.evaluate(trials[0].arch, Fidelity(epochs=1), seed=9)
    assert again.metrics["val_accuracy"] == trials[0].metrics["val_accuracy"]


def test_sandwich_needs_the_elastic_supernet_and_its_options_need_sandwich():
    from nasforge.oneshot import NB201Supernet

    x, y = tiny_data()
    nb201 = NB201Supernet(spaces.get("nb201", channels=4, cells_per_stage=1), SHAPE, 3)
    with pytest.raises(UserInputError, match="mobilenet-elastic"):
        SandwichTraining(nb201, OneShotConfig(method="sandwich"), x, y, x, y)
    with pytest.raises(UserInputError, match="only to --method sandwich"):
        OneShotConfig.from_options({"method": "spos", "distill": False})
    with pytest.raises(UserInputError, match="sandwich_random"):
        OneShotConfig(method="sandwich", sandwich_random=-1)
    assert "distill" not in OneShotConfig(method="spos").to_dict()  # older studies' settings still match
    assert len(calibration_set(x, 5, 16)) == 2


def cli_args(study, method="sandwich", space="mobilenet-elastic", *extra):
    return ["oneshot", "--method", method, "--space", space, "--dataset", "digits", "--study", str(study),
            "--epochs", "2", "--subset", "0.05", "--space-option", "num_stages=1", "--option", "batch_size=32",
            "--strategy", "random", "--trials", "3", "--quiet", *extra]


def test_cli_sandwich_stores_every_scored_subnet_and_exports_the_best(tmp_path):
    from nasforge import cli
    from nasforge.api import open_storage

    study = tmp_path / "elastic.db"
    assert cli.main(cli_args(study)) == 0
    storage, spec = open_storage(study)
    trials = storage.trials((TrialStatus.OK,))
    assert spec.space == "mobilenet-elastic" and len(trials) == 3
    assert all({"val_accuracy", "params", "latency_ms"} <= set(t.metrics) for t in trials)
    assert len(storage.meta()["oneshot_epochs"]) == 2
    storage.close()
    assert cli.main(["export", "--study", str(study), "--weights", f"{study}.derived.pt", "--format", "pytorch",
                     "--out", str(tmp_path / "m.pt")]) == 0
    assert cli.main(cli_args(study, "sandwich", "mobilenet-elastic", "--trials", "4")) == 0  # resumes: one more
    storage, _ = open_storage(study)
    assert len(storage.trials((TrialStatus.OK,))) == 4


@pytest.mark.parametrize("method, space, message", [("sandwich", "nb201", "--space mobilenet-elastic"),
                                                    ("spos", "mobilenet-elastic", "--method sandwich"),
                                                    ("darts", "transformer", "supports the spaces")])
def test_cli_refuses_a_method_the_space_has_no_supernet_for(tmp_path, capsys, method, space, message):
    from nasforge import cli

    assert cli.main(cli_args(tmp_path / "x.db", method, space)) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.db").exists()
