"""Performance estimation: train at a fidelity, measure costs, retrain the winner."""

from ._metrics import count_flops, count_params, measure_latency_ms
from ._final import train_final
from ._continued import TrainingRun, decay_lr, stable_lr
from ._curves import extrapolate_accuracy, power_law_exponent
from ._trainer import TrainConfig, TrainingEstimator, evaluate_model, resolve_device, subset_indices, train_model

__all__ = ["TrainConfig", "TrainingEstimator",
           "extrapolate_accuracy", "power_law_exponent",
           "count_flops", "count_params", "evaluate_model", "measure_latency_ms", "resolve_device",
           "subset_indices", "train_final", "train_model", "TrainingRun", "decay_lr", "stable_lr"]
