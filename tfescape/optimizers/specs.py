"""The one registry of optimizer families a comparison can run, and the specs users write for them.

A spec is ``NAME[:key=value,...]``, e.g. ``sgd:lr=0.1``, ``sgd:lr=0.1,momentum=0.9``, ``adam:lr=1e-3``,
``adamw:lr=1e-3,weight_decay=0.01`` or ``rmsprop:lr=1e-3,rho=0.9``. ``lr`` is the learning rate; every other
key is the Keras constructor argument of that family, validated here (range and finiteness) before any
training starts. Unspecified keys take the family's defaults below (the paper's settings for SGD and Adam).

Everything the pipeline, the plots and the report need to know about an optimizer family lives in
:data:`FAMILIES`: its Keras class, display name, color, hyperparameter ranges, and which hyperparameter is
the decay of a first-moment average (its "smoothed noise" is measured with that decay). Adding a family is
one entry here (and a state reader in :mod:`tfescape.optimizers.readers` if Keras' slots differ).

Example:
    >>> specs = parse_optimizer_specs(["sgd:lr=0.1", "sgd:lr=0.1,momentum=0.9", "adam:lr=1e-3"])
    >>> [s.key for s in specs]
    ['sgd', 'sgd_2', 'adam']
    >>> specs[1].label
    'SGD (lr 0.1, momentum 0.9)'
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "FAMILIES",
    "OptimizerFamily",
    "OptimizerSpec",
    "Hyperparameter",
    "parse_optimizer_spec",
    "parse_optimizer_specs",
    "family_color",
]

# Seaborn's "colorblind" palette (hex), fixed here so that importing the registry needs no plotting stack.
_COLORBLIND = (
    "#0173b2",
    "#de8f05",
    "#029e73",
    "#d55e00",
    "#cc78bc",
    "#ca9161",
    "#fbafe4",
    "#949494",
    "#ece133",
    "#56b4e9",
)


@dataclass(frozen=True)
class Hyperparameter:
    """One hyperparameter of a family: its Keras argument, default and allowed range.

    Attributes:
        keras_name: the argument of the Keras constructor.
        default: value when the spec does not give one.
        low, high: allowed range; ``low_open`` / ``high_open`` exclude the end points.
        help: one line for --help and the docs.
    """

    keras_name: str
    default: float
    low: float
    high: float
    low_open: bool = False
    high_open: bool = False
    help: str = ""

    def check(self, key: str, value: float, family: str) -> float:
        value = float(value)
        below = value <= self.low if self.low_open else value < self.low
        above = value >= self.high if self.high_open else value > self.high
        if not math.isfinite(value) or below or above:
            lo = "(" if self.low_open else "["
            hi = ")" if self.high_open else "]"
            raise ValueError(
                f"{family}: {key}={value!r} is out of range; it must be finite and in "
                f"{lo}{self.low:g}, {self.high:g}{hi} ({self.help})."
            )
        return value


_LR = Hyperparameter("learning_rate", 0.1, 0.0, math.inf, low_open=True, high_open=True, help="learning rate")


def _unit(name, default, help_text, *, closed_low=True):
    return Hyperparameter(name, default, 0.0, 1.0, low_open=not closed_low, high_open=True, help=help_text)


def _positive(name, default, help_text):
    return Hyperparameter(name, default, 0.0, math.inf, low_open=True, high_open=True, help=help_text)


def _nonnegative(name, default, help_text):
    return Hyperparameter(name, default, 0.0, math.inf, high_open=True, help=help_text)


@dataclass(frozen=True)
class OptimizerFamily:
    """A Keras optimizer family the comparison can run.

    Attributes:
        name: spec name ("sgd", "adam", ...).
        label: display name ("SGD", "Adam", ...).
        keras_class: attribute name in keras.optimizers.
        hyperparameters: spec key -> Hyperparameter (``lr`` is always the learning rate).
        color: its color in every figure (hex).
        smoothing_key: the spec key of the first-moment decay whose smoothed noise is measured, or None.
        extra_kwargs: fixed constructor arguments (e.g. amsgrad=True).
    """

    name: str
    label: str
    keras_class: str
    hyperparameters: Mapping[str, Hyperparameter]
    color: str
    smoothing_key: str | None = None
    extra_kwargs: Mapping[str, object] = ()

    def build(self, values: Mapping[str, float]):
        """The Keras optimizer with these (already checked) hyperparameters."""
        import keras

        kwargs = {self.hyperparameters[k].keras_name: v for k, v in values.items()}
        return getattr(keras.optimizers, self.keras_class)(**kwargs, **dict(self.extra_kwargs))


def _adam_like(lr=1e-3, **extra):
    return {
        "lr": Hyperparameter(
            "learning_rate", lr, 0.0, math.inf, low_open=True, high_open=True, help="learning rate"
        ),
        "beta_1": _unit("beta_1", 0.9, "first-moment decay"),
        "beta_2": _unit("beta_2", 0.999, "second-moment decay"),
        "epsilon": _positive("epsilon", 1e-8, "added to sqrt(v_hat), Keras' convention"),
        **extra,
    }


def _lr(default):
    return Hyperparameter(
        "learning_rate", default, 0.0, math.inf, low_open=True, high_open=True, help="learning rate"
    )


FAMILIES: dict[str, OptimizerFamily] = {
    f.name: f
    for f in (
        OptimizerFamily(
            "sgd",
            "SGD",
            "SGD",
            {"lr": _lr(0.1), "momentum": _unit("momentum", 0.0, "heavy-ball momentum; 0 is the paper's SGD")},
            _COLORBLIND[0],
        ),
        OptimizerFamily("adam", "Adam", "Adam", _adam_like(), _COLORBLIND[3], smoothing_key="beta_1"),
        OptimizerFamily(
            "adamw",
            "AdamW",
            "AdamW",
            _adam_like(weight_decay=_nonnegative("weight_decay", 0.004, "decoupled weight decay")),
            _COLORBLIND[4],
            smoothing_key="beta_1",
        ),
        OptimizerFamily(
            "amsgrad",
            "AMSGrad",
            "Adam",
            _adam_like(),
            _COLORBLIND[5],
            smoothing_key="beta_1",
            extra_kwargs={"amsgrad": True},
        ),
        OptimizerFamily("nadam", "Nadam", "Nadam", _adam_like(), _COLORBLIND[1], smoothing_key="beta_1"),
        OptimizerFamily("adamax", "Adamax", "Adamax", _adam_like(), _COLORBLIND[8], smoothing_key="beta_1"),
        OptimizerFamily(
            "rmsprop",
            "RMSprop",
            "RMSprop",
            {
                "lr": _lr(1e-3),
                "rho": _unit("rho", 0.9, "second-moment decay"),
                "momentum": _unit("momentum", 0.0, "momentum"),
                "epsilon": _positive("epsilon", 1e-7, "added to sqrt(v)"),
            },
            _COLORBLIND[2],
        ),
        OptimizerFamily(
            "adagrad",
            "Adagrad",
            "Adagrad",
            {
                "lr": _lr(1e-2),
                "initial_accumulator_value": _nonnegative(
                    "initial_accumulator_value", 0.1, "starting sum of g^2"
                ),
                "epsilon": _positive("epsilon", 1e-7, "added to sqrt(v)"),
            },
            _COLORBLIND[9],
        ),
    )
}
"""Optimizer families by spec name."""


def family_color(family: str, variant: int = 0) -> str:
    """The color of the ``variant``-th run of ``family`` (0: the family color; later ones darker/lighter)."""
    base = FAMILIES[family].color if family in FAMILIES else _COLORBLIND[7]
    if variant == 0:
        return base
    r, g, b = (int(base[i : i + 2], 16) / 255 for i in (1, 3, 5))
    h, lightness, s = colorsys.rgb_to_hls(r, g, b)
    steps = (-0.18, 0.16, -0.3, 0.26)
    lightness = min(0.85, max(0.15, lightness + steps[(variant - 1) % len(steps)]))
    r, g, b = colorsys.hls_to_rgb(h, lightness, s)
    return "#" + "".join(f"{round(c * 255):02x}" for c in (r, g, b))


@dataclass(frozen=True)
class OptimizerSpec:
    """One optimizer run of a comparison: a family and its hyperparameters.

    Attributes:
        family: key of :data:`FAMILIES`.
        values: spec key -> value, every hyperparameter of the family (defaults filled in), checked.
        given: the keys the user wrote (the label shows these).
        key: unique name in a comparison: folder names, table columns ("sgd", "sgd_2", "adam", ...).
        label: display name ("SGD", or "SGD (lr 0.1, momentum 0.9)" when a family runs more than once).
        color: its color in every figure.
    """

    family: str
    values: tuple[tuple[str, float], ...]
    given: tuple[str, ...] = ()
    key: str = ""
    label: str = ""
    color: str = ""

    @property
    def params(self) -> dict[str, float]:
        return dict(self.values)

    @property
    def learning_rate(self) -> float:
        return self.params["lr"]

    @property
    def smoothing_decay(self) -> float | None:
        """The first-moment decay whose smoothed gradient noise is measured (Adam's beta_1), or None."""
        key = FAMILIES[self.family].smoothing_key
        return None if key is None else self.params[key]

    @property
    def text(self) -> str:
        """The spec string that recreates it, e.g. ``sgd:lr=0.1,momentum=0``."""
        return f"{self.family}:" + ",".join(f"{k}={v:g}" for k, v in self.values)

    def describe(self) -> str:
        """Label with every hyperparameter, for the report's introduction."""
        return f"{FAMILIES[self.family].label} (" + ", ".join(f"{k} {v:g}" for k, v in self.values) + ")"

    def build(self, *, record: bool = False, record_every: int = 1):
        """The Keras optimizer; with ``record`` wrapped in tfescape.optimizers.RecordingOptimizer."""
        inner = FAMILIES[self.family].build(self.params)
        if not record:
            return inner
        from tfescape.optimizers.recording import RecordingOptimizer

        return RecordingOptimizer(inner, record_every=record_every)


def parse_optimizer_spec(text: str | OptimizerSpec) -> OptimizerSpec:
    """Parse ``NAME[:key=value,...]`` into an OptimizerSpec (key, label and color not yet assigned).

    Raises:
        ValueError: unknown family or key, a value that is not a number, or out of range.
    """
    if isinstance(text, OptimizerSpec):
        return text
    raw = str(text).strip()
    name, _, rest = raw.partition(":")
    name = name.strip().lower()
    if name not in FAMILIES:
        raise ValueError(
            f"unknown optimizer {name!r} in {raw!r}; choose one of {', '.join(FAMILIES)} "
            "(written NAME[:key=value,...], e.g. sgd:lr=0.1,momentum=0.9)."
        )
    family = FAMILIES[name]
    values = {k: h.default for k, h in family.hyperparameters.items()}
    given = []
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if not sep or key not in family.hyperparameters:
            raise ValueError(
                f"{raw!r}: {item!r} is not key=value with a key of {name}; valid keys: "
                f"{', '.join(family.hyperparameters)}."
            )
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"{raw!r}: {key}={value!r} is not a number.") from None
        values[key] = family.hyperparameters[key].check(key, number, name)
        given.append(key)
    for key, value in values.items():
        family.hyperparameters[key].check(key, value, name)
    return OptimizerSpec(name, tuple(values.items()), tuple(given))


