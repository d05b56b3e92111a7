"""Datasets: the offline "digits" default, keras.datasets ones, and a synthetic Gaussian mixture.

Every loader returns the same things: NumPy arrays (``load_arrays``) or batched tf.data pipelines
(``load_dataset``), plus a frozen :class:`DatasetInfo`. Images are float32 in [0, 1] before
normalization, channels last; labels are int32 class indices (use
``keras.losses.SparseCategoricalCrossentropy``).

Offline by default: "digits" is scikit-learn's bundled 8x8 handwritten digits (1,797 images) and
needs no network. "mnist", "fashion_mnist", "cifar10" and "cifar100" come from keras.datasets and are
used when their files are in the Keras cache or the machine is online; otherwise a
:class:`DatasetUnavailableError` names the cache path and suggests "digits". Nothing here hangs on a
dead network: downloads run under a socket timeout.

Data order: the training pipeline's order in data epoch ``e`` is a pure function of ``(seed, e)``, so
every optimizer trained on one pipeline can see the same batches, in this process or a restarted one:
pass ``SyncDataEpoch(train)`` to ``model.fit`` (or call :func:`set_data_epoch` before each pass).

Example:
    >>> train, test, info = load_dataset("digits", batch_size=64, seed=0)
    >>> info.input_shape, info.num_classes
    ((8, 8, 1), 10)
    >>> model.fit(train, epochs=3, callbacks=[SyncDataEpoch(train)])  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

logger = logging.getLogger(__name__)

__all__ = [
    "ArrayDataset",
    "DatasetInfo",
    "DatasetUnavailableError",
    "LoadedDataset",
    "SyncDataEpoch",
    "get_data_epoch",
    "has_data_epoch",
    "is_cached",
    "keras_cache_dir",
    "load_arrays",
    "load_dataset",
    "pinned_data_epoch",
    "set_data_epoch",
]

KERAS_DATASETS = ("mnist", "fashion_mnist", "cifar10", "cifar100")
DATASETS = ("digits", "synthetic", *KERAS_DATASETS)

# Files keras.datasets leaves in <KERAS_HOME>/datasets once a dataset has been downloaded.
_CACHED_FILES = {
    "mnist": ("mnist.npz",),
    "fashion_mnist": (
        "fashion-mnist/train-labels-idx1-ubyte.gz",
        "fashion-mnist/train-images-idx3-ubyte.gz",
        "fashion-mnist/t10k-labels-idx1-ubyte.gz",
        "fashion-mnist/t10k-images-idx3-ubyte.gz",
    ),
    "cifar10": ("cifar-10-batches-py",),
    "cifar100": ("cifar-100-python",),
}


class DatasetUnavailableError(RuntimeError):
    """A keras.datasets dataset is neither cached nor downloadable (offline machine)."""


@dataclass(frozen=True)
class DatasetInfo:
    """What a loaded dataset is.

    Attributes:
        name: dataset name as passed to the loader.
        input_shape: shape of one example, channels last for images, e.g. (8, 8, 1).
        num_classes: number of classes; labels are int32 in [0, num_classes).
        num_train: examples in the training split.
        num_test: examples in the test split.
        mean: per-channel mean subtracted from the [0, 1] inputs (0.0 when not normalized).
        std: per-channel standard deviation the inputs were divided by (1.0 when not normalized).
        seed: seed of the split / generation (None where the split is fixed by the source).
    """

    name: str
    input_shape: tuple[int, ...]
    num_classes: int
    num_train: int
    num_test: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    seed: int | None


class ArrayDataset(NamedTuple):
    """Train/test arrays and their :class:`DatasetInfo`."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    info: DatasetInfo


class LoadedDataset(NamedTuple):
    """Batched train/test pipelines and their :class:`DatasetInfo` (unpacks as a 3-tuple)."""

    train: tf.data.Dataset
    test: tf.data.Dataset
    info: DatasetInfo


def keras_cache_dir(cache_dir: str | os.PathLike | None = None) -> str:
    """The folder where keras.datasets keeps its files: ``<cache_dir or KERAS_HOME or ~/.keras>/datasets``."""
    if cache_dir is not None and not isinstance(cache_dir, str | os.PathLike):
        raise ValueError(f"cache_dir must be a folder path or None, got {cache_dir!r}.")
    if cache_dir is None:
        from keras.src.backend import config as keras_config

        cache_dir = keras_config.keras_home()
    return os.path.join(os.path.expanduser(os.fspath(cache_dir)), "datasets")


