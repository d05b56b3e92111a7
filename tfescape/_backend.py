"""Select Keras' TensorFlow backend before anything imports Keras.

tfescape is written against TensorFlow (tf.function, tf.distribute, TensorFlow Probability), so it needs
Keras 3 running on the TensorFlow backend. When ``KERAS_BACKEND`` is unset we set it; when the user chose
another backend we refuse with an explanation instead of failing later in an obscure place.
"""

import os
import sys

_REQUIRED = "tensorflow"


def ensure_tensorflow_backend() -> None:
    """Set KERAS_BACKEND=tensorflow if unset; raise ImportError if another backend was chosen.

    Raises:
        ImportError: KERAS_BACKEND names another backend, or Keras was already imported with one.
        (Keras is not imported here: importing it would import TensorFlow.)
    """
    chosen = os.environ.setdefault("KERAS_BACKEND", _REQUIRED)
    if chosen != _REQUIRED:
        raise ImportError(
            f"tfescape needs Keras' TensorFlow backend, but KERAS_BACKEND={chosen!r}. "
            "Unset KERAS_BACKEND or set KERAS_BACKEND=tensorflow before importing tfescape "
            "(Keras reads it once, at its first import)."
        )
    keras = sys.modules.get("keras")
    if keras is None:  # not imported yet: it will read KERAS_BACKEND when it is
        return
    active = keras.backend.backend()
    if active != _REQUIRED:
        raise ImportError(
            f"Keras was imported with the {active!r} backend before tfescape; tfescape needs "
            "'tensorflow'. Set KERAS_BACKEND=tensorflow (or ~/.keras/keras.json) and restart Python."
        )
