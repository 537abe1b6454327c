"""Loaders for the bundled-offline data sets and for user ``.npz`` files.

Nothing here downloads: a missing data set raises an error that says how
to install it.
"""

from __future__ import annotations

import gzip
import os
import random
from pathlib import Path

import numpy as np

from ..core import DatasetNotFoundError, UserInputError, require
from ._base import Dataset, looks_tabular, make_dataset, split_indices

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def cache_dir() -> Path:
    root = os.environ.get("NASFORGE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "nasforge")
    return Path(root)


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzip-compressed or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DatasetNotFoundError(f"{path} is not an unsigned-byte IDX file")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(shape)):
        raise DatasetNotFoundError(f"{path} is truncated: expected {int(np.prod(shape))} values, found {array.size}")
    return array.reshape(shape)


def fashion_mnist_files() -> dict[str, Path]:
    """The four IDX files, or an error saying how to install them."""
    root = Path(os.environ.get("NASFORGE_FASHION_MNIST_DIR", FASHION_MNIST_DIR))
    files = {k: root / f"{k}-idx{3 if 'images' in k else 1}-ubyte.gz"
             for k in ("train-images", "train-labels", "t10k-images", "t10k-labels")}
    missing = [str(p) for p in files.values() if not p.exists()]
    if missing:
        raise DatasetNotFoundError(
            f"Fashion-MNIST not found (missing {missing[0]}). Install it with: "
            "sudo apt-get install dataset-fashion-mnist "
            "(or point NASFORGE_FASHION_MNIST_DIR at a folder with the four IDX .gz files)")
    return files


def fashion_mnist(val_fraction: float = 0.1, split_seed: int = 0) -> Dataset:
    """Fashion-MNIST (60k train / 10k test, 28x28 grey), from the Debian package."""
    files = fashion_mnist_files()
    x = read_idx(files["train-images"])[:, None]
    y = read_idx(files["train-labels"])

    def test():
        return read_idx(files["t10k-images"])[:, None], read_idx(files["t10k-labels"])

    return make_dataset("fashion-mnist", x, y, test, val_fraction, split_seed, 10, FASHION_MNIST_CLASSES)


def digits(val_fraction: float = 0.1, split_seed: int = 0) -> Dataset:
    """scikit-learn's handwritten digits (1,797 images, 8x8); 20% held out as test."""
    datasets = require("sklearn.datasets", "data")
    bunch = datasets.load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[:, None]
    y = bunch.target.astype(np.int64)
    rest, test_idx = split_indices(len(y), 0.2, 12345)
    return make_dataset("digits", x[rest], y[rest], lambda: (x[test_idx], y[test_idx]),
                        val_fraction, split_seed, 10)


def generate_mnist1d(num_samples: int = 5000, seed: int = 42) -> dict[str, np.ndarray]:
    """Generate MNIST-1D with the ``mnist1d`` package (no download), cached on disk."""
    path = cache_dir() / f"mnist1d_n{num_samples}_s{seed}.npz"
    if path.exists():
        with np.load(path) as f:
            return {k: f[k] for k in f.files}
    data_module = require("mnist1d.data", "data")
    args = data_module.get_dataset_args()
    args.num_samples, args.seed = num_samples, seed
    np_state, py_state = np.random.get_state(), random.getstate()
    try:  # the generator seeds the global RNGs; leave them as we found them
        raw = data_module.make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    arrays = {k: np.asarray(raw[k]) for k in ("x", "y", "x_test", "y_test")}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)
    return arrays


def mnist1d(val_fraction: float = 0.1, split_seed: int = 0, num_samples: int = 5000) -> Dataset:
    """MNIST-1D (Greydanus 2020): 40-step 1-D signals of 10 digits, generated locally."""
    d = generate_mnist1d(num_samples)
    return make_dataset("mnist1d", d["x"][:, None].astype(np.float32), d["y"].astype(np.int64),
                        lambda: (d["x_test"][:, None].astype(np.float32), d["y_test"].astype(np.int64)),
                        val_fraction, split_seed, 10)


def _as_samples(x: np.ndarray, path: str) -> np.ndarray:
    """Per-sample arrays as (C, L) or (C, H, W): add a channel axis, move channels-last first."""
    if x.ndim == 2:
        return x[:, None]
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 4:
        if x.shape[-1] in (1, 3, 4) and x.shape[1] not in (1, 3, 4):
            return np.moveaxis(x, -1, 1)
        return x
    raise UserInputError(f"{path}: 'x' must have 2 to 4 dimensions (samples first); got shape {x.shape}")


TRAIN_KEYS = (("x", "y"), ("x_train", "y_train"))  # nasforge's names, and Keras's (keras.datasets, np.savez)
TEST_KEYS = ("x_test", "y_test")


