"""Bad input to every public name of tfescape.sde and tfescape.sde.theory: a clear ValueError."""

import numpy as np
import pytest

from tests.bad_input import (
    INF,
    NAN,
    assert_clear_value_error,
    assert_every_name_covered,
    flatten_cases,
)
from tfescape import sde
from tfescape.sde import theory

_H = np.eye(2)


def _grad(x):
    return x


def _exit(process=None, **options):
    kwargs = dict(x0=[0.0], basin=sde.Box(-1.0, 1.0), dt=0.05, num_paths=4, max_time=0.5, seed=0)
    kwargs.update(options)
    return sde.first_exit_times(process or sde.SGDSDE(_grad, alpha=1.5, eps=0.1), **kwargs)


def _nan_gradient(x):
    return x * NAN


def _predict(**options):
    kwargs = dict(
        alpha=1.5,
        noise_scale=[1.0, 1.0],
        preconditioner=[1.0, 1.0],
        hessian=_H,
        height=1.0,
        learning_rate=0.1,
    )
    kwargs.update(options)
    return sde.predict_escape(**kwargs)


def _one(**options):
    kwargs = dict(alpha=1.5, noise_scale=[1.0, 1.0], hessian=[1.0, 1.0], height=1.0, learning_rate=0.1)
    kwargs.update(options)
    return kwargs


_BASIN = sde.ReducedBasin(np.array([1.0, 1.0]), np.eye(2), np.array([0.1, 0.1]), 0.5)

