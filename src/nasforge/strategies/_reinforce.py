"""REINFORCE (Williams 1992) with an autoregressive policy, as in NASNet/ENAS
controllers (Zoph & Le 2017; Pham et al. 2018), kept small enough to read.

The policy samples a space's decisions in order; the logits of decision k
are a bias plus one learned vector per earlier decision's chosen value, so
later choices can depend on earlier ones. It is trained by policy gradient
on (reward - moving-average baseline), with an entropy bonus, using Adam.
Pure numpy: the controller is tiny next to the networks it designs.
"""

from __future__ import annotations

import numpy as np

from ..core import Arch, DecisionSpace, Strategy, TrialRequest, UserInputError, check_float
from ._common import register


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


@register("reinforce")
class Reinforce(Strategy):
    """Policy-gradient controller over the space's decisions.

    ``temperature`` > 1 flattens the policy (more exploration),
    ``entropy_weight`` rewards keeping options open, ``baseline_decay`` sets
    how slowly the reward baseline moves.
    """

    name = "reinforce"

    def __init__(self, space, seed=0, learning_rate: float = 0.05, baseline_decay: float = 0.9,
                 entropy_weight: float = 0.01, temperature: float = 1.0):
        super().__init__(space, seed)
        if not isinstance(space, DecisionSpace):
            raise UserInputError(f"reinforce needs a space of fixed decisions (such as macro-cnn or nb201); "
                                 f"{space.name!r} is not one")
        owner = self.name
        self.learning_rate = check_float(owner, "learning_rate", learning_rate, 0.0, 10.0, open_low=True)
        self.baseline_decay = check_float(owner, "baseline_decay", baseline_decay, 0.0, 1.0)
        self.entropy_weight = check_float(owner, "entropy_weight", entropy_weight, 0.0, 10.0)
        self.temperature = check_float(owner, "temperature", temperature, 0.0, 100.0, open_low=True)
        self.sizes = [len(d.choices) for d in space.decisions]
        # params: per decision k, a bias (n_k) and, per earlier decision j, a (n_j x n_k) table
        self.params = [np.zeros(n) for n in self.sizes] + [
            np.zeros((self.sizes[j], self.sizes[k])) for k in range(len(self.sizes)) for j in range(k)]
        self._adam = [[np.zeros_like(p), np.zeros_like(p)] for p in self.params]
        self.steps = 0
        self.baseline: float | None = None

    def config(self):
        return {"learning_rate": self.learning_rate, "baseline_decay": self.baseline_decay,
                "entropy_weight": self.entropy_weight, "temperature": self.temperature}

    def _pair(self, j: int, k: int) -> int:
        return len(self.sizes) + k * (k - 1) // 2 + j

    def _logits(self, k: int, chosen: list[int]) -> np.ndarray:
        z = self.params[k].copy()
        for j, c in enumerate(chosen[:k]):
            z += self.params[self._pair(j, k)][c]
        return z / self.temperature

    def probabilities(self, chosen: list[int]) -> list[np.ndarray]:
        return [_softmax(self._logits(k, chosen)) for k in range(len(self.sizes))]

    def _sample(self) -> Arch:
        chosen: list[int] = []
        for k in range(len(self.sizes)):
            chosen.append(int(self.rng.choice(self.sizes[k], p=_softmax(self._logits(k, chosen)))))
        return Arch(self.space.name, {d.name: d.choices[c] for d, c in zip(self.space.decisions, chosen)})

    def ask(self):
        # resample a few times rather than spend a trial on an architecture already evaluated
        return TrialRequest(self.fresh(self._sample, tries=10))

    def tell(self, request, result):
        reward = self.score(result)
        if reward is None:
            return
        if self.baseline is None:
            self.baseline = reward
        advantage = reward - self.baseline
        self.baseline = self.baseline_decay * self.baseline + (1 - self.baseline_decay) * reward
        chosen = [d.index(request.arch[d.name]) for d in self.space.decisions]
        grads = [np.zeros_like(p) for p in self.params]
        for k in range(len(self.sizes)):
            p = _softmax(self._logits(k, chosen))
            g = -p
            g[chosen[k]] += 1.0
            g *= advantage  # d log p(choice) / d logits, scaled by the advantage
            log_p = np.log(p + 1e-12)
            g += self.entropy_weight * (-p * (log_p - (p * log_p).sum()))  # d entropy / d logits
            g /= self.temperature
            grads[k] += g
            for j in range(k):
                grads[self._pair(j, k)][chosen[j]] += g
        self._ascend(grads)

    def _ascend(self, grads):
        self.steps += 1
        b1, b2 = 0.9, 0.999
        for p, g, (m, v) in zip(self.params, grads, self._adam):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            p += self.learning_rate * (m / (1 - b1 ** self.steps)) / (np.sqrt(v / (1 - b2 ** self.steps)) + 1e-8)

    def _state(self):
        return {"params": [p.tolist() for p in self.params], "adam": [[m.tolist(), v.tolist()] for m, v in self._adam],
                "steps": self.steps, "baseline": self.baseline}

    def _load_state(self, state):
        self.params = [np.asarray(p, dtype=float) for p in state["params"]]
        self._adam = [[np.asarray(m, dtype=float), np.asarray(v, dtype=float)] for m, v in state["adam"]]
        self.steps, self.baseline = state["steps"], state["baseline"]
