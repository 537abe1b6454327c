"""Ensembles: several copies of one architecture predicting together (nasforge.ensemble), saved,
loaded and exported like one network, and auto's final model on small tables (auto/final.py)."""

import math
import time

import pytest
import torch

from nasforge import data, load_model, spaces
from nasforge.auto.final import _add_members, train_until_deadline
from nasforge.auto.plan import Deadline
from nasforge.ensemble import Ensemble, member_count
from nasforge.estimation import TrainConfig, evaluate_model
from nasforge.export import export_model, save_checkpoint

from synthetic import write_table


def _nets(n, seed=0):
    space = spaces.get("mlp")
    arch = space.priors()[1]
    torch.manual_seed(seed)
    return space, arch, [space.build(arch, (6,), 3).eval() for _ in range(n)]


def test_an_ensemble_returns_the_log_of_its_members_averaged_probabilities():
    _, _, nets = _nets(3)
    x = torch.randn(8, 6)
    ensemble = Ensemble(nets).eval()
    with torch.no_grad():
        probs = torch.stack([torch.softmax(n(x), 1) for n in nets]).mean(0)
        out = ensemble(x)
        assert torch.allclose(out, probs.log(), atol=1e-5)
        assert torch.allclose(out.exp().sum(1), torch.ones(8), atol=1e-5)  # logits of a distribution
        assert torch.allclose(Ensemble(nets[:1])(x), torch.log_softmax(nets[0](x), 1), atol=1e-6)
    assert member_count(ensemble) == 3 and member_count(nets[0]) == 1
    with pytest.raises(ValueError, match="at least one member"):
        Ensemble([])


def test_a_saved_ensemble_loads_and_exports_as_one_model(tmp_path):
    space, arch, nets = _nets(3)
    ensemble = Ensemble(nets).eval()
    path = save_checkpoint(tmp_path / "model.pt", ensemble, arch, {}, (6,), 3)
    loaded = load_model(path)
    x = torch.randn(5, 6)
    with torch.no_grad():
        assert isinstance(loaded, Ensemble) and len(loaded.members) == 3
        assert torch.equal(loaded(x), ensemble(x))
        traced = torch.jit.load(str(export_model(loaded, (6,), "torchscript", tmp_path / "model.ts")))
        assert torch.allclose(traced(x), ensemble(x), atol=1e-6)
    single = save_checkpoint(tmp_path / "one.pt", nets[0], arch, {}, (6,), 3)
    bundle = torch.load(single, weights_only=True)
    assert bundle["members"] == 1
    del bundle["members"]  # a checkpoint from before ensembles existed
    torch.save(bundle, tmp_path / "old.pt")
    assert not isinstance(load_model(tmp_path / "old.pt"), Ensemble)


def test_members_are_added_only_while_the_clock_allows(tmp_path):
    space, arch, nets = _nets(1)
    x, y = torch.randn(60, 6), torch.randint(0, 3, (60,))
    build = lambda: space.build(arch, (6,), 3)  # noqa: E731
    logged = []
    roomy = _add_members(nets[0], 3, build, x, y, 2, TrainConfig(), 0, 0.01, time.monotonic() + 60, 0.1, logged.append)
    assert member_count(roomy) == 3 and roomy.members[0] is nets[0]
    assert not torch.equal(roomy.members[1].layers[0].body[0].weight, roomy.members[2].layers[0].body[0].weight)
    assert "3 of 3 copies" in logged[-1]
    # one more member would need 1.5 x 4 s of training and another wrap-up: only 5 s are left
    tight = _add_members(nets[0], 3, build, x, y, 2, TrainConfig(), 0, 4.0, time.monotonic() + 5, 0.1, logged.append)
    assert tight is nets[0] and "1 of 3 copies" in logged[-1] and "the clock allowed no more" in logged[-1]
    assert "(2 epochs each, seed 0)" in logged[-1] and "(2 epochs each, seeds 0-2)" in logged[0]
    assert _add_members(nets[0], 1, build, x, y, 2, TrainConfig(), 0, 0.01, time.monotonic() + 60, 0.1,
                        logged.append) is nets[0] and len(logged) == 2  # one wanted: nothing to say


