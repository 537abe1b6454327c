"""Studies: persistent, resumable searches stored in one SQLite file."""

from ._storage import SCHEMA_VERSION, Storage, TrialRecord
from ._study import Pruner, Reporter, SilentReporter, StopReason, Study, trial_seed

__all__ = ["Pruner", "SCHEMA_VERSION", "Reporter", "SilentReporter", "StopReason", "Storage", "Study", "TrialRecord",
           "trial_seed"]
