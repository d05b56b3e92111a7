"""The discrete SGD and Adam algorithms with injected symmetric alpha-stable gradient noise.

Each iteration sees the gradient g_k = grad F(theta_k) + xi_k with xi_k = -Sigma S_k, S_k iid SaS(1) per
coordinate (the paper's noise model). The algorithms share the process interface of tfescape.sde.processes
(``init``, ``step(state, dt, dL)``, ``position``) with a fixed time step dt = eta, and read their noise
from a Levy increment dL = eta^(1/alpha) S, so an algorithm and its SDE can be driven by the same draws:

* NoisySGD: theta_{k+1} = theta_k - eta g_k = theta_k - eta grad F + eta^(1 - 1/alpha) Sigma dL_k, which is
  exactly the Euler-Maruyama step of SGDSDE with dt = eta and eps = eta^((alpha-1)/alpha).
* NoisyAdam: m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) u, theta -= eta m_hat / (sqrt(v_hat) + epsilon),
  m_hat = m / (1 - b1^k), v_hat = v / (1 - b2^k) (Kingma & Ba 2015; epsilon outside the bias correction
  of v as in Kingma & Ba and Keras). u = g^2 by default (the real algorithm, whose v then sees the
  heavy-tailed noise); with ``noisy_second_moment=False``, u = grad F^2 + p, the model behind AdamSDE.
  With beta_1 > 0 a noise value enters m and moves theta over about 1 / (1 - beta_1) steps while the drift
  already pulls back, so at a finite learning rate the largest excursion after a big kick is smaller than
  the SDE's jump and discrete Adam escapes more slowly than AdamSDE; the gap vanishes as eta -> 0 and
  ``tfescape.sde.theory.momentum_attenuation`` predicts it (``predict_escape(..., beta_1=...)``).

References:
    Kingma & Ba (2015), Adam: A Method for Stochastic Optimization. ICLR.
    Zhou et al. (2020), Towards Theoretically Understanding Why SGD Generalizes Better Than ADAM. NeurIPS.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from tfescape import _checks
from tfescape.sde.increments import validate_alpha
from tfescape.sde.processes import NoiseMatrix, SGDState, _as_tensor, _zero_drift

__all__ = ["NoisyAdam", "NoisyAdamState", "NoisySGD"]


def _check_rate(learning_rate) -> float:
    eta = float(learning_rate)
    if not (math.isfinite(eta) and eta > 0):
        raise ValueError(f"learning_rate must be finite and > 0, got {learning_rate}.")
    return eta


class NoisyAdamState(NamedTuple):
    """State of noisy Adam.

    Attributes:
        x: parameters theta, shape [..., d].
        m: first moment, shape [..., d].
        v: second moment, shape [..., d].
        k: number of steps taken (float), shape [...].
    """

    x: tf.Tensor
    m: tf.Tensor
    v: tf.Tensor
    k: tf.Tensor


class NoisySGD:
    """SGD with injected SaS gradient noise; its time step is dt = learning_rate.

    Args:
        grad_fn: callable x[..., d] -> grad F(x) (TensorFlow, batched); None for zero.
        learning_rate: eta > 0.
        alpha: tail index of the noise, in (0, 2].
        sigma: scalar, diagonal [d] or full [d, d] noise matrix.
        dtype: float32 or float64.
    """

    def __init__(self, grad_fn, *, learning_rate, alpha, sigma=1.0, dtype=tf.float32):
        self.alpha = validate_alpha(alpha)
        self.learning_rate = _check_rate(learning_rate)
        self.time_step = self.learning_rate
        self.sigma = NoiseMatrix(sigma)
        self.grad_fn = _zero_drift if grad_fn is None else _checks.callable_(grad_fn, "grad_fn")
        self.dtype = tf.as_dtype(dtype)

    def init(self, x0, *, t0=0.0) -> SGDState:
        """Initial state at x0 [..., d]."""
        x = tf.convert_to_tensor(x0, dtype=self.dtype)
        return SGDState(x=x, t=tf.fill(tf.shape(x)[:-1], _as_tensor(t0, self.dtype)))

    def position(self, state) -> tf.Tensor:
        """Parameters theta, shape [..., d]."""
        return state.x

    def gradient_noise(self, dl) -> tf.Tensor:
        """xi = -Sigma S with S = dL / eta^(1/alpha)."""
        return -self.sigma.apply(dl) / self.learning_rate ** (1.0 / self.alpha)

    def step(self, state, dt, dl) -> SGDState:
        """theta - eta (grad F(theta) + xi); ``dt`` is ignored (it is eta by construction)."""
        del dt
        g = tf.convert_to_tensor(self.grad_fn(state.x), dtype=self.dtype) + self.gradient_noise(dl)
        return SGDState(x=state.x - self.learning_rate * g, t=state.t + self.learning_rate)


class NoisyAdam:
    """Adam with injected SaS gradient noise; its time step is dt = learning_rate.

    Args:
        grad_fn: callable x[..., d] -> grad F(x) (TensorFlow, batched).
        learning_rate: eta > 0.
        alpha: tail index of the noise, in (0, 2].
        sigma: scalar, diagonal [d] or full [d, d] noise matrix.
        beta_1, beta_2: discrete betas in [0, 1).
        epsilon: Adam's epsilon (>= 0).
        noisy_second_moment: True (default): v averages g^2 of the noisy gradient, as the algorithm does.
            False: v averages grad F^2 + noise_power, the AdamSDE model.
        noise_power: p >= 0 (scalar or [d]), used when noisy_second_moment is False.
        dtype: float32 or float64.
    """

    def __init__(
        self,
        grad_fn,
        *,
        learning_rate,
        alpha,
        sigma=1.0,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        noisy_second_moment=True,
        noise_power=0.0,
        dtype=tf.float32,
    ):
        self.alpha = validate_alpha(alpha)
        self.learning_rate = _check_rate(learning_rate)
        self.time_step = self.learning_rate
        self.sigma = NoiseMatrix(sigma)
        self.grad_fn = _zero_drift if grad_fn is None else _checks.callable_(grad_fn, "grad_fn")
        for name, value in (("beta_1", beta_1), ("beta_2", beta_2)):
            if not 0.0 <= float(value) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {value}.")
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        if not float(epsilon) >= 0:
            raise ValueError(f"epsilon must be >= 0, got {epsilon}.")
        self.epsilon = float(epsilon)
        self.noisy_second_moment = bool(noisy_second_moment)
        power = np.asarray(noise_power, dtype=np.float64)
        if power.ndim > 1 or not np.all(np.isfinite(power)) or np.any(power < 0):
            raise ValueError("noise_power must be a finite scalar or vector [d] with entries >= 0.")
        self.noise_power = power
        self.dtype = tf.as_dtype(dtype)

    def init(self, x0, *, m0=0.0, v0=None, k0=0) -> NoisyAdamState:
        """Initial state at x0 [..., d]; v0 defaults to noise_power; k0 steps already taken."""
        x = tf.convert_to_tensor(x0, dtype=self.dtype)
        v0 = self.noise_power if v0 is None else v0
        m = tf.zeros_like(x) + _as_tensor(m0, self.dtype)
        v = tf.zeros_like(x) + _as_tensor(v0, self.dtype)
        return NoisyAdamState(x=x, m=m, v=v, k=tf.fill(tf.shape(x)[:-1], _as_tensor(float(k0), self.dtype)))

    def position(self, state) -> tf.Tensor:
        """Parameters theta, shape [..., d]."""
        return state.x

    def step(self, state, dt, dl) -> NoisyAdamState:
        """One Adam iteration with gradient grad F + xi, xi = -Sigma dL / eta^(1/alpha); dt is ignored."""
        del dt
        grad = tf.convert_to_tensor(self.grad_fn(state.x), dtype=self.dtype)
        g = grad - self.sigma.apply(dl) / self.learning_rate ** (1.0 / self.alpha)
        if self.noisy_second_moment:
            u = tf.square(g)
        else:
            u = tf.square(grad) + tf.constant(self.noise_power, dtype=self.dtype)
        m = self.beta_1 * state.m + (1.0 - self.beta_1) * g
        v = self.beta_2 * state.v + (1.0 - self.beta_2) * u
        k = state.k + 1.0
        m_hat = m / (1.0 - tf.pow(tf.cast(self.beta_1, self.dtype), k))[..., None]
        v_hat = v / (1.0 - tf.pow(tf.cast(self.beta_2, self.dtype), k))[..., None]
        x = state.x - self.learning_rate * m_hat / (tf.sqrt(v_hat) + self.epsilon)
        return NoisyAdamState(x=x, m=m, v=v, k=k)
