"""The darts space: search moves, encoding, DARTS genotype notation, the evaluation network and
its parameter counts against the DARTS paper (Liu, Simonyan & Yang, ICLR 2019, Table 1)."""

import numpy as np
import pytest
import torch

from nasforge import Arch, spaces
from nasforge.core import InvalidArchError, UnknownNameError, UserInputError
from nasforge.spaces import darts
from nasforge.spaces._darts import MAX_NODES, SAMPLED_OPS

PUBLISHED = ("NASNet", "AmoebaNet", "DARTS_V1", "DARTS_V2")


def n_params(model):
    """Counted as DARTS counts them: every parameter except the auxiliary head's."""
    return sum(p.numel() for name, p in model.named_parameters() if not name.startswith("auxiliary"))


@pytest.fixture(scope="module")
def small():
    return spaces.get("darts", C=4, layers=5)


def test_sampled_archs_build_and_train_on_a_real_batch(small, digits):
    rng = np.random.default_rng(0)
    x, y = digits.x_train[:8], digits.y_train[:8]
    seen = set()
    for _ in range(100):
        arch = small.sample(rng)
        seen.add(arch)
        small.validate(arch)
        torch.manual_seed(0)
        model = small.build(arch, digits.input_shape, digits.num_classes)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        assert torch.isfinite(loss)
        assert all(p.grad is not None for p in model.parameters())
    assert len(seen) == 100


def test_sampled_cells_are_darts_discrete_cells(small):
    rng = np.random.default_rng(1)
    for _ in range(200):
        a = small.sample(rng)
        for cell in ("normal", "reduce"):
            assert a[f"{cell}.concat"] == (2, 3, 4, 5)
            for k in range(2, 6):
                (op0, s0), (op1, s1) = a[f"{cell}.node{k}"]
                assert 0 <= s0 < s1 < k and {op0, op1} <= set(SAMPLED_OPS)
    assert small.size == (1 * 3 * 6 * 10 * 7 ** 8) ** 2  # ~1e18, DARTS paper App. C


def test_mutation_crossover_neighbors_stay_valid_and_small(small):
    rng = np.random.default_rng(2)
    nasnet = darts.genotype("NASNet")
    for i in range(100):
        a, b = small.sample(rng), small.sample(rng)
        m = small.mutate(a, rng)
        small.validate(m)
        changed = [k for k in a.decisions if a[k] != m[k]]
        assert len(changed) == 1 and changed[0].split(".")[1].startswith("node")
        child = small.crossover(a, b, rng)
        small.validate(child)
        assert all(child[k] in (a[k], b[k]) for k in child.decisions)
        mixed = small.crossover(a if i % 2 else nasnet, nasnet if i % 2 else a, rng)  # 4 vs 5 nodes
        small.validate(mixed)
        for cell in ("normal", "reduce"):
            keys = [k for k in mixed.decisions if k.startswith(cell + ".")]
            assert any(all(mixed[k] == p.get(k) for k in keys) and len(keys) == len(
                [k for k in p.decisions if k.startswith(cell + ".")]) for p in (a, nasnet))
    ns = small.neighbors(a)
    assert len(ns) == len(set(ns)) and a not in ns
    assert len(ns) == 2 * (8 * 6 + (0 + 0 + 1 + 1 + 2 + 2 + 3 + 3))  # 6 other ops per input; free sources
    for n in ns:
        small.validate(n)
    for n in small.neighbors(nasnet):  # published cells with 5 nodes and repeated inputs move too
        small.validate(n)
    small.validate(small.mutate(darts.genotype("AmoebaNet"), rng))


def test_encoding_fixed_length_and_injective_on_samples(small):
    rng = np.random.default_rng(3)
    archs = [small.sample(rng) for _ in range(300)] + [darts.genotype(n) for n in PUBLISHED]
    codes = [small.encode(a) for a in archs]
    assert {c.shape for c in codes} == {(small.encoding_length,)}
    assert len({c.tobytes() for c in codes}) == len(set(archs))
    a = archs[0]
    assert not np.array_equal(small.encode(a), small.encode(small.mutate(a, rng)))


def test_json_round_trip_is_exact(small):
    rng = np.random.default_rng(4)
    for a in [small.sample(rng) for _ in range(50)] + [darts.genotype(n) for n in PUBLISHED]:
        b = Arch.from_json(a.to_json())
        assert b == a and b.to_json() == a.to_json()
        small.validate(b)


def test_genotype_strings_round_trip():
    rng = np.random.default_rng(5)
    space = spaces.get("darts")
    for a in [space.sample(rng) for _ in range(50)] + [darts.genotype(n) for n in PUBLISHED]:
        text = darts.to_genotype(a)
        assert text.startswith("Genotype(normal=[(") and "normal_concat=[" in text
        assert darts.from_genotype(text) == a
        assert darts.to_genotype(darts.from_genotype(text)) == text


