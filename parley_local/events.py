"""Build the events API Gateway sends to Lambda, field for field like the captured real ones.

See events/README.md for the real events these mirror. Nothing here knows what the handlers do.
"""

from __future__ import annotations

import base64
import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# Headers API Gateway puts on every $disconnect event (see events/powertools-websocket-disconnect.json).
_DISCONNECT_HEADER_NAMES = ("x-api-key", "X-Forwarded-For", "x-restapi")


def api_gateway_id() -> str:
    """An id shaped like API Gateway's connection/request/message ids: 16 chars of base64 ending in '='."""
    return base64.urlsafe_b64encode(os.urandom(11)).decode()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def request_time(epoch_ms: int) -> str:
    """API Gateway's requestTime format, e.g. ``09/Feb/2019:11:43:07 +0000`` (always English, UTC)."""
    t = time.gmtime(epoch_ms / 1000)
    return f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"


def multi_value(pairs: list[tuple[str, str]]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """(single-value map with the last value, multi-value map), the way API Gateway v1 payloads carry them."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for key, value in pairs:
        single[key] = value
        multi.setdefault(key, []).append(value)
    return single, multi


def trace_id(epoch_ms: int) -> str:
    return f"Root=1-{epoch_ms // 1000:08x}-{os.urandom(12).hex()}"


def _latin1_if_not_utf8(value: str) -> str:
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape").decode("latin-1")


def with_proxy_headers(
    headers: list[tuple[str, str]], *, source_ip: str, port: int, proto: str, lower: bool = False
) -> list[tuple[str, str]]:
    """Add the headers API Gateway's front end adds (X-Forwarded-*, X-Amzn-Trace-Id) unless the client sent them.

    A header value whose bytes are not UTF-8 (the server keeps them as lone surrogates) is read as ISO-8859-1, as
    HTTP/1.1 reads such octets, so an event is always text a JSON encoder and the handler can carry.
    """
    headers = [(name, _latin1_if_not_utf8(value)) for name, value in headers]
    present = {name.lower() for name, _ in headers}
    added = [
        ("X-Amzn-Trace-Id", trace_id(now_ms())),
        ("X-Forwarded-For", source_ip),
        ("X-Forwarded-Port", str(port)),
        ("X-Forwarded-Proto", proto),
    ]
    extra = [((n.lower() if lower else n), v) for n, v in added if n.lower() not in present]
    return list(headers) + extra


def query_pairs(raw_query: str) -> list[tuple[str, str]]:
    return parse_qsl(raw_query, keep_blank_values=True)


@dataclass
class WebSocketApiInfo:
    api_id: str
    stage: str
    region: str = "us-east-1"
    account_id: str = "123456789012"


@dataclass
class ConnectionInfo:
    """What API Gateway remembers about a connection and repeats in every event."""

    connection_id: str
    connected_at: int
    source_ip: str
    user_agent: str | None
    domain_name: str
    headers: list[tuple[str, str]]
    raw_query: str
    authorizer: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _request_context(
    api: WebSocketApiInfo, conn: ConnectionInfo, route_key: str, event_type: str, epoch_ms: int
) -> dict[str, Any]:
    request_id = api_gateway_id()
    identity: dict[str, str] = {"sourceIp": conn.source_ip}
    if conn.user_agent is not None:
        identity = {"userAgent": conn.user_agent, "sourceIp": conn.source_ip}
    return {
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": request_id,
        "requestTime": request_time(epoch_ms),
        "messageDirection": "IN",
        "stage": api.stage,
        "connectedAt": conn.connected_at,
        "requestTimeEpoch": epoch_ms,
        "identity": identity,
        "requestId": request_id,
        "domainName": conn.domain_name,
        "connectionId": conn.connection_id,
        "apiId": api.api_id,
    }


def authorizer_event(api: WebSocketApiInfo, conn: ConnectionInfo) -> dict[str, Any]:
    """REQUEST authorizer input on $connect (events/powertools-websocket-authorizer-request.json)."""
    epoch = now_ms()
    headers, multi_headers = multi_value(conn.headers)
    query, multi_query = multi_value(query_pairs(conn.raw_query))
    context = _request_context(api, conn, "$connect", "CONNECT", epoch)
    return {
        "type": "REQUEST",
        "methodArn": f"arn:aws:execute-api:{api.region}:{api.account_id}:{api.api_id}/{api.stage}/$connect",
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "stageVariables": {},
        "requestContext": context,
    }


def connect_event(api: WebSocketApiInfo, conn: ConnectionInfo) -> dict[str, Any]:
    """$connect (events/powertools-websocket-connect.json); the query string maps only when there was one."""
    headers, multi_headers = multi_value(conn.headers)
    event: dict[str, Any] = {"headers": headers, "multiValueHeaders": multi_headers}
    if conn.raw_query:
        query, multi_query = multi_value(query_pairs(conn.raw_query))
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = multi_query
    context = _request_context(api, conn, "$connect", "CONNECT", now_ms())
    if conn.authorizer is not None:
        context["authorizer"] = dict(conn.authorizer)
    event["requestContext"] = context
    event["isBase64Encoded"] = False
    return event


def message_event(
    api: WebSocketApiInfo, conn: ConnectionInfo, route_key: str, body: str | bytes
) -> dict[str, Any]:
    """A MESSAGE event (events/powertools-websocket-message.json); binary frames arrive base64-encoded."""
    context = _request_context(api, conn, route_key, "MESSAGE", now_ms())
    context = {"routeKey": route_key, "messageId": api_gateway_id(), **context}
    if conn.authorizer is not None:
        context["authorizer"] = dict(conn.authorizer)
    if isinstance(body, bytes):
        return {"requestContext": context, "body": base64.b64encode(body).decode(), "isBase64Encoded": True}
    return {"requestContext": context, "body": body, "isBase64Encoded": False}


def disconnect_event(api: WebSocketApiInfo, conn: ConnectionInfo, status_code: int, reason: str) -> dict[str, Any]:
    """$disconnect (events/powertools-websocket-disconnect.json): fixed headers, the close code and reason."""
    headers = {"Host": conn.domain_name, **{name: "" for name in _DISCONNECT_HEADER_NAMES}}
    context = _request_context(api, conn, "$disconnect", "DISCONNECT", now_ms())
    context = {
        "routeKey": "$disconnect",
        "disconnectStatusCode": status_code,
        **{k: v for k, v in context.items() if k != "routeKey"},
    }
    # keep API Gateway's key order: ... messageDirection, disconnectReason, stage ...
    ordered: dict[str, Any] = {}
    for key, value in context.items():
        ordered[key] = value
        if key == "messageDirection":
            ordered["disconnectReason"] = reason
    if conn.authorizer is not None:
        ordered["authorizer"] = dict(conn.authorizer)
    return {
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "requestContext": ordered,
        "isBase64Encoded": False,
    }


# ---------------------------------------------------------------------------- HTTP API (payload 2.0)

_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript", "application/x-www-form-urlencoded")


def _is_text(content_type: str) -> bool:
    content_type = content_type.lower()
    return content_type.startswith(_TEXT_TYPES) or "+json" in content_type or "+xml" in content_type


def http_api_event(
    *,
    api_id: str,
    account_id: str,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: list[tuple[str, str]],
    body: bytes,
    source_ip: str,
    route_key: str,
    path_parameters: dict[str, str] | None,
    domain_name: str,
) -> dict[str, Any]:
    """An HTTP API payload format 2.0 event, as AWS documents it.

    Header names are lower case and repeated headers are joined with commas; cookies move to
    ``cookies``; repeated query parameters are joined with commas; absent maps are left out.
    """
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        lname = name.lower()
        if lname == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        joined[lname] = f"{joined[lname]},{value}" if lname in joined else value
    epoch = now_ms()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = joined
    if raw_query:
        query: dict[str, str] = {}
        for key, value in query_pairs(raw_query):
            query[key] = f"{query[key]},{value}" if key in query else value
        event["queryStringParameters"] = query
    request_id = base64.urlsafe_b64encode(uuid.uuid4().bytes[:12]).decode()[:15] + "="
    event["requestContext"] = {
        "accountId": account_id,
        "apiId": api_id,
        "domainName": domain_name,
        "domainPrefix": domain_name.split(".", 1)[0],
        "http": {
            "method": method,
            "path": raw_path,
            "protocol": "HTTP/1.1",
            "sourceIp": source_ip,
            "userAgent": joined.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route_key,
        "stage": "$default",
        "time": request_time(epoch),
        "timeEpoch": epoch,
    }
    if path_parameters:
        event["pathParameters"] = path_parameters
    if body:
        content_type = joined.get("content-type", "")
        text = None
        if not content_type or _is_text(content_type):
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                text = None
        if text is not None:
            event["body"] = text
            event["isBase64Encoded"] = False
        else:
            event["body"] = base64.b64encode(body).decode()
            event["isBase64Encoded"] = True
    else:
        event["isBase64Encoded"] = False
    return event
