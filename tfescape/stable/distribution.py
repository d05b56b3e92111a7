"""Stable and SymmetricStable: alpha-stable laws as TensorFlow Probability distributions.

The math lives in :mod:`tfescape.stable.stable_math` (densities, distribution functions, characteristic
function) and :mod:`tfescape.stable.sampling` (Chambers-Mallows-Stuck); the classes here are thin, in the
style of ``tfp.distributions.StudentT``.

Conventions (DESIGN.md): ``SymmetricStable(alpha, scale)`` has E exp(iuX) = exp(-scale^alpha |u|^alpha); at
alpha = 2 it is N(loc, 2 scale^2). ``Stable(alpha, beta, scale, loc, parameterization)`` uses Nolan's S0
(default) or S1 parameterization exactly as ``scipy.stats.levy_stable`` does with
``levy_stable.parameterization = "S0"`` / ``"S1"``.

Accuracy (float64 internally; measured against scipy, 40-digit tail series and Fourier-inversion
quadrature, see tests/stable and benchmarks/README.md): relative error of prob/cdf/survival about 1e-11 for
symmetric laws and 1e-10 for skewed ones over 0.5 <= alpha <= 2 and the whole real line, including the far
tails (1e-14 against the series) and alpha within 3e-3 of 1 (1e-8). Accuracy degrades, without NaN, on the
light side of |beta| = 1 laws where the density is below ~1e-9 (about 1e-6 there; no reference is better),
and is not guaranteed for alpha < 0.5 (2.8e-13 measured at alpha = 0.3, 0.4, but not systematically
tested). ``log_prob`` is computed in log space: it stays finite where the density underflows (light tails,
|x| up to 1e300) and is -inf only outside the support (alpha < 1, beta = +-1). float32 inputs are
evaluated in float64 and cast back. From 1000 points per law on (a sample under one law), prob/cdf/
survival use a checked per-law interpolant of the same quadrature (agreement below 1e-8 relative, with the
quadrature as fallback where a check fails), 20-80x faster than the pointwise quadrature.

References:
    Nolan (1997), Numerical calculation of stable densities and distribution functions.
    Nolan (2020), Univariate Stable Distributions. Springer.
    Chambers, Mallows & Stuck (1976), A method for simulating stable random variables. JASA 71.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from tensorflow_probability.python.internal import (
    assert_util,
    dtype_util,
    parameter_properties,
    tensor_util,
)

from tfescape.stable import stable_math
from tfescape.stable.sampling import stable_sample, symmetric_stable_sample

__all__ = ["Stable", "SymmetricStable"]

tfb = tfp.bijectors
tfd = tfp.distributions


def _static_check(name, value, low, high, *, low_open, high_open, hint):
    """ValueError for Python/NumPy constants out of range (tensors are checked by validate_args)."""
    static = tf.get_static_value(tf.convert_to_tensor(value)) if not tensor_util.is_ref(value) else None
    if static is None:
        return
    static = np.asarray(static, dtype=np.float64)
    bad = ~np.isfinite(static)
    if low is not None:
        bad |= (static <= low) if low_open else (static < low)
    if high is not None:
        bad |= (static >= high) if high_open else (static > high)
    if np.any(bad):
        raise ValueError(f"`{name}` must be {hint}; got {static[bad].ravel()[:5].tolist()}.")


def _check_alpha_scale(alpha, scale):
    _static_check("alpha", alpha, 0.0, 2.0, low_open=True, high_open=False, hint="in (0, 2]")
    _static_check("scale", scale, 0.0, None, low_open=True, high_open=False, hint="positive and finite")


def _common_assertions(alpha, scale, is_init, validate_args):
    if not validate_args:
        return []
    out = []
    if is_init != tensor_util.is_ref(alpha):
        out += [
            assert_util.assert_positive(alpha, message="`alpha` must be in (0, 2]."),
            assert_util.assert_less_equal(
                alpha, tf.constant(2.0, alpha.dtype), message="`alpha` must be in (0, 2]."
            ),
        ]
    if is_init != tensor_util.is_ref(scale):
        out.append(assert_util.assert_positive(scale, message="`scale` must be positive."))
    return out


class _StableBase(tfd.AutoCompositeTensorDistribution):
    """Shared methods; subclasses provide ``_beta_tensor`` and ``_parameterization_name``."""

    def _params(self):
        alpha = tf.convert_to_tensor(self._alpha)
        return alpha, self._beta_tensor(), tf.convert_to_tensor(self._scale), tf.convert_to_tensor(self._loc)

    def _log_prob(self, x):
        return stable_math.log_prob(x, *self._params(), self._parameterization_name)

    def _prob(self, x):
        return stable_math.prob(x, *self._params(), self._parameterization_name)

    def _cdf(self, x):
        return stable_math.cdf(x, *self._params(), self._parameterization_name)

    def _log_cdf(self, x):
        return stable_math.log_cdf(x, *self._params(), self._parameterization_name)

    def _survival_function(self, x):
        return stable_math.survival_function(x, *self._params(), self._parameterization_name)

    def _log_survival_function(self, x):
        return stable_math.log_survival_function(x, *self._params(), self._parameterization_name)

    def characteristic_function(self, t, name="characteristic_function"):
        """E exp(i t X), complex64 for float32 laws and complex128 for float64 ones.

        Args:
            t: real points, broadcast against the batch shape.
            name: name scope.

        Returns:
            Complex tensor of the broadcast shape.
        """
        with self._name_and_control_scope(name):
            t = tf.convert_to_tensor(t, dtype=self.dtype)
            return stable_math.characteristic_function(t, *self._params(), self._parameterization_name)

    def _mean_s0_shift(self, alpha, beta, scale):
        return tf.zeros_like(alpha)

    def _mean(self):
        alpha, beta, scale, loc = self._params()
        shape = self._batch_shape_tensor(alpha=alpha, scale=scale, loc=loc)
        safe_alpha = tf.where(alpha > 1.0, alpha, tf.ones_like(alpha) * 1.5)
        mean = tf.broadcast_to(loc + self._mean_s0_shift(safe_alpha, beta, scale), shape)
        if self.allow_nan_stats:
            return tf.where(tf.broadcast_to(alpha, shape) > 1.0, mean, tf.constant(np.nan, self.dtype))
        with tf.control_dependencies(
            [
                assert_util.assert_less(
                    tf.ones([], self.dtype), alpha, message="The mean is undefined for alpha <= 1."
                )
            ]
        ):
            return tf.identity(mean)

    def _variance(self):
        alpha, _, scale, loc = self._params()
        shape = self._batch_shape_tensor(alpha=alpha, scale=scale, loc=loc)
        var = tf.broadcast_to(2.0 * tf.square(scale), shape)
        return tf.where(tf.broadcast_to(alpha, shape) >= 2.0, var, tf.constant(np.inf, self.dtype))

    def _default_event_space_bijector(self):
        return tfb.Identity(validate_args=self.validate_args)

    @property
    def alpha(self):
        """Stability (tail) index in (0, 2]."""
        return self._alpha

    @property
    def scale(self):
        """Scale parameter (Nolan's gamma)."""
        return self._scale

    @property
    def loc(self):
        """Location parameter (Nolan's delta in the chosen parameterization)."""
        return self._loc

    @property
    def levy_measure_constant(self):
        """c_alpha = Gamma(1 + alpha) sin(pi alpha / 2) / pi (DESIGN.md), per batch member."""
        return stable_math.levy_measure_constant(tf.convert_to_tensor(self._alpha))


class Stable(_StableBase):
    """Alpha-stable law S(alpha, beta, scale, loc) in Nolan's S0 (default) or S1 parameterization.

    The standardized law Z1 (scale 1, loc 0) of S1 has E exp(iuZ1) = exp(-|u|^alpha (1 - i beta sign(u)
    tan(pi alpha/2))) for alpha != 1 and exp(-|u| (1 + i beta (2/pi) sign(u) log|u|)) at alpha = 1. S1 is
    X = loc + scale Z1 (plus (2/pi) beta scale log(scale) at alpha = 1); S0 is X = loc + scale Z0 with
    Z0 = Z1 - beta tan(pi alpha/2) (Z0 = Z1 at alpha = 1), which is continuous in alpha and is the default.
    Both equal ``scipy.stats.levy_stable(alpha, beta, loc, scale)`` with ``levy_stable.parameterization``
    set to "S0" or "S1".

    Statistics: mean (alpha > 1) is loc - beta scale tan(pi alpha/2) in S0 and loc in S1; for alpha <= 1 it
    is undefined: NaN when ``allow_nan_stats`` (TFP's convention), an error otherwise. The variance is
    2 scale^2 at alpha = 2 and +inf for alpha < 2.

    Example:
        >>> d = Stable(alpha=1.5, beta=0.5, scale=2.0, loc=0.0)
        >>> x = d.sample(1000, seed=42)
        >>> d.log_prob(x).shape
        TensorShape([1000])

    References:
        Nolan (2020), Univariate Stable Distributions, Springer, Definitions 1.7 and 1.8.
    """

    def __init__(
        self,
        alpha,
        beta,
        scale=1.0,
        loc=0.0,
        parameterization="S0",
        validate_args=False,
        allow_nan_stats=True,
        name="Stable",
    ):
        """Construct stable laws; parameters broadcast against each other.

        Args:
            alpha: stability index in (0, 2].
            beta: skewness in [-1, 1].
            scale: scale > 0.
            loc: location.
            parameterization: "S0" (default) or "S1", as scipy.stats.levy_stable spells them.
            validate_args: check parameter ranges in the graph (InvalidArgumentError), TFP's convention.
            allow_nan_stats: NaN for undefined statistics (else raise).
            name: name scope.

        Raises:
            ValueError: for a bad ``parameterization``, or parameters that are constants out of range.
        """
        parameters = dict(locals())
        if parameterization not in ("S0", "S1"):
            raise ValueError(
                "parameterization must be 'S0' or 'S1' (as in scipy.stats.levy_stable), "
                f"got {parameterization!r}."
            )
        _check_alpha_scale(alpha, scale)
        _static_check("loc", loc, None, None, low_open=False, high_open=False, hint="finite")
        _static_check("beta", beta, -1.0, 1.0, low_open=False, high_open=False, hint="in [-1, 1]")
        with tf.name_scope(name) as name:
            dtype = dtype_util.common_dtype([alpha, beta, scale, loc], dtype_hint=tf.float32)
            self._alpha = tensor_util.convert_nonref_to_tensor(alpha, dtype=dtype, name="alpha")
            self._beta = tensor_util.convert_nonref_to_tensor(beta, dtype=dtype, name="beta")
            self._scale = tensor_util.convert_nonref_to_tensor(scale, dtype=dtype, name="scale")
            self._loc = tensor_util.convert_nonref_to_tensor(loc, dtype=dtype, name="loc")
            self._parameterization = parameterization
            super().__init__(
                dtype=dtype,
                reparameterization_type=tfd.FULLY_REPARAMETERIZED,
                validate_args=validate_args,
                allow_nan_stats=allow_nan_stats,
                parameters=parameters,
                name=name,
            )

    @classmethod
    def _parameter_properties(cls, dtype, num_classes=None):
        return dict(
            alpha=parameter_properties.ParameterProperties(
                default_constraining_bijector_fn=lambda: tfb.Sigmoid(
                    low=tf.constant(dtype_util.eps(dtype), dtype), high=tf.constant(2.0, dtype)
                )
            ),
            beta=parameter_properties.ParameterProperties(
                default_constraining_bijector_fn=lambda: tfb.Sigmoid(
                    low=tf.constant(-1.0, dtype), high=tf.constant(1.0, dtype)
                )
            ),
            scale=parameter_properties.ParameterProperties(
                default_constraining_bijector_fn=lambda: tfb.Softplus(low=dtype_util.eps(dtype))
            ),
            loc=parameter_properties.ParameterProperties(),
        )

    @property
    def beta(self):
        """Skewness in [-1, 1]."""
        return self._beta

    @property
    def parameterization(self):
        """ "S0" or "S1"."""
        return self._parameterization

    @property
    def _parameterization_name(self):
        return self._parameterization

    def _beta_tensor(self):
        return tf.convert_to_tensor(self._beta)

    def _mean_s0_shift(self, alpha, beta, scale):
        if self._parameterization == "S1":
            return tf.zeros_like(alpha * beta * scale)
        return -beta * scale * tf.tan(np.pi * alpha / 2.0)

    def _sample_n(self, n, seed=None):
        alpha, beta, scale, loc = self._params()
        batch_shape = self._batch_shape_tensor(alpha=alpha, beta=beta, scale=scale, loc=loc)
        shape = tf.concat([[n], batch_shape], axis=0)
        return stable_sample(
            shape,
            alpha,
            beta,
            scale=scale,
            loc=loc,
            parameterization=self._parameterization,
            seed=seed,
            dtype=self.dtype,
        )

    def _parameter_control_dependencies(self, is_init):
        out = _common_assertions(self._alpha, self._scale, is_init, self.validate_args)
        if self.validate_args and is_init != tensor_util.is_ref(self._beta):
            out += [
                assert_util.assert_less_equal(
                    tf.abs(self._beta), tf.constant(1.0, self.dtype), message="`beta` must be in [-1, 1]."
                )
            ]
        return out


class SymmetricStable(_StableBase):
    """Symmetric alpha-stable law SaS(alpha, scale) + loc: E exp(iu(X - loc)) = exp(-scale^alpha |u|^alpha).

    At alpha = 2 this is N(loc, 2 scale^2), at alpha = 1 the Cauchy law with scale ``scale``. It equals
    ``scipy.stats.levy_stable(alpha, 0, loc, scale)`` in either parameterization, and ``Stable`` with
    beta = 0. Sampling uses the dtype-native symmetric Chambers-Mallows-Stuck sampler. The mean is ``loc``
    for alpha > 1 (NaN or an error for alpha <= 1, per ``allow_nan_stats``); the mode and median are ``loc``.

    Example:
        >>> d = SymmetricStable(alpha=1.7, scale=0.1)
        >>> float(d.cdf(0.0))
        0.5
    """

    def __init__(
        self, alpha, scale=1.0, loc=0.0, validate_args=False, allow_nan_stats=True, name="SymmetricStable"
    ):
        """Construct SaS laws; parameters broadcast against each other.

        Args:
            alpha: stability (tail) index in (0, 2].
            scale: scale s > 0.
            loc: location (centre of symmetry).
            validate_args: check parameter ranges in the graph (InvalidArgumentError).
            allow_nan_stats: NaN for undefined statistics (else raise).
            name: name scope.

        Raises:
            ValueError: for parameters that are constants out of range.
        """
        parameters = dict(locals())
        _check_alpha_scale(alpha, scale)
        _static_check("loc", loc, None, None, low_open=False, high_open=False, hint="finite")
        with tf.name_scope(name) as name:
            dtype = dtype_util.common_dtype([alpha, scale, loc], dtype_hint=tf.float32)
            self._alpha = tensor_util.convert_nonref_to_tensor(alpha, dtype=dtype, name="alpha")
            self._scale = tensor_util.convert_nonref_to_tensor(scale, dtype=dtype, name="scale")
            self._loc = tensor_util.convert_nonref_to_tensor(loc, dtype=dtype, name="loc")
            super().__init__(
                dtype=dtype,
                reparameterization_type=tfd.FULLY_REPARAMETERIZED,
                validate_args=validate_args,
                allow_nan_stats=allow_nan_stats,
                parameters=parameters,
                name=name,
            )

    @classmethod
    def _parameter_properties(cls, dtype, num_classes=None):
        return dict(
            alpha=parameter_properties.ParameterProperties(
                default_constraining_bijector_fn=lambda: tfb.Sigmoid(
                    low=tf.constant(dtype_util.eps(dtype), dtype), high=tf.constant(2.0, dtype)
                )
            ),
            scale=parameter_properties.ParameterProperties(
                default_constraining_bijector_fn=lambda: tfb.Softplus(low=dtype_util.eps(dtype))
            ),
            loc=parameter_properties.ParameterProperties(),
        )

    _parameterization_name = "S0"

    def _beta_tensor(self):
        return tf.zeros([], self.dtype)

    def _sample_n(self, n, seed=None):
        alpha = tf.convert_to_tensor(self._alpha)
        scale = tf.convert_to_tensor(self._scale)
        loc = tf.convert_to_tensor(self._loc)
        batch_shape = self._batch_shape_tensor(alpha=alpha, scale=scale, loc=loc)
        shape = tf.concat([[n], batch_shape], axis=0)
        return loc + symmetric_stable_sample(shape, alpha, scale=scale, seed=seed, dtype=self.dtype)

    def _mode(self):
        loc = tf.convert_to_tensor(self._loc)
        return tf.broadcast_to(loc, self._batch_shape_tensor(loc=loc))

    def _parameter_control_dependencies(self, is_init):
        return _common_assertions(self._alpha, self._scale, is_init, self.validate_args)
