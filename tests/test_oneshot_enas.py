"""ENAS on the NB201 supernet: the controller's policy, the search, its checkpoints and the CLI."""

from __future__ import annotations

import math

import pytest
import torch

from conftest import full_and_killed_then_resumed

from nasforge import spaces
from nasforge.core import UserInputError
from nasforge.oneshot import CellController, ENASSearch, NB201Supernet, OneShotConfig, make_training
from nasforge.oneshot._enas import TANH_CONSTANT, TEMPERATURE, batch_statistics

SPACE = spaces.get("nb201", channels=4, cells_per_stage=1)
TIMING = {"seconds", "cpu_seconds", "peak_rss_mb"}


def tiny_data(n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 12, generator=g), torch.randint(0, 3, (n,), generator=g)


def search(seed=0, epochs=3, **options) -> ENASSearch:
    x, y = tiny_data()
    config = OneShotConfig(method="enas", epochs=epochs, batch_size=8, controller_steps=3, derive_samples=4,
                           seed=seed, **options)
    torch.manual_seed(seed)
    return make_training(NB201Supernet(SPACE, (1, 12), 3), config, x, y, x[:16], y[:16])


def fixed_policy(probs) -> CellController:
    """A controller whose every decision has the distribution ``probs``, whatever came before."""
    controller = CellController()
    with torch.no_grad():
        controller.head.weight.zero_()
        logits = torch.log(torch.tensor(probs))
        logits -= logits.mean()  # the same softmax, inside the range (-2.5, 2.5) of 2.5 * tanh(bias / 5)
        controller.head.bias.copy_(TEMPERATURE * torch.atanh(logits / TANH_CONSTANT))
    return controller


def test_log_probability_and_entropy_of_a_hand_checkable_policy():
    probs = [0.05, 0.10, 0.15, 0.20, 0.50]
    controller = fixed_policy(probs)
    cells = torch.tensor([[4, 4, 0, 1, 2, 3], [0, 0, 0, 0, 0, 0]])
    _, log_prob, entropy = controller(cells)
    expected = [2 * math.log(0.5) + math.log(0.05) + math.log(0.1) + math.log(0.15) + math.log(0.2),
                6 * math.log(0.05)]
    assert log_prob.tolist() == pytest.approx(expected, abs=1e-5)
    assert entropy.tolist() == pytest.approx([-6 * sum(p * math.log(p) for p in probs)] * 2, abs=1e-5)
    assert controller.most_likely() == ([4] * 6, pytest.approx(0.5 ** 6, rel=1e-5))
    cells = controller(generator=torch.Generator().manual_seed(0), samples=2000)[0]
    counts = torch.bincount(cells.flatten(), minlength=5)
    assert (counts / counts.sum()).tolist() == pytest.approx(probs, abs=0.02)  # 12,000 draws


def test_a_sampled_cells_log_probability_is_the_one_the_policy_gives_it():
    controller = CellController(generator=torch.Generator().manual_seed(1))
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        cell, log_prob, entropy = controller(generator=g)
        again, log_prob_again, entropy_again = controller(cell)
        assert torch.equal(again, cell)
        assert torch.allclose(log_prob, log_prob_again) and torch.allclose(entropy, entropy_again)
    every = torch.cartesian_prod(*[torch.arange(5)] * 6)
    log_probs = controller(every)[1]
    assert log_probs.exp().sum().item() == pytest.approx(1.0, abs=1e-4)  # a distribution over all 15,625 cells
    choice, probability = controller.most_likely()
    assert choice == every[log_probs.argmax()].tolist() and probability == pytest.approx(log_probs.max().exp().item())
    uniform = fixed_policy([0.2] * 5)
    assert uniform(torch.zeros(1, 6, dtype=torch.long))[2].item() == pytest.approx(6 * math.log(5), abs=1e-5)


def test_reinforce_makes_the_rewarded_op_more_likely(monkeypatch):
    t = search(epochs=8, controller_lr=0.05, entropy_weight=0.0)
    monkeypatch.setattr(ENASSearch, "path_accuracy", lambda self, choice, x, y: float(choice[0] == 2))

    def first_edge(controller):  # the first decision's distribution: it follows no earlier one
        with torch.no_grad():
            return torch.softmax(controller.logits(controller.lstm(controller.start)[0]), dim=-1)[0]

    before = first_edge(t.controller)[2].item()
    for _ in range(8):
        t.run_epoch()
    assert first_edge(t.controller)[2].item() > max(0.5, before + 0.2)
    assert t.controller.most_likely()[0][0] == 2


