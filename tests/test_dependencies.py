"""pyproject.toml is the one list of dependencies (as ranges); the requirements.txt files `sam build` reads pin
what those ranges resolved to (`make lock`, tools/lock.py), so two builds of one commit ship the same code.

- each lock file is exact pins only (every line ``name==version``), of a whole closure: whatever a pinned
  package requires (markers evaluated for Lambda's CPython 3.12 on Linux) is pinned too, but what the Lambda
  runtime provides;
- shared/requirements.txt (the shared layer) pins every one of pyproject's ``dependencies`` but boto3,
  layers/tracing/requirements.txt every one of the ``tracing`` extra, and each function's
  CodeUri/requirements.txt every one of the extra that function owns (AuthFunction: ``http``) or nothing; each
  pin satisfies pyproject's range;
- and the code imports nothing its artifact does not ship.

Which versions the pinned packages require is read from this environment's installed metadata (the dev
environment may hold other versions than the pins); tests/test_build.py checks the built layer holds exactly the
pinned distributions.
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
# ...nor what botocore requires (the tracing layer's aws-xray-sdk requires botocore: the runtime's serves it)
PROVIDED_WITH_BOTOCORE = {"jmespath", "python-dateutil", "six", "urllib3"}
LOCKS = {"shared/requirements.txt": None, "layers/tracing/requirements.txt": "tracing", "functions/auth/requirements.txt": "http"}
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


def pins(path: Path) -> dict[str, str]:
    """name -> version of a lock file; fails on any line that is not an exact ``name==version`` pin."""
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    assert path.is_file(), f"{where} is missing (sam build reads it)"
    found = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        spec = list(req.specifier)
        assert not req.extras and not req.marker and len(spec) == 1 and spec[0].operator == "==" \
            and "*" not in spec[0].version, f"{where}:{number}: {line!r} is not name==version"
        name = canonicalize_name(req.name)
        assert name not in found, f"{where}: {name} pinned twice"
        found[name] = spec[0].version
    return found


def _wanted(extra: str | None) -> list[Requirement]:
    project = _project()
    lines = project["dependencies"] if extra is None else project["optional-dependencies"][extra]
    return [r for r in map(Requirement, lines) if canonicalize_name(r.name) not in PROVIDED_BY_LAMBDA]


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_each_lock_pins_every_dependency_it_stands_for_within_pyprojects_range(lock):
    pinned = pins(ROOT / lock)
    for req in _wanted(LOCKS[lock]):
        name = canonicalize_name(req.name)
        assert name in pinned, f"{lock} does not pin {name} (pyproject: {req}): run `make lock`"
        assert req.specifier.contains(pinned[name], prereleases=True), (
            f"{lock} pins {name}=={pinned[name]}, outside pyproject's {req.specifier}: run `make lock`"
        )


LAMBDA_MARKERS = {"python_version": "3.12", "python_full_version": "3.12.0", "sys_platform": "linux",
                  "platform_system": "Linux", "os_name": "posix", "implementation_name": "cpython",
                  "platform_python_implementation": "CPython", "platform_machine": "x86_64"}


def _missing_from_closure(pinned: dict[str, str], roots: list[Requirement], provided: set[str]) -> set[str]:
    """What the pinned packages require (as installed here, with the extras the roots ask for) that is neither
    pinned nor ``provided``."""
    extras = {canonicalize_name(r.name): set(r.extras) for r in roots}
    missing = set()
    for name in pinned:
        for line in importlib.metadata.distribution(name).requires or []:
            sub = Requirement(line)
            envs = [{**LAMBDA_MARKERS, "extra": e} for e in ("", *extras.get(name, ()))]
            if sub.marker is None or any(sub.marker.evaluate(env) for env in envs):
                sub_name = canonicalize_name(sub.name)
                if sub_name not in pinned and sub_name not in provided:
                    missing.add(f"{sub_name} (for {name})")
    return missing


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_each_lock_pins_the_whole_closure(lock):
    provided = PROVIDED_BY_LAMBDA | (PROVIDED_WITH_BOTOCORE if LOCKS[lock] == "tracing" else set())
    pinned = pins(ROOT / lock)
    missing = _missing_from_closure(pinned, _wanted(LOCKS[lock]), provided)
    assert not missing, f"{lock} pins packages whose requirements it does not pin: {sorted(missing)}; run `make lock`"
    assert not PROVIDED_BY_LAMBDA & set(pinned), f"{lock} would ship a copy of the runtime's boto3/botocore"


def test_a_missing_transitive_pin_is_found():
    """The closure check can fail: the layer's pins without dnspython (pymongo requires it) are refused."""
    pinned = pins(ROOT / "shared" / "requirements.txt")
    del pinned["dnspython"]
    assert _missing_from_closure(pinned, _wanted(None), PROVIDED_BY_LAMBDA) == {"dnspython (for pymongo)"}


def test_a_range_is_not_a_pin(tmp_path):
    lock = tmp_path / "requirements.txt"
    lock.write_text("pymongo>=4.8,<5\n")
    with pytest.raises(AssertionError, match="is not name==version"):
        pins(lock)


def test_the_layers_share_one_version_of_what_both_ship():
    """AuthFunction's own packages come first on its path (/var/task before /opt/python): a package it and the
    layer both ship must be the same version, or the function would run another one than the layer's code
    was tested with."""
    layer, auth = pins(ROOT / "shared" / "requirements.txt"), pins(ROOT / "functions" / "auth" / "requirements.txt")
    assert {n: (layer[n], auth[n]) for n in set(layer) & set(auth) if layer[n] != auth[n]} == {}


@pytest.mark.parametrize("logical_id", sorted(_functions()))
def test_each_function_requirements_are_the_extra_it_owns(logical_id):
    code_uri = _functions()[logical_id]["CodeUri"]
    extra = FUNCTION_EXTRAS.get(logical_id)
    if extra:
        assert f"{code_uri}requirements.txt" in LOCKS and LOCKS[f"{code_uri}requirements.txt"] == extra
    else:
        assert _file(ROOT / code_uri / "requirements.txt") == {}, f"{code_uri}requirements.txt must list nothing"


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
    shipped = set(pins(ROOT / "shared" / "requirements.txt"))
    assert used - PROVIDED_BY_LAMBDA <= shipped, sorted(used - PROVIDED_BY_LAMBDA - shipped)


@pytest.mark.parametrize("logical_id", sorted(_functions()))
def test_each_function_imports_only_what_its_artifact_ships(logical_id):
    props = _functions()[logical_id]
    code = ROOT / props["CodeUri"]
    local_modules = {p.stem for p in code.glob("*.py")}
    used = _distributions(_third_party_imports(code.rglob("*.py")) - local_modules)
    shipped = set(pins(ROOT / "shared" / "requirements.txt")) | set(_file(code / "requirements.txt")) | PROVIDED_BY_LAMBDA
    assert used <= shipped, sorted(used - shipped)
