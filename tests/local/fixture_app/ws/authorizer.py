"""Toy REQUEST authorizer: token good -> Allow, bad -> Deny, boom -> Unauthorized, crash -> error."""

import recorder


def _policy(effect, resource):
    return {
        "Version": "2012-10-17",
        "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
    }


def handler(event, context):
    recorder.record("authorize", event, context)
    token = (event.get("queryStringParameters") or {}).get("token")
    if token == "boom":
        raise Exception("Unauthorized")
    if token == "crash":
        raise ValueError("the authorizer broke")
    if token == "bad":
        return {"principalId": "nobody", "policyDocument": _policy("Deny", event["methodArn"])}
    if token == "good":
        return {
            "principalId": "user-1",
            "policyDocument": _policy("Allow", event["methodArn"]),
            "context": {"userId": "u1", "count": 7, "admin": True},
        }
    return {"principalId": "nobody", "policyDocument": _policy("Deny", "*")}
