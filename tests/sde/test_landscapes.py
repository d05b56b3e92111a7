import numpy as np
import pytest
import tensorflow as tf

from tfescape.sde import AsymmetricValley, DoubleWell1D, DoubleWell2D, QuadraticBasin

LANDSCAPES = [
    QuadraticBasin([[4.0, 1.0], [1.0, 1.0]], center=[0.5, -0.5]),
    DoubleWell1D(),
    DoubleWell2D(),
    AsymmetricValley(),
]


@pytest.mark.parametrize("landscape", LANDSCAPES, ids=lambda s: type(s).__name__)
def test_gradient_matches_autodiff(landscape):
    # Autodiff of value() is an independent oracle for the hand-written grad(); random points hit the
    # kinks of the piecewise landscapes with probability 0.
    x = tf.constant(np.random.default_rng(0).normal(size=(64, landscape.dim)) * 1.5)
    with tf.GradientTape() as tape:
        tape.watch(x)
        value = landscape.value(x)
    np.testing.assert_allclose(landscape.grad(x).numpy(), tape.gradient(value, x).numpy(), rtol=1e-10)
    assert value.shape == (64,)


def test_minima_are_critical_points_of_depth_zero():
    pairs = [
        (LANDSCAPES[0], [[0.5, -0.5]]),
        (DoubleWell1D(), [[-1.0], [1.0]]),
        (DoubleWell2D(), [[-1.0, 0.0], [1.0, 0.0]]),
        (AsymmetricValley(), [[0.0, 0.0]]),
    ]
    for landscape, minima in pairs:
        x = tf.constant(minima, tf.float64)
        np.testing.assert_allclose(landscape.grad(x).numpy(), 0.0, atol=1e-12)
        np.testing.assert_allclose(landscape.value(x).numpy(), 0.0, atol=1e-12)


def test_double_well_1d_barrier_and_widths():
    well = DoubleWell1D(sharp_curvature=16.0, flat_curvature=1.0, sharp_minimum=-1.0, flat_minimum=1.0)
    xb = well.barrier
    # Both parabolas meet at the barrier: 8 (xb + 1)^2 = 1/2 (xb - 1)^2 -> xb = -0.6.
    assert xb == pytest.approx(-0.6)
    assert well.barrier_height == pytest.approx(8 * 0.4**2)
    x = tf.constant([[xb - 1e-6], [xb + 1e-6]], tf.float64)
    v = well.value(x).numpy()
    assert v[0] == pytest.approx(v[1], abs=1e-4)
    sharp_width = xb - well.sharp_minimum
    flat_width = well.flat_minimum - xb
    assert flat_width > 3 * sharp_width
    assert bool(well.sharp_basin.contains(tf.constant([[-1.0]])).numpy()[0])
    assert not bool(well.sharp_basin.contains(tf.constant([[1.0]])).numpy()[0])


def test_double_well_2d_basins_hold_their_minimum_only():
    well = DoubleWell2D()
    points = tf.constant([[-1.0, 0.0], [1.0, 0.0]])
    np.testing.assert_array_equal(well.sharp_basin.contains(points).numpy(), [True, False])
    np.testing.assert_array_equal(well.flat_basin.contains(points).numpy(), [False, True])


def test_asymmetric_valley_box_reaches_the_level_set():
    valley = AsymmetricValley(steep_curvature=10.0, gentle_curvature=0.5, cross_curvature=2.0)
    box = valley.box(0.5)
    corners = tf.constant(
        [[box.low[0], 0.0], [box.high[0], 0.0], [0.0, box.low[1]], [0.0, box.high[1]]], tf.float64
    )
    np.testing.assert_allclose(valley.value(corners).numpy(), 0.5, rtol=1e-12)
    assert box.high[0] > 4 * -box.low[0]  # the gentle side is wider


def test_quadratic_basin_ellipsoid_is_the_sublevel_set():
    q = LANDSCAPES[0]
    basin = q.basin(0.3)
    x = tf.constant(np.random.default_rng(1).normal(size=(500, 2)))
    np.testing.assert_array_equal(basin.contains(x).numpy(), q.value(x).numpy() < 0.3)


def test_bad_landscape_input_raises():
    with pytest.raises(ValueError, match="positive definite"):
        QuadraticBasin([[1.0, 0.0], [0.0, -1.0]])
    with pytest.raises(ValueError, match="sharp_minimum"):
        DoubleWell1D(sharp_minimum=1.0, flat_minimum=0.0)
    with pytest.raises(ValueError, match="curvature"):
        AsymmetricValley(steep_curvature=0.0)
    with pytest.raises(ValueError, match="height"):
        QuadraticBasin([1.0, 2.0]).basin(-1.0)