def is_cached(name: str, *, cache_dir: str | os.PathLike | None = None) -> bool:
    """Whether the keras.datasets files of ``name`` are already in the cache (no network needed)."""
    _check_name(name)
    if name not in _CACHED_FILES:
        return True
    folder = keras_cache_dir(cache_dir)
    return all(_cached_path_exists(os.path.join(folder, f)) for f in _CACHED_FILES[name])


def load_arrays(
    name: str = "digits",
    *,
    seed: int = 0,
    test_fraction: float = 0.2,
    image_size: int | None = None,
    normalize: bool = True,
    flatten: bool = False,
    max_train: int | None = None,
    max_test: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    download: bool | None = None,
    download_timeout: float = 30.0,
    num_examples: int = 2000,
    num_features: int = 20,
    num_classes: int = 2,
    separation: float = 2.0,
) -> ArrayDataset:
    """Load a dataset as NumPy arrays.

    Args:
        name: one of "digits" (offline default), "synthetic", "mnist", "fashion_mnist", "cifar10",
            "cifar100".
        seed: seed of the train/test split ("digits", "synthetic") and of synthetic data generation.
            The same seed gives the same arrays.
        test_fraction: share of examples held out ("digits", "synthetic"); keras datasets keep their
            official split.
        image_size: resize images to image_size x image_size (bilinear), e.g. 28 to feed conv nets
            built for MNIST with "digits". None keeps the native size.
        normalize: standardize per channel with the training split's mean and std.
        flatten: reshape each example to a vector.
        max_train, max_test: keep only the first examples of each split (after the seeded split).
        cache_dir: Keras cache root (default: $KERAS_HOME or ~/.keras) for keras.datasets.
        download: allow downloading keras.datasets files that are not cached. None reads the
            environment: downloads are allowed unless TFESCAPE_OFFLINE=1.
        download_timeout: socket timeout in seconds while downloading.
        num_examples, num_features, num_classes, separation: size of the "synthetic" task: a
            mixture of isotropic unit Gaussians, one per class, whose means are drawn with norm
            ``separation``.

    Returns:
        ArrayDataset(x_train, y_train, x_test, y_test, info); x float32, y int32.

    Raises:
        ValueError: unknown name or out-of-range option.
        DatasetUnavailableError: a keras dataset is not cached and cannot be downloaded.
    """
    _check_name(name)
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}.")
    if image_size is not None and image_size < 1:
        raise ValueError(f"image_size must be a positive integer or None, got {image_size}.")
    _check_array_options(seed, image_size, max_train, max_test, download_timeout, separation)
    if name == "synthetic":
        x, y = _synthetic(num_examples, num_features, num_classes, separation, seed)
        x_train, y_train, x_test, y_test = _seeded_split(x, y, test_fraction, seed)
        split_seed = seed
    elif name == "digits":
        x, y = _digits()
        x_train, y_train, x_test, y_test = _seeded_split(x, y, test_fraction, seed)
        split_seed = seed
    else:
        (x_train, y_train), (x_test, y_test) = _keras_dataset(
            name, cache_dir=cache_dir, download=download, timeout=download_timeout
        )
        split_seed = None
    x_train, y_train = x_train[:max_train], y_train[:max_train]
    x_test, y_test = x_test[:max_test], y_test[:max_test]
    if image_size is not None and x_train.ndim == 4:
        x_train, x_test = _resize(x_train, image_size), _resize(x_test, image_size)
    mean, std = _channel_stats(x_train) if normalize else (None, None)
    if normalize:
        x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    if flatten:
        x_train = x_train.reshape(len(x_train), -1)
        x_test = x_test.reshape(len(x_test), -1)
    classes = int(max(y_train.max(initial=0), y_test.max(initial=0)) + 1)
    if name == "synthetic":
        classes = num_classes
    info = DatasetInfo(
        name=name,
        input_shape=tuple(int(d) for d in x_train.shape[1:]),
        num_classes=classes,
        num_train=len(x_train),
        num_test=len(x_test),
        mean=tuple(float(m) for m in np.ravel(mean)) if normalize else (0.0,),
        std=tuple(float(s) for s in np.ravel(std)) if normalize else (1.0,),
        seed=split_seed,
    )
    return ArrayDataset(
        x_train.astype(np.float32),
        y_train.astype(np.int32),
        x_test.astype(np.float32),
        y_test.astype(np.int32),
        info,
    )