def test_genotype_notation_variants_parse():
    """As DARTS descendants print them: range() concat lists, multi-line with trailing commas."""
    v2 = darts.genotype("DARTS_V2")
    nodes = [pair for k in range(2, 6) for pair in v2[f"normal.node{k}"]]
    reduce = [pair for k in range(2, 6) for pair in v2[f"reduce.node{k}"]]
    text = (f"Genotype(\n  normal = {nodes!r},\n  normal_concat = range(2, 6),\n"
            f"  reduce = [\n    " + ",\n    ".join(map(repr, reduce)) + ",\n  ],\n  reduce_concat = [2, 3, 4, 5],\n)")
    assert darts.from_genotype(text) == v2
    positional = f"Genotype({nodes!r}, [2, 3, 4, 5], {reduce!r}, range(2, 6))"
    assert darts.from_genotype(positional) == v2
    assert darts.genotype("DARTS") == v2 and darts.genotype("NASNet-A") == darts.genotype("NASNet")


@pytest.mark.parametrize("text,match", [
    ("normal=[]", "a DARTS genotype reads"),
    ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1)], normal_concat=[2])", "lacks field.*reduce"),
    ("Genotype(normal=__import__('os').getcwd(), normal_concat=[2], reduce=[], reduce_concat=[2])",
     "'normal' is not a literal list"),
    (("Genotype(normal=[('sep_conv_3x3', 0)], normal_concat=[2], reduce=[('skip_connect', 0), ('skip_connect', 1)], "
      "reduce_concat=[2])"), "two \\(op, input\\) pairs per node"),
    (("Genotype(normal=[('conv_9x9', 0), ('sep_conv_3x3', 1)], normal_concat=[2], "
      "reduce=[('skip_connect', 0), ('skip_connect', 1)], reduce_concat=[2])"),
     "normal cell node 2 input 0 \\('normal.node2'\\): unknown op 'conv_9x9'; known: none, max_pool_3x3"),
    ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1)], normal_concat=[2], normal_concat=[2])",
     "given twice"),
    ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1)], normal_concat=[2], cells=3)",
     "unknown genotype field 'cells'"),
])
def test_bad_genotype_strings_name_the_problem(text, match):
    with pytest.raises(InvalidArchError, match=match):
        darts.from_genotype(text)


def test_validation_errors_name_the_bad_decision():
    space = spaces.get("darts")
    a = darts.genotype("DARTS_V2")
    node = a["normal.node2"]
    cases = [
        (a.replace(**{"normal.node2": (node[0], ("conv_9x9", 1))}),
         r"normal cell node 2 input 1 \('normal.node2'\): unknown op 'conv_9x9'; known: none, max_pool_3x3"),
        (a.replace(**{"reduce.node3": (("skip_connect", 3), ("max_pool_3x3", 1))}),
         r"reduce cell node 3 input 0 \('reduce.node3'\): input 3 is not an earlier node; allowed: 0 to 2"),
        (a.replace(**{"reduce.node4": (("skip_connect", True), ("max_pool_3x3", 1))}), "input True is not"),
        (a.replace(**{"normal.node3": "sep_conv_3x3"}), r"normal cell node 3 \('normal.node3'\): a node is two"),
        (a.replace(**{"normal.concat": (2, 6)}), r"normal cell concat \('normal.concat'\).*from 2 to 5"),
        (a.replace(**{"reduce.concat": (3, 2)}), r"'reduce.concat'.*increasing"),
        (Arch("darts", {k: v for k, v in a.decisions.items() if k != "reduce.concat"}), "missing decision 'reduce.concat'"),
        (a.replace(**{"normal.node7": node}), r"\['normal.node7'\] do not follow node2..node5"),
        (a.replace(extra=1), r"unknown decision\(s\) \['extra'\]"),
        (Arch("darts", {k: v for k, v in a.decisions.items() if not k.startswith("normal.node")}),
         "normal cell has 0 intermediate nodes"),
        (Arch("nb201", a.decisions), "belongs to space"),
    ]
    six = {**a.decisions, **{f"normal.node{k}": (("skip_connect", 0), ("skip_connect", 1)) for k in range(6, 8)}}
    cases.append((Arch("darts", six), f"a darts cell has 1 to {MAX_NODES}"))
    for arch, match in cases:
        with pytest.raises(InvalidArchError, match=match):
            space.validate(arch)
    with pytest.raises(UnknownNameError, match="unknown genotype 'DARTS_V3'.*Did you mean"):
        darts.genotype("DARTS_V3")
    for bad in ({"C": 1}, {"layers": 0}, {"auxiliary": "yes"}, {"C": 2.5}):
        with pytest.raises(UserInputError, match="parameter of darts"):
            spaces.get("darts", **bad)


