"""Small-noise exit law of Levy-driven SDEs: escape measure nu(W), mean exit times, SGD vs Adam.

Setting (DESIGN.md). X solves dX = b(X) dt + G dL_t with L_t a standard alpha-stable Levy process with
independent SaS(1) coordinates (E exp(iu L_1,j) = exp(-|u|^alpha)); X starts at a stable point x* of
the drift inside a basin Omega that the deterministic flow keeps invariant. G = eps Sigma for SGD and
G = eps Q^-1 Sigma for Adam (Q the diagonal preconditioner at the minimum, frozen).

Derivation.
 1. Levy measure of one coordinate: nu_1(dz) = c_alpha |z|^(-1-alpha) dz,
    c_alpha = Gamma(1 + alpha) sin(pi alpha / 2) / pi,
    so nu_1(|z| > r) = (2 c_alpha / alpha) r^-alpha and nu_1(z > r) = (c_alpha / alpha) r^-alpha.
 2. With independent coordinates the jumps of L lie on the axes: L jumps by z e_i at rate nu_1(dz) for
    each i, so X jumps by z g_i with g_i = G e_i (column i of G).
 3. Small noise (Imkeller & Pavlyukevich 2006): between big jumps X stays within o(1) of x*; the first
    exit happens at the first jump that carries x* + z g_i outside Omega (a smaller jump is undone by the
    drift before the next big one arrives). Jumps of this kind form a Poisson process of rate
        nu(W) = sum_i nu_1({z : x* + z g_i not in Omega}),
    so the exit time is asymptotically exponential with mean E tau ~ 1 / nu(W).
 4. For a convex Omega (interval, box, ball, ellipsoid) the ray {x* + z g_i} leaves Omega at
    z = +z_i+ and z = -z_i- (z_i+-, > 0), and
        nu(W) = sum_i (c_alpha / alpha) (z_i+^-alpha + z_i-^-alpha).
    Interval (a, b) in 1-D with G = s:  nu = (c_alpha / alpha) s^alpha ((b - x*)^-alpha + (x* - a)^-alpha).
 5. Quadratic basin Omega = {1/2 d^T H d < h}, d = x - x*: the ray leaves where z^2 g_i^T H g_i / 2 = h,
    z_i+- = sqrt(2 h / (g_i^T H g_i)), hence
        nu(W) = sum_i (2 c_alpha / alpha) (g_i^T H g_i / (2 h))^(alpha/2).
    SGD: g_i = eps Sigma e_i; Adam: g_i = eps Q^-1 Sigma e_i. nu scales as eps^alpha and h^(-alpha/2):
    E tau ~ eps^-alpha h^(alpha/2), i.e. E tau grows like (basin width)^alpha (width sqrt(2h/lambda)).
 6. The paper's form (Zhou et al. 2020): Gamma = O(1 / (Theta m(W))) with Theta = (2 / alpha) eps^alpha.
    We report Theta and m(W) := nu(W) / Theta, i.e. m(W) = (alpha / 2) nu(W) at eps = 1 (the Radon
    measure of the unit-noise escape set in the paper's normalization), so Theta m(W) = nu(W).

 7. Discrete Adam at a finite learning rate eta (``momentum_attenuation``). Near the minimum, with Q frozen
    and the bias corrections at 1, Adam is the linear recursion
        m_{k+1} = b1 m_k + (1 - b1) (H d_k + xi_k),   d_{k+1} = d_k - eta Q^-1 m_{k+1}.
    A single large noise value xi_0 = -z Q g_i / eta would move d by z g_i in one step without momentum
    (b1 = 0, which is the Euler step of the SDE with dt = eta). With momentum it enters m with weight
    (1 - b1) and is paid out over about 1 / (1 - b1) steps while H d_k already pulls back: d_k = z r_k with
        r_0 = 0, m_1 = -(1 - b1) Q g_i / eta, then the recursion with xi = 0,
    and the path leaves {1/2 d^T H d < h} during the kick when z^2 max_k r_k^T H r_k / 2 >= h. Step 5 then
    holds with g_i replaced by a_i g_i, a_i = (max_k r_k^T H r_k / g_i^T H g_i)^(1/2) in (0, 1]: the
    discrete escape rate is nu(W) with G e_i -> a_i G e_i, smaller by about sum_i a_i^alpha w_i / sum_i w_i.
    a_i depends on eta only through eta (1 - b1)^-1 Q^-1 H (the pull-back during the pay-out) and tends to 1
    as eta -> 0, slowly (1 - a_i ~ r log(1/r) with r = eta lambda / (1 - b1)); b1 = 0 gives a_i = 1 exactly.
    Measured on a 2-D anisotropic basin (tests/sde/test_exit_theory.py), discrete Adam with b1 = 0.9 over
    its SDE, both driven by the same increments: 1.44-1.62 at eta = 0.01 (predicted 1.50), 1.18-1.26 at
    eta = 0.0025 (1.19) and 1.04-1.09 at eta = 0.000625 (1.07).

The law is an asymptotic as eps -> 0. At finite eps the path is spread around x* (relative corrections
of order eps^alpha), and an Euler-Maruyama simulation adds a dt bias; compare at small eps and dt.

Drift-free check (Getoor 1961): for the standard isotropic stable process with E exp(iuX_t) =
exp(-t |u|^alpha) (in 1-D this is exactly our SaS(1) Levy process) started at x in the interval (-r, r),
    E_x tau = sqrt(pi) (r^2 - x^2)^(alpha/2) / (2^alpha Gamma(1 + alpha/2) Gamma((1 + alpha)/2)),
and for the process s L_t the time is divided by s^alpha. At alpha = 2 (L_t = sqrt(2) B_t) this gives
(r^2 - x^2)/2, the Brownian value.

References:
    Imkeller & Pavlyukevich (2006), First exit times of SDEs driven by stable Levy processes.
        Stochastic Processes and their Applications 116, 611-642.
    Imkeller, Pavlyukevich & Wetzel (2010), Hierarchy of metastable states of Levy-driven SDEs.
        Annals of Probability 38.
    Getoor (1961), First passage times for symmetric stable processes in space. Trans. AMS 101, 75-90.
    Zhou, Feng, Ma, Xiong, Hoi & E (2020), Towards Theoretically Understanding Why SGD Generalizes Better
        Than ADAM in Deep Learning. NeurIPS.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import special

from tfescape import _checks
from tfescape.sde.increments import validate_alpha

__all__ = [
    "EscapePrediction",
    "OptimizerEscape",
    "predict_optimizer_escape",
    "preconditioner_projection",
    "adam_noise_matrix",
    "ball_escape_rate",
    "box_escape_rate",
    "getoor_mean_exit_time",
    "interval_escape_rate",
    "levy_constant",
    "momentum_attenuation",
    "paper_form",
    "predict_escape",
    "quadratic_escape_rate",
    "sgd_noise_matrix",
]


def levy_constant(alpha) -> float:
    """c_alpha = Gamma(1 + alpha) sin(pi alpha / 2) / pi, the Levy density constant of SaS(1)."""
    import tensorflow as tf

    from tfescape.stable.stable_math import levy_measure_constant

    alpha = validate_alpha(alpha)
    return float(levy_measure_constant(tf.constant(alpha, tf.float64)))


def _positive(name, value) -> float:
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be finite and > 0, got {value}.")
    return value


def _matrix(name, g) -> np.ndarray:
    g = np.asarray(g, dtype=np.float64)
    if g.ndim == 0:
        g = g.reshape(1, 1)
    if g.ndim != 2 or g.shape[0] != g.shape[1] or g.size == 0 or not np.all(np.isfinite(g)):
        raise ValueError(
            f"{name} must be a finite square [d, d] matrix (or a scalar in 1-D), got shape {g.shape}."
        )
    return g


def _rate_from_rays(alpha, z_plus, z_minus) -> float:
    """sum_i (c_alpha / alpha) (z_i+^-alpha + z_i-^-alpha); infinite distances contribute 0."""
    c = levy_constant(alpha) / alpha
    z = np.concatenate([np.ravel(z_plus), np.ravel(z_minus)])
    if np.any(z <= 0):
        raise ValueError("the start point must lie strictly inside the basin.")
    with np.errstate(divide="ignore"):
        return float(c * np.sum(np.where(np.isfinite(z), z, np.inf) ** -alpha))


def interval_escape_rate(*, alpha, scale, low, high, x0=0.0) -> float:
    """nu(W) of x0 + s L leaving (low, high) in 1-D: (c_alpha/alpha) s^alpha ((high-x0)^-a + (x0-low)^-a).

    Args:
        alpha: tail index in (0, 2].
        scale: s = eps sigma > 0.
        low, high: the interval (may be -inf / +inf).
        x0: start point (the minimum), low < x0 < high.

    Returns:
        The escape rate nu(W); the predicted mean exit time is 1 / nu(W).
    """
    alpha = validate_alpha(alpha)
    s = _positive("scale", scale)
    if not float(low) < float(x0) < float(high):
        raise ValueError(f"x0={x0} must lie inside ({low}, {high}).")
    return _rate_from_rays(alpha, (float(high) - x0) / s, (x0 - float(low)) / s)


def box_escape_rate(*, alpha, noise_matrix, low, high, x0) -> float:
    """nu(W) for coordinate-wise noise G dL from x0 inside the box (low, high); G = noise_matrix [d, d].

    The ray x0 + z g_i leaves the box at the nearest face in each direction.
    """
    alpha = validate_alpha(alpha)
    g = _matrix("noise_matrix", noise_matrix)
    d = g.shape[0]
    _checks.finite_array(x0, "x0")
    for name, bound in (("low", low), ("high", high)):
        if np.any(np.isnan(np.asarray(bound, np.float64))):
            raise ValueError(f"{name} contains NaN; give the box's faces as numbers (inf for an open side).")
    low = np.broadcast_to(np.asarray(low, np.float64), (d,))
    high = np.broadcast_to(np.asarray(high, np.float64), (d,))
    x0 = np.broadcast_to(np.asarray(x0, np.float64), (d,))
    if np.any(x0 <= low) or np.any(x0 >= high):
        raise ValueError("x0 must lie strictly inside the box.")
    z_plus, z_minus = np.full(d, np.inf), np.full(d, np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        for i in range(d):
            col = g[:, i]
            up = np.where(col > 0, (high - x0) / col, np.where(col < 0, (low - x0) / col, np.inf))
            down = np.where(col > 0, (x0 - low) / col, np.where(col < 0, (x0 - high) / col, np.inf))
            z_plus[i], z_minus[i] = np.min(up), np.min(down)
    return _rate_from_rays(alpha, z_plus, z_minus)


def _quadratic_rays(a, b, c):
    """Roots z+ > 0 and -z- < 0 of a z^2 + b z + c = 0 with a >= 0, c < 0 (start inside)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        root = np.sqrt(b * b - 4 * a * c)
        z_plus = np.where(a > 0, (-b + root) / (2 * a), np.where(b > 0, -c / b, np.inf))
        z_minus = np.where(a > 0, (b + root) / (2 * a), np.where(b < 0, c / b, np.inf))
    return z_plus, z_minus