def load_dataset(
    name: str = "digits",
    *,
    batch_size: int = 128,
    seed: int = 0,
    shuffle: bool = True,
    reshuffle_each_iteration: bool = True,
    drop_remainder: bool = False,
    repeat: bool = False,
    prefetch: bool = True,
    **array_options,
) -> LoadedDataset:
    """Load a dataset as batched tf.data pipelines.

    The order of the training split in data epoch ``e`` is a pure function of ``(seed, e)``: a stateless
    permutation whose seed is ``seed`` folded with ``e``. Any pipeline built with the same arguments, in
    this process or another, yields the same batches for the same data epoch. The pipeline reads its
    data epoch from a counter when a pass starts (the first element is requested) and, with
    ``reshuffle_each_iteration``, advances it by one, so a plain loop over passes sees epochs 0, 1, 2, ...
    Two consumers of one pipeline (two models trained one after the other) see the same sequence only
    when each sets the epoch: pass ``SyncDataEpoch(train)`` to ``model.fit`` (it sets the data epoch to
    Keras' epoch at the start of each epoch, resumes included) or call :func:`set_data_epoch`. Under a
    tf.distribute strategy Keras may start extra passes (a first batch to build the model), so use
    ``SyncDataEpoch`` there. The test pipeline is never shuffled.

    Args:
        name: see :func:`load_arrays`.
        batch_size: examples per batch (both splits).
        seed: seed of the split, of synthetic data and of the data order.
        shuffle: shuffle the training split: a full permutation per data epoch.
        reshuffle_each_iteration: advance the data epoch at the start of each pass (a new order each
            pass); False keeps the order of the current data epoch (0 unless set) for every pass.
        drop_remainder: drop the last incomplete batch of each data epoch.
        repeat: repeat the training split indefinitely (then pass steps_per_epoch to fit); each pass
            is one data epoch, and batches never straddle two epochs.
        prefetch: append ``prefetch(tf.data.AUTOTUNE)``.
        **array_options: forwarded to :func:`load_arrays` (image_size, normalize, flatten, ...).

    Returns:
        LoadedDataset(train, test, info), which unpacks as ``train, test, info``.

    Raises:
        ValueError: bad batch_size or options; see :func:`load_arrays`.
        DatasetUnavailableError: see :func:`load_arrays`.
    """
    if not isinstance(batch_size, int | np.integer) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    arrays = load_arrays(name, seed=seed, **array_options)
    if shuffle:
        train, epoch = _epoch_ordered(
            arrays.x_train,
            arrays.y_train,
            batch_size=batch_size,
            seed=seed,
            advance=reshuffle_each_iteration,
            drop_remainder=drop_remainder,
            repeat=repeat,
        )
    else:
        train, epoch = tf.data.Dataset.from_tensor_slices((arrays.x_train, arrays.y_train)), None
        if repeat:
            train = train.repeat()
        train = train.batch(batch_size, drop_remainder=drop_remainder)
    test = tf.data.Dataset.from_tensor_slices((arrays.x_test, arrays.y_test)).batch(batch_size)
    if prefetch:
        train, test = train.prefetch(tf.data.AUTOTUNE), test.prefetch(tf.data.AUTOTUNE)
    if epoch is not None:
        setattr(train, _EPOCH_ATTRIBUTE, epoch)
    return LoadedDataset(train, test, arrays.info)


_EPOCH_ATTRIBUTE = "_tfescape_data_epoch"


