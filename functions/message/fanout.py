"""FanoutFunction: post one payload to a slice of a room's connections (invoked by SlicedBroadcaster).

Event: {"endpoint": str, "connectionIds": [str, ...], "payload": {...}}.
Returns {"delivered": n, "gone": [...], "failed": [...]}; the caller forgets the gone connections.
Lambda hands the handler the event decoded, so the payload is encoded once here (``parley.wire``): compact
JSON decoded and encoded again is the same bytes the caller measured.
"""

from parley.adapters.apigw import ManagementApiBroadcaster
from parley.config import Settings
from parley.observability import make_logger, tracing
from parley.wire import Frame

settings = Settings.from_env()
logger = make_logger()
traced = tracing(settings.tracing)


class InvalidFanoutEvent(ValueError):
    """The event is not the shape SlicedBroadcaster sends."""


def parse(event: object) -> tuple[str, list[str], dict]:
    if not isinstance(event, dict):
        raise InvalidFanoutEvent("the event is not an object")
    endpoint, ids, payload = event.get("endpoint"), event.get("connectionIds"), event.get("payload")
    if not isinstance(endpoint, str) or not endpoint.startswith(("https://", "http://")):
        raise InvalidFanoutEvent("endpoint must be an http(s) URL")
    endpoint = endpoint.rstrip("/")
    # Post only to this stack's own API when the stack names it (it always does in template.yaml).
    configured = (settings.management_api_endpoint or "").rstrip("/")
    if configured and endpoint != configured:
        raise InvalidFanoutEvent("endpoint is not this stack's Management API")
    if not isinstance(ids, list) or not all(isinstance(c, str) and c for c in ids):
        raise InvalidFanoutEvent("connectionIds must be a list of connection ids")
    if not isinstance(payload, dict):
        raise InvalidFanoutEvent("payload must be an object")
    return endpoint, ids, payload


@logger.inject_lambda_context
@traced
def handler(event: dict, context) -> dict:
    endpoint, ids, payload = parse(event)  # a bad event raises: the caller counts the slice as failed
    broadcaster = ManagementApiBroadcaster(endpoint=endpoint, concurrency=settings.broadcast_concurrency)
    report = broadcaster.send(connection_ids=ids, frame=Frame.of(payload))
    logger.info(
        "fan-out slice posted",
        extra={"recipients": len(ids), "delivered": report.delivered, "gone": len(report.gone), "failed": len(report.failed)},
    )
    return {"delivered": report.delivered, "gone": report.gone, "failed": report.failed}
