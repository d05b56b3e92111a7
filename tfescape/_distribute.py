"""What tfescape's probes need from tf.distribute strategies, multi-worker clusters included.

- :func:`sum_over_replicas`: all-reduce (sum) a nest of per-replica tensors of any shapes and dtypes as
  ONE flat float64 buffer. Collective all-reduce (MultiWorkerMirroredStrategy) packs the tensors of a
  nest into one tensor and fails on tensors of different ranks ("Shapes must be equal rank"); one flat
  buffer is accepted by every strategy and costs one collective per call instead of one per tensor.
  Float64 keeps integer counts exact (up to 2^53) and float32 sums at least as accurate as on one device.
- :func:`undo_replica_loss_scaling`: Keras losses with a mean reduction divide their value by the number of
  replicas when called inside a replica context (so that summing over replicas gives the global mean of a
  training step). Probes that weight each replica's share by its own example count undo that scaling.
- :func:`distribute_dataset`: the strategy's distributed dataset, sharded so that every quantity over
  "the whole dataset" is the same on any number of workers (see "Sharding" below).
- :func:`multiworker_strategy`: a MultiWorkerMirroredStrategy built from ``TF_CONFIG``, with a bounded
  collective timeout so that a stuck worker makes the others fail instead of waiting forever (a dead
  worker is noticed earlier by TensorFlow's heartbeats: UnavailableError on the others).
- :func:`is_chief` and :func:`writable_dir`: only the chief writes results; the other workers write to
  temporary folders that are removed afterwards (what Keras' multi-worker callbacks expect).

Sharding. tf.distribute splits every global batch of the input into one share per replica. With several
workers the input is also auto-sharded across workers, by one of two policies:

- ``AutoShardPolicy.DATA``: every worker reads the whole input and keeps its replicas' shares of every
  global batch. All workers run the same number of steps; a final batch smaller than the number of
  replicas leaves some replicas an empty share, which the probes weight by zero. Sums over all replicas
  of (example count x per-share mean) are then exactly the single-process sums.
- ``AutoShardPolicy.FILE``: each worker reads its own subset of the input files. Workers then see
  different numbers of batches (a collective then waits for a step the other worker never runs) and
  different minibatches, so full-dataset quantities would depend on the file layout.

Full gradients, noise and Hessians therefore need DATA: :func:`distribute_dataset` sets it when the
input's policy is AUTO (the default, which would pick FILE for file-based inputs) and refuses FILE and OFF
on a multi-worker strategy with a ValueError. Every worker must build the same input in the same order:
shuffle with a fixed seed (a per-epoch stateless order), never an unseeded shuffle.

Keras 3 (checked with 3.15) cannot run ``model.fit`` / ``evaluate`` under a multi-worker strategy: its
eager symbolic build reduces the first input batch with the strategy (collective strategies refuse a
nest of tensors there), and every step reduces the scalar logs with ``reduce(MEAN, axis=0)``.
:func:`keras_fit_context` works around both while the context is open: the model is built when the
train function is traced, and the logs (metric results, already synchronized across replicas by their
SyncOnRead variables) are taken from the first local replica.

Training with model.fit under a strategy uses Keras' own scaling of mean losses by 1 / num_replicas:
each replica's mean counts 1 / num_replicas, so a step whose global batch is split unevenly across
replicas (a partial final batch) weights its examples differently from one process. Use
``drop_remainder=True`` (or a dataset size divisible by the global batch) when distributed and
single-process training must agree exactly.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import shutil
import tempfile

import numpy as np
import tensorflow as tf

logger = logging.getLogger(__name__)

__all__ = [
    "sum_over_replicas",
    "summed_over_dataset",
    "undo_replica_loss_scaling",
    "distribute_dataset",
    "num_workers",
    "multiworker_strategy",
    "read_tf_config",
    "is_chief",
    "writable_dir",
    "worker_output_dir",
    "keras_fit_context",
]

MEAN_REDUCTIONS = ("sum_over_batch_size", "mean", "mean_with_sample_weight")


# ------------------------------------------------------------------------------------------ reductions


def sum_over_replicas(strategy: tf.distribute.Strategy, per_replica):
    """Sum a nest of per-replica tensors over all replicas with one flat all-reduce.

    Call it in a cross-replica context (e.g. inside a ``tf.function`` right after ``strategy.run``).

    Args:
        strategy: the strategy ``per_replica`` came from.
        per_replica: what ``strategy.run`` returned: a nest of tensors of any shapes and real dtypes
            (each replica's tensors must have fully defined static shapes).

    Returns:
        The same nest of tensors, each the sum over replicas, in its original dtype. With one replica the
        values are returned through ``strategy.reduce`` unchanged.

    Raises:
        ValueError: a tensor's shape is not fully defined.
    """
    if strategy.num_replicas_in_sync == 1:
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)
    local = tf.nest.map_structure(lambda v: strategy.experimental_local_results(v)[0], per_replica)
    leaves = tf.nest.flatten(local)
    for leaf in leaves:
        if not leaf.shape.is_fully_defined():
            raise ValueError(
                f"sum_over_replicas needs tensors of static shape; got one of shape {leaf.shape}. "
                "Reduce fixed-size values (sums, counts), not per-example ones."
            )
    shapes = [leaf.shape for leaf in leaves]
    dtypes = [leaf.dtype for leaf in leaves]
    packed = strategy.run(_pack, args=(per_replica,))
    total = strategy.reduce(tf.distribute.ReduceOp.SUM, packed, axis=None)
    sizes = [int(np.prod(s.as_list(), dtype=np.int64)) for s in shapes]
    parts = tf.split(total, sizes) if len(sizes) > 1 else [total]
    values = [
        _cast(tf.reshape(part, shape), dtype)
        for part, shape, dtype in zip(parts, shapes, dtypes, strict=True)
    ]
    return tf.nest.pack_sequence_as(local, values)


def summed_over_dataset(strategy: tf.distribute.Strategy, distributed_dataset, replica_fn):
    """A tf.function ``f(*extra)``: the sum over all batches and replicas of ``replica_fn(x, y, *extra)``.

    The whole pass is one compiled function: the loop over the distributed dataset runs in the graph
    (no per-batch Python round trip), each batch's per-replica results are summed over replicas with
    :func:`sum_over_replicas`, and the sums accumulate over batches.

    Args:
        strategy: the strategy ``distributed_dataset`` belongs to.
        distributed_dataset: from :func:`distribute_dataset`, yielding ``(x, y)``; at least one batch.
        replica_fn: ``(x, y, *extra) -> nest of fixed-shape tensors``, run on every replica.

    Returns:
        The compiled function, returning the nest of sums.
    """

    def batch_sum(batch, extra):
        x, y = batch
        return sum_over_replicas(strategy, strategy.run(replica_fn, args=(x, y, *extra)))

    @tf.function(reduce_retracing=True)
    def run(*extra):
        iterator = iter(distributed_dataset)
        total = batch_sum(next(iterator), extra)
        for batch in iterator:
            total = tf.nest.map_structure(tf.add, total, batch_sum(batch, extra))
        return total

    return run


def _pack(nest):
    leaves = tf.nest.flatten(nest)
    return tf.concat([tf.reshape(tf.cast(leaf, tf.float64), [-1]) for leaf in leaves], axis=0)


def _cast(value, dtype):
    if dtype.is_integer:
        value = tf.round(value)
    return tf.cast(value, dtype)


def undo_replica_loss_scaling(loss, value):
    """``value`` of ``loss`` without Keras' 1 / num_replicas scaling inside a replica context.

    Keras losses whose reduction is a mean multiply their result by 1 / num_replicas_in_sync of the
    strategy in scope when called in a replica context. This returns the mean over the replica's own
    examples. Other callables and reductions are returned unchanged.
    """
    import keras

    if not (isinstance(loss, keras.losses.Loss) and loss.reduction in MEAN_REDUCTIONS):
        return value
    if tf.distribute.in_cross_replica_context():
        return value
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    if replicas == 1:
        return value
    return value * tf.cast(replicas, value.dtype)


# ------------------------------------------------------------------------------------------ data


def num_workers(strategy: tf.distribute.Strategy | None) -> int:
    """Number of worker processes of a strategy's cluster (1 for local strategies)."""
    resolver = getattr(strategy, "cluster_resolver", None) if strategy is not None else None
    if resolver is None:
        return 1
    cluster = resolver.cluster_spec().as_dict()
    return max(1, len(cluster.get("worker", [])) + len(cluster.get("chief", [])))


def distribute_dataset(strategy: tf.distribute.Strategy, dataset: tf.data.Dataset):
    """``strategy.experimental_distribute_dataset(dataset)`` sharded by DATA (see module docstring).

    With one replica the dataset is returned as is.

    Raises:
        ValueError: a multi-worker strategy and a dataset whose auto-shard policy is FILE or OFF.
    """
    if strategy.num_replicas_in_sync == 1:
        return dataset
    policy = dataset.options().experimental_distribute.auto_shard_policy
    shard = tf.data.experimental.AutoShardPolicy
    if policy == shard.AUTO:
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = shard.DATA
        dataset = dataset.with_options(options)
    elif policy != shard.DATA and num_workers(strategy) > 1:
        raise ValueError(
            f"The dataset's auto-shard policy is {policy.name}; full-dataset quantities across workers need "
            "AutoShardPolicy.DATA (every worker keeps its share of every batch; FILE gives workers "
            "different batches and step counts). Set options.experimental_distribute.auto_shard_policy = "
            "tf.data.experimental.AutoShardPolicy.DATA, or leave it at AUTO."
        )
    return strategy.experimental_distribute_dataset(dataset)


# ------------------------------------------------------------------------------------------ cluster


def read_tf_config(environ=None) -> dict:
    """The parsed ``TF_CONFIG`` (cluster and task), validated.

    Raises:
        ValueError: TF_CONFIG is missing, not JSON, or lacks a cluster / a task in it.
    """
    environ = os.environ if environ is None else environ
    text = environ.get("TF_CONFIG", "")
    if not text.strip():
        raise ValueError(
            "TF_CONFIG is not set. Multi-worker runs need it on every worker, e.g. "
            '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}.'
        )
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON ({error}): {text[:200]!r}") from None
    cluster, task = config.get("cluster"), config.get("task")
    if not isinstance(cluster, dict) or not cluster:
        raise ValueError('TF_CONFIG needs a "cluster" mapping of job names to "host:port" lists.')
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise ValueError(
            'TF_CONFIG needs a "task" with "type" and "index", e.g. {"type": "worker", "index": 0}.'
        )
    jobs = cluster.get(task["type"])
    if not isinstance(jobs, list) or not 0 <= int(task["index"]) < len(jobs):
        raise ValueError(
            f"TF_CONFIG's task {task['type']}:{task['index']} is not in its cluster {sorted(cluster)}; "
            "index must be below the number of addresses of that job."
        )
    return config


def multiworker_strategy(*, timeout_seconds: float | None = 300.0, environ=None):
    """A MultiWorkerMirroredStrategy over the cluster in ``TF_CONFIG`` (collective all-reduce).

    Create it at the start of the program, before any other TensorFlow operation, on every worker.
    Construction waits until all workers of the cluster have started.

    Args:
        timeout_seconds: each collective fails with ``tf.errors.DeadlineExceededError`` when it has
            waited this long (a dead or stuck worker); None or 0 waits forever, leaving only
            TensorFlow's peer health checks to notice a dead worker. Choose it above the longest
            expected gap between workers (first-step compilation included).
        environ: environment to read TF_CONFIG from (default ``os.environ``).

    Raises:
        ValueError: TF_CONFIG missing or malformed, or a negative timeout.
    """
    config = read_tf_config(environ)
    if timeout_seconds is not None and not timeout_seconds >= 0:
        raise ValueError(f"timeout_seconds must be >= 0 or None, got {timeout_seconds!r}.")
    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout_seconds or None)
    strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    logger.info(
        "MultiWorkerMirroredStrategy: task %s:%s of %d workers, %d replicas",
        config["task"]["type"],
        config["task"]["index"],
        num_workers(strategy),
        strategy.num_replicas_in_sync,
    )
    return strategy


