"""Tail index of the gradient noise along SGD and Adam training (the paper's tail-index figure), or of
samples in a .npy file.

    python scripts/tail_index.py --quick --out results/tail-index
    python scripts/tail_index.py --samples noise.npy --out results/my-noise

Same options as ``tfescape tail-index``; run with --help for all of them. It runs the training and noise
stages of the compare pipeline, so a later ``compare_sgd_adam.py`` into the same folder reuses them.
"""

from tfescape.cli import script_main

if __name__ == "__main__":
    raise SystemExit(script_main("tail-index"))
