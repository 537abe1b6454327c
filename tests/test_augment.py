"""Data augmentation (random shifts, mirror flips) and auto's mirror test."""

import pytest
import torch
from torch import nn

from nasforge.auto import choose_augment, mirror_test
from nasforge.core import UserInputError
from nasforge.estimation import TrainConfig, train_model
from nasforge.estimation._augment import augment_batch, shift_pixels


def shifted(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """``x`` (C, H, W) moved by (dy, dx) pixels with zero fill."""
    out = torch.zeros_like(x)
    h, w = x.shape[1:]
    out[:, max(0, dy):h + min(0, dy), max(0, dx):w + min(0, dx)] = \
        x[:, max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
    return out


def test_shift_moves_each_image_by_at_most_the_shift_and_varies_across_the_batch():
    x = torch.randn(32, 3, 28, 28)
    out = augment_batch(x, "shift", torch.Generator().manual_seed(0))
    p = shift_pixels(28)
    assert p == 2 and out.shape == x.shape
    moves = []
    for i in range(len(x)):
        found = [(dy, dx) for dy in range(-p, p + 1) for dx in range(-p, p + 1)
                 if torch.equal(out[i], shifted(x[i], dy, dx))]
        assert len(found) == 1, f"sample {i} is not a shift of its input"
        moves.append(found[0])
    assert len(set(moves)) > 5  # per-sample offsets, not one for the batch


def test_flip_mirrors_about_half_the_samples_and_sequences_shift_too():
    x = torch.randn(400, 1, 8, 8)
    gen = torch.Generator().manual_seed(1)
    out = augment_batch(x, "shift-flip", gen)
    mirrored = sum(any(torch.equal(out[i], shifted(x[i].flip(-1), dy, dx)) for dy in (-1, 0, 1) for dx in (-1, 0, 1))
                   for i in range(len(x)))
    assert 150 < mirrored < 250
    seq = torch.randn(16, 2, 40)
    out = augment_batch(seq, "shift", torch.Generator().manual_seed(0))
    assert out.shape == seq.shape and not torch.equal(out, seq)
    assert torch.equal(augment_batch(seq, "none", gen), seq)


def test_augmented_training_is_reproducible_from_its_seed_and_unknown_kinds_are_refused():
    x, y = torch.randn(128, 1, 12, 12), torch.randint(0, 3, (128,))

    def train(seed):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(400, 3))
        train_model(model, x, y, 2, TrainConfig(augment="shift-flip", precision="fp32"), seed)
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    assert torch.equal(train(3), train(3))
    assert not torch.equal(train(3), train(4))
    with pytest.raises(UserInputError, match="augment"):
        TrainConfig(augment="rotate")


class HalfSums(nn.Module):
    """Class 0 if the left half is brighter, else class 1 (mirroring swaps the answer)."""

    def forward(self, x):
        w = x.shape[-1] // 2
        left, right = x[..., :w].sum((1, 2, 3)), x[..., w:].sum((1, 2, 3))
        return torch.stack([left - right, right - left], 1)


class Brightness(nn.Module):
    """Class by total brightness (mirroring changes nothing)."""

    def forward(self, x):
        s = x.sum((1, 2, 3))
        return torch.stack([-s, s], 1)


class Split:
    """The part of a Dataset that choose_augment reads."""

    def __init__(self, x, y):
        self.x_val, self.y_val, self.tabular = x, y, False


def test_mirror_test_allows_flips_only_when_mirroring_keeps_the_labels():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(200, 1, 8, 8, generator=gen)
    sided = Split(x, (x[..., 4:].sum((1, 2, 3)) > x[..., :4].sum((1, 2, 3))).long())
    plain, mirrored = mirror_test(HalfSums(), sided.x_val, sided.y_val)
    assert plain == 1.0 and mirrored == 0.0
    assert choose_augment("auto", HalfSums(), sided, 200)[0] == "shift"
    bright = Split(x - 0.5, ((x - 0.5).sum((1, 2, 3)) > 0).long())
    assert choose_augment("auto", Brightness(), bright, 200)[0] == "shift-flip"
    assert choose_augment("none", Brightness(), bright, 200) == ("none", "as requested")
    assert choose_augment("auto", None, bright, 200)[0] == "shift"
    bright.tabular = True  # table columns: a shift would move values into other features' columns
    assert choose_augment("auto", Brightness(), bright, 200)[0] == "none"
    assert choose_augment("shift", Brightness(), bright, 200)[0] == "shift"  # what the user asks for


def test_a_short_final_training_is_not_augmented():
    from nasforge.auto.job import _expected_epochs
    from nasforge.auto.select import MIN_AUGMENT_EPOCHS

    x = torch.rand(200, 1, 8, 8, generator=torch.Generator().manual_seed(0)) - 0.5
    bright = Split(x, (x.sum((1, 2, 3)) > 0).long())
    short, why = choose_augment("auto", Brightness(), bright, 200, expected_epochs=MIN_AUGMENT_EPOCHS - 2.5)
    assert short == "none" and f"{MIN_AUGMENT_EPOCHS - 2.5:.1f} epochs" in why
    assert choose_augment("auto", Brightness(), bright, 200, expected_epochs=MIN_AUGMENT_EPOCHS)[0] == "shift-flip"
    assert choose_augment("shift", Brightness(), bright, 200, expected_epochs=1)[0] == "shift"  # asked for

    class Run:  # 2 epochs of 1,000 samples in 10 s of search training
        samples, seconds = 2000, 10.0

    class Data:
        y_train, y_val = range(800), range(200)

    class Deadline:
        @staticmethod
        def left():
            return 30.0

    assert _expected_epochs(Run(), Data(), Deadline()) == 2 + 6  # and 30 s more at 200 samples/s
    assert _expected_epochs(None, Data(), Deadline()) is None
