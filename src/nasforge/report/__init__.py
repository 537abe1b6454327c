"""See a study: a self-contained HTML report (``nasforge report``) and a live dashboard
(``nasforge dashboard``), both reading the study file read-only.

>>> from nasforge.report import write_report
>>> write_report("runs/study.db", "runs/study-report")  # doctest: +SKIP
PosixPath('runs/study-report/index.html')
"""

from ._analysis import IMPORTANCE_METHOD, decision_importance, pareto_front_2d
from ._report import write_report
from ._server import Dashboard, make_server, url_of
from ._view import Follower, StudyView, load

__all__ = ["IMPORTANCE_METHOD", "Dashboard", "Follower", "StudyView", "decision_importance", "load", "make_server",
           "pareto_front_2d", "url_of", "write_report"]