CASES = {
    "levy_increments": [
        (lambda: sde.levy_increments([3], 2.5, 0.1, seed=0), "alpha"),
        (lambda: sde.levy_increments([3], NAN, 0.1, seed=0), "alpha"),
        (lambda: sde.levy_increments([3], 1.5, 0.0, seed=0), "dt"),
        (lambda: sde.levy_increments([3], 1.5, INF, seed=0), "dt"),
        (lambda: sde.levy_increments([-2], 1.5, 0.1, seed=0), "shape"),
    ],
    "SGDSDE": [
        (lambda: sde.SGDSDE(_grad, alpha=3.0, eps=0.1), "alpha"),
        (lambda: sde.SGDSDE(_grad, alpha=1.5, eps=NAN), "eps"),
        (lambda: sde.SGDSDE(_grad, alpha=1.5, learning_rate=0.0), "learning_rate"),
        (lambda: sde.SGDSDE(_grad, alpha=1.5, eps=0.1, sigma=[1.0, NAN]), "sigma"),
        (lambda: sde.SGDSDE(3.0, alpha=1.5, eps=0.1), "grad_fn"),
    ],
    "AdamSDE": [
        (lambda: sde.AdamSDE(_grad, alpha=1.5, eps=0.1, beta_1=0.9, beta_2=-0.5), "beta_2"),
        (lambda: sde.AdamSDE(_grad, alpha=1.5, eps=0.1, beta_1=NAN, beta_2=1.0), "beta_1"),
        (lambda: sde.AdamSDE(_grad, alpha=1.5, eps=0.1, beta_1=1.0, beta_2=1.0, epsilon=-1.0), "epsilon"),
        (lambda: sde.AdamSDE(_grad, alpha=0.0, eps=0.1, beta_1=1.0, beta_2=1.0), "alpha"),
        (lambda: sde.AdamSDE("x", alpha=1.5, eps=0.1, beta_1=1.0, beta_2=1.0), "grad_fn"),
    ],
    "NoisySGD": [
        (lambda: sde.NoisySGD(_grad, learning_rate=INF, alpha=1.5), "learning_rate"),
        (lambda: sde.NoisySGD(_grad, learning_rate=0.1, alpha=0.0), "alpha"),
        (lambda: sde.NoisySGD([1.0], learning_rate=0.1, alpha=1.5), "grad_fn"),
    ],
    "NoisyAdam": [
        (lambda: sde.NoisyAdam(_grad, learning_rate=0.1, alpha=1.5, beta_2=1.5), "beta_2"),
        (lambda: sde.NoisyAdam(_grad, learning_rate=-0.1, alpha=1.5), "learning_rate"),
        (lambda: sde.NoisyAdam(_grad, learning_rate=0.1, alpha=1.5, beta_1=NAN), "beta_1"),
    ],
    "Box": [
        (lambda: sde.Box(1.0, -1.0), "low < high"),
        (lambda: sde.Box([NAN], [1.0]), "low"),
    ],
    "Ball": [
        (lambda: sde.Ball([0.0], -1.0), "radius"),
        (lambda: sde.Ball([NAN], 1.0), "center"),
    ],
    "Ellipsoid": [
        (lambda: sde.Ellipsoid([0.0, 0.0], -_H, 1.0), "hessian"),
        (lambda: sde.Ellipsoid([0.0, 0.0], _H * NAN, 1.0), "hessian"),
        (lambda: sde.Ellipsoid([0.0, 0.0], _H, 0.0), "height"),
    ],
    "SublevelSet": [
        (lambda: sde.SublevelSet(_grad, NAN), "level"),
        (lambda: sde.SublevelSet(3, 1.0), "potential"),
        (lambda: sde.SublevelSet(_grad, 1.0, dim=0), "dim"),
    ],
    "Predicate": [
        (lambda: sde.Predicate(3), "fn"),
        (lambda: sde.Predicate(_grad, dim=-1), "dim"),
    ],
    "first_exit_times": [
        (lambda: _exit(sde.SGDSDE(_nan_gradient, alpha=1.5, eps=0.1)), "non-finite"),
        (lambda: _exit(max_time=NAN), "max_time"),
        (lambda: _exit(dt=INF), "dt"),
        (lambda: _exit(num_paths=0), "num_paths"),
        (lambda: _exit(x0=[NAN]), "x0"),
        (lambda: _exit(x0=[2.0]), "inside"),
        (lambda: _exit(x0=[0.0, 0.0]), "dimension"),
        (lambda: _exit(basin=object()), "basin"),
        (lambda: _exit(process=object()), "process"),
        (lambda: _exit().mean_estimate(2.0), "level"),
    ],
    "predict_escape": [
        (lambda: _predict(alpha=3.0), "alpha"),
        (lambda: _predict(height=0.0), "height"),
        (lambda: _predict(noise_scale=[NAN, 1.0]), "noise_scale"),
        (lambda: _predict(learning_rate=0.0), "learning_rate"),
        (lambda: _predict(hessian=_H * NAN), "hessian"),
        (lambda: _predict(preconditioner=[0.0, 1.0]), "preconditioner"),
    ],
    "QuadraticBasin": [
        (lambda: sde.QuadraticBasin(_H * NAN), "hessian"),
        (lambda: sde.QuadraticBasin(np.ones((2, 2, 2))), "hessian"),
    ],
    "DoubleWell1D": [
        (lambda: sde.DoubleWell1D(sharp_curvature=-1.0), "sharp_curvature"),
        (lambda: sde.DoubleWell1D(flat_curvature=NAN), "flat_curvature"),
        (lambda: sde.DoubleWell1D(sharp_minimum=1.0, flat_minimum=1.0), "sharp_minimum"),
    ],
    "DoubleWell2D": [
        (lambda: sde.DoubleWell2D(sharp_hessian=_H * NAN), "sharp_hessian"),
    ],
    "AsymmetricValley": [
        (lambda: sde.AsymmetricValley(steep_curvature=0.0), "steep_curvature"),
        (lambda: sde.AsymmetricValley(gentle_curvature=INF), "gentle_curvature"),
    ],
    "predict_optimizer_escape": [
        (lambda: sde.predict_optimizer_escape(**_one(alpha=NAN)), "alpha"),
        (lambda: sde.predict_optimizer_escape(**_one(noise_scale=[1.0, NAN])), "noise_scale"),
        (lambda: sde.predict_optimizer_escape(**_one(preconditioner=[1.0, 0.0])), "preconditioner"),
        (lambda: sde.predict_optimizer_escape(**_one(learning_rate=INF)), "learning_rate"),
        (lambda: sde.predict_optimizer_escape(**_one(basis=np.ones((5, 3)))), "basis"),
    ],
    "reduce_basin": [
        (lambda: sde.reduce_basin([-1.0, 0.0], _H, noise_vectors=_H, alpha=1.5, height=1.0), "not a minimum"),
        (lambda: sde.reduce_basin([1.0, 1.0], _H, noise_vectors=_H * NAN, alpha=1.5, height=1.0), "NaN"),
        (lambda: sde.reduce_basin([1.0, 1.0], _H, noise_vectors=_H, alpha=1.5, height=NAN), "height"),
        (
            lambda: sde.reduce_basin([1.0, 1.0], np.ones((2, 3)), noise_vectors=_H, alpha=1.5, height=1.0),
            "one column",
        ),
    ],
    "basin_escape": [
        (lambda: sde.basin_escape(_BASIN, alpha=1.5, learning_rate=0.0), "learning_rate"),
        (lambda: sde.basin_escape(_BASIN, alpha=2.5, learning_rate=0.1), "alpha"),
        (
            lambda: sde.basin_escape(_BASIN, alpha=1.5, learning_rate=0.1, preconditioner=[1.0, -1.0]),
            "preconditioner",
        ),
    ],
}

