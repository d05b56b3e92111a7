"""Input checks shared by the public entry points.

Each check returns the cleaned value or raises a ValueError that names the parameter, says what was
wrong and what to pass instead. Checks of array-valued parameters look at concrete values only (NumPy
arrays, Python numbers, eager tensors); symbolic tensors inside a tf.function pass through unchecked,
since their values are not known when the function is traced.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

import numpy as np
import tensorflow as tf


def _concrete(value):
    """``value`` as a NumPy array, or None when it is a symbolic (graph) tensor."""
    if isinstance(value, tf.Tensor | tf.Variable):
        if not tf.executing_eagerly() or not hasattr(value, "numpy"):
            return None
        try:
            return np.asarray(value.numpy())
        except (AttributeError, NotImplementedError, TypeError):
            return None
    return np.asarray(value)


def _describe(value) -> str:
    array = np.asarray(value) if not isinstance(value, tf.Tensor | tf.Variable) else None
    if array is not None and array.ndim == 0:
        return repr(value)
    return f"an array of shape {np.shape(value)}"


def real(value, name: str) -> float:
    """A Python float from a real scalar (bool and strings rejected); NaN and inf pass."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real | np.ndarray | tf.Tensor):
        raise ValueError(f"{name} must be a real number, got {value!r} ({type(value).__name__}).")
    array = _concrete(value)
    if array is None or array.ndim != 0 or not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{name} must be a real scalar, got {_describe(value)}.")
    return float(array)


def finite_float(value, name: str) -> float:
    """A finite real scalar."""
    number = real(value, name)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {number}. Check the value passed.")
    return number


def positive_float(value, name: str, *, allow_inf: bool = False) -> float:
    """A real scalar > 0, finite unless ``allow_inf``."""
    number = real(value, name)
    if math.isnan(number) or number <= 0 or (math.isinf(number) and not allow_inf):
        kind = "a positive number" if allow_inf else "a finite positive number"
        raise ValueError(f"{name} must be {kind}, got {number}.")
    return number


def nonnegative_float(value, name: str) -> float:
    """A finite real scalar >= 0."""
    number = real(value, name)
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {number}.")
    return number


def in_interval(
    value, name: str, low: float, high: float, *, low_open: bool = False, high_open: bool = False
) -> float:
    """A real scalar in the interval between ``low`` and ``high`` (open or closed at each end)."""
    number = real(value, name)
    above = number > low if low_open else number >= low
    below = number < high if high_open else number <= high
    if math.isnan(number) or not (above and below):
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        raise ValueError(f"{name} must be in {left}{low}, {high}{right}, got {number}.")
    return number


def probability(value, name: str) -> float:
    """A real scalar in the open interval (0, 1), e.g. a confidence level or an EMA coefficient."""
    return in_interval(value, name, 0.0, 1.0, low_open=True, high_open=True)


