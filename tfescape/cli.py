"""The ``tfescape`` command: subcommands that mirror the scripts in scripts/.

    tfescape compare --out results/digits          # SGD vs Adam end to end (scripts/compare_sgd_adam.py)
    tfescape compare --quick --out results/quick   # the same in under two minutes
    tfescape tail-index --quick --out results/ti   # training + noise stages only (scripts/tail_index.py)
    tfescape escape-time --out results/escape      # SDE exit-time sweeps (scripts/escape_time.py)
    tfescape sharpness sgd=a.keras adam=b.keras    # Hessian probes of saved models (scripts/sharpness.py)

Each subcommand parses its arguments, calls the library (tfescape.experiments) and writes a results folder;
the scripts call :func:`script_main` with their subcommand, so both spellings take the same options.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import typing
from collections.abc import Callable, Sequence

logger = logging.getLogger(__name__)

_COMPARE_HELP = {
    "dataset": "dataset: digits (offline default), synthetic, mnist, fashion_mnist, cifar10, cifar100",
    "model": "model: mlp, cnn or alexnet (the paper's CIFAR network)",
    "width": "hidden units per layer of the mlp",
    "depth": "hidden layers of the mlp",
    "image_size": "resize images to this side in pixels (alexnet on digits uses 32)",
    "max_train": "use only the first N training examples",
    "max_test": "use only the first N test examples",
    "batch_size": "minibatch size of training and of the gradient-noise probes",
    "epochs": "training epochs of each optimizer",
    "seed": "seed of the split, the shuffling and the shared initialization",
    "probe_every_epochs": "snapshot the weights (a point of the tail-index curve) every N epochs",
    "noise_batches": "minibatches whose gradient noise is measured per snapshot",
    "confidence": "confidence level of the tail-index intervals",
    "hessian_k": "number of top Hessian eigenvalues",
    "lanczos_iters": "Lanczos iterations (eigenvalues, spectral density)",
    "density_starts": "random starts of the spectral density estimate",
    "trace_samples": "Hutchinson probes of the Hessian trace",
    "landscape_points": "points of the 1-D loss landscape",
    "escape_paths": "Monte Carlo paths per escape-time simulation",
    "distribute": "none, or mirrored: run under tf.distribute.MirroredStrategy",
}


def add_compare_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``tfescape compare`` / scripts/compare_sgd_adam.py (one per CompareConfig field)."""
    from tfescape.experiments.compare import DEFAULT_OPTIMIZERS, DISTRIBUTE, PRESETS, CompareConfig
    from tfescape.optimizers.specs import FAMILIES

    parser.add_argument("--out", default="results/compare", help="results folder (default: %(default)s)")
    presets = parser.add_mutually_exclusive_group()
    presets.add_argument("--preset", choices=sorted(PRESETS), default="default", help="named configuration")
    presets.add_argument(
        "--quick",
        action="store_const",
        dest="preset",
        const="quick",
        help="small configuration, under 2 minutes on 2 CPU cores",
    )
    presets.add_argument(
        "--smoke",
        action="store_const",
        dest="preset",
        const="smoke",
        help="tiny configuration for tests (seconds; numbers are not meaningful)",
    )
    hints = typing.get_type_hints(CompareConfig)
    for field in dataclasses.fields(CompareConfig):
        flag = "--" + field.name.replace("_", "-")
        help_text = _COMPARE_HELP.get(field.name, field.name) + " (preset value if omitted)"
        if field.name == "optimizers":
            parser.add_argument(
                "--optimizer",
                dest="optimizers",
                action="append",
                default=None,
                metavar="NAME[:key=value,...]",
                help="an optimizer run to compare; repeat for several, e.g. --optimizer sgd:lr=0.1 "
                "--optimizer sgd:lr=0.1,momentum=0.9 --optimizer adam:lr=1e-3. NAME is one of "
                f"{', '.join(FAMILIES)}; keys are lr and the Keras arguments of that optimizer "
                f"(default: {' '.join(DEFAULT_OPTIMIZERS)})",
            )
        elif field.name == "distribute":
            parser.add_argument(flag, choices=DISTRIBUTE, default=None, help=help_text)
        else:
            parser.add_argument(flag, type=_scalar_type(hints[field.name]), default=None, help=help_text)
    parser.add_argument("--no-resume", action="store_true", help="recompute every stage")
    parser.add_argument(
        "--only", nargs="+", metavar="STAGE", help="run only stages starting with these names"
    )
    _add_common(parser)


def run_compare_command(args: argparse.Namespace) -> int:
    """Run the compare subcommand from parsed arguments; prints where the report is."""
    from tfescape.experiments.compare import CompareConfig, run_compare

    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(CompareConfig)}
    overrides = {k: (tuple(v) if isinstance(v, list) else v) for k, v in overrides.items() if v is not None}
    config = CompareConfig.preset(args.preset, **overrides)
    result = run_compare(
        config, args.out, resume=not args.no_resume, show_progress=not args.no_progress, only=args.only
    )
    print(f"report: {result.report_md}\n        {result.report_html}")
    print(
        f"stages run: {', '.join(result.ran) or 'none'}; skipped (done before): "
        f"{', '.join(result.skipped) or 'none'}; {result.seconds:.1f} s"
    )
    return 0


