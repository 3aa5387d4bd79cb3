"""docs/architecture.md's one-hop table from template.yaml to the code stays true: it names every function and
WebSocket route of the template, and the handler it gives each function is the one the template's CodeUri and
Handler load."""

from __future__ import annotations

import re

from tests.support import ROOT, function_path

HEADER = "| in template.yaml | handler (`CodeUri` + `Handler`) | what it calls |"


def _rows() -> list[list[str]]:
    doc = (ROOT / "docs" / "architecture.md").read_text()
    assert HEADER in doc, "the one-hop table's header changed: update this test with it"
    rows = []
    for line in doc[doc.index(HEADER):].splitlines()[2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def test_every_function_and_websocket_route_of_the_template_has_a_row(template):
    named = " ".join(row[0] for row in _rows())
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            assert f"`{logical_id}`" in named, f"{logical_id} has no row"
        if resource["Type"] == "AWS::ApiGatewayV2::Route":
            route = resource["Properties"]["RouteKey"]
            assert f"`{route}`" in named, f"the route {route} has no row"


def test_each_functions_row_names_the_handler_the_template_loads(template):
    checked = 0
    for row in _rows():
        first = re.match(r"`([^`]+)`", row[0])
        resource = template["Resources"].get(first.group(1), {}) if first else {}
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        logical_id = first.group(1)
        handler = function_path(template, logical_id).relative_to(ROOT).as_posix()
        assert f"`{handler}`" in row[1], f"{logical_id}: its handler is {handler}, the row says {row[1]}"
        checked += 1
    assert checked >= 6
