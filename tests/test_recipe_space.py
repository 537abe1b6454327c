"""The `recipe` space: a base space's architectures with their training recipe as decisions."""

import pytest
import torch

from nasforge import spaces
from nasforge.core import SpaceDefinitionError
from nasforge.estimation import TrainConfig, count_params
from nasforge.export import load_model, save_checkpoint


def test_recipe_decisions_reach_the_trainer_and_the_model(tmp_path):
    space = spaces.get("recipe", base="mlp")
    base = spaces.get("mlp").priors()[0]
    assert [space.split(a)[0] for a in space.priors()] == spaces.get("mlp").priors()  # priors: default recipe
    assert space.training_config(space.priors()[0]) == {"lr": 3e-3, "weight_decay": 1e-4, "batch_size": 64,
                                                         "label_smoothing": 0.0, "augment": "none"}
    arch = space.with_recipe(base, lr=1e-3, batch_size=128, augment="shift", dropout=0.3, width=0.5)
    config = TrainConfig(**space.training_config(arch))
    assert (config.lr, config.batch_size, config.augment) == (1e-3, 128, "shift")
    narrow = space.build(arch, (1, 30), 2)
    assert count_params(narrow) == count_params(spaces.get("mlp").build(base, (1, 30), 2, width_multiplier=0.5))
    x = torch.ones(64, 1, 30)
    narrow.train()
    torch.manual_seed(0)
    assert not torch.equal(narrow(x), narrow(x))  # dropout before the classifier while training
    narrow.eval()
    assert torch.equal(narrow(x), narrow(x))
    # the recipe travels with the architecture: a saved model rebuilds with its width
    path = save_checkpoint(tmp_path / "m.pt", narrow, arch, space.config(), (1, 30), 2)
    loaded = load_model(path).eval()
    assert torch.allclose(loaded(x), narrow(x))
    assert "lr 0.001" in space.describe(arch) and "width x0.5" in space.describe(arch)


def test_tables_get_no_augmentation_and_bad_bases_are_refused():
    space = spaces.get("recipe", base="mlp", augment=["none"])
    assert {space.training_config(space.sample(__import__("numpy").random.default_rng(i)))["augment"]
            for i in range(20)} == {"none"}
    with pytest.raises(SpaceDefinitionError, match="unknown base"):
        spaces.get("recipe", base="nope")
    with pytest.raises(SpaceDefinitionError, match="augment"):
        spaces.get("recipe", augment=["rotate"])