def _epoch_ordered(x, y, *, batch_size, seed, advance, drop_remainder, repeat):
    """Batches of (x, y) whose order in data epoch e is a stateless permutation keyed by (seed, e)."""
    from tfescape._seeds import sanitize_seed

    with tf.init_scope():
        epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="data_epoch")
    base_seed = sanitize_seed(int(seed), salt="tfescape.data.order")
    size = len(x)
    features, labels = tf.constant(x), tf.constant(y)

    def start_pass(_):
        current = epoch.assign_add(1) - 1 if advance else epoch.read_value()
        pass_seed = tf.random.experimental.stateless_fold_in(base_seed, current)
        return tf.random.experimental.stateless_shuffle(tf.range(size, dtype=tf.int64), seed=pass_seed)

    def batches_of(order):
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size, drop_remainder=drop_remainder)

    def gather(indices):
        return tf.gather(features, indices), tf.gather(labels, indices)

    passes = tf.data.Dataset.from_tensors(tf.constant(0, tf.int64))
    passes = passes.repeat() if repeat else passes
    train = passes.map(start_pass).flat_map(batches_of).map(gather)
    per_pass = size // batch_size if drop_remainder else -(-size // batch_size)
    cardinality = tf.data.INFINITE_CARDINALITY if repeat else per_pass
    return train.apply(tf.data.experimental.assert_cardinality(cardinality)), epoch


def _epoch_variable(dataset) -> tf.Variable:
    epoch = getattr(dataset, _EPOCH_ATTRIBUTE, None)
    if epoch is None:
        raise ValueError(
            "This dataset has no data-epoch counter. Build it with "
            "tfescape.data.load_dataset(..., shuffle=True) and pass the pipeline it returns (not a "
            "pipeline derived from it with map/batch/...)."
        )
    return epoch


def has_data_epoch(dataset) -> bool:
    """Whether ``dataset`` is a :func:`load_dataset` training pipeline with a data-epoch counter."""
    return getattr(dataset, _EPOCH_ATTRIBUTE, None) is not None


def get_data_epoch(dataset) -> int:
    """The data epoch the next pass over ``dataset`` (a :func:`load_dataset` training pipeline) uses.

    Raises:
        ValueError: ``dataset`` is not a shuffled :func:`load_dataset` training pipeline.
    """
    return int(_epoch_variable(dataset).numpy())


def set_data_epoch(dataset, epoch: int) -> None:
    """Make the next pass over ``dataset`` use the order of data epoch ``epoch``.

    Args:
        dataset: a shuffled training pipeline from :func:`load_dataset`.
        epoch: any integer; epoch ``e`` always gives the same order for the same ``seed``.

    Raises:
        ValueError: ``dataset`` has no data-epoch counter, or ``epoch`` is not an integer.
    """
    variable = _epoch_variable(dataset)
    if isinstance(epoch, bool) or not isinstance(epoch, int | np.integer):
        raise ValueError(f"epoch must be an integer, got {epoch!r}.")
    variable.assign(int(epoch))


@contextlib.contextmanager
def pinned_data_epoch(datasets, epoch: int):
    """Within the block, passes over each pipeline start at data epoch ``epoch``; restored afterwards.

    Datasets without a data-epoch counter (not from :func:`load_dataset`, or unshuffled) and None are
    skipped, so callers can pass whatever pipelines they hold.
    """
    held = []
    for dataset in datasets:
        if has_data_epoch(dataset) and all(dataset is not d for d, _ in held):
            held.append((dataset, get_data_epoch(dataset)))
            set_data_epoch(dataset, epoch)
    try:
        yield
    finally:
        for dataset, previous in held:
            set_data_epoch(dataset, previous)


class SyncDataEpoch(keras.callbacks.Callback):
    """Keras callback: at the start of each epoch, set the data epoch of a pipeline to Keras' epoch.

    With it, epoch ``e`` of any model trained on ``train`` (including a fit resumed with
    ``initial_epoch=e``) sees the batches of data epoch ``e``: two optimizers trained on one pipeline
    see identical batch sequences, and a restarted process sees them again.

    Example:
        >>> train, test, info = load_dataset("digits", batch_size=64, seed=0)
        >>> model.fit(train, epochs=3, callbacks=[SyncDataEpoch(train)])  # doctest: +SKIP

    Raises:
        ValueError: ``dataset`` is not a shuffled :func:`load_dataset` training pipeline.
    """

    def __init__(self, dataset):
        super().__init__()
        _epoch_variable(dataset)
        self.dataset = dataset

    def on_epoch_begin(self, epoch, logs=None):
        set_data_epoch(self.dataset, int(epoch))


