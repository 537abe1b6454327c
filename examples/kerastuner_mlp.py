"""The classic KerasTuner example, in PyTorch, as a nasforge define-by-run space.

KerasTuner's "Getting started" tunes 1-3 dense layers of 32-512 units (step 32)
and a learning rate in {1e-2, 1e-3, 1e-4}. Here the same space is a plain
function; every ``hp.*`` call is a decision, and the per-layer widths exist
only for the layers the architecture actually has.

Run it from the command line:

    nasforge search --space examples/kerastuner_mlp.py:build_model --dataset fashion-mnist \
        --strategy random --trials 10 --epochs 2 --subset 0.2 --study runs/mlp.db

or from Python:

    python examples/kerastuner_mlp.py
"""

import math

from torch import nn


def build_model(hp):
    """An MLP with 1-3 hidden layers of 32-512 units and a tuned learning rate."""
    layers = [nn.Flatten()]
    width = math.prod(hp.input_shape)
    for i in range(hp.int("num_layers", 1, 3)):
        units = hp.int(f"units_{i}", 32, 512, step=32)
        layers += [nn.Linear(width, hp.scale(units)), nn.ReLU()]
        width = hp.scale(units)
    layers.append(nn.Linear(width, hp.num_classes))
    hp.training(lr=hp.choice("learning_rate", [1e-2, 1e-3, 1e-4]))
    return nn.Sequential(*layers)


if __name__ == "__main__":
    import nasforge

    with nasforge.search(study="runs/kerastuner_mlp.db", space=f"{__file__}:build_model",
                         dataset="fashion-mnist", strategy="random", epochs=2, subset=0.2, trials=10) as study:
        best = study.best()
    print(f"best trial {best.id}: val accuracy {best.objective:.4f} with {dict(best.arch.decisions)}")
