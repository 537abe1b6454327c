"""Fitted baselines for tables: is a network worth it here?

On tabular data a tuned-by-default linear model or gradient-boosted trees are
hard to beat (Grinsztajn et al. 2022, "Why do tree-based models still
outperform deep learning on tabular data?"). ``auto`` fits scikit-learn's
logistic regression and histogram gradient boosting on the same
train+validation data its final model trains on (already standardised per
column), tests each once on the same test split, and reports them beside the
network, so a user sees whether the search paid off. scikit-learn is the
optional ``data`` extra (``pip install nasforge[data]``).
"""

from __future__ import annotations

import time
from typing import Any

from ..core import NasforgeError, require

SEED = 0
BASELINE_SHARE = 0.5  # fitted only while more than this share of the budget is left


def _models(seed: int) -> dict[str, Any]:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    return {"logistic_regression": LogisticRegression(max_iter=2000),
            "gradient_boosting": HistGradientBoostingClassifier(random_state=seed)}


def fit_baselines(ds, seed: int = SEED) -> dict[str, Any]:
    """Test accuracy and fitting seconds of each baseline, the better one's name, or ``error`` (how to install)."""
    try:
        require("sklearn", "data")
    except NasforgeError as exc:
        return {"error": str(exc)}
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    x, y = ds.train_and_val()
    x_test, y_test = ds.test()
    flat = lambda t: t.reshape(len(t), -1).numpy()  # noqa: E731
    out: dict[str, Any] = {}
    # one thread: OpenMP's threads collapse on a loaded machine (gradient boosting on 569 rows
    # took 10 s on all threads and 0.5 s on one while other jobs ran, 2-core EPYC)
    with threadpool_limits(1):
        for name, model in _models(seed).items():
            start = time.perf_counter()
            model.fit(flat(x), y.numpy())
            accuracy = float((model.predict(flat(x_test)) == y_test.numpy()).mean())
            out[name] = {"test_accuracy": accuracy, "seconds": round(time.perf_counter() - start, 3)}
    out["best"] = max(out, key=lambda k: out[k]["test_accuracy"])
    return out


def compare(baselines: dict[str, Any], test_accuracy: float) -> str:
    """One line: the network against the better baseline."""
    if "error" in baselines:
        return f"No baselines: {baselines['error']}"
    best = baselines["best"]
    margin = test_accuracy - baselines[best]["test_accuracy"]
    parts = ", ".join(f"{k.replace('_', ' ')} {v['test_accuracy']:.4f}" for k, v in baselines.items() if k != "best")
    verdict = "better than" if margin > 0 else "as good as" if margin == 0 else "worse than"
    return (f"Baselines (scikit-learn, fitted on train+validation, tested once): {parts}; the network "
            f"({test_accuracy:.4f}) is {verdict} the better one by {margin:+.4f}.")
