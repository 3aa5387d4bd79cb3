"""WebSocket REQUEST authorizer for $connect: the JWT comes as ?token=.

Valid token of a user that still exists, of a live session → Allow, with the user (and their display name, if
any, as it is now), the session and the token's expiry in the context (it reaches every later event of the connection; one database read). Invalid, expired, of a deleted user, or from a refused Origin → Deny (403). API Gateway itself answers 401 when the token
is missing (it is the identity source); a call without one anyway raises ``Unauthorized`` (401).
"""

from parley import accounts, origins
from parley.adapters import mongo, mongo_accounts
from parley.adapters.secrets import mongodb_database
from parley.config import Settings
from parley.events import context_display_name
from parley.errors import InvalidToken, StoreRefused, StoreUnavailable
from parley.observability import count_if_database_down, make_logger, tracing

settings = Settings.from_env()
logger = make_logger()
issuer = accounts.token_issuer(settings)
users = mongo_accounts.MongoUserStore(mongodb_database(settings))
traced = tracing(settings.tracing)


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@traced
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
        with mongo.request_deadline(context):  # ends before the function's Timeout, answered below
            stored, claims = accounts.current_session(users, issuer, token=token)
    except InvalidToken as exc:
        logger.info("connection refused: invalid token", extra={"reason": str(exc)})
        return _policy("anonymous", "Deny", method_arn)
    except (StoreUnavailable, StoreRefused) as exc:  # counted, then raised: API Gateway refuses the handshake with 500
        count_if_database_down(exc, settings.metrics_namespace)
        raise
    context = {
        "userId": stored.id,
        "username": stored.username,
        "sessionId": claims.session_id,
        "tokenExp": str(int(claims.expires_at.timestamp())),
    }
    if stored.display_name:  # read with the session: what this connection's messages and presence will show
        context["displayName"] = context_display_name(stored.display_name)
    return _policy(stored.id, "Allow", method_arn, context)


def _header(event: dict, name: str) -> str | None:
    headers = event.get("headers") or {}
    for key, value in headers.items() if isinstance(headers, dict) else ():
        if isinstance(key, str) and key.lower() == name and isinstance(value, str):
            return value
    return None


def _origin_allowed(origin: str) -> bool:
    return origins.websocket_allowed(settings, origin)  # the HTTP API's CORS follows the same rule


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