def _read_npz(path: str) -> dict[str, np.ndarray]:
    file = Path(path)
    if not file.is_file():
        raise UserInputError(f"data file {path!r} does not exist")
    try:
        with np.load(file, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except Exception as exc:
        raise UserInputError(f"{path}: not a readable .npz file ({exc})") from None


def _pick_arrays(arrays: dict[str, np.ndarray], path: str):
    """The training pair's names, and (x, y, x_test, y_test) under either naming; the test pair is both
    or neither (None)."""
    namings = [keys for keys in TRAIN_KEYS if any(k in arrays for k in keys)]
    if len(namings) > 1:
        raise UserInputError(f"{path}: has both 'x'/'y' and 'x_train'/'y_train'; keep one naming")
    xk, yk = namings[0] if namings else TRAIN_KEYS[0]
    if xk not in arrays or yk not in arrays:
        raise UserInputError(f"{path}: an .npz data set needs arrays 'x' and 'y' (or Keras-style 'x_train' and "
                             f"'y_train'), optionally 'x_test' and 'y_test'; found {sorted(arrays)}")
    present = [k for k in TEST_KEYS if k in arrays]
    if len(present) == 1:
        missing = ({*TEST_KEYS} - {*present}).pop()
        raise UserInputError(f"{path}: has {present[0]!r} but no {missing!r}; a test split needs both "
                             "'x_test' and 'y_test' (or neither: 20% of the data is then held out)")
    return (xk, yk), (arrays[xk], arrays[yk], arrays.get("x_test"), arrays.get("y_test"))


def _labels(y: np.ndarray, name: str, path: str) -> np.ndarray:
    """One label per sample: ``(N,)``, or Keras's ``(N, 1)``."""
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise UserInputError(f"{path}: {name!r} must hold one label per sample, shape (N,) or (N, 1); got shape "
                             f"{y.shape} (one-hot labels: save y.argmax(1))")
    return y


def _check_finite(a: np.ndarray, name: str, path: str) -> None:
    """NaN or infinite values would make every trial fail with a useless loss: refused with where they are."""
    if not np.issubdtype(a.dtype, np.inexact):
        return
    bad = ~np.isfinite(a)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        nan = int(np.isnan(a).sum())
        kinds = ", ".join(f"{n} {what}" for n, what in ((nan, "NaN"), (int(bad.sum()) - nan, "infinite")) if n)
        raise UserInputError(f"{path}: {name!r} has {int(bad.sum())} value(s) that are not finite ({kinds}), the "
                             f"first at {name}[{', '.join(map(str, first))}]; drop or fill those samples")


def _check_pair(x: np.ndarray, y: np.ndarray, names: tuple[str, str], path: str) -> np.ndarray:
    """Samples and labels that fit together; returns the labels as one per sample."""
    xn, yn = names
    y = _labels(y, yn, path)
    if len(x) != len(y):
        raise UserInputError(f"{path}: {xn!r} has {len(x)} samples but {yn!r} has {len(y)}")
    if not np.issubdtype(x.dtype, np.number):
        raise UserInputError(f"{path}: {xn!r} must be numeric; got dtype {x.dtype}")
    _check_finite(x, xn, path)
    _check_finite(y, yn, path)
    return y


def npz(path: str, val_fraction: float = 0.1, split_seed: int = 0) -> Dataset:
    """A user's ``.npz`` with arrays ``x`` and ``y`` (and optionally ``x_test``, ``y_test``), or the same
    under Keras's names ``x_train``, ``y_train``, ``x_test``, ``y_test``."""
    names, (x, y, x_test, y_test) = _pick_arrays(_read_npz(path), path)
    y = _check_pair(x, y, names, path)
    has_test = x_test is not None
    if has_test:
        y_test = _check_pair(x_test, y_test, ("x_test", "y_test"), path)
        if x_test.shape[1:] != x.shape[1:]:
            raise UserInputError(f"{path}: 'x_test' samples have shape {x_test.shape[1:]} but {names[0]!r} samples "
                                 f"have {x.shape[1:]}; test samples must have the training samples' shape")
    classes = np.unique(np.concatenate([y, y_test]) if has_test else y)
    if len(classes) < 2:
        raise UserInputError(f"{path}: {names[1]!r} needs at least two classes; found {len(classes)}")

    def to_index(labels):
        return np.searchsorted(classes, labels).astype(np.int64)

    tabular = looks_tabular(x)
    x = _as_samples(x, path)
    y = to_index(y)
    if has_test:
        def test():
            return _as_samples(x_test, path), to_index(y_test)
        rest = np.arange(len(y))
    else:
        rest, test_idx = split_indices(len(y), 0.2, 12345)

        def test():
            return x[test_idx], y[test_idx]
    return make_dataset(f"npz:{Path(path).name}", x[rest], y[rest], test, val_fraction, split_seed,
                        len(classes), [c.item() for c in classes], tabular)
