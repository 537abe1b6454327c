"""Performance estimation: train at a fidelity, measure costs, retrain the winner.

Every training goes through one loop (``_loop.py``): a trial's epochs
(``_trainer.py``), a continued run (``_continued.py``) and the final model
(``_final.py``, whose writer ``nasforge train`` and ``nasforge auto`` share).

Learning-curve prediction (``_forecast``, ``_curve_models``, ``_curve_prior``, ``_lc_pfn``)
and the predictive pruner built on it (``_pruning``) live here too.
"""

from ._augment import AUGMENTATIONS
from ._config import TrainConfig, resolve_device
from ._continued import TrainingRun, decay_lr, stable_lr
from ._curve_models import FAMILY_NAMES, LastValue, ParametricEnsemble, TwoPointPowerLaw
from ._curve_prior import sample_curves
from ._curves import extrapolate_accuracy, power_law_exponent
from ._forecast import Forecast
from ._estimator import FIRST_LOOK_STRETCH, TrainingEstimator
from ._final import save_final_model, train_final
from ._hardware import (LatencyStats, MeasureConfig, measure_costs, measure_energy, measure_latencies,
                        measure_latency,
                        model_size_bytes, peak_memory_bytes)
from ._latency_lut import (FeaturePredictor, LatencyModel, LatencyTable, LutPredictor, network_features,
                           prediction_errors, profile_latency, units)
from ._loop import evaluate_model
from ._pruning import PREDICTORS, PRUNERS, EpochWatch, PredictivePruner, curve_predictor, make_pruner
from ._timing import TimingProtocol, reduce_rounds
from ._scaling import Scaling, build_scaled, compound_scale, grid_coefficients, train_scaled
from ._metrics import count_flops, count_params, measure_latency_ms
from ._trainer import subset_indices, train_model

__all__ = ["AUGMENTATIONS", "FIRST_LOOK_STRETCH", "TrainConfig", "TrainingEstimator",
           "FAMILY_NAMES", "EpochWatch", "Forecast", "LastValue", "ParametricEnsemble", "PREDICTORS", "PRUNERS",
           "PredictivePruner", "TwoPointPowerLaw", "curve_predictor", "make_pruner", "sample_curves",
           "extrapolate_accuracy", "power_law_exponent",
           "count_flops", "count_params", "evaluate_model", "measure_latency_ms", "resolve_device",
           "save_final_model", "subset_indices", "train_final", "train_model", "TrainingRun", "decay_lr",
           "stable_lr", "LatencyStats", "MeasureConfig", "measure_costs", "measure_energy", "measure_latency",
           "measure_latencies", "TimingProtocol", "reduce_rounds",
           "model_size_bytes", "peak_memory_bytes", "FeaturePredictor", "LatencyModel", "LatencyTable",
           "LutPredictor", "network_features", "prediction_errors", "profile_latency", "units",
           "Scaling", "build_scaled", "compound_scale", "grid_coefficients", "train_scaled"]
