"""What ``auto`` reports: the search's part of the summary, the Pareto fronts of smaller
alternatives, and ``summary.json`` + ``report.md``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ..core import TrialStatus
from ..study import Study
from .plan import AutoPlan
from .select import Choice, format_looks


def pareto_front(points: list[dict[str, Any]], cost: str = "params") -> list[dict[str, Any]]:
    """The points no other point beats on both ``val_accuracy`` (higher) and ``cost`` (lower), cheapest first."""
    front, best_acc = [], -math.inf
    for p in sorted(points, key=lambda p: (p[cost], -p["val_accuracy"])):
        if p["val_accuracy"] > best_acc:
            front.append(p)
            best_acc = p["val_accuracy"]
    return front


def candidates(study: Study) -> dict[str, list[dict[str, Any]]]:
    """Per rung (named by its training seconds), every successful trial's metrics."""
    by_rung: dict[str, list[dict[str, Any]]] = {}
    describe = study.estimator.space.describe
    for t in study.storage.trials((TrialStatus.OK,)):
        seconds = t.fidelity.get("seconds")
        by_rung.setdefault(f"{seconds:g}s", []).append({
            "trial_id": t.id, "val_accuracy": t.metrics["val_accuracy"], "params": t.metrics["params"],
            "flops": t.metrics.get("flops"), "latency_ms": t.metrics.get("latency_ms"),
            "description": describe(t.arch), "arch": t.arch.to_dict()})
    return by_rung


def search_summary(study: Study, plan: AutoPlan, choice: Choice, method: str, augment_reason: str) -> dict[str, Any]:
    """The summary's ``search`` and ``candidates`` entries."""
    return {
        "search": {"plan": plan.to_dict(), "trials": study.finished_count(), "search_seconds": study.elapsed(),
                   "chosen_rung_seconds": choice.seconds, "method": method, "chosen_val_accuracy": choice.score,
                   "augment_reason": augment_reason, "extrapolated_to_seconds": choice.horizon_s,
                   "extrapolation": choice.extrapolation},
        "candidates": {rung: pareto_front(points) for rung, points in candidates(study).items()},
    }


def write_report(out: Path, summary: dict[str, Any]) -> None:
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    (out / "report.md").write_text(report_markdown(summary))


def _winner_table(s: dict[str, Any]) -> list[str]:
    """How the winner was chosen: the extrapolation table, when the top rung had several candidates."""
    if len(s.get("extrapolation", [])) <= 1:
        return []
    lines = ["## How the winner was chosen", "",
             "The top rung's candidates, ranked by the validation accuracy their looks extrapolate to "
             f"after {s['extrapolated_to_seconds']:.0f}s of training (a power law in training time):", "",
             "| architecture | looks (val acc after training) | exponent | extrapolated |", "|---|---|---|---|"]
    for row in s["extrapolation"]:
        lines.append(f"| `{row['description']}` | {format_looks(row['looks'])} | {row['exponent']:.3f} | "
                     f"{row['extrapolated_accuracy']:.4f} |")
    return lines + [""]


def report_markdown(summary: dict[str, Any]) -> str:
    """A short human report of an ``auto`` run."""
    s = summary["search"]
    lines = [
        f"# nasforge auto: {summary['dataset']}", "",
        f"- Budget {summary['budget_s']:g}s, used {summary['total_seconds']:.1f}s: search "
        f"{s['search_seconds']:.0f}s ({s['trials']} trials, rungs "
        f"{', '.join(f'{r:g}s' for r in s['plan']['rung_seconds'])}), final training "
        f"{summary['final_train_seconds']:.0f}s ({summary['final_epochs']:g} epochs on {summary['train_samples']} samples).",
        f"- **Test accuracy {summary['test_accuracy']:.4f}** on {summary['test_samples']} held-out samples.",
        f"- Model: `{summary['description']}` ({summary['space']}): {summary['params']:,} parameters, "
        f"{summary['flops'] / 1e6:.1f} MFLOPs, {summary['latency_ms']:.2f} ms per sample (CPU, batch 1, 1 thread).",
        f"- Files: {', '.join(f'{k} `{v}`' for k, v in summary['files'].items())}; every trial is in "
        f"`{summary['study']}` (`nasforge show --study {summary['study']}`).", "",
        *_winner_table(s),
        "## Smaller alternatives (accuracy/size Pareto front per rung)", "",
        "Validation accuracy after the rung's training time; retrain one with "
        f"`nasforge train --study {summary['study']} --trial ID`.", "",
        "| rung | trial | val acc | params | latency ms | architecture |", "|---|---|---|---|---|---|",
    ]
    for rung, front in sorted(summary["candidates"].items(), key=lambda kv: -float(kv[0][:-1])):
        for p in front:
            lat = f"{p['latency_ms']:.2f}" if p.get("latency_ms") is not None else "-"
            lines.append(f"| {rung} | {p['trial_id']} | {p['val_accuracy']:.4f} | {p['params']:,} | {lat} | "
                         f"`{p['description']}` |")
    return "\n".join(lines) + "\n"