def ball_escape_rate(*, alpha, noise_matrix, center, radius, x0=None) -> float:
    """nu(W) for coordinate-wise noise G dL from x0 (default: the center) inside the ball |x - c| < r."""
    alpha = validate_alpha(alpha)
    g = _matrix("noise_matrix", noise_matrix)
    radius = _positive("radius", radius)
    _checks.finite_array(center, "center")
    if x0 is not None:
        _checks.finite_array(x0, "x0")
    center = np.broadcast_to(np.asarray(center, np.float64), (g.shape[0],))
    offset = np.zeros_like(center) if x0 is None else np.asarray(x0, np.float64) - center
    c = float(offset @ offset) - radius**2
    if c >= 0:
        raise ValueError("x0 must lie strictly inside the ball.")
    return _rate_from_rays(alpha, *_quadratic_rays(np.sum(g * g, axis=0), 2 * offset @ g, c))


def quadratic_escape_rate(*, alpha, noise_matrix, hessian, height, x0=None, center=None) -> float:
    """nu(W) for coordinate-wise noise G dL leaving the basin {1/2 (x-c)^T H (x-c) < h}.

    At x0 = center: nu(W) = sum_i (2 c_alpha / alpha) ((G e_i)^T H (G e_i) / (2 h))^(alpha/2).

    Args:
        alpha: tail index in (0, 2].
        noise_matrix: G, [d, d] (a scalar in 1-D).
        hessian: H, [d, d] symmetric positive semi-definite, or its diagonal [d].
        height: h > 0.
        x0: start point (default: the center).
        center: the minimum (default: 0).
    """
    alpha = validate_alpha(alpha)
    g = _matrix("noise_matrix", noise_matrix)
    d = g.shape[0]
    h = _hessian_matrix(hessian, d)
    height = _positive("height", height)
    for name, point in (("x0", x0), ("center", center)):
        if point is not None:
            _checks.finite_array(point, name)
    center = np.zeros(d) if center is None else np.broadcast_to(np.asarray(center, np.float64), (d,))
    offset = np.zeros(d) if x0 is None else np.asarray(x0, np.float64) - center
    c = 0.5 * float(offset @ h @ offset) - height
    if c >= 0:
        raise ValueError("x0 must lie strictly inside the quadratic basin.")
    hg = h @ g
    return _rate_from_rays(alpha, *_quadratic_rays(0.5 * np.sum(g * hg, axis=0), offset @ hg, c))


