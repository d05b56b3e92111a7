"""Two worker processes on 127.0.0.1 under MultiWorkerMirroredStrategy against one process.

One cluster run (module fixture) computes every core quantity on both workers (tests/distribute/
_core_worker.py: full gradient, noise moments, the noise probe's tail indices, Hessian top eigenvalue,
trace, diagonal, density nodes, the operator's loss and gradient, and a recorded Adam fit), then keeps
computing full gradients while worker 1 exits abruptly: worker 0 must stop with a collective error.
"""

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from _core_worker import compute
from _workers import describe, run_workers

CLUSTER_TIMEOUT = 420.0  # the whole cluster, start-up included; stragglers are killed
DIE_AFTER = 2.0
DETECTION_LIMIT = 90.0  # seconds from worker 1's death to worker 0's error
RTOL = 1e-5


@pytest.fixture(scope="module")
def cluster_and_single_process(tmp_path_factory):
    """The cluster's run (output folder, worker runs) and the single-process values.

    This process computes its values while the workers run (it would otherwise wait for them idle).
    """
    out = tmp_path_factory.mktemp("multiworker")
    with ThreadPoolExecutor(max_workers=1) as background:
        workers = background.submit(
            run_workers,
            ["tests/distribute/_core_worker.py"],
            out,
            timeout=CLUSTER_TIMEOUT,
            extra_env={"TFESCAPE_TEST_DIE_AFTER": str(DIE_AFTER), "TFESCAPE_TEST_COLLECTIVE_TIMEOUT": "120"},
        )
        values, _ = compute(None)
        return (out, workers.result()), values


@pytest.fixture(scope="module")
def cluster(cluster_and_single_process):
    return cluster_and_single_process[0]


@pytest.fixture(scope="module")
def single_process(cluster_and_single_process):
    return cluster_and_single_process[1]


def _relative_error(got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-300))


def test_every_worker_finished_its_results(cluster):
    out, runs = cluster
    assert all(r.returncode is not None for r in runs), describe(runs)
    for index in range(2):
        assert (out / f"worker{index}.npz").exists(), describe(runs)


@pytest.mark.parametrize("worker", [0, 1])
def test_core_quantities_equal_single_process(cluster, single_process, worker):
    out, runs = cluster
    path = out / f"worker{worker}.npz"
    if not path.exists():
        pytest.fail(describe(runs))
    got = np.load(path)
    assert sorted(got.files) == sorted(single_process), "the workers computed other quantities"
    errors = {name: _relative_error(got[name], want) for name, want in single_process.items()}
    assert max(errors.values()) <= RTOL, {k: f"{v:.1e}" for k, v in errors.items() if v > RTOL}
    # The comparison is not vacuous: the quantities are finite and not all zero.
    for name in ("full_gradient", "alpha", "top_eigenvalue", "trace", "fit_weights"):
        assert np.all(np.isfinite(got[name])) and np.any(got[name] != 0), name
    assert int(got["num_examples"]) == 49  # every example counted once, the 1-example batch included
    assert int(got["fit_recorded_step"]) == 6  # 2 epochs x 3 batches, the last one recorded


def test_fit_moved_the_weights(single_process):
    # A recorded distributed fit is only a meaningful check if training changed the weights.
    from _core_worker import build_model

    initial = np.concatenate([np.ravel(w) for w in build_model().get_weights()])
    assert _relative_error(single_process["fit_weights"], initial) > 1e-2


def test_dead_worker_stops_the_other_with_a_collective_error(cluster):
    out, runs = cluster
    assert (out / "died.json").exists(), describe(runs)
    assert runs[1].returncode == 17, describe(runs)
    failure_path = out / "failure0.json"
    assert failure_path.exists(), "worker 0 did not report an error\n" + describe(runs)
    failure = json.loads(failure_path.read_text())
    died = json.loads((out / "died.json").read_text())["time"]
    assert failure["type"] in ("UnavailableError", "DeadlineExceededError", "CancelledError", "AbortedError")
    assert 0 <= failure["time"] - died <= DETECTION_LIMIT, failure["time"] - died
    assert runs[0].returncode == 0, describe(runs)  # it stopped by itself, not killed at the deadline


def test_only_the_chief_wrote_noise_samples(cluster):
    out, runs = cluster
    written = [json.loads((out / f"times{i}.json").read_text())["samples_path"] for i in range(2)]
    assert written[0] is not None and written[1] is None, written
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["noise_step00000000.npz"]


@pytest.mark.slow
def test_stuck_worker_makes_the_other_time_out(tmp_path):
    # Worker 1 stays alive (its heartbeats go on) but stops joining collectives: only the collective
    # timeout of multiworker_strategy(timeout_seconds=...) can stop worker 0.
    timeout = 10.0
    runs = run_workers(
        ["tests/distribute/_core_worker.py"],
        tmp_path,
        timeout=CLUSTER_TIMEOUT,
        extra_env={
            "TFESCAPE_TEST_FAULT": "hang",
            "TFESCAPE_TEST_DIE_AFTER": str(DIE_AFTER),
            "TFESCAPE_TEST_COLLECTIVE_TIMEOUT": str(timeout),
        },
    )
    failure_path = tmp_path / "failure0.json"
    assert failure_path.exists(), "worker 0 did not report an error\n" + describe(runs)
    failure = json.loads(failure_path.read_text())
    stuck = json.loads((tmp_path / "died.json").read_text())["time"]
    assert failure["type"] == "DeadlineExceededError", failure
    assert timeout - 1.0 <= failure["time"] - stuck <= timeout + 30.0, failure["time"] - stuck