THEORY_CASES = {
    "predict_optimizer_escape": [
        (lambda: theory.predict_optimizer_escape(**_one(height=0.0)), "height"),
        (lambda: theory.predict_optimizer_escape(**_one(learning_rate=None)), "learning_rate"),
    ],
    "preconditioner_projection": [
        (lambda: theory.preconditioner_projection([1.0, NAN], dim=2), "preconditioner"),
        (lambda: theory.preconditioner_projection([1.0, 2.0, 3.0], dim=2, basis=np.eye(2)), "one value per"),
        (lambda: theory.preconditioner_projection(None, dim=2, basis=np.full((3, 2), NAN)), "basis"),
    ],
    "adam_noise_matrix": [
        (lambda: theory.adam_noise_matrix(eps=NAN, sigma=_H, preconditioner=[1.0, 1.0], dim=2), "eps"),
        (
            lambda: theory.adam_noise_matrix(eps=0.1, sigma=_H, preconditioner=[0.0, 1.0], dim=2),
            "preconditioner",
        ),
    ],
    "sgd_noise_matrix": [
        (lambda: theory.sgd_noise_matrix(eps=0.1, sigma=1.0, dim=0), "dim"),
        (lambda: theory.sgd_noise_matrix(eps=-0.1, sigma=1.0, dim=2), "eps"),
        (lambda: theory.sgd_noise_matrix(eps=0.1, sigma=NAN, dim=2), "sigma"),
    ],
    "ball_escape_rate": [
        (
            lambda: theory.ball_escape_rate(alpha=1.5, noise_matrix=_H, center=[0.0, 0.0], radius=0.0),
            "radius",
        ),
        (lambda: theory.ball_escape_rate(alpha=NAN, noise_matrix=_H, center=[0.0, 0.0], radius=1.0), "alpha"),
        (
            lambda: theory.ball_escape_rate(alpha=1.5, noise_matrix=_H * NAN, center=[0.0, 0.0], radius=1.0),
            "noise_matrix",
        ),
    ],
    "box_escape_rate": [
        (
            lambda: theory.box_escape_rate(
                alpha=1.5, noise_matrix=_H, low=[1.0, 1.0], high=[0.0, 0.0], x0=[0.5, 0.5]
            ),
            "x0",
        ),
        (
            lambda: theory.box_escape_rate(
                alpha=2.5, noise_matrix=_H, low=[-1.0, -1.0], high=[1.0, 1.0], x0=[0.0, 0.0]
            ),
            "alpha",
        ),
    ],
    "getoor_mean_exit_time": [
        (lambda: theory.getoor_mean_exit_time(alpha=1.5, radius=-1.0), "radius"),
        (lambda: theory.getoor_mean_exit_time(alpha=2.5, radius=1.0), "alpha"),
        (lambda: theory.getoor_mean_exit_time(alpha=1.5, radius=1.0, x0=2.0), "x0"),
    ],
    "interval_escape_rate": [
        (lambda: theory.interval_escape_rate(alpha=1.5, scale=0.0, low=-1.0, high=1.0), "scale"),
        (lambda: theory.interval_escape_rate(alpha=1.5, scale=1.0, low=1.0, high=-1.0), "x0"),
    ],
    "levy_constant": [
        (lambda: theory.levy_constant(0.0), "alpha"),
        (lambda: theory.levy_constant(NAN), "alpha"),
    ],
    "momentum_attenuation": [
        (
            lambda: theory.momentum_attenuation(noise_matrix=_H, hessian=_H, learning_rate=0.1, beta_1=1.5),
            "beta_1",
        ),
        (
            lambda: theory.momentum_attenuation(noise_matrix=_H, hessian=_H, learning_rate=NAN, beta_1=0.9),
            "learning_rate",
        ),
    ],
    "paper_form": [
        (lambda: theory.paper_form(-1.0, alpha=1.5, eps=0.1), "rate"),
        (lambda: theory.paper_form(NAN, alpha=1.5, eps=0.1), "rate"),
        (lambda: theory.paper_form(1.0, alpha=1.5, eps=NAN), "eps"),
    ],
    "predict_escape": CASES["predict_escape"],
    "quadratic_escape_rate": [
        (lambda: theory.quadratic_escape_rate(alpha=1.5, noise_matrix=_H, hessian=_H, height=-1.0), "height"),
        (
            lambda: theory.quadratic_escape_rate(alpha=1.5, noise_matrix=_H, hessian=_H * NAN, height=1.0),
            "hessian",
        ),
        (
            lambda: theory.quadratic_escape_rate(
                alpha=1.5, noise_matrix=np.eye(0), hessian=np.eye(0), height=1.0
            ),
            "noise_matrix",
        ),
    ],
}

