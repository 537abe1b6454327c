"""``nasforge oneshot``: search a cell space by weight sharing (DARTS, DARTS 2nd order, GDAS,
beta-DARTS, ENAS, or SPOS with any ask/tell strategy on ``nb201``; the gradient methods on
``darts`` too), or the elastic ``mobilenet-elastic`` space by an elastic supernet (sandwich rule or
Once-for-All's progressive shrinking) searched by any strategy under optional ``--constraint``
limits, and store everything in a study.

The study file records the supernet's epochs (its ``oneshot_epochs`` meta entry and, for the
gradient methods and ENAS, the cell derived after each epoch as a trial without objective) and the
candidates: the final derived cell (gradient methods, ENAS) or every cell the strategy asked (SPOS),
or every sub-network the strategy asked (sandwich, progressive; with its parameters and latency),
scored by the validation accuracy of their path through the supernet after BN recalibration.
Progressive shrinking's epoch records name their phase. With ``--finetune N`` the chosen
sub-network is trained N more epochs from its inherited weights before it is saved.
So ``nasforge show``, ``train``, ``export`` and ``draw`` work on it as on any study.

A checkpoint of the supernet (weights, architecture weights, optimisers, random state) is saved
beside the study after every epoch (``STUDY.supernet.pt``): rerunning the same command after a
kill continues from the last completed epoch, and a finished SPOS supernet is reused by a
resumed strategy. ``STUDY.derived.pt`` holds the chosen cell with its inherited supernet weights
(a checkpoint ``nasforge export --weights`` accepts; fine-tuned with ``--finetune``).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from ..core import Fidelity, StudyError, TrialStatus, UserInputError
from ._options import key_values, positive_int

DEFAULT_DATASET = "mnist1d"
# which --method trains a supernet of which --space
SPACE_METHODS = {"nb201": ("darts", "darts2", "gdas", "beta-darts", "spos", "enas"),
                 "darts": ("darts", "darts2", "gdas", "beta-darts"),
                 "mobilenet-elastic": ("sandwich", "progressive")}
# the darts space's own defaults (C=16, 8 cells) are DARTS's GPU search network; a CPU search
# starts smaller unless --space-option says otherwise (recorded in the study, so `train` agrees)
DARTS_SEARCH_DEFAULTS = {"C": 8, "layers": 5}
SEARCHED = ("spos", "sandwich", "progressive")  # methods whose supernet a --strategy searches


def add_parser(sub) -> None:
    # no nasforge.oneshot import here: it loads torch, and `nasforge --help` must stay fast
    p = sub.add_parser("oneshot", help="one-shot search: DARTS, GDAS, beta-DARTS, ENAS or SPOS (nb201); "
                                       "elastic supernet by progressive shrinking or sandwich (mobilenet-elastic)",
                       description="Train a weight-sharing supernet and derive a cell. Rerun the same command to "
                                   "resume after a kill (from the last completed supernet epoch).")
    p.add_argument("--study", default="runs/oneshot.db", help="SQLite study file (default: runs/oneshot.db)")
    p.add_argument("--space", default="nb201", help="space: nb201 (darts, darts2, gdas, beta-darts, spos, enas), "
                                                    "darts (darts, darts2, gdas, beta-darts; C=8, layers=5 "
                                                    "unless --space-option says otherwise) or "
                                                    "mobilenet-elastic (progressive, sandwich)")
    p.add_argument("--method", required=True,
                   help="darts (1st order), darts2 (2nd order), gdas, beta-darts, enas, or spos (+ --strategy) "
                        "for nb201; progressive or sandwich (+ --strategy) for mobilenet-elastic")
    p.add_argument("--dataset", default=DEFAULT_DATASET, help=f"data set name or .npz path (default {DEFAULT_DATASET})")
    p.add_argument("--space-option", action="append", metavar="KEY=VALUE",
                   help="space option, e.g. channels=16, cells_per_stage=1 (repeatable)")
    p.add_argument("--epochs", type=positive_int, default=30,
                   help="supernet training epochs (default 30); a supernet usually needs several times the "
                        "epochs of one standalone network (progressive: split over its phases, see "
                        "--option phase_epochs=LARGEST,KERNEL,DEPTH,WIDTH)")
    p.add_argument("--subset", type=float, default=1.0,
                   help="fraction of the training split the supernet learns from (default 1.0)")
    p.add_argument("--val-fraction", type=float, default=0.1,
                   help="share of the data held out to score candidates (default 0.1)")
    p.add_argument("--option", action="append", metavar="KEY=VALUE",
                   help="one-shot option: lr, arch_lr, batch_size, weight_decay, tau_max, beta_lambda, ... "
                        "(repeatable; see docs/oneshot.md)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--strategy", default="evolution", help="with --method spos, sandwich or progressive: the "
                                                           "strategy searching the supernet (default evolution)")
    p.add_argument("--strategy-option", action="append", metavar="KEY=VALUE", help="strategy option (repeatable)")
    p.add_argument("--trials", type=positive_int, default=100,
                   help="with --method spos, sandwich or progressive: architectures the strategy scores on "
                        "the supernet (default 100)")
    p.add_argument("--constraint", action="append", metavar="EXPR",
                   help="with --method sandwich or progressive: a limit the chosen sub-network meets, e.g. "
                        "'params<=50000' or 'latency_ms<=3' (repeatable; params/flops are checked before "
                        "scoring, latency on the scored sub-network)")
    p.add_argument("--finetune", type=int, default=0, metavar="N",
                   help="with --method sandwich or progressive: train the chosen sub-network N more epochs "
                        "from its inherited weights before saving it (default 0: none)")
    p.add_argument("--quiet", action="store_true", help="no per-epoch lines")


def settings(args) -> dict:
    """What the study's trials mean; a resumed study must be run with the same."""
    from ..oneshot import OneShotConfig

    config = OneShotConfig.from_options({**key_values(args.option, "--option"), "method": args.method,
                                         "epochs": args.epochs, "seed": args.seed})
    if not 0 < args.subset <= 1:
        raise UserInputError(f"--subset must be a fraction in (0, 1]; got {args.subset!r}")
    spos = config.method in SEARCHED
    space_options = key_values(args.space_option, "--space-option")
    if args.space == "darts":
        space_options = {**DARTS_SEARCH_DEFAULTS, **space_options}
    return {"space": args.space, "space_options": space_options,
            "dataset": args.dataset, "subset": args.subset, "val_fraction": args.val_fraction,
            "config": config.to_dict(), "strategy": args.strategy if spos else None,
            "strategy_options": key_values(args.strategy_option, "--strategy-option") if spos else {},
            **constraint_setting(args, config)}


