"""The ``tfescape`` command: subcommands that mirror the scripts in scripts/.

    tfescape compare --out results/digits          # SGD vs Adam end to end (scripts/compare_sgd_adam.py)
    tfescape compare --quick --out results/quick   # the same in under two minutes
    tfescape tail-index --quick --out results/ti   # training + noise stages only (scripts/tail_index.py)
    tfescape escape-time --out results/escape      # SDE exit-time sweeps (scripts/escape_time.py)
    tfescape sharpness sgd=a.keras adam=b.keras    # Hessian probes of saved models (scripts/sharpness.py)

Each subcommand parses its arguments, calls the library (tfescape.experiments) and writes a results folder;
the scripts call :func:`script_main` with their subcommand, so both spellings take the same options.

Building the parser imports no TensorFlow (``--help`` is instant); TensorFlow loads when a command runs,
with its native start-up log lines sent to a temporary file unless ``-v`` is given, and each warning is
shown once. compare's options live in :func:`add_compare_config_arguments` (one per CompareConfig field).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
import re
import sys
import tempfile
import threading
import time
import typing
import zipfile
from collections.abc import Callable, Iterator, Sequence

logger = logging.getLogger("tfescape.cli")  # also when run as python -m tfescape.cli

# ------------------------------------------------------------------------------------ compare's options

_COMPARE_HELP = {
    "dataset": "dataset: digits (offline), synthetic, mnist, fashion_mnist, cifar10, cifar100",
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
    "sharpness_epsilon": "box size eps of Keskar's sharpness (box eps (|x_i| + 1) around the minimum)",
    "sharpness_steps": "projected-gradient ascent steps of Keskar's sharpness",
    "escape_paths": "Monte Carlo paths per escape-time simulation",
    "escape_steps": "step budget per simulated path (later exits count as censored)",
    "basin_height": "loss height h (nats) of the quadratic basin around each minimum",
    "keep_noise_samples": "keep the sampled noise of every snapshot, not only the last one the report draws",
    "observed_replicas": "replicas of real training restarted at each minimum to observe its escape",
    "observed_steps": "step budget of each observed replica (later exits count as censored)",
    "observed_warmup": "learning-rate-0 steps filling an optimizer's moments at another run's minimum",
    "distribute": "none; mirrored (tf.distribute.MirroredStrategy, local devices); or multiworker "
    "(MultiWorkerMirroredStrategy over the cluster in TF_CONFIG, run on every worker)",
}

# Option groups of --help, in CompareConfig field names; fields in no group are listed under "other".
_COMPARE_GROUPS = (
    ("data and model", ("dataset", "model", "width", "depth", "image_size", "max_train", "max_test")),
    (
        "training",
        ("optimizers", "epochs", "batch_size", "seed", "distribute"),
    ),
    ("gradient noise", ("probe_every_epochs", "noise_batches", "confidence", "keep_noise_samples")),
    (
        "sharpness",
        (
            "hessian_k",
            "lanczos_iters",
            "density_starts",
            "trace_samples",
            "landscape_points",
            "sharpness_epsilon",
            "sharpness_steps",
        ),
    ),
    (
        "escape",
        (
            "escape_paths",
            "escape_steps",
            "basin_height",
            "observed_replicas",
            "observed_steps",
            "observed_warmup",
        ),
    ),
)
_TAIL_INDEX_GROUPS = ("data and model", "training", "gradient noise")
_NONE_MEANS = {"image_size": "native", "max_train": "all", "max_test": "all"}


def add_compare_config_arguments(
    parser: argparse.ArgumentParser, *, groups: Sequence[str] | None = None
) -> None:
    """One option per CompareConfig field (of ``groups``, or all), shown with its preset values.

    Every option defaults to None (the chosen preset decides); its help shows the value of the default
    preset and, where it differs, of --quick.
    """
    from tfescape.experiments.compare import DISTRIBUTE, CompareConfig

    hints = typing.get_type_hints(CompareConfig)
    default, quick = CompareConfig.preset("default"), CompareConfig.preset("quick")
    names = [f.name for f in dataclasses.fields(CompareConfig)]
    grouped = [(title, [n for n in fields if n in names]) for title, fields in _COMPARE_GROUPS]
    placed = {n for _, fields in grouped for n in fields}
    grouped.append(("other", [n for n in names if n not in placed]))
    for title, fields in grouped:
        if not fields or (groups is not None and title not in groups):
            continue
        group = parser.add_argument_group(f"{title} options")
        for name in fields:
            flag = "--" + name.replace("_", "-")
            help_text = _preset_help(
                _COMPARE_HELP.get(name, name.replace("_", " ")),
                getattr(default, name),
                getattr(quick, name),
                none_means=_NONE_MEANS.get(name, "none"),
            )
            if name == "optimizers":
                _add_optimizer_option(group, default=getattr(default, name))
            elif name == "distribute":
                group.add_argument(flag, choices=DISTRIBUTE, default=None, help=help_text)
            else:
                kind = _scalar_type(hints[name])
                metavar = {int: "N", float: "X"}.get(kind, "NAME")
                group.add_argument(flag, type=kind, default=None, metavar=metavar, help=help_text)


def _add_optimizer_option(group, *, default: Sequence[str]) -> None:
    """``--optimizer NAME[:key=value,...]``, repeatable: the optimizer runs compare trains."""
    from tfescape.optimizers.specs import FAMILIES

    group.add_argument(
        "--optimizer",
        dest="optimizers",
        action="append",
        default=None,
        metavar="NAME[:key=value,...]",
        help="an optimizer run to compare; repeat for several, e.g. --optimizer sgd:lr=0.1 "
        "--optimizer sgd:lr=0.1,momentum=0.9 --optimizer adam:lr=1e-3. NAME is one of "
        f"{', '.join(FAMILIES)}; keys are lr and the Keras arguments of that optimizer "
        f"(default: {' '.join(default)})",
    )


def config_overrides(args: argparse.Namespace, config_class) -> dict:
    """The fields of ``config_class`` given on the command line (lists become tuples)."""
    overrides = {}
    for field in dataclasses.fields(config_class):
        value = getattr(args, field.name, None)
        if value is not None:
            overrides[field.name] = tuple(value) if isinstance(value, list) else value
    return overrides


def add_compare_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``tfescape compare`` / scripts/compare_sgd_adam.py (one per CompareConfig field)."""
    _add_out(parser, "results/compare")
    _add_compare_presets(parser)
    add_compare_config_arguments(parser)
    run = parser.add_argument_group("run options")
    run.add_argument("--no-resume", action="store_true", help="recompute every stage (replaces its results)")
    run.add_argument(
        "--only",
        nargs="+",
        metavar="STAGE",
        help="run only the stages whose names start with these (train, noise, sharpness, escape)",
    )
    _add_common(run)


