"""auto on tables (the MLP family, fitted baselines) and under deployment limits."""

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from nasforge import data, spaces
from nasforge.auto.baselines import compare, fit_baselines
from nasforge.auto.limits import LimitedEstimator, Limits, check_final, screen
from nasforge.auto.search import default_space
from nasforge.core import Fidelity, TrialStatus, UserInputError
from nasforge.estimation import count_params

from synthetic import MatchTarget, write_table


class _Tiny:
    """The attributes LimitedEstimator reads from a real estimator's data set."""
    input_shape, num_classes = (1, 30), 2


def test_the_space_is_chosen_from_the_data(tmp_path):
    assert default_space(write_table(tmp_path, n=300, classes=2)) == "mlp"
    np.savez(tmp_path / "seq.npz", x=np.random.default_rng(0).normal(size=(50, 40)).astype(np.float32),
             y=np.arange(50) % 2)
    assert default_space(str(tmp_path / "seq.npz")) == "macro-cnn"  # one scale: a signal, not a table
    np.savez(tmp_path / "img.npz", x=np.zeros((20, 8, 8), np.float32), y=np.arange(20) % 2)
    assert default_space(str(tmp_path / "img.npz")) == "macro-cnn"
    assert default_space("fashion-mnist") == "macro-cnn" and default_space("missing.npz") == "macro-cnn"


def test_mlp_space_builds_its_decisions():
    space = spaces.get("mlp")
    small = space.priors()[1]
    deep = space.priors()[2]
    assert count_params(space.build(small, (1, 30), 2)) == 30 * 64 + 64 + 64 * 2 + 2
    model = space.build(deep, (1, 30), 2)
    assert sum(isinstance(m, __import__("torch").nn.LayerNorm) for m in model.modules()) == 3
    assert [layer.residual for layer in model.layers] == [False, True, True]  # the first changes the width
    assert space.describe(deep) == "mlp 3x256+res layernorm drop0.2"


def test_baselines_are_fitted_and_compared(tmp_path):
    pytest.importorskip("sklearn")
    ds = data.load(write_table(tmp_path, n=300, classes=2))
    assert ds.tabular
    fitted = fit_baselines(ds)
    assert fitted["best"] in ("logistic_regression", "gradient_boosting")
    assert fitted["logistic_regression"]["test_accuracy"] > 0.9  # a linear rule: the linear model finds it
    line = compare(fitted, 1.0)
    assert "better than the better one" in line
    assert compare({"error": "pip install 'nasforge[data]'"}, 0.5).startswith("No baselines: pip install")


def test_candidates_over_a_limit_are_measured_not_trained():
    space = spaces.get("mlp")
    inner = MatchTarget(space)
    inner.dataset = _Tiny()
    gate = LimitedEstimator(inner, Limits(max_params=5_000))
    small, wide = space.priors()[1], space.priors()[3]
    assert gate.allows(small) and not gate.allows(wide)
    result = gate.evaluate(wide, Fidelity(seconds=1.0), 0)
    assert result.status == TrialStatus.PRUNED and "--max-params 5,000" in result.error
    assert inner.calls == 0 and result.metrics["params"] > 5_000
    assert gate.evaluate(small, Fidelity(seconds=1.0), 0).status == TrialStatus.OK and inner.calls == 1
    assert screen(space, _Tiny(), Limits(max_params=10), 0).startswith("none of")
    assert screen(space, _Tiny(), Limits(max_params=5_000), 0) is None
    missed = check_final({"params": 9_000, "latency_ms": 0.7}, Limits(max_params=5_000, max_latency_ms=0.5))
    assert not missed["met"] and len(missed["violations"]) == 2
    with pytest.raises(UserInputError, match="max-params"):
        Limits(max_params=0)


def run_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "nasforge.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


@pytest.mark.slow
def test_auto_on_a_table_under_a_parameter_limit(tmp_path):
    path = write_table(tmp_path, n=300, classes=2)
    limit = 3_000
    done = run_cli("auto", "--dataset", path, "--time-budget", "25", "--out", "r", "--max-params", str(limit),
                   "--no-onnx", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["space"] == "mlp" and summary["params"] <= limit and summary["constraints"]["met"]
    assert all(r["params"] <= limit for r in summary["limits"]["trained"])
    assert summary["limits"]["rejected_untrained"] >= 1  # the wide priors
    assert "logistic_regression" in summary["baselines"] and "comparison" in summary["baselines"]
    assert {"raw", "calibrated", "achieved_test_accuracy"} <= set(summary["prediction"])
    report = (tmp_path / "r" / "report.md").read_text()
    assert "## Limits" in report and "✓" in report and "Baselines" in report
