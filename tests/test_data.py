import numpy as np
import pytest

from tfescape.data import (
    DatasetUnavailableError,
    SyncDataEpoch,
    get_data_epoch,
    is_cached,
    load_arrays,
    load_dataset,
    pinned_data_epoch,
    set_data_epoch,
)


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


# ----------------------------------------------- data order: a pure function of (seed, epoch)


def _labels_of_pass(train):
    return np.concatenate([y.numpy() for _, y in train])


def _epoch_labels(train, epoch):
    set_data_epoch(train, epoch)
    return _labels_of_pass(train)


def test_each_epoch_is_a_permutation_and_epochs_differ():
    arrays = load_arrays("digits", seed=0)
    train, _, _ = load_dataset("digits", batch_size=100, seed=0)
    first, second = _labels_of_pass(train), _labels_of_pass(train)
    assert get_data_epoch(train) == 2
    for labels in (first, second):
        np.testing.assert_array_equal(np.sort(labels), np.sort(arrays.y_train))
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(_epoch_labels(train, 0), first)
    np.testing.assert_array_equal(_epoch_labels(train, 1), second)


def test_two_consumers_of_one_pipeline_see_identical_batches_per_epoch():
    train, _, _ = load_dataset("digits", batch_size=64, seed=5)

    def consume(epochs):
        batches = []
        for epoch in range(epochs):
            set_data_epoch(train, epoch)
            batches.extend(x.numpy() for x, _ in train)
        return batches

    a, b = consume(3), consume(3)
    assert len(a) == len(b) == 3 * 23
    for xa, xb in zip(a, b, strict=True):
        np.testing.assert_array_equal(xa, xb)


def _tiny_model(info):
    import keras

    model = keras.Sequential(
        [keras.Input(info.input_shape), keras.layers.Flatten(), keras.layers.Dense(info.num_classes)]
    )
    model.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def _fit_weights(train, info, weights, *, sync, epochs=2, initial_epoch=0, model=None):
    model = model or _tiny_model(info)
    if model is not None and weights is not None:
        model.set_weights(weights)
    callbacks = [SyncDataEpoch(train)] if sync else []
    model.fit(train, epochs=epochs, initial_epoch=initial_epoch, verbose=0, callbacks=callbacks)
    return model


def test_two_models_fit_on_one_pipeline_train_identically_with_sync_data_epoch():
    train, _, info = load_dataset("digits", batch_size=64, seed=0, max_train=512)
    start = _tiny_model(info).get_weights()
    first = _fit_weights(train, info, start, sync=True).get_weights()
    second = _fit_weights(train, info, start, sync=True).get_weights()
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    # Without the callback the second model continues the epoch counter and sees other batches.
    unsynced = _fit_weights(train, info, start, sync=False).get_weights()
    assert not all(np.array_equal(a, b) for a, b in zip(first, unsynced, strict=True))
    # A fit resumed at epoch 1 (a fresh pipeline, as in a restarted process) sees epoch 1's batches.
    fresh, _, _ = load_dataset("digits", batch_size=64, seed=0, max_train=512)
    model = _fit_weights(fresh, info, start, sync=True, epochs=1)
    again, _, _ = load_dataset("digits", batch_size=64, seed=0, max_train=512)
    resumed = _fit_weights(again, info, None, sync=True, epochs=2, initial_epoch=1, model=model)
    for a, b in zip(first, resumed.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_fresh_process_sees_the_same_first_batches(fresh_process):
    # fresh_process (tests/conftest.py) loaded digits with batch_size=32, seed=7 in a new interpreter.
    assert sorted(fresh_process["batches"]) == [0, 3]
    train, _, _ = load_dataset("digits", batch_size=32, seed=7)
    for epoch in (0, 3):
        set_data_epoch(train, epoch)
        x, y = next(iter(train))
        labels, total = fresh_process["batches"][epoch]
        assert labels == " ".join(map(str, y.numpy()))
        assert total == float(np.sum(x.numpy().astype(np.float64)))


def test_repeat_streams_consecutive_epochs_and_fixed_order_without_reshuffle():
    train, _, info = load_dataset("digits", batch_size=100, seed=1, repeat=True)
    per_epoch = -(-info.num_train // 100)
    stream = np.concatenate([y.numpy() for _, y in train.take(2 * per_epoch)])
    reference, _, _ = load_dataset("digits", batch_size=100, seed=1)
    np.testing.assert_array_equal(stream[: info.num_train], _epoch_labels(reference, 0))
    np.testing.assert_array_equal(stream[info.num_train :], _epoch_labels(reference, 1))
    fixed, _, _ = load_dataset("digits", batch_size=100, seed=1, reshuffle_each_iteration=False)
    np.testing.assert_array_equal(_labels_of_pass(fixed), _labels_of_pass(fixed))
    assert get_data_epoch(fixed) == 0


def test_pinned_data_epoch_restores_the_counter_and_skips_other_datasets():
    train, test, _ = load_dataset("digits", batch_size=100, seed=2)
    _labels_of_pass(train)
    with pinned_data_epoch((train, test, None, train), 9):
        inside = _labels_of_pass(train)
    assert get_data_epoch(train) == 1
    np.testing.assert_array_equal(inside, _epoch_labels(train, 9))
    with pytest.raises(ValueError, match="data-epoch counter"):
        set_data_epoch(test, 0)
    with pytest.raises(ValueError, match="epoch must be an integer"):
        set_data_epoch(train, 1.5)


def test_sync_data_epoch_under_a_mirrored_strategy(two_device_strategy):
    """Keras reads a first batch to build the model under a strategy; the callback keeps epochs exact."""
    import keras

    train, _, info = load_dataset("digits", batch_size=64, seed=0, max_train=256, flatten=True)

    def fit_once():
        with two_device_strategy.scope():
            model = keras.Sequential([keras.Input(info.input_shape), keras.layers.Dense(info.num_classes)])
            model.set_weights([np.full(w.shape, 0.01, w.dtype) for w in model.get_weights()])
            model.compile(
                keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True)
            )
        model.fit(train, epochs=2, verbose=0, callbacks=[SyncDataEpoch(train)])
        return model.get_weights()

    first, second = fit_once(), fit_once()
    for a, b in zip(first, second, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-7)
