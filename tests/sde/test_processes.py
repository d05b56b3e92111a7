import keras
import numpy as np
import pytest
import tensorflow as tf

from tfescape.sde import SGDSDE, AdamSDE, NoisyAdam, NoisySGD, levy_increments

H = np.array([[3.0, 0.5], [0.5, 1.0]])


def grad_fn(x):
    return tf.linalg.matvec(tf.constant(H, x.dtype), x)


def _inputs(seed=0, n=5, dt=0.01, alpha=1.5):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    dl = levy_increments([n, 2], alpha, dt, seed=seed, dtype=tf.float64).numpy()
    return x, dl


@pytest.mark.parametrize("sigma", [0.7, [1.0, 0.2], [[1.0, 0.3], [-0.2, 0.5]]])
def test_sgd_step_is_euler_maruyama(sigma):
    x, dl = _inputs()
    sde = SGDSDE(grad_fn, alpha=1.5, eps=0.3, sigma=sigma, dtype=tf.float64)
    out = sde.step(sde.init(x), 0.01, tf.constant(dl))
    s = np.asarray(sigma, float)
    s = s * np.eye(2) if s.ndim == 0 else (np.diag(s) if s.ndim == 1 else s)
    expected = x - 0.01 * x @ H.T + 0.3 * dl @ s.T
    np.testing.assert_allclose(out.x.numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(out.t.numpy(), 0.01)


def test_eps_from_learning_rate_and_exclusive_options():
    sde = SGDSDE(grad_fn, alpha=1.6, learning_rate=0.01)
    assert sde.eps == pytest.approx(0.01 ** (0.6 / 1.6))
    with pytest.raises(ValueError, match="exactly one"):
        SGDSDE(grad_fn, alpha=1.6, learning_rate=0.01, eps=0.1)
    with pytest.raises(ValueError, match="exactly one"):
        SGDSDE(grad_fn, alpha=1.6)


def _adam_reference(x, m, v, t, dl, *, b1, b2, eps, epsilon, p, dt, sigma):
    g = x @ H.T
    m = m + b1 * (g - m) * dt
    v = v + b2 * (g**2 + p - v) * dt
    t = t + dt
    mu = 1 / (1 - np.exp(-b1 * t))
    omega = 1 / (1 - np.exp(-b2 * t))
    q = np.sqrt(omega[:, None] * v) + epsilon
    return x - mu[:, None] * m / q * dt + eps * (dl * sigma) / q, m, v


def test_adam_step_matches_equations():
    x, dl = _inputs(1)
    kw = dict(b1=5.0, b2=0.5, eps=0.2, epsilon=1e-3, p=0.3, dt=0.01, sigma=np.array([1.0, 0.4]))
    sde = AdamSDE(
        grad_fn,
        alpha=1.5,
        eps=0.2,
        sigma=[1.0, 0.4],
        beta_1=5.0,
        beta_2=0.5,
        epsilon=1e-3,
        noise_power=0.3,
        dtype=tf.float64,
    )
    state = sde.init(x, m0=0.1, t0=0.0)
    out = sde.step(state, 0.01, tf.constant(dl))
    ex, em, ev = _adam_reference(x, np.full_like(x, 0.1), np.full_like(x, 0.3), np.zeros(5), dl, **kw)
    np.testing.assert_allclose(out.x.numpy(), ex, rtol=1e-10)
    np.testing.assert_allclose(out.m.numpy(), em, rtol=1e-12)
    np.testing.assert_allclose(out.v.numpy(), ev, rtol=1e-12)


def test_noisy_sgd_is_the_sde_euler_step_at_dt_eta():
    # One SGD step of rate eta with gradient noise -Sigma S equals Euler-Maruyama at dt = eta.
    eta, alpha = 0.02, 1.3
    x, dl = _inputs(2, dt=eta, alpha=alpha)
    alg = NoisySGD(grad_fn, learning_rate=eta, alpha=alpha, sigma=[1.0, 0.5], dtype=tf.float64)
    sde = SGDSDE(grad_fn, alpha=alpha, learning_rate=eta, sigma=[1.0, 0.5], dtype=tf.float64)
    a = alg.step(alg.init(x), eta, tf.constant(dl)).x.numpy()
    b = sde.step(sde.init(x), eta, tf.constant(dl)).x.numpy()
    np.testing.assert_allclose(a, b, rtol=1e-10)


def test_noisy_adam_matches_keras_adam():
    # Keras Adam is an outside oracle; with epsilon -> 0 both place epsilon equivalently.
    eta, alpha = 0.01, 1.5
    x0 = np.array([0.8, -0.3])
    alg = NoisyAdam(grad_fn, learning_rate=eta, alpha=alpha, epsilon=1e-12, dtype=tf.float64)
    var = keras.Variable(x0, dtype="float64")
    opt = keras.optimizers.Adam(learning_rate=eta, beta_1=0.9, beta_2=0.999, epsilon=1e-12)
    state = alg.init(x0[None, :])
    for k in range(5):
        dl = levy_increments([1, 2], alpha, eta, seed=k, dtype=tf.float64)
        noisy_grad = grad_fn(var.value[None, :])[0] + alg.sigma.apply(-dl)[0] / eta ** (1 / alpha)
        opt.apply_gradients([(noisy_grad, var)])
        state = alg.step(state, eta, dl)
    np.testing.assert_allclose(state.x.numpy()[0], var.numpy(), rtol=1e-7)


def test_adam_from_discrete_moments_match_noisy_adam_model():
    # With dt = eta the SDE's Euler steps for m and v are the algorithm's averages (noise enters m in the
    # algorithm and theta in the SDE, so only v and the noise-free part are compared here).
    eta = 0.01
    x, dl = _inputs(3, dt=eta)
    sde = AdamSDE.from_discrete(grad_fn, alpha=1.5, learning_rate=eta, noise_power=0.2, dtype=tf.float64)
    alg = NoisyAdam(
        grad_fn, learning_rate=eta, alpha=1.5, noisy_second_moment=False, noise_power=0.2, dtype=tf.float64
    )
    assert sde.beta_1 == pytest.approx(0.1 / eta) and sde.beta_2 == pytest.approx(0.001 / eta)
    s = sde.step(sde.init(x), eta, tf.zeros_like(tf.constant(dl)))
    a = alg.step(alg.init(x), eta, tf.zeros_like(tf.constant(dl)))
    np.testing.assert_allclose(s.m.numpy(), a.m.numpy(), rtol=1e-12)
    np.testing.assert_allclose(s.v.numpy(), a.v.numpy(), rtol=1e-12)


def test_step_eager_equals_graph():
    sde = AdamSDE(grad_fn, alpha=1.5, eps=0.1, beta_1=2.0, beta_2=1.0, noise_power=1.0)
    x, dl = _inputs(4)
    state = sde.init(tf.constant(x, tf.float32), t0=3.0)
    eager = sde.step(state, 0.01, tf.constant(dl, tf.float32))
    graph = tf.function(lambda s, d: sde.step(s, 0.01, d))(state, tf.constant(dl, tf.float32))
    for a, b in zip(eager, graph, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)


def test_drift_free_process_moves_only_by_noise():
    sde = SGDSDE(None, alpha=1.5, eps=2.0)
    dl = tf.constant([[0.5, -1.0]])
    np.testing.assert_allclose(sde.step(sde.init([[1.0, 1.0]]), 0.1, dl).x.numpy(), [[2.0, -1.0]])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(alpha=2.5, eps=0.1), "alpha"),
        (dict(alpha=0.0, eps=0.1), "alpha"),
        (dict(alpha=1.5, eps=-1.0), "eps"),
        (dict(alpha=1.5, learning_rate=0.0), "learning_rate"),
        (dict(alpha=1.5, eps=0.1, sigma=np.ones((2, 3))), "sigma"),
    ],
)
def test_bad_sgd_input_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SGDSDE(grad_fn, **kwargs)


def test_bad_adam_input_raises():
    with pytest.raises(ValueError, match="beta_1"):
        AdamSDE(grad_fn, alpha=1.5, eps=0.1, beta_1=0.0, beta_2=1.0)
    with pytest.raises(ValueError, match="noise_power"):
        AdamSDE(grad_fn, alpha=1.5, eps=0.1, beta_1=1.0, beta_2=1.0, noise_power=-1.0)
    with pytest.raises(ValueError, match="beta_2"):
        NoisyAdam(grad_fn, learning_rate=0.1, alpha=1.5, beta_2=1.0)
    with pytest.raises(ValueError, match="beta_1"):
        AdamSDE.from_discrete(grad_fn, alpha=1.5, learning_rate=0.1, beta_1=1.2)
