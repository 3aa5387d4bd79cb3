"""Toy message handler: answers through the real Management API client, like a deployed app."""

import json
import os
import time

import boto3

import recorder

ENDPOINT = os.environ["MANAGEMENT_API_ENDPOINT"]
client = boto3.client("apigatewaymanagementapi", endpoint_url=ENDPOINT)


def _post(event, payload):
    client.post_to_connection(
        ConnectionId=event["requestContext"]["connectionId"], Data=json.dumps(payload).encode()
    )


def handler(event, context):
    recorder.record("message", event, context)
    route = event["requestContext"]["routeKey"]
    if route == "fail":
        raise RuntimeError("this route always fails")
    if route == "slow":
        seconds = json.loads(event["body"]).get("seconds", 1)
        time.sleep(seconds)
        _post(event, {"route": "slow", "slept": seconds})
        return {"statusCode": 200}
    if route == "inspect":
        _post(event, {
            "authorizer": event["requestContext"].get("authorizer"),
            "env": {k: os.environ.get(k) for k in (
                "MANAGEMENT_API_ENDPOINT", "WEBSOCKET_URL", "HTTP_URL", "FROM_GLOBALS", "SECRET_PARAM",
                "AWS_REGION", "AWS_SAM_LOCAL", "EXTRA")},
            "remaining_ms": context.get_remaining_time_in_millis(),
            "function_name": context.function_name,
            "memory": context.memory_limit_in_mb,
        })
        return {"statusCode": 200}
    _post(event, {"route": route, "body": event["body"], "isBase64Encoded": event["isBase64Encoded"]})
    # without a route response API Gateway drops this
    return {"statusCode": 200, "body": "returned-body-must-not-reach-the-client"}
