"""Contract tests run against every registered space (and the define-by-run example)."""

import numpy as np
import pytest
import torch

from nasforge import Arch, spaces
from nasforge.core import InvalidArchError, SpaceDefinitionError, UnknownNameError, UserInputError

from conftest import EXAMPLES

SPACE_IDS = [*spaces.names(), "kerastuner-mlp"]


def make_space(name):
    if name == "kerastuner-mlp":
        return spaces.get(f"{EXAMPLES / 'kerastuner_mlp.py'}:build_model")
    return spaces.get(name)


@pytest.fixture(params=SPACE_IDS)
def space(request):
    return make_space(request.param)


def test_samples_build_and_train_on_real_data(space, digits):
    rng = np.random.default_rng(0)
    x, y = digits.x_train[:16], digits.y_train[:16]
    for _ in range(40):
        arch = space.sample(rng)
        space.validate(arch)
        torch.manual_seed(0)
        model = space.build(arch, digits.input_shape, digits.num_classes)
        out = model(x)
        assert out.shape == (16, 10)
        loss = torch.nn.functional.cross_entropy(out, y)
        loss.backward()
        assert torch.isfinite(loss)
        assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_mutation_crossover_neighbors_stay_valid(space):
    rng = np.random.default_rng(1)
    for _ in range(100):
        a, b = space.sample(rng), space.sample(rng)
        m = space.mutate(a, rng)
        assert m != a
        space.validate(m)
        space.validate(space.crossover(a, b, rng))
    for n in space.neighbors(a):
        space.validate(n)
        assert n != a


def test_crossover_takes_only_parent_values(space):
    rng = np.random.default_rng(2)
    for _ in range(50):
        a, b = space.sample(rng), space.sample(rng)
        child = space.crossover(a, b, rng)
        for k, v in child.decisions.items():
            assert v in (a.get(k), b.get(k)) or (k not in a.decisions and k not in b.decisions)


def test_encoding_has_fixed_length(space):
    rng = np.random.default_rng(3)
    lengths = {space.encode(space.sample(rng)).shape for _ in range(100)}
    assert lengths == {(space.encoding_length,)}
    a = space.sample(rng)
    assert not np.array_equal(space.encode(a), space.encode(space.mutate(a, rng)))


def test_json_round_trip_of_samples(space):
    rng = np.random.default_rng(4)
    for _ in range(50):
        a = space.sample(rng)
        b = Arch.from_json(a.to_json())
        assert a == b
        space.validate(b)


def test_sampling_is_seeded(space):
    first = [space.sample(np.random.default_rng(7)) for _ in range(3)]
    assert len(set(first)) == 1
    assert len({space.sample(np.random.default_rng(s)) for s in range(20)}) > 5


def test_validate_names_the_bad_decision(space):
    a = space.sample(np.random.default_rng(5))
    key = sorted(a.decisions)[0]
    with pytest.raises(InvalidArchError, match=key.replace(".", r"\.")):
        space.validate(a.replace(**{key: "no-such-value"}))
    with pytest.raises(InvalidArchError, match="belongs to space"):
        space.validate(Arch("other-space", a.decisions))


# -- macro-cnn specifics -----------------------------------------------------------------

def test_macro_cnn_parameter_range_and_1d_inputs():
    space = spaces.get("macro-cnn")
    rng = np.random.default_rng(0)
    params = []
    for _ in range(200):
        a = space.sample(rng)
        params.append(sum(p.numel() for p in space.build(a, (1, 28, 28), 10).parameters()))
    assert min(params) < 10_000 and 100_000 < np.percentile(params, 90) < 1_000_000
    model = space.build(a, (1, 40), 10)
    assert model(torch.randn(3, 1, 40)).shape == (3, 10)


def test_macro_cnn_width_multiplier_shrinks_the_model():
    space = spaces.get("macro-cnn")
    a = space.sample(np.random.default_rng(1))
    full = sum(p.numel() for p in space.build(a, (1, 28, 28), 10).parameters())
    half = sum(p.numel() for p in space.build(a, (1, 28, 28), 10, width_multiplier=0.5).parameters())
    assert half < 0.5 * full


def test_macro_cnn_error_messages():
    space = spaces.get("macro-cnn")
    a = space.sample(np.random.default_rng(0))
    with pytest.raises(InvalidArchError, match=r"'s1\.op': 'conv7x7' is not allowed; known: 'conv3x3'"):
        space.validate(a.replace(**{"s1.op": "conv7x7"}))
    with pytest.raises(InvalidArchError, match="missing decision"):
        space.validate(Arch("macro-cnn", {k: v for k, v in a.decisions.items() if k != "stem"}))
    with pytest.raises(InvalidArchError, match="unknown decision"):
        space.validate(a.replace(extra=1))
    with pytest.raises(UserInputError, match="channels"):
        space.build(a, (28,), 10)
    with pytest.raises(UnknownNameError, match="did you mean|Did you mean 'macro-cnn'"):
        spaces.get("macro_cnn")


def test_neighbors_differ_in_exactly_one_decision():
    space = spaces.get("macro-cnn")
    a = space.sample(np.random.default_rng(0))
    ns = space.neighbors(a)
    assert len(ns) == len(set(ns)) > 10
    for n in ns:
        assert sum(n[k] != a[k] for k in a.decisions) == 1


