"""Levy-driven SDEs of SGD and Adam, Monte Carlo exit times and the small-noise exit law.

Pieces: Levy increments (``levy_increments``), processes as init/step pairs (``SGDSDE``, ``AdamSDE``) and
the discrete algorithms with injected SaS gradient noise (``NoisySGD``, ``NoisyAdam``), basins (``Box``,
``Ball``, ``Ellipsoid``, ``SublevelSet``, ``Predicate``), ``first_exit_times`` (batched Monte Carlo), the
theory in the submodule ``tfescape.sde.theory`` and test landscapes.
"""

from tfescape.sde import theory
from tfescape.sde.basins import Ball, Box, Ellipsoid, Predicate, SublevelSet
from tfescape.sde.discrete import NoisyAdam, NoisyAdamState, NoisySGD
from tfescape.sde.exit_times import ExitTimes, MeanEstimate, first_exit_times
from tfescape.sde.increments import levy_increments
from tfescape.sde.landscapes import AsymmetricValley, DoubleWell1D, DoubleWell2D, QuadraticBasin
from tfescape.sde.processes import SGDSDE, AdamSDE, AdamState, SGDState
from tfescape.sde.reduced import BasinEscape, ReducedBasin, basin_escape, reduce_basin
from tfescape.sde.theory import EscapePrediction, OptimizerEscape, predict_escape, predict_optimizer_escape

__all__ = [
    "theory",
    "levy_increments",
    "SGDSDE",
    "SGDState",
    "AdamSDE",
    "AdamState",
    "NoisySGD",
    "NoisyAdam",
    "NoisyAdamState",
    "Box",
    "Ball",
    "Ellipsoid",
    "SublevelSet",
    "Predicate",
    "first_exit_times",
    "ExitTimes",
    "MeanEstimate",
    "predict_escape",
    "EscapePrediction",
    "predict_optimizer_escape",
    "OptimizerEscape",
    "ReducedBasin",
    "reduce_basin",
    "BasinEscape",
    "basin_escape",
    "QuadraticBasin",
    "DoubleWell1D",
    "DoubleWell2D",
    "AsymmetricValley",
]
