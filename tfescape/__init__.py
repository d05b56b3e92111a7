"""tfescape: why SGD generalizes better than Adam, measured on Keras 3 / TensorFlow models.

Heavy-tailed gradient noise, Levy-driven SDEs of SGD and Adam, escape times from basins and the
sharpness of the minima each optimizer finds, after Zhou et al. (NeurIPS 2020).

Subpackages: ``data``, ``models``, ``stable``, ``optimizers``, ``noise``, ``callbacks``, ``hessian``,
``sde`` (with ``sde.theory``), ``plots``, ``report`` and ``experiments`` (the pipelines behind the scripts).
Each is imported on first use, so ``import tfescape`` is light and TensorFlow loads only when needed.
``keras.models.load_model`` of a model compiled with ``RecordingOptimizer`` needs ``tfescape.optimizers``
imported first (importing it registers the class with Keras).
"""

import importlib

from tfescape._backend import ensure_tensorflow_backend
from tfescape._version import __version__

ensure_tensorflow_backend()

# Everything below loads on first use (PEP 562), so ``import tfescape`` and the ``tfescape --help`` it
# serves do not wait for TensorFlow. ``from tfescape import X`` and ``tfescape.X`` work as usual.
_SUBMODULES = (
    "callbacks",
    "claims",
    "data",
    "experiments",
    "hessian",
    "models",
    "noise",
    "observed",
    "optimizers",
    "plots",
    "report",
    "sde",
    "stable",
)
_NAMES = {
    "GradientNoiseProbe": "callbacks",
    "OptimizerStateLogger": "callbacks",
    "DatasetInfo": "data",
    "DatasetUnavailableError": "data",
    "load_arrays": "data",
    "load_dataset": "data",
    "build_model": "models",
    "RecordingOptimizer": "optimizers",
    "StateSnapshot": "optimizers",
    "Stable": "stable",
    "SymmetricStable": "stable",
    "TailIndexAccumulator": "stable",
    "fit": "stable",
    "tail_index": "stable",
}

__all__ = ["__version__", *_SUBMODULES, *sorted(_NAMES)]


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"tfescape.{name}")
    if name in _NAMES:
        value = getattr(importlib.import_module(f"tfescape.{_NAMES[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tfescape' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
