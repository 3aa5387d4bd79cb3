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


# ---------------------------------------------------------------- CORS (finding 7)
def test_the_http_api_cors_follows_allowed_origins_and_parleys_cors_settings(template):
    from parley import origins

    condition, cors, otherwise = template["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"]["Fn::If"]
    assert (condition, otherwise) == ("HasAllowedOrigins", {"Ref": "AWS::NoValue"})  # whole: see the template
    assert cors["AllowOrigins"] == {"Fn::Split": [",", {"Ref": "AllowedOrigins"}]}
    assert template["Conditions"]["HasAllowedOrigins"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AllowedOrigins"}, ""]}]}
    assert tuple(cors["AllowMethods"]) == origins.CORS_METHODS
    assert tuple(cors["AllowHeaders"]) == origins.CORS_HEADERS
    assert tuple(cors["ExposeHeaders"]) == origins.CORS_EXPOSE_HEADERS
    assert cors["MaxAge"] == origins.CORS_MAX_AGE and cors["AllowCredentials"] is False  # tokens, not cookies


def test_fastapi_and_the_authorizer_read_the_same_allowed_origins_and_only_the_authorizer_knows_the_page(template):
    """The page's WebSocket is cross-origin (another API's host), its HTTP calls same-origin: only the authorizer
    needs the HTTP API's origin, and AuthFunction must not name the HTTP API that integrates it (a cycle)."""
    functions = _functions(template)
    auth = functions["AuthFunction"]["Environment"]["Variables"]["ALLOWED_ORIGINS"]
    authorizer = functions["AuthorizerFunction"]["Environment"]["Variables"]["ALLOWED_ORIGINS"]
    assert auth == authorizer == {"Ref": "AllowedOrigins"}
    page = functions["AuthorizerFunction"]["Environment"]["Variables"]["PAGE_ORIGIN"]
    assert page == {"Fn::Sub": "https://${HttpApi}.execute-api.${AWS::Region}.amazonaws.com"}
    assert "PAGE_ORIGIN" not in functions["AuthFunction"]["Environment"]["Variables"]


def test_allowed_origins_must_be_exact_origins(template):
    pattern = re.compile(template["Parameters"]["AllowedOrigins"]["AllowedPattern"])
    for good in ("", "*", "https://chat.example.com", "https://a.example.com,http://localhost:5173"):
        assert pattern.fullmatch(good), good
    for bad in ("https://a.example.com, https://b.example.com", "https://a.example.com/", "a.example.com", "https://a/b"):
        assert not pattern.fullmatch(bad), bad


def test_the_local_gateway_reads_the_cors_configuration_as_deployed():
    from parley_local.template import read_stack

    path = ROOT / "template.yaml"
    overrides = {"MongoDbUri": "x", "AllowedOrigins": "https://a.example.com,https://b.example.com"}
    cors = read_stack(path, overrides).http_cors["HttpApi"]
    assert cors.allow_origins == ("https://a.example.com", "https://b.example.com")
    assert cors.allows("https://b.example.com") and not cors.allows("https://c.example.com")
    assert "HttpApi" not in read_stack(path, {"MongoDbUri": "x"}).http_cors  # none by default: FastAPI answers
