import keras
import numpy as np
import pytest

from tfescape.data import load_arrays
from tfescape.models import build_model

CASES = [
    ("mlp", dict(width=32, depth=2), None, False),
    ("mlp", dict(width=16, depth=1), None, True),
    ("cnn", dict(filters=(8, 16)), None, True),
    ("alexnet", {}, 32, False),
]


@pytest.mark.parametrize("name,options,image_size,batchnorm", CASES)
def test_every_model_takes_a_training_step(name, options, image_size, batchnorm):
    arrays = load_arrays("digits", seed=0, image_size=image_size, max_train=64)
    model = build_model(
        name,
        input_shape=arrays.info.input_shape,
        num_classes=arrays.info.num_classes,
        seed=0,
        batchnorm=batchnorm,
        **options,
    )
    model.compile(
        optimizer=keras.optimizers.SGD(0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(arrays.x_train, arrays.y_train, batch_size=32, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    assert model.output_shape == (None, 10)


@pytest.mark.parametrize("name", ["mlp", "cnn", "alexnet"])
def test_same_seed_same_weights(name):
    shape = (32, 32, 3)
    a = build_model(name, input_shape=shape, num_classes=10, seed=5, width=8, depth=1)
    b = build_model(name, input_shape=shape, num_classes=10, seed=5, width=8, depth=1)
    c = build_model(name, input_shape=shape, num_classes=10, seed=6, width=8, depth=1)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert any(not np.array_equal(wa, wc) for wa, wc in zip(a.get_weights(), c.get_weights(), strict=True))


def test_bad_input():
    with pytest.raises(ValueError, match="Unknown model"):
        build_model("resnet", input_shape=(8, 8, 1), num_classes=10)
    with pytest.raises(ValueError, match="image_size=28"):
        build_model("alexnet", input_shape=(8, 8, 1), num_classes=10)
    with pytest.raises(ValueError, match="num_classes"):
        build_model("mlp", input_shape=(4,), num_classes=1)