def _hessian_matrix(hessian, dim) -> np.ndarray:
    h = np.asarray(hessian, np.float64)
    if h.ndim <= 1:
        h = np.diag(np.broadcast_to(np.atleast_1d(h), (dim,)))
    if h.shape != (dim, dim) or not np.all(np.isfinite(h)):
        raise ValueError(f"hessian must be [d, d] or [d] with d = {dim}, got shape {np.shape(hessian)}.")
    return 0.5 * (h + h.T)


def momentum_attenuation(
    *,
    noise_matrix,
    hessian,
    learning_rate,
    beta_1,
    preconditioner=1.0,
    inverse_preconditioner=None,
    max_iterations=10**7,
) -> np.ndarray:
    """Per-column factors a_i in (0, 1] by which discrete momentum shrinks the jumps G e_i (step 7 above).

    Discrete Adam (or RMSprop-style momentum, Q = preconditioner) at learning rate eta with first-moment
    decay b1 pays a large gradient-noise value out over about 1 / (1 - b1) steps while the drift pulls
    back, so the largest excursion reaches a_i times the jump of the SDE. Use the result as
    ``quadratic_escape_rate(noise_matrix=G * a, ...)`` for the escape rate of the discrete algorithm.

    Args:
        noise_matrix: G, [d, d] (a scalar in 1-D); column i is the jump direction of noise coordinate i.
        hessian: H at the minimum, [d, d] or its diagonal [d] (positive definite).
        learning_rate: eta > 0.
        beta_1: discrete first-moment decay b1 in [0, 1).
        preconditioner: diag Q, scalar or [d], entries > 0 (1 for SGD-like updates).
        inverse_preconditioner: instead of ``preconditioner``, a full invertible P = Q^-1 [d, d] (e.g.
            V^T Q^-1 V, a diagonal Q seen in a subspace); the update is then d -= eta P m.
        max_iterations: cap on the recursion length.

    Returns:
        float64 array [d] of a_i; all ones when beta_1 = 0.

    Raises:
        ValueError: bad shapes, beta_1 outside [0, 1), non-positive learning rate or preconditioner, or a
            recursion that has not peaked within ``max_iterations`` (eta too small for the cap).
    """
    g = _matrix("noise_matrix", noise_matrix)
    dim = g.shape[0]
    h = _hessian_matrix(hessian, dim)
    eta = _positive("learning_rate", learning_rate)
    b1 = float(beta_1)
    if not 0.0 <= b1 < 1.0:
        raise ValueError(f"beta_1 must be in [0, 1), got {beta_1}.")
    if inverse_preconditioner is None:
        q = np.broadcast_to(np.asarray(preconditioner, np.float64), (dim,))
        if np.any(~np.isfinite(q)) or np.any(q <= 0):
            raise ValueError("preconditioner entries must be finite and > 0.")

        def apply_p(x):
            return x / q[:, None]

        p_inverse_g = q[:, None] * g
    else:
        p = _matrix("inverse_preconditioner", inverse_preconditioner)
        if p.shape != (dim, dim):
            raise ValueError(f"inverse_preconditioner must be [{dim}, {dim}], got {p.shape}.")

        def apply_p(x):
            return p @ x

        p_inverse_g = np.linalg.solve(p, g)
    energy_sde = np.einsum("ij,ik,kj->j", g, h, g)
    if np.any(energy_sde <= 0):
        raise ValueError("every column of noise_matrix must have g^T H g > 0 (H positive definite).")
    if b1 == 0.0:
        return np.ones(dim)  # the whole kick lands in one step, as in the SDE's Euler step
    # Columns are independent kicks: advance all of them at once.
    m = -(1.0 - b1) * p_inverse_g / eta
    d = -eta * apply_p(m)
    peak = np.einsum("ij,ik,kj->j", d, h, d)
    fading = b1  # b1^k: the kick's remaining weight in m
    for _ in range(int(max_iterations)):
        m = b1 * m + (1.0 - b1) * (h @ d)
        d = d - eta * apply_p(m)
        energy = np.einsum("ij,ik,kj->j", d, h, d)
        peak = np.maximum(peak, energy)
        fading *= b1
        # Past the peak: the kick is spent and every excursion has fallen well below its maximum.
        if fading < 1e-12 and np.all(energy < 0.25 * peak):
            return np.sqrt(np.minimum(peak / energy_sde, 1.0))
    raise ValueError(
        f"the momentum recursion did not settle within max_iterations={max_iterations}; "
        "raise max_iterations (a very small learning rate needs many steps)."
    )


