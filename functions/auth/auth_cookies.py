"""The HTTP API's cookies: the browser's session cookie, the device cookie's header, and the CSRF guard of the
cookie-authenticated route (a sibling module of app.py, imported as the top-level ``auth_cookies``)."""

from fastapi import HTTPException, Request, Response

from parley import session_cookies


SESSION_COOKIE_HEADER = {
    "Set-Cookie": {
        "description": "The browser's sign-in: a session cookie (HttpOnly, SameSite=Strict, Path=/auth/session, "
        "30 days; Secure and named `__Secure-parley-session` except on plain-HTTP localhost) that "
        "`POST /auth/session` trades for a new token while its session is live. Log-in also sets a device cookie.",
        "schema": {"type": "string"},
    }
}


DEVICE_COOKIE_HEADER = {
    "Set-Cookie": {
        "description": "A device cookie on a successful log-in (HttpOnly, SameSite=Strict, Path=/auth/login; Secure "
        "and named `__Secure-parley-device` except on plain-HTTP localhost). Sent back with the next log-in, it "
        "exempts this browser from the per-name lock-out; only its own failures pause it.",
        "schema": {"type": "string"},
    }
}


def secure_cookies(request: Request, *, local: bool) -> bool:
    """Secure cookies everywhere but plain HTTP in local mode: API Gateway only speaks HTTPS (its
    X-Forwarded-Proto, Mangum's scheme, says so); a Secure cookie is not for a page served over http://127.0.0.1."""
    return not local or request.url.scheme == "https"




def set_session_cookie(request: Request, response: Response, value: str | None, *, local: bool) -> None:
    if value is None:
        return
    secure = secure_cookies(request, local=local)
    response.set_cookie(session_cookies.cookie_name(secure=secure), value,
                        max_age=int(session_cookies.LIFETIME.total_seconds()), path=session_cookies.COOKIE_PATH,
                        secure=secure, httponly=True, samesite="strict")


def clear_session_cookie(request: Request, response: Response, *, local: bool) -> None:
    """Tell the browser to drop its session cookie (it only obeys a request sent with credentials)."""
    secure = secure_cookies(request, local=local)
    response.delete_cookie(session_cookies.cookie_name(secure=secure), path=session_cookies.COOKIE_PATH,
                           secure=secure, httponly=True, samesite="strict")


def same_origin_only(request: Request) -> None:
    """CSRF guard of the cookie-authenticated route, on top of SameSite=Strict: a JSON body (a cross-site form
    cannot send one, and a cross-origin script needs a CORS preflight, which grants no credentials), and, when
    the browser says where the request comes from (Origin, Sec-Fetch-Site), this very origin."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise HTTPException(415, "send a JSON body ({}) with Content-Type: application/json")
    # The browser's own judgment (Sec-Fetch-Site) when it gives one: behind CloudFront the page's origin is the
    # distribution's while Host is the API's (AllViewerExceptHostHeader), so Origin cannot be compared with Host
    # there. Only a browser that sends no Sec-Fetch-Site is held to Origin == this host.
    site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.headers.get('host', '')}".lower()
    if site is not None:
        refused = site.lower() not in ("same-origin", "none")
    else:
        refused = origin is not None and origin.lower() != own
    if refused:
        raise HTTPException(403, "a session cookie is only accepted from this site's own page")
