"""tfescape._distribute in one process: reductions on two logical CPUs, sharding, TF_CONFIG, chief writes."""

import json
import os
from types import SimpleNamespace

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfescape import _distribute as dist


def _cluster_strategy(task_type, task_id, cluster, replicas=2):
    """A stand-in with what the helpers read from a multi-worker strategy (no cluster is started)."""
    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
        tf.train.ClusterSpec(cluster), task_type=task_type, task_id=task_id
    )
    captured = []
    return SimpleNamespace(
        cluster_resolver=resolver,
        num_replicas_in_sync=replicas,
        experimental_distribute_dataset=lambda d: captured.append(d) or d,
        captured=captured,
    )


TWO_WORKERS = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}


def test_sum_over_replicas_packs_tensors_of_different_ranks_and_dtypes(two_device_strategy):
    strategy = two_device_strategy

    def replica_fn():
        r = tf.cast(tf.distribute.get_replica_context().replica_id_in_sync_group, tf.float32) + 1.0
        return {
            "matrix": r * tf.ones([2, 3]),
            "vector": tf.stack([r, 2 * r]),
            "count": tf.cast(r, tf.int64) * 5,
        }

    result = tf.function(lambda: dist.sum_over_replicas(strategy, strategy.run(replica_fn)))()
    # replicas 1 and 2: sums 3 * ones, (3, 6), 15
    np.testing.assert_array_equal(result["matrix"].numpy(), np.full([2, 3], 3.0, np.float32))
    np.testing.assert_array_equal(result["vector"].numpy(), [3.0, 6.0])
    assert result["count"].dtype == tf.int64 and int(result["count"]) == 15
    assert result["matrix"].dtype == tf.float32


def test_sum_over_replicas_with_one_replica_is_the_value():
    strategy = tf.distribute.get_strategy()
    values = (tf.ones([2, 2]), tf.constant(3, tf.int64))
    result = dist.sum_over_replicas(strategy, strategy.run(lambda: values))
    np.testing.assert_array_equal(result[0], np.ones([2, 2]))
    assert int(result[1]) == 3


def test_summed_over_dataset_matches_a_python_sum(two_device_strategy):
    strategy = two_device_strategy
    x = np.arange(11, dtype=np.float32)  # batches of 4, 4, 3: uneven shares
    data = tf.data.Dataset.from_tensor_slices((x, x)).batch(4)

    def replica_fn(xb, yb, scale):
        return tf.reduce_sum(xb * yb) * scale, tf.cast(tf.shape(xb)[0], tf.float64)

    run = dist.summed_over_dataset(strategy, dist.distribute_dataset(strategy, data), replica_fn)
    total, count = run(tf.constant(2.0))
    assert float(total) == pytest.approx(2.0 * np.sum(x * x)) and float(count) == 11.0


def test_undo_replica_loss_scaling_gives_each_replicas_own_mean(two_device_strategy):
    strategy = two_device_strategy
    loss = keras.losses.MeanSquaredError()

    def replica_fn():
        value = loss(tf.zeros([4, 1]), tf.fill([4, 1], 2.0))  # mean of 4.0, scaled by 1/2 in a replica
        return value, dist.undo_replica_loss_scaling(loss, value)

    scaled, unscaled = strategy.experimental_local_results(strategy.run(replica_fn))[0]
    assert float(scaled) == pytest.approx(2.0) and float(unscaled) == pytest.approx(4.0)
    assert dist.undo_replica_loss_scaling(loss, tf.constant(4.0)).numpy() == pytest.approx(4.0)
    summed = keras.losses.MeanSquaredError(reduction="sum")
    assert dist.undo_replica_loss_scaling(summed, tf.constant(4.0)).numpy() == pytest.approx(4.0)


def test_distribute_dataset_shards_by_data_unless_told_otherwise():
    data = tf.data.Dataset.range(10).batch(4)
    strategy = _cluster_strategy("worker", 0, TWO_WORKERS)
    dist.distribute_dataset(strategy, data)
    policy = strategy.captured[0].options().experimental_distribute.auto_shard_policy
    assert policy == tf.data.experimental.AutoShardPolicy.DATA


