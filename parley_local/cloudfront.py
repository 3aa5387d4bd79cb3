"""The template's CloudFront distribution, locally: its behaviors send each path to the HTTP API or to the page's
bucket, whose objects are the page's source directory as parley_local/page.py publishes it (content-hashed names,
each object's Content-Type and Cache-Control), with the behavior's response headers policy added.

A request for the HTTP API reaches it as CloudFront's would: from an edge's address (``EDGE_ADDRESS``, the
event's sourceIp, shared by every viewer), with the viewer headers the behavior's policies forward (when the
template declares them), ``CloudFront-Viewer-Address`` (the viewer's "ip:port") when its origin request policy
adds it, and the origin's custom headers, whose ``{{resolve:secretsmanager:...}}`` values are the local values of
the secrets they name (``secrets``).

The bucket is private and read through origin access control without s3:ListBucket, so a missing key is S3's
403 AccessDenied, as on AWS. The directory is published again whenever one of its files changes, so an edited
module shows on the next reload (under a new name, as after `make publish`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import unquote

from aiohttp import web
from multidict import CIMultiDict

from . import page
from .template import VIEWER_ADDRESS, CacheBehavior, PageSpec, resolve_secret_references

log = logging.getLogger("parley_local")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# where CloudFront's requests to the HTTP API come from, as API Gateway sees them (its sourceIp): one address for
# every viewer, as an edge location's is for all of its viewers (TEST-NET-2: no viewer has it)
EDGE_ADDRESS = "198.51.100.1"

_ACCESS_DENIED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
)


class Distribution:
    """Serves what the template's distribution serves; ``rewrite`` points the stack's URLs in the behaviors'
    headers (the CSP's connect-src names the WebSocket API) at the local gateway."""

    def __init__(
        self, spec: PageSpec, api: Handler, rewrite: Callable[[str], str], secrets: dict[str, str] | None = None
    ) -> None:
        self.spec = spec
        self.api = api
        self._origin_headers = {
            id(b): {k: resolve_secret_references(v, secrets or {}) for k, v in b.origin_headers.items()}
            for b in [*spec.behaviors, spec.default]
        }
        self._headers = {id(b): {k: rewrite(v) for k, v in b.headers.items()} for b in [*spec.behaviors, spec.default]}
        self._signature: tuple | None = None
        self._files: dict[str, page.PageFile] = {}

    def files(self) -> dict[str, page.PageFile]:
        """The bucket's objects: the source directory published, again whenever a file of it changed."""
        source = self.spec.source
        if source is None:
            return {}
        paths = sorted(p for p in Path(source).rglob("*") if p.is_file())
        signature = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in paths)
        if signature != self._signature:
            self._files = page.build(source)
            self._signature = signature
        return self._files

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.rel_url.raw_path
        behavior = self.spec.behavior_for(path)
        if not behavior.to_bucket:
            return await self.api(self._origin_request(request, behavior))
        return self._from_bucket(request, behavior, path)

    def _origin_request(self, request: web.Request, behavior: CacheBehavior) -> web.Request:  # an _OriginRequest
        """The request as CloudFront sends it to the HTTP API: from the edge's address, with the headers the
        behavior forwards, the viewer's address and the origin's custom headers (which replace a viewer's)."""
        own = {VIEWER_ADDRESS, *(name.lower() for name in self._origin_headers[id(behavior)])}
        headers: CIMultiDict[str] = CIMultiDict()
        for name, value in request.headers.items():
            lname = name.lower()
            if lname in own:
                continue
            # Host stays: it names this gateway, the HTTP API's local domain, as CloudFront names API Gateway's
            if lname == "host" or behavior.forwarded_headers is None or lname in behavior.forwarded_headers:
                headers.add(name, value)
        if behavior.viewer_address:
            headers["CloudFront-Viewer-Address"] = _viewer_address(request)
        headers.update(self._origin_headers[id(behavior)])
        return _OriginRequest(request, headers, EDGE_ADDRESS)  # type: ignore[return-value]

    def _from_bucket(self, request: web.Request, behavior: CacheBehavior, path: str) -> web.StreamResponse:
        headers = dict(self._headers[id(behavior)])
        if request.method not in behavior.allowed_methods:
            return web.Response(status=403, text="This distribution is not configured to allow the HTTP request "
                                "method that was used for this request.", headers=headers)
        key = self.spec.default_root_object if path == "/" and self.spec.default_root_object else unquote(path[1:])
        try:
            found = self.files().get(key)
        except page.PageError as exc:  # a broken page: say why, as a failed publish would
            log.error("the page cannot be published: %s", exc)
            return web.Response(status=500, text=str(exc))
        if found is None:
            return web.Response(status=403, body=_ACCESS_DENIED, content_type="application/xml", headers=headers)
        headers.update({"Cache-Control": found.cache_control, "ETag": found.etag})
        if request.headers.get("If-None-Match") == found.etag:
            return web.Response(status=304, headers=headers)
        headers["Content-Type"] = found.content_type
        return web.Response(status=200, body=found.body, headers=headers)


def _viewer_address(request: web.Request) -> str:
    """CloudFront-Viewer-Address: the viewer's IP and source port, "ip:port" (an IPv6 address unbracketed)."""
    peer = request.transport.get_extra_info("peername") if request.transport is not None else None
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return f"{request.remote or '127.0.0.1'}:0"


class _OriginRequest:
    """The viewer's request with the origin request's headers and peer address (``web.Request.clone`` refuses a
    request whose body was read, and the gateway reads bodies first, under a deadline); the rest is the viewer's."""

    def __init__(self, request: web.Request, headers: CIMultiDict[str], remote: str) -> None:
        self._request = request
        self.headers = headers
        self.remote = remote

    def __getattr__(self, name: str):
        return getattr(self._request, name)
