"""mobilenet-elastic, transformer and hierarchical spaces, and progressive growth (issue #7)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nasforge import Arch, spaces
from nasforge.core import InvalidArchError, UserInputError

SPACES = {
    "mobilenet-elastic": lambda: spaces.get("mobilenet-elastic"),
    "mobilenet-elastic+resolution": lambda: spaces.get("mobilenet-elastic", resolution=True),
    "transformer": lambda: spaces.get("transformer"),
    "hierarchical": lambda: spaces.get("hierarchical"),
}


@pytest.fixture(params=list(SPACES))
def space(request):
    return SPACES[request.param]()


@pytest.fixture(scope="session")
def mnist1d():
    from nasforge import data

    return data.load("mnist1d")


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def train_step(space, arch, dataset, n=8):
    x, y = dataset.x_train[:n], dataset.y_train[:n]
    model = space.build(arch, dataset.input_shape, dataset.num_classes)
    out = model(x)
    assert out.shape == (n, dataset.num_classes)
    loss = F.cross_entropy(out, y)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None for p in model.parameters()), space.describe(arch)
    return model


def test_hundred_samples_build_and_train(space, digits):
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    archs = [space.sample(rng) for _ in range(100)]
    assert len(set(archs)) > 90
    sizes = [n_params(train_step(space, a, digits)) for a in archs]
    assert len(set(sizes)) > 20  # the decisions change the network


def test_variation_stays_valid_and_json_round_trips(space):
    rng = np.random.default_rng(1)
    for _ in range(100):
        a, b = space.sample(rng), space.sample(rng)
        m = space.mutate(a, rng)
        assert m != a and sum(m[k] != a[k] for k in a.decisions) == 1
        space.validate(m)
        child = space.crossover(a, b, rng)
        space.validate(child)
        assert all(child[k] in (a[k], b[k]) for k in child.decisions)
        for arch in (a, m, child):
            assert space.encode(arch).shape == (space.encoding_length,)
            again = Arch.from_json(arch.to_json())
            assert again == arch and again.to_json() == arch.to_json()
        assert not np.array_equal(space.encode(a), space.encode(m))
        assert isinstance(space.describe(a), str)
    for n in space.neighbors(a):
        space.validate(n)


def units(model):
    """Blocks, layers or cells in a built network (grow must add to them)."""
    from nasforge.spaces._hierarchical import Dag

    if hasattr(model, "stages"):  # mobilenet-elastic
        return sum(len(stage) for stage in model.stages)
    if hasattr(model, "layers"):  # transformer
        return len(model.layers)
    if hasattr(model, "body"):  # hierarchical: cells of every stage
        return sum(isinstance(m, Dag) for m in model.body)
    return len(model.blocks)  # macro-cnn


@pytest.mark.parametrize("name", ["mobilenet-elastic", "transformer", "hierarchical", "macro-cnn"])
def test_grow_adds_one_unit_until_the_largest(name):
    space = spaces.get(name)
    rng = np.random.default_rng(2)
    for _ in range(5):
        arch = space.sample(rng)
        steps = 0
        while (bigger := space.grow(arch)) is not None:
            space.validate(bigger)
            assert sum(bigger[k] != arch[k] for k in arch.decisions) == 1
            small, big = space.build(arch, (1, 8, 8), 10), space.build(bigger, (1, 8, 8), 10)
            added = space.num_stages if name == "hierarchical" else 1  # hierarchical grows every stage by a cell
            assert units(big) == units(small) + added
            assert n_params(big) >= n_params(small)
            arch, steps = bigger, steps + 1
            assert steps < 50
        assert space.grow(arch) is None  # stays at the largest


def test_grow_follows_a_custom_macro_cnn_space():
    space = spaces.get("macro-cnn", stages=[{"blocks": [2, 4]}, {"blocks": [1]}])
    arch = space.sample(np.random.default_rng(0)).replace(**{"s0.blocks": 2})
    assert space.grow(arch)["s0.blocks"] == 4  # the next choice up; stage 1 cannot grow
    assert space.grow(space.grow(arch)) is None


def test_grow_on_a_space_without_size():
    space = spaces.get("nb201")
    with pytest.raises(UserInputError, match="'nb201' has no size to grow"):
        space.grow(space.sample(np.random.default_rng(0)))


@pytest.mark.parametrize("name, key, bad", [("mobilenet-elastic", "s1.kernel", 4), ("mobilenet-elastic", "width", 2.0),
                                            ("transformer", "heads", 3), ("transformer", "mixer", "lstm"),
                                            ("hierarchical", "m0.0->1", "conv7x7"),
                                            ("hierarchical", "cell.1->2", "m9")])
def test_errors_name_the_bad_decision(name, key, bad):
    space = spaces.get(name)
    a = space.sample(np.random.default_rng(3))
    with pytest.raises(InvalidArchError, match=f"'{key}': {bad!r} is not allowed"):
        space.validate(a.replace(**{key: bad}))
    with pytest.raises(InvalidArchError, match=f"'{key}'"):
        space.build(a.replace(**{key: bad}), (1, 8, 8), 10)
    with pytest.raises(UserInputError, match="channels"):
        space.build(a, (64,), 10)


def test_space_options_are_checked():
    with pytest.raises(UserInputError, match="'num_stages' parameter of mobilenet-elastic"):
        spaces.get("mobilenet-elastic", num_stages=0)
    with pytest.raises(UserInputError, match="'resolution' parameter"):
        spaces.get("mobilenet-elastic", resolution="yes")
    with pytest.raises(UserInputError, match="'motif_nodes' parameter of hierarchical"):
        spaces.get("hierarchical", motif_nodes=1)


# -- mobilenet-elastic: one supernet, many sub-networks -------------------------------------------

def test_extracted_subnetwork_equals_the_active_supernet(digits):
    space = spaces.get("mobilenet-elastic", resolution=True)
    torch.manual_seed(0)
    supernet = space.supernet(digits.input_shape, 10)
    x = digits.x_train[:8]
    rng = np.random.default_rng(4)
    for _ in range(10):
        arch = space.sample(rng)
        standalone = supernet.extract(arch)
        assert n_params(standalone) == n_params(space.build(arch, digits.input_shape, 10)) < n_params(supernet)
        for train in (True, False):
            supernet.train(train)
            standalone.train(train)
            assert torch.allclose(supernet.set_active(arch)(x), standalone(x), atol=1e-5)
        fresh = space.build(arch, digits.input_shape, 10).eval()
        assert not torch.allclose(fresh(x), standalone(x), atol=1e-3)  # equality above comes from the weights


def test_subnetwork_gradients_touch_only_its_slice(digits):
    space = spaces.get("mobilenet-elastic")
    supernet = space.supernet(digits.input_shape, 10)
    small = space.largest().replace(width=0.5, **{"s0.depth": 1, "s0.kernel": 3, "s0.expand": 3})
    supernet.set_active(small)(digits.x_train[:4]).sum().backward()
    block = supernet.stages[0][0]
    c_in = supernet.active.stem
    assert block.expand.weight.grad[:3 * c_in, :c_in].abs().sum() > 0
    assert block.expand.weight.grad[3 * c_in:].abs().sum() == 0 and block.expand.weight.grad[:, c_in:].abs().sum() == 0
    dw = block.depthwise.weight.grad[:3 * c_in]
    assert dw[..., 2:5, 2:5].abs().sum() > 0 and dw[..., :2, :].abs().sum() == 0  # 3x3 centre of the 7x7 kernel
    assert supernet.stages[0][1].expand.weight.grad is None  # depth 1: the second block is skipped


def test_set_active_rejects_a_larger_network():
    space = spaces.get("mobilenet-elastic")
    small = space.largest().replace(**{"s1.kernel": 5})
    model = space.build(small, (1, 8, 8), 10)
    with pytest.raises(InvalidArchError, match=r"'s1\.kernel'"):
        model.set_active(space.largest())


def test_resolution_resizes_the_input(digits):
    space = spaces.get("mobilenet-elastic", resolution=True)
    arch = space.sample(np.random.default_rng(5)).replace(resolution=1.25)
    resized = space.build(arch, (1, 8, 8), 10)  # training mode: BN uses batch statistics
    plain = space.build(arch.replace(resolution=1.0), (1, 8, 8), 10)
    plain.load_state_dict(resized.state_dict())
    x = digits.x_train[:4]
    big = F.interpolate(x, size=(10, 10), mode="bilinear", align_corners=False)
    out = resized(x)
    assert torch.allclose(out, plain(big), atol=1e-6)
    assert (out - plain(x)).abs().max() > 1e-2


def test_mobilenet_width_sequences_and_wrong_inputs(mnist1d):
    space = spaces.get("mobilenet-elastic")
    arch = space.sample(np.random.default_rng(6))
    assert n_params(space.build(arch.replace(width=0.5), (1, 28, 28), 10)) < \
        0.5 * n_params(space.build(arch.replace(width=1.0), (1, 28, 28), 10))
    model = train_step(space, arch, mnist1d)
    with pytest.raises(UserInputError, match=r"\(N, C, L\)"):
        model(torch.zeros(2, 1, 8, 8))


# -- transformer -----------------------------------------------------------------------------------

def test_transformer_on_mnist1d_sequences(mnist1d):
    space = spaces.get("transformer")
    rng = np.random.default_rng(7)
    for _ in range(10):
        train_step(space, space.sample(rng), mnist1d, n=16)


def test_transformer_tokens_and_heads():
    from nasforge.spaces import _transformer as t

    space = spaces.get("transformer")
    a = space.sample(np.random.default_rng(8)).replace(pool="mean")
    model = space.build(a, (3, 4, 5), 10)  # an image: 4 row tokens of 3 * 5 features
    assert model.embed.in_features == 15 and model.position.shape[1] == 4
    assert model(torch.randn(2, 3, 4, 5)).shape == (2, 10)
    cls = space.build(a.replace(pool="cls"), (1, 40), 10)  # a sequence: 40 tokens of 1 feature, plus CLS
    assert cls.embed.in_features == 1 and cls.position.shape[1] == 41
    for embed in t.EMBEDS:  # every head count works with every width, also scaled down by a fidelity
        for heads in t.HEADS:
            for multiplier in (1.0, 0.5, 0.3):
                arch = a.replace(embed=embed, heads=heads, mixer="attention")
                m = space.build(arch, (1, 8, 8), 10, width_multiplier=multiplier)
                assert m.embed.out_features % heads == 0
    conv = space.build(a.replace(mixer="conv"), (1, 8, 8), 10)
    assert not any(isinstance(m, t.SelfAttention) for m in conv.modules())
    both = space.build(a.replace(mixer="both"), (1, 8, 8), 10)
    assert n_params(both) > n_params(space.build(a.replace(mixer="attention"), (1, 8, 8), 10))


# -- hierarchical ----------------------------------------------------------------------------------

def empty_cell(space, cells=1):
    """Every cell edge 'none' and every motif edge 'none'."""
    return Arch("hierarchical", {d.name: "none" for d in space.decisions if d.name != "cells"} | {"cells": cells})


def test_hierarchical_levels_compose():
    space = spaces.get("hierarchical")
    base = empty_cell(space).replace(**{"cell.0->3": "m0", "m0.0->3": "identity"})
    with_conv = base.replace(**{"m0.0->3": "conv1x1"})
    # one 1x1 conv (c*c weights + 2c BN) in the cell of each stage: c = 16, 32, 64
    expected = sum(c * c + 2 * c for c in (16, 32, 64))
    assert n_params(space.build(with_conv, (1, 8, 8), 10)) - n_params(space.build(base, (1, 8, 8), 10)) == expected
    two = with_conv.replace(cells=2)
    assert n_params(space.build(two, (1, 8, 8), 10)) - n_params(space.build(with_conv, (1, 8, 8), 10)) == expected
    # every cell edge that carries m0 gets its own copy of it: a path 0->1->3 adds two
    three = with_conv.replace(**{"cell.0->1": "m0", "cell.1->3": "m0"})
    assert n_params(space.build(three, (1, 8, 8), 10)) - n_params(space.build(with_conv, (1, 8, 8), 10)) == 2 * expected
    # a motif no cell edge uses does not change the network
    unused = with_conv.replace(**{"m1.0->3": "sepconv3x3"})
    assert n_params(space.build(unused, (1, 8, 8), 10)) == n_params(space.build(with_conv, (1, 8, 8), 10))
    # an empty cell still builds and gives finite outputs
    out = space.build(empty_cell(space), (1, 8, 8), 10)(torch.randn(2, 1, 8, 8))
    assert torch.isfinite(out).all()


def test_hierarchical_mutation_reaches_both_levels():
    space = spaces.get("hierarchical")
    rng = np.random.default_rng(9)
    changed = set()
    a = space.sample(rng)
    for _ in range(200):
        m = space.mutate(a, rng)
        (key,) = [k for k in a.decisions if a[k] != m[k]]
        changed.add(key.split(".")[0])
    assert {"cell", "cells"} <= changed and len(changed & {"m0", "m1", "m2"}) == 3
    assert space.encoding_length == len(space.encode(a)) > 100


def test_built_networks_trace_for_export(space, tmp_path):
    """``nasforge export`` traces models; the trace must compute what the model does, at any batch size."""
    from nasforge.export import export_model

    arch = space.sample(np.random.default_rng(10))
    if "resolution" in arch.decisions:
        arch = arch.replace(resolution=0.75)
    model = space.build(arch, (1, 8, 8), 10).eval()
    traced = torch.jit.load(str(export_model(model, (1, 8, 8), "torchscript", tmp_path / "m.pt")))
    x = torch.randn(5, 1, 8, 8)
    assert torch.allclose(traced(x), model(x), atol=1e-5)
