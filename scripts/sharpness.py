"""Sharpness probes of saved Keras models: Hessian top eigenvalues, trace, spectral density, Keskar
sharpness and a 1-D loss landscape, with figures and a report.

    python scripts/sharpness.py sgd=results/digits/train/sgd/final.keras \
        adam=results/digits/train/adam/final.keras --out results/digits-sharpness

Same options as ``tfescape sharpness``; run with --help for all of them.
"""

from tfescape.cli import script_main

if __name__ == "__main__":
    raise SystemExit(script_main("sharpness"))
