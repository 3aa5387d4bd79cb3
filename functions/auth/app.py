"""The HTTP API: sign-up, log-in, history, presence, the room list and directory, blocks and config (FastAPI behind Mangum).

The web page is not served here: its files are published to the stack's bucket and served by CloudFront, which
sends this API's paths here (template.yaml's PageDistribution; issue 20, section 5)."""

import asyncio
import base64
import threading
import uuid
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Header, HTTPException, Path as PathParam, Query, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from mangum import Mangum
from pymongo import ReturnDocument

from parley import accounts, devices, edge, origins, session_cookies
from parley.client_limits import client_limits
from parley.adapters import apigw, mongo, mongo_accounts, mongo_rooms, mongo_signups
from parley.adapters.secrets import edge_secret_reader, mongodb_database
from parley.chat import rooms as chat_rooms, service
from parley.chat.sessions import close_sessions
from parley.config import Settings
from parley.errors import (
    AuthenticationFailed,
    Forbidden,
    InvalidRequest,
    InvalidToken,
    StoreUnavailable,
    TooManyAttempts,
    TooManySignups,
    UsernameTaken,
    WeakPassword,
)
from parley.model import (
    ANY_ROOM_PATTERN,
    DEFAULT_HISTORY_LIMIT,
    DIRECT_NAME_MAX,
    MAX_HISTORY_LIMIT,
    MESSAGE_ID_PATTERN,
    ROOM_PATTERN,
    UserRef,
)
from parley.observability import count_internal_error, make_logger, tracing
from parley.ports import Ports, StoredUser
from parley.tokens import Claims

# Sibling modules: Lambda puts this function's directory (CodeUri functions/auth/) on sys.path, so they import as
# top-level modules, named after the function so that no other function's sibling could stand in for them.
import auth_cookies
from auth_cookies import DEVICE_COOKIE_HEADER, SESSION_COOKIE_HEADER
from auth_models import (
    BlocksOut,
    ConfigOut,
    Credentials,
    DirectoryOut,
    DisplayNameChange,
    HistoryOut,
    MembersOut,
    PasswordChange,
    PresenceOut,
    Problem,
    RoomsOut,
    SessionOut,
    Signup,
    User,
)

settings = Settings.from_env()
logger = make_logger()
issuer = accounts.token_issuer(settings)
db = mongodb_database(settings)  # in AWS, renewed when the secret's URI changes
users = mongo_accounts.MongoUserStore(db)
messages = mongo.MongoMessageStore(db)
connections = mongo.MongoConnectionStore(db)
login_attempts = mongo_accounts.MongoLoginAttempts(db)
device_cookies = devices.DeviceCookies(issuer.secret)  # keyed from the JWT signing key (parley.devices)
signup_throttle = mongo_signups.MongoSignupThrottle(db)
sign_ins = session_cookies.SessionCookies(issuer.secret)  # keyed from the JWT signing key (parley.session_cookies)
# ends the sockets of ended sessions (DELETE @connections/{id}); without an endpoint they are only marked
closer = (
    apigw.ManagementApiBroadcaster(endpoint=settings.management_api_endpoint)
    if settings.management_api_endpoint
    else None
)
room_store = mongo_rooms.MongoRoomStore(db)
edge_secret = edge_secret_reader(settings)  # CloudFront's origin header: whose CloudFront-Viewer-Address to trust

# The interactive docs (/docs, which loads Swagger UI from a third-party CDN) and /openapi.json are served only
# locally (PARLEY_ENV=local): the AWS stage answers 404 for both. docs/openapi.json is the published document
# (`make spec` writes it from app.openapi(), which works either way).
app = FastAPI(
    title="Parley HTTP API",
    version="1.0.0",
    docs_url="/docs" if settings.local else None,
    openapi_url="/openapi.json" if settings.local else None,
    redoc_url=None,
)


class _Cors(CORSMiddleware):
    """Starlette's CORS with the origin rule the WebSocket authorizer uses too (parley.origins)."""

    def is_allowed_origin(self, origin: str) -> bool:
        return origins.listed(settings, origin)


app.add_middleware(
    _Cors,
    allow_methods=origins.CORS_METHODS,
    allow_headers=origins.CORS_HEADERS,
    expose_headers=origins.CORS_EXPOSE_HEADERS,
    max_age=origins.CORS_MAX_AGE,
)