def is_chief(strategy: tf.distribute.Strategy | None = None) -> bool:
    """Whether this process writes results: the "chief" task, or worker 0 of a cluster without one.

    Local (single-process) strategies and no strategy are always the chief.
    """
    resolver = getattr(strategy, "cluster_resolver", None) if strategy is not None else None
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    return _chief_task(resolver.task_type, resolver.task_id, resolver.cluster_spec().as_dict())


def _chief_task(task_type, task_id, cluster) -> bool:
    if task_type == "chief":
        return True
    return task_type == "worker" and int(task_id or 0) == 0 and "chief" not in cluster


def worker_output_dir(path: str | os.PathLike, environ=None) -> str:
    """Where this process of a ``TF_CONFIG`` cluster writes a run's results folder ``path``.

    The chief (see :func:`is_chief`) writes to ``path``; every other worker gets a fresh temporary folder,
    removed when the process exits, so that it can run every stage (and read back what it wrote) without
    touching the chief's files.

    Raises:
        ValueError: TF_CONFIG missing or malformed.
    """
    config = read_tf_config(environ)
    task = config["task"]
    if _chief_task(task["type"], task["index"], config["cluster"]):
        return os.fspath(path)
    temporary = tempfile.mkdtemp(prefix=f"tfescape-{task['type']}{task['index']}-")
    atexit.register(shutil.rmtree, temporary, True)
    logger.info("Task %s:%s is not the chief: writing results to %s", task["type"], task["index"], temporary)
    return temporary


