"""Predicted vs achieved: what the search's learning curve promised for the winner's final
training, corrected by what past final trainings on the same data actually reached.

The search scores candidates on validation data with a constant learning rate and no
augmentation; the final phase trains on train+validation, augmented, with a decaying learning
rate, and is scored once on the test split. The power-law extrapolation (``select.py``) does not
know any of that: on Fashion-MNIST (600 s, 2-core EPYC, issue 22) it predicted 0.9456 for the
chosen net, which reached 0.9303. So ``auto`` records, in every ``summary.json``, the raw
prediction, a calibrated one and the achieved test accuracy, and appends the pair to a small
history file in the user cache (``$NASFORGE_CACHE`` or ``~/.cache/nasforge``,
``auto-calibration.jsonl``). The correction is additive, per data set: the mean of past
(achieved - predicted) on that data set, shrunk towards a fixed default discount with the weight
of ``PRIOR_RUNS`` runs. Runs the machine's load spoiled (``load.py``) are not recorded.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ..data import cache_dir

DEFAULT_CORRECTION = -0.0153  # achieved - predicted, Fashion-MNIST 600 s, seed 0 (issue 22: 0.9303 vs 0.9456)
PRIOR_RUNS = 2  # the default counts as this many past runs
HISTORY = 50  # the most recent runs per data set that the correction averages
FILE_NAME = "auto-calibration.jsonl"


def history_file() -> Path:
    return cache_dir() / FILE_NAME


def _past(dataset: str, path: Path) -> list[dict[str, Any]]:
    """The history's records for ``dataset`` (oldest first); unreadable lines are skipped."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and record.get("dataset") == dataset:
            records.append(record)
    return records[-HISTORY:]


def correction(dataset: str, path: Path | None = None) -> tuple[float, str]:
    """(the additive correction for ``dataset``'s predictions, where it comes from)."""
    path = history_file() if path is None else path
    past = _past(dataset, path)
    residuals = [r["achieved"] - r["predicted"] for r in past
                 if isinstance(r.get("achieved"), (int, float)) and isinstance(r.get("predicted"), (int, float))]
    value = (sum(residuals) + PRIOR_RUNS * DEFAULT_CORRECTION) / (len(residuals) + PRIOR_RUNS)
    source = (f"{len(residuals)} past run(s) on this data set in {path}, shrunk towards the default "
              f"{DEFAULT_CORRECTION:+.4f} (weight {PRIOR_RUNS} runs)" if residuals else
              f"no past runs on this data set in {path}: the default {DEFAULT_CORRECTION:+.4f} "
              "(Fashion-MNIST, 600 s, 2-core EPYC: 0.9303 achieved vs 0.9456 predicted)")
    return round(value, 4), source


def prediction(dataset: str, raw: float | None, path: Path | None = None) -> dict[str, Any]:
    """The summary's ``prediction`` entry before the final training: raw and calibrated."""
    if raw is None:
        return {"raw": None, "calibrated": None, "correction": None, "correction_source": "no prediction"}
    value, source = correction(dataset, path)
    return {"raw": round(raw, 4), "calibrated": round(min(1.0, max(0.0, raw + value)), 4), "correction": value,
            "correction_source": source}


def record(entry: dict[str, Any], dataset: str, achieved: float, spoiled: bool, extra: dict[str, Any],
           path: Path | None = None) -> dict[str, Any]:
    """``entry`` with the achieved accuracy and both errors; the pair is appended to the history
    unless there was no prediction or the run was ``spoiled`` (machine too busy, < 1 epoch)."""
    entry = {**entry, "achieved_test_accuracy": achieved}
    if entry.get("raw") is None:
        return {**entry, "recorded": False}
    entry["error_raw"] = round(achieved - entry["raw"], 4)
    entry["error_calibrated"] = round(achieved - entry["calibrated"], 4)
    entry["recorded"] = False
    if not spoiled:
        path = history_file() if path is None else path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a") as f:
                f.write(json.dumps({"dataset": dataset, "predicted": entry["raw"], "achieved": achieved,
                                    "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **extra}) + "\n")
            entry["recorded"] = True
        except OSError:  # a read-only cache must not fail a finished run
            pass
    return entry