def add_sharpness_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``tfescape sharpness`` / scripts/sharpness.py."""
    parser.add_argument(
        "models",
        nargs="+",
        metavar="[NAME=]PATH",
        help="saved .keras models, e.g. sgd=results/digits/train/sgd/final.keras",
    )
    parser.add_argument("--out", default="results/sharpness", help="results folder (default: %(default)s)")
    parser.add_argument("--dataset", default="digits", help="dataset whose training split defines the loss")
    parser.add_argument("--image-size", type=int, default=None, help="resize images (as for training)")
    parser.add_argument("--max-train", type=int, default=None, help="use only the first N training examples")
    parser.add_argument("--seed", type=int, default=0, help="split seed (as for training) and probe seed")
    parser.add_argument("--probabilities", action="store_true", help="the models output probabilities")
    parser.add_argument("--k", type=int, default=5, help="number of top Hessian eigenvalues")
    parser.add_argument("--lanczos-iters", type=int, default=40, help="Lanczos iterations")
    parser.add_argument("--density-starts", type=int, default=3, help="random starts of the spectral density")
    parser.add_argument("--trace-samples", type=int, default=20, help="Hutch++ products for the trace")
    parser.add_argument("--landscape-points", type=int, default=25, help="points of the 1-D landscape")
    parser.add_argument("--epsilon", type=float, default=1e-3, help="Keskar sharpness box size")
    parser.add_argument(
        "--sharpness-steps", type=int, default=20, help="ascent steps of the Keskar sharpness"
    )
    parser.add_argument("--no-resume", action="store_true", help="probe every model again")
    _add_common(parser)


def run_sharpness_command(args: argparse.Namespace) -> int:
    from tfescape.experiments.sharpness import run_sharpness

    models = {}
    for item in args.models:
        name, sep, path = item.partition("=")
        if not sep:
            path, name = item, os.path.splitext(os.path.basename(item))[0]
            if name == "final":  # results/<folder>/train/<optimizer>/final.keras
                name = os.path.basename(os.path.dirname(os.path.abspath(item)))
        if name in models:
            raise ValueError(f"two models are named {name!r}; name them explicitly as NAME=PATH.")
        models[name] = path
    result = run_sharpness(
        models,
        args.out,
        dataset=args.dataset,
        image_size=args.image_size,
        max_train=args.max_train,
        seed=args.seed,
        from_logits=not args.probabilities,
        resume=not args.no_resume,
        k=args.k,
        lanczos_iters=args.lanczos_iters,
        density_starts=args.density_starts,
        trace_samples=args.trace_samples,
        landscape_points=args.landscape_points,
        epsilon=args.epsilon,
        sharpness_steps=args.sharpness_steps,
    )
    print(f"report: {result.report_md}\n        {result.report_html}")
    print(
        f"probed: {', '.join(result.ran) or 'none'}; "
        f"skipped (done before): {', '.join(result.skipped) or 'none'}"
    )
    return 0


def add_tail_index_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``tfescape tail-index`` / scripts/tail_index.py: compare's training options, or samples."""
    parser.add_argument(
        "--samples",
        metavar="FILE.npy",
        help="estimate the tail index of these samples (a .npy array, flattened) and stop",
    )
    from tfescape.stable.tail_index import METHODS

    parser.add_argument(
        "--method",
        default="mohammadi",
        choices=METHODS,
        help="estimator for --samples (default: %(default)s)",
    )
    add_compare_arguments(parser)
    parser.set_defaults(out="results/tail_index")


def run_tail_index_command(args: argparse.Namespace) -> int:
    if args.samples:
        import json

        import numpy as np

        from tfescape.experiments._io import write_json
        from tfescape.stable import tail_index

        x = np.load(args.samples).astype(np.float64).ravel()
        confidence = 0.95 if args.confidence is None else args.confidence
        seed = 0 if args.seed is None else args.seed
        result = tail_index(x, method=args.method, confidence=confidence, seed=seed)
        out = {
            "samples": args.samples,
            "alpha": float(result.alpha),
            "ci_low": None if result.ci_low is None else float(result.ci_low),
            "ci_high": None if result.ci_high is None else float(result.ci_high),
            "interval": result.interval,
            "confidence": result.confidence,
            "method": result.method,
            "num_samples": result.num_samples,
            "block_size": result.block_size,
        }
        path = write_json(os.path.join(args.out, "tail_index.json"), out)
        print(json.dumps(out, indent=2))
        print(f"written: {path}")
        return 0
    args.only = ["train", "noise"]
    return run_compare_command(args)


