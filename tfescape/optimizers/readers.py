"""State readers: what each Keras optimizer keeps per coordinate, in the paper's notation.

A reader knows one optimizer family: which slot variables hold the first moment m_t and the second
moment v_t, and how they combine into the diagonal preconditioner Q_t of the update

    theta_t = theta_{t-1} - lr_t * d_t / Q_t          (per coordinate)

where d_t is the search direction (the bias-corrected first moment for the Adam family, the raw
gradient for RMSprop/Adagrad, the gradient for SGD). Readers run inside the compiled train step, right
after the wrapped optimizer applied step t, and return TensorFlow tensors.

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
import tensorflow as tf

__all__ = ["ReadState", "StateReader", "SUPPORTED_OPTIMIZERS", "state_reader"]


@dataclass(frozen=True)
class ReadState:
    """Per-variable optimizer state after step t (tensors with the variable's shape, or None).

    Attributes:
        first_moment: m_t (see the module table), or None.
        second_moment: v_t / accumulator, or None.
        preconditioner: the paper's Q_t, or None where Q_t = 1 (plain SGD, SGD with momentum).
        effective_preconditioner: Keras' exact Q'_t where it differs from Q_t (Adam family), else None.
    """

    first_moment: Any
    second_moment: Any
    preconditioner: Any
    effective_preconditioner: Any


class StateReader:
    """Reads one optimizer family's per-coordinate state; subclasses fill the class attributes.

    Args:
        optimizer: the (possibly not yet built) Keras optimizer to read.
    """

    family: str = ""
    has_first_moment: bool = False
    has_second_moment: bool = False
    has_preconditioner: bool = False
    has_effective_preconditioner: bool = False

    def __init__(self, optimizer: keras.optimizers.Optimizer):
        self.optimizer = optimizer

    def read(self, index: int, step, dtype) -> ReadState:
        """State of variable ``index`` after step ``step`` (a tensor, 1-based) as ``dtype`` tensors."""
        raise NotImplementedError


def _power(base: float, step, dtype):
    return tf.pow(tf.cast(base, dtype), tf.cast(step, dtype))


def _read(variable, dtype):
    return tf.cast(tf.convert_to_tensor(variable), dtype)


class _AdamReader(StateReader):
    """Adam and AdamW (and AMSGrad: Adam(amsgrad=True), whose v is the running max v_hat)."""

    has_first_moment = True
    has_second_moment = True
    has_preconditioner = True
    has_effective_preconditioner = True

    def __init__(self, optimizer):
        super().__init__(optimizer)
        if optimizer.amsgrad:
            self.family = "amsgrad"
        else:
            self.family = "adamw" if isinstance(optimizer, keras.optimizers.AdamW) else "adam"

    def read(self, index, step, dtype):
        opt = self.optimizer
        m = _read(opt._momentums[index], dtype)
        v = _read((opt._velocity_hats if opt.amsgrad else opt._velocities)[index], dtype)
        epsilon = tf.cast(opt.epsilon, dtype)
        bias2 = 1.0 - _power(opt.beta_2, step, dtype)
        paper = tf.sqrt(v / bias2) + epsilon
        keras_q = (tf.sqrt(v) + epsilon) / tf.sqrt(bias2)
        return ReadState(m, v, paper, keras_q)


class _NadamReader(StateReader):
    family = "nadam"
    has_first_moment = True
    has_second_moment = True
    has_preconditioner = True

    def read(self, index, step, dtype):
        opt = self.optimizer
        m = _read(opt._momentums[index], dtype)
        v = _read(opt._velocities[index], dtype)
        q = tf.sqrt(v / (1.0 - _power(opt.beta_2, step, dtype))) + tf.cast(opt.epsilon, dtype)
        return ReadState(m, v, q, None)


class _AdamaxReader(StateReader):
    family = "adamax"
    has_first_moment = True
    has_second_moment = True
    has_preconditioner = True

    def read(self, index, step, dtype):
        opt = self.optimizer
        m = _read(opt._m[index], dtype)
        u = _read(opt._u[index], dtype)
        return ReadState(m, u, u + tf.cast(opt.epsilon, dtype), None)


class _RMSpropReader(StateReader):
    family = "rmsprop"
    has_second_moment = True
    has_preconditioner = True

    def __init__(self, optimizer):
        super().__init__(optimizer)
        self.has_first_moment = bool(optimizer.centered)

    def read(self, index, step, dtype):
        opt = self.optimizer
        v = _read(opt._velocities[index], dtype)
        epsilon = tf.cast(opt.epsilon, dtype)
        if opt.centered:
            mean_g = _read(opt._average_gradients[index], dtype)
            return ReadState(mean_g, v, tf.sqrt(v - tf.square(mean_g) + epsilon), None)
        return ReadState(None, v, tf.sqrt(v + epsilon), None)


class _AdagradReader(StateReader):
    family = "adagrad"
    has_second_moment = True
    has_preconditioner = True

    def read(self, index, step, dtype):
        opt = self.optimizer
        acc = _read(opt._accumulators[index], dtype)
        return ReadState(None, acc, tf.sqrt(acc + tf.cast(opt.epsilon, dtype)), None)


class _SGDReader(StateReader):
    def __init__(self, optimizer):
        super().__init__(optimizer)
        self.has_first_moment = optimizer.momentum != 0
        self.family = "sgd_momentum" if self.has_first_moment else "sgd"

    def read(self, index, step, dtype):
        if not self.has_first_moment:
            return ReadState(None, None, None, None)
        return ReadState(_read(self.optimizer.momentums[index], dtype), None, None, None)


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