Room = Annotated[str, PathParam(pattern=ANY_ROOM_PATTERN, max_length=DIRECT_NAME_MAX)]
Cursor = Annotated[str | None, Query(pattern=MESSAGE_ID_PATTERN)]
UNAUTHORIZED = {401: {"model": Problem}}
UNAVAILABLE = {503: {"model": Problem}}
FORBIDDEN = {403: {"model": Problem}}
NOT_A_MEMBER = "you are not a member of this room"


def _safe(text: object) -> str:
    return str(text).encode("utf-8", "replace").decode("utf-8")


@app.exception_handler(RequestValidationError)
async def refused_input(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422 (``detail``: loc, msg, type) without ``input`` or ``ctx``: a refusal names the field and the rule,
    never the value (a password must not come back, and a lone surrogate could not even be encoded)."""
    detail = [{"loc": [p if isinstance(p, int) else _safe(p) for p in error.get("loc", ())],
               "msg": _safe(error.get("msg", "")), "type": _safe(error.get("type", ""))} for error in exc.errors()]
    return JSONResponse({"detail": detail}, status_code=422)


@app.exception_handler(StoreUnavailable)
async def store_unavailable(request: Request, exc: StoreUnavailable) -> JSONResponse:
    logger.warning("database unavailable", extra={"path": request.url.path, "reason": str(exc)})
    count_internal_error(exc, settings.metrics_namespace, request.scope.get("aws.context"))
    return JSONResponse({"detail": "the service is temporarily unavailable; try again"}, status_code=503)


@app.exception_handler(Exception)
async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    """The catch-all (Starlette's ServerErrorMiddleware calls it, then raises ``exc`` on for Mangum to log): the
    500 is counted as ``InternalErrors`` of this function, since Mangum answers it and Lambda sees no error."""
    logger.error("request failed", extra={"path": request.url.path, "error": type(exc).__name__})
    count_internal_error(exc, settings.metrics_namespace, request.scope.get("aws.context"))
    return JSONResponse({"detail": "something went wrong; try again"}, status_code=500)


def bearer_user(authorization: Annotated[str | None, Header()] = None) -> UserRef:
    return bearer_session(authorization)[0].ref


Authed = Annotated[UserRef, Depends(bearer_user)]


def bearer_session(authorization: Annotated[str | None, Header()] = None) -> tuple[StoredUser, Claims]:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, "a Bearer token is required", headers={"WWW-Authenticate": "Bearer"})
    try:
        return accounts.current_session(users, issuer, token=token.strip())
    except InvalidToken:
        raise HTTPException(401, "the token is invalid or expired", headers={"WWW-Authenticate": "Bearer"}) from None


CurrentSession = Annotated[tuple[StoredUser, Claims], Depends(bearer_session)]


def _refused_field(field: str, exc: InvalidRequest) -> HTTPException:
    """422 shaped like FastAPI's own validation errors (the documented schema), naming the field at fault."""
    return HTTPException(422, [{"loc": ["body", field], "msg": exc.reason, "type": "weak_password"}])


def source_ip(request: Request) -> str:
    """The client address per-address throttles key on: API Gateway's ``requestContext.http.sourceIp``, or, on
    a request CloudFront sent (it carries the edge secret, compared in constant time), the viewer's address
    CloudFront names in ``CloudFront-Viewer-Address``: behind the distribution sourceIp is an edge's address,
    shared by all its viewers (parley.edge). Never X-Forwarded-For or any header a caller alone could set."""
    event = request.scope.get("aws.event") or {}
    address = ((event.get("requestContext") or {}).get("http") or {}).get("sourceIp")
    address = address if isinstance(address, str) and address else "unknown"
    headers = event.get("headers") or {}
    if edge.EDGE_HEADER not in headers:  # a direct call: no secret to read
        return address
    return edge.client_ip(headers, address, edge_secret())


def _secure_cookies(request: Request) -> bool:
    return auth_cookies.secure_cookies(request, local=settings.local)


def _set_session_cookie(request: Request, response: Response, value: str | None) -> None:
    auth_cookies.set_session_cookie(request, response, value, local=settings.local)


def _clear_session_cookie(request: Request, response: Response) -> None:
    auth_cookies.clear_session_cookie(request, response, local=settings.local)


@app.post("/auth/signup", status_code=201, response_model=SessionOut,
          responses={201: {"headers": SESSION_COOKIE_HEADER}, 409: {"model": Problem}, 429: {"model": Problem},
                     **UNAVAILABLE})
def signup(body: Signup, request: Request, response: Response) -> dict:
    try:
        session = accounts.signup(
            users, issuer, username=body.username, password=body.password, display_name=body.displayName,
            throttle=signup_throttle, limit=settings.limits.signup, source_ip=source_ip(request), cookies=sign_ins,
        )
    except TooManySignups as exc:  # per address: API Gateway's route throttle is one for every client
        raise HTTPException(
            429, "too many sign-ups from your address; try again later",
            headers={"Retry-After": str(exc.retry_after_seconds)},
        ) from None
    except UsernameTaken:
        raise HTTPException(409, "that username is taken") from None
    except WeakPassword as exc:
        raise _refused_field("password", exc) from None
    except InvalidRequest as exc:
        raise HTTPException(422, exc.reason) from None
    _set_session_cookie(request, response, session.session_cookie)
    return session.to_json()


@app.post(
    "/auth/login",
    response_model=SessionOut,
    responses={200: {"headers": {**SESSION_COOKIE_HEADER, **DEVICE_COOKIE_HEADER}}, **UNAUTHORIZED,
               429: {"model": Problem}, **UNAVAILABLE},
)
def login(body: Credentials, request: Request, response: Response) -> dict:
    secure = _secure_cookies(request)
    name = devices.cookie_name(secure=secure)
    try:
        session = accounts.login(
            users,
            issuer,
            username=body.username,
            password=body.password,
            attempts=login_attempts,
            source_ip=source_ip(request),
            devices=device_cookies,
            device_cookies=[request.cookies[name]] if name in request.cookies else [],
            cookies=sign_ins,
        )
    except (AuthenticationFailed, InvalidRequest):
        raise HTTPException(401, "wrong username or password") from None
    except TooManyAttempts as exc:
        raise HTTPException(
            429,
            "too many failed log-ins; try again later",
            headers={"Retry-After": str(exc.retry_after_seconds)},
        ) from None
    if session.device_cookie is not None:
        response.set_cookie(name, session.device_cookie, max_age=int(devices.LIFETIME.total_seconds()),
                            path=devices.COOKIE_PATH, secure=secure, httponly=True, samesite="strict")
    _set_session_cookie(request, response, session.session_cookie)
    return session.to_json()


@app.post("/auth/refresh", response_model=SessionOut, responses={**UNAUTHORIZED, **UNAVAILABLE})
def refresh(session: CurrentSession) -> dict:
    try:
        return accounts.refresh(users, issuer, claims=session[1], user=session[0].ref).to_json()
    except InvalidToken:
        raise HTTPException(401, "the session has ended; sign in again", headers={"WWW-Authenticate": "Bearer"}) from None


@app.post(
    "/auth/session",
    response_model=SessionOut,
    responses={200: {"headers": SESSION_COOKIE_HEADER}, **UNAUTHORIZED, **FORBIDDEN, 415: {"model": Problem},
               **UNAVAILABLE},
    # the body is only the CSRF guard's (a JSON body: `{}`); documented so that clients, and schemathesis, send one
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"type": "object", "maxProperties": 0, "description": "an empty JSON object"}}}}},
)
def resume_session(request: Request, response: Response) -> Response | dict:
    """A new token for the browser's session cookie (a new tab, a reload, a restarted browser), and the cookie
    again with a new 30-day expiry. ``401`` (and the cookie dropped) when there is none or its session has ended."""
    auth_cookies.same_origin_only(request)
    name = session_cookies.cookie_name(secure=_secure_cookies(request))
    try:
        session = accounts.resume(users, issuer, cookies=sign_ins, cookie=request.cookies.get(name))
    except InvalidToken:
        refused = JSONResponse({"detail": "not signed in; log in"}, status_code=401)
        if name in request.cookies:
            _clear_session_cookie(request, refused)
        return refused
    _set_session_cookie(request, response, session.session_cookie)
    return session.to_json()


