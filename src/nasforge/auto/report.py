"""What ``auto`` reports: the search's part of the summary, the Pareto fronts of smaller
alternatives, and ``summary.json`` + ``report.md``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ..core import TrialStatus
from ..study import Study
from .limits import Limits
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
        rung = f"{seconds:g}s" if seconds is not None else "cross-validated"
        by_rung.setdefault(rung, []).append({
            "trial_id": t.id, "val_accuracy": t.metrics["val_accuracy"], "params": t.metrics["params"],
            "flops": t.metrics.get("flops"), "latency_ms": t.metrics.get("latency_ms"),
            "description": describe(t.arch), "arch": t.arch.to_dict()})
    return by_rung


LIMIT_ROWS = 25  # candidates listed under limits in the summary and report


def limit_candidates(study: Study, limits: Limits) -> dict[str, Any]:
    """Every trained architecture (its longest training's look) with its costs and whether it meets
    ``limits``, most trained then most accurate first; and the candidates rejected untrained."""
    describe = study.estimator.space.describe
    latest: dict[str, Any] = {}
    for t in study.storage.trials((TrialStatus.OK,)):
        key = t.arch.to_json()
        if key not in latest or (t.fidelity.get("seconds") or 0) >= (latest[key].fidelity.get("seconds") or 0):
            latest[key] = t
    rows = [{"trial_id": t.id, "seconds": t.fidelity.get("seconds"), "val_accuracy": t.metrics["val_accuracy"],
             "params": t.metrics["params"], "latency_ms": t.metrics.get("latency_ms"), "description": describe(t.arch),
             "meets": not limits.violations(t.metrics["params"], t.metrics.get("latency_ms"))}
            for t in latest.values()]
    rows.sort(key=lambda r: (-(r["seconds"] or 0), -r["val_accuracy"]))
    rejected = [{"trial_id": t.id, "params": t.metrics.get("params"), "latency_ms": t.metrics.get("latency_ms"),
                 "why": t.error, "description": describe(t.arch)} for t in study.storage.trials((TrialStatus.PRUNED,))]
    return {"trained": rows[:LIMIT_ROWS], "rejected_untrained": len(rejected), "rejected": rejected[:LIMIT_ROWS]}


def search_summary(study: Study, plan: AutoPlan, choice: Choice, method: str, augment_reason: str,
                   limits: Limits | None = None) -> dict[str, Any]:
    """The summary's ``search`` and ``candidates`` entries (and ``limits``, with limits)."""
    extra = {"limits": limit_candidates(study, limits)} if limits is not None and limits.active else {}
    return {**extra,
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


def _constraint_lines(summary: dict[str, Any]) -> list[str]:
    """The limits, whether the final model meets them (loudly if not), and the candidates marked."""
    c, table = summary.get("constraints"), summary.get("limits")
    if not c or not table:
        return []
    limits = ", ".join(f"{name} {c[name]:g}" for name in ("max_params", "max_latency_ms") if c.get(name) is not None)
    lines = ["## Limits", "", f"Limits: {limits}. " + (
        "**The final model meets them.**" if c["met"] else
        f"**WARNING: the final model misses them: {'; '.join(c['violations'])}.**"), "",
        f"{table['rejected_untrained']} candidate(s) exceeded a limit and were not trained. Trained candidates "
        "(validation accuracy after their longest training; ✓ meets the limits):", "",
        "| meets | trial | trained s | val acc | params | latency ms | architecture |", "|---|---|---|---|---|---|---|"]
    for r in table["trained"]:
        lat = f"{r['latency_ms']:.3f}" if r.get("latency_ms") is not None else "-"
        lines.append(f"| {'✓' if r['meets'] else '✗'} | {r['trial_id']} | {r['seconds'] or 0:g} | "
                     f"{r['val_accuracy']:.4f} | {r['params']:,} | {lat} | `{r['description']}` |")
    return lines + [""]


def _prediction_line(p: dict[str, Any]) -> list[str]:
    if p.get("raw") is None:
        return []
    return [f"- Predicted from the winner's learning curve: {p['raw']:.4f} (calibrated {p['calibrated']:.4f}, "
            f"correction {p['correction']:+.4f}: {p['correction_source']}); achieved minus predicted "
            f"{p['error_raw']:+.4f} raw, {p['error_calibrated']:+.4f} calibrated."]


def _rung_seconds(rung: str) -> float:
    """'61.5s' -> 61.5; 'cross-validated' (no rung) -> 0."""
    return float(rung[:-1]) if rung.endswith("s") and rung[:-1].replace(".", "", 1).isdigit() else 0.0


def report_markdown(summary: dict[str, Any]) -> str:
    """A short human report of an ``auto`` run."""
    s = summary["search"]
    precision = summary.get("training_conditions", {}).get("final_precision")  # bf16 or fp32 (precision=auto)
    lines = [
        f"# nasforge auto: {summary['dataset']}", "",
        f"- Budget {summary['budget_s']:g}s, used {summary['total_seconds']:.1f}s: search "
        f"{s['search_seconds']:.0f}s ({s['trials']} trials, " + (
            f"ranked by {summary['cross_validation']['folds']}-fold cross-validation" if "cross_validation" in summary
            else f"rungs {', '.join(f'{r:g}s' for r in s['plan']['rung_seconds'])}") + "), final training "
        f"{summary['final_train_seconds']:.0f}s ({summary['final_epochs']:g} epochs on {summary['train_samples']} samples"
        + (f", in {precision}" if precision else "")
        + ").",
        f"- **Test accuracy {summary['test_accuracy']:.4f}** on {summary['test_samples']} held-out samples.",
        *_prediction_line(summary.get("prediction") or {}),
        *([f"- {summary['baselines']['comparison']}"] if summary.get("baselines") else []),
        f"- Model: `{summary['description']}` ({summary['space']}): {summary['params']:,} parameters, "
        f"{summary['flops'] / 1e6:.1f} MFLOPs, {summary['latency_ms']:.2f} ms per sample (CPU, batch 1, 1 thread).",
        f"- Files: {', '.join(f'{k} `{v}`' for k, v in summary['files'].items())}; every trial is in "
        f"`{summary['study']}` (`nasforge show --study {summary['study']}`).",
        *[f"- **Warning: {m}.**" for m in summary.get("training_conditions", {}).get("messages", [])], "",
        *_constraint_lines(summary),
        *_winner_table(s),
        "## Smaller alternatives (accuracy/size Pareto front per rung)", "",
        "Validation accuracy after the rung's training time; retrain one with "
        f"`nasforge train --study {summary['study']} --trial ID`.", "",
        "| rung | trial | val acc | params | latency ms | architecture |", "|---|---|---|---|---|---|",
    ]
    for rung, front in sorted(summary["candidates"].items(), key=lambda kv: -_rung_seconds(kv[0])):
        for p in front:
            lat = f"{p['latency_ms']:.2f}" if p.get("latency_ms") is not None else "-"
            lines.append(f"| {rung} | {p['trial_id']} | {p['val_accuracy']:.4f} | {p['params']:,} | {lat} | "
                         f"`{p['description']}` |")
    return "\n".join(lines) + "\n"