def test_the_final_model_of_a_small_table_is_an_ensemble_that_reloads_to_its_test_accuracy(tmp_path):
    path = write_table(tmp_path)
    ds, space = data.load(path), spaces.get("mlp")
    deadline = Deadline(time.monotonic(), 120.0)
    summary = train_until_deadline(space, space.priors()[1], ds, TrainConfig(), deadline, tmp_path / "out",
                                   onnx=False, log=lambda m: None, epochs=3, members=3)
    assert summary["ensemble_members"] == 3 and summary["description"].startswith("3 x mlp 1x64")
    single = spaces.get("mlp").build(space.priors()[1], ds.input_shape, ds.num_classes)
    assert summary["params"] == 3 * sum(p.numel() for p in single.parameters())
    model = load_model(tmp_path / "out" / "model.pt")
    accuracy, _ = evaluate_model(model, *ds.test())
    assert math.isclose(accuracy, summary["test_accuracy"])


def test_a_late_final_training_keeps_one_network(tmp_path):
    """With under 5 s left no wrap-up is measured, so no time is known to be free for more copies."""
    path = write_table(tmp_path)
    ds, space = data.load(path), spaces.get("mlp")
    deadline = Deadline(time.monotonic() - 116.0, 120.0)  # 4 s left
    summary = train_until_deadline(space, space.priors()[1], ds, TrainConfig(), deadline, tmp_path / "out",
                                   onnx=False, log=lambda m: None, epochs=3, members=3)
    assert summary["ensemble_members"] == 1 and "ensemble" not in summary["description"]


def test_the_cli_option_states_auto_s_default_and_refuses_zero_members(capsys):
    from nasforge.auto.crossval import ENSEMBLE_MEMBERS
    from nasforge.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["auto", "--ensemble", "1"]).ensemble == 1
    assert parser.parse_args(["auto"]).ensemble is None  # auto's own default applies
    with pytest.raises(SystemExit):
        parser.parse_args(["auto", "--ensemble", "0"])
    auto_parser = next(a for a in parser._subparsers._group_actions[0].choices.values() if a.prog.endswith(" auto"))
    help_text = " ".join(auto_parser.format_help().split())
    assert f"predicting together (default {ENSEMBLE_MEMBERS};" in help_text


def test_export_by_default_writes_the_model_the_study_delivered_not_a_tie_for_best(tmp_path):
    """auto's cross-validated winner can tie the first trial on accuracy (it wins on loss), and
    its successive-halving winner is chosen by extrapolation: `nasforge export` without --trial
    must export the trained model, not fresh weights of the highest-objective trial."""
    import nasforge
    from nasforge.core import TrialStatus

    from conftest import run_cli_here

    path = write_table(tmp_path)
    db = tmp_path / "s.db"
    nasforge.search(study=db, trials=2, space="mlp", dataset=path, strategy="random", epochs=1).close()
    with nasforge.open_study(db) as study:
        best = study.storage.best()
        second = next(t for t in study.storage.trials((TrialStatus.OK,)) if t.id != best.id)  # not the best
        ds = data.load(path)
        nets = [spaces.get("mlp").build(second.arch, ds.input_shape, ds.num_classes).eval() for _ in range(2)]
        save_checkpoint(tmp_path / "model.pt", Ensemble(nets), second.arch, {}, ds.input_shape, ds.num_classes)
        study.storage.add_final_model(second.id, str(tmp_path / "model.pt"), {"test_accuracy": 0.5})
    out = run_cli_here("export", "--study", db, "--format", "torchscript", "--out", tmp_path / "m.ts")
    assert out.returncode == 0 and f"trial {second.id}" in out.stdout and "no trained weights" not in out.stderr
    x = torch.randn(4, *ds.input_shape)
    with torch.no_grad():
        exported = torch.jit.load(str(tmp_path / "m.ts"))(x)
        assert torch.allclose(exported, load_model(tmp_path / "model.pt")(x), atol=1e-6)
    chosen = run_cli_here("export", "--study", db, "--trial", "best", "--format", "torchscript",
                          "--out", tmp_path / "b.ts")
    assert chosen.returncode == 0 and f"trial {best.id}" in chosen.stdout  # 'best': the highest objective
