"""The HTTP API (payload format 2.0): CORS preflights, route ranking, the Lambda proxy integration."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from . import events as ev
from .answers import json_response
from .cors import CorsConfig
from .lambda_runtime import InvocationError, Invoker
from .routing import match_http_route
from .cloudformation import ACCOUNT_ID
from .template import HttpRouteSpec, LocalStack

log = logging.getLogger("parley_local")


class HttpApi:
    """Every HttpApi of the template, on one port; ``handle`` is the router's catch-all."""

    def __init__(self, stack: LocalStack, host: Invoker, *, port: int) -> None:
        self.stack = stack
        self.host = host
        self.port = port
        # a WebSocket upgrade that is not for the WebSocket API's stage finds no route (API Gateway answers 404)
        self.refuses_upgrades = stack.websocket_api is not None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.refuses_upgrades and request.headers.get("Upgrade", "").lower() == "websocket":
            return json_response(404, {"message": "Not Found"})
        raw_path = request.rel_url.raw_path
        cors = self._cors(request, unquote(raw_path))
        if cors is not None and cors.is_preflight(request):  # API Gateway answers these itself
            return cors.preflight(request)
        match = match_http_route(self.stack.http_routes, request.method, unquote(raw_path))
        if match is None:
            return json_response(404, {"message": "Not Found"})
        response = await self._integration(request, raw_path, *match)
        if cors is not None:
            cors.apply(request, response)
        return response

    def _cors(self, request: web.Request, path: str) -> CorsConfig | None:
        """The CorsConfiguration of the HTTP API the request is for (the one a preflight's method routes to)."""
        if not self.stack.http_cors:
            return None
        method = request.headers.get("Access-Control-Request-Method", "") if request.method == "OPTIONS" else ""
        match = match_http_route(self.stack.http_routes, method or request.method, path)
        if match is not None:
            return self.stack.http_cors.get(match[0].api_logical_id)
        configs = list(self.stack.http_cors.values())
        return configs[0] if len(self.stack.http_api_ids) == 1 and configs else None

    async def _integration(
        self, request: web.Request, raw_path: str, route: HttpRouteSpec, path_parameters: dict[str, str] | None
    ) -> web.StreamResponse:
        body = await request.read()
        event = ev.http_api_event(
            api_id=self.stack.http_api_ids.get(route.api_logical_id, "local"),
            account_id=ACCOUNT_ID,
            method=request.method,
            raw_path=raw_path,
            raw_query=request.rel_url.raw_query_string,
            headers=ev.with_proxy_headers(
                list(request.headers.items()), source_ip=request.remote or "127.0.0.1", port=self.port, proto="http"
            ),
            body=body,
            source_ip=request.remote or "127.0.0.1",
            route_key=route.route_key,
            path_parameters=path_parameters,
            domain_name=request.host,
        )
        request_id = event["requestContext"]["requestId"]
        try:
            result = await self.host.invoke(route.function_id, event)
        except InvocationError:
            return json_response(500, {"message": "Internal Server Error"}, {"Apigw-Requestid": request_id})
        try:
            response = http_response_from_result(result)
        except ValueError as exc:
            log.error("%s returned a response API Gateway cannot map: %s", route.function_id, exc)
            return json_response(500, {"message": "Internal Server Error"}, {"Apigw-Requestid": request_id})
        response.headers["Apigw-Requestid"] = request_id
        return response


def http_response_from_result(result: Any) -> web.Response:
    """Map a payload-2.0 Lambda result to an HTTP response, as HTTP API does.

    A dict with ``statusCode`` is a full response (headers, multiValueHeaders, cookies, body,
    isBase64Encoded); anything else is JSON with status 200.
    """
    if not isinstance(result, dict) or "statusCode" not in result:
        body = result if isinstance(result, str) else json.dumps(result)
        return web.Response(status=200, body=body.encode(), headers={"Content-Type": "application/json"})
    try:
        status = int(result["statusCode"])
    except (TypeError, ValueError):
        raise ValueError("statusCode is not a number") from None
    raw_body = result.get("body")
    if raw_body is None:
        body = b""
    elif result.get("isBase64Encoded"):
        try:
            body = base64.b64decode(str(raw_body), validate=True)
        except ValueError:
            raise ValueError("isBase64Encoded is true but body is not base64") from None
    else:
        body = str(raw_body).encode()
    response = web.Response(status=status, body=body)
    response.headers.pop("Content-Type", None)
    for name, values in (result.get("multiValueHeaders") or {}).items():
        for value in values if isinstance(values, list) else [values]:
            response.headers.add(str(name), str(value))
    for name, value in (result.get("headers") or {}).items():
        response.headers[str(name)] = str(value)
    for cookie in result.get("cookies") or []:
        response.headers.add("Set-Cookie", str(cookie))
    if "Content-Type" not in response.headers and body:
        response.headers["Content-Type"] = "application/json"
    return response
