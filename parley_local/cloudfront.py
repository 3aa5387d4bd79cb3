"""The template's CloudFront distribution, locally: its behaviors send each path to the HTTP API or to the page's
bucket, whose objects are the page's source directory as parley_local/page.py publishes it (content-hashed names,
each object's Content-Type and Cache-Control), with the behavior's response headers policy added.

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

from . import page
from .template import CacheBehavior, PageSpec

log = logging.getLogger("parley_local")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_ACCESS_DENIED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
)


class Distribution:
    """Serves what the template's distribution serves; ``rewrite`` points the stack's URLs in the behaviors'
    headers (the CSP's connect-src names the WebSocket API) at the local gateway."""

    def __init__(self, spec: PageSpec, api: Handler, rewrite: Callable[[str], str]) -> None:
        self.spec = spec
        self.api = api
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
            return await self.api(request)
        return self._from_bucket(request, behavior, path)

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
