"""Experiment pipelines behind the scripts and the ``tfescape`` command (resumable, staged).

- :mod:`tfescape.experiments.compare`: the main job, SGD vs Adam on one model from one initialization.
- :mod:`tfescape.experiments.sharpness`: Hessian sharpness probes of a minimum (and of saved models).
- :mod:`tfescape.experiments.noise_tail`: gradient-noise tail index along training, noise histogram fits.
- :mod:`tfescape.experiments.escape`: escape of SGD and Adam from a trained minimum's basin.
- :mod:`tfescape.experiments.escape_sweeps`: exit-time sweeps of the SGD and Adam SDEs on a synthetic basin.
"""

from tfescape.experiments.compare import STAGES, CompareConfig, run_compare

__all__ = ["STAGES", "CompareConfig", "run_compare"]
