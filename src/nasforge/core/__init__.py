"""The core layer: values and contracts every other package shares. No torch.

Arch, Fidelity, Result, TrialRequest and TrialStatus are plain values; the
contracts (SearchSpace, Strategy, Estimator, Executor, Clock) are small
abstract classes; errors, the registry and argument checks keep messages
and lookups uniform.
"""

from .arch import Arch
from .checks import check_choice, check_float, check_int
from .decisions import Decision, DecisionSpace
from .clock import Clock, SimulatedClock, WallClock
from .errors import (DatasetNotFoundError, InvalidArchError, MissingDependencyError, NasforgeError,
                     SpaceDefinitionError, StudyBusyError, StudyError, StudyExistsError, TrialError, UnknownNameError,
                     UserInputError, require)
from .estimator import Estimator
from .executor import Event, Executor
from .registry import Registry
from .space import SearchSpace
from .strategy import Strategy
from .trial import FINISHED, Fidelity, Result, TrialPruned, TrialRequest, TrialStatus, pruned_result

__all__ = ["FINISHED", "Arch", "Clock", "DatasetNotFoundError", "Decision", "DecisionSpace", "Estimator", "Event", "Executor", "Fidelity",
           "InvalidArchError", "MissingDependencyError", "NasforgeError", "Registry", "Result", "SearchSpace",
           "SimulatedClock", "SpaceDefinitionError", "Strategy", "StudyBusyError", "StudyError", "StudyExistsError",
           "TrialError", "TrialPruned", "TrialRequest",
           "TrialStatus", "UnknownNameError", "UserInputError", "WallClock", "check_choice", "check_float",
           "check_int", "pruned_result", "require"]
