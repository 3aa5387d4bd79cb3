"""template.yaml packaging and CORS (issue 12, findings 6 and 7): what it claims is what `sam build` makes."""

from __future__ import annotations

import re
import subprocess

from tests.support import ROOT, load_template


def _functions(template) -> dict[str, dict]:
    return {k: v["Properties"] for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}


def test_the_layer_claims_exactly_the_runtime_it_is_built_for_and_every_function_runs_it(template):
    layer = template["Resources"]["SharedLayer"]
    build = layer["Metadata"]["BuildMethod"]
    assert layer["Properties"]["CompatibleRuntimes"] == [build], "binary wheels are built for one Python only"
    globals_ = template["Globals"]["Function"]
    assert {"Ref": "SharedLayer"} in globals_["Layers"]
    for name, props in _functions(template).items():
        assert props.get("Runtime", globals_["Runtime"]) == build, name


def test_make_build_puts_the_layers_python_on_the_path(template):
    build = template["Resources"]["SharedLayer"]["Metadata"]["BuildMethod"]
    makefile = (ROOT / "Makefile").read_text()
    pattern = re.search(r"^BUILD_PY := \$\(shell sed -n '(.+)' template\.yaml", makefile, re.M)
    assert pattern, "the Makefile reads the BuildMethod from template.yaml"
    found = subprocess.run(["sed", "-n", pattern.group(1), "template.yaml"], cwd=ROOT, capture_output=True, text=True)
    assert found.stdout.split() == [build.removeprefix("python")]  # e.g. 3.12: versions/3.12.*/bin goes first


def test_the_authorizer_has_a_code_directory_of_its_own(template):
    functions = _functions(template)
    assert functions["AuthorizerFunction"]["CodeUri"] == "functions/authorizer/"
    uris = [p["CodeUri"] for k, p in functions.items() if k != "FanoutFunction"]  # fan-out shares message's code
    assert len(uris) == len(set(uris))