def sgd_noise_matrix(*, eps, sigma, dim) -> np.ndarray:
    """G = eps Sigma, with Sigma a scalar, a diagonal [d] or a full [d, d] matrix."""
    dim = _checks.positive_int(dim, "dim")
    sigma = _checks.finite_array(sigma, "sigma")
    dense = np.diag(np.broadcast_to(sigma, (dim,))) if sigma.ndim <= 1 else sigma
    return _positive("eps", eps) * dense


def adam_noise_matrix(*, eps, sigma, preconditioner, dim) -> np.ndarray:
    """G = eps Q^-1 Sigma with Q = diag(preconditioner) (scalar or [d], entries > 0)."""
    q = np.broadcast_to(np.asarray(preconditioner, np.float64), (dim,))
    if np.any(~np.isfinite(q)) or np.any(q <= 0):
        raise ValueError("preconditioner entries must be finite and > 0.")
    return sgd_noise_matrix(eps=eps, sigma=sigma, dim=dim) / q[:, None]


def paper_form(rate, *, alpha, eps) -> tuple[float, float]:
    """(Theta, m(W)) with Theta = (2/alpha) eps^alpha and m(W) = nu(W) / Theta (Zhou et al. 2020)."""
    alpha = validate_alpha(alpha)
    rate = _checks.nonnegative_float(rate, "rate")
    theta = 2.0 / alpha * _positive("eps", eps) ** alpha
    return theta, float(rate) / theta