def add_escape_time_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``tfescape escape-time`` / scripts/escape_time.py."""
    parser.add_argument("--out", default="results/escape_time", help="results folder (default: %(default)s)")
    presets = parser.add_mutually_exclusive_group()
    presets.add_argument("--preset", choices=("default", "quick", "smoke"), default="default")
    presets.add_argument(
        "--quick", action="store_const", dest="preset", const="quick", help="fewer paths and points"
    )
    presets.add_argument("--smoke", action="store_const", dest="preset", const="smoke", help="tiny (tests)")
    parser.add_argument("--alpha", type=float, help="tail index held fixed while eps and h are swept")
    parser.add_argument("--eps", type=float, help="noise level held fixed while alpha and h are swept")
    parser.add_argument("--height", type=float, help="basin height held fixed while eps and alpha are swept")
    parser.add_argument("--eps-values", type=float, nargs="+", help="the eps sweep")
    parser.add_argument("--alphas", type=float, nargs="+", help="the alpha sweep")
    parser.add_argument("--heights", type=float, nargs="+", help="the basin-height sweep")
    parser.add_argument("--hessian", type=float, nargs="+", help="diagonal of the basin's Hessian")
    parser.add_argument("--sigma", type=float, nargs="+", help="diagonal of the noise matrix Sigma")
    parser.add_argument("--num-paths", type=int, help="Monte Carlo paths per point")
    parser.add_argument("--sweeps", nargs="+", choices=("eps", "alpha", "height"), help="which sweeps to run")
    parser.add_argument("--seed", type=int, help="simulation seed")
    parser.add_argument("--no-resume", action="store_true", help="recompute every sweep")
    _add_common(parser)


def run_escape_time_command(args: argparse.Namespace) -> int:
    from tfescape.experiments.escape_sweeps import EscapeSweepConfig, run_escape_sweeps

    keys = (
        "alpha",
        "eps",
        "height",
        "eps_values",
        "alphas",
        "heights",
        "hessian",
        "sigma",
        "num_paths",
        "seed",
        "sweeps",
    )
    overrides = {k: getattr(args, k) for k in keys if getattr(args, k) is not None}
    overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
    config = EscapeSweepConfig.preset(args.preset, **overrides)
    result = run_escape_sweeps(
        config, args.out, resume=not args.no_resume, show_progress=not args.no_progress
    )
    print(f"report: {result.report_md}\n        {result.report_html}")
    print(
        f"sweeps run: {', '.join(result.ran) or 'none'}; "
        f"skipped (done before): {', '.join(result.skipped) or 'none'}"
    )
    return 0


@dataclasses.dataclass(frozen=True)
class Command:
    """A subcommand: its name, the script that mirrors it, help, and its two functions."""

    name: str
    script: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: dict[str, Command] = {
    "compare": Command(
        "compare",
        "compare_sgd_adam.py",
        "train SGD and Adam from one initialization and compare them (report with figures)",
        add_compare_arguments,
        run_compare_command,
    ),
    "tail-index": Command(
        "tail-index",
        "tail_index.py",
        "tail index of the gradient noise along SGD and Adam training (or of given samples)",
        add_tail_index_arguments,
        run_tail_index_command,
    ),
    "escape-time": Command(
        "escape-time",
        "escape_time.py",
        "exit times of the SGD and Adam SDEs against eps, alpha and basin height: simulation vs theory",
        add_escape_time_arguments,
        run_escape_time_command,
    ),
    "sharpness": Command(
        "sharpness",
        "sharpness.py",
        "Hessian sharpness probes of saved Keras models (eigenvalues, trace, density, landscape)",
        add_sharpness_arguments,
        run_sharpness_command,
    ),
}


def build_parser(prog: str = "tfescape") -> argparse.ArgumentParser:
    """The ``tfescape`` parser with one subparser per command."""
    parser = argparse.ArgumentParser(prog=prog, description="Why SGD generalizes better than Adam, measured.")
    from tfescape._version import __version__

    parser.add_argument("--version", action="version", version=f"tfescape {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS.values():
        p = sub.add_parser(command.name, help=command.help, description=command.help)
        command.add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tfescape`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    return _run(COMMANDS[args.command], args)


def script_main(command: str, argv: Sequence[str] | None = None) -> int:
    """Entry point of scripts/<script>.py: the options of one subcommand, with the script's name."""
    cmd = COMMANDS[command]
    parser = argparse.ArgumentParser(prog=cmd.script, description=cmd.help)
    cmd.add_arguments(parser)
    return _run(cmd, parser.parse_args(argv))


def _run(command: Command, args: argparse.Namespace) -> int:
    _configure_logging(args.verbose)
    from tfescape.data import DatasetUnavailableError

    try:
        return command.run(args)
    except (DatasetUnavailableError, ValueError) as err:
        print(f"tfescape {command.name}: error: {err}", file=sys.stderr)
        return 2


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")


def _configure_logging(verbose: int) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("tfescape").setLevel(min(level, logging.INFO))


def _scalar_type(hint) -> Callable[[str], object]:
    args = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
    base = args[0]
    if base is bool:
        return lambda text: text.lower() in ("1", "true", "yes")
    return base if base in (int, float, str) else str


if __name__ == "__main__":
    raise SystemExit(main())
