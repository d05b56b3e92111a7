"""Flatness of a minimum: Keskar et al.'s epsilon-sharpness and filter-normalized loss landscapes.

epsilon-sharpness (Keskar et al. 2017, full space, A = I): with x the flat weights and f the
data-averaged loss (in inference mode),

    C_eps = {y : |y_i| <= eps (|x_i| + 1)},
    sharpness = 100 (max_{y in C_eps} f(x + y) - f(x)) / (1 + f(x)).

The maximum is searched from a random point of the box (at a minimum the gradient vanishes, so ascent
from y = 0 would not move) either by projected steepest ascent in the box geometry,
y <- clip(y + step_size * b * sign(grad f(x + y)), -b, b) with b = eps (|x| + 1), keeping the best point
seen, or by scipy's L-BFGS-B on -f with the box as bounds. Both give lower bounds on the true maximum.

Loss landscapes (Li et al. 2018): f(x + a d1) on a line, f(x + a d1 + b d2) on a plane, along random
Gaussian directions that are filter-normalized: for every weight tensor with >= 2 axes, each filter
(slice along the last axis: an output unit of a Dense kernel, an output channel of a Conv kernel) of
the direction is rescaled to the norm of the same filter of the weights. One-axis tensors (biases,
BatchNorm gamma and beta) get a zero direction by default (Li et al.'s "ignore biasbn"), or, with
``ignore_bias_and_bn=False``, the direction equals the weights themselves. BatchNorm moving statistics
are not trainable and are never perturbed; losses are evaluated in inference mode, so BatchNorm
normalizes with its moving statistics throughout.

The model's weights are restored after every function here, also when it raises.

References:
    Keskar, Mudigere, Nocedal, Smelyanskiy & Tang (2017), On large-batch training for deep learning:
    Generalization gap and sharp minima. ICLR.
    Li, Xu, Taylor, Studer & Goldstein (2018), Visualizing the loss landscape of neural nets. NeurIPS.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from tfescape.hessian import _random
from tfescape.hessian.hvp import HessianOperator
from tfescape.hessian.probes import _operator

logger = logging.getLogger(__name__)

SHARPNESS_METHODS = ("projected_gradient", "lbfgs-b")


@dataclass(frozen=True)
class SharpnessResult:
    """Keskar epsilon-sharpness.

    Attributes:
        sharpness: 100 (max_loss - base_loss) / (1 + base_loss).
        base_loss: f(x) at the unperturbed weights.
        max_loss: the largest f(x + y) found in the box.
        epsilon: the box size eps.
        method: "projected_gradient" or "lbfgs-b".
        num_evaluations: loss-and-gradient evaluations (each one pass over the data).
        perturbation: (num_params,) the maximizing y found (flat, float64).
    """

    sharpness: float
    base_loss: float
    max_loss: float
    epsilon: float
    method: str
    num_evaluations: int
    perturbation: np.ndarray


@dataclass(frozen=True)
class LandscapeResult:
    """A loss landscape around the current weights.

    Attributes:
        alphas: (n,) coordinates along the first direction.
        betas: (p,) coordinates along the second direction, or None for a 1-D landscape.
        losses: (n,) for 1-D, (n, p) for 2-D: f(x + alphas[i] d1 [+ betas[j] d2]).
        base_loss: f(x).
        directions: (1 or 2, num_params) the flat directions used.
    """

    alphas: np.ndarray
    betas: np.ndarray | None
    losses: np.ndarray
    base_loss: float
    directions: np.ndarray


def epsilon_sharpness(
    model,
    loss,
    data,
    *,
    epsilon: float = 1e-3,
    method: str = "projected_gradient",
    max_steps: int = 20,
    step_size: float = 0.25,
    seed=None,
    **operator_options,
) -> SharpnessResult:
    """Keskar et al.'s epsilon-sharpness in the full parameter space (see module docstring).

    Args:
        model, loss, data: see :class:`~tfescape.hessian.hvp.HessianOperator` (``data`` is usually
            the training set; each step is one pass over it).
        epsilon: box size eps > 0 (Keskar et al. use 1e-3 and 5e-4).
        method: "projected_gradient" or "lbfgs-b".
        max_steps: ascent steps, or L-BFGS-B iterations.
        step_size: fraction of the box half-width per ascent step (projected_gradient).
        seed: seed of the random starting point in the box.
        **operator_options: variables, layers, include_model_losses, strategy (the box then covers
            only the chosen variables).

    Returns:
        SharpnessResult.

    Raises:
        ValueError: unknown method, epsilon <= 0, max_steps < 1, bad model/data/loss.
    """
    if method not in SHARPNESS_METHODS:
        raise ValueError(f"Unknown method {method!r}. Choose one of {', '.join(SHARPNESS_METHODS)}.")
    if not 0 < epsilon < np.inf or max_steps < 1 or not 0 < step_size < np.inf:
        raise ValueError(
            f"Need epsilon > 0, max_steps >= 1 and step_size > 0; got {epsilon}, {max_steps}, {step_size}."
        )
    op = _operator(model, loss, data, operator_options)
    x = op.get_flat_weights()
    bound = epsilon * (np.abs(x) + 1.0)
    (start_seed,) = _random.split_seeds(seed, 1, salt="epsilon_sharpness")
    unit = tf.random.stateless_uniform([op.dim], seed=start_seed, minval=-1, maxval=1, dtype=tf.float64)
    y0 = 0.5 * bound * unit.numpy()
    counter = [0]

    def loss_and_grad(y):
        op.set_flat_weights(x + y)
        counter[0] += 1
        value, grad = op.loss_and_gradient()
        if not np.isfinite(value):
            value, grad = -np.inf, np.zeros_like(grad)
        return value, grad

    try:
        base = _finite_base_loss(op.loss())
        if method == "projected_gradient":
            best_value, best_y = _projected_ascent(loss_and_grad, y0, bound, max_steps, step_size)
        else:
            best_value, best_y = _lbfgsb_ascent(loss_and_grad, y0, bound, max_steps)
    finally:
        op.set_flat_weights(x)
    best_value = max(best_value, base)
    return SharpnessResult(
        sharpness=100.0 * (best_value - base) / (1.0 + base),
        base_loss=base,
        max_loss=best_value,
        epsilon=float(epsilon),
        method=method,
        num_evaluations=counter[0],
        perturbation=best_y,
    )


def _projected_ascent(loss_and_grad, y, bound, max_steps, step_size):
    best_value, best_y = -np.inf, y
    for _ in range(max_steps):
        value, grad = loss_and_grad(y)
        if value > best_value:
            best_value, best_y = value, y
        y = np.clip(y + step_size * bound * np.sign(grad), -bound, bound)
    value, _ = loss_and_grad(y)
    if value > best_value:
        best_value, best_y = value, y
    return best_value, best_y


def _lbfgsb_ascent(loss_and_grad, y0, bound, max_steps):
    from scipy.optimize import minimize

    best = {"value": -np.inf, "y": y0}

    def negative(y):
        value, grad = loss_and_grad(y)
        if value > best["value"]:
            best["value"], best["y"] = value, y.copy()
        return -value, -grad

    minimize(
        negative,
        y0,
        jac=True,
        method="L-BFGS-B",
        bounds=list(zip(-bound, bound, strict=True)),
        options={"maxiter": max_steps},
    )
    return best["value"], best["y"]


def filter_normalized_direction(
    op: HessianOperator, *, seed=None, ignore_bias_and_bn: bool = True
) -> np.ndarray:
    """A random Gaussian direction, filter-normalized to the operator's current weights (Li et al.).

    Args:
        op: a HessianOperator (its variables define the space).
        seed: seed of the Gaussian draw.
        ignore_bias_and_bn: zero direction on one-axis tensors (biases, BatchNorm gamma/beta);
            otherwise the direction equals the weights there.

    Returns:
        (op.dim,) flat float64 direction.
    """
    if not isinstance(op, HessianOperator):
        raise ValueError(f"op must be a HessianOperator, got {type(op).__name__}.")
    (draw_seed,) = _random.split_seeds(seed, 1, salt="filter_normalized_direction")
    raw = op.unflatten(_random.normal_vector(draw_seed, op.dim))
    weights = op.unflatten(op.get_flat_weights())
    parts = []
    for d, w in zip(raw, weights, strict=True):
        if w.ndim <= 1:
            parts.append(np.zeros_like(w) if ignore_bias_and_bn else w.copy())
            continue
        axes = tuple(range(w.ndim - 1))  # each filter is a slice along the last axis
        d_norm = np.sqrt((d**2).sum(axis=axes, keepdims=True))
        w_norm = np.sqrt((w**2).sum(axis=axes, keepdims=True))
        parts.append(d * w_norm / np.maximum(d_norm, np.finfo(float).tiny))
    return op.flatten(parts)


def loss_landscape_1d(
    model,
    loss,
    data,
    *,
    alphas=None,
    seed=None,
    direction=None,
    ignore_bias_and_bn: bool = True,
    **operator_options,
) -> LandscapeResult:
    """f(x + a d) along a filter-normalized random direction d (Li et al. 2018).

    Args:
        model, loss, data: see :class:`~tfescape.hessian.hvp.HessianOperator`.
        alphas: coordinates a (default 41 points in [-1, 1]).
        seed: seed of the direction.
        direction: a flat (num_params,) direction to use instead of a random one.
        ignore_bias_and_bn: see :func:`filter_normalized_direction`.
        **operator_options: variables, layers, include_model_losses, strategy.

    Returns:
        LandscapeResult with losses of shape (len(alphas),).
    """
    op = _operator(model, loss, data, operator_options)
    alphas = _coordinates(alphas, "alphas")
    d = _direction(op, direction, seed, ignore_bias_and_bn, "direction")
    x = op.get_flat_weights()
    try:
        base = _finite_base_loss(op.loss())
        losses = np.array([_loss_at(op, x + a * d) for a in alphas])
    finally:
        op.set_flat_weights(x)
    return LandscapeResult(alphas, None, losses, base, d[None])


def loss_landscape_2d(
    model,
    loss,
    data,
    *,
    alphas=None,
    betas=None,
    seed=None,
    directions=None,
    ignore_bias_and_bn: bool = True,
    **operator_options,
) -> LandscapeResult:
    """f(x + a d1 + b d2) on a grid, along two filter-normalized random directions (Li et al. 2018).

    Args:
        model, loss, data: see :class:`~tfescape.hessian.hvp.HessianOperator`.
        alphas, betas: coordinates (default 21 points in [-1, 1] each).
        seed: seed of the two directions.
        directions: a (2, num_params) array of directions to use instead of random ones.
        ignore_bias_and_bn: see :func:`filter_normalized_direction`.
        **operator_options: variables, layers, include_model_losses, strategy.

    Returns:
        LandscapeResult with losses of shape (len(alphas), len(betas)).
    """
    op = _operator(model, loss, data, operator_options)
    alphas = _coordinates(alphas, "alphas", num=21)
    betas = _coordinates(betas, "betas", num=21)
    if directions is None:
        seeds = _random.split_seeds(seed, 2, salt="loss_landscape_2d")
        d1, d2 = (
            filter_normalized_direction(op, seed=s, ignore_bias_and_bn=ignore_bias_and_bn) for s in seeds
        )
    else:
        directions = np.asarray(directions, dtype=np.float64)
        if directions.shape != (2, op.dim):
            raise ValueError(f"directions must have shape (2, {op.dim}), got {directions.shape}.")
        d1, d2 = directions
    x = op.get_flat_weights()
    try:
        base = _finite_base_loss(op.loss())
        losses = np.array([[_loss_at(op, x + a * d1 + b * d2) for b in betas] for a in alphas])
    finally:
        op.set_flat_weights(x)
    return LandscapeResult(alphas, betas, losses, base, np.stack([d1, d2]))


def _finite_base_loss(value: float) -> float:
    if not np.isfinite(value):
        raise ValueError(
            f"The loss at the given weights is {value}, not a finite number, so there is no minimum to "
            "measure: check the model (did training diverge?) and the data (NaN/inf inputs) first."
        )
    return value


def _loss_at(op, weights):
    op.set_flat_weights(weights)
    return op.loss()


def _coordinates(values, name, num=41):
    values = np.linspace(-1.0, 1.0, num) if values is None else np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0 or not np.isfinite(values).all():
        raise ValueError(f"{name} must be a non-empty array of finite numbers.")
    return values


def _direction(op, direction, seed, ignore_bias_and_bn, name):
    if direction is None:
        return filter_normalized_direction(op, seed=seed, ignore_bias_and_bn=ignore_bias_and_bn)
    direction = np.asarray(direction, dtype=np.float64).ravel()
    if direction.shape != (op.dim,) or not np.isfinite(direction).all():
        raise ValueError(f"{name} must be a finite flat vector of length {op.dim}.")
    return direction