@contextlib.contextmanager
def writable_dir(path: str | os.PathLike, strategy: tf.distribute.Strategy | None = None):
    """The folder this process should write ``path``'s files to.

    The chief writes to ``path`` itself. Other workers still run every write (Keras callbacks and
    checkpoints may contain collective operations that all workers must join) but into a fresh
    temporary folder, removed when the context exits.

    Example:
        >>> with writable_dir("results/run1", strategy) as folder:
        ...     model.save(os.path.join(folder, "final.keras"))
    """
    if is_chief(strategy):
        os.makedirs(path, exist_ok=True)
        yield os.fspath(path)
        return
    resolver = strategy.cluster_resolver
    temporary = tempfile.mkdtemp(prefix=f"tfescape-{resolver.task_type}{resolver.task_id}-")
    try:
        yield temporary
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


@contextlib.contextmanager
def keras_fit_context(model, strategy: tf.distribute.Strategy | None = None):
    """Make ``model.fit`` / ``model.evaluate`` work under a multi-worker strategy (Keras 3).

    Inside the context, and only when ``strategy`` (default: the model's) spans several workers:
    the strategy's scope is entered, Keras' eager symbolic build (which fails there) is skipped, and
    the step logs are read from the first local replica instead of a failing all-reduce over a batch
    axis. The model's settings and Keras' functions are restored on exit. Elsewhere this is only the
    strategy's scope.

    Example:
        >>> with keras_fit_context(model):
        ...     model.fit(train, epochs=3)
    """
    strategy = strategy or getattr(model, "distribute_strategy", None) or tf.distribute.get_strategy()
    if num_workers(strategy) == 1:
        with strategy.scope():
            yield model
        return
    from keras.src.backend.tensorflow import trainer as keras_trainer

    original_reduce = keras_trainer.reduce_per_replica

    def reduce_logs(values, strategy, reduction="auto"):
        # "auto" is "mean" over a batch axis that scalar logs do not have; they are equal on all
        # replicas (synchronized metrics), so the first local replica's value is the result.
        return original_reduce(values, strategy, reduction="first" if reduction == "auto" else reduction)

    saved_strategy = model._distribute_strategy
    model._distribute_strategy = None  # the strategy in scope is used; no eager symbolic build
    keras_trainer.reduce_per_replica = reduce_logs
    try:
        with strategy.scope():
            yield model
    finally:
        keras_trainer.reduce_per_replica = original_reduce
        model._distribute_strategy = saved_strategy
