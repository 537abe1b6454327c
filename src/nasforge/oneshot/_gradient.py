"""Gradient-based one-shot search on a cell supernet (``NB201Supernet``, ``DartsSupernet``): DARTS
(first and second order), GDAS and beta-DARTS, each alternating a weight step on one half of the
training data with an architecture step on the other half (the bilevel split of DARTS).

* DARTS (Liu et al., ICLR 2019): edge output = softmax(alpha)-weighted sum of all ops.
  Second order unrolls one weight step, w' = w - xi * grad_w L_train, with xi the current
  weight learning rate, and approximates the Hessian-vector product by finite differences.
* GDAS (Dong & Yang, CVPR 2019): one op per edge sampled by Gumbel-softmax with a straight-
  through hard one-hot; the temperature falls linearly from ``tau_max`` to ``tau_min``.
* beta-DARTS (Ye et al., CVPR 2022): DARTS plus the Beta-Decay regularisation lambda * mean over
  edges of logsumexp(alpha), which keeps the softmax-activated weights from growing apart.

The cell is derived by the supernet's own rule: on NB201 the rule NAS-Bench-201 uses for them
(the op with the largest alpha on each edge, ``none`` included); on the DARTS space DARTS's (two
strongest inputs per node, their strongest op other than ``none``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.func import functional_call

from ._training import ActivationMeter, SupernetTraining


class GradientSearch(SupernetTraining):
    """DARTS / darts2 / GDAS / beta-DARTS, chosen by ``config.method``."""

    def __init__(self, supernet, config, x_train, y_train, x_val, y_val):
        super().__init__(supernet, config, x_train, y_train, x_val, y_val)
        self.alpha = (1e-3 * torch.randn(supernet.alpha_shape, generator=self.generator)).requires_grad_()
        self.a_opt = torch.optim.Adam([self.alpha], lr=config.arch_lr, betas=(0.5, 0.999),
                                      weight_decay=config.arch_weight_decay)
        half = torch.randperm(len(y_train), generator=self.generator)
        self.w_index, self.a_index = half[: len(half) // 2], half[len(half) // 2:]

    # -- the architecture's weights for one forward pass -----------------------------------------
    def tau(self) -> float:
        c = self.config
        return c.tau_max - (c.tau_max - c.tau_min) * self.epoch / max(1, c.epochs - 1)

    def forward(self, x, detach_alpha: bool = False):
        alpha = self.alpha.detach() if detach_alpha else self.alpha
        if self.config.method != "gdas":
            return self.supernet(x, weights=F.softmax(alpha, dim=-1))
        while True:  # NAS-Bench-201's GDAS resamples the rare draw that overflows
            u = torch.rand(alpha.shape, generator=self.generator).clamp_(1e-20, 1.0)
            logits = (F.log_softmax(alpha, dim=-1) - torch.log(-torch.log(u))) / self.tau()
            soft = F.softmax(logits, dim=-1)
            if torch.isfinite(soft).all():
                break
        index = soft.argmax(dim=-1)
        hard = F.one_hot(index, alpha.shape[-1]).to(soft) - soft.detach() + soft
        return self.supernet(x, weights=hard, choice=index.tolist())

    def beta_lambda(self) -> float:
        return self.config.beta_lambda * self.epoch / max(1, self.config.epochs - 1)

    def arch_loss(self, x, y):
        loss = self.loss(self.forward(x), y)
        if self.config.method == "beta-darts":
            loss = loss + self.beta_lambda() * torch.logsumexp(self.alpha, dim=-1).mean()
        return loss

    # -- steps ----------------------------------------------------------------------------------
    def arch_step(self, xa, ya, xw, yw) -> None:
        self.a_opt.zero_grad(set_to_none=True)
        if self.config.method == "darts2":
            self.alpha.grad = self._unrolled_grad(xa, ya, xw, yw)
        else:
            self.arch_loss(xa, ya).backward()
        self.a_opt.step()

    def _unrolled_grad(self, xa, ya, xw, yw) -> torch.Tensor:
        """DARTS's second-order gradient of the validation loss with respect to alpha."""
        net = self.supernet
        names, params = zip(*net.named_parameters())
        xi, wd = self.w_opt.param_groups[0]["lr"], self.config.weight_decay
        weights = F.softmax(self.alpha, dim=-1)
        g = torch.autograd.grad(self.loss(net(xw, weights=weights.detach()), yw), params)
        unrolled = [(p - xi * (gi + wd * p)).detach().requires_grad_() for p, gi in zip(params, g)]
        out = functional_call(net, dict(zip(names, unrolled)), (xa,), {"weights": weights})
        grads = torch.autograd.grad(self.loss(out, ya), [self.alpha, *unrolled])
        d_alpha, d_w = grads[0], grads[1:]
        eps = 0.01 / torch.cat([d.flatten() for d in d_w]).norm().clamp_min(1e-12)

        def train_grad(sign: float) -> torch.Tensor:
            with torch.no_grad():
                for p, d in zip(params, d_w):
                    p.add_(sign * eps * d)
            return torch.autograd.grad(self.loss(net(xw, weights=F.softmax(self.alpha, dim=-1)), yw), self.alpha)[0]

        plus = train_grad(1.0)
        minus = train_grad(-2.0)
        with torch.no_grad():
            for p, d in zip(params, d_w):
                p.add_(eps * d)
        return d_alpha - xi * (plus - minus) / (2 * eps)

    def _train_epoch(self) -> dict:
        xw_all, yw_all = self.x_train[self.w_index], self.y_train[self.w_index]
        xa_all, ya_all = self.x_train[self.a_index], self.y_train[self.a_index]
        w_batches, a_batches = self.batches(len(yw_all)), self.batches(len(ya_all))
        total, seen, activation_mb = 0.0, 0, None
        for step, idx in enumerate(w_batches):
            a_idx = a_batches[step % len(a_batches)]
            xw, yw = xw_all[idx], yw_all[idx]
            with ActivationMeter() as arch_meter:
                self.arch_step(xa_all[a_idx], ya_all[a_idx], xw, yw)
            with ActivationMeter() as weight_meter:
                loss = self.loss(self.forward(xw, detach_alpha=True), yw)
                self.weight_step(loss)
            if activation_mb is None:  # the larger of the two steps, which never overlap
                activation_mb = max(arch_meter.megabytes, weight_meter.megabytes)
            total, seen = total + loss.item() * len(idx), seen + len(idx)
        return {"train_loss": total / seen, "activation_mb": activation_mb}

    @torch.no_grad()
    def _report(self) -> dict:
        arch = self.derive()
        net = self.supernet.eval()
        if self.config.method == "gdas":  # its network runs one path: score the derived one
            out = torch.cat([net(x, choice=net.arch_to_choice(arch)) for x in self.x_val.split(1024)])
        else:
            weights = F.softmax(self.alpha, dim=-1)
            out = torch.cat([net(x, weights=weights) for x in self.x_val.split(1024)])
        probs = F.softmax(self.alpha, dim=-1)
        return {"supernet_val_accuracy": (out.argmax(1) == self.y_val).float().mean().item(),
                "arch": arch.to_json(), "parameter_free_edges": self.supernet.parameter_free_edges(arch),
                "alpha_softmax": probs.mul(1e4).round().div(1e4).tolist(),
                **({"tau": self.tau()} if self.config.method == "gdas" else {}),
                **({"beta_lambda": self.beta_lambda()} if self.config.method == "beta-darts" else {})}

    def derive(self):
        return self.supernet.derive(self.alpha)

    # -- checkpoints ------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {**super().state_dict(), "alpha": self.alpha.detach().clone(), "a_opt": self.a_opt.state_dict(),
                "w_index": self.w_index, "a_index": self.a_index}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        with torch.no_grad():
            self.alpha.copy_(state["alpha"])
        self.a_opt.load_state_dict(state["a_opt"])
        self.w_index, self.a_index = state["w_index"], state["a_index"]
