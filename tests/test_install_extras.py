"""`make run` installs what serving needs (pyproject's `local` extra); `make test` installs what testing needs
(the `dev` extra), in stamps of their own.

- Everything the local stack imports (parley_local, the layer, every function) is shipped by the `local` extra
  and what it requires, so a fresh `make run` works without the test tools.
- The Makefile's `run` installs `.[local]` and never `.[dev]`; `unit`, `lint` and `setup` install `.[dev]`.
"""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support import ROOT
from tests.test_dependencies import _third_party_imports

SERVED = ["parley_local", "shared/parley", "functions"]  # what `make run` (parley-local) imports
# cfn-lint is not one: `make run` starts with the deploy rehearsal, which reads its CloudFormation resource schemas.
TEST_TOOLS = {"pytest", "playwright", "schemathesis", "moto", "hypothesis", "websockets", "httpx"}


def _extra(name: str) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(r) for r in project["optional-dependencies"][name]]


def _closure(name: str) -> set[str]:
    """The distributions installing ``parley[name]`` brings: the core dependencies, the extra's (its
    ``parley[...]`` references followed), and everything those require in turn (as installed here)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    todo = [Requirement(r) for r in project["dependencies"]]
    extras, seen_extras = [name], set()
    while extras:
        extra = extras.pop()
        if extra in seen_extras:
            continue
        seen_extras.add(extra)
        for req in _extra(extra):
            if canonicalize_name(req.name) == "parley":
                extras.extend(req.extras)
            else:
                todo.append(req)
    found: set[str] = set()
    while todo:
        req = todo.pop()
        dist_name = canonicalize_name(req.name)
        if dist_name in found:
            continue
        found.add(dist_name)
        try:
            requires = importlib.metadata.distribution(dist_name).requires or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for line in requires:
            sub = Requirement(line)
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in ("", *req.extras)):
                todo.append(sub)
    return found


def test_the_local_extra_ships_everything_the_local_stack_imports():
    paths = [p for root in SERVED for p in (ROOT / root).rglob("*.py")]
    local_modules = {p.stem for p in paths} | {"parley_local"}
    owners = importlib.metadata.packages_distributions()
    imported = _third_party_imports(paths) - local_modules
    missing = {m for m in imported if m not in owners}
    assert not missing, f"imported but not installed: {sorted(missing)}"
    needed = {canonicalize_name(owners[m][0]) for m in imported}
    assert needed <= _closure("local"), (
        f"`make run` installs only the local extra, which does not bring {sorted(needed - _closure('local'))}"
    )


def test_the_local_extra_holds_no_test_tools():
    named = {canonicalize_name(r.name) for r in _extra("local")}
    assert not named & {canonicalize_name(t) for t in TEST_TOOLS}, sorted(named & TEST_TOOLS)


def _planned(target: str, tmp_path) -> str:
    """The commands `make <target>` would run on a machine with no virtual environment yet (make -n)."""
    venv = tmp_path / "venv"
    reply = subprocess.run(
        ["make", "-n", target, f"VENV={venv}", "PYTHON=python3"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert reply.returncode == 0, reply.stderr
    return reply.stdout


@pytest.fixture
def make_available():
    if shutil.which("make") is None:
        pytest.skip("make is not installed")


def test_make_run_installs_the_local_extra_only(make_available, tmp_path):
    plan = _planned("run", tmp_path)
    assert "-e '.[local]'" in plan, plan
    assert ".[dev" not in plan and "playwright" not in plan, plan
    assert "parley-local" in plan


@pytest.mark.parametrize("target", ["unit", "lint", "setup", "screenshot"])
def test_testing_targets_install_the_dev_extra(make_available, tmp_path, target):
    plan = _planned(target, tmp_path)
    assert "-e '.[dev]'" in plan, plan
