"""Each fact has one owner: no optimizer names or physics in the pipelines, notebooks use the public API."""

import ast
import json
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PIPELINES = os.path.join(ROOT, "tfescape", "experiments")
NOTEBOOKS = os.path.join(ROOT, "colab")


def _code_strings(path):
    """String constants of a module that are code values, not docstrings or messages."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings
    ]


def _modules(*paths):
    for path in paths:
        if os.path.isdir(path):
            yield from (os.path.join(path, f) for f in sorted(os.listdir(path)) if f.endswith(".py"))
        else:
            yield path


@pytest.mark.parametrize(
    "path", list(_modules(PIPELINES, os.path.join(ROOT, "tfescape", "plots.py"))), ids=os.path.basename
)
def test_no_optimizer_name_is_hard_coded_outside_the_registry(path):
    from tfescape.optimizers.specs import FAMILIES

    literals = [s for s in _code_strings(path) if s.lower() in FAMILIES]
    assert not literals, f"{os.path.relpath(path, ROOT)} names optimizers {literals}; use the registry"


@pytest.mark.parametrize("path", list(_modules(PIPELINES)), ids=os.path.basename)
def test_no_physics_formula_in_the_pipelines(path):
    code = "\n".join(
        line
        for line in open(path, encoding="utf-8").read().splitlines()
        if not line.lstrip().startswith(("#", '"', "'"))
    )
    patterns = {
        "eps = eta^((alpha-1)/alpha)": r"\*\*\s*\(\(?\s*alpha\s*-\s*1",
        "Levy constant": r"gamma\(1\s*\+\s*alpha|levy_constant",
        "escape rate": r"quadratic_escape_rate|_escape_rate\(",
        "preconditioner inverse": r"/\s*q\[|np\.linalg\.inv|V\.T\s*@",
        "Theta": r"2(\.0)?\s*/\s*alpha",
    }
    found = [name for name, pattern in patterns.items() if re.search(pattern, code)]
    assert not found, f"{os.path.relpath(path, ROOT)} computes {found}; call tfescape.sde instead"


def test_the_comparison_module_is_a_short_list_of_stages():
    with open(os.path.join(PIPELINES, "compare.py"), encoding="utf-8") as handle:
        assert len(handle.read().splitlines()) < 400


@pytest.mark.parametrize("name", sorted(f for f in os.listdir(NOTEBOOKS) if f.endswith(".ipynb")))
def test_notebooks_import_only_the_public_library_api(name):
    import importlib

    with open(os.path.join(NOTEBOOKS, name), encoding="utf-8") as handle:
        cells = json.load(handle)["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    imports = re.findall(r"^\s*from (tfescape[\w.]*) import ([\w, ()\n]+?)$", code, flags=re.M)
    imports += [(m, "") for m in re.findall(r"^\s*import (tfescape[\w.]*)", code, flags=re.M)]
    for module, names in imports:
        assert "experiments" not in module and "._" not in module and not module.endswith("cli"), module
        public = getattr(importlib.import_module(module), "__all__", None)
        for item in filter(None, (n.strip(" ()") for n in names.split(","))):
            assert not item.startswith("_"), f"{name} imports private {module}.{item}"
            if public is not None:
                assert item in public or hasattr(importlib.import_module(module), item), (module, item)
