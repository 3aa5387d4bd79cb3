"""pyproject.toml is the one list of dependencies; the requirements.txt files `sam build` reads must agree.

- shared/requirements.txt (the layer) = pyproject's ``dependencies`` minus what the Lambda runtime provides;
- each function's CodeUri/requirements.txt = the extra that function owns (AuthFunction: ``http``), or nothing;
- and the code imports nothing its artifact does not ship.
"""

from __future__ import annotations

import ast
import importlib.metadata
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support import ROOT, load_template

PROVIDED_BY_LAMBDA = {"boto3", "botocore"}  # in every Lambda Python runtime; the layer does not ship them
LOCAL_ONLY = {"mongomock"}  # imported only for a mongomock:// URI (local runs and tests: the [local] extra)
FUNCTION_EXTRAS = {"AuthFunction": "http"}  # a function's own packages, on top of the layer


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _requirements(lines: list[str]) -> dict[str, str]:
    """name -> the specifier set (normalized), from requirement strings or a requirements file's lines."""
    parsed = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            parsed[canonicalize_name(req.name)] = str(req.specifier)
    return parsed


def _file(path: Path) -> dict[str, str]:
    assert path.is_file(), f"{path.relative_to(ROOT)} is missing (sam build reads it)"
    return _requirements(path.read_text().splitlines())


def _layer() -> dict[str, str]:
    return {k: v for k, v in _requirements(_project()["dependencies"]).items() if k not in PROVIDED_BY_LAMBDA}


def _functions() -> dict[str, dict]:
    resources = load_template()["Resources"]
    return {k: v["Properties"] for k, v in resources.items() if v["Type"] == "AWS::Serverless::Function"}


def test_the_layer_requirements_are_pyprojects_dependencies():
    assert _file(ROOT / "shared" / "requirements.txt") == _layer(), (
        "shared/requirements.txt must list pyproject.toml's [project] dependencies (without boto3) with the "
        "same version ranges"
    )


@pytest.mark.parametrize("logical_id", sorted(_functions()))
def test_each_function_requirements_are_the_extra_it_owns(logical_id):
    code_uri = _functions()[logical_id]["CodeUri"]
    extra = FUNCTION_EXTRAS.get(logical_id)
    expected = _requirements(_project()["optional-dependencies"][extra]) if extra else {}
    assert _file(ROOT / code_uri / "requirements.txt") == expected, (
        f"{code_uri}requirements.txt must list "
        + (f"pyproject.toml's [project.optional-dependencies] {extra}" if extra else "nothing (the layer has it all)")
    )


def test_functions_that_own_an_extra_have_a_code_directory_of_their_own():
    functions = _functions()
    for owner in FUNCTION_EXTRAS:
        sharing = [k for k, p in functions.items() if p["CodeUri"] == functions[owner]["CodeUri"] and k != owner]
        assert sharing == [], f"{sharing} would ship {owner}'s packages"


def test_the_authorizer_ships_no_fastapi():
    authorizer = _functions()["AuthorizerFunction"]
    assert authorizer["CodeUri"] != _functions()["AuthFunction"]["CodeUri"]
    assert _file(ROOT / authorizer["CodeUri"] / "requirements.txt") == {}


def _third_party_imports(paths) -> set[str]:
    names = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n != "parley"}


def _distributions(modules: set[str]) -> set[str]:
    owners = importlib.metadata.packages_distributions()
    missing = {m for m in modules if m not in owners}
    assert not missing, f"imported but not installed: {sorted(missing)}"
    return {canonicalize_name(owners[m][0]) for m in modules}


def test_local_only_imports_are_in_the_local_extra():
    assert {canonicalize_name(m) for m in LOCAL_ONLY} <= set(_requirements(_project()["optional-dependencies"]["local"]))


def test_the_layer_ships_every_package_shared_imports():
    used = _distributions(_third_party_imports((ROOT / "shared" / "parley").rglob("*.py")) - LOCAL_ONLY)
    assert used - PROVIDED_BY_LAMBDA <= set(_layer()), sorted(used - PROVIDED_BY_LAMBDA - set(_layer()))


@pytest.mark.parametrize("logical_id", sorted(_functions()))
def test_each_function_imports_only_what_its_artifact_ships(logical_id):
    props = _functions()[logical_id]
    code = ROOT / props["CodeUri"]
    local_modules = {p.stem for p in code.glob("*.py")}
    used = _distributions(_third_party_imports(code.rglob("*.py")) - local_modules)
    shipped = set(_layer()) | set(_file(code / "requirements.txt")) | PROVIDED_BY_LAMBDA
    assert used <= shipped, sorted(used - shipped)
