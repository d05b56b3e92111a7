"""Shared helpers of the bad-input test modules (one per package).

Each module lists, per public name of its package's ``__all__``, calls with bad input (NaN, inf, empty,
constant, wrong dtype or shape, out of range) and the text the ValueError must contain (the parameter
name, or what is wrong). ``assert_every_name_covered`` fails when a public name has no case and is not
a plain result type, so a new public function cannot ship without its bad-input cases.
"""

from __future__ import annotations

import inspect

import pytest

NAN, INF = float("nan"), float("inf")


def flatten_cases(cases: dict) -> list:
    """pytest parameters (name, call, match) with readable ids from {name: [(call, match), ...]}."""
    params = []
    for name, entries in cases.items():
        for i, (call, match) in enumerate(entries):
            params.append(pytest.param(name, call, match, id=f"{name}-{i}-{match}"))
    return params


def assert_every_name_covered(module, cases: dict, result_types: set[str]) -> None:
    """Every public name of ``module.__all__`` has bad-input cases or is declared a result type."""
    public = set(module.__all__)
    missing = sorted(
        n for n in public - set(cases) - result_types if not inspect.ismodule(getattr(module, n))
    )
    assert not missing, f"public names without bad-input cases: {missing}"
    assert set(cases) <= public, f"cases for names that are not public: {sorted(set(cases) - public)}"
    for name in result_types:
        assert name in public, f"{name} is declared a result type but is not public"


def assert_clear_value_error(call, match: str) -> None:
    """``call()`` raises a ValueError whose message contains ``match`` (case-insensitive)."""
    with pytest.raises(ValueError) as err:
        call()
    message = str(err.value)
    assert match.lower() in message.lower(), f"message does not mention {match!r}: {message}"
    assert len(message) > 20, f"message too terse to act on: {message!r}"
