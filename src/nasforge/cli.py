"""The ``nasforge`` command: search, show, train, export, and list components.

User errors print one line and exit with status 2; no tracebacks. A closed
output pipe (``nasforge show --json | head -1``) ends the command quietly, as
it ends any Unix tool.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from .commands._options import key_values as _key_values
from .commands._options import positive_float as _positive_float
from .commands._options import positive_int as _positive_int
from .core import NasforgeError, TrialStatus

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a tool whose reader went away
STARTED = time.monotonic()  # `nasforge auto` counts its budget from here
_EXIT_AT_ONCE = False  # set by a command whose budget counts the whole process (see program())


class _UsageError(Exception):
    pass


def _usage(message: str) -> _UsageError:
    return _UsageError(message)


class _Parser(argparse.ArgumentParser):
    """argparse answering a usage mistake with the one line that matters and where the help is,
    instead of the whole usage text first; subcommand parsers inherit it."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}; see `{self.prog} --help`\n")


def _file_in_the_way(path: Path) -> Path | None:
    """The nearest existing path at or above ``path`` if it is not a folder (a folder cannot be made there)."""
    for existing in (path, *path.parents):
        if existing.exists():
            return None if existing.is_dir() else existing
    return None


def _check_out_folder(path: str) -> None:
    """``--out`` of train/auto must be a folder or not exist yet: a file there is refused before any work."""
    blocker = _file_in_the_way(Path(path))
    if blocker is not None:
        where = "is a file" if blocker == Path(path) else f"is under {str(blocker)!r}, which is a file"
        raise _usage(f"--out {path!r} {where}; give a folder (it is created if missing)")


