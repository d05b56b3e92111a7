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