@app.post("/auth/logout", status_code=204, responses={**UNAUTHORIZED, **UNAVAILABLE})
def logout(session: CurrentSession, request: Request) -> Response:
    """Ends this token's session: its tokens, its sockets and the session cookie that names it."""
    stored, claims = session
    accounts.logout(users, claims=claims)
    close_sessions(connections, closer, user_id=stored.id, session_id=claims.session_id)
    done = Response(status_code=204)
    _clear_session_cookie(request, done)
    return done


@app.post("/auth/logout-all", status_code=204, responses={**UNAUTHORIZED, **UNAVAILABLE})
def logout_all(session: CurrentSession, request: Request) -> Response:
    stored, claims = session
    accounts.logout_everywhere(users, claims=claims)
    close_sessions(connections, closer, user_id=stored.id)
    done = Response(status_code=204)
    _clear_session_cookie(request, done)
    return done


@app.post(
    "/auth/password",
    status_code=204,
    responses={**UNAUTHORIZED, 403: {"model": Problem}, 429: {"model": Problem}, **UNAVAILABLE},
)
def change_password(body: PasswordChange, session: CurrentSession, request: Request) -> Response:
    stored, claims = session
    try:
        accounts.change_password(
            users,
            user=stored,
            claims=claims,
            current=body.currentPassword,
            new=body.newPassword,
            attempts=login_attempts,
            source_ip=source_ip(request),
        )
    except TooManyAttempts as exc:  # guessing the current password with a stolen token is throttled too
        raise HTTPException(
            429, "too many wrong passwords; try again later", headers={"Retry-After": str(exc.retry_after_seconds)}
        ) from None
    except AuthenticationFailed:
        raise HTTPException(403, "the current password is wrong") from None
    except WeakPassword as exc:
        raise _refused_field("newPassword", exc) from None
    except InvalidRequest as exc:
        raise HTTPException(422, exc.reason) from None
    close_sessions(connections, closer, user_id=stored.id, keep=claims.session_id)
    return Response(status_code=204)


