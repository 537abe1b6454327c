"""Studies: persistent, resumable searches stored in one SQLite file."""

from ._constraints import REJECTED, check_feasible, precheck
from ._front import front_hypervolume, hypervolume_by_trial, pareto_trials, scored, study_reference
from ._storage import SCHEMA_VERSION, Storage, TrialRecord
from ._study import Pruner, Reporter, SilentReporter, StopReason, Study, trial_seed

__all__ = ["REJECTED", "Pruner", "SCHEMA_VERSION", "Reporter", "SilentReporter", "StopReason", "Storage", "Study",
           "TrialRecord", "check_feasible", "front_hypervolume", "hypervolume_by_trial", "pareto_trials", "precheck",
           "scored", "study_reference",
           "trial_seed"]
