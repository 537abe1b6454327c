"""Settings of a one-shot search: the method and its optimisers, as the papers set them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from ..core import UserInputError, check_choice, check_float, check_int

METHODS = ("darts", "darts2", "gdas", "beta-darts", "spos", "sandwich", "progressive", "enas")
GRADIENT_METHODS = ("darts", "darts2", "gdas", "beta-darts")
ELASTIC_METHODS = ("sandwich", "progressive")  # the trainings of the elastic mobilenet-elastic supernet
SANDWICH_OPTIONS = ("sandwich_random", "distill")  # settings only the elastic supernet's trainings read
PROGRESSIVE_OPTIONS = ("phase_epochs",)  # settings only progressive shrinking reads
# settings only ENAS reads
ENAS_OPTIONS = ("controller_lr", "controller_steps", "entropy_weight", "baseline_decay", "derive_samples")
# which methods read which method-only settings (the others neither take nor store them)
METHOD_OPTIONS = ((ELASTIC_METHODS, SANDWICH_OPTIONS), (("progressive",), PROGRESSIVE_OPTIONS),
                  (("enas",), ENAS_OPTIONS))
PHASES = ("largest", "kernel", "depth", "width")  # progressive shrinking's phases, in order
OPTION = "one-shot option"


@dataclass(frozen=True)
class OneShotConfig:
    """Defaults follow NAS-Bench-201's re-runs of DARTS and GDAS (Dong & Yang, 2020): network weights by
    SGD (momentum 0.9, lr 0.025 cosine-annealed per epoch to 0.001, weight decay 3e-4, gradients
    clipped at 5), architecture weights by Adam (lr 3e-4, betas (0.5, 0.999), weight decay 1e-3),
    batch 64; GDAS's temperature falls linearly from 10 to 0.1. ``arch_lr`` is the one setting a
    short search on a tiny data set may need to raise: with few steps per epoch, Adam at 3e-4
    barely moves the architecture weights.

    ``darts`` is first order, ``darts2`` second order (the unrolled step, its Hessian-vector
    product by finite differences); ``beta-darts`` adds the Beta-Decay regularisation (Ye et al.,
    CVPR 2022), ``beta_lambda`` rising linearly from 0 over the epochs. ``spos`` trains single
    paths drawn uniformly (Guo et al., ECCV 2020); ``calibration_batches`` training batches
    re-estimate the batch-norm statistics of each path before it is scored.

    ``sandwich`` trains the elastic ``mobilenet-elastic`` supernet by the sandwich rule (Yu & Huang,
    ICCV 2019; BigNAS, Yu et al., ECCV 2020): each step accumulates the gradients of the largest, the
    smallest and ``sandwich_random`` random sub-networks; with ``distill`` the smaller ones learn
    from the largest one's detached predictions (in-place distillation) instead of the labels.

    ``progressive`` trains the same supernet by progressive shrinking (Once-for-All, Cai et al., ICLR
    2020): the largest network alone first, then the sandwich rule over a space opened one elastic
    dimension at a time -- kernel size, then depth, then width (expansion ratio, width multiplier,
    and the space's remaining decisions). ``phase_epochs`` ("LARGEST,KERNEL,DEPTH,WIDTH", summing to
    ``epochs``; empty: ``epochs`` split evenly, the remainder to the later phases) sets how long
    each phase runs; the learning rate restarts its cosine schedule at each phase, as OFA's does.

    ``enas`` (Pham et al., ICML 2018) trains the shared weights on paths an LSTM controller samples
    and the controller by REINFORCE: Adam at ``controller_lr`` (the paper's 3.5e-4),
    ``controller_steps`` policy updates per epoch, ``entropy_weight`` 1e-4 and a moving-average
    baseline with decay ``baseline_decay`` 0.99 (NAS-Bench-201's ENAS re-run); the final cell is the
    best by supernet validation accuracy of the controller's most likely cell and
    ``derive_samples`` cells it samples (100 in NAS-Bench-201's re-run).
    """

    method: str = "darts"
    epochs: int = 30
    batch_size: int = 64
    lr: float = 0.025
    lr_min: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    arch_lr: float = 3e-4
    arch_weight_decay: float = 1e-3
    tau_max: float = 10.0
    tau_min: float = 0.1
    beta_lambda: float = 1.0
    calibration_batches: int = 4
    controller_lr: float = 3.5e-4
    controller_steps: int = 50
    entropy_weight: float = 1e-4
    baseline_decay: float = 0.99
    derive_samples: int = 100
    seed: int = 0
    sandwich_random: int = 2
    distill: bool = True
    phase_epochs: str = ""

    def __post_init__(self):
        check_choice(None, "method", self.method, METHODS, kind=OPTION)
        check_int(None, "epochs", self.epochs, low=1, kind=OPTION)
        check_int(None, "batch_size", self.batch_size, low=2, kind=OPTION)
        check_int(None, "calibration_batches", self.calibration_batches, low=1, kind=OPTION)
        check_int(None, "seed", self.seed, kind=OPTION)
        check_int(None, "controller_steps", self.controller_steps, low=1, kind=OPTION)
        check_int(None, "derive_samples", self.derive_samples, low=0, kind=OPTION)
        check_float(None, "baseline_decay", self.baseline_decay, low=0, high=1, kind=OPTION)
        for name in ("lr", "arch_lr", "tau_max", "tau_min", "controller_lr"):
            check_float(None, name, getattr(self, name), low=0, open_low=True, kind=OPTION, want="a positive number")
        for name in ("lr_min", "weight_decay", "arch_weight_decay", "beta_lambda", "grad_clip", "entropy_weight"):
            check_float(None, name, getattr(self, name), low=0, kind=OPTION)
        check_float(None, "momentum", self.momentum, low=0, high=1, kind=OPTION)
        check_int(None, "sandwich_random", self.sandwich_random, low=0, kind=OPTION)
        if not isinstance(self.distill, bool):
            raise UserInputError(f"The 'distill' one-shot option must be true or false. Got {self.distill!r} instead.")
        self.phases()  # a bad phase_epochs fails here

    def phases(self) -> tuple[tuple[str, int], ...]:
        """Progressive shrinking's ``(phase, epochs)`` in order (see :data:`PHASES`)."""
        text = self.phase_epochs
        if isinstance(text, (list, tuple)):  # --option phase_epochs=[2,2,2,4] reads as a JSON list
            text = ",".join(map(str, text))
        if not isinstance(text, str):
            text = str(text)
        if not text.strip():
            base, extra = divmod(self.epochs, len(PHASES))
            counts = [base + (i >= len(PHASES) - extra) for i in range(len(PHASES))]
        else:
            try:
                counts = [int(part) for part in text.split(",")]
            except ValueError:
                counts = []
            if len(counts) != len(PHASES) or min(counts) < 0 or sum(counts) != self.epochs or counts[-1] < 1:
                raise UserInputError(f"The 'phase_epochs' one-shot option must be {len(PHASES)} whole numbers "
                                     f"{','.join(p.upper() for p in PHASES)} (epochs of each phase, the last at "
                                     f"least 1) summing to epochs ({self.epochs}). Got {self.phase_epochs!r} instead.")
        return tuple(zip(PHASES, counts))

    @property
    def gradient(self) -> bool:
        """Whether the method learns architecture weights by gradient (all but SPOS)."""
        return self.method in GRADIENT_METHODS

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> OneShotConfig:
        known = {f.name: f.default for f in fields(cls)}
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise UserInputError(f"unknown one-shot option(s) {unknown}; known: "
                                 f"{', '.join(f'{k} (default {v!r})' for k, v in known.items())}")
        for methods, names in METHOD_OPTIONS:
            misplaced = sorted(set(options) & set(names))
            if misplaced and options.get("method", cls.method) not in methods:
                raise UserInputError(f"one-shot option(s) {misplaced} apply only to --method {' or '.join(methods)}; "
                                     f"got method {options.get('method', cls.method)!r}")
        if isinstance(options.get("phase_epochs"), (list, tuple)):
            options = {**options, "phase_epochs": ",".join(map(str, options["phase_epochs"]))}
        return cls(**options)

    def to_dict(self) -> dict[str, Any]:
        """The settings; the method-only ones only for their methods, so studies and checkpoints of
        the other methods made before those settings existed still match and resume."""
        out = asdict(self)
        for methods, names in METHOD_OPTIONS:
            if self.method not in methods:
                for name in names:
                    out.pop(name)
        return out
