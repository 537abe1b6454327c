"""The estimator: scores an architecture by training it at a fidelity and measuring its costs."""

from __future__ import annotations

import math
import time
import traceback
from dataclasses import replace

import torch

from ..core import Arch, Estimator, Fidelity, Result, TrialPruned, TrialStatus, check_float, check_int, pruned_result
from ._config import TrainConfig, resolve_device
from ._continued import RunCache, TrainingRun
from ._loop import evaluate_model
from ._hardware import MeasureConfig, measure_costs
from ._metrics import count_flops, count_params
from ._trainer import subset_indices, train_model

FIRST_LOOK_STRETCH = 2.5  # a first look trains at most this many times its seconds (under ASHA's eta of 3)
MIN_CONTINUE_SHARE = 0.05  # a continued trial trains at least this share of its seconds


class TrainingEstimator(Estimator):
    """Scores an architecture by training it at a fidelity and measuring its costs."""

    def __init__(self, space, dataset, config: TrainConfig | None = None, measure_latency: bool = True,
                 report_test: bool = False, val_samples: int | None = None, continue_runs: bool = False,
                 measure: MeasureConfig | None = None, first_look_epochs: float = 0.0):
        """``report_test`` also scores each trained model on the test split: for building
        benchmark tables only (a search must never select on test accuracy).
        ``val_samples`` scores trials on the first that many validation samples (a
        fixed subset): evaluating big models on all of them can cost more than a
        short trial's training. ``continue_runs``: a time-limited trial of an
        architecture this estimator trained before (in this process) for fewer
        seconds continues that training instead of restarting (successive halving
        without restarts, see ``_continued.py``); the learning rate then warms up
        and stays constant, so any run can be continued further. ``measure``: which
        deployment costs (latency, size, peak memory, energy) each trial measures and
        how (see ``_hardware.MeasureConfig``); ``measure_latency=False`` turns latency off.
        ``first_look_epochs`` (with ``continue_runs``): a run's first trial trains past its
        seconds until it has seen that many epochs, for at most ``FIRST_LOOK_STRETCH`` times its
        seconds: a slow, large net's first look would otherwise judge how fast it starts, not
        where it goes (see docs/auto.md)."""
        if val_samples is not None:
            check_int(None, "val_samples", val_samples, low=10, kind="option")
        check_float(None, "first_look_epochs", first_look_epochs, 0.0, 10.0, kind="option")
        self.space = space
        self.dataset = dataset
        self.train_config = config or TrainConfig()
        measure = measure or MeasureConfig()
        self.measure = replace(measure, latency=measure_latency and measure.latency)
        self.measure_latency = self.measure.latency
        self.report_test = report_test
        self.val_samples = val_samples
        self.continue_runs = continue_runs
        self.first_look_epochs = float(first_look_epochs)
        self.runs = RunCache()

    def config(self):
        return {"train": self.train_config.to_dict(), "measure_latency": self.measure_latency,
                "measure": self.measure.to_dict(),
                "val_samples": self.val_samples, "continue_runs": self.continue_runs,
                "first_look_epochs": self.first_look_epochs}

    def evaluate(self, arch: Arch, fidelity: Fidelity, seed: int, on_epoch=None) -> Result:
        start = time.perf_counter()
        seen: list[dict] = []  # the epochs so far: a pruned trial keeps its partial curve

        def watched(point):
            seen.append(dict(point))
            if on_epoch is not None:
                on_epoch(point)

        try:
            metrics, curve = self._train(arch, fidelity, seed, watched)
            return Result(TrialStatus.OK, metrics, curve, fidelity.to_dict(), time.perf_counter() - start)
        except KeyboardInterrupt:
            raise
        except TrialPruned as exc:  # a pruner stopped it at an epoch end
            return pruned_result(exc, seen, fidelity.to_dict(), time.perf_counter() - start)
        except Exception as exc:  # recorded as a failed trial; the study goes on
            text = f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc()}"
            return Result(TrialStatus.FAILED, {}, [], fidelity.to_dict(), time.perf_counter() - start, text)

    def costs(self, arch: Arch, metrics) -> dict[str, float]:
        """Parameters, FLOPs and (if this estimator measures it) latency of ``arch``'s full-width
        model, built untrained: what a constraint on them needs before any training."""
        wanted = set(metrics) & {"params", "flops", "latency_ms"}
        if not self.measure_latency:
            wanted.discard("latency_ms")
        if not wanted:
            return {}
        ds = self.dataset
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = self.space.build(arch, ds.input_shape, ds.num_classes)
        out: dict[str, float] = {}
        if "params" in wanted:
            out["params"] = float(count_params(model))
        if "flops" in wanted:
            out["flops"] = float(count_flops(model, ds.input_shape))
        if "latency_ms" in wanted:  # measured as the trials measure it (runtime, batch, threads, protocol)
            only_latency = replace(self.measure, size=False, memory=False, energy=False)
            out["latency_ms"] = measure_costs(model, ds.input_shape, only_latency)["latency_ms"]
        return out

    def run_for(self, arch: Arch, fidelity: Fidelity):
        """The continued training behind ``arch``'s latest trial at ``fidelity``'s subset and width, or None."""
        return self.runs.get(self._run_key(arch, fidelity))

    @staticmethod
    def _run_key(arch, fidelity) -> str:
        return f"{arch.to_json()}|{fidelity.subset}|{fidelity.width_multiplier}"

    def _training_data(self, fidelity):
        """The training samples a trial at ``fidelity`` sees (a fixed subset when ``subset`` < 1)."""
        x, y = self.dataset.x_train, self.dataset.y_train
        if fidelity.subset < 1.0:
            idx = subset_indices(len(y), fidelity.subset)
            x, y = x[idx], y[idx]
        return x, y

    def _validation(self):
        ds = self.dataset
        return (ds.x_val[:self.val_samples], ds.y_val[:self.val_samples]) if self.val_samples else (ds.x_val, ds.y_val)

    def _continue(self, arch, fidelity, seed, config):
        """Continue (or start) the run of ``arch`` up to ``fidelity.seconds`` of training in total."""
        ds = self.dataset
        key = self._run_key(arch, fidelity)
        run = self.runs.get(key)
        if run is None or run.target_seconds >= fidelity.seconds:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                model = self.space.build(arch, ds.input_shape, ds.num_classes, fidelity.width_multiplier)
            run = TrainingRun(model, config, seed)
        x, y = self._training_data(fidelity)
        first = run.samples == 0
        # up to the seconds asked in all (a stretched first look may have trained past them: then a sliver)
        more = max(fidelity.seconds - max(run.target_seconds, run.seconds), MIN_CONTINUE_SHARE * fidelity.seconds)
        t0 = time.perf_counter()
        train_loss = run.run(x, y, more, min_samples=math.ceil(self.first_look_epochs * len(y)) if first else 0,
                             max_seconds=FIRST_LOOK_STRETCH * fidelity.seconds)
        train_seconds = time.perf_counter() - t0
        run.target_seconds = fidelity.seconds
        self.runs.put(key, run)
        point = {"epoch": round(run.samples / len(y), 4), "train_loss": train_loss, "epoch_seconds": train_seconds,
                 "bf16": float(bool(run.precision.fixed)), "train_seconds_total": run.seconds}
        point["val_accuracy"], point["val_loss"] = evaluate_model(run.eval_model(), *self._validation(),
                                                                 config.eval_batch_size)
        return run.model, [point], train_seconds, run

    def _train(self, arch, fidelity, seed, on_epoch):
        ds = self.dataset
        config = replace(self.train_config, **self.space.training_config(arch))
        if self.continue_runs and fidelity.seconds is not None:
            model, curve, train_seconds, run = self._continue(arch, fidelity, seed, config)
            if run.costs is None:  # measured once per run, in the default layout
                model = run.finish()
                run.costs = {"params": count_params(model), "flops": count_flops(model, ds.input_shape)}
                run.costs.update(measure_costs(model, ds.input_shape, self.measure))
            last = curve[-1]
            metrics = {"val_accuracy": last["val_accuracy"], "val_loss": last["val_loss"],
                       "train_loss": last["train_loss"], "train_seconds": train_seconds, **run.costs}
            if on_epoch is not None:
                on_epoch(last)
            if self.report_test:
                metrics["test_accuracy"] = evaluate_model(model, *ds.test(), config.eval_batch_size)[0]
            return metrics, curve
        device = resolve_device(config.device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = self.space.build(arch, ds.input_shape, ds.num_classes, fidelity.width_multiplier).to(device)
            x, y = self._training_data(fidelity)
            t0 = time.perf_counter()
            val = self._validation()
            curve = train_model(model, x, y, fidelity.epochs, config, seed, val, on_epoch,
                                time_limit=fidelity.seconds)
            train_seconds = time.perf_counter() - t0
        last = curve[-1]
        metrics = {
            "val_accuracy": last["val_accuracy"],
            "val_loss": last["val_loss"],
            "train_loss": last["train_loss"],
            "params": count_params(model),
            "flops": count_flops(model, ds.input_shape),
            "train_seconds": train_seconds,
        }
        metrics.update(measure_costs(model, ds.input_shape, self.measure))
        if self.report_test:
            metrics["test_accuracy"] = evaluate_model(model, *ds.test(), config.eval_batch_size)[0]
        return metrics, curve
