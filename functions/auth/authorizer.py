"""WebSocket REQUEST authorizer for $connect: the JWT comes as ?token=.

Valid token of a user that still exists, of a live session → Allow, with the user, the session and the
token's expiry in the context (it reaches every later event of the connection; one database read). Invalid, expired, of a deleted user, or from a refused Origin → Deny (403). API Gateway itself answers 401 when the token
is missing (it is the identity source); a call without one anyway raises ``Unauthorized`` (401).
"""

from urllib.parse import urlsplit

from parley import accounts
from parley.adapters import mongo
from parley.config import Settings
from parley.errors import InvalidToken
from parley.observability import make_logger

settings = Settings.from_env()
logger = make_logger()
issuer = accounts.token_issuer(settings)
users = mongo.MongoUserStore(mongo.database(settings.mongodb_uri, settings.mongodb_db))
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
def handler(event: dict, context) -> dict:
    query = event.get("queryStringParameters") or {}
    token = query.get("token") if isinstance(query, dict) else None
    if not token:
        raise Exception("Unauthorized")  # API Gateway maps exactly this message to 401
    method_arn = event.get("methodArn", "*")
    origin = _header(event, "origin")
    if origin and not _origin_allowed(origin):
        logger.info("connection refused: origin not allowed", extra={"origin": origin[:200]})
        return _policy("anonymous", "Deny", method_arn)
    try:
        stored, claims = accounts.current_session(users, issuer, token=token)
    except InvalidToken as exc:
        logger.info("connection refused: invalid token", extra={"reason": str(exc)})
        return _policy("anonymous", "Deny", method_arn)
    context = {
        "userId": stored.id,
        "username": stored.username,
        "sessionId": claims.session_id,
        "tokenExp": str(int(claims.expires_at.timestamp())),
    }
    return _policy(stored.id, "Allow", method_arn, context)


def _header(event: dict, name: str) -> str | None:
    headers = event.get("headers") or {}
    for key, value in headers.items() if isinstance(headers, dict) else ():
        if isinstance(key, str) and key.lower() == name and isinstance(value, str):
            return value
    return None


def _origin_allowed(origin: str) -> bool:
    allowed = settings.allowed_origins
    if not allowed or "*" in allowed or origin.rstrip("/") in allowed:
        return True
    try:  # local development: any port on this machine
        return settings.local and urlsplit(origin).hostname in LOCAL_HOSTS
    except ValueError:
        return False


def _policy(principal: str, effect: str, resource: str, context: dict | None = None) -> dict:
    policy = {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
    }
    if context:
        policy["context"] = context
    return policy