# -- the evaluation network ----------------------------------------------------------------------

# DARTS paper, Table 1, "Params (M)"; NASNet-A and AmoebaNet-A are the rows marked "obtained by
# training the corresponding architectures using our setup".
TABLE_1 = {"DARTS_V1": 3.3, "DARTS_V2": 3.3, "NASNet": 3.1, "AmoebaNet": 3.1}
KNOWN_GAPS = {
    "DARTS_V1": "the DARTS_V1 cell released with DARTS builds 3,169,414 parameters in DARTS's own evaluation "
                "network (the same network gives DARTS_V2 exactly DARTS's logged 3,349,342); Table 1 says 3.3M",
    "NASNet": "NASNet-A's 5-node normal cell concatenates 5 nodes: 3.83M at C=36; Table 1's 3.1M matches "
              "NASNet-A's own CIFAR width C=32 (see test_nasnet_at_its_own_width)",
}


@pytest.fixture(scope="module")
def evaluation_space():
    return spaces.get("darts", C=36, layers=20, auxiliary=True)


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=KNOWN_GAPS[n])) if n in KNOWN_GAPS else n
    for n in TABLE_1])
def test_parameter_counts_match_darts_table_1(evaluation_space, name):
    model = evaluation_space.build(darts.genotype(name), (3, 32, 32), 10)
    assert round(n_params(model) / 1e6, 1) == TABLE_1[name]


def test_evaluation_network_reproduces_darts_exactly(evaluation_space):
    """DARTS's train.py logs 'param size = 3.349342MB' for its default cell, DARTS_V2."""
    model = evaluation_space.build(darts.genotype("DARTS_V2"), (3, 32, 32), 10)
    assert n_params(model) == 3_349_342
    assert len(model.cells) == 20 and [i for i, c in enumerate(model.cells) if c.ops[0].__class__.__name__ ==
                                       "MaxPool2d" and c.ops[0].stride == 2] == [6, 13]
    assert model.stem[0].out_channels == 108 and model.classifier.in_features == 4 * 144
    aux = sum(p.numel() for p in model.auxiliary.parameters())
    assert aux > 400_000  # present, but not counted above


def test_nasnet_at_its_own_width():
    """NASNet-A (6 @ 768) on CIFAR-10 starts from 32 filters (768 = 32 x 4 x 6 branches)."""
    model = spaces.get("darts", C=32, layers=20).build(darts.genotype("NASNet"), (3, 32, 32), 10)
    assert round(n_params(model) / 1e6, 1) == TABLE_1["NASNet"]


def test_published_cells_build_on_small_and_odd_inputs(digits):
    space = spaces.get("darts", C=4, layers=4, auxiliary=True)
    for name in PUBLISHED:
        arch = darts.genotype(name)
        for shape in ((1, 8, 8), (3, 15, 15), (3, 5, 7), (2, 33)):
            model = space.build(arch, shape, 3).train()
            x = torch.randn(2, *shape)
            logits, aux = model.forward_with_aux(x)
            assert logits.shape == aux.shape == (2, 3)
            (logits.sum() + aux.sum()).backward()
        model.eval()
        assert model.forward_with_aux(x)[1] is None


def test_drop_path_only_while_training():
    space = spaces.get("darts", C=4, layers=3)
    model = space.build(darts.genotype("DARTS_V2"), (3, 8, 8), 5)
    model.drop_path_prob = 0.5
    x = torch.randn(4, 3, 8, 8)
    model.eval()
    torch.testing.assert_close(model(x), model(x))
    model.train()
    torch.manual_seed(0)
    first = model(x)
    assert not torch.allclose(first, model(x))


def test_grow_points_to_the_depth_option():
    space = spaces.get("darts", C=4, layers=5)
    arch = darts.genotype("DARTS_V2")
    with pytest.raises(UserInputError, match="'layers' option"):
        space.grow(arch)
    deeper = space.deeper()
    assert deeper.config() == {"C": 4, "layers": 6, "auxiliary": False}
    assert len(deeper.build(arch, (3, 8, 8), 2).cells) == 6


def test_width_multiplier_and_describe():
    space = spaces.get("darts", C=8, layers=5)
    arch = darts.genotype("AmoebaNet")
    full = n_params(space.build(arch, (3, 16, 16), 10))
    half = n_params(space.build(arch, (3, 16, 16), 10, width_multiplier=0.5))
    assert half < 0.4 * full
    text = space.describe(arch)
    assert text.startswith("N[avg~0+max~1 ") and "c7x1x7~0" in text and "cat3,4,6]" in text
