"""SlicedBroadcaster: big fan-outs split across real HTTP Lambda invokes of FanoutFunction.

boto3's lambda client calls a small Invoke API served here, which runs the real fanout handler (loaded
from template.yaml) against the real HTTP @connections fake. The Invoke fake can refuse a slice (429,
the function never ran) or let it post half its ids and then fail (the function ran: FunctionError).
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from botocore.config import Config

from parley.adapters.apigw import ManagementApiBroadcaster
from parley.adapters.fanout import SlicedBroadcaster
from parley.wire import Frame
from tests.support import LambdaContext, load_function, serve_http

FUNCTION = "local-stack-FanoutFunction"


@dataclass
class LambdaApiState:
    handler: object = None
    invokes: list[list[str]] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)  # each invoke's request body, as it came
    refuse: set[str] = field(default_factory=set)  # first id of a slice -> 429, the function never runs
    crash: set[str] = field(default_factory=set)  # first id of a slice -> posts half, then fails
    lock: threading.Lock = field(default_factory=threading.Lock)


def _lambda_handler_class(state: LambdaApiState):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _reply(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            event = json.loads(body)
            if self.path != f"/2015-03-31/functions/{FUNCTION}/invocations":
                return self._reply(404, {"message": "Function not found"}, {"x-amzn-ErrorType": "ResourceNotFoundException"})
            first = event["connectionIds"][0]
            with state.lock:
                state.invokes.append(list(event["connectionIds"]))
                state.bodies.append(body)
            if first in state.refuse:
                return self._reply(429, {"message": "Rate exceeded"}, {"x-amzn-ErrorType": "TooManyRequestsException"})
            if first in state.crash:
                half = event["connectionIds"][: len(event["connectionIds"]) // 2]
                state.handler({**event, "connectionIds": half}, LambdaContext("fanout"))
                return self._reply(200, {"errorType": "RuntimeError", "errorMessage": "boom"},
                                   {"X-Amz-Function-Error": "Unhandled"})
            result = state.handler(event, LambdaContext("fanout"))
            self._reply(200, result)

    return Handler


@pytest.fixture
def lambda_api(template, local_env):
    state = LambdaApiState()
    state.handler, _module = load_function(template, "FanoutFunction")
    with serve_http(_lambda_handler_class(state)) as url:
        state.url = url
        yield state


def _client(url: str):
    return boto3.client(
        "lambda", endpoint_url=url, region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=10),
    )


@pytest.fixture
def pool():
    with ThreadPoolExecutor(16) as executor:
        yield executor


def _sliced(management_api, url: str, pool, slice_size: int = 3, metric=lambda name, value: None) -> SlicedBroadcaster:
    local = ManagementApiBroadcaster(endpoint=management_api.endpoint, base_delay=0.001)
    return SlicedBroadcaster(
        local, function_name=FUNCTION, endpoint=management_api.endpoint, pool=pool, slice_size=slice_size,
        client=_client(url), metric=metric,
    )


IDS = [f"c{i}=" for i in range(10)]
X = Frame.of({"type": "x"})


def _counts(management_api, ids):
    return [len(management_api.frames(cid)) for cid in ids]


def test_a_small_fanout_posts_here_without_invoking(management_api, lambda_api, pool):
    report = _sliced(management_api, lambda_api.url, pool).send(connection_ids=IDS[:3], frame=X)
    assert report.delivered == 3 and lambda_api.invokes == []
    assert _counts(management_api, IDS[:3]) == [1, 1, 1]


def test_a_big_fanout_is_split_into_slices_and_each_id_gets_it_once(management_api, lambda_api, pool):
    management_api.gone.add("c4=")
    management_api.broken.add("c8=")
    report = _sliced(management_api, lambda_api.url, pool).send(
        connection_ids=IDS + ["c1="], frame=Frame.of({"type": "message", "n": 1})
    )
    assert sorted(map(len, lambda_api.invokes)) == [1, 3, 3, 3]
    assert sorted(c for part in lambda_api.invokes for c in part) == sorted(IDS)
    assert report.delivered == 8 and report.gone == ["c4="] and report.failed == ["c8="]
    assert _counts(management_api, IDS) == [1, 1, 1, 1, 0, 1, 1, 1, 0, 1]
    assert management_api.frames("c0=") == [{"type": "message", "n": 1}]


def test_each_invoke_carries_the_frames_bytes_as_they_are_and_the_function_posts_the_same_frame(
    management_api, lambda_api, pool
):
    """The caller's one encoding travels in the invoke as it is; FanoutFunction, handed the event decoded,
    encodes it once more (its own invocation) into the very same bytes, lone surrogates and all."""
    payload = {"type": "message", "text": "héllo ✓ \U0001F600", "odd": "\ud800x", "n": 1.5, "big": 10**20}
    frame = Frame.of(payload)
    report = _sliced(management_api, lambda_api.url, pool).send(connection_ids=IDS, frame=frame)
    assert report.delivered == len(IDS) and len(lambda_api.bodies) == 4
    for body in lambda_api.bodies:
        assert body.endswith(b',"payload":' + frame.body + b"}")
    assert Frame.of(json.loads(lambda_api.bodies[0])["payload"]) == frame
    assert all(management_api.frames(cid) == [payload] for cid in IDS)


def test_a_refused_invoke_is_posted_here_instead_and_counted(management_api, lambda_api, pool):
    lambda_api.refuse.add("c3=")
    metrics = []
    sliced = _sliced(management_api, lambda_api.url, pool, metric=lambda name, value: metrics.append((name, value)))
    report = sliced.send(connection_ids=IDS, frame=X)
    assert report.delivered == 10 and not report.failed and not report.gone
    assert _counts(management_api, IDS) == [1] * 10
    assert metrics == [("FanoutSlices", 4), ("FanoutSlicesPostedHere", 1)]


def test_a_slice_whose_function_failed_is_reported_failed_and_not_posted_twice(management_api, lambda_api, pool):
    lambda_api.crash.add("c3=")
    report = _sliced(management_api, lambda_api.url, pool).send(connection_ids=IDS, frame=X)
    assert sorted(report.failed) == ["c3=", "c4=", "c5="]
    assert report.delivered == 7
    assert _counts(management_api, IDS) == [1, 1, 1, 1, 0, 0, 1, 1, 1, 1]  # c3= got it once, before the crash


def test_no_lambda_endpoint_at_all_posts_everything_here(management_api, pool, local_env):
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as dead:
        url = f"http://127.0.0.1:{dead.server_address[1]}"
    report = _sliced(management_api, url, pool).send(connection_ids=IDS, frame=X)
    assert report.delivered == 10
    assert _counts(management_api, IDS) == [1] * 10


def test_the_fanout_function_refuses_another_endpoint_and_bad_events(template, local_env, management_api):
    handler, module = load_function(template, "FanoutFunction")
    with pytest.raises(module.InvalidFanoutEvent):
        handler({"endpoint": "https://evil.example/prod", "connectionIds": ["a="], "payload": {}}, LambdaContext())
    with pytest.raises(module.InvalidFanoutEvent):
        handler({"endpoint": management_api.endpoint, "connectionIds": "a=", "payload": {}}, LambdaContext())
    result = handler({"endpoint": management_api.endpoint, "connectionIds": ["a=", "b="], "payload": {"k": 1}}, LambdaContext())
    assert result == {"delivered": 2, "gone": [], "failed": []}


def test_the_runtime_slices_only_when_a_fanout_function_is_configured(local_env, monkeypatch):
    from parley.config import Settings
    from parley.events import WebSocketEvent
    from parley.runtime import ChatRuntime
    from tests.support import real_event

    event = WebSocketEvent.parse(real_event("ping.json"))
    plain = ChatRuntime.from_settings(Settings.from_env())
    assert isinstance(plain.ports(event, lambda *_: None).broadcaster, ManagementApiBroadcaster)
    monkeypatch.setenv("FANOUT_FUNCTION", FUNCTION)
    monkeypatch.setenv("FANOUT_SLICE", "7")
    sliced = ChatRuntime.from_settings(Settings.from_env()).ports(event, lambda *_: None).broadcaster
    assert isinstance(sliced, SlicedBroadcaster) and sliced._slice_size == 7


def test_stubbed_invokes_a_refusal_falls_back_and_a_report_that_does_not_add_up_fails(management_api, local_env):
    import io

    from botocore.stub import Stubber

    client = _client("https://lambda.us-east-1.amazonaws.com")
    with Stubber(client) as stub, ThreadPoolExecutor(1) as one:  # one thread: the slices go in order
        stub.add_client_error("invoke", service_error_code="TooManyRequestsException", http_status_code=429)
        stub.add_response("invoke", {"StatusCode": 200, "Payload": io.BytesIO(b'{"delivered": 5, "gone": [], "failed": []}')})
        local = ManagementApiBroadcaster(endpoint=management_api.endpoint, concurrency=1, base_delay=0.001)
        report = SlicedBroadcaster(
            local, function_name=FUNCTION, endpoint=management_api.endpoint, pool=one, slice_size=2, client=client
        ).send(connection_ids=["a=", "b=", "c=", "d="], frame=X)
        stub.assert_no_pending_responses()
    assert report.delivered == 2 and report.failed == ["c=", "d="]
    assert _counts(management_api, ["a=", "b=", "c=", "d="]) == [1, 1, 0, 0]


def test_a_lambda_service_exception_may_have_run_so_the_slice_is_failed_not_posted_again(management_api, local_env):
    from botocore.stub import Stubber

    client = _client("https://lambda.us-east-1.amazonaws.com")
    with Stubber(client) as stub, ThreadPoolExecutor(1) as one:
        stub.add_client_error("invoke", service_error_code="ServiceException", http_status_code=500)
        stub.add_client_error("invoke", service_error_code="TooManyRequestsException", http_status_code=429)
        local = ManagementApiBroadcaster(endpoint=management_api.endpoint, concurrency=1, base_delay=0.001)
        report = SlicedBroadcaster(
            local, function_name=FUNCTION, endpoint=management_api.endpoint, pool=one, slice_size=2, client=client
        ).send(connection_ids=["a=", "b=", "c=", "d="], frame=X)
        stub.assert_no_pending_responses()
    assert report.failed == ["a=", "b="] and report.delivered == 2
    assert _counts(management_api, ["a=", "b=", "c=", "d="]) == [0, 0, 1, 1]