def getoor_mean_exit_time(*, alpha, radius, scale=1.0, x0=0.0) -> float:
    """E_x tau of s L_t (1-D, drift-free) from (-r, r), Getoor (1961); see the module docstring."""
    alpha = validate_alpha(alpha)
    r = _positive("radius", radius)
    s = _positive("scale", scale)
    if not abs(x0) < r:
        raise ValueError(f"x0={x0} must lie inside (-{r}, {r}).")
    const = math.sqrt(math.pi) / (2**alpha * special.gamma(1 + alpha / 2) * special.gamma((1 + alpha) / 2))
    return const * (r * r - x0 * x0) ** (alpha / 2) / s**alpha


@dataclasses.dataclass(frozen=True)
class OptimizerEscape:
    """Predicted escape of one optimizer from the quadratic basin {1/2 d^T H d < h} of a minimum.

    Times are SDE time (one iteration of learning rate eta is dt = eta).

    Attributes:
        alpha: tail index used; eps: noise level; learning_rate: eta, or None when eps was given.
        noise_matrix: G = eps P diag(noise_scale), [d, d], with P = Q^-1 (or V^T Q^-1 V in a basis V).
        rate: escape rate nu(W); mean_exit_time: 1 / nu(W).
        iterations: mean_exit_time / eta, or None.
        theta, m_w: the paper's Theta = (2/alpha) eps^alpha and m(W) = nu(W) / Theta.
        discrete_mean_exit_time: exit time of the discrete algorithm with first-moment decay beta_1 at this
            learning rate (momentum_attenuation applied), or None when beta_1 or eta was not given.
        discrete_iterations: the same in iterations, or None.
    """

    alpha: float
    eps: float
    learning_rate: float | None
    noise_matrix: np.ndarray
    rate: float
    mean_exit_time: float
    iterations: float | None
    theta: float
    m_w: float
    discrete_mean_exit_time: float | None = None
    discrete_iterations: float | None = None


