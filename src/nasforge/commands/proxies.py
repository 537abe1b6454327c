"""``nasforge proxies``: score sampled architectures of a space with zero-cost proxies (nothing
is trained) and store the scores in a study file.

The study file is an ordinary study (``nasforge show`` opens it; ``nasforge search`` on it
continues with the same space and data); the scores live in its ``proxy_scores`` table. A
rerun with the same seed skips what is stored already, so an interrupted run resumes. On a
benchmark whose table nasforge trained itself (``--benchmark mnist1d-nb201``) the command
also prints each proxy's rank correlation with the table's accuracies.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from ..core import Arch, UserInputError
from ._options import key_values

DEFAULT_N = 100
SAVE_EVERY = 25  # architectures between commits: an interrupted run keeps what it scored


def add_parser(sub) -> None:
    # no nasforge.proxies import here: it loads torch, and `nasforge --help` must stay fast
    p = sub.add_parser("proxies", help="score sampled architectures with zero-cost proxies (no training)",
                       description="Sample architectures of a space, score each untrained network on one batch "
                                   "with zero-cost proxies (synflow, naswot, zen, snip, ...: docs/proxies.md), "
                                   "and store the scores in a study file.")
    p.add_argument("--study", required=True, help="study file to write the scores into (created if missing)")
    p.add_argument("--space", help="search space (default macro-cnn, or the study's)")
    p.add_argument("--space-option", action="append", metavar="KEY=VALUE", help="space option (repeatable)")
    p.add_argument("--dataset", help="data set the batch comes from (default fashion-mnist, or the study's)")
    p.add_argument("--benchmark", help="score a tabular benchmark's space on the data its table was trained on, and "
                                       "report each proxy's rank correlation with the table (e.g. mnist1d-nb201)")
    p.add_argument("--n", type=int, default=DEFAULT_N, help=f"architectures to sample (default {DEFAULT_N})")
    p.add_argument("--proxy", action="append", metavar="NAME",
                   help="proxy to compute (repeatable; default: all of them; a wrong name lists them)")
    p.add_argument("--seed", type=int, default=None, help="seed of the sample, the batch and the networks (default 0)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="samples in the batch the proxies read (default 64)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _spec(args):
    """The study's spec (checked against the flags given), or a new one from the flags."""
    from ..api import SearchSpec, open_storage

    given = {k: v for k, v in {"space": args.space, "dataset": args.dataset, "benchmark": args.benchmark,
                               "seed": args.seed,
                               "space_options": key_values(args.space_option, "--space-option") or None}.items()
             if v is not None}
    if not Path(args.study).exists():
        return SearchSpec(**given), False
    storage, stored = open_storage(args.study)
    storage.close()
    wanted = SearchSpec.from_dict({**stored.to_dict(), **given})
    differ = [f"{k}: study has {getattr(stored, k)!r}, asked for {getattr(wanted, k)!r}"
              for k in ("space", "space_options", "dataset", "benchmark") if getattr(stored, k) != getattr(wanted, k)]
    if differ:
        raise UserInputError(f"study {args.study!r} holds other architectures or data ({'; '.join(differ)}); "
                             "choose another --study")
    return wanted, True


def _correlations(console, bench, rows: dict[str, dict[str, float]], names: list[str]) -> None:
    """Each proxy's Spearman and Kendall with the benchmark's mean final validation and test accuracy."""
    from rich.table import Table

    from .. import proxies

    means = {m: bench.means(m) for m in ("val_accuracy", "test_accuracy")}
    keys = {a: bench.key(Arch.from_json(a)) for a in rows}
    archs = [a for a in rows if keys[a] in means["val_accuracy"]]
    table = Table(title=f"rank correlation with {bench.name} over {len(archs)} scored architectures")
    for column in ("proxy", "Spearman (val)", "Kendall (val)", "Spearman (test)"):
        table.add_column(column, justify="left" if column == "proxy" else "right")
    for name in names:
        have = [a for a in archs if name in rows[a]]
        if len(have) < 3:
            continue
        score = [rows[a][name] for a in have]
        val = [means["val_accuracy"][keys[a]] for a in have]
        test = [means["test_accuracy"].get(keys[a], float("nan")) for a in have]
        table.add_row(name, f"{proxies.spearman(score, val):.3f}", f"{proxies.kendall(score, val):.3f}",
                      f"{proxies.spearman(score, test):.3f}")
    console.print(table)


