"""Toy HTTP API handler (payload format 2.0); same module name as ws/app.py on purpose."""

import base64
import json
import os


def handler(event, context):
    path = event["rawPath"]
    if path == "/boom":
        raise RuntimeError("http handler broke")
    if path == "/plain":
        return {"hello": "world"}
    if path == "/binary":
        return {"statusCode": 200, "headers": {"content-type": "application/octet-stream"},
                "body": base64.b64encode(b"\x00\x01\xff").decode(), "isBase64Encoded": True}
    if path == "/cookies":
        return {"statusCode": 201, "cookies": ["a=1; Path=/", "b=2; Path=/"],
                "multiValueHeaders": {"x-multi": ["one", "two"]},
                "headers": {"content-type": "text/plain"}, "body": "ok"}
    summary = {
        "routeKey": event["routeKey"],
        "rawPath": path,
        "rawQueryString": event["rawQueryString"],
        "pathParameters": event.get("pathParameters"),
        "queryStringParameters": event.get("queryStringParameters"),
        "cookies": event.get("cookies"),
        "body": event.get("body"),
        "isBase64Encoded": event["isBase64Encoded"],
        "method": event["requestContext"]["http"]["method"],
        "keys": sorted(event),
        "contextKeys": sorted(event["requestContext"]),
        "fromGlobals": os.environ.get("FROM_GLOBALS"),
    }
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(summary)}