@app.get("/auth/me", response_model=User, responses={**UNAUTHORIZED, **UNAVAILABLE})
def me(user: Authed) -> dict:
    return user.to_json()


@app.patch("/auth/me", response_model=User, responses={**UNAUTHORIZED, **UNAVAILABLE})
def change_me(body: DisplayNameChange, session: CurrentSession) -> dict:
    """Set the display name (``null`` clears it). The account and the member lists show it at once; messages,
    typing and presence carry it from the next connection (docs/protocol.md, "Display names")."""
    try:
        updated = accounts.set_display_name(users, room_store, user=session[0], display_name=body.displayName)
    except InvalidToken:
        raise HTTPException(401, "the token is invalid or expired", headers={"WWW-Authenticate": "Bearer"}) from None
    except InvalidRequest as exc:  # already checked by the model; the same rule, the same shape
        raise RequestValidationError([{"type": "display_name", "loc": ["body", "displayName"], "msg": exc.reason}]) from None
    return updated.ref.to_json()


@app.get("/blocks", response_model=BlocksOut, responses={**UNAUTHORIZED, **UNAVAILABLE})
def my_blocks(session: CurrentSession) -> dict:
    """The people you blocked (``block``/``unblock`` over the WebSocket change it); no read beyond the token's."""
    return {"blocks": [b.to_json() for b in session[0].blocked]}


@app.get("/rooms", response_model=RoomsOut, response_model_exclude_unset=True, responses={**UNAUTHORIZED, **UNAVAILABLE})
def my_rooms(user: Authed) -> dict:
    return {"rooms": chat_rooms.list_rooms(_ports(), user_id=user.id)}


@app.get("/rooms/public", response_model=DirectoryOut, response_model_exclude_unset=True, responses={**UNAUTHORIZED, **UNAVAILABLE})
def public_rooms(
    user: Authed,
    limit: Annotated[int, Query(ge=1, le=chat_rooms.MAX_DIRECTORY_PAGE)] = 50,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,13}~" + ROOM_PATTERN[1:])] = None,
) -> dict:
    try:
        items, page = chat_rooms.public_rooms(_ports(), limit=limit, after=chat_rooms.parse_directory_cursor(cursor))
    except InvalidRequest as exc:  # the shape FastAPI gives every other 422
        raise RequestValidationError([{"type": "value_error", "loc": ["query", "cursor"], "msg": exc.reason}]) from None
    return {"rooms": items, "next": chat_rooms.directory_cursor(page.next_after)}


@app.get("/rooms/{room}/messages", response_model=HistoryOut, response_model_exclude_unset=True, responses={**UNAUTHORIZED, **FORBIDDEN, **UNAVAILABLE})
def room_messages(
    room: Room,
    user: Authed,
    before: Cursor = None,
    after: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=MAX_HISTORY_LIMIT)] = DEFAULT_HISTORY_LIMIT,
) -> dict:
    try:
        return service.history(_ports(), user_id=user.id, room=room, before=before, after=after, limit=limit).to_json()
    except Forbidden:
        raise HTTPException(403, NOT_A_MEMBER) from None


@app.get("/rooms/{room}/presence", response_model=PresenceOut, responses={**UNAUTHORIZED, **FORBIDDEN, **UNAVAILABLE})
def room_presence(room: Room, user: Authed) -> dict:
    try:
        users_online = service.presence(_ports(), room=room, user_id=user.id)
    except Forbidden:
        raise HTTPException(403, NOT_A_MEMBER) from None
    return {"room": room, "users": [u.to_json() for u in users_online]}


