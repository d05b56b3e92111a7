"""Basins (open sets) whose first exit times tfescape.sde.first_exit_times measures.

A basin is any object with ``contains(x) -> bool tensor`` for points x of shape [..., d] (TensorFlow,
batched, usable inside tf.function / XLA) and ``dim`` (int, or None when any dimension works). A path
has left the basin at the first step where ``contains`` is False.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from tfescape import _checks

__all__ = ["Ball", "Box", "Ellipsoid", "Predicate", "SublevelSet"]


def _vector(name, value) -> np.ndarray:
    array = np.atleast_1d(np.asarray(value, dtype=np.float64))
    if array.ndim != 1:
        raise ValueError(f"{name} must be a scalar or a vector [d], got shape {array.shape}.")
    if np.any(np.isnan(array)):
        raise ValueError(f"{name} contains NaN; give numbers (inf is allowed for an unbounded side).")
    return array


@dataclasses.dataclass(frozen=True, eq=False)
class Box:
    """The open box {x : low < x < high} (an interval in 1-D); bounds may be -inf / +inf.

    Args:
        low: lower corner, scalar or [d].
        high: upper corner, scalar or [d], > low everywhere.

    Raises:
        ValueError: shapes differ or low >= high somewhere.
    """

    low: np.ndarray
    high: np.ndarray

    def __post_init__(self):
        low, high = np.broadcast_arrays(_vector("low", self.low), _vector("high", self.high))
        if np.any(low >= high):
            raise ValueError(f"Box needs low < high in every coordinate, got low={low}, high={high}.")
        object.__setattr__(self, "low", np.array(low))
        object.__setattr__(self, "high", np.array(high))

    @property
    def dim(self) -> int:
        return self.low.shape[0]

    def contains(self, x) -> tf.Tensor:
        low = tf.constant(self.low, dtype=x.dtype)
        high = tf.constant(self.high, dtype=x.dtype)
        return tf.reduce_all((x > low) & (x < high), axis=-1)


@dataclasses.dataclass(frozen=True, eq=False)
class Ball:
    """The open Euclidean ball {x : |x - center| < radius}.

    Args:
        center: [d] (or a scalar for 1-D).
        radius: > 0.
    """

    center: np.ndarray
    radius: float

    def __post_init__(self):
        object.__setattr__(self, "center", _vector("center", self.center))
        radius = float(self.radius)
        if not (np.isfinite(radius) and radius > 0):
            raise ValueError(f"Ball radius must be finite and > 0, got {self.radius}.")
        object.__setattr__(self, "radius", radius)

    @property
    def dim(self) -> int:
        return self.center.shape[0]

    def contains(self, x) -> tf.Tensor:
        d = x - tf.constant(self.center, dtype=x.dtype)
        return tf.reduce_sum(tf.square(d), axis=-1) < self.radius**2


@dataclasses.dataclass(frozen=True, eq=False)
class Ellipsoid:
    """The quadratic basin {x : 1/2 (x - center)^T H (x - center) < height}, H symmetric positive definite.

    Args:
        center: [d].
        hessian: [d, d] symmetric positive definite, or its diagonal [d].
        height: h > 0.
    """

    center: np.ndarray
    hessian: np.ndarray
    height: float

    def __post_init__(self):
        center = _vector("center", self.center)
        h = np.asarray(self.hessian, dtype=np.float64)
        if h.ndim <= 1:
            h = np.diag(np.broadcast_to(np.atleast_1d(h), center.shape))
        if h.shape != (center.shape[0], center.shape[0]):
            raise ValueError(f"hessian must be [d, d] with d = {center.shape[0]}, got shape {h.shape}.")
        if not np.allclose(h, h.T) or np.linalg.eigvalsh(0.5 * (h + h.T)).min() <= 0:
            raise ValueError("Ellipsoid hessian must be symmetric positive definite.")
        height = float(self.height)
        if not (np.isfinite(height) and height > 0):
            raise ValueError(f"height must be finite and > 0, got {self.height}.")
        object.__setattr__(self, "center", center)
        object.__setattr__(self, "hessian", 0.5 * (h + h.T))
        object.__setattr__(self, "height", height)

    @property
    def dim(self) -> int:
        return self.center.shape[0]

    def contains(self, x) -> tf.Tensor:
        d = x - tf.constant(self.center, dtype=x.dtype)
        hd = tf.linalg.matvec(tf.constant(self.hessian, dtype=x.dtype), d)
        return 0.5 * tf.reduce_sum(d * hd, axis=-1) < self.height


@dataclasses.dataclass(frozen=True, eq=False)
class SublevelSet:
    """{x : potential(x) < level} (in practice: the connected piece around the start point, as long as
    paths cannot jump to another piece without leaving; use a Predicate to say which piece).

    Args:
        potential: callable x[..., d] -> values [...] (TensorFlow, batched).
        level: the level.
        dim: optional dimension (None: any).
    """

    potential: Callable
    level: float
    dim: int | None = None

    def __post_init__(self):
        _checks.callable_(self.potential, "SublevelSet potential")
        _checks.finite_float(self.level, "SublevelSet level")
        _checks.optional_positive_int(self.dim, "SublevelSet dim")

    def contains(self, x) -> tf.Tensor:
        return tf.convert_to_tensor(self.potential(x)) < tf.cast(self.level, x.dtype)


@dataclasses.dataclass(frozen=True, eq=False)
class Predicate:
    """Any region given by a TensorFlow predicate fn(x[..., d]) -> bool[...] (True inside).

    Args:
        fn: the predicate.
        dim: optional dimension (None: any).
    """

    fn: Callable
    dim: int | None = None

    def __post_init__(self):
        _checks.callable_(self.fn, "Predicate fn")
        _checks.optional_positive_int(self.dim, "Predicate dim")

    def contains(self, x) -> tf.Tensor:
        return tf.cast(self.fn(x), tf.bool)
