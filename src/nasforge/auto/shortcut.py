"""Whether ``auto`` searches at all. A search pays only when the final model still trains long
enough after it: on a budget that affords the space's standard design fewer than
``MIN_SEARCH_EPOCHS`` epochs, ``auto`` trains the space's short-budget design (for ``macro-cnn``
the half-width hand CNN) for the whole budget instead.

The evidence (Fashion-MNIST, docs/results/auto-v2.md): at 600 s on a CPU without bf16 the
standard hand CNN affords ~3-4 epochs, and auto's search (35 % of the budget, 8 short looks)
ended 1.05 points below the benchmark's hand CNN trained for the whole budget (3 seeds), having
chosen the half-width design in 2 of them. With bf16 (12-20 epochs) the search with shifts beat
the plain hand CNN, and MNIST-1D (~250 epochs) tied. The threshold sits between those points,
where shifts also stop paying (``MIN_AUGMENT_EPOCHS``).
"""

from __future__ import annotations

import time
from typing import NamedTuple

from ..core import Arch
from ..estimation import TrainConfig, resolve_device, train_model
from .threads import fastest_thread_count, using_threads

MIN_SEARCH_EPOCHS = 8.0
PROBE_SECONDS = 3.0  # timed training of the standard design, after a few warm-up steps


def affordable_epochs(space, arch: Arch, ds, train_config: TrainConfig, seconds: float, seed: int = 0) -> float:
    """Epochs of ``arch`` on train+validation that ``seconds`` of training buy here, timed by
    training a fresh copy for ``PROBE_SECONDS`` with the run's own settings (precision included)
    on the faster of 1 or all threads (as the final training picks), after three warm-up batches."""
    config = TrainConfig(**{**train_config.to_dict(), **space.training_config(arch), "augment": "none"})
    model = space.build(arch, ds.input_shape, ds.num_classes).to(resolve_device(config.device))
    warm = 3 * config.batch_size  # first calls allocate and set up kernels: ~4x slower steps on digits
    train_model(model, ds.x_train[:warm], ds.y_train[:warm], 1, config, seed)
    with using_threads(fastest_thread_count(model, ds.x_train, ds.y_train, config.batch_size)):  # as the final
        start = time.perf_counter()
        curve = train_model(model, ds.x_train, ds.y_train, 1, config, seed, time_limit=PROBE_SECONDS)
    samples_per_s = curve[-1]["epoch"] * len(ds.y_train) / max(1e-9, time.perf_counter() - start)
    return samples_per_s * max(0.0, seconds) / (len(ds.y_train) + len(ds.y_val))


class Shortcut(NamedTuple):
    """What ``auto`` trains instead of searching, and why."""

    design: Arch  # trained for the whole budget: the space's ``short_budget_design()``
    design_epochs: float  # what the budget affords it (decides the augmentation)
    standard_epochs: float  # what the budget affords the standard design (under MIN_SEARCH_EPOCHS)


def shortcut_if_too_short(study, requested_fraction, search: str, recipe: str, cv, allowed, seconds: float,
                          seed: int, log) -> Shortcut | None:
    """What to train instead of searching, for the default search of a new study (no
    ``--search-fraction`` given, ``asha``, the fixed recipe, not a cross-validated table) whose
    budget affords the space's standard design fewer than ``MIN_SEARCH_EPOCHS`` epochs; None
    otherwise (the search runs). The design trained is the space's ``short_budget_design()``
    (for ``macro-cnn`` the half-width hand CNN, which auto's searches chose on such budgets)."""
    if requested_fraction is not None or search != "asha" or recipe != "fixed" or cv is not None:
        return None
    est = study.estimator
    standard, design = est.space.standard(), est.space.short_budget_design()
    if standard is None or study.finished_count() or (allowed is not None and not allowed(design)):
        return None
    epochs = affordable_epochs(est.space, standard, est.dataset, est.train_config, seconds, seed)
    if epochs >= MIN_SEARCH_EPOCHS:
        log(f"The budget affords ~{epochs:.1f} epochs of the standard design: searching.")
        return None
    design_epochs = epochs if design == standard else affordable_epochs(
        est.space, design, est.dataset, est.train_config, seconds, seed)
    log(f"The budget affords only ~{epochs:.1f} epochs of the standard design ({est.space.describe(standard)}), "
        f"under {MIN_SEARCH_EPOCHS:g}: a search would cost more than it finds. Training "
        f"{est.space.describe(design)} (~{design_epochs:.1f} epochs) for the whole budget instead "
        "(--search-fraction 0.35 searches anyway; a longer --time-budget searches).")
    return Shortcut(design, design_epochs, epochs)
