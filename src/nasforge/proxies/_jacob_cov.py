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

    Only the first min(N, D - 1) inputs of the batch are used, D the number of input values:
    the centred Jacobians of more inputs than that are linearly dependent, so the matrix would
    be singular by construction and the score would count the surplus inputs (a batch of 64
    MNIST-1D signals of 40 steps) instead of measuring the network. On images (D = 3072 for
    CIFAR) the whole batch is used, as in the papers.

    -inf when some input's Jacobian is constant (the output does not depend on it, e.g. a cell
    that disconnects its input): such a network cannot learn from that input at all.
    """
    model.train()
    n = max(2, min(len(inputs), inputs[0].numel() - 1))
    x = inputs[:n].detach().clone().requires_grad_(True)
    (jac,) = torch.autograd.grad(model(x).sum(), x, allow_unused=True)
    if jac is None:  # the output does not use the input at all (e.g. an NB201 cell of only 'none' edges)
        return -math.inf
    jac = jac.reshape(len(x), -1).double()
    centred = jac - jac.mean(1, keepdim=True)
    norms = centred.norm(dim=1)
    if bool((norms == 0).any()):
        return -math.inf
    unit = centred / norms[:, None]
    eig = torch.linalg.eigvalsh(unit @ unit.T).clamp_min(0.0)
    return float(-(torch.log(eig + K) + 1.0 / (eig + K)).sum())
