"""Zero-cost proxies on networks small enough to check by hand, and the guarantees of
``proxies.score``: deterministic, the caller's model and random state untouched, any input
layout."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn

from nasforge import proxies, spaces
from nasforge.core import UnknownNameError
from nasforge.spaces import nb201

ALL = proxies.names()


def batch(shape, n=8, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn((n, *shape), generator=g), torch.randint(0, classes, (n,), generator=g)


def linear_chain(sizes, seed=0, norm=False):
    torch.manual_seed(seed)
    layers = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(a, b, bias=False))
        if norm and i < len(sizes) - 2:
            layers.append(nn.BatchNorm1d(b))
    return nn.Sequential(*layers)


def paths_product_sum(ws):
    """Sum over every input-output path of the product of the absolute weights on it."""
    total = 0.0
    sizes = [ws[0].shape[1]] + [w.shape[0] for w in ws]
    for path in itertools.product(*(range(s) for s in sizes)):
        total += math.prod(abs(float(w[path[i + 1], path[i]])) for i, w in enumerate(ws))
    return total


def test_synflow_of_a_linear_chain_is_depth_times_the_sum_over_paths():
    net = linear_chain([3, 4, 2])
    ws = [net[0].weight.detach(), net[1].weight.detach()]
    paths = paths_product_sum(ws)
    # each layer's sum of |w dR/dw| is R itself (R is linear in every layer): the score is depth * R
    assert proxies.score(net, batch((3,)), "synflow") == pytest.approx(2 * paths, rel=1e-12)


def test_synflow_of_a_single_path_chain_is_the_product_of_absolute_weights_per_layer():
    net = linear_chain([1, 1, 1, 1])
    with torch.no_grad():
        for layer, w in zip(net, (-2.0, 0.5, 3.0)):
            layer.weight.fill_(w)
    assert proxies.score(net, batch((1,)), "synflow") == pytest.approx(3 * 2.0 * 0.5 * 3.0)


def test_synflow_ignores_batch_norm_and_relu_as_the_paper_does():
    plain, with_bn = linear_chain([3, 5, 4, 2], seed=1), linear_chain([3, 5, 4, 2], seed=1, norm=True)
    with torch.no_grad():
        linears = [m for m in with_bn if isinstance(m, nn.Linear)]
        for a, b in zip([m for m in plain if isinstance(m, nn.Linear)], linears):
            b.weight.copy_(a.weight)
        for m in with_bn:
            if isinstance(m, nn.BatchNorm1d):
                m.running_mean.fill_(3.0)  # statistics that would break an all-positive network
                m.weight.fill_(-0.5)
    expected = 3 * paths_product_sum([m.weight.detach() for m in plain])
    assert proxies.score(with_bn, batch((3,)), "synflow") == pytest.approx(expected, rel=1e-10)
    relu = nn.Sequential(plain[0], nn.ReLU(), plain[1], nn.ReLU(), plain[2])
    assert proxies.score(relu, batch((3,)), "synflow") == pytest.approx(expected, rel=1e-10)


def test_params_and_flops_are_exact_on_tiny_networks():
    mlp = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    assert proxies.score(mlp, batch((4,)), "params") == 4 * 3 + 3 + 3 * 2 + 2
    assert proxies.score(mlp, batch((4,)), "flops") == 2 * (4 * 3 + 3 * 2)  # a multiply-add counts 2
    conv = nn.Sequential(nn.Conv1d(2, 3, 3, padding=1), nn.Flatten(), nn.Linear(15, 2))
    assert proxies.score(conv, batch((2, 5)), "params") == 2 * 3 * 3 + 3 + 15 * 2 + 2
    assert proxies.score(conv, batch((2, 5)), "flops") == 2 * (5 * 3 * 2 * 3 + 15 * 2)


def test_naswot_is_the_log_determinant_of_the_hand_counted_agreement_kernel():
    net = nn.Sequential(nn.Linear(2, 2, bias=False), nn.ReLU(), nn.Linear(2, 1, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.eye(2))
    x = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]])  # codes 11, 10, 00
    # units on which two inputs agree: 11~10: 1, 11~00: 0, 10~00: 1
    kernel = np.array([[2, 1, 0], [1, 2, 1], [0, 1, 2]], dtype=float)
    assert proxies.score(net, (x, torch.zeros(3, dtype=torch.long)), "naswot") == pytest.approx(
        math.log(np.linalg.det(kernel)))
    twins = torch.tensor([[1.0, 1.0], [2.0, 3.0], [-1.0, -1.0]])  # the first two share a code: K singular
    assert proxies.score(net, (twins, torch.zeros(3, dtype=torch.long)), "naswot") == -math.inf


def test_gradient_proxies_on_a_linear_model_match_their_formulas():
    net = nn.Sequential(nn.Linear(3, 2, bias=False))
    x, y = batch((3,), n=5, classes=2)
    w = net[0].weight
    (g,) = torch.autograd.grad(nn.functional.cross_entropy(net(x), y), w)
    assert proxies.score(net, (x, y), "grad_norm") == pytest.approx(float(g.norm()), rel=1e-6)
    assert proxies.score(net, (x, y), "snip") == pytest.approx(float((w.detach() * g).abs().sum()), rel=1e-6)
    logits = net(x)
    a_grad = torch.autograd.grad(nn.functional.cross_entropy(logits, y), logits)[0]
    expected_fisher = float((0.5 * (logits.detach() * a_grad).pow(2).mean(0)).sum())
    assert proxies.score(net, (x, y), "fisher") == pytest.approx(expected_fisher, rel=1e-5)
    assert net[0].weight.grad is None  # scoring works on a copy


def test_jacob_cov_rewards_inputs_with_different_gradients():
    x, y = batch((6,), n=6)
    linear = nn.Sequential(nn.Linear(6, 3))  # one Jacobian for every input: all correlations 1
    torch.manual_seed(0)
    relu = nn.Sequential(nn.Linear(6, 256), nn.ReLU(), nn.Linear(256, 3))
    assert proxies.score(relu, (x, y), "jacob_cov") > proxies.score(linear, (x, y), "jacob_cov")
    big_batch = batch((6,), n=32)  # more inputs than input values: only the first D - 1 = 5 count
    assert proxies.score(relu, big_batch, "jacob_cov") == proxies.score(relu, (big_batch[0][:5], big_batch[1][:5]),
                                                                         "jacob_cov")
    assert proxies.score(relu, big_batch, "jacob_cov") > -1e5  # not dominated by 1/k of surplus zero eigenvalues
    disconnected = nn.Sequential(nn.Linear(6, 3), nn.Linear(3, 3))
    with torch.no_grad():
        disconnected[0].weight.zero_()
    assert proxies.score(disconnected, (x, y), "jacob_cov") == -math.inf


def test_every_proxy_scores_a_network_whose_output_ignores_its_input():
    """NB201's cell of only 'none' edges (a cell of nasforge's MNIST-1D table): nothing after the
    stem uses the input, so autograd finds no path to it; the scores must still come back."""
    space = spaces.get("nb201", channels=4, cells_per_stage=1)
    arch = nb201.from_string("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    net, b = proxies.build(space, arch, (1, 8), 3, seed=0), batch((1, 8), n=6)
    scores = {p: proxies.score(net, b, p) for p in ALL}
    assert scores["jacob_cov"] == -math.inf and scores["naswot"] == -math.inf  # no input tells apart
    assert scores["synflow"] == 0.0 and scores["snip"] == 0.0  # no weight on a path to the output


def nb201_net():
    space = spaces.get("nb201", channels=8, cells_per_stage=1)
    arch = space.sample(np.random.default_rng(3))
    return proxies.build(space, arch, (1, 16), 4, seed=0)


@pytest.mark.parametrize("proxy", ALL)
def test_the_same_seed_gives_the_same_score(proxy):
    net = nb201_net()
    b = batch((1, 16), n=8, classes=4)
    first = proxies.score(net, b, proxy, seed=5)
    assert proxies.score(net, b, proxy, seed=5) == first
    assert proxies.score(nb201_net(), b, proxy, seed=5) == first  # the network's build is seeded too


def test_zen_draws_its_gaussian_inputs_from_the_seed():
    net, b = nb201_net(), batch((1, 16), n=8, classes=4)
    assert proxies.score(net, b, "zen", seed=1) != proxies.score(net, b, "zen", seed=2)


def test_scoring_leaves_a_batch_norm_model_and_the_random_state_unchanged():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.5),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    with torch.no_grad():
        net[1].running_mean.uniform_(-1, 1)
        net[1].running_var.uniform_(0.5, 2)
    net.eval()
    net[3].train()  # a mixed mode, which a blanket train()/eval() afterwards would not restore
    before = {k: v.clone() for k, v in net.state_dict().items()}
    modes = [m.training for m in net.modules()]
    rng = torch.get_rng_state()
    for proxy in ALL:
        proxies.score(net, batch((2, 5, 5)), proxy)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items()), "weights or BN statistics changed"
    assert [m.training for m in net.modules()] == modes
    assert all(p.grad is None for p in net.parameters())
    assert net[0].weight.dtype == torch.float32
    assert torch.equal(torch.get_rng_state(), rng)


@pytest.mark.parametrize("shape, net", [
    ((3, 12), lambda: nn.Sequential(nn.Conv1d(3, 32, 3, padding=1), nn.BatchNorm1d(32), nn.ReLU(),
                                    nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(32, 3))),
    ((5,), lambda: nn.Sequential(nn.Linear(5, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, 3))),
    ((2, 6, 6), lambda: nn.Sequential(nn.Conv2d(2, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 3))),
], ids=["sequences", "tabular", "images"])
def test_every_proxy_scores_sequences_tabular_rows_and_images(shape, net):
    torch.manual_seed(0)
    scores = {p: proxies.score(net(), batch(shape, n=8), p) for p in ALL}
    assert all(math.isfinite(v) for v in scores.values()), scores


def test_an_unknown_proxy_names_the_known_ones():
    with pytest.raises(UnknownNameError, match="unknown proxy 'synflw'; known: fisher, flops, .*synflow.*"
                                               "Did you mean 'synflow'"):
        proxies.score(nn.Linear(2, 2), batch((2,)), "synflw")
    with pytest.raises(UnknownNameError, match="known: fisher"):
        proxies.score_archs(spaces.get("nb201"), [], batch((1, 8)), 3, ["snip", "nope"])


def test_a_batch_without_labels_is_refused_clearly():
    with pytest.raises(ValueError, match="pair \\(inputs, labels\\)"):
        proxies.score(nn.Linear(2, 2), torch.randn(4, 2), "snip")


def test_scores_of_a_space_do_not_depend_on_which_architectures_came_before():
    space = spaces.get("nb201", channels=4, cells_per_stage=1)
    archs = proxies.sample_distinct(space, 3, seed=0)
    assert len({a.digest for a in archs}) == 3
    b = batch((1, 8), n=6, classes=3)
    forward = proxies.score_archs(space, archs, b, 3, ["synflow", "snip"])
    backward = proxies.score_archs(space, archs[::-1], b, 3, ["synflow", "snip"])
    assert [r.scores for r in forward.rows] == [r.scores for r in backward.rows][::-1]
    best = forward.ranked("synflow")[0]
    assert best.scores["synflow"] == max(r.scores["synflow"] for r in forward.rows)
    assert all(r.total_s > 0 for r in forward.rows)