THEORY_CASES["box_escape_rate"] += [
    (
        lambda: theory.box_escape_rate(alpha=1.5, noise_matrix=_H, low=[-1, -1], high=[1, 1], x0=[NAN, 0]),
        "x0",
    ),
    (
        lambda: theory.box_escape_rate(alpha=1.5, noise_matrix=_H, low=[NAN, -1], high=[1, 1], x0=[0, 0]),
        "low",
    ),
]
THEORY_CASES["ball_escape_rate"] += [
    (lambda: theory.ball_escape_rate(alpha=1.5, noise_matrix=_H, center=[NAN, 0], radius=1.0), "center"),
    (
        lambda: theory.ball_escape_rate(alpha=1.5, noise_matrix=_H, center=[0, 0], radius=1.0, x0=[NAN, 0]),
        "x0",
    ),
]
THEORY_CASES["quadratic_escape_rate"] += [
    (
        lambda: theory.quadratic_escape_rate(alpha=1.5, noise_matrix=_H, hessian=_H, height=1.0, x0=[NAN, 0]),
        "x0",
    ),
    (
        lambda: theory.quadratic_escape_rate(
            alpha=1.5, noise_matrix=_H, hessian=_H, height=1.0, center=[INF, 0]
        ),
        "center",
    ),
]
THEORY_CASES["interval_escape_rate"] += [
    (lambda: theory.interval_escape_rate(alpha=1.5, scale=1.0, low=-1.0, high=1.0, x0=NAN), "x0"),
]
CASES["QuadraticBasin"] += [(lambda: sde.QuadraticBasin(_H, center=[NAN, 0.0]), "center")]

RESULT_TYPES = {
    "SGDState",
    "AdamState",
    "NoisyAdamState",
    "ExitTimes",
    "MeanEstimate",
    "EscapePrediction",
    "OptimizerEscape",
    "ReducedBasin",
    "BasinEscape",
}


def test_every_public_name_has_bad_input_cases():
    assert_every_name_covered(sde, CASES, RESULT_TYPES)
    assert_every_name_covered(theory, THEORY_CASES, {"EscapePrediction", "OptimizerEscape"})


@pytest.mark.parametrize("name, call, match", flatten_cases(CASES) + flatten_cases(THEORY_CASES))
def test_bad_input_gives_a_clear_value_error(name, call, match):
    assert_clear_value_error(call, match)
