"""Bad input to every public name of tfescape.optimizers: hyperparameters that cannot train are refused
before training, with the optimizer and the hyperparameter named."""

import keras
import pytest

from tests.bad_input import INF, NAN, assert_clear_value_error, assert_every_name_covered, flatten_cases
from tfescape import optimizers
from tfescape.optimizers.recording import check_hyperparameters


def _recording(inner, **options):
    return optimizers.RecordingOptimizer(inner, **options)


CASES = {
    "RecordingOptimizer": [
        (lambda: _recording(keras.optimizers.Adam(INF)), "learning_rate"),
        (lambda: _recording(keras.optimizers.Adam(NAN)), "learning_rate"),
        (lambda: _recording(keras.optimizers.SGD(-0.1)), "learning_rate"),
        (lambda: _recording(keras.optimizers.SGD(0.0)), "learning_rate"),
        (lambda: _recording(keras.optimizers.Adam(1e-3, beta_2=-0.5)), "beta_2"),
        (lambda: _recording(keras.optimizers.Adam(1e-3, beta_1=1.0)), "beta_1"),
        (lambda: _recording(keras.optimizers.Adam(1e-3, beta_1=NAN)), "beta_1"),
        (lambda: _recording(keras.optimizers.Adam(1e-3, epsilon=-1e-8)), "epsilon"),
        (lambda: _recording(keras.optimizers.SGD(0.1, momentum=1.5)), "momentum"),
        (lambda: _recording(keras.optimizers.RMSprop(1e-3, rho=NAN)), "rho"),
        (lambda: _recording(keras.optimizers.SGD(0.1), record_every=0), "record_every"),
        (lambda: _recording(keras.optimizers.SGD(0.1), record_every=1.5), "record_every"),
        (lambda: _recording("sgd"), "inner_optimizer"),
        (lambda: _recording(keras.optimizers.SGD(0.1), learning_rate=0.1), "learning_rate"),
    ],
    "state_reader": [
        (lambda: optimizers.state_reader("adam"), "optimizer"),
    ],
    "StateReader": [
        (lambda: optimizers.StateReader(object()), "optimizer"),
    ],
}

RESULT_TYPES = {"StateSnapshot", "StateSummary", "VariableStats", "ReadState", "SUPPORTED_OPTIMIZERS"}


def test_every_public_name_has_bad_input_cases():
    assert_every_name_covered(optimizers, CASES, RESULT_TYPES)


@pytest.mark.parametrize("name, call, match", flatten_cases(CASES))
def test_bad_input_gives_a_clear_value_error(name, call, match):
    assert_clear_value_error(call, match)


def test_sound_hyperparameters_and_schedules_pass():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.9)
    for inner in (
        keras.optimizers.Adam(1e-3, beta_1=0.0, epsilon=0.0),
        keras.optimizers.SGD(schedule, momentum=0.9),
        keras.optimizers.RMSprop(1e-3),
    ):
        check_hyperparameters(inner)
        assert optimizers.RecordingOptimizer(inner).inner_optimizer is inner
