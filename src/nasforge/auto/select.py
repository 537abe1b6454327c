"""``auto``'s choices after the search: the winner (ranked by where its learning curve
extrapolates to) and the final training's data augmentation."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch

from ..core import Arch, TrialStatus
from ..estimation import evaluate_model, extrapolate_accuracy, power_law_exponent
from ..study import Study

MIRROR_KEEP = 0.9  # mirrored validation images keep >= 90% of the accuracy: mirroring preserves labels
# Random shifts help a long training and hurt a short one. Fashion-MNIST, 600 s: on a CPU without bf16
# (~4-6 epochs) the hand CNN read 0.9306 / 0.9323 plain vs 0.9301 / 0.9274 shifted (seeds 0, 1), and
# auto's winner 0.9285 plain vs 0.9235 shifted; with bf16 (~12-20 epochs) shifts gave the hand CNN
# +0.5 points (0.9374 -> 0.9424), and MNIST-1D (~250 epochs) +0.1 (BENCHMARKS.md, docs/results/auto-v2.md).
# The half-width hand CNN trained 600 s (9.2 epochs, seed 0) read 0.9264 plain vs 0.9235 shifted, so
# the threshold sits between the 9.2 epochs where shifts still hurt and the 12 where they helped.
MIN_AUGMENT_EPOCHS = 10


class Choice(NamedTuple):
    """The search's winner: its validation score after ``seconds`` of training, and (when
    ASHA's top rung has several candidates) the extrapolation table that ranked them after
    ``horizon_s`` seconds of training in all."""

    arch: Arch | None
    score: float | None = None
    seconds: float | None = None
    extrapolation: Sequence[dict[str, Any]] = ()
    horizon_s: float = 0.0


def choose(study: Study, search: str, final_s: float = 0.0, allowed: Callable[[Arch], bool] | None = None) -> Choice:
    """The winner: of the highest ASHA rung, the candidate whose learning curve promises the best
    accuracy after its rung's training plus ``final_s`` more seconds (see
    :func:`extrapolated_ranking`), or the best trial of a single-fidelity search. With
    ``allowed``, only architectures it accepts (e.g. within ``--max-params``) can win: a resumed
    study may hold trials from a run without the limit."""
    if search != "asha":
        return _best_allowed(study, allowed)
    standing = study.strategy.standing()
    if standing.rung is None:
        return Choice(None)
    seconds = standing.seconds[standing.rung]
    if standing.resource != "seconds" or standing.rung == 0:  # one look each, or looks at other data
        if allowed is None or allowed(standing.best):
            return Choice(standing.best, standing.best_score, seconds)
        return _best_allowed(study, allowed)
    horizon = seconds + final_s
    table = extrapolated_ranking(measured_looks(study, standing.looks), horizon)
    if allowed is not None:
        table = [row for row in table if allowed(Arch.from_json(row["arch"]))]
        if not table:
            return _best_allowed(study, allowed)
    arch, score = standing.best, standing.best_score
    if table:
        arch, score = Arch.from_json(table[0]["arch"]), table[0]["looks"][-1][1]
    return Choice(arch, score, seconds, table, horizon)


def measured_looks(study: Study, looks: dict[str, list[tuple[float, float]]]) -> dict[str, list[tuple[float, float]]]:
    """``looks`` (arch JSON -> ``(rung seconds, accuracy)``) at the seconds each trial actually trained
    in all (its curve's ``train_seconds_total``): a first look stretched to an epoch share (see
    ``TrainingEstimator``) took longer than its rung, and its curve must be extrapolated from there."""
    trained: dict[tuple[str, float], float] = {}
    for t in study.storage.trials((TrialStatus.OK,)):
        total = t.curve[-1].get("train_seconds_total") if t.curve else None
        if total is not None and t.fidelity.get("seconds") is not None:
            trained[(t.arch.to_json(), round(float(t.fidelity["seconds"]), 3))] = float(total)
    return {arch: [(trained.get((arch, round(float(s), 3)), s), acc) for s, acc in arch_looks]
            for arch, arch_looks in looks.items()}


def _best_allowed(study: Study, allowed: Callable[[Arch], bool] | None) -> Choice:
    """The successful trial with the most training seconds (then the best score) that ``allowed`` accepts."""
    trials = [t for t in study.storage.trials((TrialStatus.OK,))
              if t.objective is not None and (allowed is None or allowed(t.arch))]
    if not trials:
        return Choice(None)
    best = max(trials, key=lambda t: (t.fidelity.get("seconds") or 0.0, t.objective))
    return Choice(best.arch, best.objective, best.fidelity.get("seconds"))


def raw_prediction(choice: Choice) -> float | None:
    """The accuracy the search's looks promise for the winner after the final training: its
    extrapolated accuracy, or its one look's score (no curve to extrapolate)."""
    if choice.extrapolation:
        return float(choice.extrapolation[0]["extrapolated_accuracy"])
    return choice.score


