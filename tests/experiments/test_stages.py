"""The stage framework: skip finished stages, check what each needs, typed records read back."""

from dataclasses import dataclass

import pytest

from tfescape.experiments._io import ResultsDir
from tfescape.experiments.stages import Stage, read_record, run_stages


@dataclass(frozen=True)
class Count:
    n: int
    label: str


def _pipeline(calls):
    def make(name, n):
        def run(ctx):
            calls.append(name)
            return Count(n, name)

        return run

    return [
        Stage("a", "first", make("a", 1)),
        Stage("b", "second", make("b", 2), needs=("a",)),
        Stage("c", "no record", lambda ctx: calls.append("c")),
    ]


def test_finished_stages_are_skipped_and_records_read_back(tmp_path):
    calls = []
    results = ResultsDir(tmp_path, {"x": 1})
    outcome = run_stages(_pipeline(calls), results, None)
    assert outcome.ran == ("a", "b", "c") and outcome.skipped == () and calls == ["a", "b", "c"]
    assert read_record(results, "b", Count) == Count(2, "b")
    assert read_record(ResultsDir(tmp_path, {"x": 1}), "missing", Count) is None

    again = run_stages(_pipeline(calls), ResultsDir(tmp_path, {"x": 1}), None)
    assert again.ran == () and again.skipped == ("a", "b", "c") and calls == ["a", "b", "c"]
    redo = run_stages(_pipeline(calls), ResultsDir(tmp_path, {"x": 1}, resume=False), None, only=("b",))
    assert redo.ran == ("b",) and calls[-1] == "b"


def test_a_stage_whose_inputs_never_ran_is_refused_with_both_names(tmp_path):
    with pytest.raises(ValueError, match="'b' needs the outputs of a"):
        run_stages(_pipeline([]), ResultsDir(tmp_path, {}), None, only=("b",))


def test_duplicate_names_and_non_record_results_are_errors(tmp_path):
    with pytest.raises(ValueError, match="unique"):
        run_stages([Stage("a", "", lambda c: None)] * 2, ResultsDir(tmp_path, {}), None)
    with pytest.raises(TypeError, match="dataclass record"):
        run_stages([Stage("a", "", lambda c: {"loose": 1})], ResultsDir(tmp_path, {}), None)


def test_a_second_process_cannot_write_into_a_locked_folder_and_a_stale_lock_is_taken_over(tmp_path):
    import subprocess
    import sys

    from tfescape.experiments._io import results_lock

    with results_lock(tmp_path):
        with pytest.raises(ValueError, match="in use by another run"):
            with results_lock(tmp_path):
                pass
    assert not (tmp_path / ".lock").exists()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    (tmp_path / ".lock").write_text(dead.stdout.strip())  # a run that was killed
    with results_lock(tmp_path):
        assert (tmp_path / ".lock").read_text() == str(__import__("os").getpid())


def test_reopening_a_finished_folder_writes_nothing(tmp_path):
    ResultsDir(tmp_path, {"x": 1})
    before = (tmp_path / "config.json").stat()
    assert ResultsDir(tmp_path, {"x": 1}).config == {"x": 1}
    after = (tmp_path / "config.json").stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # not rewritten


def _writing_pipeline(calls, value="1"):
    """Stage "a" writes a.csv (its content ``value``); "b" copies it to b.json, "c" writes c.npz."""
    import numpy as np

    def write_a(results):
        calls.append("a")
        (results / "a.csv").write_text(f"x\n{value}\n")

    def write_b(results):
        calls.append("b")
        x = (results / "a.csv").read_text().split()[1]
        (results / "b.json").write_text(f'{{"x": {x}}}')

    def write_c(results):
        calls.append("c")
        np.savez(results / "c.npz", x=np.arange(3))

    return [
        Stage("a", "", write_a, outputs=("a.csv",)),
        Stage("b", "", write_b, needs=("a",), outputs=("b.json",)),
        Stage("c", "", write_c, outputs=("c.npz",)),
    ]


