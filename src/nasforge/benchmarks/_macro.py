"""NAS-Bench-Macro (Su et al. 2021): CIFAR-10 results of all 6,561 networks of the
``nasbench-macro`` space, from the benchmark's JSON file.

The table records only *test* accuracy (three training runs each) plus
parameters and FLOPs, no validation accuracy and no training time: as in
the benchmark's paper, the recorded accuracy is the search objective here
(``val_accuracy`` reads one run, ``test_accuracy`` the same value), and the
simulated clock does not advance, so compare strategies by evaluations.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..core import UserInputError
from ..spaces import NASBenchMacroSpace, nasbench_macro
from ._registry import register
from ._tabular import TabularBenchmark

DEFAULT_FILE = "nas-bench-macro_cifar10.json"


@register("nasbench-macro", space="nasbench-macro", summary="NAS-Bench-Macro CIFAR-10 test accuracy of 6,561 "
          "MobileNetV2-block networks, from the JSON in $NASFORGE_NASBENCH_MACRO")
def from_json(path: str | os.PathLike | None = None, noisy: bool = True) -> TabularBenchmark:
    path = Path(path or os.environ.get("NASFORGE_NASBENCH_MACRO", DEFAULT_FILE))
    if not path.is_file():
        raise UserInputError(f"NAS-Bench-Macro table {str(path)!r} does not exist; get "
                             f"{DEFAULT_FILE} from the NAS-Bench-Macro repository (xiusu/NAS-Bench-Macro) and "
                             "point NASFORGE_NASBENCH_MACRO at it")
    raw = json.loads(path.read_text())
    table = {k: {"val_accuracy": r["test_acc"], "test_accuracy": r["test_acc"], "params": r["params"],
                 "flops": r["flops"]} for k, r in raw.items()}
    return TabularBenchmark("nasbench-macro", NASBenchMacroSpace(), table, nasbench_macro.key, noisy)
