"""SGD vs Adam end to end: training curves, gradient-noise tail index, sharpness, escape times, report.

    python scripts/compare_sgd_adam.py --out results/digits           # offline default (digits)
    python scripts/compare_sgd_adam.py --quick --out results/quick    # under two minutes
    python scripts/compare_sgd_adam.py --dataset cifar10 --model alexnet --out results/cifar10

Same options as ``tfescape compare``; run with --help for all of them. Rerunning into the same folder
skips finished stages and continues training from its last checkpoint.
"""

from tfescape.cli import script_main

if __name__ == "__main__":
    raise SystemExit(script_main("compare"))
