"""Configuration of the main comparison: which optimizers, which model and data, how much of each probe.

Optimizers are specs of the one registry (tfescape.optimizers.specs), e.g. ``("sgd:lr=0.1",
"sgd:lr=0.1,momentum=0.9", "adam:lr=1e-3", "rmsprop:lr=1e-3")``; the default compares the paper's pair,
plain SGD (lr 0.1) and Adam (lr 1e-3, beta_1 0.9, beta_2 0.999, epsilon 1e-8).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import cached_property

from tfescape.optimizers.specs import OptimizerSpec, parse_optimizer_specs

DEFAULT_OPTIMIZERS = ("sgd:lr=0.1", "adam:lr=0.001")
"""The paper's comparison: plain SGD and Adam with Keras' defaults."""

DISTRIBUTE = ("none", "mirrored", "multiworker")


@dataclass(frozen=True)
class CompareConfig:
    """Configuration of the SGD-vs-Adam comparison (the defaults run offline on digits in minutes).

    Attributes:
        dataset: tfescape.data dataset name ("digits", "mnist", "cifar10", ...).
        model: tfescape.models model name ("mlp", "cnn", "alexnet").
        width, depth: hidden units and layers of "mlp".
        image_size: resize images to this side (None: native; "alexnet" on digits needs >= 16).
        max_train, max_test: keep only the first examples of each split (None: all).
        batch_size: minibatch size of training and of the gradient-noise probes.
        epochs: training epochs of each optimizer.
        seed: seed of the data split, shuffling and the (shared) initialization.
        probe_every_epochs: save a weight snapshot (a point of the tail-index curve) every this many epochs.
        noise_batches: minibatches whose gradient noise is measured at each snapshot.
        confidence: confidence level of the tail-index intervals.
        hessian_k: top Hessian eigenvalues computed at each final minimum.
        lanczos_iters: Lanczos iterations of the eigenvalue and spectral-density probes.
        density_starts: random starts of stochastic Lanczos quadrature.
        trace_samples: Hutchinson probes of the Hessian trace.
        landscape_points: points of the 1-D loss landscape.
        sharpness_epsilon: box size of Keskar's epsilon-sharpness (box eps (|x_i| + 1)).
        sharpness_steps: projected-gradient ascent steps of the epsilon-sharpness.
        escape_paths: Monte Carlo paths per escape-time simulation.
        escape_steps: step budget per simulated path (later exits are censored).
        basin_height: loss height h (nats) of the quadratic basin {1/2 d^T H d < h} around each minimum.
        observed_replicas: replicas of real training restarted at each minimum (tfescape.observed).
        observed_steps: step budget of each observed replica (later exits are censored).
        observed_warmup: learning-rate-0 steps that fill an optimizer's moments at another run's minimum.
        keep_noise_samples: keep the sampled gradient noise of every snapshot (about 2-4 MB each on digits);
            by default only the last snapshot's, which the report draws, is kept.
        distribute: "none", "mirrored" (tf.distribute.MirroredStrategy over the visible devices) or
            "multiworker" (MultiWorkerMirroredStrategy over the cluster in TF_CONFIG; see README).
        optimizers: the optimizer runs to compare, specs ``NAME[:key=value,...]`` of
            tfescape.optimizers.specs (stored in canonical form, every hyperparameter spelled out).
    """

    dataset: str = "digits"
    model: str = "mlp"
    width: int = 128
    depth: int = 2
    image_size: int | None = None
    max_train: int | None = None
    max_test: int | None = None
    batch_size: int = 32
    epochs: int = 40
    seed: int = 0
    probe_every_epochs: int = 4
    noise_batches: int = 40
    confidence: float = 0.95
    hessian_k: int = 5
    lanczos_iters: int = 40
    density_starts: int = 3
    trace_samples: int = 20
    landscape_points: int = 25
    sharpness_epsilon: float = 1e-3
    sharpness_steps: int = 20
    escape_paths: int = 1000
    escape_steps: int = 10000
    basin_height: float = 0.05
    observed_replicas: int = 16
    observed_steps: int = 3000
    observed_warmup: int = 100
    keep_noise_samples: bool = False
    distribute: str = "none"
    optimizers: tuple[str, ...] = DEFAULT_OPTIMIZERS

    def __post_init__(self):
        if isinstance(self.optimizers, str | OptimizerSpec):
            object.__setattr__(self, "optimizers", (self.optimizers,))
        specs = parse_optimizer_specs(self.optimizers)
        object.__setattr__(self, "optimizers", tuple(s.text for s in specs))
        if self.distribute not in DISTRIBUTE:
            raise ValueError(f"distribute must be one of {DISTRIBUTE}, got {self.distribute!r}.")
        for name in (
            "batch_size",
            "epochs",
            "probe_every_epochs",
            "noise_batches",
            "hessian_k",
            "lanczos_iters",
            "density_starts",
            "trace_samples",
            "landscape_points",
            "escape_paths",
            "escape_steps",
            "sharpness_steps",
            "observed_replicas",
            "observed_steps",
            "width",
            "depth",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        for name in ("image_size", "max_train", "max_test"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValueError(f"{name} must be a positive integer or None, got {value!r}.")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}.")
        for name in ("sharpness_epsilon", "basin_height"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be finite and > 0, got {value!r}.")
        if not isinstance(self.observed_warmup, int) or self.observed_warmup < 0:
            raise ValueError(f"observed_warmup must be an integer >= 0, got {self.observed_warmup!r}.")
        if self.observed_replicas < 2:
            raise ValueError(f"observed_replicas must be >= 2 (for a mean), got {self.observed_replicas}.")
        if not 0.0 < self.confidence < 1.0:
            raise ValueError(f"confidence must be in (0, 1), got {self.confidence}.")
        if self.model == "alexnet" and self.dataset == "digits" and (self.image_size or 8) < 16:
            object.__setattr__(self, "image_size", 32)

    @classmethod
    def preset(cls, name: str = "default", **overrides) -> CompareConfig:
        """A named configuration: "default" (< 10 min on 2 cores), "quick" (< 2 min), "smoke" (tests).

        Args:
            name: preset name.
            **overrides: fields to change on top of the preset.

        Raises:
            ValueError: unknown preset or field.
        """
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}.")
        fields = {f.name for f in dataclasses.fields(cls)}
        bad = sorted(set(overrides) - fields)
        if bad:
            raise ValueError(f"unknown CompareConfig fields {bad}; valid fields: {sorted(fields)}.")
        return cls(**{**PRESETS[name], **overrides})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @cached_property
    def specs(self) -> tuple[OptimizerSpec, ...]:
        """The optimizer runs, with their unique keys, labels and colors."""
        return parse_optimizer_specs(self.optimizers)

    @property
    def keys(self) -> tuple[str, ...]:
        """The run keys ("sgd", "adam", "sgd_2", ...): folder names and table columns."""
        return tuple(s.key for s in self.specs)

    def spec(self, key: str) -> OptimizerSpec:
        """The run with this key."""
        for s in self.specs:
            if s.key == key:
                return s
        raise ValueError(f"no optimizer run {key!r} in this comparison; runs: {', '.join(self.keys)}.")


PRESETS: dict[str, dict] = {
    "default": {},
    "quick": dict(
        epochs=12,
        probe_every_epochs=2,
        noise_batches=24,
        lanczos_iters=24,
        density_starts=2,
        trace_samples=10,
        landscape_points=17,
        escape_paths=500,
        escape_steps=4000,
        hessian_k=3,
        observed_replicas=8,
        observed_steps=300,
        observed_warmup=50,
        sharpness_steps=10,
    ),
    "smoke": dict(
        epochs=2,
        width=32,
        depth=1,
        max_train=256,
        max_test=128,
        probe_every_epochs=1,
        noise_batches=8,
        lanczos_iters=6,
        density_starts=1,
        trace_samples=4,
        landscape_points=5,
        escape_paths=64,
        escape_steps=300,
        hessian_k=2,
        observed_replicas=2,
        observed_steps=10,
        observed_warmup=2,
        sharpness_steps=1,
    ),
}