def constraint_setting(args, config) -> dict:
    """``{"constraints": [...]}`` when limits are given (absent otherwise, so older studies still match)."""
    from ..core.objectives import parse_constraints
    from ..oneshot import ELASTIC_METHODS

    if args.finetune < 0:
        raise UserInputError(f"--finetune takes a number of epochs >= 0; got {args.finetune}")
    if (args.constraint or args.finetune) and config.method not in ELASTIC_METHODS:
        raise UserInputError(f"--constraint and --finetune apply to --method {' / '.join(ELASTIC_METHODS)} "
                             f"(the elastic supernet); got --method {config.method}")
    return {"constraints": [str(c) for c in parse_constraints(args.constraint)]} if args.constraint else {}


def open_oneshot_study(path: Path, wanted: dict):
    """The study at ``path`` (checked to have been made with ``wanted``), or a new one."""
    from .. import __version__
    from ..api import SearchSpec, open_storage
    from ..study import Storage

    if path.exists():
        storage, _ = open_storage(path)
        stored = storage.meta().get("oneshot")
        if stored is None:
            storage.close()
            raise StudyError(f"{str(path)!r} is not a one-shot study; choose another --study path")
        if stored != wanted:
            diff = "; ".join(f"{k}: study has {a!r}, this run asks for {b!r}" for k, a, b in _differences(stored, wanted))
            storage.close()
            raise StudyError(f"study {str(path)!r} was made with other settings ({diff}); rerun with the "
                             "study's settings to resume it, or choose a new --study path")
        storage.claim()
        return storage
    method = wanted["config"]["method"]
    strategy = f"oneshot:{method}" + (f"+{wanted['strategy']}" if wanted["strategy"] else "")
    spec = SearchSpec(space=wanted["space"], dataset=wanted["dataset"], strategy=strategy,
                      seed=wanted["config"]["seed"], epochs=wanted["config"]["epochs"], subset=wanted["subset"],
                      space_options=wanted["space_options"], strategy_options=wanted["strategy_options"],
                      val_fraction=wanted["val_fraction"], constraints=wanted.get("constraints", []))
    return Storage.create(path, {"spec": spec.to_dict(), "oneshot": wanted, "oneshot_epochs": [],
                                 "nasforge_version": __version__})


