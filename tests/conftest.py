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


# One new interpreter serves every check that needs a process this test session has not configured (its
# own TensorFlow start-up costs seconds): started with KERAS_BACKEND unset, it reports the Keras backend
# that importing tfescape selected, then the first batches of epochs 0 and 3 of digits (seed 7).
FRESH_PROCESS_SCRIPT = """\
import numpy as np
import tfescape, keras
print('backend', keras.backend.backend())
from tfescape.data import load_dataset, set_data_epoch
train, _, _ = load_dataset('digits', batch_size=32, seed=7)
for epoch in (0, 3):
    set_data_epoch(train, epoch)
    x, y = next(iter(train))
    print('batch', epoch, float(np.sum(x.numpy().astype(np.float64))), ' '.join(map(str, y.numpy())))
"""


@pytest.fixture(scope="session")
def fresh_process():
    """What FRESH_PROCESS_SCRIPT printed: ``{"backend": name, "batches": {epoch: (labels, sum of x)}}``."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    run = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS_SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = {"batches": {}}
    for line in run.stdout.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "backend":
            report["backend"] = rest
        elif kind == "batch":
            epoch, total, labels = rest.split(" ", 2)
            report["batches"][int(epoch)] = (labels, float(total))
    return report