MEMBERS_CURSOR = r"^\d{1,13}~[A-Za-z0-9_-]{1,64}$"


@app.get("/rooms/{room}/members", response_model=MembersOut, responses={**UNAUTHORIZED, **FORBIDDEN, **UNAVAILABLE})
def room_members(
    room: Room,
    user: Authed,
    limit: Annotated[int, Query(ge=1, le=chat_rooms.MAX_MEMBERS_PAGE)] = 100,
    cursor: Annotated[str | None, Query(pattern=MEMBERS_CURSOR)] = None,
) -> dict:
    """Every member of a room, a page at a time, longest-standing first: two database reads a page whatever the
    room's size. Private and direct rooms answer only their members (403 otherwise, as history)."""
    try:
        after = chat_rooms.parse_directory_cursor(cursor)
        members, next_after = chat_rooms.room_members(_ports(), user_id=user.id, room=room, limit=limit, after=after)
    except Forbidden:
        raise HTTPException(403, NOT_A_MEMBER) from None
    except InvalidRequest as exc:
        raise RequestValidationError([{"type": "value_error", "loc": ["query", "cursor"], "msg": exc.reason}]) from None
    return {"room": room, "members": [u.to_json() for u in members], "next": chat_rooms.directory_cursor(next_after)}


@app.get("/config.json", response_model=ConfigOut)
def config(request: Request) -> dict:
    api_url = str(request.base_url).rstrip("/")
    answer = {"websocketUrl": settings.websocket_url or "", "apiUrl": api_url, "limits": client_limits()}
    instance = _embedded_instance()
    if instance:
        answer["instanceId"] = instance
    return answer


def _embedded_instance() -> str | None:
    """The embedded database's id (made on first use, gone with the process); None with a real MongoDB."""
    if not settings.mongodb_uri.startswith("mongomock://"):
        return None
    doc = db["meta"].find_one_and_update(
        {"_id": "instance"}, {"$setOnInsert": {"id": uuid.uuid4().hex}}, upsert=True, return_document=ReturnDocument.AFTER
    )
    return doc["id"]


@app.get("/health")
def health() -> dict:
    return {"status": "ok"}


# docs/asyncapi.yaml, shipped in this function's CodeUri (`make spec` copies it; tests/test_spec_documents.py
# checks that what is served is the document).
ASYNCAPI = Path(__file__).resolve().parent / "asyncapi.yaml"


@app.get("/asyncapi.yaml", include_in_schema=False)
def asyncapi() -> Response:
    """The WebSocket API as an AsyncAPI 3.0 document."""
    if not ASYNCAPI.is_file():
        return JSONResponse({"detail": "the AsyncAPI document is not built into this deployment"}, status_code=404)
    return FileResponse(ASYNCAPI, media_type="application/yaml")


class _NoBroadcast:
    def send(self, *, connection_ids, frame):  # the HTTP API only reads; it never posts to sockets
        raise RuntimeError("the HTTP API does not broadcast")


def _ports() -> Ports:
    return Ports(connections=connections, messages=messages, broadcaster=_NoBroadcast(), rooms=room_store, users=users)


_asgi = Mangum(app, lifespan="off")
_thread_loop = threading.local()


@tracing(settings.tracing)
def handler(event: dict, context) -> dict:
    """Mangum runs the app on the calling thread's current event loop (``asyncio.get_event_loop()``), which a
    thread other than the main one, and since Python 3.14 the main one too, does not have: give each thread one."""
    loop = getattr(_thread_loop, "loop", None)
    if loop is None:
        loop = _thread_loop.loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    with mongo.request_deadline(context):  # every database call ends in time for a 503 (context vars reach the app)
        return _asgi(_encodable(event), context)


def _encodable(event: dict) -> dict:
    """The event, its body as the bytes it stands for when its text holds a lone surrogate: the event's JSON can
    carry ``"\\ud800"``, UTF-8 cannot, and Mangum's ``body.encode()`` raised (a 500, issue 22 section 5). As
    bytes (base64, as API Gateway hands over a binary body) they are not UTF-8, so the JSON parse refuses them."""
    body = event.get("body")
    if isinstance(body, str) and not event.get("isBase64Encoded"):
        try:
            body.encode("utf-8")
        except UnicodeEncodeError:
            raw = body.encode("utf-8", "surrogatepass")
            return {**event, "body": base64.b64encode(raw).decode("ascii"), "isBase64Encoded": True}
    return event
