"""auto's predicted-vs-achieved record and the correction it learns from past runs."""

import json

import pytest

from nasforge.auto import calibration
from nasforge.auto.select import Choice, raw_prediction


def test_the_correction_starts_at_the_default_and_learns_from_recorded_runs(tmp_path):
    path = tmp_path / "history.jsonl"
    value, source = calibration.correction("digits", path)
    assert value == pytest.approx(calibration.DEFAULT_CORRECTION, abs=1e-4) and "no past runs" in source
    entry = calibration.prediction("digits", 0.95, path)
    assert entry["calibrated"] == pytest.approx(0.95 + calibration.DEFAULT_CORRECTION, abs=1e-4)
    done = calibration.record(entry, "digits", 0.90, spoiled=False, extra={"space": "macro-cnn"}, path=path)
    assert done["recorded"] and done["error_raw"] == pytest.approx(-0.05)
    calibration.record(calibration.prediction("digits", 0.95, path), "digits", 0.92, False, {}, path)
    # a spoiled run, another data set and a broken line change nothing for digits
    calibration.record(calibration.prediction("digits", 0.95, path), "digits", 0.10, True, {}, path)
    calibration.record(calibration.prediction("wine", 0.95, path), "wine", 0.50, False, {}, path)
    with path.open("a") as f:
        f.write("not json\n")
    value, source = calibration.correction("digits", path)
    k, d = calibration.PRIOR_RUNS, calibration.DEFAULT_CORRECTION
    assert value == pytest.approx((-0.05 - 0.03 + k * d) / (2 + k), abs=1e-4) and "2 past run(s)" in source
    assert [json.loads(line)["dataset"] for line in path.read_text().splitlines()[:-1]] == ["digits"] * 2 + ["wine"]


def test_the_raw_prediction_is_the_winners_extrapolation_or_its_one_look():
    table = [{"extrapolated_accuracy": 0.93, "looks": [(1, 0.8), (3, 0.85)]}]
    assert raw_prediction(Choice(None, 0.85, 3.0, table, 100.0)) == 0.93
    assert raw_prediction(Choice(None, 0.8, 1.0)) == 0.8
    assert raw_prediction(Choice(None)) is None
    assert calibration.prediction("x", None)["calibrated"] is None
