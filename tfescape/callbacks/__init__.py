"""Keras callbacks: optimizer-state logging and gradient-noise probing during model.fit."""

from tfescape.callbacks.noise_probe import GradientNoiseProbe, LayerNoise, NoiseProbeRecord
from tfescape.callbacks.state_logger import OptimizerStateLogger

__all__ = ["GradientNoiseProbe", "LayerNoise", "NoiseProbeRecord", "OptimizerStateLogger"]
