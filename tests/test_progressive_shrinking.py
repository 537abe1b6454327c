"""Progressive shrinking of the elastic mobilenet-elastic supernet (Once-for-All): the phases open
the space in order, a killed run resumes to the same state, and `nasforge oneshot --method
progressive` finds, fine-tunes and exports the best sub-network under a limit."""

from __future__ import annotations

import pytest
import torch

from conftest import ctrl_c_in_supernet_epoch

from nasforge import spaces
from nasforge.core import TrialStatus, UserInputError
from nasforge.oneshot import (OneShotConfig, ProgressiveShrinking, extract_subnet, finetune, make_training,
                              smallest_arch)

SPACE = spaces.get("mobilenet-elastic", num_stages=2)
SHAPE = (1, 8, 8)


def tiny_data(n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, *SHAPE, generator=g), torch.randint(0, 3, (n,), generator=g)


def progressive(epochs, x, y, load=None, phase_epochs="1,1,1,1", **options):
    torch.manual_seed(0)
    config = OneShotConfig(method="progressive", epochs=4, batch_size=16, calibration_batches=2,
                           phase_epochs=phase_epochs, **options)
    t = make_training(SPACE.supernet(SHAPE, 3), config, x, y, x[:16], y[:16])
    if load is not None:
        t.load(load)
    for _ in range(epochs):
        t.run_epoch()
    return t


def varied(archs, largest):
    """The kinds of decision (depth, kernel, width, ...) some of ``archs`` set below the largest value."""
    return {name.rsplit(".", 1)[-1] for a in archs for name in a.decisions if a[name] != largest[name]}


def test_the_phases_open_kernel_then_depth_then_width():
    x, y = tiny_data()
    t = progressive(0, x, y, sandwich_random=40)
    assert isinstance(t, ProgressiveShrinking)
    largest = SPACE.largest()
    seen = {}
    for epoch, phase in enumerate(("largest", "kernel", "depth", "width")):
        t.epoch = epoch
        assert t.phase == phase
        archs = t.step_archs()
        assert archs[0] == largest  # the teacher, on the labels
        seen[phase] = varied(archs, largest)
    assert len(t.step_archs()) == 1 + 1 + 40
    assert seen["largest"] == set()
    assert seen["kernel"] == {"kernel"}  # depth and width stay maximal
    assert seen["depth"] == {"kernel", "depth"}
    assert seen["width"] == {"kernel", "depth", "expand", "width", "se", "act"}
    t.epoch = 3
    assert t.phase_smallest() == smallest_arch(SPACE)  # only the last phase reaches the space's smallest


def test_each_epoch_records_its_phase_and_the_lr_restarts_per_phase():
    x, y = tiny_data()
    t = progressive(4, x, y, phase_epochs="2,0,1,1")
    assert [r["phase"] for r in t.history] == ["largest", "largest", "depth", "width"]
    assert [r["lr"] for r in t.history][2:] == [t.config.lr, t.config.lr]  # each phase starts at lr
    assert t.history[1]["lr"] < t.config.lr


def test_phase_epochs_must_add_up_and_apply_only_to_progressive():
    assert OneShotConfig(method="progressive", epochs=10).phases() == (("largest", 2), ("kernel", 2),
                                                                       ("depth", 3), ("width", 3))
    assert OneShotConfig.from_options({"method": "progressive", "epochs": 4,
                                       "phase_epochs": [1, 1, 1, 1]}).phase_epochs == "1,1,1,1"
    with pytest.raises(UserInputError, match="summing to epochs \\(5\\)"):
        OneShotConfig(method="progressive", epochs=5, phase_epochs="1,1,1,1")
    with pytest.raises(UserInputError, match="phase_epochs"):
        OneShotConfig(method="progressive", epochs=4, phase_epochs="4,0,0,0")  # the whole space never trains
    with pytest.raises(UserInputError, match="only to --method progressive"):
        OneShotConfig.from_options({"method": "sandwich", "phase_epochs": "1,1,1,1"})
    assert "phase_epochs" not in OneShotConfig(method="sandwich").to_dict()  # sandwich studies still match
    assert "distill" in OneShotConfig(method="progressive").to_dict()


def test_a_killed_progressive_training_resumes_to_the_same_state(tmp_path):
    x, y = tiny_data()
    straight = progressive(4, x, y)
    path = tmp_path / "supernet.pt"
    progressive(2, x, y).save(path)  # killed during the depth phase
    resumed = progressive(0, x, y, load=path)
    assert resumed.epoch == 2 and resumed.phase == "depth"
    resumed.run_epoch()
    resumed.run_epoch()
    a, b = straight.supernet.state_dict(), resumed.supernet.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed run differs"
    assert [(r["phase"], r["train_loss"]) for r in resumed.history] == \
        [(r["phase"], r["train_loss"]) for r in straight.history]