def _differences(stored: dict, wanted: dict):
    """(name, stored, wanted) of each setting that differs; the one-shot options one by one."""
    for key, value in wanted.items():
        if key == "config" and isinstance(stored.get(key), dict):
            yield from ((f"--option {k}", stored[key].get(k), v) for k, v in value.items() if stored[key].get(k) != v)
        elif stored.get(key) != value:
            yield key, stored.get(key), value


def load_data(wanted: dict):
    """(space, dataset, x_train, y_train): the training samples the supernet learns from."""
    from .. import data, spaces
    from ..estimation import subset_indices

    method = wanted["config"]["method"]
    if wanted["space"] not in SPACE_METHODS:
        raise UserInputError(f"one-shot search supports the spaces {', '.join(map(repr, SPACE_METHODS))}; "
                             f"got {wanted['space']!r}")
    if method not in SPACE_METHODS[wanted["space"]]:
        fits = [s for s, methods in SPACE_METHODS.items() if method in methods]
        raise UserInputError(f"--method {method} does not train a {wanted['space']!r} supernet (it needs --space "
                             f"{fits[0]}); for {wanted['space']!r} use --method "
                             f"{' / '.join(SPACE_METHODS[wanted['space']])}")
    space = spaces.get(wanted["space"], **wanted["space_options"])
    dataset = data.load(wanted["dataset"], val_fraction=wanted["val_fraction"])
    x, y = dataset.x_train, dataset.y_train
    if wanted["subset"] < 1.0:
        idx = subset_indices(len(y), wanted["subset"])
        x, y = x[idx], y[idx]
    return space, dataset, x, y


def record_epochs(storage, training) -> None:
    """Store the epoch log and, for gradient methods, each epoch's derived cell not stored yet."""
    from ..core import Arch

    stored = {t.request_meta.get("epoch") for t in storage.trials()
              if t.request_meta.get("kind") == "supernet-epoch"}
    for rec in training.history:
        if "arch" not in rec or rec["epoch"] in stored:
            continue
        metrics = {k: rec[k] for k in ("supernet_val_accuracy", "train_loss", "seconds", "cpu_seconds",
                                       "activation_mb", "parameter_free_edges", "mean_reward") if k in rec}
        trial_id = storage.start_trial(storage.next_number(), Arch.from_json(rec["arch"]), {"epochs": rec["epoch"]},
                                       training.config.seed, {"kind": "supernet-epoch", "epoch": rec["epoch"],
                                                              "method": training.config.method})
        storage.finish_trial(trial_id, TrialStatus.OK, metrics, [], None, None, rec["seconds"], {})
    storage.set_meta({"oneshot_epochs": training.history})


def epoch_line(rec: dict, epochs: int, describe) -> str:
    from ..core import Arch

    line = f"  epoch {rec['epoch']:>3}/{epochs}" + (f" [{rec['phase']}]" if "phase" in rec else "") + \
        f"  loss {rec['train_loss']:.4f}"
    if "supernet_val_accuracy" in rec:
        line += f"  supernet val acc {rec['supernet_val_accuracy']:.4f}"
    if "mean_reward" in rec:
        line += f"  controller reward {rec['mean_reward']:.4f}"
    if "smallest_val_accuracy" in rec:
        line += f" (smallest subnet {rec['smallest_val_accuracy']:.4f})"
    line += f"  {rec['seconds']:.1f}s ({rec['cpu_seconds']:.1f} CPU-s)  {rec['activation_mb']:.1f} MB activations"
    if "arch" in rec:
        line += f"  {describe(Arch.from_json(rec['arch']))} ({rec['parameter_free_edges']} param-free)"
    return line


