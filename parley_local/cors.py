"""The CORS an HTTP API's ``CorsConfiguration`` gives it, as API Gateway applies it.

From the API Gateway developer guide (HTTP APIs, "Configuring CORS"): with a CORS configuration, API
Gateway answers preflight ``OPTIONS`` requests itself, even without an OPTIONS route; it adds the
configured CORS headers to the integration's responses and ignores the CORS headers the integration
returns. CORS headers are returned only when the request has an ``Origin`` header (a preflight also
needs ``Access-Control-Request-Method``). An origin not in ``AllowOrigins`` gets no CORS headers, so the
browser refuses the response. ``AllowOrigins`` entries are exact origins, ``*``, or ``https://*`` /
``http://*`` (any origin with that scheme).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class CorsConfig:
    allow_origins: tuple[str, ...] = ()
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None
    allow_credentials: bool = False

    @classmethod
    def from_template(cls, value: Any) -> CorsConfig | None:
        """A resolved ``CorsConfiguration`` (SAM: true, an origin string, or the object); None when absent."""
        if value in (None, False, ""):
            return None
        if value is True:
            return cls(allow_origins=("*",))
        if isinstance(value, str):
            return cls(allow_origins=(value,))
        if not isinstance(value, Mapping):
            raise ValueError("CorsConfiguration must be true, an origin or an object")

        def strings(key: str) -> tuple[str, ...]:
            items = value.get(key) or ()
            return tuple(str(v) for v in ([items] if isinstance(items, str) else items))

        max_age = value.get("MaxAge")
        return cls(
            allow_origins=strings("AllowOrigins"),
            allow_methods=strings("AllowMethods"),
            allow_headers=strings("AllowHeaders"),
            expose_headers=strings("ExposeHeaders"),
            max_age=None if max_age is None else int(max_age),
            allow_credentials=str(value.get("AllowCredentials", False)).lower() == "true",
        )

    def allows(self, origin: str) -> bool:
        for allowed in self.allow_origins:
            if allowed == "*" or allowed.rstrip("/") == origin:
                return True
            if allowed in ("https://*", "http://*") and origin.startswith(allowed[:-1]):
                return True
        return False

    def _allow_origin(self, origin: str) -> str:
        return "*" if "*" in self.allow_origins and not self.allow_credentials else origin

    @staticmethod
    def is_preflight(request: web.Request) -> bool:
        headers = request.headers
        return request.method == "OPTIONS" and "Origin" in headers and "Access-Control-Request-Method" in headers

    def preflight(self, request: web.Request) -> web.Response:
        response = web.Response(status=204)
        origin = request.headers["Origin"]
        if not self.allows(origin):
            return response
        headers = response.headers
        headers["Access-Control-Allow-Origin"] = self._allow_origin(origin)
        if self.allow_methods:
            headers["Access-Control-Allow-Methods"] = ",".join(self.allow_methods)
        if self.allow_headers:
            headers["Access-Control-Allow-Headers"] = ",".join(self.allow_headers)
        if self.max_age is not None:
            headers["Access-Control-Max-Age"] = str(self.max_age)
        if self.allow_credentials:
            headers["Access-Control-Allow-Credentials"] = "true"
        return response

    def apply(self, request: web.Request, response: web.StreamResponse) -> None:
        """Replace the integration's CORS headers with the configured ones (none for other origins)."""
        for name in [n for n in response.headers if n.lower().startswith("access-control-")]:
            del response.headers[name]
        origin = request.headers.get("Origin")
        if origin is None or not self.allows(origin):
            return
        response.headers["Access-Control-Allow-Origin"] = self._allow_origin(origin)
        if self.expose_headers:
            response.headers["Access-Control-Expose-Headers"] = ",".join(self.expose_headers)
        if self.allow_credentials:
            response.headers["Access-Control-Allow-Credentials"] = "true"
