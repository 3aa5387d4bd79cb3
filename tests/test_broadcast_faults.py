"""The chat's broadcasts against a real HTTP Management API that answers 410, 429 and 500 (tests/support.py).

The broadcaster's own HTTP behaviour (keep-alive, stale connections, timeouts, TLS) is in test_poster.py."""

from __future__ import annotations

from parley.adapters.apigw import ManagementApiBroadcaster, endpoint_from_event
from parley.wire import Frame


def test_gone_connection_is_deleted_and_its_user_goes_offline(stack, management_api):
    alice, bob, carol = stack.connect("alice"), stack.connect("bob"), stack.connect("carol")
    for c in (alice, bob, carol):
        c.send({"action": "join", "room": "general"})
    management_api.gone.add(bob.connection_id)  # bob vanished without a $disconnect
    alice.send({"action": "sendMessage", "room": "general", "text": "anyone?"})
    assert len(carol.frames("message")) == 1
    offline = [f for f in carol.frames("presence") if f["status"] == "offline"]
    assert offline == [
        {"type": "presence", "room": "general", "user": {"id": "u-bob", "username": "bob"}, "status": "offline"}
    ]
    runtime = stack.modules["MessageFunction"].runtime
    assert runtime.connections.get(connection_id=bob.connection_id) is None
    alice.send({"action": "join", "room": "general"})  # a re-join lists who is really there
    assert [u["username"] for u in alice.last("joined")["users"]] == ["alice", "carol"]


def test_throttled_posts_are_retried_until_delivered(stack, management_api):
    alice, bob = stack.connect("alice"), stack.connect("bob")
    for c in (alice, bob):
        c.send({"action": "join", "room": "general"})
    management_api.throttle[bob.connection_id] = 2
    alice.send({"action": "sendMessage", "room": "general", "text": "try again"})
    assert [f["message"]["text"] for f in bob.frames("message")] == ["try again"]
    assert management_api.throttle[bob.connection_id] == 0


def test_one_failing_recipient_never_blocks_the_others(stack, management_api):
    clients = [stack.connect(f"user{i}") for i in range(6)]
    for c in clients:
        c.send({"action": "join", "room": "general"})
    management_api.broken.add(clients[2].connection_id)
    management_api.throttle[clients[3].connection_id] = 99  # never recovers within the retry budget
    clients[0].send({"action": "sendMessage", "room": "general", "text": "hello all"})
    got = [len(c.frames("message")) for c in clients]
    assert got == [1, 1, 0, 0, 1, 1]
    runtime = stack.modules["MessageFunction"].runtime
    assert runtime.connections.get(connection_id=clients[2].connection_id) is not None  # 500 is not 410


def test_endpoint_comes_from_the_event_unless_overridden(stack):
    rc = {"domainName": "abc.execute-api.eu-west-1.amazonaws.com", "stage": "prod", "apiId": "abc"}
    assert endpoint_from_event(rc) == "https://abc.execute-api.eu-west-1.amazonaws.com/prod"
    assert endpoint_from_event(rc, "http://127.0.0.1:3000/prod/") == "http://127.0.0.1:3000/prod"


def test_ids_are_url_encoded_on_the_wire(stack, management_api):
    alice = stack.connect("alice")
    assert alice.connection_id.endswith("=")
    alice.send({"action": "ping"})
    assert alice.frames() == [{"type": "pong"}]  # the server decoded the id it was sent


def test_a_payload_with_a_lone_surrogate_is_still_sent_as_valid_json(management_api):
    import json

    report = ManagementApiBroadcaster(endpoint=management_api.endpoint).send(
        connection_ids=["c1="], frame=Frame.of({"type": "error", "action": "\ud800x", "text": "héllo ✓"})
    )
    assert report.delivered == 1
    (frame,) = management_api.frames("c1=")
    assert frame["action"] == "\ud800x" and frame["text"] == "héllo ✓"
    json.dumps(frame)
