import random

import numpy as np
import pytest
import torch

from nasforge import data
from nasforge.core import DatasetNotFoundError, UnknownNameError, UserInputError


@pytest.mark.parametrize("name,shape,n_train", [("fashion-mnist", (1, 28, 28), 54000), ("digits", (1, 8, 8), 1294),
                                                 ("mnist1d", (1, 40), 3600)])
def test_registered_datasets_load(name, shape, n_train):
    ds = data.load(name)
    assert ds.input_shape == shape and ds.num_classes == 10
    assert len(ds.y_train) == n_train and ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    assert abs(float(ds.x_train.mean())) < 0.05 and abs(float(ds.x_train.std()) - 1) < 0.05
    assert set(ds.y_train.unique().tolist()) == set(range(10))
    x_test, y_test = ds.test()
    assert x_test.shape[1:] == shape and len(x_test) == len(y_test) > 0


def test_split_is_fixed_and_disjoint(digits):
    again = data.load("digits")
    assert torch.equal(again.x_val, digits.x_val)
    other = data.load("digits", split_seed=1)
    assert not torch.equal(other.y_val, digits.y_val)
    train_idx, val_idx = data.split_indices(100, 0.1, 0)
    assert set(train_idx) & set(val_idx) == set() and len(train_idx) + len(val_idx) == 100


def test_test_split_is_loaded_only_on_demand(tmp_path):
    calls = []
    path = tmp_path / "d.npz"
    rng = np.random.default_rng(0)
    np.savez(path, x=rng.normal(size=(50, 6)).astype(np.float32), y=rng.integers(0, 2, 50),
             x_test=rng.normal(size=(10, 6)).astype(np.float32), y_test=rng.integers(0, 2, 10))
    ds = data.load(str(path))
    original = ds._load_test
    ds._load_test = lambda: calls.append(1) or original()
    ds.train_and_val()
    assert calls == []
    x_test, y_test = ds.test()
    assert calls == [1] and x_test.shape == (10, 1, 6)


def test_npz_labels_shapes_and_holdout(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "img.npz"
    np.savez(path, x=rng.random((200, 12, 12, 3)), y=np.array(["cat", "dog"] * 100))
    ds = data.load(str(path))
    assert ds.input_shape == (3, 12, 12) and ds.num_classes == 2 and ds.classes == ["cat", "dog"]
    x_test, y_test = ds.test()
    assert len(y_test) == 40 and len(ds.y_train) + len(ds.y_val) == 160


def test_npz_table_columns_are_standardised_one_by_one_and_signals_as_a_whole(tmp_path):
    rng = np.random.default_rng(0)
    scales = np.array([0.01, 1.0, 300.0, 5.0])  # e.g. a ratio, a count, an income, a size
    table = rng.normal(size=(300, 4)) * scales + np.array([0.5, 10.0, 2000.0, -3.0])
    np.savez(tmp_path / "table.npz", x=table, y=rng.integers(0, 3, 300))
    ds = data.load(str(tmp_path / "table.npz"))
    assert ds.tabular and ds.describe()["tabular"] and ds.input_shape == (1, 4)
    torch.testing.assert_close(ds.x_train.mean(0), torch.zeros(1, 4), atol=1e-4, rtol=0)
    torch.testing.assert_close(ds.x_train.std(0, unbiased=False), torch.ones(1, 4), atol=1e-4, rtol=0)
    x_test, _ = ds.test()  # the test split gets the training split's per-column statistics
    assert float(x_test.std(0).min()) > 0.5 and float(x_test.std(0).max()) < 2.0
    signal = np.sin(np.linspace(0, 6, 40))[None] * rng.normal(1, 0.5, (300, 1)) + rng.normal(0, 0.3, (300, 40))
    np.savez(tmp_path / "signal.npz", x=signal, y=rng.integers(0, 3, 300))
    ds = data.load(str(tmp_path / "signal.npz"))
    assert not ds.tabular and "tabular" not in ds.describe()
    assert float(ds.x_train.std(0).max() / ds.x_train.std(0).min()) > 2  # one scale: shapes kept
    assert not data.load("mnist1d").tabular


@pytest.mark.parametrize("arrays,match", [({"x": np.zeros((4, 2))}, "needs arrays 'x' and 'y'"),
                                          ({"x": np.zeros((4, 2)), "y": np.zeros(3)}, "has 4 samples"),
                                          ({"x": np.zeros((4, 2)), "y": np.zeros(4)}, "two classes")])
def test_npz_errors(tmp_path, arrays, match):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(UserInputError, match=match):
        data.load(str(path))
    with pytest.raises(UserInputError, match="does not exist"):
        data.load(str(tmp_path / "missing.npz"))


def test_missing_fashion_mnist_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("NASFORGE_FASHION_MNIST_DIR", str(tmp_path))
    with pytest.raises(DatasetNotFoundError, match="apt-get install dataset-fashion-mnist"):
        data.load("fashion-mnist")
    assert "apt-get install" in data.availability("fashion-mnist")


def test_unknown_dataset_lists_choices():
    with pytest.raises(UnknownNameError, match="known: digits, fashion-mnist, mnist1d"):
        data.load("fashion_mnist")


def test_mnist1d_is_cached_and_leaves_global_rng_alone():
    np.random.seed(123)
    random.seed(5)
    expected_np, expected_py = np.random.random(), random.random()
    np.random.seed(123)
    random.seed(5)
    first = data.generate_mnist1d(num_samples=200)
    assert np.random.random() == expected_np and random.random() == expected_py
    assert (data.cache_dir() / "mnist1d_n200_s42.npz").exists()
    second = data.generate_mnist1d(num_samples=200)
    assert np.array_equal(first["x"], second["x"]) and first["x"].shape == (160, 40)


def test_read_idx_rejects_garbage(tmp_path):
    path = tmp_path / "x.idx"
    path.write_bytes(b"hello world")
    with pytest.raises(DatasetNotFoundError, match="not an unsigned-byte IDX"):
        data.read_idx(path)
