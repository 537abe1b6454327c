"""``auto`` on a budget too short to search: the space's short-budget design trains for the whole
budget (``auto/shortcut.py``); anything else asked for, or a longer budget, still searches."""

import json
import time

import pytest

import nasforge
from nasforge import spaces
from nasforge.api import SearchSpec, open_study
from nasforge.auto import shortcut
from nasforge.auto.shortcut import affordable_epochs, shortcut_if_too_short


def test_the_standard_macro_design_is_the_hand_cnn_and_other_spaces_default_to_their_first_prior():
    macro = spaces.get("macro-cnn")
    assert macro.describe(macro.standard()) == "stem32 conv3x3x2@32 conv3x3x2@64/2 conv3x3x2@128/2"
    assert macro.describe(macro.short_budget_design()) == "stem16 conv3x3x2@16 conv3x3x2@32/2 conv3x3x2@64/2"
    mlp = spaces.get("mlp")
    assert mlp.standard() == mlp.short_budget_design() == mlp.priors()[0]
    assert spaces.get("nb201").standard() is None  # no priors, nothing to fall back on: it searches


@pytest.fixture(scope="module")
def digits_study(tmp_path_factory):
    spec = SearchSpec(space="macro-cnn", dataset="digits", strategy="asha", seed=0,
                      strategy_options={"resource": "seconds", "min_resource": 1.0, "max_resource": 3.0})
    study = open_study(tmp_path_factory.mktemp("shortcut") / "s.db", spec)
    yield study
    study.close()


def test_affordable_epochs_grow_with_the_seconds_given(digits_study):
    est = digits_study.estimator
    arch = est.space.standard()
    one = affordable_epochs(est.space, arch, est.dataset, est.train_config, 10.0)
    ten = affordable_epochs(est.space, arch, est.dataset, est.train_config, 100.0)
    assert one > 0 and ten == pytest.approx(10 * one, rel=0.5)  # two timings of the same training


def test_a_budget_under_the_epoch_floor_trains_the_short_budget_design_and_anything_asked_for_searches(
        digits_study):
    log, space = [], digits_study.estimator.space
    short = shortcut_if_too_short(digits_study, None, "asha", "fixed", None, None, 1e-3, 0, log.append)
    assert short is not None and short.design == space.short_budget_design() != space.standard()
    assert short.standard_epochs < shortcut.MIN_SEARCH_EPOCHS and "a search would cost more than it finds" in log[-1]
    assert short.design_epochs > short.standard_epochs  # a quarter of the parameters trains faster
    assert shortcut_if_too_short(digits_study, None, "asha", "fixed", None, None, 1e6, 0, log.append) is None
    assert "searching" in log[-1]
    # an explicit --search-fraction, the random ablation, a searched recipe, limits the design breaks: search
    for args in ((0.35, "asha", "fixed", None), (None, "random", "fixed", None), (None, "asha", "search", None),
                 (None, "asha", "fixed", lambda arch: False)):
        fraction, search, recipe, allowed = args
        assert shortcut_if_too_short(digits_study, fraction, search, recipe, None, allowed, 1e-3, 0, log.append) is None


def test_auto_without_time_to_search_trains_the_standard_design_for_the_whole_budget(tmp_path, monkeypatch):
    monkeypatch.setattr(shortcut, "MIN_SEARCH_EPOCHS", 1e9)  # digits afford hundreds of epochs: make any budget short
    budget, start = 20, time.monotonic()
    summary = nasforge.auto("digits", time_budget=budget, out=tmp_path, log=lambda m: None)
    assert time.monotonic() - start <= budget + 3
    skipped, macro = summary["search"]["skipped"], spaces.get("macro-cnn")
    assert skipped["affordable_epochs"] > 1 and skipped["standard"] == macro.describe(macro.standard())
    assert skipped["trained"] == summary["description"] == macro.describe(macro.short_budget_design())
    # the rest is start-up, data, the ~8 s timing of both designs, and the measured wrap-up
    assert summary["search"]["trials"] == 0 and summary["final_train_seconds"] > 0.25 * budget
    assert summary["test_accuracy"] > 0.8
    assert "**No search**" in (tmp_path / "report.md").read_text()
    assert json.loads((tmp_path / "summary.json").read_text())["search"]["skipped"] == skipped
