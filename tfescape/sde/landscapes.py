"""Test landscapes for escape experiments: potentials with value and gradient in TensorFlow.

Every landscape is a frozen dataclass with ``value(x)`` (x [..., d] -> [...]) and ``grad(x)``
(x [..., d] -> [..., d]), batched and usable in tf.function, plus its minima and the basins around them
as tfescape.sde.basins objects. Gradients are written out analytically (and checked against autodiff in
the tests), so a landscape is cheap to call inside a simulation loop.

* QuadraticBasin: F(x) = 1/2 (x - c)^T H (x - c), anisotropic when H has distinct eigenvalues.
* DoubleWell1D: a sharp (narrow, high-curvature) and a flat (wide, low-curvature) quadratic well of the
  same depth, joined at the barrier where they meet: F(x) = min(k_s/2 (x - a)^2, k_f/2 (x - b)^2).
* DoubleWell2D: the same with two anisotropic quadratic wells in the plane.
* AsymmetricValley: He, Huang & Yuan (2019): along the valley direction the loss rises steeply on one side
  of the minimum and slowly on the other (curvatures k_steep for x_1 < 0 and k_gentle for x_1 > 0);
  the other direction is an ordinary quadratic.

References:
    He, Huang & Yuan (2019), Asymmetric Valleys: Beyond Sharp and Flat Local Minima. NeurIPS.
    Imkeller & Pavlyukevich (2006): Levy-driven escape depends on basin widths, not heights.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from tfescape.sde.basins import Box, Ellipsoid, Predicate

__all__ = ["AsymmetricValley", "DoubleWell1D", "DoubleWell2D", "QuadraticBasin"]


def _spd(name, h, dim=None) -> np.ndarray:
    h = np.asarray(h, np.float64)
    if h.ndim <= 1:
        h = np.diag(np.atleast_1d(h) if dim is None else np.broadcast_to(np.atleast_1d(h), (dim,)))
    if h.ndim != 2 or h.shape[0] != h.shape[1] or not np.allclose(h, h.T):
        raise ValueError(f"{name} must be a symmetric [d, d] matrix or a diagonal [d], got shape {h.shape}.")
    if np.linalg.eigvalsh(h).min() <= 0:
        raise ValueError(f"{name} must be positive definite.")
    return h


def _quadratic(x, center, h):
    d = x - tf.constant(center, x.dtype)
    hd = tf.linalg.matvec(tf.constant(h, x.dtype), d)
    return 0.5 * tf.reduce_sum(d * hd, axis=-1), hd


def _positive(name, value) -> float:
    value = float(value)
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be finite and > 0, got {value}.")
    return value


@dataclasses.dataclass(frozen=True, eq=False)
class QuadraticBasin:
    """F(x) = 1/2 (x - center)^T H (x - center).

    Args:
        hessian: H, symmetric positive definite [d, d] or its diagonal [d].
        center: the minimum (default 0).
    """

    hessian: np.ndarray
    center: np.ndarray | None = None

    def __post_init__(self):
        h = _spd("hessian", self.hessian)
        center = np.zeros(h.shape[0]) if self.center is None else np.asarray(self.center, np.float64)
        if center.shape != (h.shape[0],) or not np.all(np.isfinite(center)):
            raise ValueError(f"center must be a finite point of shape [{h.shape[0]}], got {center.tolist()}.")
        object.__setattr__(self, "hessian", h)
        object.__setattr__(self, "center", center)

    @property
    def dim(self) -> int:
        return self.hessian.shape[0]

    @property
    def minimum(self) -> np.ndarray:
        return self.center

    def value(self, x):
        return _quadratic(x, self.center, self.hessian)[0]

    def grad(self, x):
        return _quadratic(x, self.center, self.hessian)[1]

    def basin(self, height) -> Ellipsoid:
        """The sublevel set {F < height} as an Ellipsoid."""
        return Ellipsoid(self.center, self.hessian, _positive("height", height))


@dataclasses.dataclass(frozen=True, eq=False)
class DoubleWell1D:
    """F(x) = min(k_s/2 (x - a)^2, k_f/2 (x - b)^2): a sharp well at a and a flat well at b > a.

    Both wells have depth 0; the barrier is where the parabolas meet,
    x_b = (sqrt(k_s) a + sqrt(k_f) b) / (sqrt(k_s) + sqrt(k_f)), so the sharp basin (-inf, x_b) has
    width sqrt(k_f) (b - a) / (sqrt(k_s) + sqrt(k_f)) and the flat one (x_b, inf) is wider when k_s > k_f.

    Args:
        sharp_curvature: k_s > 0.
        flat_curvature: k_f > 0.
        sharp_minimum: a.
        flat_minimum: b > a.
    """

    sharp_curvature: float = 16.0
    flat_curvature: float = 1.0
    sharp_minimum: float = -1.0
    flat_minimum: float = 1.0

    def __post_init__(self):
        _positive("sharp_curvature", self.sharp_curvature)
        _positive("flat_curvature", self.flat_curvature)
        if not float(self.sharp_minimum) < float(self.flat_minimum):
            raise ValueError("sharp_minimum must be < flat_minimum.")

    dim = 1

    @property
    def barrier(self) -> float:
        rs, rf = np.sqrt(self.sharp_curvature), np.sqrt(self.flat_curvature)
        return float((rs * self.sharp_minimum + rf * self.flat_minimum) / (rs + rf))

    @property
    def barrier_height(self) -> float:
        return 0.5 * self.sharp_curvature * (self.barrier - self.sharp_minimum) ** 2

    @property
    def sharp_basin(self) -> Box:
        return Box(-np.inf, self.barrier)

    @property
    def flat_basin(self) -> Box:
        return Box(self.barrier, np.inf)

    def _parts(self, x):
        qs = 0.5 * self.sharp_curvature * tf.square(x - self.sharp_minimum)
        qf = 0.5 * self.flat_curvature * tf.square(x - self.flat_minimum)
        return qs, qf

    def value(self, x):
        qs, qf = self._parts(x)
        return tf.minimum(qs, qf)[..., 0]

    def grad(self, x):
        qs, qf = self._parts(x)
        gs = self.sharp_curvature * (x - self.sharp_minimum)
        gf = self.flat_curvature * (x - self.flat_minimum)
        return tf.where(qs <= qf, gs, gf)


@dataclasses.dataclass(frozen=True, eq=False)
class DoubleWell2D:
    """F(x) = min(1/2 (x-a)^T H_s (x-a), 1/2 (x-b)^T H_f (x-b)): sharp well at a, flat well at b (2-D).

    Args:
        sharp_hessian: H_s, [2, 2] or diagonal [2] (default diag(16, 4)).
        flat_hessian: H_f (default diag(1, 0.5)).
        sharp_minimum: a (default (-1, 0)).
        flat_minimum: b (default (1, 0)).
    """

    sharp_hessian: np.ndarray = dataclasses.field(default_factory=lambda: np.array([16.0, 4.0]))
    flat_hessian: np.ndarray = dataclasses.field(default_factory=lambda: np.array([1.0, 0.5]))
    sharp_minimum: np.ndarray = dataclasses.field(default_factory=lambda: np.array([-1.0, 0.0]))
    flat_minimum: np.ndarray = dataclasses.field(default_factory=lambda: np.array([1.0, 0.0]))

    def __post_init__(self):
        object.__setattr__(self, "sharp_hessian", _spd("sharp_hessian", self.sharp_hessian, 2))
        object.__setattr__(self, "flat_hessian", _spd("flat_hessian", self.flat_hessian, 2))
        for name in ("sharp_minimum", "flat_minimum"):
            point = np.asarray(getattr(self, name), np.float64)
            if point.shape != (2,):
                raise ValueError(f"{name} must have shape [2], got {point.shape}.")
            object.__setattr__(self, name, point)

    dim = 2

    def _parts(self, x):
        return _quadratic(x, self.sharp_minimum, self.sharp_hessian), _quadratic(
            x, self.flat_minimum, self.flat_hessian
        )

    def value(self, x):
        (qs, _), (qf, _) = self._parts(x)
        return tf.minimum(qs, qf)

    def grad(self, x):
        (qs, gs), (qf, gf) = self._parts(x)
        return tf.where((qs <= qf)[..., None], gs, gf)

    @property
    def sharp_basin(self) -> Predicate:
        """Points where the sharp quadratic is the lower one."""

        def inside(x):
            (qs, _), (qf, _) = self._parts(x)
            return qs < qf

        return Predicate(inside, dim=2)

    @property
    def flat_basin(self) -> Predicate:
        def inside(x):
            (qs, _), (qf, _) = self._parts(x)
            return qf < qs

        return Predicate(inside, dim=2)


@dataclasses.dataclass(frozen=True, eq=False)
class AsymmetricValley:
    """F(x) = k(x_1)/2 x_1^2 + k_c/2 x_2^2 with k(x_1) = k_steep (x_1 < 0) or k_gentle (x_1 >= 0).

    The minimum is at 0 (F and grad F are continuous there); the sublevel set {F < h} reaches
    sqrt(2h/k_steep) to the steep side and the wider sqrt(2h/k_gentle) to the gentle side.

    Args:
        steep_curvature: k_steep > 0.
        gentle_curvature: k_gentle > 0.
        cross_curvature: k_c > 0.
    """

    steep_curvature: float = 10.0
    gentle_curvature: float = 0.5
    cross_curvature: float = 1.0

    def __post_init__(self):
        for name in ("steep_curvature", "gentle_curvature", "cross_curvature"):
            _positive(name, getattr(self, name))

    dim = 2
    minimum = np.zeros(2)

    def _curvatures(self, x):
        k1 = tf.where(
            x[..., 0] < 0, tf.cast(self.steep_curvature, x.dtype), tf.cast(self.gentle_curvature, x.dtype)
        )
        return k1, tf.cast(self.cross_curvature, x.dtype)

    def value(self, x):
        k1, k2 = self._curvatures(x)
        return 0.5 * k1 * tf.square(x[..., 0]) + 0.5 * k2 * tf.square(x[..., 1])

    def grad(self, x):
        k1, k2 = self._curvatures(x)
        return tf.stack([k1 * x[..., 0], k2 * x[..., 1]], axis=-1)

    def box(self, height) -> Box:
        """The box spanned by the sublevel set {F < height} along the axes."""
        h = _positive("height", height)
        return Box(
            [-np.sqrt(2 * h / self.steep_curvature), -np.sqrt(2 * h / self.cross_curvature)],
            [np.sqrt(2 * h / self.gentle_curvature), np.sqrt(2 * h / self.cross_curvature)],
        )
