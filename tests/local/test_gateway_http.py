"""The HTTP API: routes from the template's HttpApi events, payload format 2.0 events, response mapping."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.local.conftest import BOTH_WAYS

pytestmark = BOTH_WAYS  # every test here runs with the functions on threads and in their own process


@pytest.fixture
async def http(gateway):
    async with httpx.AsyncClient(base_url=gateway.http_url) as client:
        yield client


async def test_routes_and_path_parameters(http):
    root = (await http.get("/")).json()
    assert root["routeKey"] == "GET /" and root["pathParameters"] is None

    item = (await http.get("/items/42")).json()
    assert item["routeKey"] == "GET /items/{id}" and item["pathParameters"] == {"id": "42"}

    # a method the specific route lacks falls to the greedy ANY route
    posted = (await http.post("/items/42", json={"a": 1})).json()
    assert posted["routeKey"] == "ANY /{proxy+}"
    assert posted["pathParameters"] == {"proxy": "items/42"}
    assert posted["method"] == "POST"
    assert json.loads(posted["body"]) == {"a": 1} and posted["isBase64Encoded"] is False

    deep = (await http.delete("/a/b/c")).json()
    assert deep["pathParameters"] == {"proxy": "a/b/c"} and deep["method"] == "DELETE"


async def test_no_route_is_404(http):
    response = await http.post("/")  # only GET / is declared, and {proxy+} needs a segment
    assert response.status_code == 404
    assert response.json() == {"message": "Not Found"}


async def test_query_cookies_and_headers(http):
    response = await http.get("/q?x=1&x=2&y=", headers={"Cookie": "a=1; b=2"})
    body = response.json()
    assert body["rawQueryString"] == "x=1&x=2&y="
    assert body["queryStringParameters"] == {"x": "1,2", "y": ""}
    assert body["cookies"] == ["a=1", "b=2"]
    assert "apigw-requestid" in response.headers
    no_query = (await http.get("/q")).json()
    assert no_query["queryStringParameters"] is None and no_query["cookies"] is None
    assert no_query["rawQueryString"] == "" and no_query["body"] is None


async def test_binary_request_body_is_base64(http):
    body = (await http.post("/upload", content=b"\x00\xff", headers={"content-type": "application/octet-stream"})).json()
    assert body["isBase64Encoded"] is True and body["body"] == "AP8="


async def test_response_mapping(http):
    plain = await http.get("/plain")  # no statusCode: JSON, 200
    assert plain.status_code == 200 and plain.json() == {"hello": "world"}
    assert plain.headers["content-type"].startswith("application/json")

    binary = await http.get("/binary")
    assert binary.content == b"\x00\x01\xff"
    assert binary.headers["content-type"] == "application/octet-stream"

    cookies = await http.get("/cookies")
    assert cookies.status_code == 201 and cookies.text == "ok"
    assert cookies.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; Path=/"]
    assert cookies.headers.get_list("x-multi") == ["one", "two"]


async def test_handler_exception_is_500(http):
    response = await http.get("/boom")
    assert response.status_code == 500
    assert response.json() == {"message": "Internal Server Error"}


async def test_event_has_the_payload_2_0_fields(http):
    body = (await http.get("/items/1?z=1", headers={"Cookie": "c=1"})).json()
    assert body["keys"] == sorted(
        ["version", "routeKey", "rawPath", "rawQueryString", "cookies", "headers", "queryStringParameters",
         "requestContext", "pathParameters", "isBase64Encoded"]
    )
    assert body["contextKeys"] == sorted(
        ["accountId", "apiId", "domainName", "domainPrefix", "http", "requestId", "routeKey", "stage", "time", "timeEpoch"]
    )
