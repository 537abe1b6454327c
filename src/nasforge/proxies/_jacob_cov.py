"""jacob_cov: how differently a network's input gradients behave across a batch (Mellor et al.,
"Neural Architecture Search without Training", arXiv v1 2020), the variant Abdelfattah et al.
(ICLR 2021) evaluate."""

from __future__ import annotations

import math

import torch

from ._registry import register

K = 1e-5  # Mellor et al.'s regulariser of the eigenvalues


@register("jacob_cov")
def jacob_cov(model, inputs, labels, loss, seed) -> float:
    """-sum_i (log(v_i + k) + 1 / (v_i + k)) over the eigenvalues v_i of the correlation matrix of
    the per-input Jacobians d(sum of outputs)/d(input); training mode, as Abdelfattah et al.

    -inf when some input's Jacobian is constant (the output does not depend on it, e.g. a cell
    that disconnects its input): such a network cannot learn from that input at all.
    """
    model.train()
    x = inputs.detach().clone().requires_grad_(True)
    (jac,) = torch.autograd.grad(model(x).sum(), x)
    jac = jac.reshape(len(x), -1).double()
    centred = jac - jac.mean(1, keepdim=True)
    norms = centred.norm(dim=1)
    if bool((norms == 0).any()):
        return -math.inf
    unit = centred / norms[:, None]
    eig = torch.linalg.eigvalsh(unit @ unit.T).clamp_min(0.0)
    return float(-(torch.log(eig + K) + 1.0 / (eig + K)).sum())
