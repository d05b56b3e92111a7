"""Stable laws on TensorFlow Probability: sampling, distributions, tail-index estimation, fitting."""

from tfescape.stable.accumulator import TailIndexAccumulator
from tfescape.stable.fit import StableFit, StableStderr, fit
from tfescape.stable.sampling import symmetric_stable_sample
from tfescape.stable.tail_index import TailIndexResult, tail_index

__all__ = [
    "symmetric_stable_sample",
    "StableFit",
    "StableStderr",
    "fit",
    "TailIndexAccumulator",
    "TailIndexResult",
    "tail_index",
]
