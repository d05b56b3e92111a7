import numpy as np
import pytest

from tfescape.data import DatasetUnavailableError, is_cached, load_arrays, load_dataset


def test_digits_offline_shapes_and_info():
    train, test, info = load_dataset("digits", batch_size=32, seed=0)
    assert info.input_shape == (8, 8, 1)
    assert info.num_classes == 10
    assert info.num_train + info.num_test == 1797
    x, y = next(iter(train))
    assert x.shape == (32, 8, 8, 1) and y.dtype.name == "int32"
    total = sum(int(b[1].shape[0]) for b in test)
    assert total == info.num_test


def test_digits_normalized_and_resized():
    arrays = load_arrays("digits", seed=1, image_size=28)
    assert arrays.x_train.shape[1:] == (28, 28, 1)
    np.testing.assert_allclose(arrays.x_train.mean(), 0.0, atol=1e-4)
    np.testing.assert_allclose(arrays.x_train.std(), 1.0, atol=1e-3)
    raw = load_arrays("digits", seed=1, normalize=False)
    assert raw.x_train.min() >= 0.0 and raw.x_train.max() <= 1.0


def test_same_seed_same_split_and_order():
    a = load_dataset("digits", batch_size=64, seed=3)
    b = load_dataset("digits", batch_size=64, seed=3)
    for (xa, ya), (xb, yb) in zip(a.train, b.train, strict=True):
        np.testing.assert_array_equal(xa.numpy(), xb.numpy())
        np.testing.assert_array_equal(ya.numpy(), yb.numpy())
    c = load_arrays("digits", seed=4)
    assert not np.array_equal(c.y_train, load_arrays("digits", seed=3).y_train)


def test_synthetic_any_size():
    arrays = load_arrays("synthetic", num_examples=500, num_features=7, num_classes=3, seed=2)
    assert arrays.x_train.shape[1:] == (7,)
    assert arrays.info.num_classes == 3
    assert arrays.info.num_train + arrays.info.num_test == 500
    again = load_arrays("synthetic", num_examples=500, num_features=7, num_classes=3, seed=2)
    np.testing.assert_array_equal(arrays.x_train, again.x_train)


def test_mnist_offline_without_cache_raises_clear_error(tmp_path):
    assert not is_cached("mnist", cache_dir=tmp_path)
    with pytest.raises(DatasetUnavailableError) as err:
        load_dataset("mnist", cache_dir=tmp_path, download=False)
    message = str(err.value)
    assert str(tmp_path) in message and "digits" in message


def test_bad_input():
    with pytest.raises(ValueError, match="Unknown dataset"):
        load_dataset("imagenet")
    with pytest.raises(ValueError, match="batch_size"):
        load_dataset("digits", batch_size=0)
    with pytest.raises(ValueError, match="test_fraction"):
        load_arrays("digits", test_fraction=1.5)
