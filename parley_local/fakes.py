"""Fake AWS endpoints for tests and benchmarks: a real HTTP server speaking the @connections Management API.

``serve_http(handler_class(state))`` runs it on a free loopback port; boto3 (or Parley's own poster) calls it
over real HTTP and it checks SigV4 with the same code as the local gateway (sigv4.py). It records deliveries
and can answer 410 (gone), 429 (throttled) or 500 for chosen ids.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

from .sigv4 import _AUTHORIZATION, SignatureRefused, StackCredentials, verify

AWS_KEY_ID, AWS_SECRET_KEY = "testing", "testing"  # what the fake @connections endpoint checks signatures against


def sigv4_is_valid(*, method: str, url: str, headers: Mapping[str, str], body: bytes, secret: str,
                   service: str = "execute-api") -> bool:
    """Whether a request is SigV4-signed with this secret, whatever its access key, region and time."""
    lowered = {name.lower(): value for name, value in headers.items()}
    found = _AUTHORIZATION.match(lowered.get("authorization", "").strip())
    if found is None:
        return False
    try:
        signed_at = datetime.strptime(lowered.get("x-amz-date", ""), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        verify(method=method, url=url, headers=lowered, body=body, service=service, region=found["region"],
               known={found["key"]: StackCredentials(found["key"], secret, lowered.get("x-amz-security-token"))},
               now=signed_at)
    except (ValueError, SignatureRefused):
        return False
    return True


@dataclass
class ManagementApiState:
    delivered: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))
    gone: set[str] = field(default_factory=set)
    throttle: dict[str, int] = field(default_factory=dict)  # id -> how many 429s before success
    broken: set[str] = field(default_factory=set)  # ids that always answer 500
    posts: int = 0
    bad_signatures: int = 0
    closed: list[str] = field(default_factory=list)  # ids a DELETE @connections/{id} asked to close
    lock: threading.Lock = field(default_factory=threading.Lock)

    def frames(self, connection_id: str, type_: str | None = None) -> list[dict]:
        with self.lock:
            frames = list(self.delivered.get(connection_id, []))
        return [f for f in frames if type_ is None or f.get("type") == type_]

    def clear(self) -> None:
        with self.lock:
            self.delivered.clear()


def handler_class(state: ManagementApiState):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output clean
            pass

        def _reply(self, status: int, body: dict | None = None) -> None:
            data = json.dumps(body or {}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            if status >= 400:
                self.send_header("x-amzn-ErrorType", (body or {}).get("__type", "Error"))
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length)
            if "@connections/" not in self.path or "Authorization" not in self.headers:
                return self._reply(403, {"__type": "ForbiddenException", "message": "Forbidden"})
            url = f"http://{self.headers.get('Host', '')}{self.path}"
            if not sigv4_is_valid(method="POST", url=url, headers=self.headers, body=data, secret=AWS_SECRET_KEY):
                with state.lock:
                    state.bad_signatures += 1
                return self._reply(403, {"__type": "InvalidSignatureException"})
            connection_id = unquote(self.path.rsplit("@connections/", 1)[1])
            if len(data) > 128 * 1024:  # API Gateway's message limit: the post is refused, nothing delivered
                return self._reply(413, {"__type": "PayloadTooLargeException", "message": "Request Entity Too Large"})
            with state.lock:
                state.posts += 1
                if connection_id in state.gone:
                    return self._reply(410, {"__type": "GoneException"})
                if connection_id in state.broken:
                    return self._reply(500, {"__type": "InternalServerErrorException"})
                if state.throttle.get(connection_id, 0) > 0:
                    state.throttle[connection_id] -= 1
                    return self._reply(429, {"__type": "LimitExceededException"})
                state.delivered[connection_id].append(json.loads(data))
            self._reply(200)

        def do_DELETE(self):
            url = f"http://{self.headers.get('Host', '')}{self.path}"
            if "@connections/" not in self.path or not sigv4_is_valid(
                method="DELETE", url=url, headers=self.headers, body=b"", secret=AWS_SECRET_KEY
            ):
                return self._reply(403, {"__type": "ForbiddenException"})
            with state.lock:
                state.closed.append(unquote(self.path.rsplit("@connections/", 1)[1]))
            self.send_response(204)
            self.end_headers()

    return Handler


@contextlib.contextmanager
def serve_http(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A real HTTP server on a free loopback port, in a thread; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
