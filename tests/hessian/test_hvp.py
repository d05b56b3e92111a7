"""HessianOperator: closed forms, an independent jacobian oracle, linearity, symmetry, modes, errors."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.hessian.hessian_cases import half_mse, linear_regression, softmax_regression, tiny_mlp
from tfescape.hessian import HessianOperator, hessian_vector_product


def dense_hessian(op):
    return np.stack([op.matvec(e) for e in np.eye(op.dim)], axis=1)


@pytest.mark.parametrize("method", ["forward_over_reverse", "reverse_over_reverse"])
def test_linear_regression_hessian_is_xtx_over_n(method):
    case = linear_regression(use_bias=True)
    op = HessianOperator(case.model, case.loss, (case.x, case.y), method=method)
    assert op.dim == 6 and op.method == method
    np.testing.assert_allclose(dense_hessian(op), case.hessian, rtol=1e-12, atol=1e-12)


def test_keras_mse_hessian_is_twice_xtx_over_n():
    # keras MSE is ||Xw - y||^2 / n (no 1/2): its Hessian is 2 X^T X / n.
    case = linear_regression()
    loss = keras.losses.MeanSquaredError(dtype="float64")
    op = HessianOperator(case.model, loss, (case.x, case.y))
    np.testing.assert_allclose(dense_hessian(op), 2 * case.hessian, rtol=1e-12, atol=1e-12)


def test_weight_regularization_is_part_of_the_loss():
    case = linear_regression()
    inputs = keras.Input((5,), dtype="float64")
    dense = keras.layers.Dense(
        1, use_bias=False, dtype="float64", kernel_regularizer=keras.regularizers.L2(0.25)
    )
    model = keras.Model(inputs, dense(inputs))
    with_l2 = HessianOperator(model, case.loss, (case.x, case.y))
    np.testing.assert_allclose(dense_hessian(with_l2), case.hessian + 0.5 * np.eye(5), rtol=1e-12, atol=1e-12)
    without = HessianOperator(model, case.loss, (case.x, case.y), include_model_losses=False)
    np.testing.assert_allclose(dense_hessian(without), case.hessian, rtol=1e-12, atol=1e-12)


def test_softmax_regression_hessian():
    case = softmax_regression()
    op = HessianOperator(case.model, case.loss, (case.x, case.y))
    np.testing.assert_allclose(dense_hessian(op), case.hessian, rtol=1e-10, atol=1e-12)


@pytest.fixture(scope="module")
def mlp_case():
    return tiny_mlp()


def test_tiny_mlp_matches_jacobian_hessian(mlp_case):
    case = mlp_case
    op = HessianOperator(case.model, case.loss, (case.x, case.y))
    h = dense_hessian(op)
    np.testing.assert_allclose(h, case.hessian, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(np.linalg.eigvalsh(h), np.linalg.eigvalsh(case.hessian), atol=1e-10)


def test_dataset_average_is_weighted_by_batch_size():
    case = softmax_regression(n=30)
    # Uneven batches (8, 8, 8, 6): the weighted average must equal the one-batch Hessian.
    dataset = tf.data.Dataset.from_tensor_slices((case.x, case.y)).batch(8)
    op = HessianOperator(case.model, case.loss, dataset)
    np.testing.assert_allclose(dense_hessian(op), case.hessian, rtol=1e-10, atol=1e-12)
    loss, grad = op.loss_and_gradient()
    one_batch = HessianOperator(case.model, case.loss, (case.x, case.y))
    loss1, grad1 = one_batch.loss_and_gradient()
    assert loss == pytest.approx(loss1, rel=1e-12) and op.loss() == pytest.approx(loss1, rel=1e-12)
    np.testing.assert_allclose(grad, grad1, rtol=1e-10, atol=1e-13)


def test_hvp_is_linear_and_symmetric_on_a_float32_model():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((32, 6)).astype(np.float32)
    y = rng.integers(0, 3, 32)
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(3)]
    )
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    op = HessianOperator(model, loss, (x, y))
    u, v = rng.standard_normal((2, op.dim))
    hu, hv = op.matvec(u), op.matvec(v)
    scale = np.linalg.norm(hu) * np.linalg.norm(v)
    assert abs(u @ hv - v @ hu) <= 1e-5 * scale  # float32 arithmetic
    np.testing.assert_allclose(
        op.matvec(2.0 * u - 3.0 * v), 2.0 * hu - 3.0 * hv, atol=1e-5 * np.abs(hu).max()
    )
    assert op.num_hvps == 3


def test_per_variable_form_and_flat_form_agree():
    case = linear_regression(use_bias=True)
    op = HessianOperator(case.model, case.loss, (case.x, case.y))
    v = np.arange(op.dim, dtype=np.float64)
    per_variable = op.hvp(op.unflatten(v))
    assert [tuple(t.shape) for t in per_variable] == [(5, 1), (1,)]
    np.testing.assert_allclose(op.flatten(per_variable), case.hessian @ v, rtol=1e-12)
    np.testing.assert_allclose(
        hessian_vector_product(case.model, case.loss, (case.x, case.y), v), case.hessian @ v
    )


def test_restricting_to_layers_gives_the_diagonal_block(mlp_case):
    case = mlp_case
    sizes = [int(np.prod(v.shape)) for v in case.model.trainable_variables]
    last = case.model.layers[-1]
    op = HessianOperator(case.model, case.loss, (case.x, case.y), layers=[last.name])
    start = sum(sizes[:-2])
    np.testing.assert_allclose(dense_hessian(op), case.hessian[start:, start:], rtol=1e-9, atol=1e-11)
    by_variables = HessianOperator(case.model, case.loss, (case.x, case.y), variables=[last.kernel])
    assert by_variables.dim == int(np.prod(last.kernel.shape))


def test_eager_equals_graph(mlp_case):
    case = mlp_case
    op = HessianOperator(case.model, case.loss, (case.x, case.y))
    v = np.linspace(-1, 1, op.dim)
    graph = op.matvec(v)
    tf.config.run_functions_eagerly(True)
    try:
        eager = HessianOperator(case.model, case.loss, (case.x, case.y)).matvec(v)
    finally:
        tf.config.run_functions_eagerly(False)
    np.testing.assert_allclose(eager, graph, rtol=1e-12, atol=1e-14)


def test_inference_mode_leaves_batchnorm_statistics_alone():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((16, 4)).astype(np.float32)
    y = rng.integers(0, 2, 16)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(5), keras.layers.BatchNormalization(), keras.layers.Dense(2)]
    )
    before = [w.copy() for w in model.get_weights()]
    op = HessianOperator(model, keras.losses.SparseCategoricalCrossentropy(from_logits=True), (x, y))
    op.matvec(np.ones(op.dim))
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert op.dim == sum(int(np.prod(v.shape)) for v in model.trainable_variables)


def _distributed_case(strategy):
    case = softmax_regression(n=27)
    # Three batches of 9: each replica gets 5 or 4 examples (uneven shares), one batch shape (one trace).
    dataset = tf.data.Dataset.from_tensor_slices((case.x, case.y)).batch(9)
    with strategy.scope():
        inputs = keras.Input((3,), dtype="float64")
        model = keras.Model(inputs, keras.layers.Dense(4, use_bias=False, dtype="float64")(inputs))
    model.set_weights(case.model.get_weights())
    return case, dataset, model


def test_distributed_hvp_equals_single_device(two_device_strategy):
    case, dataset, model = _distributed_case(two_device_strategy)
    single = HessianOperator(case.model, case.loss, dataset)
    distributed = HessianOperator(model, case.loss, dataset, method="forward_over_reverse")
    assert distributed.strategy.num_replicas_in_sync == 2
    v = np.linspace(-1.0, 2.0, single.dim)
    np.testing.assert_allclose(distributed.matvec(v), single.matvec(v), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(distributed.matvec(v), case.hessian @ v, rtol=1e-10, atol=1e-12)
    loss, grad = distributed.loss_and_gradient()
    single_loss, single_grad = single.loss_and_gradient()
    assert loss == pytest.approx(single_loss, rel=1e-12)
    np.testing.assert_allclose(grad, single_grad, rtol=1e-10, atol=1e-13)


@pytest.mark.slow
def test_distributed_reverse_over_reverse_equals_single_device(two_device_strategy):
    case, dataset, model = _distributed_case(two_device_strategy)
    distributed = HessianOperator(model, case.loss, dataset, method="reverse_over_reverse")
    np.testing.assert_allclose(dense_hessian(distributed), case.hessian, rtol=1e-10, atol=1e-12)


def test_bad_inputs_raise_clear_errors():
    case = linear_regression()
    empty = tf.data.Dataset.from_tensor_slices((case.x, case.y)).take(0).batch(4)
    with pytest.raises(ValueError, match="empty"):
        HessianOperator(case.model, case.loss, empty)
    with pytest.raises(ValueError, match="empty batch"):
        HessianOperator(case.model, case.loss, (case.x[:0], case.y[:0]))
    with pytest.raises(ValueError, match="scalar"):
        HessianOperator(case.model, lambda y, p: tf.square(y - p), (case.x, case.y))
    with pytest.raises(ValueError, match="reduction"):
        HessianOperator(case.model, keras.losses.MeanSquaredError(reduction="sum"), (case.x, case.y))
    with pytest.raises(ValueError, match="HVP method"):
        HessianOperator(case.model, case.loss, (case.x, case.y), method="finite_differences")
    with pytest.raises(ValueError, match=r"\(x, y\)"):
        HessianOperator(case.model, case.loss, case.x)
    frozen = linear_regression().model
    frozen.trainable = False
    with pytest.raises(ValueError, match="No trainable weights"):
        HessianOperator(frozen, case.loss, (case.x, case.y))
    op = HessianOperator(case.model, case.loss, (case.x, case.y))
    with pytest.raises(ValueError, match="shape"):
        op.matvec(np.ones(op.dim + 1))
    filtered = tf.data.Dataset.from_tensor_slices((case.x, case.y)).batch(4).filter(lambda x, y: False)
    with pytest.raises(ValueError, match="empty"):
        HessianOperator(case.model, case.loss, filtered)


def test_half_mse_helper_is_the_stated_loss():
    # Guards the oracle: 0.5 ||Xw - y||^2 / n.
    x = np.array([[1.0], [3.0]])
    y = np.array([[0.0], [1.0]])
    assert float(half_mse(y, x)) == pytest.approx(0.5 * (1.0 + 4.0) / 2)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_one_compiled_pass_equals_the_per_batch_loop(mlp_case, jit_compile):
    # Uneven batches (7, 7, 7, 3): two runs of batch shapes in the compiled pass. max_resident_bytes=0
    # streams the data through the per-batch steps instead; both must agree to rounding.
    case = mlp_case
    dataset = tf.data.Dataset.from_tensor_slices((case.x, case.y)).batch(7)
    resident = HessianOperator(case.model, case.loss, dataset, jit_compile=jit_compile)
    streamed = HessianOperator(case.model, case.loss, dataset, max_resident_bytes=0)
    assert resident._resident is not None and resident._resident.num_batches == 4
    assert streamed._resident is None
    v = np.linspace(-1.0, 1.0, resident.dim)
    np.testing.assert_allclose(resident.matvec(v), streamed.matvec(v), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(resident.matvec(v), case.hessian @ v, rtol=1e-9, atol=1e-11)
    loss, grad = resident.loss_and_gradient()
    streamed_loss, streamed_grad = streamed.loss_and_gradient()
    assert loss == pytest.approx(streamed_loss, rel=1e-12)
    assert resident.loss() == pytest.approx(loss, rel=1e-12)
    np.testing.assert_allclose(grad, streamed_grad, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize(
    "method", [pytest.param("forward_over_reverse", marks=pytest.mark.slow), "reverse_over_reverse"]
)
def test_matmat_equals_one_product_at_a_time(mlp_case, method):
    # 21 columns: one shared pass of MATMAT_BLOCK = 16 columns and one of 5, over uneven batches.
    case = mlp_case
    dataset = tf.data.Dataset.from_tensor_slices((case.x, case.y)).batch(7)
    op = HessianOperator(case.model, case.loss, dataset, method=method)
    vectors = np.random.default_rng(3).standard_normal((op.dim, 21))
    one_at_a_time = np.stack([op.matvec(v) for v in vectors.T], axis=1)
    before = op.num_hvps
    together = op.matmat(vectors)
    assert together.shape == (op.dim, 21) and op.num_hvps == before + 21
    np.testing.assert_allclose(together, one_at_a_time, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(together, case.hessian @ vectors, rtol=1e-9, atol=1e-11)


def test_matmat_without_resident_data_computes_columns_one_by_one(mlp_case):
    case = mlp_case
    dataset = tf.data.Dataset.from_tensor_slices((case.x, case.y)).batch(7)
    streamed = HessianOperator(case.model, case.loss, dataset, max_resident_bytes=0)
    vectors = np.random.default_rng(4).standard_normal((streamed.dim, 3))
    np.testing.assert_allclose(streamed.matmat(vectors), case.hessian @ vectors, rtol=1e-9, atol=1e-11)
    assert streamed.num_hvps == 3
    assert streamed.matmat(np.zeros((streamed.dim, 0))).shape == (streamed.dim, 0)


def test_matmat_rejects_a_flat_vector(mlp_case):
    op = HessianOperator(mlp_case.model, mlp_case.loss, (mlp_case.x, mlp_case.y))
    with pytest.raises(ValueError, match=r"one vector per column"):
        op.matmat(np.ones(op.dim))


@pytest.mark.slow
def test_matmat_under_xla_serves_every_width_from_one_graph(mlp_case):
    case = mlp_case
    dataset = tf.data.Dataset.from_tensor_slices((case.x, case.y)).batch(7)
    op = HessianOperator(case.model, case.loss, dataset, jit_compile=True)
    vectors = np.random.default_rng(5).standard_normal((op.dim, 5))
    np.testing.assert_allclose(op.matmat(vectors), case.hessian @ vectors, rtol=1e-9, atol=1e-11)
    three = vectors[:, :3]
    np.testing.assert_allclose(op.matmat(three), case.hessian @ three, rtol=1e-9, atol=1e-11)
    assert op._passes["block"].experimental_get_tracing_count() == 1
