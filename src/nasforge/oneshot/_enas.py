"""ENAS (Pham et al., ICML 2018, "Efficient Neural Architecture Search via Parameter Sharing") on the
NB201 supernet: an LSTM controller samples cells, the shared weights learn on the sampled paths, and
the controller learns by REINFORCE from the shared weights' validation accuracy of its samples.

Each epoch has ENAS's two phases, in order:

1. **shared weights**: one pass over the training data, one cell sampled from the (fixed) policy
   per minibatch, an SGD step on that path (the supernet's optimiser and schedule, as SPOS);
2. **controller**: ``controller_steps`` updates with the shared weights fixed; each samples a cell,
   its reward R is the path's accuracy on one validation minibatch, and Adam descends
   ``-(R - b) * log pi(cell) - entropy_weight * H(pi)``, with b a moving average of the rewards
   (decay ``baseline_decay``; b starts at the first reward).

The reward runs the path with the batch norms normalising by the minibatch's own statistics, as
in the weight phase, so no recalibration is needed per sample and the running statistics are left
untouched. The final cell is chosen as in the paper: the policy's most likely cell (exact, over
all 15,625) and ``derive_samples`` cells sampled from it are scored on the whole validation split
with BN recalibration (``SupernetEstimator.score``), and the best is kept.

The controller follows the paper's CNN controller where it is cheap to: one LSTM cell (hidden
size 32, NAS-Bench-201's re-run; the paper used 100), one decision per edge with the previous
decision's embedding as the next input, logits squashed as ``2.5 * tanh(logits / 5)`` (the
paper's tanh constant and temperature, against premature convergence), parameters initialised
uniformly in [-0.1, 0.1].
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from . import _supernet as sn
from ._spos import SupernetEstimator
from ._training import ActivationMeter, SupernetTraining

HIDDEN = 32
TANH_CONSTANT = 2.5
TEMPERATURE = 5.0


class CellController(nn.Module):
    """An autoregressive policy over the ops of the six NB201 edges (``EDGES`` order)."""

    def __init__(self, hidden: int = HIDDEN, generator: torch.Generator | None = None):
        super().__init__()
        self.start = nn.Parameter(torch.zeros(1, hidden))  # the first step's input
        self.lstm = nn.LSTMCell(hidden, hidden)
        self.embed = nn.Embedding(sn.NUM_OPS, hidden)
        self.head = nn.Linear(hidden, sn.NUM_OPS)
        with torch.no_grad():
            for p in self.parameters():
                p.uniform_(-0.1, 0.1, generator=generator)

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        return TANH_CONSTANT * torch.tanh(self.head(h) / TEMPERATURE)

    def forward(self, choices: torch.Tensor | None = None, generator: torch.Generator | None = None,
                samples: int = 1):
        """(choices, log-probability, entropy): with ``choices`` (B x 6 op indices) their joint
        log-probability under the policy; without, ``samples`` cells (B) drawn with ``generator``.
        The entropy is the sum over edges of each decision's entropy given the earlier ones (its
        expectation is the entropy of the whole policy)."""
        batch = samples if choices is None else len(choices)
        x, state = self.start.expand(batch, -1), None
        picks, log_prob, entropy = [], torch.zeros(batch), torch.zeros(batch)
        for e in range(sn.NUM_EDGES):
            state = self.lstm(x, state)
            log_p = F.log_softmax(self.logits(state[0]), dim=-1)
            if choices is None:
                k = torch.multinomial(log_p.detach().exp(), 1, generator=generator).squeeze(1)
            else:
                k = choices[:, e]
            log_prob = log_prob + log_p.gather(1, k[:, None]).squeeze(1)
            entropy = entropy - (log_p.exp() * log_p).sum(dim=-1)
            picks.append(k)
            x = self.embed(k)
        return torch.stack(picks, dim=1), log_prob, entropy

    @torch.no_grad()
    def most_likely(self) -> tuple[list[int], float]:
        """The cell of highest probability, exactly: the log-probability of every cell (5^6), each
        prefix of decisions run through the LSTM once; (choice, its probability)."""
        x, state, log_prob = self.start, None, torch.zeros(1)
        for e in range(sn.NUM_EDGES):
            state = self.lstm(x, state)
            log_p = F.log_softmax(self.logits(state[0]), dim=-1)  # prefixes x ops
            log_prob = (log_prob[:, None] + log_p).reshape(-1)  # prefix p then op k at p * NUM_OPS + k
            if e < sn.NUM_EDGES - 1:
                state = tuple(s.repeat_interleave(sn.NUM_OPS, dim=0) for s in state)
                x = self.embed(torch.arange(sn.NUM_OPS).repeat(len(log_p)))
        best = int(log_prob.argmax())
        choice = [(best // sn.NUM_OPS ** (sn.NUM_EDGES - 1 - e)) % sn.NUM_OPS for e in range(sn.NUM_EDGES)]
        return choice, float(log_prob[best].exp())


@contextmanager
def batch_statistics(model: nn.Module):
    """Batch norms normalise by the current batch and leave their running statistics alone."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m.training, m.track_running_stats) for m in norms]
    for m in norms:
        m.training, m.track_running_stats = True, False
    try:
        yield
    finally:
        for m, (training, track) in zip(norms, saved):
            m.training, m.track_running_stats = training, track