def predict_optimizer_escape(
    *,
    alpha,
    noise_scale,
    hessian,
    height,
    preconditioner=None,
    basis=None,
    learning_rate=None,
    eps=None,
    beta_1=None,
) -> OptimizerEscape:
    """Predicted mean escape time of one optimizer with a diagonal preconditioner Q (SGD: Q = I).

    The one place an optimizer's escape is predicted: the optimizer's noise matrix is
    G = eps P diag(noise_scale) with P = Q^-1, or, when the basin lives in the span of the orthonormal
    columns of ``basis`` V (e.g. top Hessian eigenvectors of a network), P = V^T Q^-1 V with Q given per
    parameter. The rate is the quadratic-basin law (module docstring, step 5) and eps = eta^((alpha-1)/alpha).

    Args:
        alpha: tail index of the optimizer's gradient noise, in (0, 2].
        noise_scale: SaS scales of the noise in the basin's coordinates, scalar or [d].
        hessian: H in the basin's coordinates, [d, d] or its diagonal [d].
        height: basin height h > 0 (nats).
        preconditioner: diag Q, scalar, [d] or (with ``basis``) [num_params]; None is Q = I (SGD).
        basis: V, [num_params, d] orthonormal columns, or None (Q is already in the basin's coordinates).
        learning_rate: eta (eps from it). Give this or eps.
        eps: noise level.
        beta_1: first-moment decay of the discrete algorithm (Adam's beta_1; 0 or None for plain SGD).

    Returns:
        OptimizerEscape.

    Raises:
        ValueError: bad alpha, scales, preconditioner, basis shape or height, or not exactly one of
            learning_rate / eps.

    Example:
        >>> sgd = predict_optimizer_escape(alpha=1.5, noise_scale=[1.0, 0.1], hessian=[10.0, 1.0],
        ...                                height=0.5, learning_rate=0.01)
        >>> adam = predict_optimizer_escape(alpha=1.5, noise_scale=[1.0, 0.1], hessian=[10.0, 1.0],
        ...                                 height=0.5, learning_rate=0.01, preconditioner=[1.0, 0.1])
        >>> adam.mean_exit_time / sgd.mean_exit_time
    """
    from tfescape.sde.processes import resolve_eps

    alpha = validate_alpha(alpha)
    eps = resolve_eps(alpha, eps=eps, learning_rate=learning_rate)
    hess = np.asarray(hessian, np.float64)
    scale = np.atleast_1d(np.asarray(noise_scale, np.float64))
    dim = hess.shape[0] if hess.ndim >= 1 else scale.shape[0]
    if scale.ndim != 1 or scale.shape[0] not in (1, dim) or np.any(~np.isfinite(scale)) or np.any(scale < 0):
        raise ValueError(f"noise_scale must be a scalar or a vector [{dim}] of finite values >= 0.")
    scale = np.broadcast_to(scale, (dim,))
    projection = preconditioner_projection(preconditioner, dim=dim, basis=basis)
    g = eps * projection * scale[None, :]
    rate = quadratic_escape_rate(alpha=alpha, noise_matrix=g, hessian=hess, height=height)
    theta, m_w = paper_form(rate, alpha=alpha, eps=eps)
    eta = None if learning_rate is None else float(learning_rate)
    t = 1.0 / rate
    t_discrete = None
    if beta_1 is not None and eta is not None:
        attenuation = momentum_attenuation(
            noise_matrix=g,
            hessian=hess,
            learning_rate=eta,
            beta_1=beta_1,
            inverse_preconditioner=projection,
        )
        t_discrete = 1.0 / quadratic_escape_rate(
            alpha=alpha, noise_matrix=g * attenuation, hessian=hess, height=height
        )
    return OptimizerEscape(
        alpha=alpha,
        eps=eps,
        learning_rate=eta,
        noise_matrix=g,
        rate=rate,
        mean_exit_time=t,
        iterations=None if eta is None else t / eta,
        theta=theta,
        m_w=m_w,
        discrete_mean_exit_time=t_discrete,
        discrete_iterations=None if (t_discrete is None or eta is None) else t_discrete / eta,
    )