def test_derived_cells_obey_the_space_and_deriving_changes_nothing():
    t = search()
    for _ in range(3):
        rec = t.run_epoch()
        assert {"mean_reward", "baseline", "controller_entropy", "arch"} <= set(rec)
        SPACE.validate(_arch(rec["arch"]))  # the policy's most likely cell after the epoch
    before = {k: v.clone() for k, v in t.state_dict()["supernet"].items()}
    arch = t.derive()
    SPACE.validate(arch)
    assert arch.space == "nb201"
    scores = dict(t.derive_scores_)
    assert 1 <= len(scores) <= 5  # the most likely cell and up to 4 distinct samples
    for candidate in scores:
        SPACE.validate(candidate)
    assert scores[arch] == max(scores.values())
    assert list(scores)[0] == _arch_of(t.controller.most_likely()[0])  # the most likely cell is a candidate
    after = t.state_dict()["supernet"]
    assert all(torch.equal(before[k], after[k]) for k in before)  # BN recalibration undone
    assert t.derive() == arch  # deriving again gives the same cell


def _arch(text):
    from nasforge.core import Arch

    return Arch.from_json(text)


def _arch_of(choice):
    from nasforge.oneshot import choice_to_arch

    return choice_to_arch(choice)


def state(t: ENASSearch) -> dict:
    s = {f"net.{k}": v.clone() for k, v in t.supernet.state_dict().items()}
    s.update({f"controller.{k}": v.clone() for k, v in t.controller.state_dict().items()})
    return s


def same(a: ENASSearch, b: ENASSearch) -> bool:
    sa, sb = state(a), state(b)
    history = [[{k: v for k, v in r.items() if k not in TIMING} for r in t.history] for t in (a, b)]
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa) and a.baseline == b.baseline \
        and history[0] == history[1]


def test_a_killed_enas_search_resumes_from_its_checkpoint_to_the_same_state(tmp_path):
    straight = search()
    straight.run_epoch()
    straight.run_epoch()
    first = search()
    first.run_epoch()
    first.save(tmp_path / "supernet.pt")
    reloaded = search()  # a new process after the kill
    reloaded.load(tmp_path / "supernet.pt")
    assert reloaded.epoch == 1 and same(first, reloaded)
    reloaded.run_epoch()
    assert same(straight, reloaded), "the resumed search differs from the uninterrupted one"
    assert straight.derive() == reloaded.derive()


def test_the_same_seed_gives_the_same_search_and_another_seed_another():
    a, b, c = search(seed=3), search(seed=3), search(seed=4)
    for t in (a, b, c):
        t.run_epoch()
    assert same(a, b) and a.derive() == b.derive()
    assert not torch.equal(a.controller.head.weight, c.controller.head.weight)


def test_batch_statistics_leave_the_running_statistics_alone():
    net = NB201Supernet(SPACE, (1, 12), 3).eval()
    x, _ = tiny_data()
    buffers = {k: v.clone() for k, v in net.named_buffers()}
    with batch_statistics(net), torch.no_grad():
        batch_mode = net(x, choice=[3] * 6)
    assert all(torch.equal(buffers[k], v) for k, v in net.named_buffers())
    assert not net.stem[1].training and net.stem[1].track_running_stats  # restored
    with torch.no_grad():
        assert not torch.allclose(batch_mode, net(x, choice=[3] * 6))  # eval mode uses the running ones


def test_enas_options_are_checked_and_kept_out_of_other_methods_settings():
    with pytest.raises(UserInputError, match="controller_steps"):
        OneShotConfig(method="enas", controller_steps=0)
    with pytest.raises(UserInputError, match="baseline_decay"):
        OneShotConfig(method="enas", baseline_decay=1.5)
    assert "controller_lr" in OneShotConfig(method="enas").to_dict()
    assert "controller_lr" not in OneShotConfig(method="darts").to_dict()  # older darts studies still match
    with pytest.raises(UserInputError, match="apply only to --method enas"):
        OneShotConfig.from_options({"method": "darts", "controller_steps": 5})  # would be silently ignored
    assert OneShotConfig(**OneShotConfig(method="enas", derive_samples=7).to_dict()).derive_samples == 7


def test_cli_enas_resumes_after_a_kill_and_stores_epochs_and_the_derived_cell(tmp_path):
    def args(study):
        return ["oneshot", "--method", "enas", "--dataset", "digits", "--study", str(study), "--epochs", "2",
                "--subset", "0.05", "--space-option", "channels=4", "--space-option", "cells_per_stage=1",
                "--option", "batch_size=32", "--option", "controller_steps=3", "--option", "derive_samples=3",
                "--quiet"]

    full, _, resumed = full_and_killed_then_resumed(args, tmp_path)
    assert [t.request_meta.get("kind") for t in resumed.trials()] == ["supernet-epoch", "supernet-epoch", "derived"]
    assert full.best().arch == resumed.best().arch and full.best().objective == resumed.best().objective
    SPACE.validate(resumed.best().arch)
    epochs = [[{k: v for k, v in r.items() if k not in TIMING} for r in s.meta()["oneshot_epochs"]]
              for s in (full, resumed)]
    assert epochs[0] == epochs[1] and "mean_reward" in epochs[0][0]
    assert resumed.meta()["oneshot"]["config"]["method"] == "enas"
