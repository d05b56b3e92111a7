"""Optimizer wrappers that record what Keras optimizers see and do (g_t, m_t, v_t, Q_t, updates).

The names below load on first use (PEP 562), so ``tfescape.optimizers.specs`` (optimizer specs, no
TensorFlow) can be imported by the command line's ``--help`` without loading Keras. Importing
``RecordingOptimizer`` registers it with Keras for ``keras.models.load_model``.
"""

import importlib

_NAMES = {
    "SUPPORTED_OPTIMIZERS": "readers",
    "ReadState": "readers",
    "StateReader": "readers",
    "state_reader": "readers",
    "RecordingOptimizer": "recording",
    "StateSnapshot": "recording",
    "StateSummary": "recording",
    "VariableStats": "recording",
}

__all__ = [
    "RecordingOptimizer",
    "StateSnapshot",
    "StateSummary",
    "VariableStats",
    "SUPPORTED_OPTIMIZERS",
    "ReadState",
    "StateReader",
    "state_reader",
]


def __getattr__(name):
    if name in _NAMES:
        value = getattr(importlib.import_module(f"tfescape.optimizers.{_NAMES[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tfescape.optimizers' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
