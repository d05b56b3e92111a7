"""Experiment pipelines behind the scripts and the ``tfescape`` command (resumable, staged).

- :mod:`tfescape.experiments.compare`: the main job, SGD vs Adam on one model from one initialization.
"""

from tfescape.experiments.compare import STAGES, CompareConfig, run_compare

__all__ = ["STAGES", "CompareConfig", "run_compare"]
