"""`make build` for each Architecture: the built shared layer is what the lock file pins, built for that machine.

Runs the real `sam build` (make build ARCH=... BUILD_DIR=<tmp>) once per architecture, so it needs the SAM CLI
environment (make builds it) and a CPython 3.12 (the layers' BuildMethod); it takes about 20 s per
architecture, and is part of `make test` (marker ``build``; deselect with ``-m "not build"``). Checked:

- every binary in the shared layer (``*.so``, and the libraries auditwheel vendors) is a 64-bit little-endian
  ELF for the architecture's machine (e_machine 0x3E x86_64, 0xB7 aarch64), and every extension module is named
  for CPython 3.12 on that machine (``.cpython-312-<machine>-linux-gnu.so``) or the stable ABI (``.abi3.so``);
- every wheel the layer installed says the same in its WHEEL tags (cp312 or abi3 up to cp312, manylinux for the
  machine), and no other;
- the layer holds exactly the distributions shared/requirements.txt pins, at those versions, and no botocore;
- the tracing layer holds exactly its pins, pure Python (no binary at all);
- and the checks fail for the other architecture's build (the x86_64 layer is not an arm64 layer).
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from tests.support import ROOT
from tests.test_dependencies import pins

pytestmark = pytest.mark.build

MACHINES = {"x86_64": (0x3E, "x86_64"), "arm64": (0xB7, "aarch64")}  # Architecture -> (e_machine, tag name)
PYENV_312 = sorted(Path(os.popen("pyenv root 2>/dev/null").read().strip() or "/nonexistent").glob("versions/3.12.*/bin"))


def _have_python312() -> bool:
    return bool(PYENV_312) or shutil.which("python3.12") is not None


@pytest.fixture(scope="module", params=sorted(MACHINES))
def build(request, tmp_path_factory) -> tuple[str, Path]:
    """(Architecture, the build directory) after `make build ARCH=<arch>`."""
    if not _have_python312():
        pytest.skip("sam build needs CPython 3.12 (python3.12 on PATH or a pyenv 3.12.*)")
    arch = request.param
    out = tmp_path_factory.mktemp(f"build-{arch}")
    done = subprocess.run(["make", "--no-print-directory", "build", f"ARCH={arch}", f"BUILD_DIR={out}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return arch, out


def elf_machine(path: Path) -> int | None:
    """e_machine of a 64-bit little-endian ELF file, or None when the file is not one."""
    with path.open("rb") as f:
        header = f.read(20)
    if len(header) < 20 or header[:4] != b"\x7fELF" or header[4] != 2 or header[5] != 1:
        return None
    return struct.unpack_from("<H", header, 18)[0]


def _binaries(layer: Path) -> list[Path]:
    return [p for p in layer.rglob("*") if p.is_file() and re.search(r"\.so(\.|$)", p.name)]


def binary_problems(layer: Path, arch: str) -> list[str]:
    """What in ``layer`` is not for CPython 3.12 on ``arch`` (empty when all is)."""
    machine, tag = MACHINES[arch]
    problems = []
    for path in _binaries(layer):
        name = path.relative_to(layer)
        found = elf_machine(path)
        if found != machine:
            problems.append(f"{name}: e_machine {found if found is None else hex(found)}, not {hex(machine)}")
        if path.name.endswith(".so") and ".libs" not in path.parent.name:  # an extension module
            if not (path.name.endswith(f".cpython-312-{tag}-linux-gnu.so") or path.name.endswith(".abi3.so")):
                problems.append(f"{name}: not an extension for CPython 3.12 on {tag}")
    for wheel in layer.rglob("*.dist-info/WHEEL"):
        text = wheel.read_text()
        if "Root-Is-Purelib: true" in text:
            continue
        for tag_line in re.findall(r"^Tag: (\S+)$", text, re.M):
            python, abi, platform = tag_line.split("-")
            minor = int(python.removeprefix("cp")[1:] or 0) if python.startswith("cp3") else None
            good_abi = abi == "cp312" or (abi == "abi3" and minor is not None and minor <= 12)
            if not (good_abi and platform.startswith("manylinux") and platform.endswith(f"_{tag}")):
                problems.append(f"{wheel.parent.name}: wheel tag {tag_line} is not CPython 3.12 on {tag}")
    return problems


def installed(layer: Path) -> dict[str, str]:
    """name -> version of the distributions installed in a layer's python/ directory."""
    found = {}
    for info in (layer / "python").glob("*.dist-info"):
        meta = (info / "METADATA").read_text(errors="replace")
        name = re.search(r"^Name: (.+)$", meta, re.M).group(1).strip()
        found[canonicalize_name(name)] = re.search(r"^Version: (.+)$", meta, re.M).group(1).strip()
    return found


def test_the_shared_layer_binaries_are_for_the_architecture_and_cpython_312(build):
    arch, out = build
    layer = out / "SharedLayer"
    assert len(_binaries(layer)) >= 4, "pymongo, bson, cffi and argon2 ship C extensions: the build is not there"
    assert binary_problems(layer, arch) == []


def test_the_checks_refuse_the_other_architectures_layer(build):
    arch, out = build
    other = next(a for a in MACHINES if a != arch)
    problems = binary_problems(out / "SharedLayer", other)
    assert len(problems) >= len(_binaries(out / "SharedLayer")), problems  # every binary is refused


def test_the_shared_layer_holds_exactly_the_pinned_distributions(build):
    _, out = build
    assert installed(out / "SharedLayer") == pins(ROOT / "shared" / "requirements.txt")
    assert not (out / "SharedLayer" / "python" / "botocore").exists()


def test_the_tracing_layer_is_its_pins_in_pure_python_without_botocore(build):
    _, out = build
    layer = out / "TracingLayer"
    assert installed(layer) == pins(ROOT / "layers" / "tracing" / "requirements.txt")
    assert _binaries(layer) == [], "pure-Python wheels only: one build serves both architectures"
