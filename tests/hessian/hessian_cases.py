"""Closed-form Hessian test cases shared by the tfescape.hessian tests (float64 Keras models)."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf


@dataclass
class Case:
    model: keras.Model
    loss: object
    x: np.ndarray
    y: np.ndarray
    hessian: np.ndarray  # explicit Hessian in HessianOperator's flat order


def symmetric(eigenvalues, seed=0):
    """A random symmetric matrix with the given eigenvalues (a random orthogonal basis)."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((len(eigenvalues), len(eigenvalues))))
    return q @ np.diag(eigenvalues) @ q.T


def half_mse(y_true, y_pred):
    """0.5 * ||y_pred - y||^2 / n for one output: Hessian X^T X / n in the weights."""
    return 0.5 * tf.reduce_mean(tf.square(tf.cast(y_true, y_pred.dtype) - y_pred))


def dense_model(num_features, units, *, use_bias=False, seed=0):
    inputs = keras.Input((num_features,), dtype="float64")
    layer = keras.layers.Dense(
        units,
        use_bias=use_bias,
        dtype="float64",
        kernel_initializer=keras.initializers.RandomNormal(stddev=0.5, seed=seed),
        name="dense",
    )
    return keras.Model(inputs, layer(inputs))


def linear_regression(*, n=40, d=5, seed=0, use_bias=False, eigenvalues=None):
    """0.5 mean squared error of a linear model. H = A^T A / n, A = [X, 1] with a bias.

    With ``eigenvalues`` (length d, no bias) X is built so that X^T X / n has exactly those eigenvalues.
    """
    rng = np.random.default_rng(seed)
    if eigenvalues is None:
        x = rng.standard_normal((n, d)) * np.linspace(0.5, 2.0, d)
    else:
        u, _ = np.linalg.qr(rng.standard_normal((n, d)))
        v, _ = np.linalg.qr(rng.standard_normal((d, d)))
        x = np.sqrt(n) * u @ np.diag(np.sqrt(eigenvalues)) @ v.T
    y = (x @ rng.standard_normal((d, 1)) + 0.3 * rng.standard_normal((n, 1))).astype(np.float64)
    a = np.hstack([x, np.ones((n, 1))]) if use_bias else x
    hessian = a.T @ a / n  # flat order: kernel (d,) then bias (1,), the same as a's columns
    return Case(dense_model(d, 1, use_bias=use_bias, seed=seed), half_mse, x, y, hessian)


def softmax_hessian(x, kernel):
    """Hessian of the mean softmax cross-entropy in the (d, C) kernel, flattened row-major."""
    logits = x @ kernel
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    d, c = kernel.shape
    h = np.zeros((d * c, d * c))
    for xi, pi in zip(x, p, strict=True):
        h += np.kron(np.outer(xi, xi), np.diag(pi) - np.outer(pi, pi))
    return h / len(x)


def softmax_regression(*, n=30, d=3, num_classes=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    y = rng.integers(0, num_classes, size=n).astype(np.int32)
    model = dense_model(d, num_classes, seed=seed)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, dtype="float64")
    kernel = model.get_layer("dense").kernel.numpy()
    return Case(model, loss, x, y, softmax_hessian(x, kernel))


def tiny_mlp(*, n=24, d=3, hidden=4, num_classes=3, seed=0):
    """A tanh MLP (float64) and its Hessian from nested tf.GradientTape.jacobian."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    y = rng.integers(0, num_classes, size=n).astype(np.int32)
    inputs = keras.Input((d,), dtype="float64")
    init = keras.initializers.RandomNormal(stddev=0.7, seed=seed)
    h = keras.layers.Dense(hidden, activation="tanh", dtype="float64", kernel_initializer=init)(inputs)
    h = keras.layers.Dense(
        hidden,
        activation="tanh",
        dtype="float64",
        kernel_initializer=init,
        bias_initializer=keras.initializers.RandomNormal(stddev=0.3, seed=seed + 1),
    )(h)
    out = keras.layers.Dense(num_classes, dtype="float64", kernel_initializer=init)(h)
    model = keras.Model(inputs, out)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, dtype="float64")
    return Case(model, loss, x, y, jacobian_hessian(model, loss, x, y))


def jacobian_hessian(model, loss, x, y):
    """Dense Hessian by differentiating the gradient with tf.GradientTape.jacobian (independent oracle)."""
    shapes = [tuple(v.shape) for v in model.trainable_variables]
    sizes = [int(np.prod(s)) for s in shapes]
    flat = tf.Variable(np.concatenate([v.numpy().ravel() for v in model.trainable_variables]))

    def loss_at(theta):
        parts = tf.split(theta, sizes)
        kernels = [tf.reshape(p, s) for p, s in zip(parts, shapes, strict=True)]
        values = {id(v): k for v, k in zip(model.trainable_variables, kernels, strict=True)}
        out = tf.constant(x)
        for layer in model.layers[1:]:
            out = tf.matmul(out, values[id(layer.kernel)])
            if layer.use_bias:
                out = out + values[id(layer.bias)]
            out = layer.activation(out)
        return loss(y, out)

    @tf.function
    def hessian():
        with tf.GradientTape() as outer:
            with tf.GradientTape() as inner:
                value = loss_at(flat)
            grad = inner.gradient(value, flat)
        return outer.jacobian(grad, flat)

    return hessian().numpy()
