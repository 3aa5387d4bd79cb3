"""Route selection as API Gateway does it: HTTP API route ranking and the WebSocket route selection expression."""

from __future__ import annotations

import json
import logging
from typing import Any

from .template import HttpRouteSpec, WebSocketApiSpec

log = logging.getLogger("parley_local")


def match_http_route(routes: list[HttpRouteSpec], method: str, path: str) -> tuple[HttpRouteSpec, dict[str, str] | None] | None:
    """Pick the route API Gateway would: exact paths before parameters before greedy ones; a method before ANY.

    Returns (route, pathParameters or None) or None for no match.
    """
    best: tuple[tuple[int, ...], Any, dict[str, str]] | None = None
    segments = path.strip("/").split("/") if path.strip("/") else []
    for route in routes:
        if route.method not in ("ANY", method):
            continue
        if route.path == "$default":
            rank: tuple[int, ...] = (3, 0, 0 if route.method != "ANY" else 1)
            params: dict[str, str] | None = {}
        else:
            params = _match_path(route.path, segments)
            if params is None:
                continue
            template = route.path.strip("/").split("/") if route.path.strip("/") else []
            greedy = 1 if template and template[-1].endswith("+}") else 0
            variables = sum(1 for t in template if t.startswith("{"))
            rank = (greedy, -len(template), variables, 0 if route.method != "ANY" else 1)
        if best is None or rank < best[0]:
            best = (rank, route, params)
    if best is None:
        return None
    return best[1], (best[2] or None)


def _match_path(template_path: str, segments: list[str]) -> dict[str, str] | None:
    template = template_path.strip("/").split("/") if template_path.strip("/") else []
    params: dict[str, str] = {}
    for i, part in enumerate(template):
        if part.startswith("{") and part.endswith("+}"):
            rest = segments[i:]
            if not rest or not "/".join(rest):
                return None
            params[part[1:-2]] = "/".join(rest)
            return params
        if i >= len(segments):
            return None
        if part.startswith("{") and part.endswith("}"):
            if not segments[i]:
                return None
            params[part[1:-1]] = segments[i]
        elif part != segments[i]:
            return None
    return params if len(segments) == len(template) else None


def select_websocket_route(api: WebSocketApiSpec, data: str | bytes) -> str:
    """The route key a frame goes to: the value its route selection expression reads, else ``$default``."""
    expression = api.route_selection_expression
    if not expression.startswith("$request.body.") or isinstance(data, bytes):
        return "$default"
    try:
        value: Any = json.loads(data)
    except ValueError:
        return "$default"
    except RecursionError:  # nested deeper than the parser goes: no selection expression can be read
        log.warning("a frame nested too deeply for route selection (%d bytes) goes to $default", len(data))
        return "$default"
    for part in expression[len("$request.body."):].split("."):
        if not isinstance(value, dict) or part not in value:
            return "$default"
        value = value[part]
    if isinstance(value, str) and value in api.routes and not value.startswith("$"):
        return value
    return "$default"
