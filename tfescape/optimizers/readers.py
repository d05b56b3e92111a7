"""State readers: what each Keras optimizer keeps per coordinate, in the paper's notation.

A reader knows one optimizer family: which slot variables hold the first moment m_t and the second
moment v_t, and how they combine into the diagonal preconditioner Q_t of the update

    theta_t = theta_{t-1} - lr_t * d_t / Q_t          (per coordinate)

where d_t is the search direction (the bias-corrected first moment for the Adam family, the raw
gradient for RMSprop/Adagrad, the gradient for SGD). ``StateReader.read`` runs inside the compiled train
step, right after the wrapped optimizer applied step t, and returns the raw state (tensors);
``StateReader.preconditioners`` turns a recorded second moment into Q_t with NumPy when the record is
read, so the train step copies only what it must (Q_t is a function of v_t, t and hyperparameters).

Two preconditioners are read, because Keras and the paper place Adam's epsilon differently:

- ``preconditioner``: the paper's discrete Adam, Q_t = sqrt(v_t / (1 - beta_2^t)) + epsilon.
- ``effective_preconditioner``: the one Keras actually divides by. Keras Adam updates
  theta -= lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) * m_t / (sqrt(v_t) + epsilon), i.e.
  theta -= lr * m_hat_t / Q'_t with m_hat_t = m_t / (1 - beta_1^t) and
  Q'_t = (sqrt(v_t) + epsilon) / sqrt(1 - beta_2^t) = sqrt(v_hat_t) + epsilon / sqrt(1 - beta_2^t).

For every other family the two coincide (``effective_preconditioner`` is None: use ``preconditioner``).

Families (the key is the exact class; subclasses may change the update and are refused):

=============  ==================  =================  ==================================================
family         first moment        second moment      preconditioner Q_t
=============  ==================  =================  ==================================================
adam, adamw    m_t                 v_t                sqrt(v_t / (1 - b2^t)) + eps
amsgrad        m_t                 max_s<=t v_s       same, with the running max of v
nadam          m_t                 v_t                sqrt(v_t / (1 - b2^t)) + eps (Keras' too)
adamax         m_t                 u_t (inf-norm)     u_t + eps
rmsprop        mean g (centered)   v_t                sqrt(v_t + eps); centered sqrt(v_t - mg^2 + eps)
adagrad        None                sum g^2            sqrt(sum g^2 + eps)
sgd            momentum or None    None               1 (None: no state)
=============  ==================  =================  ==================================================

Keras' SGD momentum buffer is the velocity u_t = mu u_{t-1} - lr g_t (it includes the learning rate
and the sign of the step); that is what ``first_moment`` holds for SGD.

References:
    Zhou, Feng, Ma, Xiong, Hoi, E. "Towards Theoretically Understanding Why SGD Generalizes Better
    Than Adam in Deep Learning." NeurIPS 2020 (the discrete Adam of their eq. (3)).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

__all__ = ["ReadState", "StateReader", "SUPPORTED_OPTIMIZERS", "state_reader"]


@dataclass(frozen=True)
class ReadState:
    """Per-variable optimizer state after step t (tensors with the variable's shape, or None).

    Attributes:
        first_moment: m_t (see the module table), or None.
        second_moment: v_t / accumulator, or None.
    """

    first_moment: Any
    second_moment: Any


class StateReader:
    """Reads one optimizer family's per-coordinate state; subclasses fill the class attributes.

    Args:
        optimizer: the (possibly not yet built) Keras optimizer to read.
    """

    family: str = ""
    has_first_moment: bool = False
    has_second_moment: bool = False

    def __init__(self, optimizer: keras.optimizers.Optimizer):
        if not isinstance(optimizer, keras.optimizers.Optimizer):
            raise ValueError(
                f"optimizer must be a keras.optimizers.Optimizer, got {type(optimizer).__name__}."
            )
        self.optimizer = optimizer

    def read(self, index: int, dtype) -> ReadState:
        """Raw state of variable ``index`` (in the wrapped optimizer's build order) as ``dtype`` tensors."""
        raise NotImplementedError

    def preconditioners(self, second_moment, first_moment, step: int):
        """(Q_t, Q'_t) as float64 NumPy arrays from recorded state; None where Q = 1 / Q' = Q.

        Args:
            second_moment: recorded v_t (array) or None.
            first_moment: recorded m_t (array) or None.
            step: the step t (>= 1) the state belongs to.
        """
        return None, None


def _read(variable, dtype):
    return tf.cast(tf.convert_to_tensor(variable), dtype)


def _f64(x):
    return np.asarray(x, dtype=np.float64)


class _AdamReader(StateReader):
    """Adam and AdamW (and AMSGrad: Adam(amsgrad=True), whose v is the running max v_hat)."""

    has_first_moment = True
    has_second_moment = True

    def __init__(self, optimizer):
        super().__init__(optimizer)
        if optimizer.amsgrad:
            self.family = "amsgrad"
        else:
            self.family = "adamw" if isinstance(optimizer, keras.optimizers.AdamW) else "adam"

    def read(self, index, dtype):
        opt = self.optimizer
        v = (opt._velocity_hats if opt.amsgrad else opt._velocities)[index]
        return ReadState(_read(opt._momentums[index], dtype), _read(v, dtype))

    def preconditioners(self, second_moment, first_moment, step):
        v, eps = _f64(second_moment), float(self.optimizer.epsilon)
        bias2 = 1.0 - float(self.optimizer.beta_2) ** step
        return np.sqrt(v / bias2) + eps, (np.sqrt(v) + eps) / np.sqrt(bias2)


class _NadamReader(StateReader):
    family = "nadam"
    has_first_moment = True
    has_second_moment = True

    def read(self, index, dtype):
        opt = self.optimizer
        return ReadState(_read(opt._momentums[index], dtype), _read(opt._velocities[index], dtype))

    def preconditioners(self, second_moment, first_moment, step):
        bias2 = 1.0 - float(self.optimizer.beta_2) ** step
        return np.sqrt(_f64(second_moment) / bias2) + float(self.optimizer.epsilon), None


class _AdamaxReader(StateReader):
    family = "adamax"
    has_first_moment = True
    has_second_moment = True

    def read(self, index, dtype):
        opt = self.optimizer
        return ReadState(_read(opt._m[index], dtype), _read(opt._u[index], dtype))

    def preconditioners(self, second_moment, first_moment, step):
        return _f64(second_moment) + float(self.optimizer.epsilon), None


class _RMSpropReader(StateReader):
    family = "rmsprop"
    has_second_moment = True

    def __init__(self, optimizer):
        super().__init__(optimizer)
        self.has_first_moment = bool(optimizer.centered)

    def read(self, index, dtype):
        opt = self.optimizer
        mean_g = _read(opt._average_gradients[index], dtype) if opt.centered else None
        return ReadState(mean_g, _read(opt._velocities[index], dtype))

    def preconditioners(self, second_moment, first_moment, step):
        v, eps = _f64(second_moment), float(self.optimizer.epsilon)
        if self.optimizer.centered:
            return np.sqrt(v - np.square(_f64(first_moment)) + eps), None
        return np.sqrt(v + eps), None


class _AdagradReader(StateReader):
    family = "adagrad"
    has_second_moment = True

    def read(self, index, dtype):
        return ReadState(None, _read(self.optimizer._accumulators[index], dtype))

    def preconditioners(self, second_moment, first_moment, step):
        return np.sqrt(_f64(second_moment) + float(self.optimizer.epsilon)), None


class _SGDReader(StateReader):
    def __init__(self, optimizer):
        super().__init__(optimizer)
        self.has_first_moment = optimizer.momentum != 0
        self.family = "sgd_momentum" if self.has_first_moment else "sgd"

    def read(self, index, dtype):
        if not self.has_first_moment:
            return ReadState(None, None)
        return ReadState(_read(self.optimizer.momentums[index], dtype), None)


_READERS: dict[type, type[StateReader]] = {
    keras.optimizers.Adam: _AdamReader,
    keras.optimizers.AdamW: _AdamReader,
    keras.optimizers.Nadam: _NadamReader,
    keras.optimizers.Adamax: _AdamaxReader,
    keras.optimizers.RMSprop: _RMSpropReader,
    keras.optimizers.Adagrad: _AdagradReader,
    keras.optimizers.SGD: _SGDReader,
}

SUPPORTED_OPTIMIZERS = (
    "Adam",
    "AdamW",
    "Adam(amsgrad=True)",
    "Nadam",
    "Adamax",
    "RMSprop",
    "Adagrad",
    "SGD",
)


def state_reader(optimizer: keras.optimizers.Optimizer) -> StateReader:
    """The reader for ``optimizer``'s family.

    Args:
        optimizer: a keras.optimizers instance of one of SUPPORTED_OPTIMIZERS (exact class).

    Returns:
        A StateReader bound to ``optimizer``.

    Raises:
        ValueError: the optimizer is of another class (subclasses included, since they may change the
            update rule), or uses gradient accumulation (its state then changes every k-th step only).
    """
    reader_class = _READERS.get(type(optimizer))
    if reader_class is None:
        raise ValueError(
            f"Cannot record the state of {type(optimizer).__name__}: supported optimizers are "
            f"keras.optimizers.{', '.join(SUPPORTED_OPTIMIZERS)}. Wrap one of those (not a subclass "
            "or another wrapper)."
        )
    if optimizer.gradient_accumulation_steps:
        raise ValueError(
            "Cannot record an optimizer with gradient_accumulation_steps="
            f"{optimizer.gradient_accumulation_steps}: its state changes only every k-th call. Use a "
            "larger batch size instead of gradient accumulation."
        )
    return reader_class(optimizer)