def _summary(console, rows, seconds, names: list[str], describe) -> None:
    from rich.table import Table

    table = Table(title=f"{len(rows)} architectures scored")
    for column in ("proxy", "s / arch", "best architecture by the proxy"):
        table.add_column(column, justify="right" if column == "s / arch" else "left")
    for name in names:
        scored = {a: r[name] for a, r in rows.items() if name in r and r[name] == r[name]}
        if not scored:
            continue
        best = max(scored, key=scored.get)
        table.add_row(name, f"{statistics.mean(seconds[name]):.3f}" if seconds[name] else "stored",
                      describe(Arch.from_json(best)))
    console.print(table)


def run(args, console) -> int:
    from .. import proxies
    from ..api import estimator_from_spec, proxy_data
    from ..progress import CountProgress
    from ..study import Storage

    args.batch_size = proxies.DEFAULT_BATCH if args.batch_size is None else args.batch_size
    if args.n < 1 or args.batch_size < 2:
        raise UserInputError(f"--n must be >= 1 and --batch-size >= 2; got --n {args.n}, "
                             f"--batch-size {args.batch_size}")
    names = args.proxy or proxies.names()
    for name in names:
        proxies.REGISTRY.factory(name)  # an unknown name fails here, listing the known ones
    spec, exists = _spec(args)
    estimator = estimator_from_spec(spec.to_dict())
    dataset = proxy_data(spec, estimator)
    space = estimator.space
    storage = Storage.open(args.study) if exists else Storage.create(
        args.study, {"spec": spec.to_dict(), "nasforge_version": _version()})
    try:
        storage.claim()
        rows: dict[str, dict[str, float]] = {}
        for r in storage.proxy_scores():
            if r["seed"] == spec.seed and r["batch_size"] == args.batch_size:
                score = r["score"] if r["score"] is not None else float("nan")  # NaN is stored as NULL
                rows.setdefault(r["arch"].to_json(), {})[r["proxy"]] = score
        archs = proxies.sample_distinct(space, args.n, spec.seed)
        batch = proxies.batch_from(dataset, args.batch_size, spec.seed)
        seconds: dict[str, list[float]] = {n: [] for n in names}
        pending: list[tuple] = []
        with CountProgress(console, len(archs), "scoring", quiet=args.quiet) as advance:
            for i, arch in enumerate(archs):
                missing = [n for n in names if n not in rows.get(arch.to_json(), {})]
                if missing:
                    row = proxies.score_archs(space, [arch], batch, dataset.num_classes, missing, spec.seed).rows[0]
                    rows.setdefault(arch.to_json(), {}).update(row.scores)
                    pending += [(arch, n, row.scores[n], row.seconds[n]) for n in missing]
                    for n in missing:
                        seconds[n].append(row.seconds[n])
                if pending and (len(pending) >= SAVE_EVERY * len(names) or i == len(archs) - 1):
                    storage.add_proxy_scores(pending, spec.seed, args.batch_size)
                    pending = []
                advance()
        sampled = {a.to_json(): rows[a.to_json()] for a in archs}
        console.print(f"Stored the scores of {len(sampled)} architectures in {args.study} "
                      f"(seed {spec.seed}, batch of {args.batch_size} from {spec.dataset}).")
        _summary(console, sampled, seconds, names, space.describe)
        if spec.benchmark is not None:
            _correlations(console, estimator, sampled, names)
    finally:
        storage.close()
    return 0


def _version() -> str:
    from .. import __version__

    return __version__


__all__ = ["add_parser", "run"]
