"""Toy $connect / $disconnect handlers."""

import recorder  # a sibling module, found because CodeUri is on sys.path while importing


def handler(event, context):
    recorder.record("connect", event, context)
    query = event.get("queryStringParameters") or {}
    if query.get("refuse"):
        return {"statusCode": int(query["refuse"]), "body": "refused by $connect"}
    if query.get("crash"):
        raise RuntimeError("connect handler broke")
    response = {"statusCode": 200}
    if query.get("protocol"):
        response["headers"] = {"Sec-WebSocket-Protocol": query["protocol"]}
    return response


def disconnect(event, context):
    recorder.record("disconnect", event, context)
    return {"statusCode": 200}