def integer(value, name: str, *, minimum: int | None = None) -> int:
    """A Python int from an integer (an integral float such as 3.0 is accepted), at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real | np.integer):
        raise ValueError(f"{name} must be an integer, got {value!r} ({type(value).__name__}).")
    if not math.isfinite(float(value)) or int(value) != value:
        raise ValueError(f"{name} must be an integer, got {value!r}.")
    number = int(value)
    if minimum is not None and number < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {number}.")
    return number


def positive_int(value, name: str) -> int:
    """An integer >= 1."""
    return integer(value, name, minimum=1)


def optional_positive_int(value, name: str) -> int | None:
    """None or an integer >= 1."""
    return None if value is None else integer(value, name, minimum=1)


def choice(value, name: str, options: Iterable[str]) -> str:
    """One of ``options`` (exact string)."""
    options = tuple(options)
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}; got {value!r}.")
    return value


def finite_array(
    values, name: str, *, min_size: int = 1, ndim: int | None = None, dtype=np.float64
) -> np.ndarray:
    """A real array with at least ``min_size`` elements, all finite (optionally of rank ``ndim``)."""
    try:
        array = np.asarray(values)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a real array; could not read it as one ({err}).") from err
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise ValueError(f"{name} must be a real array, got dtype {array.dtype}.")
    if np.iscomplexobj(array):
        raise ValueError(f"{name} must be real, got complex dtype {array.dtype}.")
    if ndim is not None and array.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {array.shape}.")
    if array.size < min_size:
        raise ValueError(f"{name} needs at least {min_size} value(s), got {array.size}.")
    array = array.astype(dtype, copy=False) if dtype is not None else array
    bad = ~np.isfinite(array)
    if np.any(bad):
        raise ValueError(
            f"{name} contains {int(np.sum(bad))} non-finite value(s) (NaN or inf) out of {array.size}. "
            "Remove them or find where they come from (a diverged run, a failed step) first."
        )
    return array


def array_values_in(
    values, name: str, low: float, high: float, *, low_open: bool = False, high_open: bool = False
):
    """Every concrete value of a scalar or array parameter lies in the given interval.

    Returns ``values`` unchanged; symbolic tensors are not checked.
    """
    array = _concrete(values)
    if array is None:
        return values
    if array.dtype == object or not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise ValueError(f"{name} must be real, got {values!r}.")
    above = array > low if low_open else array >= low
    below = array < high if high_open else array <= high
    ok = above & below & ~np.isnan(array)
    if not np.all(ok):
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        offending = np.ravel(array)[~np.ravel(ok)][:3]
        raise ValueError(
            f"{name} must be in {left}{low}, {high}{right}; got {', '.join(map(str, offending))}"
            f"{' (and more)' if np.sum(~ok) > 3 else ''}."
        )
    return values


def stable_alpha(alpha, name: str = "alpha"):
    """Stability index(es) of a stable law: in (0, 2]."""
    return array_values_in(alpha, name, 0.0, 2.0, low_open=True)


def stable_beta(beta, name: str = "beta"):
    """Skewness(es) of a stable law: in [-1, 1]."""
    return array_values_in(beta, name, -1.0, 1.0)


def stable_scale(scale, name: str = "scale"):
    """Scale(s) of a stable law: finite and > 0."""
    return array_values_in(scale, name, 0.0, math.inf, low_open=True, high_open=True)


def finite_values(values, name: str):
    """Every concrete value is finite (NaN and inf rejected); returns ``values`` unchanged."""
    array = _concrete(values)
    if array is None:
        return values
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise ValueError(f"{name} must be numeric, got dtype {array.dtype}.")
    if np.issubdtype(array.dtype, np.floating) or np.iscomplexobj(array):
        bad = ~np.isfinite(array)
        if np.any(bad):
            raise ValueError(
                f"{name} contains {int(np.sum(bad))} non-finite value(s) (NaN or inf). Pass finite values."
            )
    return values


def real_dtype(values, name: str):
    """``values`` holds real numbers (integers or floats): strings, objects, complex and bool rejected.

    Returns ``values`` unchanged.
    """
    if isinstance(values, tf.Tensor | tf.Variable):
        dtype = values.dtype
        ok = (dtype.is_floating or dtype.is_integer) and not dtype.is_complex
        described = dtype.name
    else:
        try:
            array = np.asarray(values)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{name} must be an array of real numbers; could not read it ({err}).") from err
        ok = np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
        described = str(array.dtype)
    if not ok:
        raise ValueError(
            f"{name} must hold real numbers (floats or integers), got dtype {described}. "
            "Convert it, e.g. np.asarray(values, dtype=np.float64)."
        )
    return values


def sample_shape(shape, name: str = "shape"):
    """A concrete output shape has non-negative integer entries; returns ``shape`` unchanged."""
    array = _concrete(shape)
    if array is None:
        return shape
    if array.ndim > 1 or not (array.size == 0 or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"{name} must be a list of non-negative integers, got {shape!r}.")
    if np.any(array < 0):
        raise ValueError(f"{name} must be a list of non-negative integers, got {shape!r}.")
    return shape


def callable_(value, name: str):
    """``value`` is callable; returns it."""
    if not callable(value):
        raise ValueError(f"{name} must be a callable, got {value!r} ({type(value).__name__}).")
    return value


def finite_result(values, what: str):
    """A computed result that must be finite: ValueError naming ``what`` otherwise; returns ``values``."""
    array = np.asarray(values)
    bad = ~np.isfinite(array)
    if np.any(bad):
        raise ValueError(
            f"{what} has {int(np.sum(bad))} non-finite value(s) (NaN or inf) out of {array.size}. The "
            "inputs are probably not finite (a diverged model, NaN/inf data, or a loss that overflows)."
        )
    return values