class ENASSearch(SupernetTraining):
    """ENAS: controller-sampled weight training alternating with REINFORCE on the controller."""

    def __init__(self, supernet, config, x_train, y_train, x_val, y_val):
        super().__init__(supernet, config, x_train, y_train, x_val, y_val)
        self.controller = CellController(generator=self.generator)
        self.c_opt = torch.optim.Adam(self.controller.parameters(), lr=config.controller_lr)
        self.baseline: float | None = None

    @torch.no_grad()
    def path_accuracy(self, choice, x, y) -> float:
        with batch_statistics(self.supernet):
            out = self.supernet(x, choice=choice)
        return (out.argmax(1) == y).float().mean().item()

    def _train_epoch(self) -> dict:
        total, seen, activation_mb = 0.0, 0, None
        for idx in self.batches(len(self.y_train)):
            with torch.no_grad():
                choice = self.controller(generator=self.generator)[0][0].tolist()
            with ActivationMeter() as meter:
                loss = self.loss(self.supernet(self.x_train[idx], choice=choice), self.y_train[idx])
                self.weight_step(loss)
            activation_mb = meter.megabytes if activation_mb is None else activation_mb
            total, seen = total + loss.item() * len(idx), seen + len(idx)
        rewards, entropies = [], []
        val_batches = self.batches(len(self.y_val))
        for step in range(self.config.controller_steps):
            choices, log_prob, entropy = self.controller(generator=self.generator)
            idx = val_batches[step % len(val_batches)]
            reward = self.path_accuracy(choices[0].tolist(), self.x_val[idx], self.y_val[idx])
            if self.baseline is None:
                self.baseline = reward
            advantage = reward - self.baseline
            self.baseline = self.config.baseline_decay * self.baseline + (1 - self.config.baseline_decay) * reward
            loss = -advantage * log_prob.sum() - self.config.entropy_weight * entropy.sum()
            self.c_opt.zero_grad(set_to_none=True)
            loss.backward()
            self.c_opt.step()
            rewards.append(reward)
            entropies.append(entropy.item())
        return {"train_loss": total / seen, "activation_mb": activation_mb,
                "mean_reward": sum(rewards) / len(rewards), "baseline": self.baseline,
                "controller_entropy": sum(entropies) / len(entropies)}

    @torch.no_grad()
    def _report(self) -> dict:
        """The policy's most likely cell after this epoch and its path's validation accuracy (batch norms
        by the validation batch's statistics, as for the rewards)."""
        choice, probability = self.controller.most_likely()
        arch = sn.choice_to_arch(choice)
        accuracy = sum(self.path_accuracy(choice, x, y) * len(y)
                       for x, y in zip(self.x_val.split(1024), self.y_val.split(1024))) / len(self.y_val)
        return {"supernet_val_accuracy": accuracy, "arch": arch.to_json(),
                "parameter_free_edges": sn.parameter_free_edges(arch), "most_likely_probability": probability}

    def candidates(self) -> list[list[int]]:
        """The cells the final choice is made among: the most likely, then ``derive_samples`` samples
        (drawn by their own generator, so deriving changes nothing and repeats exactly), duplicates once."""
        generator = torch.Generator().manual_seed(self.config.seed)
        found = [self.controller.most_likely()[0]]
        with torch.no_grad():
            for _ in range(self.config.derive_samples):
                choice = self.controller(generator=generator)[0][0].tolist()
                if choice not in found:
                    found.append(choice)
        return found

    def derive(self):
        """The candidate whose path scores best on the validation split after BN recalibration
        (the first, the most likely cell, on ties); ``derive_scores_`` keeps every candidate's score."""
        c = self.config
        estimator = SupernetEstimator(self.supernet, self.x_train, self.x_val, self.y_val, c.calibration_batches,
                                      c.batch_size)
        buffers = {k: v.clone() for k, v in self.supernet.named_buffers()}
        training = self.supernet.training
        try:
            scored = [(estimator.score(sn.choice_to_arch(choice))[0], choice) for choice in self.candidates()]
        finally:
            with torch.no_grad():
                for k, v in self.supernet.named_buffers():
                    v.copy_(buffers[k])
            self.supernet.train(training)
        self.derive_scores_ = [(sn.choice_to_arch(choice), score) for score, choice in scored]
        best = max(range(len(scored)), key=lambda i: (scored[i][0], -i))
        return sn.choice_to_arch(scored[best][1])

    # -- checkpoints ------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {**super().state_dict(), "controller": self.controller.state_dict(), "c_opt": self.c_opt.state_dict(),
                "baseline": self.baseline}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.controller.load_state_dict(state["controller"])
        self.c_opt.load_state_dict(state["c_opt"])
        self.baseline = state["baseline"]


__all__ = ["CellController", "ENASSearch", "batch_statistics"]
