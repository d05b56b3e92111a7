import os
import subprocess
import sys

import tfescape


def test_version_and_all():
    assert isinstance(tfescape.__version__, str) and tfescape.__version__.count(".") == 2
    for name in tfescape.__all__:
        assert hasattr(tfescape, name), name


def _import_with_backend(backend):
    env = dict(os.environ, KERAS_BACKEND=backend)
    return subprocess.run(
        [sys.executable, "-c", "import tfescape"], env=env, capture_output=True, text=True
    )


def test_import_under_other_backend_raises_clear_error():
    result = _import_with_backend("jax")
    assert result.returncode != 0
    assert "tfescape needs Keras' TensorFlow backend" in result.stderr
    assert "KERAS_BACKEND='jax'" in result.stderr


def test_import_selects_tensorflow_backend_when_unset(fresh_process):
    # fresh_process (tests/conftest.py) ran `import tfescape, keras` in a new process without KERAS_BACKEND.
    assert fresh_process["backend"] == "tensorflow"