def train_supernet(args, console, storage, training, checkpoint: Path) -> None:
    """Run the supernet's remaining epochs, checkpointing and recording each."""
    if checkpoint.exists():
        training.load(checkpoint)
        console.print(f"Resuming the supernet after epoch {training.epoch} ({checkpoint}).")
    record_epochs(storage, training)
    describe = training.supernet.space.describe
    epochs = training.config.epochs
    with console.status("") as status:
        while training.epoch < epochs:
            phase = f", {training.phase} phase" if hasattr(training, "phase") else ""
            status.update(f"supernet epoch {training.epoch + 1}/{epochs} ({training.config.method}{phase})")
            rec = training.run_epoch()
            training.save(checkpoint)
            record_epochs(storage, training)
            if not args.quiet:
                console.print(epoch_line(rec, epochs, describe), markup=False)
    console.print(f"Supernet trained: {training.epoch} epochs, "
                  f"{sum(r['cpu_seconds'] for r in training.history):.0f} CPU-s "
                  f"({sum(r['seconds'] for r in training.history):.0f} s).")


def derived_trial(storage, training, estimator):
    """Record (once) the cell a gradient method or ENAS derives, scored on the supernet; its trial."""
    done = [t for t in storage.trials() if t.request_meta.get("kind") == "derived"]
    if done:
        return done[-1]
    arch = training.derive()
    result = estimator.evaluate(arch, Fidelity(epochs=1), training.config.seed)
    trial_id = storage.start_trial(storage.next_number(), arch, {"epochs": training.config.epochs},
                                   training.config.seed, {"kind": "derived", "method": training.config.method})
    storage.finish_trial(trial_id, result.status, result.metrics, [], result.metrics.get("val_accuracy"),
                         result.error, result.cost_s, {})
    return storage.trial(trial_id)


def spos_search(args, console, storage, estimator, wanted: dict):
    """Let the strategy search the trained supernet through the normal study loop; the best trial."""
    from .. import strategies
    from ..progress import SearchReporter
    from ..study import Study

    from ..core.objectives import parse_constraints
    from ..study import check_feasible

    strategy = strategies.get(wanted["strategy"], estimator.space, seed=wanted["config"]["seed"],
                              **wanted["strategy_options"])
    constraints = parse_constraints(wanted.get("constraints", []))
    feasibility = check_feasible(estimator, constraints, wanted["config"]["seed"])
    if constraints:
        console.print(f"Constraints {', '.join(map(str, constraints))}: {feasibility}.")
    study = Study(storage, strategy, estimator, Fidelity(epochs=1), wanted["config"]["seed"],
                  constraints=constraints)
    reporter = SearchReporter(console, study, args.trials, None, quiet=args.quiet)
    with reporter:
        study.optimize(n_trials=args.trials, reporter=reporter)
    return study.best()


def save_inherited(path: Path, training, estimator, trial, wanted: dict, dataset, finetuned=None) -> None:
    """The chosen architecture as a standalone network with the supernet's weights (BN recalibrated),
    or ``finetuned`` = (that network trained further, what :func:`finetune_chosen` recorded)."""
    from ..export import save_checkpoint
    from ..oneshot import ELASTIC_METHODS, extract_subnet, recalibrate_batch_norm

    if finetuned is not None:
        net = finetuned[0]
    elif wanted["config"]["method"] in ELASTIC_METHODS:
        net = extract_subnet(training.supernet, trial.arch, estimator.calibration)
    else:
        choice = training.supernet.arch_to_choice(trial.arch)
        recalibrate_batch_norm(training.supernet, estimator.calibration, choice=choice)
        net = training.supernet.extract(trial.arch)
    meta = {"inherited_from": "supernet", "trial_id": trial.id}
    if finetuned is not None:
        meta["finetuned"] = finetuned[1]
    save_checkpoint(path, net, trial.arch, wanted["space_options"], dataset.input_shape, dataset.num_classes, meta)


