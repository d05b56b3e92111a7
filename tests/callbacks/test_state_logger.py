"""OptimizerStateLogger: CSV history and TensorBoard events match RecordingOptimizer.summary()."""

import csv
import glob
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfescape.callbacks import OptimizerStateLogger
from tfescape.callbacks.state_logger import CSV_COLUMNS
from tfescape.optimizers import RecordingOptimizer


def _setup(record_every=2, optimizer=None):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = rng.integers(0, 2, 64)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(5, activation="relu"), keras.layers.Dense(2)]
    )
    optimizer = optimizer or RecordingOptimizer(keras.optimizers.Adam(0.01), record_every=record_every)
    model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model, x, y


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_csv_and_tensorboard_follow_the_summaries(tmp_path):
    model, x, y = _setup(record_every=2)
    logger = OptimizerStateLogger(str(tmp_path), every_n_steps=2)
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[logger])
    # 8 steps; logged at iterations 2, 4, 6, 8, where the latest recorded steps are 1, 3, 5, 7.
    assert [s.step for s in logger.history] == [1, 3, 5, 7]
    rows = _rows(tmp_path / "optimizer_state.csv")
    assert tuple(rows[0]) == CSV_COLUMNS
    per_step = 1 + len(model.trainable_variables)
    assert len(rows) == 1 + 4 * per_step
    last = logger.history[-1]
    header = rows[0]
    global_row = dict(zip(header, rows[1 + 3 * per_step], strict=True))
    assert global_row["variable"] == "global" and int(global_row["step"]) == 7
    assert float(global_row["preconditioner_anisotropy"]) == last.global_stats.preconditioner_anisotropy
    assert float(global_row["effective_lr_median"]) == last.global_stats.effective_lr_median
    names = [r[header.index("variable")] for r in rows[2 : 1 + per_step]]
    assert names == [v.path for v in model.trainable_variables]

    tags = {}
    for path in glob.glob(os.path.join(tmp_path, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                tags.setdefault(value.tag, {})[event.step] = tf.make_ndarray(value.tensor)
    assert sorted(tags["optimizer/global/preconditioner_anisotropy"]) == [1, 3, 5, 7]
    assert float(tags["optimizer/global/gradient_norm"][7]) == pytest.approx(
        last.global_stats.gradient_norm, rel=1e-6
    )
    kernel = model.trainable_variables[0].path
    histogram = tags[f"optimizer/{kernel}/preconditioner"][7]
    assert histogram.shape[1] == 3 and histogram[:, 2].sum() == np.prod(model.trainable_variables[0].shape)


def test_resumed_run_appends_without_a_second_header(tmp_path):
    model, x, y = _setup(record_every=1)
    for _ in range(2):
        logger = OptimizerStateLogger(str(tmp_path), every_n_steps=4, histograms=False)
        model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0, callbacks=[logger])
    rows = _rows(tmp_path / "optimizer_state.csv")
    assert sum(r[0] == "step" for r in rows) == 1
    assert sorted({int(r[0]) for r in rows[1:]}) == [4, 8]


def test_requires_a_recording_optimizer(tmp_path):
    model, x, y = _setup(optimizer=keras.optimizers.Adam())
    with pytest.raises(ValueError, match="RecordingOptimizer"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[OptimizerStateLogger(str(tmp_path))])
    with pytest.raises(ValueError, match="every_n_steps"):
        OptimizerStateLogger(str(tmp_path), every_n_steps=0)
