"""Escape times of the SGD and Adam Levy-driven SDEs on an anisotropic quadratic basin: exit time against
the noise level eps, the tail index alpha and the basin height, simulated and predicted by the exit law.

    python scripts/escape_time.py --out results/escape-time
    python scripts/escape_time.py --quick --alpha 1.2 --out results/escape-time-quick

Same options as ``tfescape escape-time``; run with --help for all of them.
"""

from tfescape.cli import script_main

if __name__ == "__main__":
    raise SystemExit(script_main("escape-time"))