def preconditioner_projection(preconditioner=None, *, dim, basis=None) -> np.ndarray:
    """P = Q^-1 ([d, d], diagonal), or V^T Q^-1 V when Q is per parameter and V [num_params, d] a basis.

    Args:
        preconditioner: diag Q (entries finite and > 0), or None for Q = I.
        dim: d, the basin's dimension.
        basis: V with orthonormal columns, or None.

    Raises:
        ValueError: non-positive or non-finite entries, or shapes that do not match.
    """
    if basis is None:
        if preconditioner is None:
            return np.eye(dim)
        q = np.broadcast_to(np.atleast_1d(np.asarray(preconditioner, np.float64)), (dim,))
        _check_preconditioner(q)
        return np.diag(1.0 / q)
    v = np.asarray(basis, np.float64)
    if v.ndim != 2 or v.shape[1] != dim or not np.all(np.isfinite(v)):
        raise ValueError(f"basis must be a finite [num_params, {dim}] matrix, got shape {v.shape}.")
    if preconditioner is None:
        return np.eye(dim)  # V^T V = I: the basis has orthonormal columns
    q = np.asarray(preconditioner, np.float64).ravel()
    if q.shape[0] != v.shape[0]:
        raise ValueError(
            f"preconditioner must have one value per parameter ({v.shape[0]}), got {q.shape[0]}."
        )
    _check_preconditioner(q)
    return v.T @ (v / q[:, None])


def _check_preconditioner(q):
    if np.any(~np.isfinite(q)) or np.any(q <= 0):
        raise ValueError("preconditioner entries must be finite and > 0 (Q = sqrt(v_hat) + epsilon).")


@dataclasses.dataclass(frozen=True)
class EscapePrediction:
    """Predicted escape of SGD and Adam from the quadratic basin {1/2 d^T H d < h} of a minimum.

    Times are in SDE time (one iteration of learning rate eta is dt = eta); ``*_iterations`` divide by eta
    (None when eps was given instead of a learning rate).

    Attributes:
        alpha_sgd, alpha_adam: tail indices used.
        eps_sgd, eps_adam: noise levels.
        sgd_rate, adam_rate: escape rates nu(W).
        sgd_mean_exit_time, adam_mean_exit_time: 1 / nu(W).
        ratio: adam_mean_exit_time / sgd_mean_exit_time (> 1: Adam stays longer).
        theta_sgd, theta_adam: Theta = (2/alpha) eps^alpha.
        m_sgd, m_adam: m(W) = nu(W) / Theta.
        sgd_iterations, adam_iterations: mean exit times in iterations, or None.
        adam_discrete_mean_exit_time: the mean exit time of discrete Adam with first-moment decay
            ``beta_1`` at the learning rate (momentum_attenuation applied), or None when beta_1 or the
            learning rate was not given. Equal to adam_mean_exit_time when beta_1 = 0.
        adam_attenuation: the factors a_i behind it (one per noise coordinate), or None.
    """

    alpha_sgd: float
    alpha_adam: float
    eps_sgd: float
    eps_adam: float
    sgd_rate: float
    adam_rate: float
    sgd_mean_exit_time: float
    adam_mean_exit_time: float
    ratio: float
    theta_sgd: float
    theta_adam: float
    m_sgd: float
    m_adam: float
    sgd_iterations: float | None
    adam_iterations: float | None
    adam_discrete_mean_exit_time: float | None = None
    adam_attenuation: tuple[float, ...] | None = None