def parse_optimizer_specs(texts: Iterable[str | OptimizerSpec]) -> tuple[OptimizerSpec, ...]:
    """Parse several specs and give each a unique key, a label and a color.

    The first run of a family is keyed by the family name ("sgd") and keeps the family color; later runs of
    the same family get "sgd_2", "sgd_3", ... and shades of it. A family that runs once is labelled by its
    name alone; one that runs several times shows the hyperparameters that tell the runs apart.

    Raises:
        ValueError: no spec, a bad spec, or the same spec twice.
    """
    specs = [parse_optimizer_spec(t) for t in texts]
    if not specs:
        raise ValueError("give at least one optimizer, e.g. sgd:lr=0.1 or adam:lr=1e-3.")
    seen = set()
    for s in specs:
        if (s.family, s.values) in seen:
            raise ValueError(f"optimizer {s.text!r} is given twice; each run must differ.")
        seen.add((s.family, s.values))
    out, counts = [], {}
    for s in specs:
        n = counts.get(s.family, 0)
        counts[s.family] = n + 1
        key = s.family if n == 0 else f"{s.family}_{n + 1}"
        out.append(OptimizerSpec(s.family, s.values, s.given, key, s.label, family_color(s.family, n)))
    return tuple(_labelled(out))


def _labelled(specs: Sequence[OptimizerSpec]) -> list[OptimizerSpec]:
    out = []
    for s in specs:
        siblings = [o for o in specs if o.family == s.family]
        name = FAMILIES[s.family].label
        if len(siblings) > 1:
            differing = [k for k, v in s.values if any(dict(o.values)[k] != v for o in siblings)]
            shown = [k for k, _ in s.values if k in differing or k == "lr"]
            name += " (" + ", ".join(f"{k} {s.params[k]:g}" for k in shown) + ")"
        out.append(OptimizerSpec(s.family, s.values, s.given, s.key, name, s.color))
    return out
