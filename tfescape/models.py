"""Model zoo: the networks of the tail-index and SGD-vs-Adam experiments.

- "mlp": fully connected ReLU network of a given width and depth (the tail-index literature varies
  both), input flattened.
- "cnn": a small conv net (two conv blocks and a dense head), fast on CPU for digits/MNIST.
- "alexnet": the CIFAR-size AlexNet of the paper's experiments: five conv layers (64, 192, 384, 256,
  256 channels; an 11x11 stride-4 first layer) with three 2x2 max-pools and one linear classifier.

Every model is an uncompiled keras.Model that outputs logits (use ``from_logits=True``); its weights
are a deterministic function of ``seed``: each layer gets its own seeded initializer, so the library
never touches global random state.

Example:
    >>> model = build_model("mlp", input_shape=(8, 8, 1), num_classes=10, seed=0, width=64, depth=2)
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

MODELS = ("mlp", "cnn", "alexnet")


class _SeededInit:
    """Hands out a fresh seeded initializer per layer: seed, seed + 1, ..."""

    def __init__(self, seed: int):
        self._next = int(seed) * 1000

    def _seed(self) -> int:
        self._next += 1
        return self._next

    def kernel(self):
        return keras.initializers.HeNormal(seed=self._seed())

    def dense(self):
        return keras.initializers.GlorotUniform(seed=self._seed())


def build_model(
    name: str,
    *,
    input_shape: Sequence[int],
    num_classes: int,
    seed: int = 0,
    batchnorm: bool = False,
    width: int = 512,
    depth: int = 3,
    filters: Sequence[int] = (32, 64),
    dropout: float = 0.0,
) -> keras.Model:
    """Build an uncompiled classifier that outputs logits.

    Args:
        name: "mlp", "cnn" or "alexnet".
        input_shape: shape of one example, e.g. (8, 8, 1) or (32, 32, 3).
        num_classes: number of output logits.
        seed: initialization seed; the same seed gives identical weights.
        batchnorm: insert BatchNormalization after each hidden dense/conv layer.
        width, depth: hidden units per layer and number of hidden layers ("mlp").
        filters: channels of the two conv blocks ("cnn").
        dropout: dropout rate before the classifier ("mlp", "cnn"); 0 disables it.

    Returns:
        keras.Model (built, uncompiled).

    Raises:
        ValueError: unknown name or invalid sizes.
    """
    if name not in MODELS:
        raise ValueError(f"Unknown model {name!r}. Choose one of {', '.join(MODELS)}.")
    input_shape = tuple(int(d) for d in input_shape)
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}.")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}.")
    init = _SeededInit(seed)
    inputs = keras.Input(shape=input_shape)
    if name == "mlp":
        if width < 1 or depth < 1:
            raise ValueError(f"mlp needs width >= 1 and depth >= 1, got {width}, {depth}.")
        x = _mlp_body(inputs, width=width, depth=depth, batchnorm=batchnorm, init=init)
    elif name == "cnn":
        _require_image(name, input_shape, min_side=8)
        x = _cnn_body(inputs, filters=filters, batchnorm=batchnorm, init=init)
    else:
        _require_image(name, input_shape, min_side=16)
        x = _alexnet_body(inputs, batchnorm=batchnorm, init=init)
    if dropout > 0 and name != "alexnet":
        x = keras.layers.Dropout(dropout, seed=init._seed())(x)
    outputs = keras.layers.Dense(num_classes, kernel_initializer=init.dense(), name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


def _require_image(name, input_shape, *, min_side):
    if len(input_shape) != 3 or min(input_shape[:2]) < min_side:
        raise ValueError(
            f"{name} needs images of shape (height, width, channels) with sides >= {min_side}, got "
            f"{input_shape}. Use load_dataset(..., image_size=28) to enlarge 8x8 digits."
        )


def _hidden(x, layer, *, batchnorm):
    x = layer(x)
    if batchnorm:
        x = keras.layers.BatchNormalization()(x)
    return keras.layers.Activation("relu")(x)


def _mlp_body(x, *, width, depth, batchnorm, init):
    x = keras.layers.Flatten()(x)
    for _ in range(depth):
        dense = keras.layers.Dense(width, kernel_initializer=init.kernel(), use_bias=not batchnorm)
        x = _hidden(x, dense, batchnorm=batchnorm)
    return x


def _conv(channels, kernel, init, *, strides=1, batchnorm=False):
    return keras.layers.Conv2D(
        channels,
        kernel,
        strides=strides,
        padding="same",
        kernel_initializer=init.kernel(),
        use_bias=not batchnorm,
    )


def _cnn_body(x, *, filters, batchnorm, init):
    for channels in filters:
        x = _hidden(x, _conv(channels, 3, init, batchnorm=batchnorm), batchnorm=batchnorm)
        x = keras.layers.MaxPooling2D(2, padding="same")(x)
    return keras.layers.GlobalAveragePooling2D()(x)


def _alexnet_body(x, *, batchnorm, init):
    conv = dict(init=init, batchnorm=batchnorm)
    x = _hidden(x, _conv(64, 11, strides=4, **conv), batchnorm=batchnorm)
    x = keras.layers.MaxPooling2D(2, padding="same")(x)
    x = _hidden(x, _conv(192, 5, **conv), batchnorm=batchnorm)
    x = keras.layers.MaxPooling2D(2, padding="same")(x)
    x = _hidden(x, _conv(384, 3, **conv), batchnorm=batchnorm)
    x = _hidden(x, _conv(256, 3, **conv), batchnorm=batchnorm)
    x = _hidden(x, _conv(256, 3, **conv), batchnorm=batchnorm)
    x = keras.layers.MaxPooling2D(2, padding="same")(x)
    return keras.layers.Flatten()(x)