def finetune_chosen(args, console, storage, training, estimator, trial, x, y):
    """(the chosen sub-network trained ``--finetune`` epochs from its inherited weights, its record): the
    validation accuracy before and after, stored in the study's ``finetuned`` meta entry and printed."""
    import time

    from ..oneshot import accuracy_and_loss, finetune

    model = estimator.inherited(trial.arch)
    cpu = time.process_time()
    with console.status(f"fine-tuning the chosen sub-network for {args.finetune} epoch(s)"):
        finetune(model, training.config, x, y, args.finetune, seed=training.config.seed)
    after = accuracy_and_loss(model, estimator.x_val, estimator.y_val)[0]
    record = {"trial_id": trial.id, "epochs": args.finetune, "val_accuracy_inherited": trial.objective,
              "val_accuracy": after, "cpu_seconds": time.process_time() - cpu}
    storage.set_meta({"finetuned": record})
    console.print(f"Fine-tuned {args.finetune} epoch(s) ({record['cpu_seconds']:.0f} CPU-s): val accuracy "
                  f"{trial.objective:.4f} inherited -> {after:.4f}.")
    return model, record


def run(args, console) -> int:
    wanted = settings(args)
    space, dataset, x, y = load_data(wanted)  # a bad space or data set fails before any file is made
    path = Path(args.study)
    storage = open_oneshot_study(path, wanted)
    try:
        return _search(args, console, storage, wanted, space, dataset, x, y)
    finally:
        storage.close()


def _search(args, console, storage, wanted, space, dataset, x, y) -> int:
    import torch

    from ..oneshot import (DartsSupernet, ElasticEstimator, NB201Supernet, OneShotConfig, SupernetEstimator,
                           make_training)

    path = Path(args.study)
    config = OneShotConfig(**wanted["config"])
    elastic = config.method in ("sandwich", "progressive")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        kind = DartsSupernet if space.name == "darts" else NB201Supernet
        supernet = (space.supernet(dataset.input_shape, dataset.num_classes) if elastic
                    else kind(space, dataset.input_shape, dataset.num_classes))
    training = make_training(supernet, config, x, y, dataset.x_val, dataset.y_val)
    checkpoint = Path(f"{path}.supernet.pt")
    console.print(f"One-shot study {path}: {config.method} on {space.name} {wanted['space_options'] or ''}, "
                  f"{dataset.name} ({len(y)} training samples), {config.epochs} supernet epochs"
                  + (" (" + ", ".join(f"{name} {n}" for name, n in config.phases()) + ")"
                     if config.method == "progressive" else "") + f", seed {config.seed}")
    try:
        train_supernet(args, console, storage, training, checkpoint)
        kind = ElasticEstimator if elastic else SupernetEstimator
        estimator = kind(supernet, x, dataset.x_val, dataset.y_val, config.calibration_batches, config.batch_size)
        trial = (derived_trial(storage, training, estimator) if config.gradient or config.method == "enas"
                 else spos_search(args, console, storage, estimator, wanted))
    except KeyboardInterrupt:
        console.print(f"\nInterrupted: the supernet is saved after epoch {training.epoch} in {checkpoint}.")
        console.print("Resume with: " + " ".join(shlex.quote(a) for a in ["nasforge", *sys.argv[1:]]))
        return 130
    if trial is None or trial.objective is None:
        raise StudyError(f"no candidate could be scored; see `nasforge show --study {path}`")
    inherited = Path(f"{path}.derived.pt")
    finetuned = finetune_chosen(args, console, storage, training, estimator, trial, x, y) if args.finetune else None
    save_inherited(inherited, training, estimator, trial, wanted, dataset, finetuned)
    console.print(f"Chosen: trial {trial.id}, {space.describe(trial.arch)}, supernet val accuracy "
                  f"{trial.objective:.4f} ({trial.metrics.get('params', 0):,} parameters).", markup=False)
    weights = "fine-tuned" if args.finetune else "supernet"
    console.print(f"Next: nasforge train --study {path} --trial {trial.id} --out runs/oneshot-best/  "
                  f"(or export it with its {weights} weights: nasforge export --study {path} --trial {trial.id} "
                  f"--weights {inherited} --format onnx --out model.onnx)", markup=False)
    return 0
