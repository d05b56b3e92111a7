"""Optimizer wrappers that record what Keras optimizers see and do (g_t, m_t, v_t, Q_t, updates)."""

from tfescape.optimizers.readers import SUPPORTED_OPTIMIZERS, ReadState, StateReader, state_reader
from tfescape.optimizers.recording import RecordingOptimizer, StateSnapshot, StateSummary, VariableStats

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