def predict_escape(
    *,
    alpha,
    noise_scale,
    preconditioner,
    hessian,
    height,
    learning_rate=None,
    eps=None,
    alpha_adam=None,
    beta_1=None,
) -> EscapePrediction:
    """Predicted mean escape times of SGD and Adam from a minimum, from measured quantities.

    Uses the quadratic-basin law nu(W) = sum_i (2 c_alpha/alpha) ((G e_i)^T H (G e_i) / (2 h))^(alpha/2)
    with G = eps diag(noise_scale) (SGD) and G = eps diag(preconditioner)^-1 diag(noise_scale) (Adam).

    Args:
        alpha: tail index of the gradient noise (e.g. from the noise probe).
        noise_scale: diag Sigma, scalar or [d]: per-coordinate SaS scale of the gradient noise.
        preconditioner: diag Q, scalar or [d], e.g. sqrt(v_hat) + epsilon from a trained Adam.
        hessian: H at the minimum, [d, d] or its diagonal [d].
        height: basin height h > 0 (loss barrier above the minimum).
        learning_rate: eta; eps = eta^((alpha-1)/alpha) per optimizer. Give this or eps.
        eps: noise level used for both optimizers.
        alpha_adam: tail index of Adam's noise if it differs (the paper finds Adam's lighter); default alpha.
        beta_1: Adam's discrete first-moment decay (e.g. 0.9). With a learning rate, also predicts the
            exit time of the discrete algorithm, whose momentum spreads each noise kick over ~1/(1 - b1)
            steps (module docstring, step 7).

    Returns:
        EscapePrediction.

    Raises:
        ValueError: bad alpha, non-positive scales, preconditioner or height, or not exactly one of
            learning_rate / eps.

    Example:
        >>> p = predict_escape(alpha=1.5, noise_scale=[1.0, 0.1], preconditioner=[1.0, 0.1],
        ...                    hessian=[10.0, 1.0], height=0.5, learning_rate=0.01)
        >>> p.ratio
    """
    alpha_sgd = validate_alpha(alpha)
    alpha_adam = alpha_sgd if alpha_adam is None else validate_alpha(alpha_adam)
    common = dict(
        noise_scale=noise_scale, hessian=hessian, height=height, learning_rate=learning_rate, eps=eps
    )
    sgd = predict_optimizer_escape(alpha=alpha_sgd, **common)
    adam = predict_optimizer_escape(alpha=alpha_adam, preconditioner=preconditioner, beta_1=beta_1, **common)
    attenuation = None
    if adam.discrete_mean_exit_time is not None:
        attenuation = momentum_attenuation(
            noise_matrix=adam.noise_matrix,
            hessian=hessian,
            learning_rate=learning_rate,
            beta_1=beta_1,
            inverse_preconditioner=preconditioner_projection(preconditioner, dim=adam.noise_matrix.shape[0]),
        )
    return EscapePrediction(
        alpha_sgd=sgd.alpha,
        alpha_adam=adam.alpha,
        eps_sgd=sgd.eps,
        eps_adam=adam.eps,
        sgd_rate=sgd.rate,
        adam_rate=adam.rate,
        sgd_mean_exit_time=sgd.mean_exit_time,
        adam_mean_exit_time=adam.mean_exit_time,
        ratio=adam.mean_exit_time / sgd.mean_exit_time,
        theta_sgd=sgd.theta,
        theta_adam=adam.theta,
        m_sgd=sgd.m_w,
        m_adam=adam.m_w,
        sgd_iterations=sgd.iterations,
        adam_iterations=adam.iterations,
        adam_discrete_mean_exit_time=adam.discrete_mean_exit_time,
        adam_attenuation=None if attenuation is None else tuple(float(a) for a in attenuation),
    )
