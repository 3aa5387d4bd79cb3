"""Hostile input for the property tests of issue 22, section 5: strings, and raw JSON a JSON encoder would never
write (10**400, 1e999, NaN, 5,000 digits, nesting thousands deep, lone surrogates as escapes).

``raw_values`` are JSON *text* fragments, to be spliced into a body or a frame as they are, so the parser on the
other side sees them exactly as an attacker could send them."""

from __future__ import annotations

import json

from hypothesis import strategies as st

# Python str values an attacker can put in a body, a frame, a path or a query string
HOSTILE_STRINGS = [
    "\ud800", "\udfff", "a\ud800b", "\udc80\ud800", "\x00", "a\x00b", "\x00" * 64, "", " ", "\n\r\t", "\u202e",
    "\ufeff", "\uffff", "🙂" * 50, "é" * 20, "../../etc/passwd", "%00", "%ff%fe", "$where", "$gt", '{"$gt": ""}',
    "general", "dm-a-b", "dm-", "alice", "-1", "0", "1e999", "NaN", "null", "true", "[]", "{}",
    "x" * 10_000, "a" * 100_000,
    # display names (issue 23): bidi isolates, joiners alone, tags, blank letters, what NFC composes or grows
    "\u2066", "\u2069", "\u200d", "\u200c\u200c", "\U000e0041", "\u3164", "\u2800", "\u0301", "e\u0301" * 200,
    "\u0958" * 65, "\u3000", "zoë", "日本",
]
hostile_strings = st.one_of(
    st.sampled_from(HOSTILE_STRINGS),
    st.text(alphabet=st.characters(categories=["Cs", "Cc", "Cf", "Co", "Zs"]), max_size=40),
    st.text(max_size=60),
)

NUMBERS = [
    "1" + "0" * 400,  # 10**400
    "-1" + "0" * 400,
    "9" * 5000,  # more digits than Python's int() converts by default (4300)
    "1e999", "-1e999", "1e-999", "1e400", "NaN", "Infinity", "-Infinity", "-0", "0.0", "1.7976931348623157e309",
    "123456789012345678901234567890", "-1", "0", "1", "3.5", "2147483648", "9223372036854775808",
]


def _nested(depth: int, kind: str) -> str:
    return "[" * depth + "]" * depth if kind == "list" else '{"a":' * depth + "1" + "}" * depth


raw_values = st.one_of(
    st.sampled_from(NUMBERS),
    hostile_strings.map(json.dumps),  # ensure_ascii: lone surrogates and NUL travel as \ud800 and \u0000 escapes
    st.sampled_from(["true", "false", "null", "[]", "{}", '["a"]', '{"$gt": ""}', '{"$ne": null}', '{"$regex": ".*"}',
                     '[{"$where": "1"}]', '"\\ud800\\ud800"', '"\\udfff"', '"a\\u0000b"']),
    st.builds(_nested, st.integers(1, 5000), st.sampled_from(["list", "dict"])),
    st.recursive(st.sampled_from(NUMBERS[:8]) | hostile_strings.map(json.dumps) | st.sampled_from(["null", "true"]),
                 lambda children: st.lists(children, max_size=3).map(lambda xs: "[" + ",".join(xs) + "]")
                 | st.dictionaries(st.sampled_from(["a", "$gt", "room", "\\ud800"]), children, max_size=3).map(
                     lambda d: "{" + ",".join(f'"{k}":{v}' for k, v in d.items()) + "}"),
                 max_leaves=6),
)


def raw_object(fields: list[str], values: st.SearchStrategy[str] = raw_values) -> st.SearchStrategy[str]:
    """A JSON object (as text) with some of these field names, each holding a raw hostile value."""
    if not fields:
        return st.just("{}")
    return st.dictionaries(st.sampled_from(fields), values, max_size=len(fields)).map(
        lambda d: "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in d.items()) + "}")
