"""Sampled gradient noise: the one file format, the two poolings and the loader (public via tfescape.noise).

A measurement of the gradient noise (tfescape.callbacks.GradientNoiseProbe) keeps, per trainable variable,
the noise values of a fixed uniformly random subset of its coordinates over all probed batches. This module
owns how those samples are stored (``noise_step<step>.npz``), read back (:func:`load_noise_samples`, checked)
and pooled into the one sample a tail index, a histogram or a fit is computed from (:func:`pool_noise`), so
every alpha, histogram and fit that describes a measurement comes from the same values.

Poolings of the noise matrix (batches x coordinates):

- ``"standardized"`` (tfescape's default): each coordinate is divided by its median |w| over the batches
  (the stability identity behind the estimators needs equally scaled samples; gradient-noise scales differ
  by orders of magnitude across coordinates); coordinates with median |w| = 0, exact zeros and non-finite
  values are dropped.
- ``"raw"`` (the paper's recipe, Simsekli et al. 2019 / Zhou et al. 2020): the values as they are, all
  coordinates pooled without scaling; coordinates that never move (identically zero noise) are dropped and
  counted, as are non-finite values. Mixing coordinates of very different scales makes the pool a scale
  mixture, which reads as heavier tailed (smaller alpha) than any one coordinate's noise.

Both pool the same uniform subset of the model's coordinates: every variable contributes the same fraction
of its coordinates (the smallest sampled fraction), so the pool is a uniform sample of all coordinates.
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tfescape._atomic import atomic_write

POOLINGS = ("standardized", "raw")
"""How the noise matrix is pooled into one sample (module docstring)."""

_FILE_PATTERN = re.compile(r"^noise_step(\d{8})\.npz$")


@dataclass(frozen=True)
class NoiseSamples:
    """Sampled noise of one measurement.

    Attributes:
        step: the training step it was measured at.
        names: variable paths (model.trainable_variables order).
        noise: per variable, [batches, sampled coordinates] noise values in sampling (random) order.
        indices: per variable, flat indices of the sampled coordinates, in sampling order.
        sizes: per variable, its total number of coordinates.
        smoothed: per variable, the same coordinates of Adam's smoothed noise, or None.
    """

    step: int
    names: tuple[str, ...]
    noise: tuple[np.ndarray, ...]
    indices: tuple[np.ndarray, ...]
    sizes: tuple[int, ...]
    smoothed: tuple[np.ndarray, ...] | None = None


@dataclass(frozen=True)
class NoisePool:
    """One pooled sample of noise values and what was left out.

    Attributes:
        values: flat float64 array.
        pooling: "standardized" or "raw".
        coordinates: coordinates that entered the pool.
        dropped_coordinates: sampled coordinates left out (identically zero or non-finite noise).
    """

    values: np.ndarray
    pooling: str
    coordinates: int
    dropped_coordinates: int


def check_pooling(pooling: str) -> str:
    """Return ``pooling`` if it is one of POOLINGS; else a ValueError that lists them."""
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}.")
    return pooling


def pool_columns(values: np.ndarray, *, pooling: str = "standardized") -> NoisePool:
    """Pool a noise matrix [batches, coordinates] into one flat sample (module docstring)."""
    check_pooling(pooling)
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"values must be [batches, coordinates], got shape {values.shape}.")
    with np.errstate(invalid="ignore"):
        if pooling == "standardized":
            scale = np.median(np.abs(values), axis=0)
            keep = np.isfinite(scale) & (scale > 0)
            z = (values[:, keep] / scale[keep]).ravel()
            z = z[np.isfinite(z) & (z != 0)]
        else:
            moving = np.any(np.isfinite(values) & (values != 0), axis=0)
            keep = moving
            z = values[:, keep].ravel()
            z = z[np.isfinite(z)]
    return NoisePool(z, pooling, int(keep.sum()), int(keep.size - keep.sum()))


def pool_noise(
    buffers: Sequence[np.ndarray], sizes: Sequence[int], *, pooling: str = "standardized"
) -> NoisePool:
    """The global pool of a measurement: a uniform random subset of all coordinates, pooled.

    Every variable contributes the same fraction of its coordinates (the smallest sampled fraction, so the
    largest variables set it): pooled, they are a uniform sample of the model's coordinates, the population
    the tail index of the whole (batches x parameters) noise matrix describes. Standardized pooling scales
    each coordinate by its own median |w|, so it pools variable by variable; raw pooling pools the values.

    Args:
        buffers: per variable, noise values [batches, sampled coordinates] in sampling (random) order.
        sizes: per variable, its total number of coordinates.
        pooling: "standardized" or "raw".

    Returns:
        NoisePool.
    """
    check_pooling(pooling)
    if len(buffers) != len(sizes) or not buffers:
        raise ValueError("buffers and sizes must be non-empty and of equal length (one per variable).")
    fraction = min(b.shape[1] / size for b, size in zip(buffers, sizes, strict=True))
    parts = [
        pool_columns(b[:, : max(1, round(fraction * size))], pooling=pooling)
        for b, size in zip(buffers, sizes, strict=True)
    ]
    return NoisePool(
        np.concatenate([p.values for p in parts]),
        pooling,
        sum(p.coordinates for p in parts),
        sum(p.dropped_coordinates for p in parts),
    )


def samples_path(folder: str | os.PathLike, step: int) -> str:
    """Where the samples of ``step`` are stored in ``folder``."""
    if isinstance(step, bool) or int(step) != step or step < 0:
        raise ValueError(f"step must be an integer >= 0 (a training step), got {step!r}.")
    return os.path.join(os.fspath(folder), f"noise_step{int(step):08d}.npz")


def sample_steps(folder: str | os.PathLike) -> list[int]:
    """Steps with stored samples in ``folder``, ascending (empty if the folder does not exist)."""
    if not isinstance(folder, str | os.PathLike):
        raise ValueError(f"folder must be a path, got {type(folder).__name__}.")
    if not os.path.isdir(folder):
        return []
    return sorted(int(m.group(1)) for f in os.listdir(folder) if (m := _FILE_PATTERN.match(f)))


def save_noise_samples(samples: NoiseSamples, folder: str | os.PathLike) -> str:
    """Write ``samples`` to ``folder/noise_step<step>.npz`` atomically; returns the path.

    Arrays per variable i with path p (``/`` written as ``.``): ``noise_<iii>_<p>``, ``indices_<iii>_<p>``,
    ``size_<iii>_<p>`` and, when present, ``smoothed_<iii>_<p>``.
    """
    for values, idx, size in zip(samples.noise, samples.indices, samples.sizes, strict=True):
        values = np.asarray(values)
        if values.ndim != 2 or np.shape(idx) != (values.shape[1],) or values.shape[1] > size:
            raise ValueError(
                "noise must be [batches, sampled coordinates] per variable, with one index per sampled "
                f"coordinate and no more coordinates than the variable's size; got {values.shape}."
            )
    os.makedirs(folder, exist_ok=True)
    arrays = {}
    for i, name in enumerate(samples.names):
        key = f"{i:03d}_{name.replace('/', '.')}"
        arrays[f"noise_{key}"] = samples.noise[i]
        arrays[f"indices_{key}"] = samples.indices[i]
        arrays[f"size_{key}"] = np.int64(samples.sizes[i])
        if samples.smoothed is not None:
            arrays[f"smoothed_{key}"] = samples.smoothed[i]
    path = samples_path(folder, samples.step)
    with atomic_write(path) as handle:
        np.savez_compressed(handle, **arrays)
    return path


def load_noise_samples(path: str | os.PathLike) -> NoiseSamples:
    """Read a file written by :func:`save_noise_samples` (or GradientNoiseProbe(samples_dir=...)).

    Raises:
        ValueError: the file is missing, not a noise-samples file, or damaged (the message names it).
    """
    path = os.fspath(path)
    match = _FILE_PATTERN.match(os.path.basename(path))
    try:
        with np.load(path) as data:
            keys = sorted(k[len("noise_") :] for k in data.files if k.startswith("noise_"))
            if not keys:
                raise ValueError("it holds no noise arrays")
            noise = tuple(np.asarray(data["noise_" + k]) for k in keys)
            indices = tuple(np.asarray(data["indices_" + k]) for k in keys)
            sizes = tuple(int(data["size_" + k]) for k in keys)
            has_smoothed = all(("smoothed_" + k) in data.files for k in keys)
            smoothed = tuple(np.asarray(data["smoothed_" + k]) for k in keys) if has_smoothed else None
    except FileNotFoundError:
        raise ValueError(f"noise samples {path!r} do not exist; rerun the measurement.") from None
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise ValueError(f"noise samples {path!r} are damaged or not a samples file ({error}).") from None
    for b, idx, size in zip(noise, indices, sizes, strict=True):
        if b.ndim != 2 or idx.shape != (b.shape[1],) or b.shape[1] > size:
            raise ValueError(f"noise samples {path!r} are inconsistent (array shapes do not match).")
    names = tuple(k.split("_", 1)[1].replace(".", "/") for k in keys)
    step = int(match.group(1)) if match else -1
    return NoiseSamples(step, names, noise, indices, sizes, smoothed)


def load_pool(path: str | os.PathLike, *, pooling: str = "standardized", smoothed: bool = False) -> NoisePool:
    """The global pool a measurement's tail index was estimated from, rebuilt from its samples file.

    Raises:
        ValueError: bad pooling, a damaged file, or ``smoothed`` asked of a file without smoothed noise.
    """
    samples = load_noise_samples(path)
    if smoothed and samples.smoothed is None:
        raise ValueError(f"{os.fspath(path)!r} has no smoothed noise; was smoothed_beta_1 set?")
    return pool_noise(samples.smoothed if smoothed else samples.noise, samples.sizes, pooling=pooling)