def _check_out_file(path: str) -> None:
    """``--out`` of export must name a file: a folder there is refused before any work."""
    if Path(path).is_dir():
        raise _usage(f"--out {path!r} is a folder; give the file to write, e.g. {str(Path(path) / 'model.onnx')!r}")
    blocker = _file_in_the_way(Path(path).parent)
    if blocker is not None:
        raise _usage(f"--out {path!r} is under {str(blocker)!r}, which is a file; give a path in a folder")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(prog="nasforge", description="Neural architecture search that pays for itself.")
    parser.add_argument("--version", action="version", version=f"nasforge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    _add_search(sub)
    _add_auto(sub)
    _add_study_commands(sub)
    sub.add_parser("spaces", help="list the registered search spaces")
    sub.add_parser("strategies", help="list the registered search strategies")
    sub.add_parser("datasets", help="list the data sets and whether they are installed")
    sub.add_parser("benchmarks", help="list the tabular benchmarks usable with `search --benchmark`")
    for name in COMMAND_MODULES:
        _command_module(name).add_parser(sub)
    return parser


def _add_search(sub) -> None:
    """The ``search`` command's arguments."""
    s = sub.add_parser("search", help="run (or resume) a search, stored in a study file",
                       description="Run a search. Rerunning the same command on the same --study resumes it.")
    s.add_argument("--study", default="runs/study.db", help="SQLite study file (default: runs/study.db)")
    s.add_argument("--space", help="search space name, or path/to/file.py:function (default: macro-cnn)")
    s.add_argument("--dataset", help="data set name or path to an .npz file (default: fashion-mnist)")
    s.add_argument("--strategy", help="search strategy (default: evolution)")
    s.add_argument("--benchmark", help="search a tabular benchmark instead of training (see `nasforge benchmarks`); "
                                       "--time-budget then counts simulated training seconds")
    s.add_argument("--trials", type=_positive_int, help="stop after this many finished trials in total")
    s.add_argument("--time-budget", type=_positive_float, metavar="SECONDS",
                   help="stop starting trials after this many seconds of search in total")
    s.add_argument("--epochs", type=_positive_int, help="training epochs per trial (fidelity; default 2)")
    s.add_argument("--subset", type=_positive_float, help="fraction of the training set per trial (default 1.0)")
    s.add_argument("--seconds", type=_positive_float,
                   help="train every trial for this many seconds (time-equalised fidelity; --epochs, if given, caps it)")
    s.add_argument("--width-multiplier", type=_positive_float, help="narrow-proxy width multiplier (default 1.0)")
    s.add_argument("--val-samples", type=_positive_int,
                   help="score each trial on the first N validation samples (default: all; big models on a big "
                        "validation split can take longer to score than a short trial takes to train)")
    s.add_argument("--continue-runs", action="store_true", default=None,
                   help="with --seconds and a multi-fidelity strategy (asha, hyperband): a promoted trial continues "
                        "its earlier training instead of restarting (sequential studies; constant learning rate); "
                        "on --benchmark mnist1d-nb201 it continues the recorded run and pays only the extra epochs")
    s.add_argument("--seed", type=int, help="study seed (default 0)")
    _add_execution_options(s)
    s.add_argument("--strategy-option", action="append", metavar="KEY=VALUE",
                   help="strategy option, e.g. population_size=16 (repeatable)")
    s.add_argument("--space-option", action="append", metavar="KEY=VALUE", help="space option (repeatable)")
    s.add_argument("--train-option", action="append", metavar="KEY=VALUE",
                   help="training option: lr, batch_size, weight_decay, optimizer, label_smoothing, device, "
                        "precision (auto|fp32|bf16)")
    s.add_argument("--prune", choices=("predictive",), default=None,
                   help="stop trials early: 'predictive' stops one whose learning curve gives it less than "
                        "--prune-threshold chance of beating the best finished trial (docs/pruning.md)")
    s.add_argument("--prune-threshold", type=_positive_float, metavar="P",
                   help="with --prune: the smallest chance of beating the best trial that keeps a trial "
                        "(default 0.05)")
    s.add_argument("--prune-predictor", choices=("pfn", "parametric", "last", "power-law"),
                   help="with --prune: the learning-curve predictor (default pfn)")
    s.add_argument("--measure-option", action="append", metavar="KEY=VALUE",
                   help="what each trial measures: latency, runtime (torch|onnxruntime), batch_size, threads, "
                        "resolution, repeats, warmup, size, memory, energy (docs/hardware.md)")
    s.add_argument("--allow-changes", action="store_true",
                   help="resume an existing study with another strategy, seed, fidelity or training settings "
                        "(recorded in the study; the space, data set and split cannot change)")
    _add_proxy_options(s)

    s.add_argument("--objective", action="append", metavar="NAME",
                   help="an objective to optimise, with its registered direction (repeatable; several make a "
                        "multi-objective study: use nsga2, mo-evolution, parego, mo-asha or random); default "
                        "val_accuracy. Known: val_accuracy, val_error, params, flops, latency_ms, ...")
    s.add_argument("--constraint", action="append", metavar="EXPR",
                   help="a limit every successful trial meets, e.g. 'latency_ms<=2.0' or 'params<=100000' "
                        "(repeatable); architectures that break it before training are rejected untrained")
    s.add_argument("--quiet", action="store_true", help="no progress display")


def _add_execution_options(s) -> None:
    """Where and how ``search`` runs its trials: workers, timeouts, Ray, failures."""
    s.add_argument("--workers", type=_positive_int, default=1,
                   help="run trials in this many isolated worker processes (default 1: in this process)")
    s.add_argument("--trial-timeout", type=_positive_float, metavar="SECONDS",
                   help="stop a trial after this many seconds and record it as failed (runs trials in workers; "
                        "counted from when its worker begins it, so start-up does not count)")
    s.add_argument("--executor", choices=("process", "ray"), default="process",
                   help="where isolated trials run: local worker processes (default) or Ray tasks (nasforge[ray])")
    s.add_argument("--ray-address", help="an existing Ray cluster (default: start a local Ray instance)")
    s.add_argument("--trial-cpus", type=_positive_float, default=1.0, help="CPUs per trial with --executor ray")
    s.add_argument("--trial-gpus", type=float, default=0.0, help="GPUs per trial with --executor ray")
    s.add_argument("--max-failures", type=_positive_int, default=10,
                   help="stop once this many trials have failed (default 10)")


def _add_proxy_options(s) -> None:
    """``search``'s zero-cost-proxy warm start."""
    s.add_argument("--proxy-warm-start", type=_positive_int, metavar="N",
                   help="a new study first scores N sampled architectures with a zero-cost proxy (no training; "
                        "the seconds count as search time) and runs the best --proxy-top of them first")
    s.add_argument("--proxy", help="the proxy of --proxy-warm-start (default synflow; see `nasforge proxies --help`)")
    s.add_argument("--proxy-top", type=_positive_int, metavar="K",
                   help="how many of the best-scored architectures run first (default 10)")


def _add_auto(sub) -> None:
    """The ``auto`` command's arguments."""
    a = sub.add_parser("auto", help="search and train the best model for a data set within a time budget",
                       description="Search, retrain the winner until the deadline, test it once, and write the "
                                   "model (PyTorch + ONNX), summary.json and report.md to --out. The budget "
                                   "covers everything, data loading included.")
    a.add_argument("--dataset", default="fashion-mnist", help="data set name or path to an .npz file")
    a.add_argument("--time-budget", type=_positive_float, default=600.0, metavar="SECONDS",
                   help="total wall-clock seconds (default 600)")
    a.add_argument("--out", default="runs/auto", help="output folder (default runs/auto); rerun to resume")
    a.add_argument("--space", default="auto",
                   help="search space (default auto: mlp for a table .npz, macro-cnn for images and sequences)")
    a.add_argument("--space-option", action="append", metavar="KEY=VALUE", help="space option (repeatable)")
    a.add_argument("--search-fraction", type=float, default=None,
                   help="share of the budget spent searching (default 0.35)")
    a.add_argument("--rungs", choices=("time", "subset"), default="time",
                   help="time (default): all the data for equal seconds, promotions and the winner continue "
                        "their training; subset: candidates train on data subsets for the same share of the final "
                        "training time (as many epochs as the final training)")
    a.add_argument("--augment", choices=("auto", "none", "shift", "shift-flip"), default="auto",
                   help="data augmentation of the final training: auto (default) shifts images/sequences by a few "
                        "pixels and mirrors them too if the search's best model still recognises mirrored "
                        "validation samples; none; shift; shift-flip")
    a.add_argument("--train-option", action="append", metavar="KEY=VALUE",
                   help="training option for the search and the final training, e.g. precision=fp32 (as for "
                        "`nasforge search`; a resumed search keeps its own)")
    a.add_argument("--recipe", choices=("fixed", "search"), default="fixed",
                   help="fixed (default): the default training recipe; search: learning rate, weight decay, batch "
                        "size, label smoothing, augmentation, dropout and width are searched with the architecture "
                        "and the final training uses the winner's")
    a.add_argument("--max-params", type=_positive_int, default=None, metavar="N",
                   help="the final model has at most N parameters: larger candidates are never trained")
    a.add_argument("--max-latency-ms", type=_positive_float, default=None, metavar="MS",
                   help="the final model's batch-1 CPU latency (1 thread) is at most MS: slower candidates are "
                        "never trained; the final model is measured again and a miss is reported")
    a.add_argument("--ensemble", type=_positive_int, default=None, metavar="N",
                   help="small tables (cross-validated): the final model is up to N copies of the winner, "
                        "each trained with its own seed, predicting together (default 5; 1: one network)")
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--no-onnx", action="store_true", help="skip the ONNX export")
    a.add_argument("--quiet", action="store_true", help="no per-trial progress")


def _add_study_commands(sub) -> None:
    """``show``, ``train``, ``export``, ``merge`` and ``draw``: the commands that read a study or an architecture."""
    sh = sub.add_parser("show", help="show the trials of a study, best first")
    sh.add_argument("--study", default="runs/study.db")
    sh.add_argument("--json", action="store_true", help="machine-readable JSON (every trial)")
    sh.add_argument("--format", choices=("table", "json", "csv"), default=None)
    sh.add_argument("--limit", type=_positive_int, default=None, help="show at most this many trials")
    sh.add_argument("--pareto", action="store_true",
                    help="only the non-dominated trials on the study's objectives, with the front's hypervolume")
    sh.add_argument("--plot", nargs="?", const="", default=None, metavar="FILE",
                    help="with --pareto: also draw accuracy vs latency/params with the front marked (default file: "
                         "next to the study, STUDY-pareto.png; needs nasforge[plot])")

    t = sub.add_parser("train", help="retrain a trial on train+validation and test it once")
    t.add_argument("--study", default="runs/study.db")
    t.add_argument("--trial", default="best", help="'best' or a trial id")
    t.add_argument("--epochs", type=_positive_int, default=None, help="training epochs (default 15)")
    t.add_argument("--time-budget", type=_positive_float, metavar="SECONDS",
                   help="train for this many seconds instead (the LR schedule ends then; --epochs, if given, caps it)")
    t.add_argument("--out", default="runs/best", help="output folder for model.pt and summary.json")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--quiet", action="store_true")

    e = sub.add_parser("export", help="export a trial's model as PyTorch, TorchScript or ONNX")
    e.add_argument("--study", default="runs/study.db")
    e.add_argument("--trial", default=None,
                   help="'best' or a trial id (default: the trial of the study's latest trained model, e.g. the one "
                        "`nasforge auto` delivered, else 'best')")
    e.add_argument("--format", choices=("pytorch", "torchscript", "onnx"), required=True)
    e.add_argument("--out", required=True, help="output file")
    e.add_argument("--weights", help="a model.pt from `nasforge train` (default: the latest one for the trial)")

    m = sub.add_parser("merge", help="combine studies of the same space, data and fidelity into a new study")
    m.add_argument("--into", required=True, help="the new study file")
    m.add_argument("sources", nargs="+", help="study files to combine")

    dr = sub.add_parser("draw", help="draw an architecture (cell graph or chain of stages) as SVG, PNG or PDF",
                        description="Draw an architecture from a JSON file (an Arch, or the summary.json of "
                                    "`nasforge train` / `nasforge auto`) or from a study trial. Needs matplotlib "
                                    "(pip install 'nasforge[plot]').")
    dr.add_argument("arch", nargs="?", help="architecture JSON file (omit with --study)")
    dr.add_argument("--study", help="draw a trial of this study instead of a file")
    dr.add_argument("--trial", default="best", help="with --study: 'best' or a trial id")
    dr.add_argument("--out", required=True, help="output file; the format follows its suffix: .svg, .png or .pdf")
    dr.add_argument("--space", help="the space to draw with (default: the architecture's own)")
    dr.add_argument("--space-option", action="append", metavar="KEY=VALUE", help="space option (repeatable)")


# Commands that live in their own module under nasforge/commands/: each module has
# ``add_parser(sub)`` (adds one sub-command named like the module) and ``run(args, console)``.
COMMAND_MODULES: tuple[str, ...] = ("dashboard", "oneshot", "profile_latency", "proxies", "report", "scale")


def _command_module(name: str):
    import importlib

    return importlib.import_module(f"{__package__}.commands.{name}")


def main(argv: list[str] | None = None) -> int:
    try:
        try:
            return _run(argv)
        finally:
            sys.stdout.flush()  # output still buffered meets a closed pipe here, not at interpreter exit
    except BrokenPipeError:  # the reader of our output went away: stop quietly, as Unix tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush does not complain again
        return EXIT_BROKEN_PIPE


def program() -> None:
    """The ``nasforge`` program: :func:`main`, then the exit. After a finished ``auto`` the process ends
    at once: its budget counts the whole process, and the interpreter's teardown of PyTorch and
    scikit-learn takes another 0.3-1.5 s (measured on 2 cores) with nothing left to save (the study is
    closed and every file written before ``auto`` returns)."""
    code = main()
    if _EXIT_AT_ONCE:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def _reader_gone() -> None:
    """rich's reaction to a closed pipe would exit with status 1; end it like every other write instead."""
    raise BrokenPipeError


def _run(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
    console.on_broken_pipe = _reader_gone
    try:
        command = COMMANDS.get(args.command) or _command_module(args.command.replace("-", "_")).run
        return command(args, console)
    except (NasforgeError, _UsageError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"nasforge {args.command}: error: {message}", file=sys.stderr)
        return EXIT_USAGE


# -- search -----------------------------------------------------------------------

def _search_spec(args):
    from dataclasses import replace

    from .api import SearchSpec, open_storage

    given = {k: v for k, v in {
        "space": args.space, "dataset": args.dataset, "strategy": args.strategy, "seed": args.seed,
        "epochs": args.epochs, "subset": args.subset, "width_multiplier": args.width_multiplier,
        "seconds": args.seconds, "benchmark": args.benchmark, "continue_runs": args.continue_runs,
        "val_samples": args.val_samples,
        "prune": args.prune, "prune_threshold": args.prune_threshold, "prune_predictor": args.prune_predictor,
        "proxy_warm_start": args.proxy_warm_start, "proxy": args.proxy, "proxy_top": args.proxy_top,

        "objectives": args.objective, "constraints": args.constraint,
    }.items() if v is not None}
    if args.seconds is not None and args.epochs is None:
        given["epochs"] = 1000  # time decides; the epoch cap only stops runaway tiny data sets
    for flag, key in (("--strategy-option", "strategy_options"), ("--space-option", "space_options"),
                      ("--train-option", "train_options"), ("--measure-option", "measure_options")):
        values = _key_values(getattr(args, key.replace("_options", "_option")), flag)
        if values:
            given[key] = values
    if Path(args.study).exists():
        storage, stored = open_storage(args.study)
        storage.close()
        if given.get("strategy", stored.strategy) != stored.strategy and "strategy_options" not in given:
            given["strategy_options"] = {}  # the old strategy's options mean nothing to the new one
        return replace(stored, **given)
    return SearchSpec(**given)


def _executor_options(args) -> dict:
    if args.executor != "ray":
        if args.ray_address or args.trial_gpus:
            raise _usage("--ray-address and --trial-gpus need --executor ray")
        return {}
    return {"address": args.ray_address, "cpus_per_trial": args.trial_cpus, "gpus_per_trial": args.trial_gpus}


def cmd_search(args, console) -> int:
    import functools

    from .api import estimator_from_spec, open_study
    from .progress import CountProgress, SearchReporter, print_summary

    spec = _search_spec(args)
    if spec.prune is None and (args.prune_threshold is not None or args.prune_predictor is not None):
        raise _usage("--prune-threshold and --prune-predictor need --prune predictive")
    if spec.benchmark is None and args.executor != "ray":  # Ray trials may run on machines with other devices
        from .estimation import resolve_device

        resolve_device(spec.train_options.get("device", "auto"))  # before any study file or trial
    resuming = Path(args.study).exists()
    n_trials = args.trials
    if n_trials is None and args.time_budget is None:
        n_trials = 20
    with CountProgress(console, spec.proxy_warm_start, f"proxy warm start ({spec.proxy})",
                       quiet=args.quiet or resuming or not spec.proxy_warm_start) as scored:
        study = open_study(args.study, spec, allow_changes=args.allow_changes, on_scored=scored)
    done = study.finished_count()
    if resuming:
        extra = f"; {study.interrupted_on_open} interrupted trial(s) will be asked again" if study.interrupted_on_open else ""
        console.print(f"Resuming study {args.study}: {done} trial(s) already finished{extra}.")
    else:
        console.print(f"New study {args.study}: space={spec.space} dataset={spec.dataset} "
                      f"strategy={spec.strategy} fidelity={spec.fidelity.to_dict()} seed={spec.seed}")
        if warm := study.storage.meta().get("proxy_warm_start"):
            console.print(f"Proxy warm start: {warm['scored']} architectures scored with {warm['proxy']} in "
                          f"{warm['seconds']:.1f}s (counted as search time); the best {len(warm['archs'])} run first.")

    if len(spec.objectives) > 1 or spec.constraints:
        console.print(f"Objectives: {', '.join(spec.objectives)}"
                      + (f"; constraints: {', '.join(spec.constraints)} ({study.feasibility})" if spec.constraints
                         else ""), markup=False)
    reporter = SearchReporter(console, study, n_trials, args.time_budget, quiet=args.quiet)
    try:
        with reporter:
            stop = study.optimize(n_trials=n_trials, time_budget=args.time_budget, reporter=reporter,
                                  max_failures=args.max_failures, workers=args.workers,
                                  trial_timeout=args.trial_timeout,
                                  estimator_factory=functools.partial(estimator_from_spec, spec.to_dict()),
                                  executor=args.executor, executor_options=_executor_options(args))
    except KeyboardInterrupt:
        console.print(f"\nInterrupted: {study.finished_count()} finished trial(s) are saved in {args.study}.")
        console.print("Resume with: " + " ".join(shlex.quote(a) for a in ["nasforge", *sys.argv[1:]]))
        return EXIT_INTERRUPTED
    console.print(f"Stopped: {stop.message}.")
    if len(spec.objectives) > 1:
        _show_front(console, study.storage, spec, args.study, plot="" if _has_matplotlib() else None)
    else:
        print_summary(console, study, args.study)
    if stop.reason == "failures":
        print(f"nasforge search: error: stopped after {stop.message}; see `nasforge show --study {args.study}` "
              "for each failure, fix the cause, and rerun (or raise --max-failures)", file=sys.stderr)
        return 1
    return 0


# -- auto ---------------------------------------------------------------------------

def cmd_auto(args, console) -> int:
    from .auto import SEARCH_FRACTION, auto
    from .auto.crossval import ENSEMBLE_MEMBERS
    from .auto.plan import process_started_at
    from .study import SilentReporter

    class Reporter(SilentReporter):  # one line per finished trial; the search is short, so no live status line
        def trial_finished(self, record, best):
            if args.quiet:
                return
            m = record.metrics
            sec = record.fidelity.get("seconds")
            look = f"{sec:g}s" if sec is not None else f"{m.get('folds', 0):g}-fold CV, {m.get('best_epochs', 0):g} ep"
            if record.status == TrialStatus.OK:
                console.print(f"  trial {record.id:>3}  {look}  val acc {m['val_accuracy']:.4f}  "
                              f"params {m['params']:>8,}  best {best.objective:.4f}", markup=False)
            else:
                first = (record.error or "no error text").splitlines()[0][:100]
                what = "REJECTED" if record.status == TrialStatus.PRUNED else "FAILED"
                console.print(f"  trial {record.id:>3}  {what}: {first}", markup=False)

    _check_out_folder(args.out)
    fraction = SEARCH_FRACTION if args.search_fraction is None else args.search_fraction
    try:
        auto(args.dataset, args.time_budget, args.out, seed=args.seed, space=args.space,
             space_options=_key_values(args.space_option, "--space-option"), search_fraction=fraction,
             onnx=not args.no_onnx, reporter=Reporter(), log=lambda m: console.print(m, markup=False),
             started_at=min(STARTED, process_started_at() or STARTED), rungs=args.rungs, augment=args.augment,
             max_params=args.max_params, max_latency_ms=args.max_latency_ms, recipe=args.recipe,
             train_options=_key_values(args.train_option, "--train-option"),
             ensemble=ENSEMBLE_MEMBERS if args.ensemble is None else args.ensemble)
    except KeyboardInterrupt:
        console.print(f"\nInterrupted: the search so far is saved in {Path(args.out) / 'study.db'}; rerun the same "
                      "command to resume it.")
        return EXIT_INTERRUPTED
    global _EXIT_AT_ONCE
    _EXIT_AT_ONCE = True
    return 0


# -- show ---------------------------------------------------------------------------

def cmd_show(args, console) -> int:
    import csv

    from .studyfile import open_storage
    from .progress import best_first, trials_table

    storage, spec = open_storage(args.study)
    if args.plot is not None and not args.pareto:
        raise _usage("--plot draws the Pareto front: use it with --pareto")
    if args.pareto:
        return _show_front(console, storage, spec, args.study, args.plot, "json" if args.json else args.format)
    trials = best_first(storage.trials())
    if args.limit:
        trials = trials[: args.limit]
    fmt = "json" if args.json else (args.format or "table")
    if fmt == "json":
        doc = {"study": str(args.study), "spec": spec.to_dict(), "trials": [t.to_dict() for t in trials],
               "final_models": storage.final_models()}
        print(json.dumps(doc, indent=2, default=str))
    elif fmt == "csv":
        metric_keys = sorted({k for t in trials for k in t.metrics})
        writer = csv.writer(sys.stdout)
        writer.writerow(["id", "number", "status", "objective", *metric_keys, "fidelity", "arch", "duration_s"])
        for t in trials:
            writer.writerow([t.id, t.number, t.status, t.objective, *(t.metrics.get(k) for k in metric_keys),
                             json.dumps(t.fidelity), t.arch.to_json(), t.duration_s])
    else:
        console.print(trials_table(trials, _describer(spec), title=f"{args.study} — {len(trials)} trial(s), best first"))
        if scores := storage.proxy_scores():
            console.print(f"{len(scores)} zero-cost proxy scores ({', '.join(sorted({r['proxy'] for r in scores}))}) "
                          f"of {len({r['arch'].digest for r in scores})} architectures")
    return 0


def _describer(spec):
    """The study's space's ``describe`` for a printed table, or None when the space cannot be
    rebuilt here (a space file that moved). Imports torch, so only the table formats call it."""
    from . import spaces

    try:
        return spaces.get(spec.space, **spec.space_options).describe
    except NasforgeError:
        return None


def _has_matplotlib() -> bool:
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


def _show_front(console, storage, spec, study_path: str, plot: str | None = None, fmt: str | None = None) -> int:
    """Print a study's Pareto front and hypervolume; with ``plot`` ("" = next to the study) draw it."""
    from .progress import front_objectives, pareto_picture, pareto_summary, print_front

    trials = storage.trials()
    objectives, note = front_objectives(trials, spec.objectives)
    summary = pareto_summary(trials, objectives)
    if fmt in ("json", "csv"):
        if fmt == "csv":
            raise _usage("--pareto prints a table or --json")
        print(json.dumps({**summary, "front": [t.to_dict() for t in summary["front"]], "note": note,
                          "constraints": spec.constraints}, indent=2, default=str))
    else:
        if note:
            console.print(f"Note: {note}.", markup=False)
        print_front(console, summary, _describer(spec), f"{study_path}: Pareto front on {', '.join(objectives)}")
    if plot is not None:
        out = Path(plot) if plot else Path(study_path).with_name(Path(study_path).stem + "-pareto.png")
        chosen = {m["trial_id"]: "trained" for m in storage.final_models()}
        best = storage.best()
        if best is not None:
            chosen.setdefault(best.id, f"best {spec.objectives[0]}")
        written = pareto_picture(trials, objectives, out, chosen, f"{study_path} ({', '.join(objectives)})")
        if fmt not in ("json",):
            console.print(f"Wrote {written}" if written else "No successful trial to draw.", markup=False)
    return 0


# -- train / export -----------------------------------------------------------------

def cmd_train(args, console) -> int:
    from . import data, spaces
    from .api import open_storage, select_trial
    from .estimation import TrainConfig, train_final

    _check_out_folder(args.out)
    storage, spec = open_storage(args.study)
    trial = select_trial(storage, args.trial)
    if spec.benchmark is not None:
        raise _usage(f"study {args.study!r} searched the tabular benchmark {spec.benchmark!r}; it has no data set "
                     "to train on")
    space = spaces.get(spec.space, **spec.space_options)
    dataset = data.load(spec.dataset, val_fraction=spec.val_fraction)
    config = TrainConfig.from_options(spec.train_options)
    epochs = args.epochs or (10_000 if args.time_budget else 15)
    length = f"{args.time_budget:g}s" if args.time_budget else f"{epochs} epochs"
    console.print(f"Training trial {trial.id} ({space.describe(trial.arch)}) on {dataset.name} "
                  f"train+validation ({len(dataset.y_train) + len(dataset.y_val)} samples) for {length}")

    def on_epoch(point):
        if not args.quiet:
            total = "" if args.time_budget and not args.epochs else f"/{epochs}"
            console.print(f"  epoch {point['epoch']:>3g}{total}  train loss {point['train_loss']:.4f}  "
                          f"({point['epoch_seconds']:.1f}s)")

    try:
        summary = train_final(space, trial.arch, dataset, epochs, args.out, config, seed=args.seed,
                              time_limit=args.time_budget,
                              space_options=spec.space_options, on_epoch=on_epoch,
                              extra={"study": str(args.study), "trial_id": trial.id,
                                     "search_val_accuracy": trial.metrics.get("val_accuracy")})
    except KeyboardInterrupt:
        console.print("\nInterrupted: nothing was written.")
        return EXIT_INTERRUPTED
    storage.add_final_model(trial.id, str(Path(args.out) / "model.pt"),
                            {k: summary[k] for k in ("test_accuracy", "epochs", "params", "latency_ms", "seed")})
    console.print(f"Test accuracy {summary['test_accuracy']:.4f} on {summary['test_samples']} held-out samples; "
                  f"{summary['params']:,} parameters, {summary['flops'] / 1e6:.1f} MFLOPs, "
                  f"{summary['latency_ms']:.2f} ms/sample on CPU.")
    console.print(f"Wrote {Path(args.out) / 'model.pt'} and {Path(args.out) / 'summary.json'}")
    return 0


def cmd_export(args, console) -> int:
    from . import spaces
    from .api import open_storage, select_trial
    from .export import build_saved, export_model, load_checkpoint

    _check_out_file(args.out)
    storage, spec = open_storage(args.study)
    finals = storage.final_models()
    # auto's winner need not have the best objective (extrapolation, cross-validation ties): by default
    # the trained model is the one to export
    trial = select_trial(storage, args.trial or (finals[-1]["trial_id"] if finals else "best"))
    space = spaces.get(spec.space, **spec.space_options)
    weights = args.weights
    if weights is None:
        own = [f for f in finals if f["trial_id"] == trial.id]
        weights = own[-1]["path"] if own else None
    if weights is not None:
        bundle = load_checkpoint(weights)
        if bundle["arch"] != trial.arch.to_json():
            raise _usage(f"weights {weights!r} belong to another architecture than trial {trial.id}")
        input_shape, num_classes = bundle["input_shape"], bundle["num_classes"]
        model = build_saved(space, trial.arch, bundle)
    elif spec.benchmark is not None:
        raise _usage(f"study {args.study!r} searched the tabular benchmark {spec.benchmark!r}; pass --weights, "
                     "or search the space on real data to export a trained model")
    else:
        from . import data

        dataset = data.load(spec.dataset, val_fraction=spec.val_fraction)
        input_shape, num_classes = dataset.input_shape, dataset.num_classes
        model = space.build(trial.arch, input_shape, num_classes)
        print(f"nasforge export: warning: trial {trial.id} has no trained weights (run `nasforge train` first, "
              "or pass --weights); exporting the architecture with freshly initialised weights", file=sys.stderr)
    checkpoint = {"arch": trial.arch, "space_options": spec.space_options, "input_shape": input_shape,
                  "num_classes": num_classes}
    out = export_model(model, input_shape, args.format, args.out, checkpoint=checkpoint)
    console.print(f"Exported trial {trial.id} as {args.format} to {out}")
    return 0


# -- draw -----------------------------------------------------------------------------

def cmd_draw(args, console) -> int:
    from . import spaces
    from .core import Arch
    from .draw import draw, load_arch, output_format

    output_format(args.out)  # a bad suffix fails before any loading
    if (args.arch is None) == (args.study is None):
        raise _usage("give either an architecture JSON file or --study (with --trial)")
    if args.study is not None:
        from .api import open_storage, select_trial

        storage, spec = open_storage(args.study)
        try:
            arch, options = select_trial(storage, args.trial).arch, dict(spec.space_options)
        finally:
            storage.close()
    else:
        arch, options = load_arch(args.arch)
    if args.space is not None and args.space != arch.space:
        arch, options = Arch(args.space, arch.decisions), {}
    options.update(_key_values(args.space_option, "--space-option"))
    out = draw(arch, spaces.get(arch.space, **options), args.out)
    console.print(f"Wrote {out}", markup=False)
    return 0


# -- listings -------------------------------------------------------------------------

def cmd_spaces(args, console) -> int:
    from rich.table import Table

    from . import spaces

    table = Table(title="search spaces")
    for col in ("name", "size", "encoding length", "description"):
        table.add_column(col)
    for name in spaces.names():
        space = spaces.get(name)
        size = f"{space.size:,}" if space.size else "unbounded"
        table.add_row(name, size, str(space.encoding_length), spaces.REGISTRY.summary(name))
    console.print(table)
    console.print("Also: --space path/to/file.py:function for a define-by-run space (see examples/).")
    return 0


def cmd_strategies(args, console) -> int:
    from rich.table import Table

    from . import strategies

    table = Table(title="search strategies")
    for col in ("name", "options (defaults)", "description"):
        table.add_column(col)
    for name in strategies.names():
        opts = ", ".join(f"{k}={v!r}" for k, v in strategies.options(name).items()) or "-"
        table.add_row(name, opts, strategies.REGISTRY.summary(name))
    console.print(table)
    return 0


def cmd_datasets(args, console) -> int:
    from rich.table import Table

    from . import data

    table = Table(title="data sets")
    for col in ("name", "available", "description"):
        table.add_column(col)
    for name in data.names():
        table.add_row(name, data.availability(name), data.REGISTRY.summary(name))
    console.print(table)
    console.print("Also: --dataset path/to/data.npz with arrays x, y (and optionally x_test, y_test), "
                  "or Keras's x_train, y_train, x_test, y_test.")
    return 0


def cmd_merge(args, console) -> int:
    from .studyfile import merge_studies

    copied = merge_studies(args.into, args.sources)
    console.print(f"Merged {copied} finished trial(s) from {len(args.sources)} studies into {args.into}")
    return 0


def cmd_benchmarks(args, console) -> int:
    from rich.table import Table

    from . import benchmarks

    table = Table(title="tabular benchmarks")
    for col in ("name", "description"):
        table.add_column(col)
    for name in benchmarks.names():
        table.add_row(name, benchmarks.REGISTRY.summary(name))
    console.print(table)
    return 0


COMMANDS = {"auto": cmd_auto, "benchmarks": cmd_benchmarks, "draw": cmd_draw, "merge": cmd_merge, "search": cmd_search, "show": cmd_show, "train": cmd_train, "export": cmd_export,
            "spaces": cmd_spaces, "strategies": cmd_strategies, "datasets": cmd_datasets}

if __name__ == "__main__":
    program()