def run_compare_command(args: argparse.Namespace) -> int:
    """Run the compare subcommand from parsed arguments; prints where the report is."""
    from tfescape.experiments.compare import CompareConfig, run_compare

    config = CompareConfig.preset(args.preset, **config_overrides(args, CompareConfig))
    result = run_compare(
        config, args.out, resume=not args.no_resume, show_progress=not args.no_progress, only=args.only
    )
    print(f"report: {result.report_md}\n        {result.report_html}")
    print(
        f"stages run: {', '.join(result.ran) or 'none'}; skipped (done before): "
        f"{', '.join(result.skipped) or 'none'}; {result.seconds:.1f} s"
    )
    for sentence in result.diverged:
        print(f"{sentence}: its noise, sharpness and escape were not measured (see the report)")
    return 0


def _add_compare_presets(parser: argparse.ArgumentParser) -> None:
    presets = parser.add_mutually_exclusive_group()
    presets.add_argument(
        "--preset",
        choices=("default", "quick", "smoke"),
        default="default",
        help="named configuration that the options below change (default: %(default)s)",
    )
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


# ---------------------------------------------------------------------------------- other subcommands


# The sharpness command's probe sizes are those of compare's sharpness stage (CompareConfig fields).
_SHARPNESS_SIZES = {
    "k": "hessian_k",
    "lanczos_iters": "lanczos_iters",
    "density_starts": "density_starts",
    "trace_samples": "trace_samples",
    "landscape_points": "landscape_points",
    "epsilon": "sharpness_epsilon",
    "sharpness_steps": "sharpness_steps",
}


