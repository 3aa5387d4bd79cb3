"""The broadcaster's HTTP: keep-alive reuse, connections the server closed, chunked answers, timeouts,
TLS, bad credentials. Against real HTTP/1.1 servers on loopback sockets (and the signature-checking
management_api of tests/support.py)."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

import pytest

from parley.adapters.apigw import ManagementApiBroadcaster
from parley.adapters.sigv4 import Credentials, NoCredentials
from parley.wire import Frame

IDS = [f"c{i}=" for i in range(40)]
FRAME = Frame.of({"type": "x"})


class Server:
    """An HTTP/1.1 @connections server: counts TCP connections and posts per id; behaviours per id."""

    def __init__(self, *, close_after_each: bool = False, tls: ssl.SSLContext | None = None,
                 idle_timeout: float | None = None) -> None:
        self.connections = 0
        self.posts: Counter[str] = Counter()
        self.bodies: list[bytes] = []
        self.chunked_gone: set[str] = set()
        self.silent: set[str] = set()
        self.lock = threading.Lock()
        state = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = idle_timeout  # a keep-alive connection idle this long is closed by the server

            def log_message(self, *args):
                pass

            def setup(self):
                super().setup()
                with state.lock:
                    state.connections += 1

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                json.loads(body)
                cid = unquote(self.path.rsplit("/", 1)[1])
                if cid in state.silent:
                    time.sleep(1.0)  # then answers 200: longer than the broadcaster's read timeout in that test
                with state.lock:
                    state.posts[cid] += 1
                    state.bodies.append(body)
                if cid in state.chunked_gone:
                    self.send_response(410)
                    self.send_header("x-amzn-ErrorType", "GoneException:http://internal.amazon.com/")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    self.wfile.write(b'7\r\n{"a":1}\r\n3;ext=1\r\n   \r\n0\r\nX-Trailer: t\r\n\r\n')
                    return
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if close_after_each:  # close without saying so: the next request on it meets a closed socket
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        scheme = "https" if tls else "http"
        host = "localhost" if tls else "127.0.0.1"
        self.endpoint = f"{scheme}://{host}:{self.httpd.server_address[1]}/prod"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(request, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKID")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    made = []

    def make(**kwargs) -> Server:
        made.append(Server(**kwargs))
        return made[-1]

    yield make
    for s in made:
        s.close()


def test_connections_are_kept_alive_and_reused_across_broadcasts(server):
    s = server()
    broadcaster = ManagementApiBroadcaster(endpoint=s.endpoint, concurrency=4)
    for _ in range(3):
        report = broadcaster.send(connection_ids=IDS, frame=FRAME)
        assert report.delivered == len(IDS) and not report.failed
    assert set(s.posts.values()) == {3}
    assert s.connections <= 4  # 120 posts over at most 4 connections


def test_the_frames_bytes_are_posted_as_they_are_never_encoded_again(server):
    """The broadcaster posts ``frame.body`` unchanged: bytes no ``wire.encode`` would write (spaces, key order)
    arrive byte for byte, so the chat's one encoding is the only one."""
    s = server()
    body = b'{ "type" : "x",  "z": 1, "a": "\xc3\xa9" }'
    broadcaster = ManagementApiBroadcaster(endpoint=s.endpoint, concurrency=2)
    report = broadcaster.send(connection_ids=IDS[:3], frame=Frame(body))
    assert report.delivered == 3 and s.bodies == [body] * 3


def test_a_connection_the_server_closed_is_replaced_and_nothing_is_lost_or_posted_twice(server):
    s = server(close_after_each=True)
    report = ManagementApiBroadcaster(endpoint=s.endpoint, concurrency=3).send(connection_ids=IDS, frame=FRAME)
    assert report.delivered == len(IDS) and not report.failed
    assert set(s.posts.values()) == {1} and len(s.posts) == len(IDS)
    assert s.connections == len(IDS)  # one per post: every closed connection was noticed


