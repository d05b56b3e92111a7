"""tfescape: why SGD generalizes better than Adam, measured on Keras 3 / TensorFlow models.

Heavy-tailed gradient noise, Levy-driven SDEs of SGD and Adam, escape times from basins and the
sharpness of the minima each optimizer finds, after Zhou et al. (NeurIPS 2020).

Subpackages: ``data``, ``models``, ``stable``, ``optimizers``, ``noise``, ``callbacks``, ``hessian``,
``sde`` (with ``sde.theory``); ``plots``, ``report`` and ``experiments`` (seaborn and the pipelines behind
the scripts) are imported on first use, so ``import tfescape`` stays light.
"""

import importlib

from tfescape._backend import ensure_tensorflow_backend

ensure_tensorflow_backend()

from tfescape import callbacks, data, hessian, models, noise, optimizers, sde, stable  # noqa: E402
from tfescape._version import __version__  # noqa: E402
from tfescape.callbacks import GradientNoiseProbe, OptimizerStateLogger  # noqa: E402
from tfescape.data import DatasetInfo, DatasetUnavailableError, load_arrays, load_dataset  # noqa: E402
from tfescape.models import build_model  # noqa: E402
from tfescape.optimizers import RecordingOptimizer, StateSnapshot  # noqa: E402
from tfescape.stable import Stable, SymmetricStable, TailIndexAccumulator, fit, tail_index  # noqa: E402

_LAZY_SUBMODULES = ("plots", "report", "experiments")

__all__ = [
    "__version__",
    # subpackages
    "callbacks",
    "data",
    "experiments",
    "hessian",
    "models",
    "noise",
    "optimizers",
    "plots",
    "report",
    "sde",
    "stable",
    # the most used names
    "DatasetInfo",
    "DatasetUnavailableError",
    "GradientNoiseProbe",
    "OptimizerStateLogger",
    "RecordingOptimizer",
    "Stable",
    "StateSnapshot",
    "SymmetricStable",
    "TailIndexAccumulator",
    "build_model",
    "fit",
    "load_arrays",
    "load_dataset",
    "tail_index",
]


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"tfescape.{name}")
    raise AttributeError(f"module 'tfescape' has no attribute {name!r}")
