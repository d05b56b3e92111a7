"""Stable laws on TensorFlow Probability: sampling, distributions, tail-index estimation, fitting."""

from tfescape.stable.accumulator import TailIndexAccumulator
from tfescape.stable.distribution import Stable, SymmetricStable
from tfescape.stable.fit import StableFit, StableStderr, fit
from tfescape.stable.sampling import stable_sample, symmetric_stable_sample
from tfescape.stable.stable_math import levy_measure_constant
from tfescape.stable.tail_index import TailIndexResult, tail_index

__all__ = [
    "Stable",
    "SymmetricStable",
    "levy_measure_constant",
    "stable_sample",
    "symmetric_stable_sample",
    "StableFit",
    "StableStderr",
    "fit",
    "TailIndexAccumulator",
    "TailIndexResult",
    "tail_index",
]
