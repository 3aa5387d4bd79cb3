"""Which browser origins may use Parley from another site: one rule for the WebSocket authorizer and the
HTTP API's CORS (FastAPI), both read from ``ALLOWED_ORIGINS`` (the template's ``AllowedOrigins``).

An origin is allowed when ``ALLOWED_ORIGINS`` is empty (the authorizer only: a connection with no list
configured is not refused by Origin), lists it exactly, or holds ``*``; in local mode (PARLEY_ENV=local)
any port on this machine is allowed too. The HTTP API's own page is same-origin and needs no CORS.

The ``CORS_*`` values are what template.yaml's ``HttpApi.CorsConfiguration`` declares as well
(tests/test_template_packaging.py compares them): on AWS, API Gateway answers preflights and sets the
CORS headers itself, ignoring the function's; the middleware serves every other way of running the app.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from parley.config import Settings

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
CORS_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
CORS_HEADERS = ("authorization", "content-type")
CORS_EXPOSE_HEADERS = ("retry-after",)
CORS_MAX_AGE = 600


def listed(settings: Settings, origin: str) -> bool:
    """``origin`` is in ALLOWED_ORIGINS (or it holds ``*``), or is this machine in local mode."""
    allowed = settings.allowed_origins
    if "*" in allowed or origin.rstrip("/") in allowed:
        return True
    try:  # local development: any port on this machine
        return settings.local and urlsplit(origin).hostname in LOCAL_HOSTS
    except ValueError:
        return False


def websocket_allowed(settings: Settings, origin: str) -> bool:
    """The authorizer's rule: the page's own origin (PAGE_ORIGIN) and the listed ones; with neither configured,
    no Origin is refused."""
    if settings.page_origin and origin.rstrip("/") == settings.page_origin:
        return True
    return not (settings.allowed_origins or settings.page_origin) or listed(settings, origin)
