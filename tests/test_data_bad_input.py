"""Bad input to every public name of tfescape.data: a clear ValueError naming the option."""

import numpy as np
import pytest
import tensorflow as tf

from tests.bad_input import INF, NAN, assert_clear_value_error, assert_every_name_covered, flatten_cases
from tfescape import data


def _train():
    return data.load_dataset("digits", batch_size=64, seed=0, max_train=128).train


_PLAIN = tf.data.Dataset.range(3)

CASES = {
    "load_arrays": [
        (lambda: data.load_arrays("imagenet"), "Unknown dataset"),
        (lambda: data.load_arrays(3), "Unknown dataset"),
        (lambda: data.load_arrays("digits", test_fraction=NAN), "test_fraction"),
        (lambda: data.load_arrays("digits", test_fraction=1.0), "test_fraction"),
        (lambda: data.load_arrays("digits", seed=-1), "seed"),
        (lambda: data.load_arrays("digits", seed=1.5), "seed"),
        (lambda: data.load_arrays("digits", image_size=0), "image_size"),
        (lambda: data.load_arrays("digits", image_size=2.5), "image_size"),
        (lambda: data.load_arrays("digits", max_train=0), "max_train"),
        (lambda: data.load_arrays("digits", max_test=-1), "max_test"),
        (lambda: data.load_arrays("digits", download_timeout=0.0), "download_timeout"),
        (lambda: data.load_arrays("synthetic", separation=NAN), "separation"),
        (lambda: data.load_arrays("synthetic", separation=INF), "separation"),
        (lambda: data.load_arrays("synthetic", num_examples=1), "num_examples"),
        (lambda: data.load_arrays("synthetic", num_classes=1), "num_classes"),
    ],
    "load_dataset": [
        (lambda: data.load_dataset("digits", batch_size=0), "batch_size"),
        (lambda: data.load_dataset("digits", batch_size=NAN), "batch_size"),
        (lambda: data.load_dataset("digits", batch_size=32.0), "batch_size"),
        (lambda: data.load_dataset("nope"), "Unknown dataset"),
        (lambda: data.load_dataset("digits", test_fraction=-0.1), "test_fraction"),
    ],
    "is_cached": [
        (lambda: data.is_cached("imagenet"), "Unknown dataset"),
    ],
    "keras_cache_dir": [
        (lambda: data.keras_cache_dir(3), "cache_dir"),
    ],
    "set_data_epoch": [
        (lambda: data.set_data_epoch(_PLAIN, 0), "data-epoch counter"),
        (lambda: data.set_data_epoch(_train(), 1.5), "epoch"),
        (lambda: data.set_data_epoch(_train(), NAN), "epoch"),
        (lambda: data.set_data_epoch(_train().map(lambda x, y: (x, y)), 0), "data-epoch counter"),
    ],
    "get_data_epoch": [
        (lambda: data.get_data_epoch(_PLAIN), "data-epoch counter"),
        (lambda: data.get_data_epoch(data.load_dataset("digits", shuffle=False).train), "data-epoch counter"),
    ],
    "pinned_data_epoch": [
        (lambda: data.pinned_data_epoch((_train(),), 0.5).__enter__(), "epoch"),
    ],
    "SyncDataEpoch": [
        (lambda: data.SyncDataEpoch(_PLAIN), "data-epoch counter"),
        (lambda: data.SyncDataEpoch(np.zeros(3)), "data-epoch counter"),
    ],
}

# has_data_epoch is a predicate that answers False for anything that is not a shuffled training pipeline.
RESULT_TYPES = {"ArrayDataset", "DatasetInfo", "DatasetUnavailableError", "LoadedDataset", "has_data_epoch"}


def test_every_public_name_has_bad_input_cases():
    assert_every_name_covered(data, CASES, RESULT_TYPES)


@pytest.mark.parametrize("name, call, match", flatten_cases(CASES))
def test_bad_input_gives_a_clear_value_error(name, call, match):
    assert_clear_value_error(call, match)


def test_has_data_epoch_answers_false_for_anything_else():
    assert data.has_data_epoch(_train())
    for other in (_PLAIN, None, 3, np.zeros(2), data.load_dataset("digits", shuffle=False).train):
        assert not data.has_data_epoch(other)
