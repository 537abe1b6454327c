"""Studies: persistent, resumable searches stored in one SQLite file."""

from ._storage import INTERRUPTED, RUNNING, SCHEMA_VERSION, Storage, TrialRecord
from ._study import FINISHED, Reporter, SilentReporter, StopReason, Study, trial_seed

__all__ = ["FINISHED", "INTERRUPTED", "RUNNING", "SCHEMA_VERSION", "Reporter", "SilentReporter", "StopReason",
           "Storage", "Study", "TrialRecord", "trial_seed"]
