"""`make lock`: pin what `sam build` installs, so two builds of one commit ship the same code.

pyproject.toml keeps version *ranges* (for development); this resolves them with pip for the Lambda target
(CPython 3.12 on manylinux, x86_64 and aarch64) and writes the whole closure, transitive dependencies included,
as exact pins (``name==version``, one a line):

- shared/requirements.txt: the shared layer, pyproject's ``dependencies`` without boto3 (the runtime's);
- layers/tracing/requirements.txt: the tracing layer, the ``tracing`` extra (aws-xray-sdk) without botocore and
  what only botocore needs (the Lambda runtime ships them; a layer copy would shadow the runtime's boto3 pair);
- functions/auth/requirements.txt: AuthFunction's own packages, the ``http`` extra, resolved together with the
  layer's pins so a package both ship (typing-extensions) has one version.

Each set is resolved once per architecture; the pins must agree (the layer is built per architecture from one
file), else this fails and says which package differs. Nothing is installed: ``pip install --dry-run --report``.
Run with the dev environment's python: ``python tools/lock.py`` (`make lock`). tests/test_dependencies.py checks
the files against pyproject.toml.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PYTHON = "3.12"  # the functions' Runtime (template.yaml: python3.12)
# Lambda's python3.12 runs on Amazon Linux 2023 (glibc 2.34): the manylinux tags sam build accepts for it.
PLATFORMS = {arch: [f"manylinux_2_{v}_{arch}" for v in (34, 28, 17)] + [f"manylinux2014_{arch}"]
             for arch in ("x86_64", "aarch64")}
PROVIDED_BY_LAMBDA = {"boto3", "botocore"}  # in every Lambda Python runtime


def _marker_env(arch: str, extras: set[str]) -> list[dict]:
    base = {"python_version": PYTHON, "python_full_version": PYTHON + ".0", "implementation_name": "cpython",
            "platform_python_implementation": "CPython", "sys_platform": "linux", "os_name": "posix",
            "platform_system": "Linux", "platform_machine": arch}
    return [{**base, "extra": e} for e in ({""} | extras)]


def resolve(requirements: list[str], arch: str, constraints: list[str] = ()) -> dict[str, dict]:
    """name -> {"version", "requires"} for the closure of ``requirements`` as pip resolves it for ``arch``."""
    with tempfile.TemporaryDirectory() as tmp:
        req = Path(tmp, "in.txt")
        req.write_text("\n".join(requirements) + "\n")
        con = Path(tmp, "constraints.txt")
        con.write_text("\n".join(constraints) + "\n")
        report = Path(tmp, "report.json")
        cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--dry-run", "--ignore-installed",
               "--report", str(report), "--target", str(Path(tmp, "t")), "--only-binary=:all:",
               "--implementation", "cp", "--python-version", PYTHON, "-r", str(req), "-c", str(con)]
        for platform in PLATFORMS[arch]:
            cmd += ["--platform", platform]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"pip could not resolve {requirements} for {arch}:\n{done.stderr[-3000:]}")
        installs = json.loads(report.read_text())["install"]
    return {canonicalize_name(i["metadata"]["name"]): {"version": i["metadata"]["version"],
                                                      "requires": i["metadata"].get("requires_dist") or []}
            for i in installs}


def reachable(roots: list[str], closure: dict[str, dict], arch: str, skip: set[str]) -> set[str]:
    """The packages of ``closure`` that ``roots`` need without passing through ``skip`` (markers evaluated for
    the Lambda target, with the extras the roots ask for)."""
    todo = [Requirement(r) for r in roots]
    found: set[str] = set()
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in skip or name in found:
            continue
        found.add(name)
        for line in closure[name]["requires"]:
            sub = Requirement(line)
            if sub.marker is None or any(sub.marker.evaluate(env) for env in _marker_env(arch, set(req.extras))):
                todo.append(sub)
    return found


def lock(requirements: list[str], skip: set[str] = frozenset(), constraints: list[str] = ()) -> dict[str, str]:
    """name -> version, the same for both architectures (else exit with the difference)."""
    pins = {}
    for arch in PLATFORMS:
        closure = resolve(requirements, arch, constraints)
        keep = reachable(requirements, closure, arch, skip)
        pins[arch] = {name: closure[name]["version"] for name in sorted(keep)}
    if pins["x86_64"] != pins["aarch64"]:
        diff = set(pins["x86_64"].items()) ^ set(pins["aarch64"].items())
        sys.exit(f"x86_64 and aarch64 resolve differently: {sorted(diff)}")
    return pins["x86_64"]


def write(path: Path, what: str, pins: dict[str, str]) -> None:
    header = (f"# {what}\n"
              "# The whole closure, pinned: generated by `make lock` (tools/lock.py) from pyproject.toml's ranges,\n"
              f"# resolved for CPython {PYTHON} on manylinux x86_64 and aarch64. Do not edit by hand.\n")
    path.write_text(header + "".join(f"{name}=={version}\n" for name, version in pins.items()))
    print(f"{path.relative_to(ROOT)}: {len(pins)} pins")


def main() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    layer_reqs = [r for r in project["dependencies"] if canonicalize_name(Requirement(r).name) not in PROVIDED_BY_LAMBDA]
    layer = lock(layer_reqs)
    leaked = PROVIDED_BY_LAMBDA & set(layer)
    if leaked:
        sys.exit(f"the shared layer would ship {sorted(leaked)}, which shadow the Lambda runtime's")
    write(ROOT / "shared" / "requirements.txt",
          "The shared layer (sam build installs it into python/ next to the parley package): pyproject's "
          "`dependencies`\n# without boto3, which the Lambda runtime provides.", layer)
    tracing = lock(project["optional-dependencies"]["tracing"], skip=PROVIDED_BY_LAMBDA)
    write(ROOT / "layers" / "tracing" / "requirements.txt",
          "The tracing layer (functions get it only when TracingMode is Active): pyproject's `tracing` extra\n"
          "# without botocore and what only botocore needs (the Lambda runtime's).", tracing)
    http = lock(project["optional-dependencies"]["http"], constraints=[f"{n}=={v}" for n, v in layer.items()])
    write(ROOT / "functions" / "auth" / "requirements.txt",
          "AuthFunction's own packages (the layer brings the rest): pyproject's `http` extra; a package the layer\n"
          "# ships too has the layer's version.", http)


if __name__ == "__main__":
    main()
