"""One source for every limit: /config.json serves the ones the server validates with (parley.model), the
HTTP API's schema declares them, and what the served patterns accept is what the server accepts.

The web page's side (it enforces what is served, not a copy) is tests/browser/test_served_limits.py.
"""

from __future__ import annotations

import re

import pytest

from parley import model
from parley.client_limits import client_limits
from parley.errors import InvalidRequest


def test_config_json_serves_the_limits_the_server_validates_with(stack):
    status, config, _ = stack.http("GET", "/config.json")
    assert status == 200
    limits = config["limits"]
    assert limits == client_limits()
    assert limits["username"] == {"minLength": 3, "maxLength": 32, "pattern": "^[A-Za-z0-9_.-]{3,32}$"}
    assert limits["password"] == {"minLength": model.PASSWORD_MIN, "maxLength": model.PASSWORD_MAX}
    assert limits["text"] == {"maxLength": model.MAX_TEXT}
    assert limits["room"]["maxLength"] == model.ROOM_NAME_MAX
    assert limits["roomsPerConnection"] == model.MAX_ROOMS_PER_CONNECTION
    assert limits["history"] == {"pageSize": model.DEFAULT_HISTORY_LIMIT, "maxPageSize": model.MAX_HISTORY_LIMIT}


def test_the_schema_of_config_json_declares_every_limit(stack):
    app = stack.modules["AuthFunction"].app
    schemas = app.openapi()["components"]["schemas"]
    assert "limits" in schemas["ConfigOut"]["required"]

    def keys(schema: dict) -> dict:
        out = {}
        for name, prop in schema["properties"].items():
            ref = prop.get("$ref")
            out[name] = keys(schemas[ref.rsplit("/", 1)[1]]) if ref else None
        return out

    def shape(value):
        return {k: shape(v) for k, v in value.items()} if isinstance(value, dict) else None

    assert keys(schemas["LimitsOut"]) == shape(client_limits())


USERNAMES = ["abc", "a" * 32, "a" * 33, "ab", "al.ice-_9", "al ice", "alice\n", "ÄLICE", ""]
ROOMS = ["general", "a", "x" * 64, "x" * 65, "-lead", "Upper", "dm-ab12-cd34", "dm-" + "a" * 65 + "-b", "room\n", ""]


def _accepts(validator, value) -> bool:
    try:
        validator(value)
    except InvalidRequest:
        return False
    return True


@pytest.mark.parametrize("name", USERNAMES)
def test_the_served_username_pattern_accepts_what_the_server_accepts(name):
    served = client_limits()["username"]
    # JavaScript's RegExp.test with the served pattern: `$` is the end of input (no multiline flag), as \Z here
    js_like = re.fullmatch(served["pattern"].removeprefix("^").removesuffix("$"), name) is not None
    assert js_like == _accepts(model.valid_username, name)


@pytest.mark.parametrize("name", ROOMS)
def test_the_served_room_patterns_accept_what_the_server_accepts(name):
    served = client_limits()["room"]
    js_like = any(
        re.fullmatch(pattern.removeprefix("^").removesuffix("$"), name) is not None
        for pattern in (served["pattern"], served["directPattern"])
    )
    assert js_like == _accepts(model.valid_room, name)


def test_typing_repeats_are_never_dropped_by_the_server_and_outlive_one_interval():
    from parley.chat.service import TYPING_QUIET

    typing = client_limits()["typing"]
    assert TYPING_QUIET.total_seconds() * 1000 < typing["intervalMs"] < typing["expiresMs"]


def test_the_text_limit_is_the_one_the_server_enforces():
    limit = client_limits()["text"]["maxLength"]
    assert _accepts(model.valid_text, "y" * limit)
    assert not _accepts(model.valid_text, "y" * (limit + 1))


def test_the_page_holds_no_copy_of_the_length_limits():
    """The inputs get minlength/maxlength from the served limits (limits.js), not from the HTML."""
    from tests.support import ROOT

    page = (ROOT / "functions" / "auth" / "static" / "index.html").read_text()
    assert not re.search(r"\b(minlength|maxlength)=", page, re.IGNORECASE)