def add_sharpness_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``tfescape sharpness`` / scripts/sharpness.py."""
    from tfescape.experiments.compare import CompareConfig

    parser.add_argument(
        "models",
        nargs="+",
        metavar="[NAME=]PATH",
        help="saved .keras models, e.g. sgd=results/digits/train/sgd/final.keras",
    )
    _add_out(parser, "results/sharpness")
    data = parser.add_argument_group("data options (as for training)")
    data.add_argument(
        "--dataset",
        default="digits",
        metavar="NAME",
        help="dataset whose training split defines the loss (default: %(default)s)",
    )
    data.add_argument(
        "--image-size",
        type=int,
        default=None,
        metavar="N",
        help="resize images to this side (default: native)",
    )
    data.add_argument(
        "--max-train",
        type=int,
        default=None,
        metavar="N",
        help="use only the first N training examples (default: all)",
    )
    data.add_argument(
        "--seed", type=int, default=0, metavar="N", help="split and probe seed (default: %(default)s)"
    )
    data.add_argument(
        "--probabilities", action="store_true", help="the models output probabilities, not logits"
    )
    probes = parser.add_argument_group("probe options")
    probes.add_argument(
        "--quick", action="store_true", help="smaller probes (the sizes of compare --quick), for a first look"
    )
    default, quick = CompareConfig.preset("default"), CompareConfig.preset("quick")
    texts = {
        "k": "number of top Hessian eigenvalues",
        "lanczos_iters": "Lanczos iterations (eigenvalues, spectral density)",
        "density_starts": "random starts of the spectral density estimate",
        "trace_samples": "Hutch++ Hessian-vector products for the trace",
        "landscape_points": "points of the 1-D loss landscape",
        "epsilon": "box size eps of Keskar's sharpness",
        "sharpness_steps": "ascent steps of Keskar's sharpness",
    }
    for option, field in _SHARPNESS_SIZES.items():
        kind = float if option == "epsilon" else int
        text = _preset_help(texts[option], getattr(default, field), getattr(quick, field))
        metavar = "X" if kind is float else "N"
        flag = "--" + option.replace("_", "-")
        probes.add_argument(flag, type=kind, default=None, metavar=metavar, help=text)
    run = parser.add_argument_group("run options")
    run.add_argument(
        "--no-resume", action="store_true", help="probe every model again (replaces its results)"
    )
    _add_common(run)


def run_sharpness_command(args: argparse.Namespace) -> int:
    from tfescape.experiments.compare import CompareConfig
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
    preset = CompareConfig.preset("quick" if args.quick else "default")
    sizes = {
        option: getattr(preset, field) if getattr(args, option) is None else getattr(args, option)
        for option, field in _SHARPNESS_SIZES.items()
    }
    result = run_sharpness(
        models,
        args.out,
        dataset=args.dataset,
        image_size=args.image_size,
        max_train=args.max_train,
        seed=args.seed,
        from_logits=not args.probabilities,
        resume=not args.no_resume,
        show_progress=not args.no_progress,
        **sizes,
    )
    print(f"report: {result.report_md}\n        {result.report_html}")
    print(
        f"probed: {', '.join(result.ran) or 'none'}; "
        f"skipped (done before): {', '.join(result.skipped) or 'none'}"
    )
    return 0


# tfescape.stable.tail_index.METHODS, spelled out so that --help needs no TensorFlow (a test checks the two).
_TAIL_INDEX_METHODS = ("mohammadi", "mohammadi_order", "hill", "ecf_regression")


def add_tail_index_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``tfescape tail-index`` / scripts/tail_index.py: compare's training and noise options."""
    _add_out(parser, "results/tail_index")
    samples = parser.add_argument_group("tail index of given samples (instead of training)")
    samples.add_argument(
        "--samples",
        metavar="FILE.npy",
        help="estimate the tail index of these samples (a .npy array, flattened), write OUT/tail_index.json",
    )
    samples.add_argument(
        "--method",
        default="mohammadi",
        choices=_TAIL_INDEX_METHODS,
        help="estimator for --samples (default: %(default)s)",
    )
    samples.add_argument("--force", action="store_true", help="replace an existing OUT/tail_index.json")
    _add_compare_presets(parser)
    add_compare_config_arguments(parser, groups=_TAIL_INDEX_GROUPS)
    run = parser.add_argument_group("run options")
    run.add_argument("--no-resume", action="store_true", help="recompute every stage (replaces its results)")
    _add_common(run)