def extrapolated_ranking(looks: dict[str, list[tuple[float, float]]], horizon_s: float) -> list[dict[str, Any]]:
    """Candidates (arch JSON -> their looks, ``(seconds, accuracy)`` one per rung reached), best
    first by the accuracy their looks extrapolate to after ``horizon_s`` seconds of training (a
    power law in time; equal-time rungs favour nets that learn fast early, the final training
    lasts minutes)."""
    table = [{"arch": arch_json, "looks": arch_looks, "exponent": round(power_law_exponent(arch_looks), 4),
              "extrapolated_accuracy": round(extrapolate_accuracy(arch_looks, horizon_s), 4)}
             for arch_json, arch_looks in looks.items()]
    return sorted(table, key=lambda row: (-row["extrapolated_accuracy"], -row["looks"][-1][1]))


def format_looks(looks) -> str:
    """'0.9195 at 21s, 0.9310 at 62s': a candidate's validation accuracy after each look."""
    return ", ".join(f"{accuracy:.4f} at {seconds:.0f}s" for seconds, accuracy in looks)


def announce(choice: Choice, space, log) -> None:
    """Log the extrapolation table (each row gets its description instead of its JSON) and the winner."""
    if choice.score is None:
        return
    for row in choice.extrapolation:
        row["description"] = space.describe(Arch.from_json(row.pop("arch")))
        log(f"  {row['description']}: {format_looks(row['looks'])} -> "
            f"{row['extrapolated_accuracy']:.4f} extrapolated to {choice.horizon_s:.0f}s")
    if choice.seconds is None:  # ranked by cross-validation
        log(f"Chosen: {space.describe(choice.arch)} (cross-validated accuracy {choice.score:.4f}, the best)")
        return
    log(f"Chosen: {space.describe(choice.arch)} (val accuracy {choice.score:.4f} after {choice.seconds:g}s of "
        "training" + (", the best extrapolated to the final training's length)" if len(choice.extrapolation) > 1
                      else ")"))


def mirror_test(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(accuracy, accuracy on the same samples mirrored along the last axis) of ``model``.

    A model trained without flips still recognises mirrored clothes or
    animals, but not mirrored digits or letters; the ratio tells ``auto``
    whether mirror flips are a label-preserving augmentation for this data."""
    plain, _ = evaluate_model(model, x, y)
    mirrored, _ = evaluate_model(model, x.flip(-1), y)
    return plain, mirrored


def choose_augment(requested: str, model: torch.nn.Module | None, ds, val_samples: int,
                   expected_epochs: float | None = None) -> tuple[str, str]:
    """(augmentation for the final training, why). ``auto``: random shifts for every
    image or sequence, plus mirror flips if the search's winner passes :func:`mirror_test`;
    none for tabular features, or when the model will see fewer than ``MIN_AUGMENT_EPOCHS``
    epochs in all (``expected_epochs``, when known)."""
    if requested != "auto":
        return requested, "as requested"
    if ds.tabular:
        return "none", "tabular features (columns on different scales): shifting or mirroring would mix them"
    if expected_epochs is not None and expected_epochs < MIN_AUGMENT_EPOCHS:
        return "none", (f"~{expected_epochs:.1f} epochs in all, under {MIN_AUGMENT_EPOCHS}: too short a "
                        "training for shifts to pay")
    if model is None:
        return "shift", "no trained candidate to test mirroring with"
    plain, mirrored = mirror_test(model, ds.x_val[:val_samples], ds.y_val[:val_samples])
    why = f"val accuracy {plain:.3f}, mirrored {mirrored:.3f}"
    return ("shift-flip" if mirrored >= MIRROR_KEEP * plain else "shift"), why