# -- define-by-run ---------------------------------------------------------------------

def test_kerastuner_example_space(mlp_space):
    rng = np.random.default_rng(0)
    seen_layers = set()
    for _ in range(200):
        a = mlp_space.sample(rng)
        n = a["num_layers"]
        seen_layers.add(n)
        assert 1 <= n <= 3
        assert {k for k in a.decisions if k.startswith("units_")} == {f"units_{i}" for i in range(n)}
        assert all(a[f"units_{i}"] in range(32, 513, 32) for i in range(n))
        assert a["learning_rate"] in (1e-2, 1e-3, 1e-4)
        assert mlp_space.training_config(a) == {"lr": a["learning_rate"]}
    assert seen_layers == {1, 2, 3}
    model = mlp_space.build(a, (1, 8, 8), 10)
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    assert len(linears) == a["num_layers"] + 1 and linears[0].in_features == 64


def test_define_by_run_mutation_keeps_conditionals_consistent(mlp_space):
    rng = np.random.default_rng(1)
    a = Arch(mlp_space.name, {"num_layers": 1, "units_0": 64, "learning_rate": 1e-3})
    grown = [m for m in (mlp_space.mutate(a, rng) for _ in range(200)) if m["num_layers"] > 1]
    assert grown, "mutating num_layers upward must add the new layers' widths"
    for m in grown:
        assert {f"units_{i}" for i in range(m["num_layers"])} <= set(m.decisions)
    with pytest.raises(InvalidArchError, match="units_1"):
        mlp_space.validate(Arch(mlp_space.name, {"num_layers": 2, "units_0": 64, "learning_rate": 1e-3}))
    with pytest.raises(InvalidArchError, match="not used"):
        mlp_space.validate(a.replace(units_2=64))


def test_define_by_run_definition_errors():
    from torch import nn

    def twice(hp):
        hp.int("a", 1, 3)
        hp.int("a", 1, 4)
        return nn.Identity()

    def bad_range(hp):
        hp.int("a", 5, 1)
        return nn.Identity()

    def not_a_module(hp):
        hp.int("a", 1, 3)
        return 3

    def bad_training(hp):
        hp.training(momentum=0.9)
        return nn.Identity()

    rng = np.random.default_rng(0)
    for fn, match in ((twice, "declared twice"), (bad_range, "low <= high"), (not_a_module, "torch.nn.Module"),
                      (bad_training, "unknown setting")):
        with pytest.raises(SpaceDefinitionError, match=match):
            spaces.DefineByRunSpace(fn, name="t").sample(rng)


def test_float_log_and_choice_params():
    from torch import nn

    def fn(hp):
        hp.float("wd", 1e-6, 1e-2, log=True)
        hp.choice("act", ["relu", "gelu"])
        hp.bool("bn")
        return nn.Linear(2, 2)

    space = spaces.DefineByRunSpace(fn, name="f")
    rng = np.random.default_rng(0)
    wds = [space.sample(rng)["wd"] for _ in range(300)]
    assert min(wds) >= 1e-6 and max(wds) <= 1e-2
    assert np.mean(np.array(wds) < 1e-4) > 0.4  # log-uniform puts half the mass below the geometric middle
    assert space.encoding_length == 2 + 2 + 2


def test_registering_a_define_by_run_space_by_name():
    from torch import nn

    import nasforge

    @nasforge.space("test-tiny-mlp")
    def tiny(hp):
        """A one-layer MLP for the registry test."""
        return nn.Sequential(nn.Flatten(), nn.Linear(64, hp.int("units", 8, 16, step=8)), nn.ReLU(),
                             nn.Linear(hp.int("units", 8, 16, step=8), hp.num_classes))

    try:
        assert "test-tiny-mlp" in spaces.names("test-*")
        space = spaces.get("test-tiny-mlp")
        assert space.size is None and spaces.REGISTRY.summary("test-tiny-mlp").startswith("A one-layer MLP")
        arch = space.sample(np.random.default_rng(0))
        assert arch.space == "test-tiny-mlp" and arch["units"] in (8, 16)
        with pytest.raises(ValueError, match="already registered"):
            nasforge.space("test-tiny-mlp")(tiny)
    finally:
        spaces.REGISTRY.unregister("test-tiny-mlp")


def test_a_space_registers_itself_beside_its_class_and_draws_by_default():
    @spaces.register("test-decorated")
    class Decorated(spaces.DecisionSpace):
        """A one-decision space for the registry test."""

        name = "test-decorated"

        def __init__(self):
            super().__init__([spaces.Decision("k", (1, 2)), spaces.Decision("b0.op", ("a", "b"))])

        def build(self, arch, input_shape, num_classes, width_multiplier=1.0):
            raise NotImplementedError

    try:
        space = spaces.get("test-decorated")
        assert isinstance(space, Decorated) and "test-decorated" in spaces.names("test-*")
        assert spaces.REGISTRY.summary("test-decorated").startswith("A one-decision space")
        # the drawing hook's default: one box per group of decisions, as plain data
        assert space.drawing(Arch("test-decorated", {"k": 1, "b0.op": "a"})) == spaces.Chain(
            (spaces.Box("input", kind="input"), spaces.Box("global", ("k=1",)), spaces.Box("b0", ("op=a",))))
    finally:
        spaces.REGISTRY.unregister("test-decorated")
