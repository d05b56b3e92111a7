"""Levy-driven SDEs of SGD and Adam as init/step pairs (Euler-Maruyama).

SGD   d theta = -grad F(theta) dt + eps Sigma dL_t
Adam  d theta = -mu_t Q_t^-1 m_t dt + eps Q_t^-1 Sigma dL_t
      dm = beta_1 (grad F(theta) - m) dt,   dv = beta_2 (grad F(theta)^2 + p - v) dt,
      Q_t = diag(sqrt(omega_t v_t) + epsilon),
      mu_t = 1/(1 - exp(-beta_1 t)),  omega_t = 1/(1 - exp(-beta_2 t)),

with L_t a standard coordinate-wise alpha-stable Levy process (tfescape.sde.increments) and
eps = eta^((alpha - 1)/alpha) when a learning rate eta is given (one SGD step of rate eta is dt = eta of SDE
time, DESIGN.md). ``p`` (``noise_power``, default 0) is the part of Adam's second moment that comes from
gradient noise; with p = 0, v follows the squared full gradient exactly as in the DESIGN.md equations.

A process is a plain object with ``init(x0) -> state``, ``step(state, dt, dL) -> state`` and
``position(state) -> x``; states are NamedTuples whose fields all carry the batch axes of x, so a batch of
paths is a batch of states, and a state can be a tf.while_loop variable. The scheme is
X_{k+1} = X_k + b(X_k) dt + G dL_k with dL_k = dt^(1/alpha) S_k; for Adam, m and v are advanced first and
the new (m, v, t) are used for the theta step, in the order of the Adam algorithm (this also avoids the
singular bias correction at t = 0).

References:
    Zhou, Feng, Ma, Xiong, Hoi & E (2020), Towards Theoretically Understanding Why SGD Generalizes Better
        Than ADAM in Deep Learning. NeurIPS. (eqs. for the SGD and Adam SDEs)
    Simsekli, Sagun & Gurbuzbalaban (2019), A Tail-Index Analysis of Stochastic Gradient Noise in Deep
        Neural Networks. ICML.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from tfescape import _checks
from tfescape.sde.increments import validate_alpha

__all__ = ["SDE_MODELS", "AdamSDE", "AdamState", "SGDSDE", "SGDState", "NoiseMatrix", "resolve_eps"]

SDE_MODELS = ("sgd", "adam")
"""Optimizer families (tfescape.optimizers.specs) with a Levy SDE model here: SGDSDE and AdamSDE, in order."""


class SGDState(NamedTuple):
    """State of the SGD SDE (or of noisy SGD).

    Attributes:
        x: positions, shape [..., d].
        t: SDE time of each path, shape [...].
    """

    x: tf.Tensor
    t: tf.Tensor


class AdamState(NamedTuple):
    """State of the Adam SDE.

    Attributes:
        x: positions theta, shape [..., d].
        m: first-moment estimate, shape [..., d].
        v: second-moment estimate, shape [..., d].
        t: SDE time of each path, shape [...].
    """

    x: tf.Tensor
    m: tf.Tensor
    v: tf.Tensor
    t: tf.Tensor


def resolve_eps(alpha, *, eps=None, learning_rate=None) -> float:
    """Noise level eps, given directly or from a learning rate as eps = eta^((alpha - 1)/alpha).

    Raises:
        ValueError: both or neither of eps and learning_rate given, or a non-positive value.
    """
    alpha = validate_alpha(alpha)
    if (eps is None) == (learning_rate is None):
        raise ValueError("Give exactly one of eps= (the noise level) or learning_rate= (eta).")
    if eps is not None:
        eps = float(eps)
        if not (math.isfinite(eps) and eps > 0):
            raise ValueError(f"eps must be finite and > 0, got {eps}.")
        return eps
    eta = float(learning_rate)
    if not (math.isfinite(eta) and eta > 0):
        raise ValueError(f"learning_rate must be finite and > 0, got {eta}.")
    return eta ** ((alpha - 1.0) / alpha)


class NoiseMatrix:
    """The noise matrix Sigma: a scalar, a diagonal (vector of length d) or a full d x d matrix.

    Args:
        sigma: scalar, shape [d] or shape [d, d]; all entries finite.

    Raises:
        ValueError: wrong rank, non-square matrix or non-finite entries.
    """

    def __init__(self, sigma):
        array = np.asarray(sigma, dtype=np.float64)
        if array.ndim > 2 or (array.ndim == 2 and array.shape[0] != array.shape[1]):
            raise ValueError(
                f"sigma must be a scalar, a diagonal [d] or a square [d, d] matrix, got shape {array.shape}."
            )
        if not np.all(np.isfinite(array)):
            raise ValueError("sigma has non-finite entries.")
        self.array = array
        self.kind = ("scalar", "diagonal", "full")[array.ndim]

    @property
    def dim(self) -> int | None:
        """The dimension d, or None for a scalar."""
        return None if self.kind == "scalar" else self.array.shape[0]

    def dense(self, dim: int) -> np.ndarray:
        """Sigma as a float64 [dim, dim] matrix."""
        if self.dim is not None and self.dim != dim:
            raise ValueError(f"sigma has dimension {self.dim} but the problem has dimension {dim}.")
        if self.kind == "scalar":
            return float(self.array) * np.eye(dim)
        if self.kind == "diagonal":
            return np.diag(self.array)
        return self.array.copy()

    def apply(self, dl: tf.Tensor) -> tf.Tensor:
        """Sigma dL for increments dL of shape [..., d]."""
        s = tf.constant(self.array, dtype=dl.dtype)
        if self.kind == "full":
            return tf.linalg.matvec(s, dl)
        return s * dl


def _as_tensor(value, dtype) -> tf.Tensor:
    """A Python number or tensor as a tensor of ``dtype`` (numbers converted directly, not via float32)."""
    if isinstance(value, (tf.Tensor, tf.Variable)):
        return tf.cast(value, dtype)
    return tf.convert_to_tensor(value, dtype=dtype)


def _zero_drift(x):
    return tf.zeros_like(x)


class SGDSDE:
    """The Levy-driven SDE of SGD: d theta = -grad F(theta) dt + eps Sigma dL_t.

    Args:
        grad_fn: callable x[..., d] -> grad F(x)[..., d] in TensorFlow (batched over leading axes);
            None for no drift (a pure Levy process eps Sigma L_t).
        alpha: tail index in (0, 2].
        eps: noise level; or give ``learning_rate`` eta and eps = eta^((alpha-1)/alpha).
        learning_rate: eta (see eps).
        sigma: scalar, diagonal [d] or full [d, d] noise matrix Sigma.
        dtype: float32 (default) or float64.

    Raises:
        ValueError: alpha outside (0, 2], not exactly one of eps / learning_rate, bad sigma.

    Example:
        >>> sde = SGDSDE(lambda x: 2.0 * x, alpha=1.5, eps=0.1)
        >>> state = sde.init(tf.zeros([100, 1]))
        >>> state = sde.step(state, 1e-2, levy_increments([100, 1], 1.5, 1e-2, seed=0))
    """

    def __init__(self, grad_fn, *, alpha, eps=None, learning_rate=None, sigma=1.0, dtype=tf.float32):
        self.alpha = validate_alpha(alpha)
        self.eps = resolve_eps(self.alpha, eps=eps, learning_rate=learning_rate)
        self.learning_rate = None if learning_rate is None else float(learning_rate)
        self.sigma = NoiseMatrix(sigma)
        self.grad_fn = _zero_drift if grad_fn is None else _checks.callable_(grad_fn, "grad_fn")
        self.dtype = tf.as_dtype(dtype)

    def noise_matrix(self, dim: int) -> np.ndarray:
        """G = eps Sigma as a float64 [dim, dim] matrix (the matrix the exit-law theory uses)."""
        return self.eps * self.sigma.dense(dim)

    def init(self, x0, *, t0=0.0) -> SGDState:
        """Initial state at positions x0 [..., d] and time t0."""
        x = tf.convert_to_tensor(x0, dtype=self.dtype)
        return SGDState(x=x, t=tf.fill(tf.shape(x)[:-1], _as_tensor(t0, self.dtype)))

    def position(self, state: SGDState) -> tf.Tensor:
        """Positions theta, shape [..., d]."""
        return state.x

    def drift(self, state: SGDState) -> tf.Tensor:
        """b(theta) = -grad F(theta)."""
        return -tf.convert_to_tensor(self.grad_fn(state.x), dtype=self.dtype)

    def step(self, state: SGDState, dt, dl) -> SGDState:
        """One Euler-Maruyama step: x + b(x) dt + eps Sigma dL.

        Args:
            state: current state.
            dt: time step (Python float or scalar tensor).
            dl: Levy increments dL = dt^(1/alpha) S, shape [..., d].
        """
        dt = _as_tensor(dt, self.dtype)
        x = state.x + self.drift(state) * dt + self.eps * self.sigma.apply(dl)
        return SGDState(x=x, t=state.t + dt)


class AdamSDE:
    """The Levy-driven SDE of Adam (Zhou et al. 2020), see the module docstring for the equations.

    Args:
        grad_fn: callable x[..., d] -> grad F(x)[..., d] (TensorFlow, batched).
        alpha: tail index in (0, 2].
        eps: noise level; or give ``learning_rate`` eta and eps = eta^((alpha-1)/alpha).
        learning_rate: eta (see eps).
        sigma: scalar, diagonal [d] or full [d, d] noise matrix Sigma.
        beta_1: rate of the first-moment ODE (continuous time, > 0). A discrete Adam beta b1 at learning
            rate eta corresponds to (1 - b1)/eta; see ``from_discrete``.
        beta_2: rate of the second-moment ODE (> 0); a discrete b2 corresponds to (1 - b2)/eta.
        epsilon: Adam's epsilon inside Q_t = diag(sqrt(omega_t v_t) + epsilon), >= 0.
        noise_power: p >= 0, scalar or [d]: the gradient-noise part of the second moment that v tracks
            (dv = beta_2 (grad F^2 + p - v) dt). With p > 0 and v started at p, Q stays near sqrt(p) + epsilon
            at a minimum, as for a trained Adam whose v is dominated by noise.
        dtype: float32 (default) or float64.

    Raises:
        ValueError: bad alpha, eps/learning_rate, beta_1/beta_2 <= 0, epsilon < 0 or noise_power < 0.
    """

    def __init__(
        self,
        grad_fn,
        *,
        alpha,
        eps=None,
        learning_rate=None,
        sigma=1.0,
        beta_1,
        beta_2,
        epsilon=1e-8,
        noise_power=0.0,
        dtype=tf.float32,
    ):
        self.alpha = validate_alpha(alpha)
        self.eps = resolve_eps(self.alpha, eps=eps, learning_rate=learning_rate)
        self.learning_rate = None if learning_rate is None else float(learning_rate)
        self.sigma = NoiseMatrix(sigma)
        self.grad_fn = _zero_drift if grad_fn is None else _checks.callable_(grad_fn, "grad_fn")
        for name, value in (("beta_1", beta_1), ("beta_2", beta_2)):
            if not (math.isfinite(float(value)) and float(value) > 0):
                raise ValueError(f"{name} is a continuous-time rate and must be > 0, got {value}.")
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        if not float(epsilon) >= 0:
            raise ValueError(f"epsilon must be >= 0, got {epsilon}.")
        self.epsilon = float(epsilon)
        power = np.asarray(noise_power, dtype=np.float64)
        if power.ndim > 1 or not np.all(np.isfinite(power)) or np.any(power < 0):
            raise ValueError("noise_power must be a finite scalar or vector [d] with entries >= 0.")
        self.noise_power = power
        self.dtype = tf.as_dtype(dtype)

    @classmethod
    def from_discrete(cls, grad_fn, *, alpha, learning_rate, beta_1=0.9, beta_2=0.999, **kwargs) -> AdamSDE:
        """The SDE of discrete Adam with learning rate eta and betas b1, b2: rates (1 - b)/eta, eps from eta.

        Raises:
            ValueError: a beta outside [0, 1) or a bad learning rate.
        """
        for name, value in (("beta_1", beta_1), ("beta_2", beta_2)):
            if not 0.0 <= float(value) < 1.0:
                raise ValueError(f"discrete {name} must be in [0, 1), got {value}.")
        eta = float(learning_rate)
        if not (math.isfinite(eta) and eta > 0):
            raise ValueError(f"learning_rate must be finite and > 0, got {learning_rate}.")
        return cls(
            grad_fn,
            alpha=alpha,
            learning_rate=eta,
            beta_1=(1.0 - float(beta_1)) / eta,
            beta_2=(1.0 - float(beta_2)) / eta,
            **kwargs,
        )

    def noise_matrix(self, dim: int, preconditioner) -> np.ndarray:
        """G = eps Q^-1 Sigma for a given diagonal preconditioner Q (shape [d] or scalar), float64 [d, d]."""
        q = np.broadcast_to(np.asarray(preconditioner, dtype=np.float64), (dim,))
        return self.eps * self.sigma.dense(dim) / q[:, None]

    def stationary_preconditioner(self, dim: int) -> np.ndarray:
        """Q at a minimum (grad F = 0, v settled at p, bias corrections 1): sqrt(p) + epsilon."""
        return np.sqrt(np.broadcast_to(self.noise_power, (dim,))) + self.epsilon

    def init(self, x0, *, m0=0.0, v0=None, t0=0.0) -> AdamState:
        """Initial state at x0 [..., d]: m = m0, v = v0 (default: noise_power), time t0.

        Use a large t0 (e.g. 1e3 / min(beta_1, beta_2)) to start "after training", where the bias
        corrections mu_t, omega_t are 1.
        """
        x = tf.convert_to_tensor(x0, dtype=self.dtype)
        v0 = self.noise_power if v0 is None else v0
        m = tf.zeros_like(x) + _as_tensor(m0, self.dtype)
        v = tf.zeros_like(x) + _as_tensor(v0, self.dtype)
        return AdamState(x=x, m=m, v=v, t=tf.fill(tf.shape(x)[:-1], _as_tensor(t0, self.dtype)))

    def position(self, state: AdamState) -> tf.Tensor:
        """Positions theta, shape [..., d]."""
        return state.x

    def preconditioner(self, v, t) -> tf.Tensor:
        """Q_t = sqrt(omega_t v) + epsilon with omega_t = 1/(1 - exp(-beta_2 t)); t of shape v.shape[:-1]."""
        omega = 1.0 / -tf.math.expm1(-self.beta_2 * t)
        return tf.sqrt(omega[..., None] * v) + self.epsilon

    def step(self, state: AdamState, dt, dl) -> AdamState:
        """One Euler-Maruyama step (m, v first, then theta with the new m, v, t).

        Args:
            state: current state.
            dt: time step.
            dl: Levy increments dL = dt^(1/alpha) S, shape [..., d].
        """
        dt = _as_tensor(dt, self.dtype)
        g = tf.convert_to_tensor(self.grad_fn(state.x), dtype=self.dtype)
        power = tf.constant(self.noise_power, dtype=self.dtype)
        m = state.m + self.beta_1 * (g - state.m) * dt
        v = state.v + self.beta_2 * (tf.square(g) + power - state.v) * dt
        t = state.t + dt
        mu = 1.0 / -tf.math.expm1(-self.beta_1 * t)
        q = self.preconditioner(v, t)
        x = state.x - mu[..., None] * m / q * dt + self.eps * self.sigma.apply(dl) / q
        return AdamState(x=x, m=m, v=v, t=t)
