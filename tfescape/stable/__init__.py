"""Stable laws on TensorFlow Probability: sampling, distributions, tail-index estimation, fitting."""

from tfescape.stable.sampling import symmetric_stable_sample

__all__ = ["symmetric_stable_sample"]