@pytest.mark.parametrize("policy", ["FILE", "OFF"])
def test_distribute_dataset_refuses_file_or_no_sharding_across_workers(policy):
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = getattr(tf.data.experimental.AutoShardPolicy, policy)
    data = tf.data.Dataset.range(10).batch(4).with_options(options)
    with pytest.raises(ValueError, match="AutoShardPolicy.DATA"):
        dist.distribute_dataset(_cluster_strategy("worker", 0, TWO_WORKERS), data)
    # One worker: nothing to shard across workers, so the policy does not matter.
    one = _cluster_strategy("worker", 0, {"worker": ["127.0.0.1:1"]})
    assert dist.distribute_dataset(one, data) is data


@pytest.mark.parametrize(
    "text, match",
    [
        ("", "TF_CONFIG is not set"),
        ("{not json", "not valid JSON"),
        (json.dumps({"task": {"type": "worker", "index": 0}}), '"cluster"'),
        (json.dumps({"cluster": TWO_WORKERS}), '"task"'),
        (json.dumps({"cluster": TWO_WORKERS, "task": {"type": "worker", "index": 2}}), "not in its cluster"),
    ],
)
def test_bad_tf_config_is_a_value_error(text, match):
    with pytest.raises(ValueError, match=match):
        dist.read_tf_config({"TF_CONFIG": text})
    with pytest.raises(ValueError, match=match):
        dist.multiworker_strategy(environ={"TF_CONFIG": text})


def test_good_tf_config_is_read():
    config = {"cluster": TWO_WORKERS, "task": {"type": "worker", "index": 1}}
    assert dist.read_tf_config({"TF_CONFIG": json.dumps(config)}) == config


def test_chief_is_worker_zero_or_the_chief_task():
    assert dist.is_chief(None) and dist.is_chief(tf.distribute.get_strategy())
    assert dist.is_chief(_cluster_strategy("worker", 0, TWO_WORKERS))
    assert not dist.is_chief(_cluster_strategy("worker", 1, TWO_WORKERS))
    with_chief = {"chief": ["127.0.0.1:3"], **TWO_WORKERS}
    assert dist.is_chief(_cluster_strategy("chief", 0, with_chief))
    assert not dist.is_chief(_cluster_strategy("worker", 0, with_chief))
    assert dist.num_workers(_cluster_strategy("chief", 0, with_chief)) == 3


def test_only_the_chief_writes_into_the_results_folder(tmp_path):
    target = tmp_path / "results"
    with dist.writable_dir(target, _cluster_strategy("worker", 0, TWO_WORKERS)) as folder:
        assert folder == os.fspath(target)
        (target / "a.txt").write_text("chief")
    with dist.writable_dir(target, _cluster_strategy("worker", 1, TWO_WORKERS)) as folder:
        assert os.path.isdir(folder) and not folder.startswith(os.fspath(tmp_path))
        with open(os.path.join(folder, "a.txt"), "w") as handle:
            handle.write("worker 1")
    assert not os.path.exists(folder)  # the temporary folder is gone
    assert (target / "a.txt").read_text() == "chief" and os.listdir(target) == ["a.txt"]


def test_compare_multiworker_needs_tf_config(monkeypatch):
    from tfescape.experiments.compare import DISTRIBUTE, CompareConfig
    from tfescape.experiments.context import make_strategy

    assert "multiworker" in DISTRIBUTE
    assert CompareConfig.preset("smoke", distribute="multiworker").distribute == "multiworker"
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG is not set"):
        make_strategy("multiworker")


def test_non_chief_results_go_to_a_temporary_folder(tmp_path):
    config = {"cluster": TWO_WORKERS, "task": {"type": "worker", "index": 0}}
    assert dist.worker_output_dir(tmp_path, {"TF_CONFIG": json.dumps(config)}) == os.fspath(tmp_path)
    config["task"]["index"] = 1
    folder = dist.worker_output_dir(tmp_path, {"TF_CONFIG": json.dumps(config)})
    assert os.path.isdir(folder) and os.listdir(folder) == [] and folder != os.fspath(tmp_path)
