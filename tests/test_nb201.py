import csv

import pytest
import torch

from nasforge import spaces
from nasforge.core import InvalidArchError
from nasforge.spaces import nb201

from conftest import shared_file


def test_string_and_index_are_bijections_over_all_cells():
    archs = nb201.all_archs()
    assert len(archs) == len(set(archs)) == 15625
    strings = [nb201.to_string(a) for a in archs]
    assert len(set(strings)) == 15625
    assert all(nb201.from_string(s) == a for s, a in zip(strings, archs))
    assert [nb201.to_index(a) for a in archs] == list(range(15625))
    assert all(nb201.from_index(i) == a for i, a in enumerate(archs))


def test_published_arch_strings_parse_and_round_trip():
    with open(shared_file("nb201_cifar10_avg.csv")) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 15625
    parsed = {nb201.from_string(r["arch_str"]) for r in rows}
    assert len(parsed) == 15625
    assert all(nb201.to_string(nb201.from_string(r["arch_str"])) == r["arch_str"] for r in rows[:500])


def nats_key(arch):
    """NATS-Bench's published convention: zero terms kept, sums compared as text."""
    nodes = ["0", "#", "#", "#"]
    for j in range(1, 4):
        terms = []
        for i in range(j):
            op = arch[f"{i}->{j}"]
            terms.append("#" if op == "none" or nodes[i] == "#" else
                         nodes[i] if op == "skip_connect" else f"({nodes[i]})@{op}")
        nodes[j] = "+".join(sorted(terms))
    return nodes[3]


def test_isomorphism_classes_refine_nats_bench():
    archs = nb201.all_archs()
    nats = {}
    for a in archs:
        nats.setdefault(nats_key(a), set()).add(nb201.canonical(a))
    assert len(nats) == 6466  # the count NATS-Bench publishes
    assert all(len(ours) == 1 for ours in nats.values())  # we merge everything NATS merges...
    assert len(nb201.unique_archs()) < 6466  # ...and more
    a = nb201.from_string("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")
    b = nb201.from_string("|nor_conv_1x1~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")  # dead branch differs
    assert nb201.canonical(a) == nb201.canonical(b)
    c = nb201.from_string("|nor_conv_3x3~0|+|nor_conv_1x1~0|none~1|+|none~0|skip_connect~1|skip_connect~2|")
    d = nb201.from_string("|nor_conv_1x1~0|+|nor_conv_3x3~0|none~1|+|none~0|skip_connect~1|skip_connect~2|")
    assert nb201.canonical(c) == nb201.canonical(d)  # intermediate nodes swapped
    e = nb201.from_string("|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|none~0|skip_connect~1|skip_connect~2|")
    assert nb201.canonical(c) != nb201.canonical(e)
    from_zero = nb201.from_string("|none~0|+|none~0|none~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|")
    assert nb201.canonical(from_zero) == nb201.canonical(a.replace(**{"0->1": "none"})) == "x"


@pytest.mark.parametrize("text,match", [
    ("|nor_conv_3x3~0|+|none~0|none~1|", "3 '\\+'-separated nodes"),
    ("|conv_7x7~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|", "edge 0->1: unknown op 'conv_7x7'; known: none"),
    ("|none~0|+|none~0|none~2|+|skip_connect~0|none~1|none~2|", "edge 2->2"),
    ("nonsense+a+b", "malformed"),
])
def test_bad_strings_name_the_problem(text, match):
    with pytest.raises(InvalidArchError, match=match):
        nb201.from_string(text)
    with pytest.raises(InvalidArchError, match="int in \\[0, 15624\\]"):
        nb201.from_index(15625)


def test_network_shapes_and_zero_cells():
    space = spaces.get("nb201", channels=8, cells_per_stage=1)
    for text in ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
                 "|nor_conv_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|"):
        arch = nb201.from_string(text)
        model = space.build(arch, (3, 32, 32), 10)
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
        assert space.build(arch, (1, 40), 10)(torch.randn(2, 1, 40)).shape == (2, 10)
    big = spaces.get("nb201")  # the benchmark's C=16, N=5
    full = nb201.from_string("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|")
    params = sum(p.numel() for p in big.build(full, (3, 32, 32), 10).parameters())
    assert 1.4e6 < params < 1.6e6  # NB201's largest cell: ~1.53M parameters on CIFAR-10
    assert big.size == 15625 and big.encoding_length == 30


def test_the_cell_is_a_dag_and_keeps_only_live_edges():
    assert list(nb201.EDGES) == spaces.dag_edges(nb201.NUM_NODES)  # what the shared live_edges walks
    ops = {"0->1": "nor_conv_3x3", "0->2": "avg_pool_3x3", "1->2": "none", "0->3": "none", "1->3": "skip_connect",
           "2->3": "none"}
    assert nb201.cell_live_edges(ops) == [(0, 1), (1, 3)]  # 0->2 feeds a node that leads nowhere
    assert nb201.cell_live_edges(dict.fromkeys(nb201.EDGE_NAMES, "none")) == []
