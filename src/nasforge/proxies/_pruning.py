"""Pruning-at-initialisation saliencies summed over a network, as zero-cost proxies
(Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS", ICLR 2021): grad_norm, SNIP
(Lee et al., ICLR 2019), GraSP (Wang et al., ICLR 2020) and Fisher (Theis et al. 2018;
Turner et al., ICLR 2020).

Each is computed in training mode (batch normalisation uses the batch's statistics) on one
batch with the cross-entropy loss, over the weights of the convolutions and linear layers,
and summed over the network as Abdelfattah et al. do.
"""

from __future__ import annotations

import torch

from ._common import hooks, weighted_layers, weights
from ._registry import register


def _loss_gradients(model, inputs, labels, loss, create_graph=False):
    model.train()
    ws = weights(model)
    grads = torch.autograd.grad(loss(model(inputs), labels), ws, create_graph=create_graph, allow_unused=True)
    return ws, [torch.zeros_like(w) if g is None else g for w, g in zip(ws, grads)]


@register("grad_norm")
def grad_norm(model, inputs, labels, loss, seed) -> float:
    """Sum over layers of the Euclidean norm of the loss gradient of the layer's weights."""
    _, grads = _loss_gradients(model, inputs, labels, loss)
    return float(sum(g.norm() for g in grads))


@register("snip")
def snip(model, inputs, labels, loss, seed) -> float:
    """SNIP connection sensitivity sum |w * dL/dw| (Lee et al. 2019)."""
    ws, grads = _loss_gradients(model, inputs, labels, loss)
    return float(sum((w.detach() * g).abs().sum() for w, g in zip(ws, grads)))


@register("grasp")
def grasp(model, inputs, labels, loss, seed) -> float:
    """GraSP gradient-signal preservation sum -w * (H g) (Wang et al. 2020), H the Hessian of the
    loss and g its gradient, by a Hessian-vector product."""
    ws, grads = _loss_gradients(model, inputs, labels, loss, create_graph=True)
    g_fixed = [g.detach() for g in grads]
    inner = sum((g * gf).sum() for g, gf in zip(grads, g_fixed))
    if not inner.requires_grad:  # no weight reaches the loss twice (e.g. a linear model): H g = 0
        return 0.0
    hg = torch.autograd.grad(inner, ws, allow_unused=True)
    return float(sum((-w.detach() * h).sum() for w, h in zip(ws, hg) if h is not None))


@register("fisher")
def fisher(model, inputs, labels, loss, seed) -> float:
    """Fisher information of the channels (Theis et al. 2018, Turner et al. 2020): for every output
    channel c of every convolution and linear layer, 0.5 * mean over the batch of
    (sum over positions of a_c * dL/da_c)^2, summed over channels and layers."""
    model.train()
    acts = []

    def keep(module, args, out):
        out.retain_grad()
        acts.append(out)

    with hooks(weighted_layers(model), keep):
        loss(model(inputs), labels).backward()
    total = 0.0
    for a in acts:
        if a.grad is None:
            continue
        contribution = a.detach() * a.grad
        per_channel = contribution.reshape(a.shape[0], a.shape[1], -1).sum(-1) if a.dim() > 2 else contribution
        total += float((0.5 * per_channel.pow(2).mean(0)).sum())
    return total