def test_finetuning_an_inherited_subnet_lowers_its_training_loss():
    x, y = tiny_data()
    t = progressive(4, x, y)
    model = extract_subnet(t.supernet, SPACE.largest(), [x])
    with torch.no_grad():
        before = torch.nn.functional.cross_entropy(model(x), y).item()
    finetune(model, t.config, x, y, epochs=10, lr=0.05)
    assert not model.training
    with torch.no_grad():
        assert torch.nn.functional.cross_entropy(model(x), y).item() < before - 0.1


def cli_args(study, *extra):
    return ["oneshot", "--method", "progressive", "--space", "mobilenet-elastic", "--dataset", "digits",
            "--study", str(study), "--epochs", "4", "--subset", "0.05", "--space-option", "num_stages=1",
            "--option", "batch_size=32", "--strategy", "random", "--trials", "3", "--quiet", *extra]


def test_cli_progressive_resumes_after_a_kill_to_the_same_supernet(tmp_path):
    from nasforge import cli
    from nasforge.api import open_storage

    assert cli.main(cli_args(tmp_path / "full.db")) == 0
    with ctrl_c_in_supernet_epoch(3):
        assert cli.main(cli_args(tmp_path / "killed.db")) == 130
    storage, _ = open_storage(tmp_path / "killed.db")
    assert [r["phase"] for r in storage.meta()["oneshot_epochs"]] == ["largest", "kernel"]
    storage.close()
    assert cli.main(cli_args(tmp_path / "killed.db")) == 0
    full, _ = open_storage(tmp_path / "full.db")
    resumed, _ = open_storage(tmp_path / "killed.db")
    measured = {"seconds", "cpu_seconds", "peak_rss_mb", "activation_mb"}  # resources, not the training's state
    assert [{k: v for k, v in r.items() if k not in measured} for r in full.meta()["oneshot_epochs"]] == \
        [{k: v for k, v in r.items() if k not in measured} for r in resumed.meta()["oneshot_epochs"]]
    assert [r["phase"] for r in resumed.meta()["oneshot_epochs"]] == ["largest", "kernel", "depth", "width"]
    assert [(t.arch, t.objective) for t in full.trials()] == [(t.arch, t.objective) for t in resumed.trials()]


def test_cli_constrained_search_finetunes_and_exports_a_subnet_within_the_limit(tmp_path, capsys):
    from nasforge import cli
    from nasforge.api import open_storage
    from nasforge.export import load_checkpoint

    study, limit = tmp_path / "ofa.db", 5000
    assert cli.main(cli_args(study, "--constraint", f"params<={limit}", "--finetune", "1")) == 0
    out = capsys.readouterr().out
    assert "4 supernet epochs (largest 1, kernel 1, depth 1, width 1)" in out and "Fine-tuned 1 epoch(s)" in out
    storage, spec = open_storage(study)
    best = storage.best()
    assert spec.constraints == [f"params<={limit}"]
    assert best.metrics["params"] <= limit
    assert len(storage.trials((TrialStatus.OK,))) == 3
    assert all(t.metrics["params"] <= limit for t in storage.trials((TrialStatus.OK,)))
    assert any(t.request_meta.get("rejected") for t in storage.trials())  # larger ones were turned away
    assert storage.meta()["finetuned"]["trial_id"] == best.id
    storage.close()
    bundle = load_checkpoint(f"{study}.derived.pt")
    assert bundle["extra"]["finetuned"]["epochs"] == 1
    assert sum(v.numel() for k, v in bundle["state_dict"].items() if "running" not in k
               and "num_batches" not in k) == best.metrics["params"]
    assert cli.main(["export", "--study", str(study), "--trial", str(best.id), "--weights", f"{study}.derived.pt",
                     "--format", "pytorch", "--out", str(tmp_path / "m.pt")]) == 0


def test_cli_refuses_constraints_and_finetuning_without_an_elastic_supernet(tmp_path, capsys):
    from nasforge import cli

    args = ["oneshot", "--method", "darts", "--space", "nb201", "--dataset", "digits", "--study",
            str(tmp_path / "x.db"), "--constraint", "params<=1000"]
    assert cli.main(args) == 2
    assert "--method sandwich / progressive" in capsys.readouterr().err
    assert not (tmp_path / "x.db").exists()
