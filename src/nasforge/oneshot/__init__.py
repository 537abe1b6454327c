"""One-shot NAS: a supernet shares its weights among all the cells of a space and is trained once.

* :class:`NB201Supernet` -- the ``nb201`` cell with a mixed op on every edge, built from the
  space's own ops; :meth:`~NB201Supernet.derive` and :meth:`~NB201Supernet.extract` turn its
  architecture weights and paths back into ordinary ``Arch``\\ es and networks.
* :class:`DartsSupernet` -- the ``darts`` space's normal and reduction cells with a mixed op on
  each of their 14 edges (DARTS's search network); :meth:`~DartsSupernet.derive` applies DARTS's
  rule (two strongest inputs per node, no ``none``).
* :class:`GradientSearch` -- DARTS (first/second order), GDAS and beta-DARTS.
* :class:`SPOSTraining` and :class:`SupernetEstimator` -- single-path training, and scoring by
  shared weights as an ``Estimator`` that any strategy searches through a study.
* :class:`ENASSearch` -- ENAS: an LSTM :class:`CellController` samples the paths the shared weights
  train on and learns by REINFORCE from their validation accuracy.
* :class:`SandwichTraining` and :class:`ElasticEstimator` -- the elastic ``mobilenet-elastic``
  supernet (Once-for-All style sub-networks) trained by the sandwich rule, and its sub-networks
  scored and extracted with inherited weights (:func:`extract_subnet`); :class:`ProgressiveShrinking`
  trains the same supernet by Once-for-All's progressive shrinking (largest, kernel, depth, width), and
  :func:`finetune` trains an extracted sub-network a few epochs more.

The ``nasforge oneshot`` command (``commands/oneshot.py``) runs them with a study and checkpoints.
"""

from ._config import ELASTIC_METHODS, ENAS_OPTIONS, GRADIENT_METHODS, METHODS, PHASES, OneShotConfig
from ._enas import CellController, ENASSearch
from ._darts_supernet import DartsMixedOp, DartsSupernet
from ._gradient import GradientSearch
from ._elastic import (FINETUNE_LR, PHASE_OPENS, ElasticEstimator, ProgressiveShrinking, SandwichTraining,
                       accuracy_and_loss, calibration_set, extract_subnet, finetune, smallest_arch)
from ._spos import SPOSTraining, SupernetEstimator, recalibrate_batch_norm
from ._supernet import (NB201Supernet, MixedOp, arch_to_choice, choice_to_arch, parameter_free_edges)
from ._training import ActivationMeter, SupernetTraining, peak_rss_mb


def make_training(supernet, config: OneShotConfig, x_train, y_train, x_val, y_val) -> SupernetTraining:
    """The training ``config.method`` names, on the given data."""
    kind = (GradientSearch if config.gradient else SandwichTraining if config.method == "sandwich"
            else ProgressiveShrinking if config.method == "progressive" else ENASSearch if config.method == "enas" else SPOSTraining)
    return kind(supernet, config, x_train, y_train, x_val, y_val)


__all__ = ["ELASTIC_METHODS", "FINETUNE_LR", "finetune", "PHASE_OPENS", "PHASES", "ProgressiveShrinking",
           "accuracy_and_loss", "ActivationMeter", "arch_to_choice", "calibration_set", "CellController",
           "choice_to_arch", "DartsMixedOp", "DartsSupernet", "ElasticEstimator", "ENAS_OPTIONS", "ENASSearch",
           "extract_subnet", "GRADIENT_METHODS",
           "GradientSearch", "make_training", "METHODS", "MixedOp", "NB201Supernet", "OneShotConfig",
           "parameter_free_edges", "peak_rss_mb", "recalibrate_batch_norm", "SandwichTraining", "smallest_arch",
           "SPOSTraining", "SupernetEstimator", "SupernetTraining"]
