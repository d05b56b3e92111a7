"""Hessians of a Keras model's training loss: products, spectra, trace, diagonal, sharpness, landscapes.

- :class:`HessianOperator` / :func:`hessian_vector_product`: H v over a dataset or one batch
  (forward-over-reverse or reverse-over-reverse, inference mode, tf.function, tf.distribute).
- :func:`lanczos`, :func:`lanczos_eigenvalues`, :func:`block_lanczos_eigenvalues`,
  :func:`power_iteration`: float64 algorithms on any matrix-vector (or, for the block method,
  matrix-matrix) callable.
- :func:`top_eigenvalues`, :func:`trace`, :func:`diagonal`, :func:`spectral_density`: probes of a model
  (and their ``*_of`` forms on a plain ``mvp_fn``).
- :func:`epsilon_sharpness`, :func:`loss_landscape_1d`, :func:`loss_landscape_2d`: flatness measures.
"""

from tfescape.hessian.estimators import (
    DensityResult,
    DiagonalResult,
    TraceResult,
    diagonal_of,
    spectral_density_of,
    top_eigenvalues_of,
    trace_of,
)
from tfescape.hessian.hvp import HessianOperator, hessian_vector_product
from tfescape.hessian.lanczos import (
    BlockLanczosResult,
    EigenResult,
    LanczosResult,
    block_lanczos_eigenvalues,
    lanczos,
    lanczos_eigenvalues,
    power_iteration,
)
from tfescape.hessian.probes import diagonal, spectral_density, top_eigenvalues, trace
from tfescape.hessian.sharpness import (
    LandscapeResult,
    SharpnessResult,
    epsilon_sharpness,
    filter_normalized_direction,
    loss_landscape_1d,
    loss_landscape_2d,
)
from tfescape.hessian.summary import SharpnessProbe, probe_sharpness

__all__ = [
    "SharpnessProbe",
    "probe_sharpness",
    "BlockLanczosResult",
    "DensityResult",
    "DiagonalResult",
    "EigenResult",
    "HessianOperator",
    "LandscapeResult",
    "LanczosResult",
    "SharpnessResult",
    "TraceResult",
    "block_lanczos_eigenvalues",
    "diagonal",
    "diagonal_of",
    "epsilon_sharpness",
    "filter_normalized_direction",
    "hessian_vector_product",
    "lanczos",
    "lanczos_eigenvalues",
    "loss_landscape_1d",
    "loss_landscape_2d",
    "power_iteration",
    "spectral_density",
    "spectral_density_of",
    "top_eigenvalues",
    "top_eigenvalues_of",
    "trace",
    "trace_of",
]
