"""tfescape: why SGD generalizes better than Adam, measured on Keras 3 / TensorFlow models.

Heavy-tailed gradient noise, Levy-driven SDEs of SGD and Adam, escape times from basins and the
sharpness of the minima each optimizer finds, after Zhou et al. (NeurIPS 2020).
"""

from tfescape._backend import ensure_tensorflow_backend

ensure_tensorflow_backend()

from tfescape import data, models  # noqa: E402
from tfescape._version import __version__  # noqa: E402
from tfescape.data import DatasetInfo, load_arrays, load_dataset  # noqa: E402
from tfescape.models import build_model  # noqa: E402

__all__ = [
    "__version__",
    "data",
    "models",
    "DatasetInfo",
    "load_arrays",
    "load_dataset",
    "build_model",
]
