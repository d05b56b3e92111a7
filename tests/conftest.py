"""Test configuration: two logical CPU devices (for tf.distribute tests) before TF initializes."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["TFESCAPE_OFFLINE"] = "1"  # no test downloads anything

import tensorflow as tf  # noqa: E402

_cpus = tf.config.list_physical_devices("CPU")
try:
    tf.config.set_logical_device_configuration(
        _cpus[0], [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )
except RuntimeError:  # already initialized (e.g. another plugin touched TF first)
    pass


import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def float64():
    """Build Keras layers in float64 for the duration of a test.

    Keras fixes its global dtype policy from floatx the first time any layer is built, so setting
    floatx alone has no effect once another test built a float32 layer: set both, restore both.
    """
    previous_floatx = keras.config.floatx()
    previous_policy = keras.config.dtype_policy()
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")
    try:
        yield
    finally:
        keras.config.set_floatx(previous_floatx)
        keras.config.set_dtype_policy(previous_policy)


@pytest.fixture
def two_device_strategy():
    """A MirroredStrategy over the two logical CPU devices, reducing through one device.

    Collective all-reduce keys restart with every new MirroredStrategy, and TensorFlow refuses a key
    reused with another dtype in the same process (float64 tests next to float32 ones), so tests reduce
    through one device; what they check, the replicas' results, is the same either way.
    """
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    if len(devices) < 2:
        pytest.skip("needs the two logical CPU devices configured in tests/conftest.py")
    return tf.distribute.MirroredStrategy(
        devices[:2], cross_device_ops=tf.distribute.ReductionToOneDevice()
    )