def test_connections_the_server_closed_while_idle_are_replaced_between_broadcasts(server):
    s = server(idle_timeout=0.2)
    broadcaster = ManagementApiBroadcaster(endpoint=s.endpoint, concurrency=4)
    assert broadcaster.send(connection_ids=IDS, frame=FRAME).delivered == len(IDS)
    opened = s.connections
    time.sleep(0.6)  # every idle connection is closed by now
    report = broadcaster.send(connection_ids=IDS, frame=FRAME)
    assert report.delivered == len(IDS) and not report.failed
    assert set(s.posts.values()) == {2}  # each once per broadcast: none lost, none doubled
    assert s.connections > opened  # new connections replaced the closed ones


def test_a_chunked_410_is_gone_and_its_connection_is_reused(server):
    s = server()
    s.chunked_gone.update(IDS[:5])
    report = ManagementApiBroadcaster(endpoint=s.endpoint, concurrency=1).send(connection_ids=IDS, frame=FRAME)
    assert report.gone == IDS[:5] and report.delivered == len(IDS) - 5
    assert s.connections == 1


def test_a_recipient_that_never_answers_fails_alone_after_the_read_timeout(server):
    s = server()
    s.silent.add(IDS[3])  # answers 200, but only after 1 s
    report = ManagementApiBroadcaster(endpoint=s.endpoint, concurrency=8, read_timeout=0.3).send(
        connection_ids=IDS, frame=FRAME
    )
    assert report.failed == [IDS[3]] and report.delivered == len(IDS) - 1


def test_a_closed_port_fails_every_recipient_without_raising(server):
    s = server()
    endpoint = s.endpoint
    s.close()
    report = ManagementApiBroadcaster(endpoint=endpoint, connect_timeout=0.5).send(connection_ids=IDS[:3], frame=Frame.of({}))
    assert report.failed == IDS[:3] and report.delivered == 0


def test_https_with_a_trusted_certificate_and_refusing_an_untrusted_one(server):
    trustme = pytest.importorskip("trustme")  # a dev dependency: present wherever `make test` ran
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_context)
    s = server(tls=server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    report = ManagementApiBroadcaster(endpoint=s.endpoint, ssl_context=client_context).send(
        connection_ids=IDS[:10], frame=FRAME
    )
    assert report.delivered == 10
    untrusted = ManagementApiBroadcaster(endpoint=s.endpoint.replace("localhost", "127.0.0.1")).send(
        connection_ids=["z="], frame=FRAME
    )
    assert untrusted.failed == ["z="] and s.posts["z="] == 0


def test_wrong_credentials_are_refused_by_the_signature_check(management_api):
    report = ManagementApiBroadcaster(
        endpoint=management_api.endpoint, credentials=lambda: Credentials("testing", "not-the-secret")
    ).send(connection_ids=["a=", "b="], frame=FRAME)
    assert report.failed == ["a=", "b="]
    assert management_api.bad_signatures == 2 and management_api.frames("a=") == []


def test_no_credentials_fail_the_broadcast_with_a_log_line_not_an_exception(management_api, caplog):
    def missing() -> Credentials:
        raise NoCredentials("no AWS credentials")

    report = ManagementApiBroadcaster(endpoint=management_api.endpoint, credentials=missing).send(
        connection_ids=["a="], frame=FRAME
    )
    assert report.failed == ["a="] and management_api.posts == 0
    assert "no AWS credentials" in caplog.text


def test_an_endpoint_that_is_not_a_url_is_refused_when_built():
    with pytest.raises(ValueError, match="http"):
        ManagementApiBroadcaster(endpoint="wss://abc.execute-api.eu-west-1.amazonaws.com/prod")


def test_the_region_signed_for_is_the_one_in_the_host(monkeypatch):
    from parley.adapters.apigw import region_of

    monkeypatch.setenv("AWS_REGION", "ap-south-1")
    assert region_of("abc123.execute-api.eu-west-1.amazonaws.com") == "eu-west-1"
    assert region_of("chat.example.com") == "ap-south-1"


def test_aws_ca_bundle_is_honoured_like_botocore_does(server, monkeypatch, tmp_path):
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_context)
    s = server(tls=server_context)
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("AWS_CA_BUNDLE", str(bundle))
    report = ManagementApiBroadcaster(endpoint=s.endpoint).send(connection_ids=["a="], frame=FRAME)
    assert report.delivered == 1