def test_a_damaged_output_reruns_its_stage_and_only_stages_reading_a_changed_result(tmp_path, caplog):
    calls = []
    run_stages(_writing_pipeline(calls), ResultsDir(tmp_path, {}), tmp_path)
    assert set(__import__("json").loads((tmp_path / "stages" / "a.json").read_text())["outputs"]) == {"a.csv"}

    (tmp_path / "a.csv").write_text("x\n")  # truncated, recomputed to the same bytes: b stays
    (tmp_path / "c.npz").unlink()
    calls.clear()
    with caplog.at_level("WARNING"):
        outcome = run_stages(_writing_pipeline(calls), ResultsDir(tmp_path, {}), tmp_path)
    assert calls == ["a", "c"] and outcome.skipped == ("b",)
    assert f"{tmp_path / 'a.csv'} differs" in caplog.text
    assert f"{tmp_path / 'c.npz'} is missing" in caplog.text

    calls.clear()  # a recomputed with another result: b, which reads it, runs again
    (tmp_path / "a.csv").write_text("x\n0\n")
    run_stages(_writing_pipeline(calls, value="2"), ResultsDir(tmp_path, {}), tmp_path)
    assert calls == ["a", "b"] and (tmp_path / "b.json").read_text() == '{"x": 2}'


def test_a_damaged_output_of_a_stage_left_out_by_only_is_an_error_naming_the_file(tmp_path):
    run_stages(_writing_pipeline([]), ResultsDir(tmp_path, {}), tmp_path)
    (tmp_path / "a.csv").write_text("garbage")
    with pytest.raises(ValueError, match=r"a\.csv differs .* of the finished stage 'a'; rerun without"):
        run_stages(_writing_pipeline([]), ResultsDir(tmp_path, {}), tmp_path, only=("c",))


def test_an_unreadable_marker_reruns_its_stage(tmp_path):
    calls = []
    run_stages(_writing_pipeline(calls), ResultsDir(tmp_path, {}), tmp_path)
    (tmp_path / "stages" / "c.json").write_text('{"stage": "c", "outp')
    calls.clear()
    run_stages(_writing_pipeline(calls), ResultsDir(tmp_path, {}), tmp_path)
    assert calls == ["c"]


def test_each_process_that_computes_is_counted_and_named_in_the_markers(tmp_path):
    run_stages(_writing_pipeline([]), ResultsDir(tmp_path, {}), tmp_path, only=("a",))
    run_stages(_writing_pipeline([]), ResultsDir(tmp_path, {}), tmp_path)
    run_stages(_writing_pipeline([]), ResultsDir(tmp_path, {}), tmp_path)  # nothing to do: not counted
    results = ResultsDir(tmp_path, {})
    assert [p["process"] for p in results.processes()] == [1, 2]
    assert [results.stage_info(s)["process"] for s in "abc"] == [1, 2, 2]


def test_a_stage_whose_inputs_changed_in_an_earlier_process_runs_again(tmp_path):
    calls = []
    run_stages(_writing_pipeline(calls), ResultsDir(tmp_path, {}), tmp_path)
    (tmp_path / "a.csv").unlink()
    run_stages(_writing_pipeline(calls, value="3"), ResultsDir(tmp_path, {}), tmp_path, only=("a",))
    calls.clear()
    run_stages(_writing_pipeline(calls, value="3"), ResultsDir(tmp_path, {}), tmp_path)
    assert calls == ["b"] and (tmp_path / "b.json").read_text() == '{"x": 3}'


def test_a_stage_run_again_for_a_damaged_output_starts_from_a_clean_slate(tmp_path):
    """A stage that resumes from its own partial files must not reuse those of a damaged finished run."""

    def resuming(results):
        done = (results / "rows.csv").read_text().splitlines() if (results / "rows.csv").exists() else []
        (results / "rows.csv").write_text("\n".join([*done, *map(str, range(len(done), 3))]) + "\n")
        (results / "extra.txt").write_text("x")

    stages = [Stage("r", "", resuming, outputs=("rows.csv", "extra.txt"))]
    run_stages(stages, ResultsDir(tmp_path, {}), tmp_path)
    (tmp_path / "extra.txt").write_text("damaged")
    (tmp_path / "rows.csv").write_text("0\nbroken\n1\n")  # kept as done if not removed first
    run_stages(stages, ResultsDir(tmp_path, {}), tmp_path)
    assert (tmp_path / "rows.csv").read_text() == "0\n1\n2\n"