def _check_array_options(seed, image_size, max_train, max_test, download_timeout, separation) -> None:
    from tfescape import _checks

    _checks.integer(seed, "seed", minimum=0)
    _checks.optional_positive_int(image_size, "image_size")
    _checks.optional_positive_int(max_train, "max_train")
    _checks.optional_positive_int(max_test, "max_test")
    _checks.positive_float(download_timeout, "download_timeout")
    _checks.nonnegative_float(separation, "separation")


def _check_name(name: str) -> None:
    if not isinstance(name, str) or name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}. Choose one of {', '.join(DATASETS)}.")


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[..., None]
    return x, bunch.target.astype(np.int32)


def _synthetic(
    num_examples: int, num_features: int, num_classes: int, separation: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    if num_examples < 2 or num_features < 1 or num_classes < 2:
        raise ValueError(
            "synthetic needs num_examples >= 2, num_features >= 1 and num_classes >= 2; got "
            f"{num_examples}, {num_features}, {num_classes}."
        )
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((num_classes, num_features))
    centers *= separation / np.linalg.norm(centers, axis=1, keepdims=True)
    y = rng.integers(0, num_classes, size=num_examples).astype(np.int32)
    x = centers[y] + rng.standard_normal((num_examples, num_features))
    return x.astype(np.float32), y


def _seeded_split(x, y, test_fraction, seed):
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = max(1, int(round(test_fraction * len(x))))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def _resize(x: np.ndarray, size: int) -> np.ndarray:
    return tf.image.resize(x, (size, size), method="bilinear").numpy()


def _channel_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    axes = tuple(range(x.ndim - 1)) if x.ndim >= 3 else (0,)
    if x.ndim == 2:  # tabular: one global scale per feature
        mean, std = x.mean(axis=0), x.std(axis=0)
    else:
        mean, std = x.mean(axis=axes), x.std(axis=axes)
    return mean.astype(np.float32), np.where(std > 0, std, 1.0).astype(np.float32)


def _cached_path_exists(path: str) -> bool:
    return os.path.exists(path) or os.path.exists(path + "_extracted")


def _keras_loader(name: str) -> Callable:
    import keras

    return getattr(keras.datasets, name).load_data


def _downloads_allowed(download: bool | None) -> bool:
    if download is not None:
        return bool(download)
    return os.environ.get("TFESCAPE_OFFLINE", "0").lower() not in ("1", "true", "yes")


@contextlib.contextmanager
def _keras_home(cache_dir):
    """Point keras.datasets at ``cache_dir`` for the duration (Keras reads KERAS_HOME at import)."""
    if cache_dir is None:
        yield
        return
    from keras.src.backend import config as keras_config

    old = keras_config._KERAS_DIR
    keras_config._KERAS_DIR = os.fspath(cache_dir)
    try:
        yield
    finally:
        keras_config._KERAS_DIR = old


@contextlib.contextmanager
def _socket_timeout(seconds: float):
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


def _unavailable_message(name: str, folder: str, reason: str) -> str:
    return (
        f"Dataset {name!r} is not available: {reason}. keras.datasets looks for its files in "
        f"{folder!r}. Copy them there from a machine that is online, or use the offline default "
        "load_dataset('digits') (or 'synthetic')."
    )


def _keras_dataset(name, *, cache_dir, download, timeout):
    folder = keras_cache_dir(cache_dir)
    cached = is_cached(name, cache_dir=cache_dir)
    if not cached and not _downloads_allowed(download):
        raise DatasetUnavailableError(
            _unavailable_message(name, folder, "it is not cached and downloads are off")
        )
    if not cached:
        logger.info("Downloading %s into %s", name, folder)
    try:
        with _keras_home(cache_dir), _socket_timeout(timeout):
            (x_train, y_train), (x_test, y_test) = _keras_loader(name)()
    except Exception as err:  # the downloader raises bare Exception, URLError, OSError, ...
        raise DatasetUnavailableError(
            _unavailable_message(name, folder, f"loading failed ({type(err).__name__}: {err})")
        ) from err
    x_train, x_test = _as_images(x_train), _as_images(x_test)
    return (x_train, np.ravel(y_train)), (x_test, np.ravel(y_test))


def _as_images(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float32) / 255.0
    return x[..., None] if x.ndim == 3 else x