def run_tail_index_command(args: argparse.Namespace) -> int:
    if args.samples:
        return _tail_index_of_samples(args)
    args.only = ["train", "noise"]
    return run_compare_command(args)


def _tail_index_of_samples(args: argparse.Namespace) -> int:
    import json

    import numpy as np

    from tfescape.experiments._io import write_json
    from tfescape.stable import tail_index

    path = os.path.join(args.out, "tail_index.json")
    if os.path.exists(path) and not args.force:
        raise ValueError(f"{path} exists; pass --force to replace it, or choose another --out folder.")
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
    written = write_json(path, out)
    print(json.dumps(out, indent=2))
    print(f"written: {written}")
    return 0


_ESCAPE_HELP = {
    "alpha": "tail index held fixed while eps and h are swept",
    "eps": "noise level held fixed while alpha and h are swept",
    "height": "basin height held fixed while eps and alpha are swept",
    "eps_values": "the eps sweep",
    "alphas": "the alpha sweep",
    "heights": "the basin-height sweep",
    "hessian": "diagonal of the basin's Hessian",
    "sigma": "diagonal of the noise matrix Sigma",
    "num_paths": "Monte Carlo paths per point",
    "sweeps": "which sweeps to run",
    "seed": "simulation seed",
}


def add_escape_time_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``tfescape escape-time`` / scripts/escape_time.py."""
    from tfescape.experiments.escape_sweeps import SWEEPS, EscapeSweepConfig

    _add_out(parser, "results/escape_time")
    presets = parser.add_mutually_exclusive_group()
    presets.add_argument(
        "--preset",
        choices=("default", "quick", "smoke"),
        default="default",
        help="named configuration that the options below change (default: %(default)s)",
    )
    presets.add_argument(
        "--quick", action="store_const", dest="preset", const="quick", help="fewer paths and points"
    )
    presets.add_argument(
        "--smoke", action="store_const", dest="preset", const="smoke", help="tiny configuration (tests)"
    )
    default, quick = EscapeSweepConfig.preset("default"), EscapeSweepConfig.preset("quick")
    sweep = parser.add_argument_group("sweep options")
    for name, text in _ESCAPE_HELP.items():
        text = _preset_help(text, getattr(default, name), getattr(quick, name))
        flag = "--" + name.replace("_", "-")
        if name == "sweeps":
            sweep.add_argument(flag, nargs="+", choices=SWEEPS, help=text)
        elif name in ("num_paths", "seed"):
            sweep.add_argument(flag, type=int, metavar="N", help=text)
        elif isinstance(getattr(default, name), tuple):
            sweep.add_argument(flag, type=float, nargs="+", metavar="X", help=text)
        else:
            sweep.add_argument(flag, type=float, metavar="X", help=text)
    run = parser.add_argument_group("run options")
    run.add_argument("--no-resume", action="store_true", help="recompute every sweep (replaces its results)")
    _add_common(run)


def run_escape_time_command(args: argparse.Namespace) -> int:
    from tfescape.experiments.escape_sweeps import EscapeSweepConfig, run_escape_sweeps

    config = EscapeSweepConfig.preset(args.preset, **config_overrides(args, EscapeSweepConfig))
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
    """Run ``command``: expected errors become one line and exit 2, Ctrl-C one line and exit 130."""
    status = INTERRUPTED
    with _native_log_lines_hidden(args.verbose <= 0) as native_log:
        try:
            _configure_logging(args.verbose)
            with _heartbeat(enabled=not getattr(args, "no_progress", False)):
                logger.info("%s: loading TensorFlow", command.name)
                from tfescape.data import DatasetUnavailableError  # TensorFlow loads here, quietly

                try:
                    status = command.run(args)
                except (DatasetUnavailableError, ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
                    print(f"tfescape: error: {_one_line(err)}", file=sys.stderr)
                    status = 2
        except KeyboardInterrupt:
            status = INTERRUPTED
        native_log.keep = status not in (0, INTERRUPTED)
    if status == INTERRUPTED:
        print(_interrupted_line(args), file=sys.stderr)
    return status


INTERRUPTED = 130
"""Exit status after Ctrl-C (128 + SIGINT, as shells report it)."""


def _interrupted_line(args: argparse.Namespace) -> str:
    out = getattr(args, "out", None)
    where = f" from {out}" if out else ""
    return f"tfescape: interrupted; rerun the same command to resume{where}"


def _one_line(err: BaseException) -> str:
    """An expected error as one line; an OSError names its file even when its text does not."""
    text = " ".join(str(err).split())
    filename = getattr(err, "filename", None)
    if isinstance(err, OSError) and filename and os.fspath(filename) not in text:
        text = f"{filename}: {text}"
    return text or type(err).__name__


HEARTBEAT_SECONDS = 8.0
"""A command that has shown nothing for this long logs that its current step is still running."""


class _Heartbeat(logging.Filter):
    """Remembers when a line was last shown, and the current step (tfescape's last INFO line)."""

    def __init__(self):
        super().__init__()
        self.last_shown = self.step_since = time.monotonic()
        self.step = "starting"

    def filter(self, record: logging.LogRecord) -> bool:
        self.last_shown = time.monotonic()
        progress_line = record.name == "tfescape._progress"
        if record.levelno == logging.INFO and not progress_line and not getattr(record, "heartbeat", False):
            self.step, self.step_since = record.getMessage(), self.last_shown
        return True


@contextlib.contextmanager
def _heartbeat(*, enabled: bool) -> Iterator[None]:
    """While the command runs, log "still working" when nothing (no log line, no progress) showed for a while.

    Long steps without a loop to count (a stable-law fit, one long simulation) then still show a line at
    least every :data:`HEARTBEAT_SECONDS` seconds.
    """
    from tfescape import _progress

    handlers = logging.getLogger().handlers
    if not enabled or not handlers:
        yield
        return
    beat = _Heartbeat()
    for handler in handlers:
        handler.addFilter(beat)
    stop = threading.Event()

    def watch():
        while not stop.wait(0.5):
            now = time.monotonic()
            if now - max(beat.last_shown, _progress.last_update()) >= HEARTBEAT_SECONDS:
                still = "still working: %s (%.0f s)"
                logger.info(still, beat.step, now - beat.step_since, extra={"heartbeat": True})

    thread = threading.Thread(target=watch, name="tfescape-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        for handler in handlers:
            handler.removeFilter(beat)


def _add_out(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--out", default=default, metavar="FOLDER", help="results folder (default: %(default)s)"
    )


def _add_common(parser) -> None:
    parser.add_argument("--no-progress", action="store_true", help="no progress bars or progress lines")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more log output: every warning, TensorFlow's own log lines (-vv: debug)",
    )


def _preset_help(text: str, default, quick, *, none_means: str = "none") -> str:
    """``text (default: X)``, with ``; --quick: Y`` when the quick preset differs (argparse-escaped)."""

    def show(value) -> str:
        if value is None:
            return none_means
        if isinstance(value, tuple | list):
            return " ".join(show(v) for v in value)
        return f"{value:g}" if isinstance(value, float) else str(value)

    shown = f"default: {show(default)}" + (f"; --quick: {show(quick)}" if quick != default else "")
    return f"{text} ({shown})".replace("%", "%%")


class _NativeLog:
    """Where native log lines went during a command (``path``), and whether to keep that file."""

    def __init__(self, path: str | None):
        self.path = path
        self.keep = False


@contextlib.contextmanager
def _native_log_lines_hidden(enabled: bool) -> Iterator[_NativeLog]:
    """Send what native code writes to file descriptor 2 to a temporary file while a command runs.

    TensorFlow's C++ and absl start-up lines ("oneDNN custom operations are on", "Could not find cuda
    drivers", "failed call to cuInit", XLA notices) are written straight to file descriptor 2, before and
    regardless of TF_CPP_MIN_LOG_LEVEL, so the variable alone cannot hide them. Python's ``sys.stderr``
    (logging, warnings, progress bars, error messages) keeps the terminal. The file is deleted after a
    successful run; after a failure its path is printed. Does nothing when ``enabled`` is False (-v) or when
    ``sys.stderr`` is not the process's own (a test's capture, a notebook).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2" if enabled else "0")
    if not enabled or sys.stderr is not sys.__stderr__ or not _writes_to_fd2(sys.stderr):
        yield _NativeLog(None)
        return
    sys.stderr.flush()
    terminal = os.dup(2)
    handle, path = tempfile.mkstemp(prefix="tfescape-native-", suffix=".log")
    os.dup2(handle, 2)
    os.close(handle)
    python_stderr = sys.stderr
    # Left open on purpose: logging handlers made during the command keep writing to the terminal through it.
    sys.stderr = open(terminal, "w", buffering=1, encoding=python_stderr.encoding, errors="backslashreplace")
    native = _NativeLog(path)
    native.keep = True  # until the command says it succeeded
    try:
        yield native
    finally:
        sys.stderr.flush()
        os.dup2(terminal, 2)
        sys.stderr = python_stderr
        if native.keep and os.path.getsize(path) > 0:
            print(f"(TensorFlow's own log lines of this run: {path})", file=sys.stderr)
        else:
            os.remove(path)


def _writes_to_fd2(stream) -> bool:
    try:
        return stream.fileno() == 2
    except (AttributeError, OSError, ValueError):
        return False


class _OnceEach(logging.Filter):
    """Pass each warning once: repeats that differ only in numbers or addresses are dropped."""

    def __init__(self):
        super().__init__()
        self._seen: set[tuple[str, str]] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.WARNING:
            return True
        key = (record.name, re.sub(r"0x[0-9a-fA-F]+|\d+(\.\d+)?(e-?\d+)?", "#", record.getMessage()))
        if key in self._seen:
            return False
        self._seen.add(key)
        return True


def _configure_logging(verbose: int) -> None:
    """INFO lines of tfescape (one per stage) and warnings, each warning once (all of them with -v)."""
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
        if verbose <= 0:
            handler.addFilter(_OnceEach())
        root.addHandler(handler)
        root.setLevel(level)
    logging.getLogger("tfescape").setLevel(min(level, logging.INFO))
    # TensorFlow's logger prints through its own handler when it was set up before ours: once is enough.
    tf_logger = logging.getLogger("tensorflow")
    for own in list(tf_logger.handlers):
        tf_logger.removeHandler(own)


def _scalar_type(hint) -> Callable[[str], object]:
    args = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
    base = args[0]
    if base is bool:
        return lambda text: text.lower() in ("1", "true", "yes")
    return base if base in (int, float, str) else str


if __name__ == "__main__":
    raise SystemExit(main())
